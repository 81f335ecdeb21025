"""What every fact maker reads: the quarter's inputs, prepared once (`FactContext`), and the data window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from audit.errors import AuditError
from audit.facts.expressions import source_ref
from audit.periods import Quarter, half_bounds, month_end
from audit.standard import Standard

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)
Frame = pl.DataFrame | pl.LazyFrame


class QuarterOutOfRangeError(AuditError, ValueError):
    """The audited quarter lies outside the months the batch has records for."""


def with_membership(members: F) -> F:
    """Adds `start` (入党 or 转入, the later) and `out` (转出): a member counts from start until out."""
    return members.with_columns(start=pl.max_horizontal("joined_on", "transferred_in_on"), out=pl.col("transferred_out_on"))


def member_months(members: F, months: list[dt.date]) -> F:
    """One row per member and month while the member's 组织关系 is in the branch."""
    if "start" not in members.collect_schema().names():
        members = with_membership(members)
    frame = pl.DataFrame({"month": months}, schema={"month": pl.Date}).with_columns(month_end=pl.col("month").dt.month_end())
    if isinstance(members, pl.LazyFrame):
        frame = frame.lazy()
    return (
        members.join(frame, how="cross")
        .filter((pl.col("start") <= pl.col("month_end")) & (pl.col("out").is_null() | (pl.col("out") > pl.col("month"))))
        .drop("month_end")
    )


def data_window(tables: Mapping[str, Frame]) -> tuple[dt.date, dt.date] | None:
    """First and last month the batch keeps monthly records for (dues, points); meetings only when
    there are none, so a mistyped meeting date is flagged instead of stretching the window.
    Reads only the month columns (pushed into the scan when the tables are lazy)."""

    def bounds(names: list[str], column: pl.Expr) -> tuple[dt.date | None, dt.date | None]:
        parts = [tables[n].lazy().select(month=column) for n in names]
        row = pl.concat(parts).select(pl.col("month").min().alias("lo"), pl.col("month").max().alias("hi")).collect()
        return row["lo"][0], row["hi"][0]

    first, last = bounds(["dues", "points"], pl.col("month"))
    if first is None:
        first, last = bounds(["meetings"], pl.col("held_on").dt.truncate("1mo"))
    if first is None or last is None:
        return None
    return first, month_end(last)


def checked_window(tables: Mapping[str, Frame], quarter: Quarter) -> tuple[dt.date, dt.date]:
    """The data window, or a clear error when the batch has no records or the quarter lies outside it."""
    window = data_window(tables)
    if window is None:
        raise QuarterOutOfRangeError("数据中没有任何党费、积分或会议记录，无法审核")
    if quarter.end < window[0] or quarter.start > window[1]:
        raise QuarterOutOfRangeError(f"{quarter} 不在数据范围内（数据覆盖 {window[0]:%Y-%m} 至 {window[1]:%Y-%m}）")
    return window


@dataclass(frozen=True)
class CalendarPeriod:
    """The half-year or year the audited quarter belongs to; `complete` when it ends in the quarter
    and inside the data (then it has its own fact table, otherwise its numbers go to `progress`)."""

    label: str  # `2019H2`, `2019`
    start: dt.date
    end: dt.date
    complete: bool


class FactContext:
    """The audited quarter's inputs, prepared once for all fact makers: lazy `tables`, `standard`,
    `quarter`, data `window`, the quarter's `months` inside the window, `members` with membership
    dates, `meetings` with their month and source, `attendance` joined to its meeting; `warnings`
    collects what the makers need to tell the user."""

    def __init__(
        self,
        tables: Mapping[str, Frame],
        standard: Standard,
        quarter: Quarter,
        window: tuple[dt.date, dt.date],
        member_shard: tuple[int, int] | None = None,
    ):
        self.tables = {name: frame.lazy() for name, frame in tables.items()}
        self.all_members = with_membership(self.tables["members"])
        if member_shard is not None:  # (k, n): only members whose id hashes to k of n, and their rows
            shard, shards = member_shard
            pick = (pl.col("member_id").hash(seed=0) % shards) == shard
            for name in ("members", "dues", "points", "attendance"):
                self.tables[name] = self.tables[name].filter(pick)
        self.standard, self.quarter, self.window = standard, quarter, window
        self.warnings: list[str] = []
        self.months = [m for m in quarter.months if window[0] <= m <= window[1]]
        if len(self.months) < 3:
            self.warnings.append(f"{quarter.zh}只有 {len(self.months)} 个月在数据范围内，只审核这些月份")
        self.members = with_membership(self.tables["members"])
        self.branches = self.tables["branches"]
        self.meetings = self.tables["meetings"].with_columns(month=pl.col("held_on").dt.truncate("1mo"), ref=source_ref())
        self.attendance = self.tables["attendance"].join(
            self.meetings.select("meeting_id", "branch_id", "held_on", "month", "meeting_type"), on="meeting_id", how="inner"
        )
        half_start, half_end = half_bounds(quarter.half)
        self.half = CalendarPeriod(quarter.half, half_start, half_end, quarter.ends_half and half_end <= window[1])
        year_start, year_end = dt.date(quarter.year, 1, 1), dt.date(quarter.year, 12, 31)
        self.year = CalendarPeriod(str(quarter.year), year_start, year_end, quarter.ends_year and year_end <= window[1])

    def member_months(self, months: list[dt.date]) -> pl.LazyFrame:
        """One row per (sharded) member and month of membership."""
        return member_months(self.members, months)

    def members_on_meeting_dates(self, meetings: pl.LazyFrame) -> pl.LazyFrame:
        """(meeting_id, member_id) for every member in the meeting's branch on its date."""
        return (
            meetings.select("meeting_id", "branch_id", "held_on")
            .join(self.members.select("member_id", "branch_id", "start", "out"), on="branch_id")
            .filter((pl.col("start") <= pl.col("held_on")) & (pl.col("out").is_null() | (pl.col("held_on") < pl.col("out"))))
            .select("meeting_id", "member_id")
        )

    def formal_at(self, day: pl.Expr) -> pl.Expr:
        """Whether the member is a 正式党员 on `day` (转正 by then, or recorded as formal without a date)."""
        full = pl.col("full_member_on")
        return (full.is_not_null() & (full <= day)) | (full.is_null() & (pl.col("member_type") == "正式党员"))

    def count_meetings(self, kind: str | list[str], by: list[str], name: str, extra: pl.Expr | None = None) -> pl.LazyFrame:
        """Meetings of `kind` counted per `by` as `name`, with their sources as `ev_<name>`."""
        kinds = [kind] if isinstance(kind, str) else kind
        frame = self.meetings.filter(pl.col("meeting_type").is_in(kinds))
        if extra is not None:
            frame = frame.filter(extra)
        return frame.group_by(by).agg(pl.len().alias(name), pl.col("ref").sort().str.join("；").alias(f"ev_{name}"))
