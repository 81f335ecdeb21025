"""Branch and half-year or year: life meetings (OL-7), lectures (OL-4, TM-2), appraisals (OL-8)
and evaluation grades; and `progress`, the same counts so far while the period is still open.

A half-year or year fact exists only when that period ends in the audited quarter and inside the
data (`ctx.half.complete`, `ctx.year.complete`); before that its rules are reported as progress.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import format_text
from audit.facts.meeting_types import APPRAISAL, LECTURE, LIFE_MEETING
from audit.facts.registry import fact
from audit.periods import period_zh
from audit.standard import Standard


def period_counts(ctx: FactContext, start: dt.date, end: dt.date) -> pl.LazyFrame:
    """Per branch, the life meetings, lectures (and the secretary's), appraisals held from start to end."""
    meetings = ctx.meetings.filter(pl.col("held_on").is_between(start, end)).join(
        ctx.branches.select("branch_id", "secretary_id"), on="branch_id"
    )
    return (
        ctx.branches.select("branch_id")
        .join(
            meetings.group_by("branch_id").agg(
                life_meetings=(pl.col("meeting_type") == LIFE_MEETING).sum(),
                lectures=(pl.col("meeting_type") == LECTURE).sum(),
                secretary_lectures=(
                    (pl.col("meeting_type") == LECTURE) & (pl.col("lecturer_id") == pl.col("secretary_id"))
                ).sum(),
                appraisals=(pl.col("meeting_type") == APPRAISAL).sum(),
                ev_life=pl.col("ref").filter(pl.col("meeting_type") == LIFE_MEETING).sort().str.join("；"),
                ev_lectures=pl.col("ref").filter(pl.col("meeting_type") == LECTURE).sort().str.join("；"),
                ev_appraisals=pl.col("ref").filter(pl.col("meeting_type") == APPRAISAL).sort().str.join("；"),
            ),
            on="branch_id",
            how="left",
        )
        .with_columns(
            pl.col("life_meetings", "lectures", "secretary_lectures", "appraisals").fill_null(0).cast(pl.Int64),
            *(pl.col(c).replace("", None).fill_null("该期间无此类会议记录") for c in ("ev_life", "ev_lectures", "ev_appraisals")),
        )
    )


@fact("branch_half", ["branch_id", "half"], title="支部×半年", when=lambda ctx: ctx.half.complete)
def branch_half(ctx: FactContext) -> pl.LazyFrame:
    """One row per branch for the half-year that ends in the audited quarter."""
    half = ctx.half
    return period_counts(ctx, half.start, half.end).with_columns(
        half=pl.lit(half.label), period=pl.lit(half.label), period_zh=pl.lit(period_zh(half.label))
    )


@fact("branch_year", ["branch_id", "year"], title="支部×年", when=lambda ctx: ctx.year.complete)
def branch_year(ctx: FactContext) -> pl.LazyFrame:
    """One row per branch for the year that ends in the audited quarter, with its evaluation grades."""
    start, end = ctx.year.start, ctx.year.end
    year = start.year
    evaluations = (
        ctx.tables["evaluations"]
        .filter(pl.col("year") == year)
        .join(ctx.members.select("member_id", "branch_id", "full_member_on", "member_type"), on="member_id")
        .with_columns(formal=ctx.formal_at(pl.lit(end)))
        .group_by("branch_id")
        .agg(
            graded=(pl.col("formal") & (pl.col("grade") != "不评等次")).sum(),
            excellent=(pl.col("formal") & (pl.col("grade") == "优秀")).sum(),
            probationary_graded=(~pl.col("formal") & (pl.col("grade") != "不评等次")).sum(),
            probationary_ids=pl.col("member_id")
            .filter(~pl.col("formal") & (pl.col("grade") != "不评等次"))
            .sort()
            .str.join("、"),
            ev_evaluations=format_text("{} 等 {} 行", pl.col("_file").first(), pl.len()),
        )
    )
    return (
        period_counts(ctx, start, end)
        .join(evaluations, on="branch_id", how="left")
        .with_columns(
            pl.col("graded", "excellent", "probationary_graded").fill_null(0).cast(pl.Int64),
            excellent_share=pl.when(pl.col("graded") > 0).then(pl.col("excellent") / pl.col("graded")),
            year=pl.lit(str(year)),
            period=pl.lit(str(year)),
            period_zh=pl.lit(f"{year}年"),
        )
    )


def progress(ctx: FactContext) -> pl.LazyFrame:
    """The open half-year's and year's rules so far, per branch: required, done, expected by now and
    a status (an empty frame when both periods are complete and have their own facts)."""
    so_far = min(ctx.quarter.end, ctx.window[1])
    frames = []
    if not ctx.half.complete:
        start = ctx.half.start
        elapsed = (so_far.year - start.year) * 12 + so_far.month - start.month + 1
        rules = [("OL-7", "life_meetings", ctx.standard.rule("OL-7").threshold("min_meetings"))]
        frames.append(_progress(period_counts(ctx, start, so_far), rules, ctx.half.label, elapsed, 6, ctx.standard))
    if not ctx.year.complete:
        rules = [
            ("OL-4", "lectures", ctx.standard.rule("OL-4").threshold("min_lectures")),
            ("TM-2", "secretary_lectures", ctx.standard.rule("TM-2").threshold("min_lectures")),
            ("OL-8", "appraisals", ctx.standard.rule("OL-8").threshold("min_meetings")),
        ]
        frames.append(
            _progress(period_counts(ctx, ctx.year.start, so_far), rules, ctx.year.label, so_far.month, 12, ctx.standard)
        )
    return pl.concat(frames).sort("period", "rule_id", "branch_id") if frames else pl.LazyFrame()


def _progress(
    counts: pl.LazyFrame, rules: list[tuple[str, str, Any]], period: str, elapsed: int, total: int, standard: Standard
) -> pl.LazyFrame:
    """One period's progress rows for its enabled rules: status against the whole and against the
    meetings due by now, the whole meetings of the pro-rata share (floor), so a branch is behind only
    when a whole meeting due so far has not been held (a yearly meeting is not behind in March)."""
    frames = []
    for rule_id, column, required in rules:
        if not standard.enabled(rule_id):
            continue
        due_by_now = required * elapsed // total
        frames.append(
            counts.select(
                "branch_id",
                rule_id=pl.lit(rule_id),
                period=pl.lit(period),
                required=pl.lit(required, dtype=pl.Int64),
                done=pl.col(column).cast(pl.Int64),
                expected_by_now=pl.lit(due_by_now, dtype=pl.Int64),
                status=pl.when(pl.col(column) >= required)
                .then(pl.lit("已完成"))
                .when(pl.col(column) >= due_by_now)
                .then(pl.lit("进度正常"))
                .otherwise(pl.lit("进度落后")),
            )
        )
    return pl.concat(frames) if frames else pl.LazyFrame()
