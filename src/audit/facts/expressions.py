"""Small polars expressions the fact modules share: message text, source references, months, streaks."""

from __future__ import annotations

import polars as pl


def format_text(template: str, *args: pl.Expr) -> pl.Expr:
    """`pl.format` as `concat_str` (null when any argument is null). polars 2.1's streaming engine
    panics on `pl.format` columns that are filtered afterwards, so facts never use it."""
    parts = template.split("{}")
    if len(parts) != len(args) + 1:
        raise ValueError(f"template {template!r} needs {len(parts) - 1} arguments, got {len(args)}")
    pieces: list[pl.Expr] = []
    for text, arg in zip(parts, [*args, None], strict=True):
        if text:
            pieces.append(pl.lit(text))
        if arg is not None:
            pieces.append(arg if isinstance(arg, pl.Expr) else pl.lit(arg))
    return pl.concat_str(pieces)


def source_ref(prefix: str = "") -> pl.Expr:
    """`file［sheet］第N行` (or `file 第N行` for CSV) from a row's provenance columns."""
    file, sheet, row = pl.col(f"{prefix}_file"), pl.col(f"{prefix}_sheet"), pl.col(f"{prefix}_row")
    return (
        pl.when(sheet.fill_null("") == "")
        .then(format_text("{} 第{}行", file, row))
        .otherwise(format_text("{}［{}］第{}行", file, sheet, row))
    )


def month_key(column: str | pl.Expr) -> pl.Expr:
    """`2019-07`: a month's `period` value."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.dt.strftime("%Y-%m")


def date_zh(column: str) -> pl.Expr:
    """`2019年7月1日`, or `（空）` for a missing date."""
    date = pl.col(column)
    return (
        pl.when(date.is_null())
        .then(pl.lit("（空）"))
        .otherwise(format_text("{}年{}月{}日", date.dt.year(), date.dt.month(), date.dt.day()))
    )


def month_zh(column: str | pl.Expr) -> pl.Expr:
    """`2019年7月`."""
    month = pl.col(column) if isinstance(column, str) else column
    return format_text("{}年{}月", month.dt.year(), month.dt.month())


def with_month_period(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Adds `period` (`2019-07`) and `period_zh` (`2019年7月`) from the frame's `month`."""
    return frame.with_columns(period=month_key("month"), period_zh=month_zh("month"))


def months_between(start: str, end: str) -> pl.Expr:
    """Whole months from start to end (a month counts once its day is reached)."""
    first, last = pl.col(start), pl.col(end)
    months = (last.dt.year() - first.dt.year()) * 12 + last.dt.month().cast(pl.Int32) - first.dt.month().cast(pl.Int32)
    return months - (last.dt.day() < first.dt.day()).cast(pl.Int32)


def offset_month(month: pl.Expr, back: pl.Expr) -> pl.Expr:
    """The month `back` months before `month` (a first-of-month date)."""
    index = month.dt.year().cast(pl.Int32) * 12 + month.dt.month().cast(pl.Int32) - 1 - back.cast(pl.Int32)
    return pl.date(index // 12, index % 12 + 1, 1)


def group_with_refs(frame: pl.LazyFrame, keys: list[str], name: str, **aggs: pl.Expr) -> pl.LazyFrame:
    """`frame.group_by(keys).agg(**aggs)` plus `name`: the group's source rows (`source_ref`), sorted
    and joined with "；". Nearly every group is one row, so the text is built per row and only the
    few multi-row groups aggregate strings (a string list per group costs 5x the whole group-by)."""
    frame = frame.with_columns(_ref=source_ref())
    grouped = frame.group_by(keys).agg(**aggs, _rows=pl.len(), _ref=pl.col("_ref").first())
    several = (
        frame.join(grouped.filter(pl.col("_rows") > 1).select(keys), on=keys)
        .group_by(keys)
        .agg(_refs=pl.col("_ref").sort().str.join("；"))
    )
    return (
        grouped.join(several, on=keys, how="left")
        .with_columns(pl.coalesce("_refs", "_ref").alias(name))
        .drop("_rows", "_ref", "_refs")
    )


def joined_list(column: str, separator: str = "、") -> pl.Expr:
    """The group's distinct non-null values, sorted and joined (`党费、积分`)."""
    return pl.col(column).drop_nulls().unique().sort().str.join(separator)


def streak(flag: str) -> pl.Expr:
    """Length of the run of consecutive months with `flag` set, ending at each row (0 when unset).

    Rows must be sorted by member and month. A run starts where the member, the flag or the month
    sequence (`index`) changes; each row's position is its row number minus the run's first row
    number, so the whole column is a few vectorised passes (no per-member windows).
    """
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    starts = (
        (pl.col("member_id") != pl.col("member_id").shift(1))
        | (pl.col(flag) != pl.col(flag).shift(1))
        | (pl.col("index") != pl.col("index").shift(1) + 1)
    ).fill_null(True)
    first = pl.when(starts).then(row).forward_fill()
    return pl.when(pl.col(flag)).then(row - first + 1).otherwise(0).cast(pl.Int64)
