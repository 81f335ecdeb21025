"""Branch and quarter: assemblies (OL-1), the secretary's sessions (TM-1), points publication
(SM-2) and the activity venue (BG-1)."""

from __future__ import annotations

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import date_zh, format_text, source_ref
from audit.facts.meeting_types import ASSEMBLY, LECTURE, STUDY
from audit.facts.registry import fact

VENUE_ITEMS = {
    "has_space": "场所",
    "has_facilities": "设施",
    "has_signage": "标志",
    "has_flags": "党旗国旗",
    "has_publications": "党报党刊",
    "has_rules": "制度",
}


@fact("branch_quarter", ["branch_id", "quarter"], title="支部×季度")
def branch_quarter(ctx: FactContext) -> pl.LazyFrame:
    """One row per branch for the audited quarter."""
    quarter = ctx.quarter
    in_quarter = pl.col("month").is_in(ctx.months)
    base = ctx.branches.select("branch_id", "secretary_id").with_columns(quarter=pl.lit(str(quarter)))
    assemblies = ctx.count_meetings(ASSEMBLY, ["branch_id"], "assemblies", in_quarter)
    led = (
        ctx.meetings.filter(in_quarter & pl.col("meeting_type").is_in([LECTURE, STUDY]))
        .join(ctx.branches.select("branch_id", "secretary_id"), on="branch_id")
        .filter(pl.col("lecturer_id") == pl.col("secretary_id"))
        .group_by("branch_id")
        .agg(secretary_sessions=pl.len(), ev_secretary_sessions=pl.col("ref").sort().str.join("；"))
    )
    points = (
        ctx.tables["points"]
        .filter(pl.col("month").is_in(ctx.months))
        .join(ctx.members.select("member_id", "branch_id"), on="member_id")
        .group_by("branch_id")
        .agg(
            points_unpublished=pl.col("published_on").is_null().sum(),
            points_rows=pl.len(),
            points_last_published=pl.col("published_on").max(),
            ev_points=format_text("{} 等 {} 行", pl.col("_file").first(), pl.len()),
        )
        .with_columns(
            points_publish_delay_days=(pl.col("points_last_published") - pl.lit(quarter.end)).dt.total_days(),
        )
    )
    venue = (
        ctx.tables["venues"]
        .filter(pl.col("checked_on") <= quarter.end)
        .sort("checked_on")
        .group_by("branch_id")
        .last()
        .with_columns(
            venue_ok=pl.all_horizontal(pl.col(c).fill_null(False) for c in VENUE_ITEMS),
            venue_missing=pl.concat_str(
                [pl.when(pl.col(c).fill_null(False).not_()).then(pl.lit(label)) for c, label in VENUE_ITEMS.items()],
                separator="、",
                ignore_nulls=True,
            ),
            checked_on_zh=date_zh("checked_on"),
            ev_venue=source_ref(),
        )
        .select("branch_id", "venue_ok", "venue_missing", "checked_on_zh", "ev_venue")
    )
    publish_days = ctx.standard.rule("SM-2").threshold("publish_within_days")
    return (
        base.join(assemblies, on="branch_id", how="left")
        .join(led, on="branch_id", how="left")
        .join(points, on="branch_id", how="left")
        .join(venue, on="branch_id", how="left")
        .with_columns(
            pl.col("assemblies", "secretary_sessions").fill_null(0),
            ev_assemblies=pl.col("ev_assemblies").fill_null("会议记录中本季度无支部党员大会"),
            ev_secretary_sessions=pl.col("ev_secretary_sessions").fill_null(
                format_text("本季度无书记（{}）主讲的党课或集中学习", pl.col("secretary_id").fill_null("未登记书记"))
            ),
            points_publication=pl.when(pl.col("points_unpublished") > 0)
            .then(format_text("{}条积分记录没有公示日期", pl.col("points_unpublished")))
            .otherwise(format_text("最晚公示日期{}，超过季度结束后{}天", date_zh("points_last_published"), pl.lit(publish_days))),
            period=pl.lit(str(quarter)),
            period_zh=pl.lit(quarter.zh),
        )
    )
