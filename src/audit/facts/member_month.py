"""Member and month: points (SM-1, SM-3) and dues paid and due (SM-5, SM-6), and whether the due
was declared or derived from the income base (`due_source`, `audit.dues`)."""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from audit.dues import DUE_DECLARED, DUE_DERIVED
from audit.facts.context import FactContext
from audit.facts.expressions import format_text, group_with_refs, month_key, source_ref, with_month_period
from audit.facts.registry import fact
from audit.standard import dues_range_exprs

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)
KEYS = ["member_id", "month"]


def with_points(member_months: F, points: F) -> F:
    """Each member-month with its row of the points table joined on, and `has_points` (SM-1: the
    member has a points record for the month). The points chart (`views.points_trend`) uses it
    too, so the members it shows as missing are SM-1's."""
    return member_months.join(points.with_columns(has_points=pl.lit(True)), on=KEYS, how="left").with_columns(
        has_points=pl.col("has_points").fill_null(False)
    )


def dues_totals() -> dict[str, pl.Expr]:
    """A member-month's dues over its rows (aggregations): `amount_due` (the highest due, as
    several payments of one month repeat it) and `amount_paid` (the sum paid)."""
    return {"amount_due": pl.col("amount_due").max(), "amount_paid": pl.col("amount_paid").sum()}


def due_source_of(dues: pl.LazyFrame) -> pl.Expr:
    """A member-month's `due_source` (aggregation): 推算 when its amount due was derived from the
    income base on any of its rows (`audit.dues`), else 申报 when declared; null without a known
    due. A dues table from before the column existed declares every due it has."""
    if "due_source" not in dues.collect_schema().names():
        return pl.when(pl.col("amount_due").is_not_null().any()).then(pl.lit(DUE_DECLARED))
    return (
        pl.when((pl.col("due_source") == DUE_DERIVED).any())
        .then(pl.lit(DUE_DERIVED))
        .when(pl.col("amount_due").is_not_null().any())
        .then(pl.lit(DUE_DECLARED))
    )


def paid_in_full() -> pl.Expr:
    """SM-5 on `dues_totals` columns joined to member-months: some dues row exists and the amount
    paid reaches the amount due (to 1e-6); false without a row. The dues chart
    (`views.dues_by_month`) counts the same expression."""
    return pl.col("amount_paid").is_not_null() & (pl.col("amount_paid") >= pl.col("amount_due") - 1e-6)


def due_deviation() -> pl.Expr:
    """SM-6: how far `amount_due` lies outside the rate table's range (`expected_due_min` to
    `expected_due_max`), in yuan; 0 inside it; null when either is unknown (no dues row, or
    unknown income or employment). GX judges it against the `tolerance` threshold. Rounded to six
    decimals so that float noise (97.5 − 97.49 = 0.01000000000000512) never decides a cent."""
    due, low, high = pl.col("amount_due"), pl.col("expected_due_min"), pl.col("expected_due_max")
    return pl.when(due.is_not_null() & low.is_not_null() & high.is_not_null()).then(
        pl.max_horizontal(low - due, due - high, pl.lit(0.0)).round(6)
    )


@fact("member_month", ["member_id", "period"], title="党员×月（组织关系在本支部的月份）", per_member=True)
def member_month(ctx: FactContext) -> pl.LazyFrame:
    """One row per member and audited month of membership."""
    in_quarter = pl.col("month").is_in(ctx.months)
    base = ctx.member_months(ctx.months).select("member_id", "name", "branch_id", "month", "employment", "income_base")
    points = (
        ctx.tables["points"]
        .filter(in_quarter)  # aggregate only the months that are joined below
        .with_columns(
            points_formula=format_text(
                "{}+{}−{}={}",
                pl.col("base_points").fill_null(0),
                pl.col("bonus_points").fill_null(0),
                pl.col("penalty_points").fill_null(0),
                pl.col("base_points").fill_null(0) + pl.col("bonus_points").fill_null(0) - pl.col("penalty_points").fill_null(0),
            ),
            points_add_up=pl.when(pl.any_horizontal(pl.col("base_points", "bonus_points", "penalty_points").is_not_null())).then(
                (
                    pl.col("base_points").fill_null(0)
                    + pl.col("bonus_points").fill_null(0)
                    - pl.col("penalty_points").fill_null(0)
                    - pl.col("total_points")
                ).abs()
                < 1e-6
            ),
            ev_points=source_ref(),
        )
        .select("member_id", "month", "total_points", "points_formula", "points_add_up", "ev_points")
    )
    dues_rows = ctx.tables["dues"].filter(in_quarter)
    dues = group_with_refs(dues_rows, KEYS, "ev_dues", **dues_totals(), due_source=due_source_of(dues_rows))
    out = (
        with_points(base, points)
        .join(dues, on=KEYS, how="left")
        .with_columns(
            ev_points=pl.col("ev_points").fill_null(
                format_text("积分表中无党员 {} 在 {} 的记录", pl.col("member_id"), month_key("month"))
            ),
            paid_in_full=paid_in_full(),
            dues_state=pl.when(pl.col("amount_due").is_null())
            .then(pl.lit("无交纳记录"))
            .when(pl.col("amount_paid") <= 0)
            .then(pl.lit("未交纳"))
            .otherwise(pl.lit("未足额交纳")),
            amount_paid=pl.col("amount_paid").fill_null(0.0),
            # SM-5's message says when the amount due it compares with was derived, not declared
            due_note=pl.when(pl.col("due_source") == DUE_DERIVED).then(pl.lit("（按核算基数推算）")).otherwise(pl.lit("")),
            ev_dues=pl.col("ev_dues").fill_null(
                format_text("党费表中无党员 {} 在 {} 的记录", pl.col("member_id"), month_key("month"))
            ),
        )
    )
    expected_min, expected_max = dues_range_exprs(ctx.standard.rule("SM-6"), "employment", "income_base")
    out = out.with_columns(expected_due_min=expected_min, expected_due_max=expected_max).with_columns(
        due_deviation=due_deviation(),
        expected_due_text=pl.when(pl.col("expected_due_min") == pl.col("expected_due_max"))
        .then(pl.col("expected_due_min").round(2).cast(pl.String))
        .otherwise(format_text("{}～{}", pl.col("expected_due_min"), pl.col("expected_due_max"))),
        employment=pl.col("employment").fill_null("未填"),
    )
    return with_month_period(out.with_columns(subject_id=pl.col("member_id"))).sort("member_id", "month")
