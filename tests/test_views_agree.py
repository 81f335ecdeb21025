"""The report views agree with the facts and findings beside them: on the sample, for every branch
of a quarter, a chart shows what the rules judged (issue 12: the views reuse the facts' expressions)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml

from audit import views
from audit.facts import data_window
from audit.facts.meeting_types import COMMITTEE, GROUP_MEETING, THEME_DAY
from audit.findings import finding_id
from audit.ingest import ingest
from audit.paths import STANDARD_FILE
from audit.periods import Quarter
from audit.standard import load_standard
from audit.validate import Validation, validate_tables
from conftest import SAMPLE

# The sample's first quarter of 2019 has a 6-month dues streak (SM-8), a missing points record
# (SM-1), members who did not pay in full (SM-5), and short committee, group and theme-day months
QUARTER = Quarter.parse("2019Q1")


@pytest.fixture(scope="module")
def audited() -> tuple[dict[str, pl.DataFrame], Validation]:
    tables = ingest(SAMPLE).tables
    return tables, validate_tables(tables, QUARTER)


def _branches(tables: dict[str, pl.DataFrame]) -> list[str]:
    return sorted(tables["branches"]["branch_id"].to_list())


def _findings(validation: Validation, rule_id: str, part: str = "main") -> pl.DataFrame:
    """The rule part's findings (the part is known from the finding id, which hashes it)."""
    rows = validation.findings.filter(pl.col("rule_id") == rule_id)
    ids = [
        finding_id(rule_id, part, r["branch_id"], r["subject_id"], r["period"]) == r["finding_id"]
        for r in rows.iter_rows(named=True)
    ]
    return rows.filter(pl.Series(ids, dtype=pl.Boolean))


def _assert_arrears_agree(tables: dict[str, pl.DataFrame], validation: Validation) -> None:
    """For every branch: the members the arrears view shows at or above SM-8's `max_months` (and
    in its risk bucket) are SM-8's dues findings, and its streaks are the `member_streak` fact's."""
    standard, window = validation.standard, data_window(tables)
    max_months = standard.rule("SM-8").threshold("max_months")
    last = f"{QUARTER.months[-1]:%Y-%m}"
    streaks = validation.facts.tables["member_streak"]
    found = _findings(validation, "SM-8", "dues")
    for branch in _branches(tables):
        owing = views.arrears(tables, QUARTER, standard, branch, window)
        at_risk = owing.filter(pl.col("unpaid_months") >= max_months)
        assert set(at_risk["member_id"]) == set(found.filter(pl.col("branch_id") == branch)["subject_id"]), branch
        # the chart's risk bucket is the one SM-8 reports
        buckets = views.arrears_buckets(owing, standard)
        assert buckets.filter(pl.col("at_risk"))["members"].sum() == at_risk.height, branch
        # every streak still running at the quarter's end is the fact's streak, month for month
        running = streaks.filter(
            (pl.col("branch_id") == branch) & (pl.col("unpaid_period") == last) & (pl.col("unpaid_streak") > 0)
        )
        assert dict(owing.select("member_id", "unpaid_months").iter_rows()) == dict(
            running.select("member_id", "unpaid_streak").iter_rows()
        ), branch


def test_arrears_at_or_above_sm8_are_the_sm8_dues_findings(audited):
    tables, validation = audited
    assert _findings(validation, "SM-8", "dues").height >= 1  # the sample has one: the comparison is not vacuous
    _assert_arrears_agree(tables, validation)


@pytest.mark.parametrize("max_months", [5, 7])
def test_arrears_follow_a_changed_sm8_threshold(audited, tmp_path: Path, max_months: int):
    """The sample's 6-month streak is a finding and at risk under 5, neither under 7."""
    tables, _ = audited
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    data["rules"]["SM-8"]["thresholds"]["max_months"] = max_months
    path = tmp_path / "standard.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    validation = validate_tables(tables, QUARTER, load_standard(path))
    assert _findings(validation, "SM-8", "dues").height == (1 if max_months < 6 else 0)
    _assert_arrears_agree(tables, validation)


def test_dues_by_month_counts_are_the_member_month_facts(audited):
    tables, validation = audited
    member_month = validation.facts.tables["member_month"]
    short = Counter((r["branch_id"], r["period"]) for r in _findings(validation, "SM-5").iter_rows(named=True))
    assert short  # members who did not pay in full exist in the sample
    for branch in _branches(tables):
        shown = views.dues_by_month(tables, branch, QUARTER)
        facts = (
            member_month.filter(pl.col("branch_id") == branch)
            .group_by("month")
            .agg(
                members=pl.len(),
                paid_in_full=pl.col("paid_in_full").sum(),
                due=pl.col("amount_due").fill_null(0).sum(),
                paid=pl.col("amount_paid").sum(),
            )
        )
        joined = shown.join(facts, on="month", how="full", suffix="_fact")
        assert joined.height == len(QUARTER.months), branch
        for row in joined.iter_rows(named=True):
            assert (row["members"], row["paid_in_full"]) == (row["members_fact"], row["paid_in_full_fact"]), (branch, row)
            assert row["due"] == pytest.approx(row["due_fact"]) and row["paid"] == pytest.approx(row["paid_fact"]), (branch, row)
            # the members the chart counts as not paid in full are SM-5's findings
            assert row["members"] - row["paid_in_full"] == short[(branch, f"{row['month']:%Y-%m}")], (branch, row)


