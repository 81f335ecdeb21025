"""The benchmark's floor of record-quality validation (polars expressions, benchmarks/quality_floor.py)
lists exactly the rows GX's quality suites list (`collect_quality`), on the bundled sample and on a
small batch with planted quality problems."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from quality_floor import quality_floor

from audit.dues import with_derived_dues
from audit.facts import data_window
from audit.ingest import ingest
from audit.offices import offices_for_period
from audit.periods import Quarter
from audit.quality import collect_quality, quality_parameters, run_quality
from audit.standard import load_standard
from audit.suites import Validator
from audit.synth import write_world
from conftest import SAMPLE
from worlds import quality_world

TODAY = dt.date(2026, 11, 29)


def _prepared(tables: dict[str, pl.DataFrame], quarter: str) -> dict[str, pl.DataFrame]:
    """The tables as `validate_tables` hands them to the quality suites."""
    standard, period = load_standard(), Quarter.parse(quarter)
    return offices_for_period(with_derived_dues(tables, standard), period.start, period.end)


def _both(tables: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(GX's rows, the floor's rows), each in one full order (ties of the shared sort broken)."""
    parameters = quality_parameters(tables, data_window(tables), load_standard(), TODAY)
    gx = collect_quality(run_quality(Validator(), tables, parameters))
    floor = quality_floor(tables, parameters)
    return gx.sort(gx.columns), floor.sort(floor.columns)


def test_floor_equals_gx_on_the_sample():
    tables = _prepared(ingest(SAMPLE).tables, "2019Q3")
    gx, floor = _both(tables)
    assert gx.height > 0  # the sample's mangled and wrong ID numbers
    assert_frame_equal(floor, gx)


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[str, pl.DataFrame]:
    """A compliant world with quality problems planted in its exports, then more in its tables
    (gaps and NaN in typed columns, a duplicate and an unknown member ingestion would not let
    through), as GX would be given them."""
    w = quality_world()
    batch = tmp_path_factory.mktemp("planted") / "batch"
    write_world(w, batch)
    tables = _prepared(ingest(batch).tables, "2019Q1")
    members = tables["members"]
    tables["members"] = members.with_columns(
        name=pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("name")),  # a text gap
        income_base=pl.when(pl.int_range(pl.len()) == 2).then(float("nan")).otherwise(pl.col("income_base")),
        joined_on=pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise(pl.col("joined_on")),  # a date gap
        _sheet=pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("_sheet")),  # a row of no sheet
    )
    meetings = tables["meetings"]
    tables["meetings"] = meetings.with_columns(  # an integer column with a gap and a negative count
        expected_count=pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("expected_count")),
        present_count=pl.when(pl.int_range(pl.len()) == 2).then(-5).otherwise(pl.col("present_count")),
    )
    dues = tables["dues"]
    tables["dues"] = pl.concat([dues, dues.head(1)]).with_columns(  # the same payment twice
        member_id=pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("M-UNKNOWN")).otherwise(pl.col("member_id"))
    )
    return tables


def test_floor_equals_gx_on_planted_problems(planted):
    gx, floor = _both(planted)
    checks = {(r["table"], r["check"]) for r in gx.iter_rows(named=True)}
    assert {
        ("meetings", "日期范围"),
        ("members", "日期范围"),
        ("points", "积分范围"),
        ("meetings", "人数关系"),
        ("dues", "唯一键"),
        ("dues", "引用"),
        ("members", "必填"),
    } <= checks
    # gaps shown as the export showed them, not as pandas holds them: a text and a date left blank
    # and a sheet-less row among sheets as nothing, an integer column with gaps (floats in pandas)
    # as whole numbers
    shown = set(gx["value"]) | set(gx["sheet"]) | set(gx["file"])
    assert not {"nan", "NaN", "NaT", "None", "<NA>"} & shown
    blanks = gx.filter(pl.col("table") == "members", pl.col("check") == "必填")
    assert set(blanks["value"]) == {""} and "" in set(blanks["sheet"]) and len(set(blanks["sheet"])) == 2
    counts = gx.filter(pl.col("check") == "人数关系")["value"]
    assert counts.len() and counts.str.contains(r"^\d+$").all()
    assert_frame_equal(floor, gx)
