"""Validation end to end: the sample's planted violations exactly, quality suites, the CLI."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from audit.ingest import ingest
from audit.validate import validate_tables
from conftest import SAMPLE
from worlds import audit, quality_world

QUARTERS = ["2018Q3", "2018Q4", "2019Q1", "2019Q2", "2019Q3", "2019Q4"]


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pl.DataFrame]:
    return ingest(SAMPLE).tables


@pytest.fixture(scope="module")
def sample_findings(sample_tables) -> dict[str, pl.DataFrame]:
    return {q: validate_tables(sample_tables, q, record_quality=False).findings for q in QUARTERS}


def test_findings_without_the_record_quality_suites_are_the_same(sample_tables):
    """`audit run` re-checks the previous quarter without the record-quality suites (the tables'
    quality is the run's): findings, scorecard and coverage must not depend on them."""
    full = validate_tables(sample_tables, "2019Q2")
    lean = validate_tables(sample_tables, "2019Q2", record_quality=False)
    assert full.quality.height > 0 and lean.quality.is_empty()
    assert lean.quality.schema == full.quality.schema
    for name in ("findings", "scorecard", "coverage"):
        assert getattr(lean, name).equals(getattr(full, name)), name


def test_sample_finds_every_planted_violation_and_nothing_else(sample_findings):
    with (SAMPLE.parent / f"{SAMPLE.name}.truth" / "violations.csv").open(encoding="utf-8") as handle:
        truth = {(r["rule_id"], r["severity"], r["branch_id"], r["subject_id"], r["period"]) for r in csv.DictReader(handle)}
    found = {
        (r["rule_id"], r["severity"], r["branch_id"], r["subject_id"], r["period"])
        for frame in sample_findings.values()
        for r in frame.iter_rows(named=True)
    }
    assert found == truth
    assert {t[0] for t in truth} >= {
        "TM-1",
        "OL-1",
        "OL-2",
        "OL-3",
        "OL-5",
        "OL-6",
        "OL-7",
        "OL-8",
        "OL-9",
        "OL-10",
        "SM-1",
        "SM-2",
        "SM-3",
        "SM-4",
        "SM-5",
        "SM-6",
        "SM-7",
        "SM-8",
        "SM-9",
        "BG-1",
    }


def test_every_finding_has_message_clause_and_evidence(sample_findings):
    for frame in sample_findings.values():
        for r in frame.iter_rows(named=True):
            assert r["message"] and "—" not in r["message"], r
            assert r["clause"] and r["evidence"] and r["dimension"], r


def test_quality_suites_flag_what_ingestion_let_through(tmp_path: Path):
    w = quality_world()
    v = audit(w, tmp_path, "2019Q1")
    checks = {(r["table"], r["check"]) for r in v.quality.iter_rows(named=True)}
    assert {("meetings", "日期范围"), ("members", "日期范围"), ("points", "积分范围"), ("meetings", "人数关系")} <= checks
    assert all(r["file"] and r["row"] for r in v.quality.iter_rows(named=True))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True, text=True, timeout=600)


def test_cli_validate_outputs_and_exit_codes(tmp_path: Path):
    out = tmp_path / "out"
    proc = run("validate", str(SAMPLE), "--quarter", "2019Q1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in ("ingest_report.csv", "quarantine.csv", "findings.csv", "findings.parquet", "scorecard.csv", "data_quality.csv"):
        assert (out / name).exists(), name
    assert (out / "data-docs" / "index.html").exists()
    assert "审核完成" in proc.stdout and "评定结果" in proc.stdout
    assert "Calculating Metrics" not in proc.stderr + proc.stdout  # GX progress bars are off
    scorecard = pl.read_csv(out / "scorecard.csv")
    assert scorecard.columns[:8] == [
        "branch_id",
        "branch_name",
        "quarter",
        "班子队伍",
        "组织生活",
        "制度机制",
        "基础保障",
        "作用发挥",
    ]
    assert (
        run(
            "validate", str(SAMPLE), "--quarter", "2019Q1", "--out", str(out), "--no-data-docs", "--fail-on", "critical"
        ).returncode
        == 1
    )
    assert (
        run(
            "validate", str(SAMPLE), "--quarter", "2019Q2", "--out", str(out), "--no-data-docs", "--fail-on", "critical"
        ).returncode
        == 0
    )
    bad = run("validate", str(SAMPLE), "--quarter", "2031Q1", "--out", str(out), "--no-data-docs")
    assert bad.returncode == 2 and "不在数据范围内" in bad.stderr and "Traceback" not in bad.stderr
    assert run("validate", str(SAMPLE), "--quarter", "Q1", "--no-data-docs").returncode == 2