def test_points_missing_members_are_the_sm1_findings(audited):
    tables, validation = audited
    found = _findings(validation, "SM-1")
    assert found.height >= 1
    quarter_months = [f"{m:%Y-%m}" for m in QUARTER.months]
    for branch in _branches(tables):
        expected = found.filter(pl.col("branch_id") == branch)
        trend, missing = views.points_trend(tables, branch, QUARTER, data_window(tables))
        # members per month without points in the chart = SM-1 findings per month
        shown = {f"{m:%Y-%m}": n for m, n in trend.select("month", "missing").iter_rows() if f"{m:%Y-%m}" in quarter_months}
        assert shown == {p: expected.filter(pl.col("period") == p).height for p in quarter_months}, branch
        # and the members listed as missing those months are the findings' members
        listed = {
            (r["member_id"], p)
            for r in missing.iter_rows(named=True)
            for p in quarter_months
            if f"{int(p[:4])}年{int(p[5:])}月" in r["months"].split("、")
        }
        assert listed == set(expected.select("subject_id", "period").iter_rows()), branch


def test_meeting_counts_are_the_facts_counts(audited):
    tables, validation = audited
    standard = validation.standard
    branch_month = validation.facts.tables["branch_month"]
    group_month = validation.facts.tables["group_month"]
    per_group = standard.rule("OL-3").threshold("min_meetings")
    short_months = {
        (rule_id, r["branch_id"], r["period"])
        for rule_id, part in (("OL-2", "main"), ("OL-3", "main"), ("OL-5", "held"))
        for r in _findings(validation, rule_id, part).iter_rows(named=True)
    }
    assert {rule_id for rule_id, _, _ in short_months} == {"OL-2", "OL-3", "OL-5"}  # each kind occurs in the sample
    judged = {COMMITTEE: "OL-2", GROUP_MEETING: "OL-3", THEME_DAY: "OL-5"}
    for branch in _branches(tables):
        counts = views.meeting_counts(tables, branch, QUARTER, standard)
        groups = (
            group_month.filter(pl.col("branch_id") == branch)
            .group_by("period")
            .agg(held=pl.col("group_meetings").sum(), groups=pl.len())
        )
        facts = branch_month.filter(pl.col("branch_id") == branch).join(groups, on="period", how="left")
        for month in facts.iter_rows(named=True):
            shown = {
                r["meeting_type"]: (r["count"], r["required"])
                for r in counts.filter(pl.col("month") == month["month"]).iter_rows(named=True)
            }
            assert shown[COMMITTEE] == (month["committee_meetings"], standard.rule("OL-2").threshold("min_meetings"))
            assert shown[THEME_DAY] == (month["theme_days"], standard.rule("OL-5").threshold("min_meetings"))
            assert shown[GROUP_MEETING] == (month["held"] or 0, (month["groups"] or 0) * per_group)
            # a month the chart marks short has the finding; for committee and theme day, and back
            for kind, rule_id in judged.items():
                count, required = shown[kind]
                reported = (rule_id, branch, month["period"]) in short_months
                if kind == GROUP_MEETING:  # judged per group: a branch total can meet it while one group is short
                    assert reported or count >= required, (branch, month["period"], kind)
                else:
                    assert (count < required) == reported, (branch, month["period"], kind)


def test_the_overview_is_titled_by_the_superior_organisation_most_branches_name():
    """A tie (a city batch: ten sub-districts of 1,000 branches each) titled the overview with
    whichever organisation polars' `mode` listed first, which changed from run to run."""

    def branches(orgs: list[str | None]) -> pl.DataFrame:
        return pl.DataFrame({"parent_org": orgs}, schema={"parent_org": pl.String})

    assert views.parent_org(branches(["乙街道党工委", "甲街道党工委", "乙街道党工委", None])) == "乙街道党工委"
    tie = ["乙街道党工委", "甲街道党工委"] * 50
    assert {views.parent_org(branches(order)) for order in (tie, tie[::-1], sorted(tie))} == {min(tie)}
    assert views.parent_org(branches([None, None])) == "" and views.parent_org(branches([])) == ""
