"""Party group and month: group meetings (OL-3)."""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import format_text, with_month_period
from audit.facts.meeting_types import GROUP_MEETING
from audit.facts.registry import fact

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


def party_groups(member_months: F) -> F:
    """(branch_id, group_name, month, group_members): each party group with members in a month,
    the groups OL-3 judges (the meetings chart, `views.meeting_counts`, counts the same groups)."""
    return (
        member_months.filter(pl.col("group_name").is_not_null() & (pl.col("group_name") != ""))
        .group_by("branch_id", "group_name", "month")
        .agg(group_members=pl.len())
    )


@fact("group_month", ["branch_id", "group_name", "period"], title="党小组×月")
def group_month(ctx: FactContext) -> pl.LazyFrame:
    """One row per party group with members and audited month."""
    groups = party_groups(ctx.member_months(ctx.months))
    meetings = ctx.count_meetings(GROUP_MEETING, ["branch_id", "group_name", "month"], "group_meetings")
    out = groups.join(meetings, on=["branch_id", "group_name", "month"], how="left").with_columns(
        pl.col("group_meetings").fill_null(0),
        ev_group_meetings=pl.col("ev_group_meetings").fill_null(
            format_text("会议记录中无“{}”该月的党小组会", pl.col("group_name"))
        ),
        subject_id=pl.col("group_name"),
    )
    return with_month_period(out).sort("branch_id", "group_name", "month")
