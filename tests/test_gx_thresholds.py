"""GX judges the numbers: a threshold changed in standard.yaml reaches the findings through GX's
`$PARAMETER`, while the facts stay the same (they no longer fold the threshold in)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from audit.ingest import ingest
from audit.paths import STANDARD_FILE
from audit.standard import load_standard
from audit.validate import validate_tables
from conftest import SAMPLE
from worlds import audit, keys, plain_member, world

QUARTER = "2019Q1"


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return ingest(SAMPLE).tables


def _with_tolerance(tmp_path: Path, tolerance: float) -> Path:
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    data["rules"]["SM-6"]["thresholds"]["tolerance"] = tolerance
    path = tmp_path / f"standard-{tolerance}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_sm6_tolerance_is_applied_by_gx_not_by_the_fact(tables, tmp_path: Path):
    """The sample's XH19 member owes 32.50 yuan a month where the rate table says 97.50: 65 yuan
    outside the range. Within a tolerance of 65 that is no finding, with 64.99 it is one per month."""
    default = validate_tables(tables, QUARTER)
    deviation = default.facts.tables["member_month"].filter(pl.col("due_deviation") > 0)
    assert deviation.select("member_id", "due_deviation").unique().rows() == [("M00349", 65.0)]
    sm6 = default.findings.filter(pl.col("rule_id") == "SM-6")
    assert sm6.select("subject_id", "period").rows() == [("M00349", p) for p in ("2019-01", "2019-02", "2019-03")]
    for tolerance, findings in ((65.0, 0), (64.99, 3)):
        edited = validate_tables(tables, QUARTER, load_standard(_with_tolerance(tmp_path, tolerance)))
        assert edited.facts.tables["member_month"].equals(default.facts.tables["member_month"])  # the fact ignores it
        assert edited.findings.filter(pl.col("rule_id") == "SM-6").height == findings, tolerance


def test_sm6_one_cent_off_is_within_the_default_tolerance(tmp_path: Path):
    """A due one cent off the rate table is within `tolerance: 0.01` whatever the amounts: the old
    comparison with `expected - tolerance` flagged 0.06 against 0.07 (0.07 − 0.01 is
    0.060000000000000005 in floating point); two cents off is a finding."""
    w = world()
    member = plain_member(w, "XH02")
    member.update(employment="在职", income_base=14)  # 14 × 0.5 % = 0.07 yuan a month
    dues = [r for r in w.tables["dues"] if r["member_id"] == member["member_id"]]
    for r in dues:
        r["amount_due"] = r["amount_paid"] = 0.06
    assert keys(audit(w, tmp_path / "cent", QUARTER)) == set()
    for r in dues:
        r["amount_due"] = r["amount_paid"] = 0.05
    assert keys(audit(w, tmp_path / "cents", QUARTER)) == {
        ("SM-6", "error", "XH02", member["member_id"], m) for m in ("2019-01", "2019-02", "2019-03")
    }
