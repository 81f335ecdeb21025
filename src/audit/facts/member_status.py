"""Per member: records after a transfer out (SM-4), consistent membership dates and duplicate
identities."""

from __future__ import annotations

import datetime as dt

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import date_zh, format_text, joined_list, source_ref, with_month_period
from audit.facts.registry import fact


@fact("member_transfer", ["member_id", "period"], title="转出党员×月", per_member=True)
def member_transfer(ctx: FactContext) -> pl.LazyFrame:
    """One row per transferred-out member and audited month with dues, points or attendance
    recorded after the transfer."""
    gone = ctx.members.filter(pl.col("out").is_not_null()).select("member_id", "name", "branch_id", "out")
    records = []
    for table, kind in (("dues", "党费"), ("points", "积分")):
        records.append(
            ctx.tables[table]
            .join(gone, on="member_id")
            .filter(pl.col("month") >= pl.col("out"))
            .select("member_id", "month", kind=pl.lit(kind), ref=source_ref())
        )
    records.append(
        ctx.attendance.join(gone, on="member_id")
        .filter(pl.col("held_on") >= pl.col("out"))
        .join(
            ctx.tables["attendance"].select("meeting_id", "member_id", "_file", "_sheet", "_row"), on=["meeting_id", "member_id"]
        )
        .select("member_id", "month", kind=pl.lit("参会"), ref=source_ref())
    )
    out = (
        pl.concat(records)
        .filter(pl.col("month").is_in(ctx.months))
        .group_by("member_id", "month")
        .agg(
            records_after_transfer=pl.len(),
            record_kinds=joined_list("kind"),
            ev_after_transfer=pl.col("ref").sort().str.join("；"),
        )
        .join(gone, on="member_id")
        .with_columns(transferred_out_zh=date_zh("out"), subject_id=pl.col("member_id"))
    )
    return with_month_period(out).sort("member_id", "month")


@fact("member_status", ["member_id"], title="党员", per_member=True)
def member_status(ctx: FactContext) -> pl.LazyFrame:
    """One row per member in the branch during the audited months."""
    relevant = ctx.member_months(ctx.months).select("member_id").unique()
    members = ctx.members.join(relevant, on="member_id").with_columns(
        date_problems=pl.concat_str(
            [
                pl.when(pl.col("out").is_not_null() & (pl.col("out") <= pl.col("start"))).then(
                    format_text("转出日期{}不晚于入党/转入日期{}", date_zh("out"), date_zh("start"))
                ),
                pl.when(pl.col("transferred_in_on") < pl.col("joined_on")).then(
                    format_text("转入日期{}早于入党日期{}", date_zh("transferred_in_on"), date_zh("joined_on"))
                ),
                pl.when(pl.col("full_member_on") < pl.col("joined_on")).then(
                    format_text("转正日期{}早于入党日期{}", date_zh("full_member_on"), date_zh("joined_on"))
                ),
            ],
            separator="；",
            ignore_nulls=True,
        ),
        ev_member=source_ref(),
    )
    # the same person (name and masked ID number, ID valid) under two member ids at once
    # (all members, also in a member shard: the other id may hash to another shard)
    people = ctx.all_members.filter(pl.col("id_number_status") == "ok").select(
        "member_id", "name", "id_number", "start", "out", "branch_id"
    )
    pairs = (
        people.join(people, on=["name", "id_number"], suffix="_other")
        .filter(pl.col("member_id") != pl.col("member_id_other"))
        .filter(
            (pl.col("start") < pl.col("out_other").fill_null(dt.date(9999, 1, 1)))
            & (pl.col("start_other") < pl.col("out").fill_null(dt.date(9999, 1, 1)))
        )
        .group_by("member_id")
        .agg(
            duplicate_identities=pl.len(),
            other_ids=format_text("{}（{}）", pl.col("member_id_other"), pl.col("branch_id_other")).sort().str.join("、"),
        )
    )
    return (
        members.join(pairs, on="member_id", how="left")
        .with_columns(
            dates_consistent=pl.col("date_problems") == "",
            duplicate_identities=pl.col("duplicate_identities").fill_null(0),
            subject_id=pl.col("member_id"),
            period=pl.lit(str(ctx.quarter)),
            period_zh=pl.lit(ctx.quarter.zh),
        )
        .select(
            "member_id",
            "name",
            "branch_id",
            "subject_id",
            "period",
            "period_zh",
            "date_problems",
            "dates_consistent",
            "duplicate_identities",
            "other_ids",
            "ev_member",
        )
        .sort("member_id")
    )
