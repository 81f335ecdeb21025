"""Small tables behind the report charts, computed with polars from the canonical tables.

Each function answers one question about one branch (or the whole sub-district) and quarter; the
figures in charts.py only draw what these return. Whatever a rule also judges is computed with the
facts' own expressions (`audit.facts`: members per month, points present, dues paid in full, the
unpaid streak, party groups, meeting types) and the standard's thresholds, so a chart cannot
contradict a finding (tests/test_views_agree.py compares them).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from itertools import pairwise

import polars as pl

from audit.facts import MEETING_TYPES, data_window, member_months
from audit.facts.assembly import attended_count
from audit.facts.group_month import party_groups
from audit.facts.meeting_types import COMMITTEE, GROUP_MEETING, THEME_DAY
from audit.facts.member_month import dues_totals, paid_in_full, with_points
from audit.facts.member_streak import with_streaks, with_unpaid
from audit.periods import Quarter, add_months, month_range
from audit.standard import Standard

# The rule whose `min_meetings` is each meeting type's monthly minimum (OL-3: per party group)
MONTHLY_MINIMUM_RULES = {COMMITTEE: "OL-2", GROUP_MEETING: "OL-3", THEME_DAY: "OL-5"}


def _months(quarter: Quarter) -> list[dt.date]:
    return quarter.months


def members_in_month(tables: Mapping[str, pl.DataFrame], months: list[dt.date], branch: str | None = None) -> pl.DataFrame:
    """Members per month while in the branch: the same rule the facts use."""
    members = tables["members"] if branch is None else tables["members"].filter(pl.col("branch_id") == branch)
    return member_months(members, months)


def monthly_minimum(standard: Standard, meeting_type: str) -> int | None:
    """The standard's monthly minimum of a meeting type (per party group for 党小组会), or None
    when no enabled rule sets one; as a whole number of meetings (a count reaches 1.5 when it
    reaches 2)."""
    rule_id = MONTHLY_MINIMUM_RULES.get(meeting_type)
    if rule_id is None or not standard.enabled(rule_id):
        return None
    return math.ceil(standard.rule(rule_id).threshold("min_meetings"))


def meeting_counts(tables: Mapping[str, pl.DataFrame], branch: str, quarter: Quarter, standard: Standard) -> pl.DataFrame:
    """Meetings per month and type (the contract's types) in the quarter, with the standard's
    minimum for each: the counts the facts judge (`branch_month`, `group_month`), so 党小组会
    counts the meetings of the party groups that have members that month, and its minimum is the
    per-group minimum times those groups."""
    months = _months(quarter)
    held = (
        tables["meetings"]
        .filter(pl.col("branch_id") == branch)
        .with_columns(month=pl.col("held_on").dt.truncate("1mo"))
        .filter(pl.col("month").is_in(months))
    )
    others = held.filter(pl.col("meeting_type") != GROUP_MEETING).group_by("month", "meeting_type").agg(count=pl.len())
    group_meetings = held.filter(pl.col("meeting_type") == GROUP_MEETING).group_by("group_name", "month").agg(held=pl.len())
    groups = (
        party_groups(members_in_month(tables, months, branch))
        .join(group_meetings, on=["group_name", "month"], how="left")
        .group_by("month")
        .agg(count=pl.col("held").fill_null(0).sum(), groups=pl.len())
        .with_columns(meeting_type=pl.lit(GROUP_MEETING))
    )
    grid = pl.DataFrame({"month": months}, schema={"month": pl.Date}).join(
        pl.DataFrame({"meeting_type": list(MEETING_TYPES)}), how="cross"
    )
    minimum = {kind: monthly_minimum(standard, kind) for kind in MEETING_TYPES}
    per_group = minimum[GROUP_MEETING]
    required_by_groups = pl.col("groups").fill_null(0) * per_group if per_group is not None else pl.lit(None, pl.Int64)
    return (
        grid.join(pl.concat([others, groups], how="diagonal_relaxed"), on=["month", "meeting_type"], how="left")
        .with_columns(
            pl.col("count").fill_null(0).cast(pl.Int64),
            required=pl.when(pl.col("meeting_type") == GROUP_MEETING)
            .then(required_by_groups)
            .otherwise(pl.col("meeting_type").replace_strict(minimum, default=None, return_dtype=pl.Int64))
            .cast(pl.Int64),
            month_label=pl.format("{}月", pl.col("month").dt.month()),
        )
        .drop("groups")
        .sort("month", "meeting_type")
    )


def theme_days(tables: Mapping[str, pl.DataFrame], branch: str, quarter: Quarter) -> pl.DataFrame:
    months = _months(quarter)
    return (
        tables["meetings"]
        .filter(
            (pl.col("branch_id") == branch)
            & (pl.col("meeting_type") == "主题党日")
            & pl.col("held_on").dt.truncate("1mo").is_in(months)
        )
        .select(
            "meeting_id",
            "held_on",
            "topic",
            day=pl.col("held_on").dt.day(),
            month_label=pl.format("{}月", pl.col("held_on").dt.month()),
        )
        .sort("held_on", "meeting_id")
    )


def attendance_rates(tables: Mapping[str, pl.DataFrame], branch: str, quarter: Quarter) -> pl.DataFrame:
    """Per meeting of the quarter: how its attendance is known (`source`: `list` — a per-member
    list, `counts` — only the record's 应到 / 实到人数, `none`), the members expected (those
    listed, or 应到人数) and present (counted as OL-10 counts them, `attended_count`), on leave,
    and the attendance rate; null rate when neither a list nor both counts are recorded."""
    meetings = tables["meetings"].filter(
        (pl.col("branch_id") == branch) & pl.col("held_on").is_between(quarter.start, quarter.end)
    )
    if "attendance_source" not in meetings.columns:  # tables not read by `ingest`: the list decides
        meetings = meetings.with_columns(attendance_source=pl.lit(None, dtype=pl.String))
    listed = (
        tables["attendance"]
        .group_by("meeting_id")
        .agg(listed=pl.len(), attended=(pl.col("status") == "出席").sum(), on_leave=(pl.col("status") == "请假").sum())
    )
    has_list = pl.col("attendance_source") == "list"
    has_counts = pl.col("present_count").is_not_null() & (pl.col("expected_count").fill_null(0) > 0)
    return (
        meetings.join(listed, on="meeting_id", how="left")
        .with_columns(pl.col("listed", "attended", "on_leave").fill_null(0).cast(pl.Int64))
        .with_columns(
            attendance_source=pl.col("attendance_source").fill_null(
                pl.when(pl.col("listed") > 0).then(pl.lit("list")).otherwise(pl.lit("counts"))
            )
        )
        .with_columns(
            source=pl.when(has_list).then(pl.lit("list")).when(has_counts).then(pl.lit("counts")).otherwise(pl.lit("none")),
        )
        .with_columns(
            expected=pl.when(pl.col("source") == "list")
            .then(pl.col("listed"))
            .when(pl.col("source") == "counts")
            .then(pl.col("expected_count"))
            .cast(pl.Int64),
            present=pl.when(pl.col("source") != "none").then(attended_count("attended")).cast(pl.Int64),
            leave=pl.when(pl.col("source") == "list")
            .then(pl.col("on_leave"))
            .when(pl.col("source") == "counts")
            .then(pl.col("leave_count"))
            .cast(pl.Int64),
        )
        .with_columns(rate=pl.when(pl.col("expected") > 0).then(pl.col("present") / pl.col("expected")))
        .select("meeting_id", "held_on", "meeting_type", "topic", "source", "expected", "present", "leave", "rate")
        .sort("held_on", "meeting_id")
    )


def points_by_member_month(tables: Mapping[str, pl.DataFrame], months: list[dt.date], branch: str | None = None) -> pl.DataFrame:
    """Each member-month with its total points and `has_points`, as the `member_month` fact (SM-1) sees them."""
    expected = members_in_month(tables, months, branch).select("member_id", "name", "month")
    return with_points(expected, tables["points"].select("member_id", "month", "total_points"))


def points_trend(
    tables: Mapping[str, pl.DataFrame], branch: str, quarter: Quarter, window: tuple[dt.date, dt.date] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Monthly points (average, min, max) over the last four quarters, and members' missing months.
    `window` is the batch's data window (taken from the tables when not given)."""
    window = window or data_window(tables)
    first = max(add_months(quarter.start, -9), window[0] if window else quarter.start)
    months = month_range(first, quarter.months[-1])
    joined = points_by_member_month(tables, months, branch)
    trend = (
        joined.group_by("month")
        .agg(
            average=pl.col("total_points").mean(),
            minimum=pl.col("total_points").min(),
            maximum=pl.col("total_points").max(),
            members=pl.len(),
            missing=pl.col("has_points").not_().sum(),
        )
        .with_columns(month_label=pl.format("{}年{}月", pl.col("month").dt.year(), pl.col("month").dt.month()))
        .sort("month")
    )
    missing = (
        joined.filter(pl.col("has_points").not_())
        .group_by("member_id", "name")
        .agg(
            months=pl.format("{}年{}月", pl.col("month").dt.year(), pl.col("month").dt.month())
            .sort_by(pl.col("month"))
            .str.join("、"),
            count=pl.len(),
        )
        .sort("member_id")
    )
    return trend, missing


def dues_by_month(tables: Mapping[str, pl.DataFrame], branch: str, quarter: Quarter) -> pl.DataFrame:
    """Due and paid per month of the quarter, and the share of members who paid in full (SM-5's
    `paid_in_full`, as the `member_month` fact computes it)."""
    months = _months(quarter)
    expected = members_in_month(tables, months, branch).select("member_id", "month")
    dues = tables["dues"].group_by("member_id", "month").agg(**dues_totals())
    return (
        expected.join(dues, on=["member_id", "month"], how="left")
        .with_columns(paid_in_full=paid_in_full())
        .group_by("month")
        .agg(
            due=pl.col("amount_due").fill_null(0).sum(),
            paid=pl.col("amount_paid").fill_null(0).sum(),
            members=pl.len(),
            paid_in_full=pl.col("paid_in_full").sum(),
        )
        .with_columns(
            completion=pl.col("paid_in_full") / pl.col("members"), month_label=pl.format("{}月", pl.col("month").dt.month())
        )
        .sort("month")
    )


def age_buckets(standard: Standard) -> list[tuple[str, int]]:
    """The arrears chart's buckets as (label, first month), from SM-8's `max_months`: below half of
    it, below it, and from it on (the members SM-8 reports); 1–2个月, 3–5个月, 6个月及以上 for 6."""
    risk = math.ceil(standard.rule("SM-8").threshold("max_months"))  # a streak reaches 5.5 when it reaches 6
    firsts = sorted({first for first in (1, risk // 2, risk) if first >= 1})
    labels = [f"{a}–{b - 1}个月" if b - 1 > a else f"{a}个月" for a, b in pairwise(firsts)]
    return list(zip([*labels, f"{firsts[-1]}个月及以上"], firsts, strict=True))


def arrears(
    tables: Mapping[str, pl.DataFrame],
    quarter: Quarter,
    standard: Standard,
    branch: str | None = None,
    window: tuple[dt.date, dt.date] | None = None,
) -> pl.DataFrame:
    """Members in arrears at the quarter's end: the run of unpaid months up to its last month (the
    `member_streak` fact's unpaid streak, SM-8), bucketed by age (`age_buckets`). `window` is the
    batch's data window (taken from the tables when not given)."""
    window = window or data_window(tables)
    last = quarter.months[-1]
    months = month_range(window[0] if window else quarter.start, last)
    history = members_in_month(tables, months, branch).select("member_id", "name", "branch_id", "month")
    streaks = with_streaks(with_unpaid(history, tables["dues"], last), "unpaid")
    bucket = pl.lit(None, pl.String)
    for label, first in age_buckets(standard):
        bucket = pl.when(pl.col("unpaid_months") >= first).then(pl.lit(label)).otherwise(bucket)
    return (
        streaks.filter((pl.col("month") == last) & (pl.col("unpaid_streak") > 0))
        .select("branch_id", "member_id", "name", unpaid_months=pl.col("unpaid_streak"))
        .with_columns(bucket=bucket)
        .sort("branch_id", "member_id")
    )


def arrears_buckets(arrears_frame: pl.DataFrame, standard: Standard) -> pl.DataFrame:
    """Members per bucket of `age_buckets`, in order; `at_risk` marks the bucket SM-8 reports
    (none while SM-8 is switched off)."""
    counts = arrears_frame.group_by("bucket").agg(members=pl.len())
    buckets = age_buckets(standard)
    risk = buckets[-1][1]
    at_risk = [standard.enabled("SM-8") and first >= risk for _, first in buckets]
    return (
        pl.DataFrame({"bucket": [label for label, _ in buckets], "at_risk": at_risk})
        .join(counts, on="bucket", how="left")
        .with_columns(pl.col("members").fill_null(0).cast(pl.Int64))
        .select("bucket", "members", "at_risk")
    )


def compliance_matrix(findings: pl.DataFrame, branches: pl.DataFrame, quarter: Quarter) -> pl.DataFrame:
    """Branches × (the quarter's months, then 季度及以上): number of error or critical findings."""
    columns = [f"{m:%Y-%m}" for m in quarter.months]
    serious = findings.filter(pl.col("severity").is_in(["error", "critical"])).with_columns(
        column=pl.when(pl.col("period").is_in(columns)).then(pl.col("period")).otherwise(pl.lit("季度及以上"))
    )
    counts = serious.group_by("branch_id", "column").agg(findings=pl.len())
    grid = branches.select("branch_id", "branch_name").join(pl.DataFrame({"column": [*columns, "季度及以上"]}), how="cross")
    return grid.join(counts, on=["branch_id", "column"], how="left").with_columns(pl.col("findings").fill_null(0).cast(pl.Int64))


def quarter_comparison(current: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Per branch: findings and rating this quarter and the previous one (scorecards)."""
    now = current.select(
        "branch_id", "branch_name", rating="rating", findings=pl.col("errors") + pl.col("critical") + pl.col("warnings")
    )
    if previous is None or previous.is_empty():
        return now.with_columns(previous_rating=pl.lit(None, pl.String), previous_findings=pl.lit(None, pl.Int64))
    before = previous.select(
        "branch_id", previous_rating="rating", previous_findings=pl.col("errors") + pl.col("critical") + pl.col("warnings")
    )
    return now.join(before, on="branch_id", how="left")


# The on-site sample's columns (`meeting_sample`), as the workbook lists them
SAMPLE_COLUMNS = (
    "branch_id",
    "meeting_id",
    "meeting_type",
    "held_on",
    "topic",
    "present_count",
    "expected_count",
    "_file",
    "_sheet",
    "_row",
)


def meeting_sample(
    tables: Mapping[str, pl.DataFrame], quarter: Quarter, seed: int, per_branch: int, branch: str | None = None
) -> pl.DataFrame:
    """A seeded, reproducible random sample of each branch's meetings in the quarter, for checking
    against the paper minutes. The same seed, batch and quarter always draw the same meetings."""
    import random

    meetings = tables["meetings"].filter(pl.col("held_on").is_between(quarter.start, quarter.end))
    if branch is not None:
        meetings = meetings.filter(pl.col("branch_id") == branch)
    picked = []
    for branch_id in sorted(meetings["branch_id"].unique().to_list()):
        mine = meetings.filter(pl.col("branch_id") == branch_id).sort("meeting_id")
        rng = random.Random(f"{seed}:{quarter}:{branch_id}")
        indices = sorted(rng.sample(range(mine.height), min(per_branch, mine.height)))
        picked.append(mine[indices])
    if not picked:
        return meetings.head(0)
    return pl.concat(picked).select(SAMPLE_COLUMNS)


def followup_counts(followup: pl.DataFrame | None, branches: pl.DataFrame) -> pl.DataFrame:
    """Per branch (every branch, in id order): how many follow-up rows of each status (新增, 持续,
    已整改, 已补正, 待复查; `audit.followup`)."""
    from audit.followup import STATUSES

    grid = branches.select("branch_id", "branch_name").sort("branch_id")
    if followup is None or followup.is_empty():
        return grid.with_columns(pl.lit(0, pl.Int64).alias(s) for s in STATUSES)
    wide = followup.group_by("branch_id").agg((pl.col("status") == s).sum().cast(pl.Int64).alias(s) for s in STATUSES)
    return grid.join(wide, on="branch_id", how="left").with_columns(pl.col(*STATUSES).fill_null(0))


def branch_followup(followup: pl.DataFrame | None, branch: str, applied: pl.DataFrame | None = None) -> pl.DataFrame:
    """A branch's follow-up rows, each with the reviewer's latest decision on it as text."""
    from audit.decisions import with_decision_text
    from audit.followup import FOLLOWUP_SCHEMA

    if followup is None:
        followup = pl.DataFrame(schema=FOLLOWUP_SCHEMA)
    mine = followup.filter(pl.col("branch_id") == branch)
    if applied is not None and not applied.is_empty():
        decided = applied.select("finding_id", "decision", "note", "reviewer", "decided_on")
        mine = mine.join(decided, on="finding_id", how="left")
    return with_decision_text(mine)


def progress_table(progress: pl.DataFrame, standard: Standard) -> pl.DataFrame:
    """Open half-year and year rules (`progress.csv`) for people: each rule with its title, the
    period in words, and what is due by now as a whole number of meetings. Counts are whole, so
    `done >= expected_by_now` (the status) holds exactly when `done` reaches the pro-rata share
    rounded up: 0.25 of a meeting due by now is shown as 1. A row 无法评估 for want of data
    (`audit.coverage.withhold_progress`) shows no count done or due by now, only its `reason`:
    a count made without the data is not progress."""
    if progress.is_empty():
        return pl.DataFrame(
            schema={"rule_id": pl.String, "rule_title": pl.String, "period": pl.String, "required": pl.Int64}
            | {"done": pl.Int64, "expected_by_now": pl.Int64, "status": pl.String, "reason": pl.String}
        )
    from audit.labels import UNEVALUABLE
    from audit.periods import period_zh

    titles = {rule_id: rule.title for rule_id, rule in standard.rules.items()}
    judged = pl.col("status") != UNEVALUABLE
    reason = pl.col("reason").cast(pl.String).fill_null("") if "reason" in progress.columns else pl.lit("")
    return progress.select(
        "rule_id",
        rule_title=pl.col("rule_id").replace_strict(titles, default="", return_dtype=pl.String),
        period=pl.col("period").cast(pl.String).map_elements(period_zh, return_dtype=pl.String),
        required=pl.col("required").cast(pl.Int64),
        done=pl.when(judged).then(pl.col("done").cast(pl.Int64)),
        expected_by_now=pl.when(judged).then((pl.col("expected_by_now") - 1e-9).ceil().clip(lower_bound=0).cast(pl.Int64)),
        status="status",
        reason=reason,
    )


def parent_org(branches: pl.DataFrame) -> str:
    """The superior organisation the overview is titled with: the one most branches name, a tie
    (a batch of several sub-districts, as many branches each) going to the first in sorted order,
    so the title does not change from run to run; "" when no branch names one."""
    counted = branches.get_column("parent_org").drop_nulls().value_counts(name="n")
    if counted.is_empty():
        return ""
    return str(counted.sort(["n", "parent_org"], descending=[True, False])["parent_org"][0])


def branch_reasons(
    findings: pl.DataFrame, standard: Standard, branches: pl.DataFrame, unevaluable: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Per branch (every branch of `branches`): one line saying why it did not get the best rating,
    in the standard's words: its findings counted by rule and severity, 严重 first, then 错误, then
    提示 (`严重：连续6个月不交党费或不参加组织生活（1条）；错误：按月足额交纳党费（3条）`), then how many
    rule parts could not be judged (`unevaluable`: `coverage.unevaluable_counts`). Findings judged
    误报 (`counted` false) are left out, as the rating leaves them out. Empty when there is nothing to say."""
    from audit.labels import SEVERITY_ZH, UNEVALUABLE

    if "counted" in findings.columns:
        findings = findings.filter(pl.col("counted"))
    titles = {rule_id: rule.title for rule_id, rule in standard.rules.items()}
    order = {rule_id: n for n, rule_id in enumerate(standard.rules)}
    counted = (
        findings.group_by("branch_id", "severity", "rule_id")
        .agg(n=pl.len())
        .with_columns(order=pl.col("rule_id").replace_strict(order, default=len(order), return_dtype=pl.Int64))
        .sort("n", "order", descending=[True, False])
    )
    missing = {} if unevaluable is None else dict(unevaluable.select("branch_id", "unevaluable").iter_rows())
    lines = []
    for branch_id in branches["branch_id"]:
        mine = counted.filter(pl.col("branch_id") == branch_id)
        parts = []
        for severity in ("critical", "error", "warning"):
            rows = mine.filter(pl.col("severity") == severity)
            if not rows.is_empty():
                items = "、".join(f"{titles.get(r['rule_id'], r['rule_id'])}（{r['n']}条）" for r in rows.iter_rows(named=True))
                parts.append(f"{SEVERITY_ZH[severity]}：{items}")
        if missing.get(branch_id):
            parts.append(f"{UNEVALUABLE}：{missing[branch_id]}项")
        lines.append("；".join(parts))
    return pl.DataFrame(
        {"branch_id": branches["branch_id"], "reason": lines}, schema={"branch_id": pl.String, "reason": pl.String}
    )
