"""The record-quality result kept in the cache (`audit.cache.quality_key`): the same tables,
parameters, suites and code give the kept result without running GX; any change of the tables
makes a new entry; with Data Docs the suites always run and nothing is kept."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from audit.cache import IngestCache, quality_key
from audit.facts import data_window
from audit.ingest import ingest
from audit.paths import EXPECTATIONS
from audit.quality import quality_parameters
from audit.standard import load_standard
from audit.validate import validate_tables
from conftest import SAMPLE

QUARTER = "2019Q1"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return ingest(SAMPLE, cache=False).tables


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.entry")} if folder.exists() else set()


def _key(tables: dict[str, pl.DataFrame]) -> str:
    """The key validate_tables uses (its tables after the derived dues and the quarter's offices)."""
    from audit.dues import with_derived_dues
    from audit.offices import offices_for_period
    from audit.periods import Quarter

    standard, quarter = load_standard(), Quarter.parse(QUARTER)
    tables = offices_for_period(with_derived_dues(tables, standard), quarter.start, quarter.end)
    parameters = quality_parameters(tables, data_window(tables), standard)
    return quality_key(tables, parameters, sorted(EXPECTATIONS.glob("quality.*.json")))


def test_a_second_validation_of_the_same_tables_takes_the_kept_result(tables, cache):
    first = validate_tables(tables, QUARTER, cache=True)
    kept = _entries(cache)
    assert len(kept) == 1 and first.quality.height > 0
    again = validate_tables(tables, QUARTER, cache=True)
    assert _entries(cache) == kept
    assert again.quality.equals(first.quality)
    assert again.findings.equals(first.findings) and again.scorecard.equals(first.scorecard)
    # the entry is what the second validation used: a result stored under its key is returned as it is
    planted = first.quality.head(0).extend(
        pl.DataFrame([{c: ("x" if t == pl.String else 1) for c, t in first.quality.schema.items()}], schema=first.quality.schema)
    )
    IngestCache(None).store(_key(tables), planted.drop_nulls())
    served = validate_tables(tables, QUARTER, cache=True).quality
    assert served.filter(pl.col("message") == "x").height == 1


def test_a_changed_table_is_checked_again(tables, cache):
    validate_tables(tables, QUARTER, cache=True)
    before = _entries(cache)
    dues = tables["dues"].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("amount_paid") + 1).otherwise(pl.col("amount_paid")).alias("amount_paid")
    )
    validate_tables({**tables, "dues": dues}, QUARTER, cache=True)
    assert len(_entries(cache) - before) == 1


def test_without_cache_or_with_data_docs_nothing_is_kept(tables, cache, tmp_path: Path):
    validate_tables(tables, QUARTER)
    validate_tables(tables, QUARTER, cache=True, data_docs=tmp_path / "docs")
    assert _entries(cache) == set()
    assert (tmp_path / "docs").exists()
