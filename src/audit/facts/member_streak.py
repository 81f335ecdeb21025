"""Per member, the longest run of unpaid or absent months ending in the quarter (SM-8)."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import format_text, month_key, month_zh, offset_month, streak
from audit.facts.meeting_types import LIFE_TYPES
from audit.facts.registry import fact
from audit.periods import month_range

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


def with_unpaid(history: F, dues: F, last: dt.date) -> F:
    """`history` (member-months up to `last`) with `unpaid`: no dues row of the member and month
    has an amount paid (SM-8 counts any payment; how much is SM-5's concern). The arrears view
    (`views.arrears`) uses this too, so its streaks are the facts'."""
    paid = (
        dues.filter((pl.col("month") <= last) & (pl.col("amount_paid") > 0))
        .select("member_id", "month")
        .unique()
        .with_columns(paid=pl.lit(True))
    )
    return history.join(paid, on=["member_id", "month"], how="left").with_columns(unpaid=pl.col("paid").is_null())


def with_streaks(frame: F, *flags: str) -> F:
    """`frame` (member-months) sorted by member and month, with `<flag>_streak` for each flag: the
    run of consecutive months with the flag set that ends at the row (`streak`)."""
    index = pl.col("month").dt.year().cast(pl.Int32) * 12 + pl.col("month").dt.month().cast(pl.Int32)
    return (
        frame.with_columns(index=index)
        .sort("member_id", "month")
        .with_columns(**{f"{flag}_streak": streak(flag) for flag in flags})
    )


@fact("member_streak", ["member_id"], title="党员（向前追溯到数据起始月）", per_member=True)
def member_streak(ctx: FactContext) -> pl.LazyFrame:
    """Per member, the longest run of unpaid (or absent) months ending in the quarter, and the
    month it ends: member-months from the data window's start, flags joined on, runs found in
    one vectorised pass over member-sorted rows (`streak`), then one group-by per member."""
    last = ctx.months[-1]
    history = ctx.member_months(month_range(ctx.window[0], last)).select("member_id", "branch_id", "start", "out", "month")
    # months in which the branch held a meeting the member was expected at: any such meeting
    # for whole months of membership, an exact date check only for the first and last month
    life = ctx.meetings.filter(pl.col("meeting_type").is_in(LIFE_TYPES) & (pl.col("month") <= last))
    held = life.group_by("branch_id", "month").agg(branch_met=pl.lit(True).first())
    partial = (pl.col("start") > pl.col("month")) | (pl.col("out") <= pl.col("month").dt.month_end()).fill_null(False)
    met_in_part = (
        history.filter(partial)
        .join(life.select("branch_id", "month", "held_on"), on=["branch_id", "month"])
        .filter((pl.col("start") <= pl.col("held_on")) & (pl.col("out").is_null() | (pl.col("held_on") < pl.col("out"))))
        .select("member_id", "month")
        .unique()
        .with_columns(met_in_part=pl.lit(True))
    )
    took_part = (
        ctx.attendance.filter(pl.col("status").is_in(["出席", "请假"]) & (pl.col("month") <= last))
        .select("member_id", "month")
        .unique()
        .with_columns(took_part=pl.lit(True))
    )
    keys = ["member_id", "month"]
    frame = (
        with_unpaid(history, ctx.tables["dues"], last)
        .join(held, on=["branch_id", "month"], how="left")
        .join(met_in_part, on=keys, how="left")
        .join(took_part, on=keys, how="left")
        .with_columns(
            absent=pl.when(partial).then(pl.col("met_in_part")).otherwise(pl.col("branch_met")).fill_null(False)
            & pl.col("took_part").is_null(),
        )
    )
    frame = with_streaks(frame, "unpaid", "absent").filter(pl.col("month").is_in(ctx.months))

    def worst(prefix: str) -> list[pl.Expr]:
        length = pl.col(f"{prefix}_streak")
        return [length.max(), pl.col("month").filter(length == length.max()).max().alias(f"{prefix}_month")]

    def described(prefix: str) -> dict[str, pl.Expr]:
        length, month = pl.col(f"{prefix}_streak"), pl.col(f"{prefix}_month")
        first = month_zh(offset_month(month, length - 1))
        return {
            f"{prefix}_period": month_key(month),
            f"{prefix}_period_zh": month_zh(month),
            f"{prefix}_months": pl.when(length > 0).then(format_text("{}至{}", first, month_zh(month))),
        }

    columns = [f"{p}_{c}" for p in ("unpaid", "absent") for c in ("streak", "period", "period_zh", "months")]
    return (
        frame.group_by("member_id")
        .agg(*worst("unpaid"), *worst("absent"))
        .join(ctx.members.select("member_id", "name", "branch_id"), on="member_id")
        .with_columns(**described("unpaid"), **described("absent"))
        .select(
            "member_id",
            "name",
            "branch_id",
            *columns,
            subject_id=pl.col("member_id"),
            ev_unpaid=format_text("党费表中党员 {} 在 {} 无实交金额", pl.col("member_id"), pl.col("unpaid_months")),
            ev_absent=format_text("参会明细中党员 {} 在 {} 无出席或请假记录", pl.col("member_id"), pl.col("absent_months")),
        )
        .sort("member_id")
    )
