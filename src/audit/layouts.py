"""Sheet layouts that are not one row per record, turned into the long form ingestion reads.

Pure functions on a ``RawSheet`` whose header row is known (``reshape``), called by
``audit.ingest._SheetIngester.run`` right after the header is found:

- **wide sheets** (dues, points): a row per member and a column per month (``1月`` … ``12月``,
  ``2019年1月``, ``2019.01``) become one row per member and month; the month cell's value is the
  amount paid (dues) or the month's points. The year comes from a year column, the mapping file,
  the title row, the sheet name or the file name, in that order;
- **month ranges** (dues): a ``缴费起止月份`` cell (``2019.01-2019.06``) or a pair of start/end
  month columns (``缴费起始月份`` / ``缴费截止月份``) becomes one row per month. An amount whose header
  says it is monthly (``月缴党费``) is repeated; any other amount is the range's total and is split
  evenly (to the cent, the first months taking the odd cents);
- **a year outside the table** (evaluations without a year column): taken from the title row, the
  sheet name or the file name into ``RawSheet.fixed``.

Every long row keeps its source row number, so accounting stays per source row. A value this
module cannot work out (no year anywhere, an unreadable range) becomes an ``Unresolved`` cell:
parsing it fails with its reason, so the source row is quarantined saying how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from audit.contract import Table, normalize_header
from audit.readers import RawSheet
from audit.reasons import Reason
from audit.values import cell_text, is_blank, parse_month, parse_number

MAX_RANGE_MONTHS = 240  # twenty years of back payments; a longer range is a typing mistake

WIDE_VALUE = {"dues": "amount_paid", "points": "total_points"}  # what a month cell holds, per table
RANGE_TABLES = ("dues",)
RANGE_AMOUNTS = ("amount_due", "amount_paid")  # split or repeated over a range's months

# how (ColumnMap.how) values this module writes
HOW_WIDE_MONTH = "宽表月份列"
HOW_WIDE_DUE = "宽表中视为每月应交"
HOW_RANGE = "起止月份展开"
HOW_SPLIT = "按月均分"
HOW_YEAR_COLUMN = "年份列"
HOW_TITLE, HOW_SHEET, HOW_FILE = "取自标题", "取自工作表名", "取自文件名"
HOW_NO_YEAR = "未找到年份"
HOW_UNUSED = "未使用"

YEAR_HEADERS = {"年度", "年份", "缴费年度", "缴费年份", "所属年度", "缴纳年度", "交纳年度", "党费年度", "评议年度"}
RANGE_HEADERS = {"缴费起止月份", "起止月份", "缴费起止时间", "起止时间", "缴费期间", "所属期间", "交纳起止月份", "缴纳起止月份"}
START_HEADERS = {
    "缴费起始月份",
    "起始月份",
    "开始月份",
    "缴费开始月份",
    "起始年月",
    "缴费起始年月",
    "交纳起始月份",
    "缴纳起始月份",
}
END_HEADERS = {
    "缴费截止月份",
    "截止月份",
    "结束月份",
    "缴费结束月份",
    "截止年月",
    "缴费截止年月",
    "交纳截止月份",
    "缴纳截止月份",
    "终止月份",
}
MONTHLY_WORDS = ("月缴", "每月", "月交", "按月", "月应", "月均")  # an amount header that is per month
TOTAL_WORDS = ("合计", "总计", "小计", "全年", "累计", "总额", "年度")  # a wide sheet's yearly total column

_BRACKETED = re.compile(r"\([^()]*\)$")
_ZH_MONTHS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "十一": 11, "十二": 12}
_MONTH_HEADER = re.compile(r"^(?:(?P<year>\d{4})(?:年|[.\-/]))?(?P<month>\d{1,2}|十[一二]?|[一二三四五六七八九])月份?$")
_MONTH_HEADER_YM = re.compile(r"^(?P<year>\d{4})[.\-/](?P<month>\d{1,2})$")
_YEAR_ZH = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年")
_YEAR_BARE = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_YEAR_CELL = re.compile(r"^((?:19|20)\d{2})(?:年度?|\.0)?$")
_RANGE_SPLIT = re.compile(r"\s*(?:--?|—+|–|~|～|至|到)\s*")
_YM_PART = re.compile(r"^(?:(?P<year>\d{4})\s*(?:年|[.\-/])?\s*)?(?P<month>\d{1,2})\s*月?(?:份)?$")


@dataclass(frozen=True)
class LayoutColumn:
    """How one source column (or a value from outside the table) was used; becomes a ColumnMap."""

    source_header: str
    column: str | None
    how: str


@dataclass(frozen=True)
class YearHint:
    """A year given from outside the sheet (the mapping file's ``fixed: year``)."""

    year: int
    how: str
    text: str


@dataclass(frozen=True)
class Year:
    """A sheet-level year and where it was found."""

    year: int
    how: str
    text: str


class Unresolved:
    """A cell value a layout could not work out. Parsing it fails with ``reason`` (see
    ``audit.ingest._SheetIngester._parse``); ``str()`` is the offending text, shown in the quarantine."""

    __slots__ = ("context", "reason", "text")

    def __init__(self, reason: Reason, text: str = "", **context: object):
        self.reason, self.text, self.context = reason, text, context

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Unresolved({self.reason.name}, {self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unresolved) and (self.reason, self.text, self.context) == (
            other.reason,
            other.text,
            other.context,
        )

    def __hash__(self) -> int:
        return hash((self.reason, self.text))


@dataclass
class Reshaped:
    """A sheet after ``reshape``: the rows to ingest and how the columns were used."""

    sheet: RawSheet
    columns: list[LayoutColumn] = field(default_factory=list)
    generated: tuple[str, ...] = ()  # header texts written by the layout: their ColumnMaps are `columns`
    layout: str = ""  # "" (as it was), "wide" or "range"
    split: tuple[str, ...] = ()  # source headers whose amounts were split evenly over a range's months


def merge_columns(recorded: list[Any], reshaped: Reshaped, make: Any) -> list[Any]:
    """The ColumnMaps ingestion recorded for a reshaped sheet, with the layout's own: entries for
    the headers the layout wrote are replaced (in place) by ``reshaped.columns`` (built with
    ``make(source_header, column, how)``), split amounts say so."""
    if not reshaped.layout:
        return recorded
    out: list[Any] = []
    mine = [make(c.source_header, c.column, c.how) for c in reshaped.columns]
    for entry in recorded:
        if entry.source_header in reshaped.generated:
            out += mine
            mine = []
        elif entry.source_header in reshaped.split and entry.column is not None:
            out.append(replace(entry, how=f"{entry.how}（{HOW_SPLIT}）"))
        else:
            out.append(entry)
    return out + mine


def header_key(cell: Any) -> str:
    """A header cell folded for layout matching: no spaces, stars or trailing bracketed unit."""
    text = normalize_header(cell_text(cell)).strip("*").replace("\n", "")
    previous = None
    while previous != text:
        previous, text = text, _BRACKETED.sub("", text).strip("*")
    return text


def month_header(cell: Any) -> tuple[int | None, int] | None:
    """``(year or None, month)`` when a header cell names a month (``3月``, ``三月``, ``2019年3月``, ``2019.03``)."""
    text = header_key(cell)
    match = _MONTH_HEADER.match(text) or _MONTH_HEADER_YM.match(text)
    if match is None:
        return None
    raw = match.group("month")
    month = int(raw) if raw.isdigit() else _ZH_MONTHS[raw]
    year = int(match.group("year")) if match.group("year") else None
    if not 1 <= month <= 12 or (year is not None and not 1921 <= year <= 2100):
        return None
    return year, month


def implied_columns(table: Table, cells: list[Any]) -> set[str]:
    """Canonical columns a header row supplies through a layout (for finding the header row): the
    month and the month value of a wide sheet, the month of a range sheet."""
    if "month" not in table.columns:
        return set()
    keys = [header_key(c) for c in cells if not is_blank(c)]
    if table.name in WIDE_VALUE and len(_month_columns(cells)) >= 2:
        return {"month", WIDE_VALUE[table.name]}
    if table.name in RANGE_TABLES and any(k in RANGE_HEADERS or k in START_HEADERS for k in keys):
        return {"month"}
    return set()


def find_year(sheet: RawSheet, header_index: int, hint: YearHint | None = None) -> Year | None:
    """The sheet's year: the mapping file's, else the one year named in the title rows above the
    header, else in the sheet name, else in the file name. A text naming two years says nothing."""
    if hint is not None:
        return Year(hint.year, hint.how, hint.text)
    titles = [cell_text(c) for _, cells in sheet.rows[:header_index] for c in cells if not is_blank(c)]
    for title in titles:
        year = year_in(title)
        if year is not None:
            return Year(year, HOW_TITLE, title)
    if sheet.sheet:
        year = year_in(sheet.sheet)
        if year is not None:
            return Year(year, HOW_SHEET, sheet.sheet)
    name = PurePosixPath(sheet.file).name
    year = year_in(PurePosixPath(sheet.file).stem)
    return Year(year, HOW_FILE, name) if year is not None else None


def year_in(text: str) -> int | None:
    """The one year a text names (``2019年度…``, ``…_2019``), or None when it names none or several."""
    for pattern in (_YEAR_ZH, _YEAR_BARE):
        years = {int(y) for y in pattern.findall(text)}
        if len(years) == 1:
            return years.pop()
        if len(years) > 1:
            return None
    return None


def reshape(table: Table, sheet: RawSheet, header_index: int, hint: YearHint | None = None) -> Reshaped:
    """The sheet in long form (see the module docstring); the sheet itself when no layout applies."""
    header = sheet.rows[header_index][1]
    mapped = {i: table.column_for(cell_text(c)) for i, c in enumerate(header) if not is_blank(c)}
    if "month" in table.columns and "month" not in mapped.values():
        if table.name in WIDE_VALUE and len(_month_columns(header)) >= 2:
            return _Wide(table, sheet, header_index, mapped, hint).run()
        if table.name in RANGE_TABLES:
            keys = {i: header_key(c) for i, c in enumerate(header)}
            ranged = [i for i, k in keys.items() if k in RANGE_HEADERS]
            starts = [i for i, k in keys.items() if k in START_HEADERS]
            ends = [i for i, k in keys.items() if k in END_HEADERS]
            if ranged or starts:
                return _Range(table, sheet, header_index, mapped, hint, ranged, starts, ends).run()
    year = table.columns.get("year")
    if year is not None and year.required and "year" not in mapped.values() and "year" not in sheet.fixed:
        return _year_from_outside(sheet, header_index, hint)
    return Reshaped(sheet)


def _year_from_outside(sheet: RawSheet, header_index: int, hint: YearHint | None) -> Reshaped:
    """A table with a year column the sheet lacks (evaluations): the year from the title or names."""
    year = find_year(sheet, header_index, hint)
    if year is None:
        value: tuple[Any, str] = (_no_year(sheet), HOW_NO_YEAR)
    else:
        value = (year.year, year.how)
    return Reshaped(replace(sheet, fixed={**sheet.fixed, "year": value}))


def _no_year(sheet: RawSheet) -> Unresolved:
    return Unresolved(Reason.YEAR_NOT_FOUND, "", file=_literal(PurePosixPath(sheet.file).name))


def _literal(name: str) -> str:
    """A file name as a mapping-file pattern that matches only itself (``[`` is special in patterns)."""
    return name.replace("[", "[[]").replace('"', "?")


def _month_columns(header: list[Any]) -> dict[int, tuple[int | None, int]]:
    """Index -> (year or None, month) of the month headers; empty when a month repeats."""
    found = {i: m for i, c in enumerate(header) if not is_blank(c) and (m := month_header(c)) is not None}
    return found if len(set(found.values())) == len(found) else {}


def _row_year(cell: Any, label: str) -> int | Unresolved:
    text = cell_text(cell)
    match = _YEAR_CELL.match(text)
    if match is None:
        return Unresolved(Reason.BAD_YEAR, text, label=label, value=text)
    return int(match.group(1))


class _Layout:
    """Shared by the wide and range layouts: the header, the year and where it came from."""

    def __init__(self, table: Table, sheet: RawSheet, header_index: int, mapped: dict[int, str | None], hint: YearHint | None):
        self.table, self.sheet, self.header_index, self.mapped = table, sheet, header_index, mapped
        self.header = sheet.rows[header_index][1]
        self.width = len(self.header)
        keys = {i: header_key(c) for i, c in enumerate(self.header)}
        self.year_index = next(
            (i for i, k in keys.items() if mapped.get(i) == "year" or (k in YEAR_HEADERS and mapped.get(i) is None)), None
        )
        self.year = find_year(sheet, header_index, hint)
        self.columns: list[LayoutColumn] = []
        self.year_used = False
        self.month_label = table.columns["month"].label

    def written(self, index: int) -> str:
        return str(self.header[index]).strip()

    def note_year(self, needed: bool) -> None:
        """Record where the year came from (column_map.csv says which)."""
        if not needed:
            return
        if self.year_index is not None:
            self.columns.append(LayoutColumn(self.written(self.year_index), "month", HOW_YEAR_COLUMN))
        elif self.year is not None:
            self.columns.append(LayoutColumn(self.year.text, "month", self.year.how))
        else:
            self.columns.append(LayoutColumn("", "month", HOW_NO_YEAR))

    def row_year(self, cells: list[Any]) -> int | Unresolved:
        self.year_used = True
        if self.year_index is not None:
            cell = cells[self.year_index] if self.year_index < len(cells) else None
            if not is_blank(cell) or self.year is None:
                return _row_year(cell, self.written(self.year_index))
        if self.year is not None:
            return self.year.year
        return _no_year(self.sheet)

    def data(self) -> list[tuple[int, list[Any]]]:
        return self.sheet.rows[self.header_index + 1 :]

    def done(self, header: list[Any], rows: list[tuple[int, list[Any]]], generated: tuple[str, ...], layout: str) -> Reshaped:
        above = self.sheet.rows[: self.header_index]
        number = self.sheet.rows[self.header_index][0]
        sheet = replace(self.sheet, rows=[*above, (number, header), *rows])
        return Reshaped(sheet, self.columns, generated, layout)


def _month_text(year: int | Unresolved, month: int) -> Any:
    return year if isinstance(year, Unresolved) else f"{year:04d}-{month:02d}"


class _Wide(_Layout):
    """A column per month → a row per month."""

    def run(self) -> Reshaped:
        table, header = self.table, self.header
        months = _month_columns(header)
        value_column = WIDE_VALUE[table.name]
        value_label = table.columns[value_column].label
        dropped: set[int] = set(months) | ({self.year_index} if self.year_index is not None else set())
        renamed: dict[int, str] = {}
        has_due = "amount_due" in self.mapped.values()
        for index, column in sorted(self.mapped.items()):
            if column != value_column or index in months:
                continue
            key = normalize_header(cell_text(header[index]))  # brackets kept: `实交金额（全年）` is a total
            if table.name == "dues" and not has_due and not any(w in key for w in TOTAL_WORDS):
                renamed[index] = table.columns["amount_due"].label  # the month's amount due, beside paid months
                self.columns.append(LayoutColumn(self.written(index), "amount_due", HOW_WIDE_DUE))
                has_due = True
            else:
                dropped.add(index)  # a yearly total beside the months: never read as a month's value
                self.columns.append(LayoutColumn(self.written(index), None, HOW_UNUSED))
        for index in sorted(months):
            self.columns.append(LayoutColumn(self.written(index), value_column, HOW_WIDE_MONTH))
        self.note_year(any(year is None for year, _ in months.values()))
        kept = [i for i in range(self.width) if i not in dropped]
        new_header = [renamed.get(i, header[i]) for i in kept] + [self.month_label, value_label]
        rows: list[tuple[int, list[Any]]] = []
        for number, cells in self.data():
            if all(is_blank(c) for c in cells):
                rows.append((number, cells))
                continue
            base = [cells[i] if i < len(cells) else None for i in kept]
            overflow = cells[self.width :]  # kept past the new header, so a ragged row stays ragged
            needs_year = any(year is None for year, _ in months.values())
            row_year = self.row_year(cells) if needs_year else 0
            for index, (year, month) in sorted(months.items()):
                value = cells[index] if index < len(cells) else None
                month_cell = _month_text(year if year is not None else row_year, month)
                rows.append((number, [*base, month_cell, value, *overflow]))
        generated = (self.month_label, value_label, *renamed.values())
        return self.done(new_header, rows, generated, "wide")


class _Range(_Layout):
    """A month range per row (one cell, or start and end columns) → a row per month."""

    def __init__(self, table, sheet, header_index, mapped, hint, ranged: list[int], starts: list[int], ends: list[int]):
        super().__init__(table, sheet, header_index, mapped, hint)
        self.range_index = ranged[0] if ranged else None
        self.start_index = starts[0] if starts and not ranged else None
        self.end_index = ends[0] if ends and not ranged and starts else None

    def run(self) -> Reshaped:
        header = self.header
        amounts = {
            i: any(w in header_key(header[i]) for w in MONTHLY_WORDS) for i, c in self.mapped.items() if c in RANGE_AMOUNTS
        }
        sources = [i for i in (self.range_index, self.start_index, self.end_index) if i is not None]
        for index in sources:
            self.columns.append(LayoutColumn(self.written(index), "month", HOW_RANGE))
        dropped = set(sources[1:]) | ({self.year_index} if self.year_index is not None else set())
        position = sources[0]
        kept = [i for i in range(self.width) if i not in dropped]
        new_header = [self.month_label if i == position else header[i] for i in kept]
        split = [i for i, monthly in amounts.items() if not monthly]
        rows: list[tuple[int, list[Any]]] = []
        for number, cells in self.data():
            if all(is_blank(c) for c in cells):
                rows.append((number, cells))
                continue
            padded = [cells[i] if i < len(cells) else None for i in range(self.width)]
            months = self.months(padded)
            if isinstance(months, Unresolved):
                out = [months if i == position else padded[i] for i in kept]
                rows.append((number, [*out, *cells[self.width :]]))
                continue
            shares = {i: _shares(padded[i], len(months)) for i in split}
            for k, (year, month) in enumerate(months):
                out = []
                for i in kept:
                    if i == position:
                        out.append(f"{year:04d}-{month:02d}")
                    elif i in shares and shares[i] is not None:
                        out.append(shares[i][k])
                    else:
                        out.append(padded[i])
                rows.append((number, [*out, *cells[self.width :]]))
        self.note_year(self.year_used)
        generated = (self.month_label,) if self.month_label not in {cell_text(header[i]) for i in kept if i != position} else ()
        reshaped = self.done(new_header, rows, generated, "range")
        reshaped.split = tuple(self.written(i) for i in split)
        return reshaped

    def months(self, cells: list[Any]) -> list[tuple[int, int]] | Unresolved:
        """The months a row covers, or why they cannot be told."""
        if self.range_index is not None:
            raw = cells[self.range_index]
            text = cell_text(raw)
            if is_blank(raw):
                return Unresolved(Reason.REQUIRED_BLANK, "", label=self.written(self.range_index))
            start, end = _range_ends(text)
        else:
            assert self.start_index is not None
            raw, end_raw = cells[self.start_index], cells[self.end_index] if self.end_index is not None else None
            if is_blank(raw):
                return Unresolved(Reason.REQUIRED_BLANK, "", label=self.written(self.start_index))
            text = cell_text(raw) + ("" if is_blank(end_raw) else "-" + cell_text(end_raw))
            start = _month_of(raw, None)
            end = start if is_blank(end_raw) else _month_of(end_raw, start[0] if isinstance(start, tuple) else None)
        if start is None or end is None:
            return Unresolved(Reason.BAD_RANGE, text, value=text)
        year_of = self.row_year(cells) if start[0] is None or end[0] is None else 0
        start, end = _with_year(start, year_of), _with_year(end, year_of)
        if isinstance(start, Unresolved) or isinstance(end, Unresolved):
            return start if isinstance(start, Unresolved) else end
        count = (end[0] - start[0]) * 12 + end[1] - start[1] + 1
        if count < 1:
            return Unresolved(Reason.RANGE_REVERSED, text, value=text)
        if count > MAX_RANGE_MONTHS:
            return Unresolved(Reason.RANGE_TOO_LONG, text, value=text, months=count, limit=MAX_RANGE_MONTHS)
        first = start[0] * 12 + start[1] - 1
        return [((first + k) // 12, (first + k) % 12 + 1) for k in range(count)]


def _range_ends(text: str) -> tuple[tuple[int | None, int] | None, tuple[int | None, int] | None]:
    """The two ends of a range cell, split at the first separator both sides of which are months
    (`2019-01-2019-06` splits at its middle dash); a single month is both ends."""
    single = _month_of(text, None)
    if single is not None:
        return single, single
    for separator in _RANGE_SPLIT.finditer(text):
        start = _month_of(text[: separator.start()], None)
        if start is None:
            continue
        end = _month_of(text[separator.end() :], start[0])
        if end is not None:
            return start, end
    return None, None


def _month_of(raw: Any, year: int | None) -> tuple[int | None, int] | None:
    """``(year, month)`` of one end of a range; the year None when the text has none (``6月``)."""
    if hasattr(raw, "year") and hasattr(raw, "month"):
        return raw.year, raw.month
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = cell_text(raw).replace(" ", "")
    if re.fullmatch(r"\d{6}", text):
        found: tuple[int | None, int] = (int(text[:4]), int(text[4:]))
    else:
        match = _YM_PART.match(text)
        if match is None:
            parsed = parse_month(raw)  # a full date (`2019-01-15`, `2019/1/15`) or an Excel serial
            return (parsed.value.year, parsed.value.month) if parsed.ok else None
        found = (int(match.group("year")) if match.group("year") else year, int(match.group("month")))
    if not 1 <= found[1] <= 12 or (found[0] is not None and not 1921 <= found[0] <= 2100):
        return None
    return found


def _with_year(found: tuple[int | None, int], year: int | Unresolved) -> tuple[int, int] | Unresolved:
    if found[0] is not None:
        return found[0], found[1]
    return year if isinstance(year, Unresolved) else (year, found[1])


def _shares(raw: Any, count: int) -> list[float] | None:
    """A range's total split evenly over its months, to the cent (the first months take the odd
    cents, so the shares add up to the total); None when the cell is not a plain amount."""
    if is_blank(raw):
        return None
    parsed = parse_number(raw)
    if not parsed.ok or parsed.value < 0:
        return None
    cents = round(parsed.value * 100)
    base, extra = divmod(cents, count)
    return [(base + (1 if k < extra else 0)) / 100 for k in range(count)]
