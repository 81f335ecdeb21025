"""The benchmark's three implementations of the same facts agree (polars = the project's code)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from baselines import duckdb_facts, pandas_facts, polars_facts, window
from generate import generate

from audit.facts import FACTS
from audit.ingest import load_tables
from audit.periods import Quarter


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gen")
    rows = generate(1500, folder, seed=3)
    assert rows["dues"] > 17_000 and rows["meetings"] > 2_500
    return folder


@pytest.mark.parametrize("quarter", ["2019Q1", "2019Q3"])
def test_polars_pandas_and_duckdb_agree(generated, quarter):
    q, span = Quarter.parse(quarter), window(generated)
    reference = polars_facts(generated, q, span)
    assert reference[2]["unpaid_streak"].max() >= (6 if quarter == "2019Q3" else 1)
    for other in (duckdb_facts(generated, q, span), pandas_facts(generated, q, span)):
        for a, b in zip(reference, other, strict=True):
            assert_frame_equal(a, b)


def test_lazy_scans_and_loaded_tables_give_the_same_facts(generated):
    """compute_facts over Parquet scans (province path) equals the in-memory path, table by table."""
    from audit.facts import compute_facts
    from audit.ingest import scan_tables
    from audit.standard import load_standard

    q = Quarter.parse("2019Q3")
    eager = compute_facts(load_tables(generated), load_standard(), q)
    lazy = compute_facts(scan_tables(generated), load_standard(), q)
    assert eager.tables.keys() == lazy.tables.keys()
    for name, frame in eager.tables.items():
        assert_frame_equal(frame, lazy.tables[name])
    assert_frame_equal(eager.progress, lazy.progress)


def test_generated_tables_validate_without_errors_in_the_pipeline(generated):
    from audit.validate import validate_tables

    result = validate_tables(load_tables(generated), "2019Q3")
    assert {"SM-8", "SM-5", "OL-2"} <= set(result.findings["rule_id"])


@pytest.mark.parametrize("quarter", ["2019Q2", "2019Q4"])
def test_member_shards_written_to_parquet_equal_the_in_memory_facts(tmp_path, quarter):
    """write_facts (province path: member facts in hash shards, streamed to Parquet) gives the same
    rows as compute_facts on the sample with its planted cases (transfers, duplicate identities
    across branches, streaks), including the half-year and year facts."""
    import polars as pl

    from audit.facts import compute_facts, write_facts
    from audit.ingest import ingest
    from audit.paths import SAMPLE_BATCH
    from audit.standard import load_standard

    tables = dict(ingest(SAMPLE_BATCH).tables)
    members = tables["members"]
    twins = members.filter(pl.col("id_number_status") == "ok").head(8)  # the same people under new ids elsewhere
    other = members.filter(~pl.col("branch_id").is_in(twins["branch_id"].implode()))["branch_id"][0]
    tables["members"] = pl.concat([members, twins.with_columns(member_id=pl.col("member_id") + "X", branch_id=pl.lit(other))])
    q = Quarter.parse(quarter)
    expected = compute_facts(tables, load_standard(), q)
    written = write_facts(tables, load_standard(), q, tmp_path, member_shards=3)
    assert sorted(p.stem for p in tmp_path.glob("*.parquet")) == sorted(expected.tables)
    assert written.warnings == expected.warnings
    assert_frame_equal(written.progress, expected.progress)
    for name, frame in expected.tables.items():
        got = pl.read_parquet(tmp_path / f"{name}.parquet")
        assert written.tables[name]["rows"][0] == frame.height
        assert_frame_equal(got.sort(FACTS[name].keys), frame, check_dtypes=False)
    assert expected.tables["member_status"]["duplicate_identities"].sum() > 0


def test_generated_tables_are_the_contracts_and_read_back_as_exports(generated, tmp_path):
    """`make bench`'s district stage writes the generated tables as CSV exports and ingests them:
    every table of the contract is generated (a table added to the contract stopped the bench),
    and each exported table reads back with every row and none quarantined."""
    from bench import export_csv

    from audit.contract import load_contract
    from audit.ingest import ingest

    tables = generated / "tables"
    assert {path.stem for path in tables.glob("*.parquet")} == set(load_contract().tables)
    export_csv(tables, tmp_path / "batch")
    result = ingest(tmp_path / "batch")
    written = load_tables(generated)
    for name, frame in written.items():
        assert result.tables[name].height == frame.height, name
    assert result.quarantine.is_empty()
