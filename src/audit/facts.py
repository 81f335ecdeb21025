"""Facts: what the records say per branch-month, group-month, branch-quarter, member-month, …

Computed with polars from the canonical tables for one audited quarter. Each fact table has its
key columns, the values the GX suites check, message context (``*_zh`` texts, counts) and evidence
columns that point at source rows. A value that does not apply is null, and GX skips nulls, so
"not applicable" never becomes a finding.

Period semantics: monthly and quarterly facts cover the audited quarter's months (within the
batch's data window); half-year and year facts exist only when that period ends inside the audited
quarter and inside the data; before that the same numbers appear in ``progress`` instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import polars as pl

from audit.periods import Quarter, half_bounds, month_end, month_range, period_zh
from audit.standard import Standard, dues_range_exprs
from audit.workdays import count_workdays

FACT_KEYS: dict[str, list[str]] = {
    "branch_month": ["branch_id", "period"],
    "group_month": ["branch_id", "group_name", "period"],
    "branch_quarter": ["branch_id", "quarter"],
    "branch_half": ["branch_id", "half"],
    "branch_year": ["branch_id", "year"],
    "assembly": ["meeting_id"],
    "member_month": ["member_id", "period"],
    "member_streak": ["member_id"],
    "member_transfer": ["member_id", "period"],
    "member_status": ["member_id"],
    "recruitment": ["person_id"],
}
F = TypeVar("F", pl.DataFrame, pl.LazyFrame)
Frame = pl.DataFrame | pl.LazyFrame
MEMBER_FACTS = ("member_month", "member_streak", "member_transfer", "member_status")
LIFE_TYPES = ["支部党员大会", "支部委员会", "党小组会", "党课", "主题党日", "组织生活会", "民主评议", "集中学习"]


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


class QuarterOutOfRangeError(ValueError):
    """The audited quarter lies outside the months the batch has records for."""


@dataclass
class Facts:
    quarter: Quarter
    window: tuple[dt.date, dt.date]  # first month start, last month end with records
    tables: dict[str, pl.DataFrame]
    progress: pl.DataFrame
    warnings: list[str] = field(default_factory=list)


# --- small expression helpers --------------------------------------------------------------------


def _format(template: str, *args: pl.Expr) -> pl.Expr:
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
        .then(_format("{} 第{}行", file, row))
        .otherwise(_format("{}［{}］第{}行", file, sheet, row))
    )


def _month_key(col: str | pl.Expr) -> pl.Expr:
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.dt.strftime("%Y-%m")


def _date_zh(col: str) -> pl.Expr:
    c = pl.col(col)
    return pl.when(c.is_null()).then(pl.lit("（空）")).otherwise(_format("{}年{}月{}日", c.dt.year(), c.dt.month(), c.dt.day()))


def _month_zh(col: str | pl.Expr) -> pl.Expr:
    c = pl.col(col) if isinstance(col, str) else col
    return _format("{}年{}月", c.dt.year(), c.dt.month())


def _months_between(start: str, end: str) -> pl.Expr:
    """Whole months from start to end (a month counts once its day is reached)."""
    s, e = pl.col(start), pl.col(end)
    months = (e.dt.year() - s.dt.year()) * 12 + e.dt.month().cast(pl.Int32) - s.dt.month().cast(pl.Int32)
    return months - (e.dt.day() < s.dt.day()).cast(pl.Int32)


def _group_with_refs(frame: pl.LazyFrame, keys: list[str], name: str, **aggs: pl.Expr) -> pl.LazyFrame:
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


def _joined_list(col: str, sep: str = "、") -> pl.Expr:
    return pl.col(col).drop_nulls().unique().sort().str.join(sep)


# --- the builder ----------------------------------------------------------------------------------


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


def compute_facts(tables: Mapping[str, Frame], standard: Standard, quarter: Quarter) -> Facts:
    """Every fact table for the quarter. Tables may be DataFrames or LazyFrames (``scan_parquet``):
    each fact is a lazy query, and all of them run in one ``collect_all`` so shared inputs are
    read once and filters and column choices reach the scans."""
    return _FactBuilder(tables, standard, quarter, _checked_window(tables, quarter)).build()


def write_facts(
    tables: Mapping[str, Frame], standard: Standard, quarter: Quarter, folder: Path, *, member_shards: int = 1
) -> Facts:
    """`compute_facts` for batches too big to hold (a province): writes ``folder/<fact>.parquet``.

    Branch-level facts are computed in one go; member-level facts (one row per member or member
    and month, the big ones) in `member_shards` shards of members by hash, each shard's rows
    written before the next is computed, so peak memory is about one shard's. Every member fact
    depends only on the member's own rows (and, for duplicate identities, on all members, which
    each shard still sees), so the shards' union equals the unsharded facts; rows are sorted by
    key within each shard. The returned Facts has the written tables' row counts, not the rows.
    """
    import pyarrow.parquet as pq

    window = _checked_window(tables, quarter)
    folder.mkdir(parents=True, exist_ok=True)
    builder = _FactBuilder(tables, standard, quarter, window)
    names = [n for n in builder.fact_names() if n not in MEMBER_FACTS]
    queries, progress = builder.fact_queries(names)
    *frames, progress_frame = pl.collect_all([*queries.values(), progress])
    rows: dict[str, int] = {}
    for name, frame in zip(queries, frames, strict=True):
        frame.write_parquet(folder / f"{name}.parquet")
        rows[name] = frame.height
    del frames
    writers: dict[str, pq.ParquetWriter] = {}
    warnings = list(builder.warnings)
    try:
        for shard in range(member_shards):
            part = _FactBuilder(tables, standard, quarter, window, member_shard=(shard, member_shards))
            shard_queries, _ = part.fact_queries(MEMBER_FACTS)
            for name, frame in zip(shard_queries, pl.collect_all(list(shard_queries.values())), strict=True):
                arrow = frame.to_arrow()
                if name not in writers:
                    writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", arrow.schema)
                writers[name].write_table(arrow)
                rows[name] = rows.get(name, 0) + frame.height
            warnings += [w for w in part.warnings if w not in warnings]
    finally:
        for writer in writers.values():
            writer.close()
    counts = {name: pl.DataFrame({"rows": [count]}) for name, count in rows.items()}
    return Facts(quarter, window, counts, progress_frame, warnings)


def _checked_window(tables: Mapping[str, Frame], quarter: Quarter) -> tuple[dt.date, dt.date]:
    window = data_window(tables)
    if window is None:
        raise QuarterOutOfRangeError("数据中没有任何党费、积分或会议记录，无法审核")
    if quarter.end < window[0] or quarter.start > window[1]:
        raise QuarterOutOfRangeError(f"{quarter} 不在数据范围内（数据覆盖 {window[0]:%Y-%m} 至 {window[1]:%Y-%m}）")
    return window


class _FactBuilder:
    """Each public method returns one fact table as a LazyFrame; `build` collects them together."""

    def __init__(
        self,
        tables: Mapping[str, Frame],
        standard: Standard,
        quarter: Quarter,
        window: tuple[dt.date, dt.date],
        member_shard: tuple[int, int] | None = None,
    ):
        self.t = {name: frame.lazy() for name, frame in tables.items()}
        self.all_members = with_membership(self.t["members"])
        if member_shard is not None:  # (k, n): only members whose id hashes to k of n, and their rows
            k, n = member_shard
            pick = (pl.col("member_id").hash(seed=0) % n) == k
            for name in ("members", "dues", "points", "attendance"):
                self.t[name] = self.t[name].filter(pick)
        self.std, self.q, self.window = standard, quarter, window
        self.warnings: list[str] = []
        self.months = [m for m in quarter.months if window[0] <= m <= window[1]]
        if len(self.months) < 3:
            self.warnings.append(f"{quarter.zh}只有 {len(self.months)} 个月在数据范围内，只审核这些月份")
        self.members = with_membership(self.t["members"])
        self.branches = self.t["branches"]
        self.meetings = self.t["meetings"].with_columns(month=pl.col("held_on").dt.truncate("1mo"), ref=source_ref())
        self.attendance = self.t["attendance"].join(
            self.meetings.select("meeting_id", "branch_id", "held_on", "month", "meeting_type"), on="meeting_id", how="inner"
        )

    # membership -------------------------------------------------------------------------------
    def member_months(self, months: list[dt.date]) -> pl.LazyFrame:
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
        full = pl.col("full_member_on")
        return (full.is_not_null() & (full <= day)) | (full.is_null() & (pl.col("member_type") == "正式党员"))

    # build ------------------------------------------------------------------------------------
    def build(self) -> Facts:
        queries, progress = self.fact_queries(self.fact_names())
        *collected, progress_frame = pl.collect_all([*queries.values(), progress])
        return Facts(self.q, self.window, dict(zip(queries, collected, strict=True)), progress_frame, self.warnings)

    def _half(self) -> tuple[str, dt.date, dt.date, bool]:
        label = self.q.half
        start, end = half_bounds(label)
        return label, start, end, self.q.ends_half and end <= self.window[1]

    def _year(self) -> tuple[dt.date, dt.date, bool]:
        start, end = dt.date(self.q.year, 1, 1), dt.date(self.q.year, 12, 31)
        return start, end, self.q.ends_year and end <= self.window[1]

    def fact_names(self) -> list[str]:
        """The fact tables this quarter has: half-year and year facts only when that period ends
        in the quarter and inside the data (otherwise their numbers go to `progress`)."""
        names = [n for n in FACT_KEYS if n not in ("branch_half", "branch_year")]
        return names + ["branch_half"] * self._half()[3] + ["branch_year"] * self._year()[2]

    def fact_queries(self, names: Iterable[str]) -> tuple[dict[str, pl.LazyFrame], pl.LazyFrame]:
        """The named facts as lazy queries (sorted by key: lazy joins do not keep row order, and
        outputs must be reproducible) and the progress query."""
        half_label, half_start, half_end, half_done = self._half()
        year_start, year_end, year_done = self._year()
        makers = {
            "branch_month": self.branch_month,
            "group_month": self.group_month,
            "branch_quarter": self.branch_quarter,
            "assembly": self.assembly,
            "member_month": self.member_month,
            "member_streak": self.member_streak,
            "member_transfer": self.member_transfer,
            "member_status": self.member_status,
            "recruitment": self.recruitment,
            "branch_half": lambda: self.branch_half(half_label, half_start, half_end),
            "branch_year": lambda: self.branch_year(year_start, year_end),
        }
        queries = {name: makers[name]().sort(FACT_KEYS[name]) for name in names}
        progress = []
        if not half_done:
            progress.append(self.half_progress(half_label, half_start, half_end))
        if not year_done:
            progress.append(self.year_progress(year_start, min(self.q.end, self.window[1])))
        return queries, pl.concat(progress).sort("period", "rule_id", "branch_id") if progress else pl.LazyFrame()

    def _branch_base(self, months: list[dt.date]) -> pl.LazyFrame:
        frame = pl.LazyFrame({"month": months}, schema={"month": pl.Date})
        return self.branches.select("branch_id", "secretary_id").join(frame, how="cross")

    def _count_meetings(self, kind: str | list[str], by: list[str], name: str, extra: pl.Expr | None = None) -> pl.LazyFrame:
        kinds = [kind] if isinstance(kind, str) else kind
        frame = self.meetings.filter(pl.col("meeting_type").is_in(kinds))
        if extra is not None:
            frame = frame.filter(extra)
        return frame.group_by(by).agg(pl.len().alias(name), pl.col("ref").sort().str.join("；").alias(f"ev_{name}"))

    # branch and month: OL-2, OL-5, OL-6, SM-7 -------------------------------------------------
    def branch_month(self) -> pl.LazyFrame:
        base = self._branch_base(self.months)
        committee = self._count_meetings("支部委员会", ["branch_id", "month"], "committee_meetings")
        day = self.std.rule("OL-5").threshold("day_of_month")
        theme = self.meetings.filter((pl.col("meeting_type") == "主题党日") & pl.col("month").is_in(self.months))
        expected = self.members_on_meeting_dates(theme)
        listed = self.t["attendance"].select("meeting_id", "member_id")
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
                        _format("{}（{}）未记录主题", pl.col("meeting_id"), _date_zh("held_on"))
                    ),
                    pl.when(pl.col("has_minutes").fill_null(False).not_()).then(
                        _format("{}（{}）无会议记录", pl.col("meeting_id"), _date_zh("held_on"))
                    ),
                    pl.when(pl.col("missing_attendees").is_not_null()).then(
                        _format(
                            "{}（{}）参会名单缺少党员 {}", pl.col("meeting_id"), _date_zh("held_on"), pl.col("missing_attendees")
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
            theme_day_dates=_format("{}月{}日", pl.col("held_on").dt.month(), pl.col("held_on").dt.day()).sort().str.join("、"),
            theme_day_gaps=pl.col("gap").filter(pl.col("gap") != "").sort().str.join("；"),
            ev_theme=pl.col("ref").sort().str.join("；"),
        )
        disclosures = (
            self.t["dues_disclosures"]
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
        out = (
            base.join(committee, on=["branch_id", "month"], how="left")
            .join(theme_by_month, on=["branch_id", "month"], how="left")
            .join(disclosures, on=["branch_id", "month"], how="left")
            .with_columns(
                pl.col("committee_meetings", "theme_days").fill_null(0),
                disclosure_complete=pl.col("disclosure_complete").fill_null(False),
                disclosure_gaps=pl.col("disclosure_gaps").fill_null("未向党员公开、未报街道党工委备案（党费公开表中无该月记录）"),
                ev_disclosure=pl.col("ev_disclosure").fill_null("党费公开表中无该月记录"),
                ev_committee_meetings=pl.col("ev_committee_meetings").fill_null("会议记录中无该月支部委员会"),
                ev_theme=pl.col("ev_theme").fill_null("会议记录中无该月主题党日"),
            )
        )
        return self._period_month(out)

    def _period_month(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns(period=_month_key("month"), period_zh=_month_zh("month"))

    # party group and month: OL-3 ---------------------------------------------------------------
    def group_month(self) -> pl.LazyFrame:
        groups = (
            self.member_months(self.months)
            .filter(pl.col("group_name").is_not_null() & (pl.col("group_name") != ""))
            .group_by("branch_id", "group_name", "month")
            .agg(group_members=pl.len())
        )
        meetings = self._count_meetings("党小组会", ["branch_id", "group_name", "month"], "group_meetings")
        out = groups.join(meetings, on=["branch_id", "group_name", "month"], how="left").with_columns(
            pl.col("group_meetings").fill_null(0),
            ev_group_meetings=pl.col("ev_group_meetings").fill_null(
                _format("会议记录中无{}该月的党小组会", pl.col("group_name"))
            ),
            subject_id=pl.col("group_name"),
        )
        return self._period_month(out).sort("branch_id", "group_name", "month")

    # branch and quarter: OL-1, TM-1, SM-2, BG-1 ------------------------------------------------
    def branch_quarter(self) -> pl.LazyFrame:
        q = self.q
        in_quarter = pl.col("month").is_in(self.months)
        base = self.branches.select("branch_id", "secretary_id").with_columns(quarter=pl.lit(str(q)))
        assemblies = self._count_meetings("支部党员大会", ["branch_id"], "assemblies", in_quarter)
        led = (
            self.meetings.filter(in_quarter & pl.col("meeting_type").is_in(["党课", "集中学习"]))
            .join(self.branches.select("branch_id", "secretary_id"), on="branch_id")
            .filter(pl.col("lecturer_id") == pl.col("secretary_id"))
            .group_by("branch_id")
            .agg(secretary_sessions=pl.len(), ev_secretary_sessions=pl.col("ref").sort().str.join("；"))
        )
        points = (
            self.t["points"]
            .filter(pl.col("month").is_in(self.months))
            .join(self.members.select("member_id", "branch_id"), on="member_id")
            .group_by("branch_id")
            .agg(
                points_unpublished=pl.col("published_on").is_null().sum(),
                points_rows=pl.len(),
                points_last_published=pl.col("published_on").max(),
                ev_points=_format("{} 等 {} 行", pl.col("_file").first(), pl.len()),
            )
            .with_columns(
                points_publish_delay_days=(pl.col("points_last_published") - pl.lit(q.end)).dt.total_days(),
            )
        )
        venue = (
            self.t["venues"]
            .filter(pl.col("checked_on") <= q.end)
            .sort("checked_on")
            .group_by("branch_id")
            .last()
            .with_columns(
                venue_ok=pl.all_horizontal(pl.col(c).fill_null(False) for c in _VENUE_ITEMS),
                venue_missing=pl.concat_str(
                    [pl.when(pl.col(c).fill_null(False).not_()).then(pl.lit(label)) for c, label in _VENUE_ITEMS.items()],
                    separator="、",
                    ignore_nulls=True,
                ),
                checked_on_zh=_date_zh("checked_on"),
                ev_venue=source_ref(),
            )
            .select("branch_id", "venue_ok", "venue_missing", "checked_on_zh", "ev_venue")
        )
        publish_days = self.std.rule("SM-2").threshold("publish_within_days")
        out = (
            base.join(assemblies, on="branch_id", how="left")
            .join(led, on="branch_id", how="left")
            .join(points, on="branch_id", how="left")
            .join(venue, on="branch_id", how="left")
            .with_columns(
                pl.col("assemblies", "secretary_sessions").fill_null(0),
                ev_assemblies=pl.col("ev_assemblies").fill_null("会议记录中本季度无支部党员大会"),
                ev_secretary_sessions=pl.col("ev_secretary_sessions").fill_null(
                    _format("本季度无书记（{}）主讲的党课或集中学习", pl.col("secretary_id").fill_null("未登记书记"))
                ),
                points_publication=pl.when(pl.col("points_unpublished") > 0)
                .then(_format("{}条积分记录没有公示日期", pl.col("points_unpublished")))
                .otherwise(
                    _format("最晚公示日期{}，超过季度结束后{}天", _date_zh("points_last_published"), pl.lit(publish_days))
                ),
                period=pl.lit(str(q)),
                period_zh=pl.lit(q.zh),
            )
        )
        return out

    # meetings of the members' assembly: OL-10 ---------------------------------------------------
    def assembly(self) -> pl.LazyFrame:
        meetings = self.meetings.filter((pl.col("meeting_type") == "支部党员大会") & pl.col("month").is_in(self.months))
        on_date = self.members_on_meeting_dates(meetings).group_by("meeting_id").agg(members_on_date=pl.len())
        attended = self.t["attendance"].group_by("meeting_id").agg(attended=(pl.col("status") == "出席").sum(), listed=pl.len())
        out = (
            meetings.join(on_date, on="meeting_id", how="left")
            .join(attended, on="meeting_id", how="left")
            .with_columns(pl.col("members_on_date", "attended", "listed").fill_null(0))
            .with_columns(
                attended_share=pl.when(pl.col("members_on_date") > 0).then(pl.col("attended") / pl.col("members_on_date")),
                counts_agree=(pl.col("present_count").is_null() | (pl.col("present_count") == pl.col("attended")))
                & (pl.col("expected_count").is_null() | (pl.col("expected_count") == pl.col("members_on_date"))),
                expected_count_text=pl.col("expected_count").cast(pl.String).fill_null("未填"),
                present_count_text=pl.col("present_count").cast(pl.String).fill_null("未填"),
                held_on_zh=_date_zh("held_on"),
                ev_assembly=pl.col("ref"),
            )
        )
        return self._period_month(out).select(
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

    # member and month: SM-1, SM-3, SM-5, SM-6 ----------------------------------------------------
    def member_month(self) -> pl.LazyFrame:
        in_quarter = pl.col("month").is_in(self.months)
        base = self.member_months(self.months).select("member_id", "name", "branch_id", "month", "employment", "income_base")
        points = (
            self.t["points"]
            .filter(in_quarter)  # aggregate only the months that are joined below
            .with_columns(
                points_formula=_format(
                    "{}+{}−{}={}",
                    pl.col("base_points").fill_null(0),
                    pl.col("bonus_points").fill_null(0),
                    pl.col("penalty_points").fill_null(0),
                    pl.col("base_points").fill_null(0)
                    + pl.col("bonus_points").fill_null(0)
                    - pl.col("penalty_points").fill_null(0),
                ),
                points_add_up=pl.when(
                    pl.any_horizontal(pl.col("base_points", "bonus_points", "penalty_points").is_not_null())
                ).then(
                    (
                        pl.col("base_points").fill_null(0)
                        + pl.col("bonus_points").fill_null(0)
                        - pl.col("penalty_points").fill_null(0)
                        - pl.col("total_points")
                    ).abs()
                    < 1e-6
                ),
                ev_points=source_ref(),
                has_points=pl.lit(True),
            )
            .select("member_id", "month", "total_points", "points_formula", "points_add_up", "ev_points", "has_points")
        )
        dues = _group_with_refs(
            self.t["dues"].filter(in_quarter),
            ["member_id", "month"],
            "ev_dues",
            amount_due=pl.col("amount_due").max(),
            amount_paid=pl.col("amount_paid").sum(),
        )
        out = (
            base.join(points, on=["member_id", "month"], how="left")
            .join(dues, on=["member_id", "month"], how="left")
            .with_columns(
                has_points=pl.col("has_points").fill_null(False),
                ev_points=pl.col("ev_points").fill_null(
                    _format("积分表中无{}{}的记录", pl.col("member_id"), _month_key("month"))
                ),
                paid_in_full=pl.col("amount_paid").is_not_null() & (pl.col("amount_paid") >= pl.col("amount_due") - 1e-6),
                dues_state=pl.when(pl.col("amount_due").is_null())
                .then(pl.lit("无交纳记录"))
                .when(pl.col("amount_paid") <= 0)
                .then(pl.lit("未交纳"))
                .otherwise(pl.lit("未足额交纳")),
                amount_paid=pl.col("amount_paid").fill_null(0.0),
                ev_dues=pl.col("ev_dues").fill_null(_format("党费表中无{}{}的记录", pl.col("member_id"), _month_key("month"))),
            )
        )
        rule = self.std.rule("SM-6")
        tolerance = float(rule.threshold("tolerance"))
        expected_min, expected_max = dues_range_exprs(rule, "employment", "income_base")
        out = out.with_columns(expected_due_min=expected_min, expected_due_max=expected_max).with_columns(
            # null when the standard cannot say (no dues row, or unknown income/employment)
            due_low=pl.when(pl.col("amount_due").is_not_null()).then(pl.col("expected_due_min") - tolerance),
            due_high=pl.when(pl.col("amount_due").is_not_null()).then(pl.col("expected_due_max") + tolerance),
            expected_due_text=pl.when(pl.col("expected_due_min") == pl.col("expected_due_max"))
            .then(pl.col("expected_due_min").round(2).cast(pl.String))
            .otherwise(_format("{}～{}", pl.col("expected_due_min"), pl.col("expected_due_max"))),
            employment=pl.col("employment").fill_null("未填"),
        )
        return self._period_month(out.with_columns(subject_id=pl.col("member_id"))).sort("member_id", "month")

    # six-month streaks: SM-8 ---------------------------------------------------------------------
    def member_streak(self) -> pl.LazyFrame:
        """Per member, the longest run of unpaid (or absent) months ending in the quarter, and the
        month it ends: member-months from the data window's start, flags joined on, runs found in
        one vectorised pass over member-sorted rows (`_streak`), then one group-by per member."""
        last = self.months[-1]
        mm = self.member_months(month_range(self.window[0], last)).select("member_id", "branch_id", "start", "out", "month")
        paid = (
            self.t["dues"]
            .filter((pl.col("month") <= last) & (pl.col("amount_paid") > 0))
            .select("member_id", "month")
            .unique()
            .with_columns(paid=pl.lit(True))
        )
        # months in which the branch held a meeting the member was expected at: any such meeting
        # for whole months of membership, an exact date check only for the first and last month
        life = self.meetings.filter(pl.col("meeting_type").is_in(LIFE_TYPES) & (pl.col("month") <= last))
        held = life.group_by("branch_id", "month").agg(branch_met=pl.lit(True).first())
        partial = (pl.col("start") > pl.col("month")) | (pl.col("out") <= pl.col("month").dt.month_end()).fill_null(False)
        met_in_part = (
            mm.filter(partial)
            .join(life.select("branch_id", "month", "held_on"), on=["branch_id", "month"])
            .filter((pl.col("start") <= pl.col("held_on")) & (pl.col("out").is_null() | (pl.col("held_on") < pl.col("out"))))
            .select("member_id", "month")
            .unique()
            .with_columns(met_in_part=pl.lit(True))
        )
        took_part = (
            self.attendance.filter(pl.col("status").is_in(["出席", "请假"]) & (pl.col("month") <= last))
            .select("member_id", "month")
            .unique()
            .with_columns(took_part=pl.lit(True))
        )
        keys = ["member_id", "month"]
        frame = (
            mm.join(paid, on=keys, how="left")
            .join(held, on=["branch_id", "month"], how="left")
            .join(met_in_part, on=keys, how="left")
            .join(took_part, on=keys, how="left")
            .with_columns(
                unpaid=pl.col("paid").is_null(),
                absent=pl.when(partial).then(pl.col("met_in_part")).otherwise(pl.col("branch_met")).fill_null(False)
                & pl.col("took_part").is_null(),
                index=pl.col("month").dt.year().cast(pl.Int32) * 12 + pl.col("month").dt.month().cast(pl.Int32),
            )
            .sort(keys)
            .with_columns(unpaid_streak=_streak("unpaid"), absent_streak=_streak("absent"))
            .filter(pl.col("month").is_in(self.months))
        )

        def worst(prefix: str) -> list[pl.Expr]:
            streak = pl.col(f"{prefix}_streak")
            return [streak.max(), pl.col("month").filter(streak == streak.max()).max().alias(f"{prefix}_month")]

        def described(prefix: str) -> dict[str, pl.Expr]:
            streak, month = pl.col(f"{prefix}_streak"), pl.col(f"{prefix}_month")
            first = _month_zh(_offset_month(month, streak - 1))
            return {
                f"{prefix}_period": _month_key(month),
                f"{prefix}_period_zh": _month_zh(month),
                f"{prefix}_months": pl.when(streak > 0).then(_format("{}至{}", first, _month_zh(month))),
            }

        columns = [f"{p}_{c}" for p in ("unpaid", "absent") for c in ("streak", "period", "period_zh", "months")]
        return (
            frame.group_by("member_id")
            .agg(*worst("unpaid"), *worst("absent"))
            .join(self.members.select("member_id", "name", "branch_id"), on="member_id")
            .with_columns(**described("unpaid"), **described("absent"))
            .select(
                "member_id",
                "name",
                "branch_id",
                *columns,
                subject_id=pl.col("member_id"),
                ev_unpaid=_format("党费表中{}的{}无实交金额", pl.col("member_id"), pl.col("unpaid_months")),
                ev_absent=_format("参会明细中{}在{}无出席或请假记录", pl.col("member_id"), pl.col("absent_months")),
            )
            .sort("member_id")
        )

    # transfers and identity: SM-4 --------------------------------------------------------------
    def member_transfer(self) -> pl.LazyFrame:
        gone = self.members.filter(pl.col("out").is_not_null()).select("member_id", "name", "branch_id", "out")
        records = []
        for table, kind in (("dues", "党费"), ("points", "积分")):
            records.append(
                self.t[table]
                .join(gone, on="member_id")
                .filter(pl.col("month") >= pl.col("out"))
                .select("member_id", "month", kind=pl.lit(kind), ref=source_ref())
            )
        records.append(
            self.attendance.join(gone, on="member_id")
            .filter(pl.col("held_on") >= pl.col("out"))
            .join(
                self.t["attendance"].select("meeting_id", "member_id", "_file", "_sheet", "_row"), on=["meeting_id", "member_id"]
            )
            .select("member_id", "month", kind=pl.lit("参会"), ref=source_ref())
        )
        out = (
            pl.concat(records)
            .filter(pl.col("month").is_in(self.months))
            .group_by("member_id", "month")
            .agg(
                records_after_transfer=pl.len(),
                record_kinds=_joined_list("kind"),
                ev_after_transfer=pl.col("ref").sort().str.join("；"),
            )
            .join(gone, on="member_id")
            .with_columns(transferred_out_zh=_date_zh("out"), subject_id=pl.col("member_id"))
        )
        return self._period_month(out).sort("member_id", "month")

    def member_status(self) -> pl.LazyFrame:
        relevant = self.member_months(self.months).select("member_id").unique()
        m = self.members.join(relevant, on="member_id").with_columns(
            date_problems=pl.concat_str(
                [
                    pl.when(pl.col("out").is_not_null() & (pl.col("out") <= pl.col("start"))).then(
                        _format("转出日期{}不晚于入党/转入日期{}", _date_zh("out"), _date_zh("start"))
                    ),
                    pl.when(pl.col("transferred_in_on") < pl.col("joined_on")).then(
                        _format("转入日期{}早于入党日期{}", _date_zh("transferred_in_on"), _date_zh("joined_on"))
                    ),
                    pl.when(pl.col("full_member_on") < pl.col("joined_on")).then(
                        _format("转正日期{}早于入党日期{}", _date_zh("full_member_on"), _date_zh("joined_on"))
                    ),
                ],
                separator="；",
                ignore_nulls=True,
            ),
            ev_member=source_ref(),
        )
        # the same person (name and masked ID number, ID valid) under two member ids at once
        # (all members, also in a member shard: the other id may hash to another shard)
        people = self.all_members.filter(pl.col("id_number_status") == "ok").select(
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
                other_ids=_format("{}（{}）", pl.col("member_id_other"), pl.col("branch_id_other")).sort().str.join("、"),
            )
        )
        return (
            m.join(pairs, on="member_id", how="left")
            .with_columns(
                dates_consistent=pl.col("date_problems") == "",
                duplicate_identities=pl.col("duplicate_identities").fill_null(0),
                subject_id=pl.col("member_id"),
                period=pl.lit(str(self.q)),
                period_zh=pl.lit(self.q.zh),
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

    # recruitment cases: SM-9 ---------------------------------------------------------------------
    def recruitment(self) -> pl.LazyFrame:
        rule = self.std.rule("SM-9")
        dates = [
            "applied_on",
            "talked_on",
            "activist_on",
            "candidate_on",
            "publicity_start",
            "publicity_end",
            "admitted_on",
            "approved_on",
            "full_member_on",
        ]
        cases = (
            self.t["development"]
            .with_columns(
                judged_on=pl.coalesce(pl.col("admitted_on"), pl.max_horizontal(*dates)),
            )
            .filter(pl.col("judged_on").dt.truncate("1mo").is_in(self.months))
            .collect()  # small: the publicity period's working days are counted per case
        )
        if cases.is_empty():
            return _empty_recruitment().lazy()
        counts = [
            count_workdays(s, e) if s is not None and e is not None and s <= e else None
            for s, e in zip(cases["publicity_start"], cases["publicity_end"], strict=True)
        ]
        for count in counts:
            if count is not None and count.fallback_years:
                self.warnings.append(f"发展党员公示期涉及{count.note.strip('（）注意：')}")
        talk_months = int(rule.threshold("talk_within_months"))
        approval_months = int(rule.threshold("approval_within_months"))
        out = cases.with_columns(
            publicity_workdays=pl.Series([c.days if c else None for c in counts], dtype=pl.Int64),
            calendar_note=pl.Series([c.note if c else "" for c in counts], dtype=pl.String),
            age_at_application=pl.when(pl.col("birth_date").is_not_null() & pl.col("applied_on").is_not_null()).then(
                _months_between("birth_date", "applied_on") // 12
            ),
            talk_ok=pl.when(pl.col("applied_on").is_not_null() & pl.col("talked_on").is_not_null()).then(
                pl.col("talked_on") <= pl.col("applied_on").dt.offset_by(f"{talk_months}mo")
            ),
            activist_months=pl.when(pl.col("activist_on").is_not_null() & pl.col("candidate_on").is_not_null()).then(
                _months_between("activist_on", "candidate_on")
            ),
            present_share=pl.when(pl.col("voters_expected") > 0).then(pl.col("voters_present") / pl.col("voters_expected")),
            for_share=pl.when(pl.col("voters_expected") > 0).then(pl.col("votes_for") / pl.col("voters_expected")),
            approval_ok=pl.when(pl.col("admitted_on").is_not_null() & pl.col("approved_on").is_not_null()).then(
                pl.col("approved_on") <= pl.col("admitted_on").dt.offset_by(f"{approval_months}mo")
            ),
            probation_months_served=pl.when(pl.col("admitted_on").is_not_null() & pl.col("full_member_on").is_not_null()).then(
                _months_between("admitted_on", "full_member_on")
            ),
            subject_id=pl.col("person_id"),
            period=_month_key(pl.col("judged_on")),
            period_zh=_month_zh("judged_on"),
            ev_case=source_ref(),
            **{f"{d}_zh": _date_zh(d) for d in dates},
        )
        return out.sort("person_id").lazy()

    # half-year and year ---------------------------------------------------------------------------
    def _period_counts(self, start: dt.date, end: dt.date) -> pl.LazyFrame:
        meetings = self.meetings.filter(pl.col("held_on").is_between(start, end)).join(
            self.branches.select("branch_id", "secretary_id"), on="branch_id"
        )
        return (
            self.branches.select("branch_id")
            .join(
                meetings.group_by("branch_id").agg(
                    life_meetings=(pl.col("meeting_type") == "组织生活会").sum(),
                    lectures=(pl.col("meeting_type") == "党课").sum(),
                    secretary_lectures=(
                        (pl.col("meeting_type") == "党课") & (pl.col("lecturer_id") == pl.col("secretary_id"))
                    ).sum(),
                    appraisals=(pl.col("meeting_type") == "民主评议").sum(),
                    ev_life=pl.col("ref").filter(pl.col("meeting_type") == "组织生活会").sort().str.join("；"),
                    ev_lectures=pl.col("ref").filter(pl.col("meeting_type") == "党课").sort().str.join("；"),
                    ev_appraisals=pl.col("ref").filter(pl.col("meeting_type") == "民主评议").sort().str.join("；"),
                ),
                on="branch_id",
                how="left",
            )
            .with_columns(
                pl.col("life_meetings", "lectures", "secretary_lectures", "appraisals").fill_null(0).cast(pl.Int64),
                *(
                    pl.col(c).replace("", None).fill_null("该期间无此类会议记录")
                    for c in ("ev_life", "ev_lectures", "ev_appraisals")
                ),
            )
        )

    def branch_half(self, label: str, start: dt.date, end: dt.date) -> pl.LazyFrame:
        return self._period_counts(start, end).with_columns(
            half=pl.lit(label), period=pl.lit(label), period_zh=pl.lit(period_zh(label))
        )

    def branch_year(self, start: dt.date, end: dt.date) -> pl.LazyFrame:
        year = start.year
        evaluations = (
            self.t["evaluations"]
            .filter(pl.col("year") == year)
            .join(self.members.select("member_id", "branch_id", "full_member_on", "member_type"), on="member_id")
            .with_columns(formal=self.formal_at(pl.lit(end)))
            .group_by("branch_id")
            .agg(
                graded=(pl.col("formal") & (pl.col("grade") != "不评等次")).sum(),
                excellent=(pl.col("formal") & (pl.col("grade") == "优秀")).sum(),
                probationary_graded=(~pl.col("formal") & (pl.col("grade") != "不评等次")).sum(),
                probationary_ids=pl.col("member_id")
                .filter(~pl.col("formal") & (pl.col("grade") != "不评等次"))
                .sort()
                .str.join("、"),
                ev_evaluations=_format("{} 等 {} 行", pl.col("_file").first(), pl.len()),
            )
        )
        return (
            self._period_counts(start, end)
            .join(evaluations, on="branch_id", how="left")
            .with_columns(
                pl.col("graded", "excellent", "probationary_graded").fill_null(0).cast(pl.Int64),
                excellent_share=pl.when(pl.col("graded") > 0).then(pl.col("excellent") / pl.col("graded")),
                year=pl.lit(str(year)),
                period=pl.lit(str(year)),
                period_zh=pl.lit(f"{year}年"),
            )
        )

    def half_progress(self, label: str, start: dt.date, end: dt.date) -> pl.LazyFrame:
        so_far = min(self.q.end, self.window[1])
        counts = self._period_counts(start, so_far)
        elapsed = (so_far.year - start.year) * 12 + so_far.month - start.month + 1
        return _progress(
            counts, [("OL-7", "life_meetings", self.std.rule("OL-7").threshold("min_meetings"))], label, elapsed, 6, self.std
        )

    def year_progress(self, start: dt.date, so_far: dt.date) -> pl.LazyFrame:
        counts = self._period_counts(start, so_far)
        elapsed = so_far.month
        rules = [
            ("OL-4", "lectures", self.std.rule("OL-4").threshold("min_lectures")),
            ("TM-2", "secretary_lectures", self.std.rule("TM-2").threshold("min_lectures")),
            ("OL-8", "appraisals", self.std.rule("OL-8").threshold("min_meetings")),
        ]
        return _progress(counts, rules, str(start.year), elapsed, 12, self.std)


_VENUE_ITEMS = {
    "has_space": "场所",
    "has_facilities": "设施",
    "has_signage": "标志",
    "has_flags": "党旗国旗",
    "has_publications": "党报党刊",
    "has_rules": "制度",
}


def _streak(flag: str) -> pl.Expr:
    """Length of the run of consecutive months with `flag` set, ending at each row (0 when unset).

    Rows must be sorted by member and month. A run starts where the member, the flag or the month
    sequence changes; each row's position is its row number minus the run's first row number, so
    the whole column is a few vectorised passes (no per-member windows).
    """
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    starts = (
        (pl.col("member_id") != pl.col("member_id").shift(1))
        | (pl.col(flag) != pl.col(flag).shift(1))
        | (pl.col("index") != pl.col("index").shift(1) + 1)
    ).fill_null(True)
    first = pl.when(starts).then(row).forward_fill()
    return pl.when(pl.col(flag)).then(row - first + 1).otherwise(0).cast(pl.Int64)


def _offset_month(month: pl.Expr, back: pl.Expr) -> pl.Expr:
    index = month.dt.year().cast(pl.Int32) * 12 + month.dt.month().cast(pl.Int32) - 1 - back.cast(pl.Int32)
    return pl.date(index // 12, index % 12 + 1, 1)


def _progress(counts: pl.LazyFrame, rules, period: str, elapsed: int, total: int, standard: Standard) -> pl.LazyFrame:
    frames = []
    for rule_id, column, required in rules:
        if not standard.enabled(rule_id):
            continue
        pro_rata = required * elapsed / total
        frames.append(
            counts.select(
                "branch_id",
                rule_id=pl.lit(rule_id),
                period=pl.lit(period),
                required=pl.lit(required, dtype=pl.Int64),
                done=pl.col(column).cast(pl.Int64),
                expected_by_now=pl.lit(round(pro_rata, 2)),
                status=pl.when(pl.col(column) >= required)
                .then(pl.lit("已完成"))
                .when(pl.col(column) >= pro_rata)
                .then(pl.lit("进度正常"))
                .otherwise(pl.lit("进度落后")),
            )
        )
    return pl.concat(frames) if frames else pl.LazyFrame()


def _empty_recruitment() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "person_id": pl.String,
            "branch_id": pl.String,
            "subject_id": pl.String,
            "period": pl.String,
            "age_at_application": pl.Int64,
            "talk_ok": pl.Boolean,
            "activist_months": pl.Int64,
            "publicity_workdays": pl.Int64,
            "present_share": pl.Float64,
            "for_share": pl.Float64,
            "approval_ok": pl.Boolean,
            "probation_months_served": pl.Int64,
        }
    )
