"""The fact registry: every registered fact's key columns exist in its table and identify one row."""

from __future__ import annotations

import polars as pl
import pytest

from audit.facts import FACTS, Facts, compute_facts
from audit.ingest import ingest
from audit.paths import SAMPLE_BATCH
from audit.periods import Quarter
from audit.standard import load_standard

# Q1 has transfers after the transfer date, Q2 recruitment cases and the first half-year, Q4 the
# second half-year and the year: together every registered fact has rows on the sample
QUARTERS = ["2019Q1", "2019Q2", "2019Q4"]


@pytest.fixture(scope="module")
def sample_facts() -> dict[str, Facts]:
    tables = dict(ingest(SAMPLE_BATCH).tables)
    return {quarter: compute_facts(tables, load_standard(), Quarter.parse(quarter)) for quarter in QUARTERS}


def test_every_fact_has_rows_on_the_sample(sample_facts):
    """The key checks below mean something only where a fact has rows."""
    rows = {name: sum(facts.tables[name].height for facts in sample_facts.values() if name in facts.tables) for name in FACTS}
    assert {name for name, count in rows.items() if count == 0} == set()


def test_fact_keys_are_columns_of_the_table_and_identify_one_row(sample_facts):
    for quarter, facts in sample_facts.items():
        for name, frame in facts.tables.items():
            keys = FACTS[name].keys
            assert keys, f"{name}: no key columns"
            assert set(keys) <= set(frame.columns), f"{quarter} {name}: keys {keys} not in {frame.columns}"
            assert frame.select(pl.any_horizontal(pl.col(keys).is_null()).sum()).item() == 0, f"{quarter} {name}: null key"
            duplicated = frame.filter(pl.struct(keys).is_duplicated()).select(keys)
            assert duplicated.is_empty(), f"{quarter} {name}: keys {keys} repeat:\n{duplicated}"


def test_half_year_and_year_facts_exist_only_in_the_quarter_that_ends_them(sample_facts):
    conditional = {name for name, spec in FACTS.items() if spec.when is not None}
    present = {quarter: conditional & set(facts.tables) for quarter, facts in sample_facts.items()}
    assert present == {"2019Q1": set(), "2019Q2": {"branch_half"}, "2019Q4": {"branch_half", "branch_year"}}
    for quarter, facts in sample_facts.items():
        assert set(facts.tables) >= {name for name, spec in FACTS.items() if spec.when is None}, quarter


def test_every_fact_has_a_chinese_title():
    """The rule catalogue names a check's fact table by its registered title (the checked column by
    the check's own `label` in the standard file: tests/test_standard.py)."""
    assert {name for name, spec in FACTS.items() if not spec.title.strip()} == set()
