"""The scorecard and its rescoring, branch by branch, on hand-made findings: each dimension's
status and the rating follow the standard's rating section (`findings._scores`)."""

from __future__ import annotations

import polars as pl
import pytest

from audit.findings import rescore, scorecard
from audit.labels import STATUS_FAIL, STATUS_NA, STATUS_PARTIAL, STATUS_PASS
from audit.standard import load_standard

STANDARD = load_standard()
MEETINGS, DUES = STANDARD.rule("OL-2").dimension, STANDARD.rule("SM-6").dimension
BEST, PASS, FAIL = (STANDARD.rating[k] for k in ("best", "pass", "fail"))


def _findings(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """(branch, rule, severity) rows as findings carry them."""
    return pl.DataFrame(
        [(b, r, STANDARD.rule(r).dimension, s) for b, r, s in rows],
        schema={"branch_id": pl.String, "rule_id": pl.String, "dimension": pl.String, "severity": pl.String},
        orient="row",
    )


@pytest.fixture(scope="module")
def card() -> pl.DataFrame:
    branches = pl.DataFrame({"branch_id": ["B5", "B1", "B3", "B2", "B4"], "branch_name": ["五", "一", None, "二", "四"]})
    assessed = pl.DataFrame(
        [(b, r) for b in ("B1", "B2", "B3", "B4") for r in ("OL-2", "SM-6")], schema=["branch_id", "rule_id"], orient="row"
    )
    findings = _findings(
        ("B1", "OL-2", "error"),
        ("B2", "SM-6", "warning"),
        ("B2", "SM-6", "warning"),
        ("B4", "BG-1", "critical"),  # a dimension nothing else judged: failing counts as judged
        ("B9", "OL-2", "critical"),  # not a listed branch: not scored
    )
    return scorecard(findings, assessed, branches, STANDARD, "2019Q3")


def _row(card: pl.DataFrame, branch: str) -> dict:
    return card.row(by_predicate=pl.col("branch_id") == branch, named=True)


def test_branches_in_order_with_their_names(card):
    assert card["branch_id"].to_list() == ["B1", "B2", "B3", "B4", "B5"]
    assert card["branch_name"].to_list() == ["一", "二", "", "四", "五"]
    assert set(card["quarter"]) == {"2019Q3"}


def test_statuses_counts_and_ratings(card):
    one, two, three, four, five = (_row(card, b) for b in ("B1", "B2", "B3", "B4", "B5"))
    assert (one[MEETINGS], one[DUES], one["errors"], one["rating"]) == (STATUS_FAIL, STATUS_PASS, 1, FAIL)
    # warnings fail no dimension (it fails at error) but keep the branch from the best rating
    assert (two[MEETINGS], two[DUES], two["warnings"], two["errors"], two["rating"]) == (STATUS_PASS, STATUS_PASS, 2, 0, PASS)
    assert (three[MEETINGS], three[DUES], three["warnings"], three["rating"]) == (STATUS_PASS, STATUS_PASS, 0, BEST)
    bg = STANDARD.rule("BG-1").dimension
    assert (four[bg], four["critical"], four["rating"]) == (STATUS_FAIL, 1, FAIL)
    # nothing judged: every dimension 未评估, and nothing keeps it from the best rating
    assert {five[d] for d in STANDARD.dimensions} == {STATUS_NA} and five["rating"] == BEST
    for dimension in STANDARD.not_assessed:
        assert set(card[dimension]) == {STATUS_NA}


def test_rescoring_judges_again_and_keeps_what_was_partly_assessed(card):
    shown = card.with_columns(
        pl.when(pl.col("branch_id") == "B3").then(pl.lit(STATUS_PARTIAL)).otherwise(pl.col(DUES)).alias(DUES)
    )
    again = rescore(shown, _findings(("B2", "SM-6", "warning")), STANDARD)
    assert again["branch_id"].to_list() == shown["branch_id"].to_list() and again.columns == card.columns
    one, two, three, four = (_row(again, b) for b in ("B1", "B2", "B3", "B4"))
    assert (one[MEETINGS], one["errors"], one["rating"]) == (STATUS_PASS, 0, BEST)  # its finding no longer counts
    assert (two["warnings"], two["rating"]) == (1, PASS)
    assert (three[DUES], three["rating"]) == (STATUS_PARTIAL, PASS)  # 部分评估 stays, never the best rating
    bg = STANDARD.rule("BG-1").dimension
    assert (four[bg], four["rating"]) == (STATUS_PASS, BEST)  # judged before (it failed), judged again


def test_a_branch_without_a_code_is_scored_as_any_other():
    """A null branch code matches its own findings, checks and coverage (as the per-branch Python
    scoring did): nothing judged is 未评估, never 通过."""
    branches = pl.DataFrame(
        {"branch_id": [None, "B1"], "branch_name": ["无编号", "一"]}, schema={"branch_id": pl.String, "branch_name": pl.String}
    )
    assessed = pl.DataFrame({"branch_id": ["B1"], "rule_id": ["OL-2"]})
    card = scorecard(_findings(), assessed, branches, STANDARD, "2019Q3")
    nameless = card.row(by_predicate=pl.col("branch_id").is_null(), named=True)
    assert {nameless[d] for d in STANDARD.dimensions} == {STATUS_NA}
    assert _row(card, "B1")[MEETINGS] == STATUS_PASS
    counted = scorecard(
        _findings(),
        pl.DataFrame({"branch_id": [None], "rule_id": ["OL-2"]}, schema={"branch_id": pl.String, "rule_id": pl.String}),
        branches,
        STANDARD,
        "2019Q3",
    )
    assert counted.row(by_predicate=pl.col("branch_id").is_null(), named=True)[MEETINGS] == STATUS_PASS
