"""Small tables behind the report charts, computed with polars from the canonical tables.

Each function answers one question about one branch (or the whole sub-district) and quarter; the
figures in charts.py only draw what these return.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from audit.facts import data_window, member_months
from audit.periods import Quarter, add_months, month_range
from audit.standard import Standard

MEETING_TYPES = ["支部委员会", "党小组会", "主题党日", "支部党员大会", "党课", "集中学习", "组织生活会", "民主评议"]
AGE_BUCKETS = ["1–2个月", "3–5个月", "6个月及以上"]


def _months(quarter: Quarter) -> list[dt.date]:
    return quarter.months


def members_in_month(tables: dict[str, pl.DataFrame], months: list[dt.date], branch: str | None = None) -> pl.DataFrame:
    """Members per month while in the branch: the same rule the facts use."""
    members = tables["members"] if branch is None else tables["members"].filter(pl.col("branch_id") == branch)
    return member_months(members, months)


def meeting_counts(tables: dict[str, pl.DataFrame], branch: str, quarter: Quarter, standard: Standard) -> pl.DataFrame:
    """Meetings per month and type in the quarter, with the standard's minimum for each."""
    months = _months(quarter)
    groups = (
        members_in_month(tables, months, branch)
        .filter(pl.col("group_name").is_not_null())
        .group_by("month")
        .agg(groups=pl.col("group_name").n_unique())
    )
    counts = (
        tables["meetings"]
        .filter((pl.col("branch_id") == branch) & pl.col("held_on").dt.truncate("1mo").is_in(months))
        .group_by(month=pl.col("held_on").dt.truncate("1mo"), meeting_type=pl.col("meeting_type"))
        .agg(count=pl.len())
    )
    grid = pl.DataFrame({"month": months}, schema={"month": pl.Date}).join(
        pl.DataFrame({"meeting_type": MEETING_TYPES}), how="cross"
    )
    minimum = {
        "支部委员会": standard.rule("OL-2").threshold("min_meetings"),
        "主题党日": standard.rule("OL-5").threshold("min_meetings"),
    }
    return (
        grid.join(counts, on=["month", "meeting_type"], how="left")
        .join(groups, on="month", how="left")
        .with_columns(
            pl.col("count").fill_null(0).cast(pl.Int64),
            required=pl.when(pl.col("meeting_type") == "党小组会")
            .then(pl.col("groups").fill_null(0) * standard.rule("OL-3").threshold("min_meetings"))
            .otherwise(pl.col("meeting_type").replace_strict(minimum, default=None, return_dtype=pl.Int64)),
            month_label=pl.format("{}月", pl.col("month").dt.month()),
        )
        .drop("groups")
        .sort("month", "meeting_type")
    )


def theme_days(tables: dict[str, pl.DataFrame], branch: str, quarter: Quarter) -> pl.DataFrame:
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


def attendance_rates(tables: dict[str, pl.DataFrame], branch: str, quarter: Quarter) -> pl.DataFrame:
    """Per meeting of the quarter: listed, present, on leave, and the attendance rate."""
    meetings = tables["meetings"].filter(
        (pl.col("branch_id") == branch) & pl.col("held_on").is_between(quarter.start, quarter.end)
    )
    listed = (
        tables["attendance"]
        .group_by("meeting_id")
        .agg(listed=pl.len(), present=(pl.col("status") == "出席").sum(), leave=(pl.col("status") == "请假").sum())
    )
    return (
        meetings.join(listed, on="meeting_id", how="left")
        .with_columns(pl.col("listed", "present", "leave").fill_null(0).cast(pl.Int64))
        .with_columns(rate=pl.when(pl.col("listed") > 0).then(pl.col("present") / pl.col("listed")))
        .select("meeting_id", "held_on", "meeting_type", "topic", "listed", "present", "leave", "rate")
        .sort("held_on", "meeting_id")
    )


