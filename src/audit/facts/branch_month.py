"""Branch and month: committee meetings (OL-2), theme days (OL-5, OL-6), dues disclosure and its timeliness (SM-7)."""

from __future__ import annotations

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import date_zh, format_text, month_zh, source_ref, with_month_period
from audit.facts.meeting_types import COMMITTEE, THEME_DAY
from audit.facts.registry import fact


@fact("branch_month", ["branch_id", "period"], title="支部×月")
def branch_month(ctx: FactContext) -> pl.LazyFrame:
    """One row per branch and audited month."""
    base = ctx.branches.select("branch_id", "secretary_id").join(
        pl.LazyFrame({"month": ctx.months}, schema={"month": pl.Date}), how="cross"
    )
    committee = ctx.count_meetings(COMMITTEE, ["branch_id", "month"], "committee_meetings")
    day = ctx.standard.rule("OL-5").threshold("day_of_month")
    theme = ctx.meetings.filter((pl.col("meeting_type") == THEME_DAY) & pl.col("month").is_in(ctx.months))
    expected = ctx.members_on_meeting_dates(theme)
    listed = ctx.tables["attendance"].select("meeting_id", "member_id")
    missing = (
        expected.join(listed, on=["meeting_id", "member_id"], how="anti")
        .group_by("meeting_id")
        .agg(pl.col("member_id").sort().str.join("、").alias("missing_attendees"))
    )
    theme = theme.join(missing, on="meeting_id", how="left").with_columns(
        on_day=pl.col("held_on").dt.day() == day,
        gap=pl.concat_str(
            [
                pl.when(pl.col("topic").fill_null("") == "").then(
                    format_text("{}（{}）未记录主题", pl.col("meeting_id"), date_zh("held_on"))
                ),
                pl.when(pl.col("has_minutes").fill_null(False).not_()).then(
                    format_text("{}（{}）无会议记录", pl.col("meeting_id"), date_zh("held_on"))
                ),
                pl.when(pl.col("missing_attendees").is_not_null()).then(
                    format_text(
                        "{}（{}）参会名单缺少党员 {}", pl.col("meeting_id"), date_zh("held_on"), pl.col("missing_attendees")
                    )
                ),
            ],
            separator="；",
            ignore_nulls=True,
        ),
    )
    theme_by_month = theme.group_by("branch_id", "month").agg(
        theme_days=pl.len(),
        theme_day_on_day=pl.col("on_day").any(),
        theme_day_recorded=(pl.col("gap") == "").all(),
        theme_day_dates=format_text("{}月{}日", pl.col("held_on").dt.month(), pl.col("held_on").dt.day()).sort().str.join("、"),
        theme_day_gaps=pl.col("gap").filter(pl.col("gap") != "").sort().str.join("；"),
        ev_theme=pl.col("ref").sort().str.join("；"),
    )
    disclosures = (
        ctx.tables["dues_disclosures"]
        .with_columns(
            disclosure_complete=pl.col("published_on").is_not_null() & pl.col("reported_on").is_not_null(),
            disclosure_gaps=pl.concat_str(
                [
                    pl.when(pl.col("published_on").is_null()).then(pl.lit("未向党员公开")),
                    pl.when(pl.col("reported_on").is_null()).then(pl.lit("未报街道党工委备案")),
                ],
                separator="、",
                ignore_nulls=True,
            ),
            ev_disclosure=source_ref(),
        )
        .select("branch_id", "month", "disclosure_complete", "disclosure_gaps", "ev_disclosure")
    )
    # SM-7 timely: a month's disclosure is due `publish_within_days` after the month ends, so it is
    # judged in the row of the month holding that deadline (the next quarter's first month for a
    # quarter's last month): a late disclosure is reported once, by the audit of the quarter in
    # which it became late. An unpublished month has no delay: SM-7's main part reports it.
    within = ctx.standard.rule("SM-7").threshold("publish_within_days")
    delay = (pl.col("published_on") - pl.col("month").dt.month_end()).dt.total_days()
    timeliness = (
        ctx.tables["dues_disclosures"]
        .filter(pl.col("published_on").is_not_null())
        .with_columns(
            due_month=(pl.col("month").dt.month_end() + pl.duration(days=within)).dt.truncate("1mo"),
            delay=delay,
            text=format_text("{}党费收缴情况于{}向党员公开（月末后{}天）", month_zh("month"), date_zh("published_on"), delay),
            ref=source_ref(),
        )
        .filter(pl.col("due_month").is_in(ctx.months))
        .group_by("branch_id", "due_month")
        .agg(
            disclosure_delay_days=pl.col("delay").max(),
            disclosures_due=pl.col("text").sort_by("month").str.join("；"),
            ev_disclosures_due=pl.col("ref").sort_by("month").str.join("；"),
        )
        .rename({"due_month": "month"})
    )
    out = (
        base.join(committee, on=["branch_id", "month"], how="left")
        .join(theme_by_month, on=["branch_id", "month"], how="left")
        .join(disclosures, on=["branch_id", "month"], how="left")
        .join(timeliness, on=["branch_id", "month"], how="left")
        .with_columns(
            pl.col("committee_meetings", "theme_days").fill_null(0),
            disclosure_complete=pl.col("disclosure_complete").fill_null(False),
            disclosure_gaps=pl.col("disclosure_gaps").fill_null("未向党员公开、未报街道党工委备案（党费公开表中无该月记录）"),
            ev_disclosure=pl.col("ev_disclosure").fill_null("党费公开表中无该月记录"),
            ev_committee_meetings=pl.col("ev_committee_meetings").fill_null("会议记录中无该月支部委员会"),
            ev_theme=pl.col("ev_theme").fill_null("会议记录中无该月主题党日"),
        )
    )
    return with_month_period(out)
