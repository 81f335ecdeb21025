"""Each meeting of the members' assembly: attendance against the members on its date (OL-10)."""

from __future__ import annotations

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import date_zh, with_month_period
from audit.facts.meeting_types import ASSEMBLY
from audit.facts.registry import fact


def attended_count(listed_present: str) -> pl.Expr:
    """Members present at a meeting: its attendance list's 出席 rows (column `listed_present`)
    when it has a list, else the record's 实到人数 (counts only, or a 缺席人员 text that names only
    the absent); null when neither is known. OL-10 and the attendance chart both count this way."""
    return (
        pl.when(pl.col("attendance_source") == "list")
        .then(pl.col(listed_present))
        .otherwise(pl.coalesce(pl.col("present_count"), pl.col(listed_present)))
    )


@fact("assembly", ["meeting_id"], title="每次支部党员大会")
def assembly(ctx: FactContext) -> pl.LazyFrame:
    """One row per 支部党员大会 held in the audited months; the quorum counts the attendance list's
    出席 rows, or the recorded 实到人数 when the meeting has no list (its `attendance_source`)."""
    meetings = ctx.meetings.filter((pl.col("meeting_type") == ASSEMBLY) & pl.col("month").is_in(ctx.months))
    on_date = ctx.members_on_meeting_dates(meetings).group_by("meeting_id").agg(members_on_date=pl.len())
    attended = ctx.tables["attendance"].group_by("meeting_id").agg(attended=(pl.col("status") == "出席").sum(), listed=pl.len())
    out = (
        meetings.join(on_date, on="meeting_id", how="left")
        .join(attended, on="meeting_id", how="left")
        .with_columns(
            pl.col("members_on_date", "listed").fill_null(0),
            attended=attended_count("attended").fill_null(0),
        )
        .with_columns(
            attended_share=pl.when(pl.col("members_on_date") > 0).then(pl.col("attended") / pl.col("members_on_date")),
            counts_agree=(pl.col("present_count").is_null() | (pl.col("present_count") == pl.col("attended")))
            & (pl.col("expected_count").is_null() | (pl.col("expected_count") == pl.col("members_on_date"))),
            expected_count_text=pl.col("expected_count").cast(pl.String).fill_null("未填"),
            present_count_text=pl.col("present_count").cast(pl.String).fill_null("未填"),
            held_on_zh=date_zh("held_on"),
            ev_assembly=pl.col("ref"),
        )
    )
    return with_month_period(out).select(
        "meeting_id",
        "branch_id",
        "period",
        "period_zh",
        "held_on_zh",
        "members_on_date",
        "attended",
        "listed",
        "attended_share",
        "counts_agree",
        "expected_count_text",
        "present_count_text",
        "ev_assembly",
    )
