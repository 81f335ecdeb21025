"""What the audit could judge: each rule part, per branch and period, 已评估 or 无法评估 (coverage.csv).

Every rule part declares in expectations/standard.yaml the data it `needs` (`audit.standard.Need`,
the vocabulary is in that file's header). For the audited quarter, each enabled part × branch ×
period its rule judges this quarter (the quarter's months in the data window, the quarter, a
half-year or year ending in it) is 无法评估 when a need is not met, with a reason naming the
missing table or column by the export contract's Chinese title and label:

- a table (`points`): the branch has no rows in it dated no later than the data window's end (a
  table is dated by its first required date or month column, rows of a meeting by its date);
- a column (`points.published_on`): the branch has such rows (with `meetings:`, meetings of those
  types) and none of them has a value in the column. A branch without rows lacks nothing the
  column could say: whether rows must exist is a table need's question (SM-2 needs both); an
  office (书记编号, 组织委员编号) the committee list gives but nobody held in the audited quarter
  (`audit.offices.offices_for_period`) is said to be so, not to be missing from the branch list;
  an office needed on each dated row (SM-10: the 组织委员 on a payment's day) whose committee-list
  terms leave some rows of the period uncovered makes it 无法评估 partly, naming those rows
  (`_Needs.without_holder`): they are not judged, the branch's others are;
- a table whose rows belong to meetings (`attendance`): some meeting of the branch (of the
  `meetings:` types) held in the judged period — with `since: window`, from the data window's
  start to the period's end — has no rows in it (a meeting recorded with counts only has no list).
  A meeting's attendance list is what 参会明细 exported for it, which ingestion records as
  `meetings.attendance_source` = list (`audit.meetings`): the rows it reads from a meeting's
  缺席人员 / 请假人员 text name only those absent, so such a meeting has no list either.

`withhold` then sets the columns each such part's checks read to null in the fact rows of a
无法评估 branch and period, before the standard suites run: GX skips nulls, so the part is neither
passed nor failed there, and no finding is made of missing data. Nothing here is about one rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import polars as pl

from audit.contract import load_contract
from audit.dues import DERIVED_IF_ABSENT
from audit.facts.branch_month import payments_without_organizer
from audit.facts.context import FactContext, Frame
from audit.labels import EVALUATED, UNEVALUABLE
from audit.meetings import SOURCE_ABSENTEES, SOURCE_COUNTS, SOURCE_LIST, SOURCE_NONE
from audit.offices import OFFICES
from audit.periods import Quarter, date_zh, month_end, month_key
from audit.standard import Need, Rule, Standard, branch_link

COVERAGE_COLUMNS = ["rule_id", "part", "branch_id", "period", "status", "reason"]
COVERAGE_SCHEMA = dict.fromkeys(COVERAGE_COLUMNS, pl.String)
MAX_LISTED = 5  # meetings named in a reason; more are counted
# Tables of meetings' rows whose rows count for a meeting only when the meeting's column says they
# were exported as such (rows read from the meeting's own text are not a list): table -> (column, value)
EXPORTED_AS = {"attendance": ("attendance_source", SOURCE_LIST)}
# What a meeting without a list has instead, by its `attendance_source`, for the reason
SOURCE_ZH = {SOURCE_COUNTS: "只记录了人数", SOURCE_ABSENTEES: "只记录了缺席、请假人员", SOURCE_NONE: "没有出勤记录"}
_SEPARATOR = "\x1f"
# Office columns a rule needs on each dated row, not once per branch: (table, column) -> the rows
# the committee list's terms leave without a holder (branch_id, month, member_id, name, paid_on, day)
ROWS_NEEDING_HOLDER: dict[tuple[str, str], Callable[[FactContext], pl.LazyFrame]] = {
    ("branches", "organizer_id"): payments_without_organizer,
}


def empty_coverage() -> pl.DataFrame:
    """A coverage table without rows (no branches, or a run from before coverage existed)."""
    return pl.DataFrame(schema=COVERAGE_SCHEMA)


def judged_periods(rule: Rule, ctx: FactContext) -> list[tuple[str, dt.date, dt.date]]:
    """The periods of `rule` the audited quarter judges, as (label, first day, last day) inside the
    data window: its months, the quarter, or the half-year or year that ends in it (only then)."""
    first, last = ctx.window
    months = ctx.months
    if rule.period == "month":
        return [(month_key(m), m, month_end(m)) for m in months]
    if rule.period == "quarter":
        return [(str(ctx.quarter), months[0], month_end(months[-1]))]
    whole = ctx.half if rule.period == "half" else ctx.year
    if not whole.complete:
        return []
    return [(whole.label, max(whole.start, first), min(whole.end, last))]


def _has_value(column: str) -> pl.Expr:
    """A cell that says something: not null and, for text, not blank."""
    value = pl.col(column)
    return value.is_not_null() & (value.cast(pl.String).str.strip_chars() != "")


class _Needs:
    """Judges needs against a batch's tables for one quarter, each need once (several parts share them)."""

    def __init__(self, ctx: FactContext, branches: list[str]):
        self.ctx, self.branches = ctx, branches
        self.contract = load_contract()
        self.by_branch: dict[Need, dict[str, str]] = {}
        self.by_meeting: dict[Need, pl.DataFrame] = {}

    def title(self, table: str) -> str:
        return self.contract.tables[table].title

    def label(self, need: Need) -> str:
        columns = self.contract.tables[need.table].columns
        return "”或“".join(columns[c].label for c in need.columns)

    def rows(self, table: str) -> pl.LazyFrame:
        """The table's rows with the branch they belong to (`branch_id`) and, for meetings and rows
        of meetings, the meeting's type and date; only rows dated no later than the window's end."""
        frame = self.ctx.tables[table]
        meetings = self.ctx.tables["meetings"].select("meeting_id", "branch_id", "meeting_type", "held_on")
        link = branch_link(table)
        if link == "meeting":
            frame = frame.join(meetings, on="meeting_id", how="inner")
            dated: str | None = "held_on"
        else:
            if link == "member":
                frame = frame.join(self.ctx.tables["members"].select("member_id", "branch_id"), on="member_id", how="inner")
            columns = self.contract.tables[table].columns.values()
            dated = next((c.name for c in columns if c.required and c.type in ("date", "month")), None)
        if dated is not None:
            frame = frame.filter(pl.col(dated).is_null() | (pl.col(dated) <= self.ctx.window[1]))
        return frame

    def of_branch(self, need: Need) -> dict[str, str]:
        """The branches a table or column need leaves 无法评估, with the reason."""
        if need not in self.by_branch:
            rows = self.rows(need.table)
            title = self.title(need.table)
            if need.column is None:
                have = set(rows.select("branch_id").unique().collect()["branch_id"].to_list())
                missing = {b: f"“{title}”中没有本支部的记录" for b in self.branches if b not in have}
            else:
                if need.meetings:
                    rows = rows.filter(pl.col("meeting_type").is_in(list(need.meetings)))
                said = rows.group_by("branch_id").agg(said=pl.any_horizontal(*map(_has_value, need.columns)).any()).collect()
                silent = set(said.filter(~pl.col("said"))["branch_id"].to_list())
                which = "、".join(need.meetings) if need.meetings else "记录"
                also = "，也无法按核算基数推算" if (need.table, need.column) in DERIVED_IF_ABSENT else ""  # audit.dues
                missing = {b: f"“{title}”中本支部的{which}都没有“{self.label(need)}”{also}" for b in self.branches if b in silent}
                missing.update(self.out_of_office(need, silent))
            self.by_branch[need] = missing
        return self.by_branch[need]

    def out_of_office(self, need: Need, silent: set[str]) -> dict[str, str]:
        """For an office column of the branch list (书记编号, 组织委员编号) left empty because the
        committee list gives the office but nobody held it in the audited quarter
        (`audit.offices.offices_for_period`): the branches with that reason instead of the column's."""
        office = next((o for o, (column, _, _) in OFFICES.items() if need.table == "branches" and column == need.column), None)
        if office is None:
            return {}
        _, source_column, label = OFFICES[office]
        branches = self.ctx.tables["branches"]
        if source_column not in branches.collect_schema().names():
            return {}
        by_committee = set(
            branches.filter(pl.col(source_column) == "committee").select("branch_id").collect()["branch_id"].to_list()
        )
        quarter = self.ctx.quarter
        return {
            b: f"“{self.title('committee')}”中没有{quarter.start.year}年第{quarter.number}季度"
            f"（{date_zh(quarter.start)}至{date_zh(quarter.end)}）在任的{label}"
            for b in self.branches
            if b in silent and b in by_committee
        }

    def meetings_without(self, need: Need) -> pl.DataFrame:
        """The meetings (of the need's types) without rows in the need's table (or without a value
        in its column), dated up to the window's end: branch_id, meeting_id, meeting_type, held_on."""
        if need not in self.by_meeting:
            meetings = self.rows("meetings")
            if need.meetings:
                meetings = meetings.filter(pl.col("meeting_type").is_in(list(need.meetings)))
            listed = self.rows(need.table)
            if need.column is not None:
                listed = listed.filter(pl.any_horizontal(*map(_has_value, need.columns)))
            lacking = pl.col("listed").is_null()
            column, exported = EXPORTED_AS.get(need.table, ("", ""))
            if column in meetings.collect_schema().names():
                lacking = lacking | (pl.col(column).is_not_null() & (pl.col(column) != exported))
                source = pl.col(column).replace_strict(SOURCE_ZH, default=None, return_dtype=pl.String)
            else:
                source = pl.lit(None, dtype=pl.String)
            self.by_meeting[need] = (
                meetings.join(listed.select("meeting_id").unique().with_columns(listed=pl.lit(True)), on="meeting_id", how="left")
                .filter(lacking)
                .select("branch_id", "meeting_id", "meeting_type", "held_on", source=source)
                .sort("branch_id", "held_on", "meeting_id")
                .collect()
            )
        return self.by_meeting[need]

    def of_meetings(self, need: Need, start: dt.date, end: dt.date) -> dict[str, str]:
        """The branches with a meeting from `start` to `end` lacking the need's rows, with the reason."""
        first = self.ctx.window[0] if need.since_window else start
        lacking = self.meetings_without(need).filter(pl.col("held_on").is_between(first, end))
        title = self.title(need.table)
        missing = {}
        for (branch,), rows in lacking.group_by("branch_id", maintain_order=True):
            named = [
                f"{kind} {meeting}（{date_zh(held)}{'，' + source if source else ''}）"
                for kind, meeting, held, source in rows.select("meeting_type", "meeting_id", "held_on", "source")
                .head(MAX_LISTED)
                .iter_rows()
            ]
            more = f"等{rows.height}次会议" if rows.height > MAX_LISTED else ""
            what = f"的记录都没有“{self.label(need)}”" if need.column else "没有名单"
            missing[str(branch)] = f"以下会议在“{title}”中{what}：{'、'.join(named)}{more}"
        return missing

    def partly(self, need: Need, start: dt.date, end: dt.date) -> dict[str, str]:
        """For a column ingestion may leave null row by row (`audit.dues.DERIVED_IF_ABSENT`: dues'
        应交金额 where it cannot be derived): the branches with a value in some of their rows but
        none in some rows dated from `start` to `end`, with the reason naming them. Those rows are
        not judged (their checked value is null); the branch's other rows are."""
        if (need.table, need.column or "") in ROWS_NEEDING_HOLDER:
            return self.without_holder(need, start, end)
        if (need.table, need.column) not in DERIVED_IF_ABSENT or need.column is None:
            return {}
        full = self.of_branch(need)
        columns = self.contract.tables[need.table].columns.values()
        dated = next((c.name for c in columns if c.required and c.type == "month"), None)
        if dated is None or branch_link(need.table) != "member":  # (dues: a member's month)
            return {}
        rows = self.rows(need.table).filter(pl.col(need.column).is_null() & pl.col(dated).is_between(start, end))
        lacking = rows.select("branch_id", "member_id", dated).unique().sort(pl.all()).collect()
        title, label = self.title(need.table), self.label(need)
        found = {}
        for (branch,), group in lacking.group_by("branch_id", maintain_order=True):
            if branch in full:
                continue
            named = [f"{member}（{when.year}年{when.month}月）" for _, member, when in group.head(MAX_LISTED).iter_rows()]
            more = f"等{group.height}条" if group.height > MAX_LISTED else ""
            found[str(branch)] = (
                f"“{title}”中本支部以下记录没有“{label}”，也无法按核算基数推算：{'、'.join(named)}{more}；"
                "这些记录未核对，本支部其余记录已核对"
            )
        return found

    def without_holder(self, need: Need, start: dt.date, end: dt.date) -> dict[str, str]:
        """For an office needed on each dated row (`ROWS_NEEDING_HOLDER`: SM-10's organizer on a
        payment's day): the branches whose committee list gives the office with terms none of which
        covers some row dated from `start` to `end`, with the reason naming those rows. They are not
        judged (the fact leaves them out); the branch's other rows are."""
        rows_of = ROWS_NEEDING_HOLDER.get((need.table, need.column or ""))
        if rows_of is None:
            return {}
        full = self.of_branch(need)
        lacking = rows_of(self.ctx).filter(pl.col("month").is_between(start, end)).collect()
        title = self.title("committee")
        found = {}
        for (branch,), group in lacking.group_by("branch_id", maintain_order=True):
            if branch in full:
                continue
            named = [
                f"{name}（{member}）{when.month}月党费（{date_zh(paid) + '交纳' if paid else '未填交纳日期，按' + date_zh(day)}）"
                for member, name, paid, day, when in group.select("member_id", "name", "paid_on", "day", "month")
                .head(MAX_LISTED)
                .iter_rows()
            ]
            more = f"等{group.height}笔" if group.height > MAX_LISTED else ""
            found[str(branch)] = (
                f"“{title}”中组织委员的任期都不包括以下党费的交纳日期：{'、'.join(named)}{more}；"
                "这些党费未核对收缴人，本支部其余党费已核对"
            )
        return found

    def reasons(self, need: Need, start: dt.date, end: dt.date) -> dict[str, str]:
        """The branches the need leaves 无法评估 in the period from `start` to `end`, with the reason."""
        if branch_link(need.table) == "meeting":
            return self.of_meetings(need, start, end)
        return self.of_branch(need)