def points_trend(
    tables: dict[str, pl.DataFrame], branch: str, quarter: Quarter, window: tuple[dt.date, dt.date] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Monthly points (average, min, max) over the last four quarters, and members' missing months.
    `window` is the batch's data window (taken from the tables when not given)."""
    window = window or data_window(tables)
    first = max(add_months(quarter.start, -9), window[0] if window else quarter.start)
    months = month_range(first, quarter.months[-1])
    expected = members_in_month(tables, months, branch).select("member_id", "name", "month")
    points = tables["points"].select("member_id", "month", "total_points")
    joined = expected.join(points, on=["member_id", "month"], how="left")
    trend = (
        joined.group_by("month")
        .agg(
            average=pl.col("total_points").mean(),
            minimum=pl.col("total_points").min(),
            maximum=pl.col("total_points").max(),
            members=pl.len(),
            missing=pl.col("total_points").is_null().sum(),
        )
        .with_columns(month_label=pl.format("{}年{}月", pl.col("month").dt.year(), pl.col("month").dt.month()))
        .sort("month")
    )
    missing = (
        joined.filter(pl.col("total_points").is_null())
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


def dues_by_month(tables: dict[str, pl.DataFrame], branch: str, quarter: Quarter) -> pl.DataFrame:
    """Due and paid per month of the quarter, and the share of members who paid in full."""
    months = _months(quarter)
    expected = members_in_month(tables, months, branch).select("member_id", "month")
    dues = tables["dues"].group_by("member_id", "month").agg(due=pl.col("amount_due").max(), paid=pl.col("amount_paid").sum())
    return (
        expected.join(dues, on=["member_id", "month"], how="left")
        .group_by("month")
        .agg(
            due=pl.col("due").fill_null(0).sum(),
            paid=pl.col("paid").fill_null(0).sum(),
            members=pl.len(),
            paid_in_full=(pl.col("paid").fill_null(0) >= pl.col("due").fill_null(0) - 1e-6)
            .and_(pl.col("due").is_not_null())
            .sum(),
        )
        .with_columns(
            completion=pl.col("paid_in_full") / pl.col("members"), month_label=pl.format("{}月", pl.col("month").dt.month())
        )
        .sort("month")
    )


def arrears(
    tables: dict[str, pl.DataFrame], quarter: Quarter, branch: str | None = None, window: tuple[dt.date, dt.date] | None = None
) -> pl.DataFrame:
    """Members in arrears at the quarter's end: consecutive unpaid months up to it, bucketed by age.
    `window` is the batch's data window (taken from the tables when not given)."""
    window = window or data_window(tables)
    months = month_range(window[0] if window else quarter.start, quarter.months[-1])
    expected = members_in_month(tables, months, branch).select("member_id", "name", "branch_id", "month")
    paid = tables["dues"].filter(pl.col("amount_paid") > 0).select("member_id", "month").unique().with_columns(paid=pl.lit(True))
    frame = expected.join(paid, on=["member_id", "month"], how="left").sort("member_id", "month")
    last = quarter.months[-1]
    # unpaid months counted backwards from the quarter's last month until a paid month
    streaks = (
        frame.filter(pl.col("month") <= last)
        .with_columns(paid_flag=pl.col("paid").fill_null(False))
        .group_by("member_id", "name", "branch_id")
        .agg(
            last_month=pl.col("month").max(),
            months=pl.col("month"),
            paid=pl.col("paid_flag"),
        )
        .filter(pl.col("last_month") == last)
        .with_columns(
            unpaid_months=pl.col("paid").list.reverse().list.eval(pl.element().cum_max().not_().cast(pl.Int32)).list.sum()
        )
        .filter(pl.col("unpaid_months") > 0)
        .with_columns(
            bucket=pl.when(pl.col("unpaid_months") >= 6)
            .then(pl.lit(AGE_BUCKETS[2]))
            .when(pl.col("unpaid_months") >= 3)
            .then(pl.lit(AGE_BUCKETS[1]))
            .otherwise(pl.lit(AGE_BUCKETS[0]))
        )
        .select("branch_id", "member_id", "name", "unpaid_months", "bucket")
        .sort("branch_id", "member_id")
    )
    return streaks


def arrears_buckets(arrears_frame: pl.DataFrame) -> pl.DataFrame:
    counts = arrears_frame.group_by("bucket").agg(members=pl.len())
    return (
        pl.DataFrame({"bucket": AGE_BUCKETS})
        .join(counts, on="bucket", how="left")
        .with_columns(pl.col("members").fill_null(0).cast(pl.Int64))
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


def meeting_sample(
    tables: dict[str, pl.DataFrame], quarter: Quarter, seed: int, per_branch: int, branch: str | None = None
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
    return pl.concat(picked).select(
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
