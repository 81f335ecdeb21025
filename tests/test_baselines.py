"""The benchmark's three implementations of the same facts agree (polars = the project's code)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from baselines import duckdb_facts, pandas_facts, polars_facts, to_pandas
from generate import generate

from audit.ingest import load_tables
from audit.periods import Quarter


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("gen")
    rows = generate(1500, folder, seed=3)
    assert rows["dues"] > 17_000 and rows["meetings"] > 2_500
    return load_tables(folder)


@pytest.mark.parametrize("quarter", ["2019Q1", "2019Q3"])
def test_polars_pandas_and_duckdb_agree(generated, quarter):
    q = Quarter.parse(quarter)
    reference = polars_facts(generated, q)
    assert reference[2]["unpaid_streak"].max() >= (6 if quarter == "2019Q3" else 1)
    for other in (duckdb_facts(generated, q), pandas_facts(to_pandas(generated), generated, q)):
        for a, b in zip(reference, other, strict=True):
            assert_frame_equal(a, b)


def test_generated_tables_validate_without_errors_in_the_pipeline(generated):
    from audit.validate import validate_tables

    result = validate_tables(generated, "2019Q3")
    assert {"SM-8", "SM-5", "OL-2"} <= set(result.findings["rule_id"])