def compute_coverage(
    tables: Mapping[str, Frame], standard: Standard, quarter: Quarter, window: tuple[dt.date, dt.date]
) -> pl.DataFrame:
    """Each enabled rule part × branch × period judged in the quarter: 已评估, or 无法评估 with the
    reasons (joined by "；"); sorted by branch, rule and part (the standard's order), then period."""
    return coverage_and_partial(tables, standard, quarter, window)[0]


def coverage_and_partial(
    tables: Mapping[str, Frame], standard: Standard, quarter: Quarter, window: tuple[dt.date, dt.date]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`compute_coverage`, and the keys (rule_id, part, branch_id, period) of its 无法评估 rows that
    are so only because some rows lack a value ingestion may leave null row by row (`_Needs.partly`):
    those rows are unjudged already, the branch's others are judged, so `withhold` leaves them."""
    ctx = FactContext(tables, standard, quarter, window)
    branches = sorted(set(ctx.tables["branches"].select("branch_id").collect()["branch_id"].drop_nulls().to_list()))
    needs = _Needs(ctx, branches)
    judged: list[tuple[Rule, str, list[tuple[str, dict[str, str]]]]] = []
    partial: list[tuple[str, str, str, str]] = []
    for rule in standard.rules.values():
        if not rule.enabled:
            continue
        periods = judged_periods(rule, ctx)
        for part in rule.parts.values():
            per_period = []
            for label, start, end in periods:
                found: dict[str, list[str]] = {}
                partly: dict[str, list[str]] = {}
                for need in part.needs:
                    for branch, reason in needs.reasons(need, start, end).items():
                        found.setdefault(branch, []).append(reason)
                    for branch, reason in needs.partly(need, start, end).items():
                        partly.setdefault(branch, []).append(reason)
                partial += [(rule.id, part.name, b, label) for b in partly if b not in found]
                for branch, reasons in partly.items():
                    found.setdefault(branch, []).extend(reasons)
                per_period.append((label, {b: "；".join(r) for b, r in found.items()}))
            judged.append((rule, part.name, per_period))
    rows = [
        (rule.id, part, branch, label, UNEVALUABLE if branch in missing else EVALUATED, missing.get(branch, ""))
        for branch in branches
        for rule, part, per_period in judged
        for label, missing in per_period
    ]
    keys = pl.DataFrame(partial, schema=dict.fromkeys(COVERAGE_COLUMNS[:4], pl.String), orient="row")
    return (pl.DataFrame(rows, schema=COVERAGE_SCHEMA, orient="row") if rows else empty_coverage()), keys


def withhold_progress(
    progress: pl.DataFrame,
    tables: Mapping[str, Frame],
    standard: Standard,
    quarter: Quarter,
    window: tuple[dt.date, dt.date],
) -> pl.DataFrame:
    """`progress` (the open half-year's and year's rules so far, `facts.branch_period.progress`)
    with a `reason` column, and the rows of a rule some part of which lacks its data over the period
    so far (from the period's start, inside the data window, to the quarter's end) marked: `done`
    null, `status` 无法评估, `reason` naming the missing table or column as coverage.csv does.
    A count made without that data (a secretary's lectures when no secretary is known) is not
    progress; the other rows are unchanged, with an empty reason."""
    if progress.is_empty() or "rule_id" not in progress.columns:
        return progress
    ctx = FactContext(tables, standard, quarter, window)
    so_far = min(quarter.end, window[1])
    spans = {p.label: (max(p.start, window[0]), so_far) for p in (ctx.half, ctx.year) if not p.complete}
    branches = sorted(set(progress["branch_id"].drop_nulls().to_list()))
    needs = _Needs(ctx, branches)
    missing: dict[tuple[str, str, str], list[str]] = {}
    for rule_id, period in progress.select("rule_id", "period").unique(maintain_order=True).iter_rows():
        if period not in spans or rule_id not in standard.rules:
            continue
        start, end = spans[period]
        for part in standard.rule(rule_id).parts.values():
            for need in part.needs:
                for branch, reason in needs.reasons(need, start, end).items():
                    found = missing.setdefault((rule_id, period, branch), [])
                    if reason not in found:
                        found.append(reason)
    keys = [_SEPARATOR.join(k) for k in missing]
    reasons = {_SEPARATOR.join(k): "；".join(v) for k, v in missing.items()}
    key = pl.concat_str("rule_id", "period", "branch_id", separator=_SEPARATOR)
    hit = key.is_in(pl.Series(keys, dtype=pl.String).implode())
    return progress.with_columns(
        done=pl.when(hit).then(None).otherwise(pl.col("done")),
        status=pl.when(hit).then(pl.lit(UNEVALUABLE)).otherwise(pl.col("status")),
        reason=key.replace_strict(reasons, default="", return_dtype=pl.String),
    )


def need_zh(need: Need) -> str:
    """A need in Chinese, as the rule catalogue states it: the table (and column) by the contract's
    title and label, and what of it must be there."""
    table = load_contract().tables[need.table]
    labels = "”或“".join(table.columns[c].label for c in need.columns)
    named = f"“{table.title}”的“{labels}”列" if need.column else f"“{table.title}”"
    types = "、".join(need.meetings)
    if branch_link(need.table) == "meeting":
        span = "自数据起始月至所审期间末" if need.since_window else "所审期间"
        return f"{named}（{span}本支部的每次{types or '会议'}都有{'填写' if need.column else '名单'}）"
    if need.column is None:
        return f"{named}（本支部有记录）"
    return f"{named}（本支部的{types or '记录'}中有填写）"


def unevaluable(coverage: pl.DataFrame) -> pl.DataFrame:
    """The 无法评估 rows of a coverage table."""
    return coverage.filter(pl.col("status") == UNEVALUABLE)


def not_evaluated(coverage: pl.DataFrame | None, standard: Standard, names: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The 无法评估 rows of a coverage table, for people: with branch names (`names`), rule titles
    and dimensions, a part by its Chinese title (`title:` in standard.yaml), a rule's single part
    without its name `main`; in coverage's order."""
    rows = unevaluable(coverage if coverage is not None else empty_coverage())
    titles = {rule_id: rule.title for rule_id, rule in standard.rules.items()}
    dimensions = {rule_id: rule.dimension for rule_id, rule in standard.rules.items()}
    parts = {f"{r.id}\x1f{p.name}": p.title or p.name for r in standard.rules.values() for p in r.parts.values()}
    return rows.with_columns(
        branch_name=pl.col("branch_id").replace_strict(dict(names or {}), default="", return_dtype=pl.String),
        rule_title=pl.col("rule_id").replace_strict(titles, default="", return_dtype=pl.String),
        dimension=pl.col("rule_id").replace_strict(dimensions, default="", return_dtype=pl.String),
        part=pl.when(pl.col("part") != "main").then(
            pl.concat_str("rule_id", pl.lit("\x1f"), "part").replace_strict(parts, default=pl.col("part"), return_dtype=pl.String)
        ),
    )


def unevaluable_counts(coverage: pl.DataFrame, branches: pl.DataFrame) -> pl.DataFrame:
    """Per branch (every branch of `branches`, by id): how many rule parts × periods were 无法评估
    (`unevaluable`) and which rules (`rule_ids`, in the standard's order as coverage lists them)."""
    missing = (
        unevaluable(coverage)
        .group_by("branch_id", maintain_order=True)
        .agg(unevaluable=pl.len().cast(pl.Int64), rule_ids=pl.col("rule_id").unique(maintain_order=True).str.join("、"))
    )
    return (
        branches.select("branch_id", "branch_name")
        .sort("branch_id")
        .join(missing, on="branch_id", how="left", maintain_order="left")
        .with_columns(pl.col("unevaluable").fill_null(0), pl.col("rule_ids").fill_null(""))
    )


def withhold(
    facts: Mapping[str, pl.DataFrame], coverage: pl.DataFrame, standard: Standard, partial: pl.DataFrame | None = None
) -> dict[str, pl.DataFrame]:
    """The fact tables with the columns each part's checks read set to null in the rows of every
    branch and period where the part is 无法评估 (a row's period: its check's `period_column`, else
    `period`), so GX neither passes nor fails it there; not where it is so only partly (`partial`,
    from `coverage_and_partial`: the rows lacking the value are null already). Other columns and
    rows are unchanged."""
    out = dict(facts)
    missing = unevaluable(coverage)
    if partial is not None and not partial.is_empty():
        missing = missing.join(partial, on=COVERAGE_COLUMNS[:4], how="anti")
    if missing.is_empty():
        return out
    for rule in standard.rules.values():
        for part in rule.parts.values():
            keys = missing.filter((pl.col("rule_id") == rule.id) & (pl.col("part") == part.name)).select(
                key=pl.concat_str("branch_id", "period", separator=_SEPARATOR)
            )["key"]
            if keys.is_empty():
                continue
            for check in part.checks:
                frame = out.get(check.fact)
                if frame is None or frame.is_empty():
                    continue
                period = check.period_column or "period"
                hit = pl.concat_str("branch_id", period, separator=_SEPARATOR).is_in(keys.implode()).fill_null(False)
                out[check.fact] = frame.with_columns(
                    pl.when(hit).then(pl.lit(None, dtype=frame.schema[c])).otherwise(pl.col(c)).alias(c) for c in check.columns
                )
    return out


def unevaluable_dimensions(coverage: pl.DataFrame | None, standard: Standard) -> pl.DataFrame:
    """(branch_id, dimension): each branch's dimensions with some 无法评估 rule part (shown as
    部分评估 unless failing)."""
    if coverage is None or coverage.is_empty():
        return pl.DataFrame(schema={"branch_id": pl.String, "dimension": pl.String})
    dimension_of = {rule.id: rule.dimension for rule in standard.rules.values()}
    rule = pl.col("rule_id").replace_strict(dimension_of, return_dtype=pl.String)
    return unevaluable(coverage).select("branch_id", dimension=rule).unique(maintain_order=True)
