"""Spreadsheets written as markup: the content of an .ods (checked before calamine reads it), HTML
tables and SpreadsheetML 2003 saved with an .xls name (read here, cell by cell).

Every reader streams its input once and refuses it against ``Limits`` as soon as a limit is
passed — rows, columns, cells as they are built, the length of one text — so a file of a few
kilobytes that declares a million repeated rows or a colspan of a billion never gets built.
XML entity declarations are refused (they could expand past any count).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import IO, Any
from xml.parsers import expat

from audit.limits import Limits
from audit.reasons import Reason
from audit.refusal import Refused, over, where

CHUNK = 1 << 18


def _local(name: str) -> str:
    """`table:table-row` -> `table-row`; names are compared without their prefix."""
    return name.rpartition(":")[2]


def _whole(text: str | None, default: int = 1) -> int:
    """A repeat or span count as written (`3`), or ``default`` when absent or not a whole number."""
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return default
    return value if value >= 1 else default


def _refuse_entities(*_: object) -> None:
    raise Refused(Reason.FILE_BROKEN_XLSX, detail="含有 XML 实体声明（可被用来无限展开内容）")


def _expat(start: Callable[..., None], end: Callable[..., None], text: Callable[[str], None]) -> Any:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    parser.EntityDeclHandler = _refuse_entities
    parser.UnparsedEntityDeclHandler = _refuse_entities
    return parser


def _feed(parser: Any, source: IO[bytes] | bytes) -> None:
    """Feed bytes (or a stream of them) to an expat parser; a syntax error is a broken file."""
    try:
        if isinstance(source, bytes):
            for at in range(0, len(source), CHUNK):
                parser.Parse(source[at : at + CHUNK], False)
        else:
            while chunk := source.read(CHUNK):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise Refused(
            Reason.FILE_BROKEN_XLSX, detail=f"XML 格式错误：{expat.ErrorString(exc.code)}，第 {exc.lineno} 行"
        ) from None


# --- .ods content ---------------------------------------------------------------------------------


@dataclass
class OdsTable:
    """One table of an .ods as the scan saw it: its name and merged ranges."""

    name: str
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)


class _OdsScan:
    """Counts what calamine will build from content.xml: for each table, the range from its first
    to its last non-empty cell with repeated rows and columns expanded (calamine builds every
    table when it opens the file, so all tables count together against the cells limit)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.tables: list[OdsTable] = []
        self.total = 0
        self.depth = 0  # elements open inside the current cell (its content)
        self.in_table = False
        self.row = 0  # 0-based index of the current row
        self.repeat_rows = 1
        self.col = 0
        self.cell: tuple[int, int, bool] | None = None  # first column, repeats, non-empty
        self.text = 0
        self.row_last = -1  # last column with a value in the current row

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.cell is not None:
            self.depth += 1
            return
        local = _local(name)
        if local == "table" and not self.in_table:
            self.in_table = True
            self.tables.append(OdsTable(next((v for k, v in attrs.items() if _local(k) == "name"), "")))
            self.row, self.bottom, self.right = 0, -1, -1
        elif local == "table-row" and self.in_table:
            self.repeat_rows = next((_whole(v) for k, v in attrs.items() if _local(k) == "number-rows-repeated"), 1)
            self.col, self.row_last = 0, -1
        elif local in ("table-cell", "covered-table-cell") and self.in_table:
            repeats, filled = 1, False
            spans = [1, 1]
            for key, value in attrs.items():
                key = _local(key)
                if key == "number-columns-repeated":
                    repeats = _whole(value)
                elif key in ("value-type", "formula"):
                    filled = True
                elif key == "number-columns-spanned":
                    spans[1] = _whole(value)
                elif key == "number-rows-spanned":
                    spans[0] = _whole(value)
                if len(value) > self.limits.field:
                    raise over(Reason.FILE_FIELD_TOO_LONG, "", self.limits.field, where=where(self.row + 1), unit="字节")
            if spans != [1, 1] and local == "table-cell":
                self.tables[-1].merged.append((self.row, self.col, self.row + spans[0] - 1, self.col + spans[1] - 1))
            self.cell, self.text = (self.col, repeats, filled), 0

    def end(self, name: str) -> None:
        if self.cell is not None and self.depth:
            self.depth -= 1
            return
        local = _local(name)
        if self.cell is not None and local in ("table-cell", "covered-table-cell"):
            first, repeats, filled = self.cell
            self.cell = None
            self.col = first + repeats
            if filled or self.text:
                if self.col > self.limits.columns:
                    where_ = where(self.row + 1)
                    raise over(Reason.FILE_TOO_MANY_COLUMNS, self.col, self.limits.columns, where=where_)
                self.row_last = self.col - 1
        elif local == "table-row" and self.in_table:
            if self.row_last >= 0:
                self.bottom = self.row + self.repeat_rows - 1
                self.right = max(self.right, self.row_last)
                if self.bottom + 1 > self.limits.rows:
                    raise over(Reason.FILE_TOO_MANY_ROWS, self.bottom + 1, self.limits.rows)
                self._check_cells(self.total + (self.bottom + 1) * (self.right + 1))
            self.row += self.repeat_rows
        elif local == "table" and self.in_table:
            self.in_table = False
            if self.bottom >= 0:
                self.total += (self.bottom + 1) * (self.right + 1)  # the grid from A1, as the rows are handed on

    def _check_cells(self, cells: int) -> None:
        if cells > self.limits.cells:
            raise over(Reason.FILE_TOO_MANY_CELLS, cells, self.limits.cells)

    def chars(self, data: str) -> None:
        if self.cell is not None:
            self.text += len(data)
            if self.text > self.limits.field:
                raise over(Reason.FILE_FIELD_TOO_LONG, "", self.limits.field, where=where(self.row + 1), unit="字符")


def scan_ods_content(part: IO[bytes], limits: Limits) -> list[OdsTable]:
    """Check an .ods's content.xml against ``limits`` before calamine reads it; the tables in
    document order with their merged ranges (calamine does not report them for .ods)."""
    scan = _OdsScan(limits)
    _feed(_expat(scan.start, scan.end, scan.chars), part)
    return scan.tables


# --- text of a markup file -----------------------------------------------------------------------

_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_\-]+)["']""")


def _codec(name: str) -> str:
    name = name.lower()
    return "gb18030" if name in ("gb2312", "gbk", "gb18030", "x-gbk", "cp936", "ms936") else name


def decode_markup(data: bytes) -> str | None:
    """Text of an HTML or XML file: its byte-order mark, else its declared charset, else UTF-8,
    else GB18030 (what Chinese systems write without saying so); None when nothing fits."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        head = data[:4096]
        declared = _XML_ENCODING.match(head) or _CHARSET.search(head)
        candidates = [_codec(declared.group(1).decode("ascii"))] if declared else []
        candidates += ["utf-8", "gb18030"]
    for codec in dict.fromkeys(candidates):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


# --- grids built cell by cell ---------------------------------------------------------------------


@dataclass
class Grid:
    """One table read from markup: rows as Excel/WPS would number them, merged ranges, visibility."""

    name: str
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    hidden: bool = False


class _Builder:
    """Places cells into rows while counting them against the limits: rows up to the highest row
    number, every position up to the last cell of a row (spans filled with blanks), text length."""

    def __init__(self, limits: Limits, name: str):
        self.limits = limits
        self.grid = Grid(name)
        self.cells = 0

    def row(self, number: int) -> list[Any]:
        """The row numbered ``number`` (1-based), adding it and any empty rows before it."""
        rows = self.grid.rows
        if number > self.limits.rows:
            raise over(Reason.FILE_TOO_MANY_ROWS, number, self.limits.rows)
        if rows and number <= rows[-1][0]:
            return next(cells for n, cells in reversed(rows) if n == number) if number >= rows[0][0] else []
        start = rows[-1][0] + 1 if rows else 1
        rows.extend((n, []) for n in range(start, number + 1))
        return rows[-1][1]

    def put(self, cells: list[Any], number: int, column: int, value: Any, width: int = 1) -> None:
        """Put ``value`` at 0-based ``column`` of a row, the next ``width - 1`` positions blank."""
        end = column + width
        if end > self.limits.columns:
            raise over(Reason.FILE_TOO_MANY_COLUMNS, end, self.limits.columns, where=where(number))
        if isinstance(value, str) and len(value) > self.limits.field:
            raise over(Reason.FILE_FIELD_TOO_LONG, "", self.limits.field, where=where(number), unit="字符")
        grown = max(0, end - len(cells))
        self.cells += grown
        if self.cells > self.limits.cells:
            raise over(Reason.FILE_TOO_MANY_CELLS, f"{self.limits.cells + 1:,} 以上", self.limits.cells)
        cells.extend([None] * grown)
        cells[column] = value


def _add_text(text: list[str], length: int, data: str, limits: Limits, number: int) -> int:
    """Appends a piece of a cell's text (a parser hands it over in pieces) and returns the text's
    length so far; a text longer than the field limit is refused before it is all held."""
    text.append(data)
    length += len(data)
    if length > limits.field:
        raise over(Reason.FILE_FIELD_TOO_LONG, "", limits.field, where=where(number), unit="字符")
    return length


# --- HTML tables ---------------------------------------------------------------------------------


class _HtmlTables(HTMLParser):
    """Every top-level `<table>` as a grid; colspan/rowspan placed as a browser places them."""

    def __init__(self, limits: Limits):
        super().__init__(convert_charrefs=True)
        self.limits = limits
        self.grids: list[Grid] = []
        self.depth = 0
        self.builder: _Builder | None = None
        self.number = 0  # the current row's number (1-based)
        self.cells: list[Any] | None = None
        self.column = 0
        self.spans: list[list[int]] = []  # [first column, last column, rows below still covered]
        self.starting: list[list[int]] = []  # spans of the current row's cells, active from the next row
        self.text: list[str] | None = None
        self.length = 0
        self.span = (1, 1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.depth += 1
            if self.depth == 1:
                self.builder = _Builder(self.limits, f"表{len(self.grids) + 1}")
                self.number, self.spans, self.starting = 0, [], []
        elif self.depth != 1 or self.builder is None:
            if tag == "br" and self.text is not None:
                self.text.append("\n")
        elif tag == "tr":
            self._end_row()
            self.number += 1
            self.cells = self.builder.row(self.number)
            self.column = 0
        elif tag in ("td", "th"):
            self._end_cell()
            if self.cells is None:  # a cell outside any row starts one
                self.handle_starttag("tr", [])
            values = dict(attrs)
            self.span = (_whole(values.get("rowspan")), _whole(values.get("colspan")))
            self.text, self.length = [], 0
        elif tag == "br" and self.text is not None:
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            if self.depth == 1:
                self._end_row()
                self._end_table()
            self.depth = max(0, self.depth - 1)
        elif self.depth == 1 and tag in ("td", "th"):
            self._end_cell()
        elif self.depth == 1 and tag == "tr":
            self._end_row()

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.length = _add_text(self.text, self.length, data, self.limits, self.number)

    def _end_cell(self) -> None:
        if self.text is None or self.cells is None or self.builder is None:
            return
        text = "\n".join(" ".join(line.split()) for line in "".join(self.text).split("\n")).strip()
        self.text = None
        rows, cols = self.span
        column = self._free(self.column)
        self.builder.put(self.cells, self.number, column, text or None, cols)
        if rows > 1 or cols > 1:
            self.builder.grid.merged.append((self.number - 1, column, self.number - 2 + rows, column + cols - 1))
        if rows > 1:
            self.starting.append([column, column + cols - 1, rows - 1])
        self.column = column + cols

    def _free(self, column: int) -> int:
        """The first column from ``column`` not covered by a rowspan from a row above."""
        moved = True
        while moved:
            moved = False
            for first, last, _ in self.spans:
                if first <= column <= last:
                    column, moved = last + 1, True
        return column

    def _end_row(self) -> None:
        self._end_cell()
        if self.cells is not None:
            for span in self.spans:
                span[2] -= 1
            self.spans = [span for span in self.spans if span[2] > 0] + self.starting
            self.starting = []
        self.cells = None

    def _end_table(self) -> None:
        if self.builder is None:
            return
        grid = self.builder.grid
        last = grid.rows[-1][0] - 1 if grid.rows else 0
        grid.merged = [(r0, c0, min(r1, last), c1) for r0, c0, r1, c1 in grid.merged]
        self.grids.append(grid)
        self.builder = None


def read_html(text: str, limits: Limits) -> list[Grid]:
    """The tables of an HTML page (one saved with an .xls name by a system or by Excel's 'web
    page' export), text as shown: whitespace collapsed, `<br>` as a line break."""
    parser = _HtmlTables(limits)
    for at in range(0, len(text), CHUNK):
        parser.feed(text[at : at + CHUNK])
    parser.close()
    while parser.depth:  # a table left open at the end of the file
        parser.handle_endtag("table")
    return parser.grids


# --- SpreadsheetML 2003 ----------------------------------------------------------------------------


def _typed(kind: str, text: str) -> Any:
    """A SpreadsheetML `<Data ss:Type=…>` as calamine would return the same cell from .xls."""
    if kind == "Number":
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "DateTime":
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            return text
        return moment.date() if moment.time() == dt.time() else moment
    if kind == "Boolean":
        return text.strip() not in ("0", "", "false", "FALSE")
    return text


class _SpreadsheetML:
    """`Workbook > Worksheet > Table > Row > Cell > Data`, with ss:Index jumps, MergeAcross and
    MergeDown, and a formula saved without its value kept as such."""

    def __init__(self, limits: Limits, formula: Callable[[str], Any]):
        self.limits, self.formula = limits, formula
        self.grids: list[Grid] = []
        self.builder: _Builder | None = None
        self.number = 0
        self.cells: list[Any] | None = None
        self.column = 0
        self.cell: dict[str, str] | None = None
        self.kind = ""
        self.text: list[str] | None = None
        self.length = 0
        self.options: list[str] | None = None
        self.value: Any = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "Worksheet":
            title = next((v for k, v in attrs.items() if _local(k) == "Name"), "")
            self.builder, self.number = _Builder(self.limits, title or f"Sheet{len(self.grids) + 1}"), 0
        elif self.builder is None:
            return
        elif local == "Row":
            index = next((_whole(v, 0) for k, v in attrs.items() if _local(k) == "Index"), 0)
            self.number = index or self.number + 1
            self.cells, self.column = self.builder.row(self.number), 0
        elif local == "Cell" and self.cells is not None:
            self.cell = {_local(k): v for k, v in attrs.items()}
            index = _whole(self.cell.get("Index"), 0)
            self.column = index - 1 if index else self.column
            self.value = None
        elif local == "Data" and self.cell is not None:
            self.kind = next((v for k, v in attrs.items() if _local(k) == "Type"), "String")
            self.text, self.length = [], 0
        elif local == "Visible":
            self.options = []

    def end(self, name: str) -> None:
        local = _local(name)
        if self.builder is None:
            return
        if local == "Data" and self.text is not None:
            self.value = _typed(self.kind, "".join(self.text))
            self.text = None
        elif local == "Cell" and self.cell is not None and self.cells is not None:
            cell, self.cell = self.cell, None
            value = self.value
            if value is None and cell.get("Formula"):
                value = self.formula(cell["Formula"])
            across, down = _whole(cell.get("MergeAcross"), 0), _whole(cell.get("MergeDown"), 0)
            self.builder.put(self.cells, self.number, self.column, value, across + 1)
            if across or down:
                row = self.number - 1
                self.builder.grid.merged.append((row, self.column, row + down, self.column + across))
            self.column += across + 1
        elif local == "Row":
            self.cells = None
        elif local == "Visible" and self.options is not None:
            self.builder.grid.hidden = "".join(self.options).strip() in ("SheetHidden", "SheetVeryHidden")
            self.options = None
        elif local == "Worksheet":
            self.grids.append(self.builder.grid)
            self.builder = None

    def chars(self, data: str) -> None:
        if self.text is not None:
            self.length = _add_text(self.text, self.length, data, self.limits, self.number)
        elif self.options is not None:
            self.options.append(data)


def read_spreadsheetml(data: bytes, limits: Limits, formula: Callable[[str], Any]) -> list[Grid]:
    """The worksheets of an Excel 2003 XML workbook (SpreadsheetML, often saved as .xls);
    ``formula`` wraps a formula saved without its value."""
    declared = _XML_ENCODING.match(data[:512])
    if declared and _codec(declared.group(1).decode("ascii")) not in ("utf-8", "utf-16", "us-ascii", "iso-8859-1"):
        text = decode_markup(data)  # expat reads UTF-8 and UTF-16 only: re-encode GB2312 and the like
        if text is None:
            raise Refused(Reason.FILE_UNDECODABLE)
        data = _XML_ENCODING.sub(b'<?xml version="1.0" encoding="UTF-8"', text.encode("utf-8"), count=1)
    reader = _SpreadsheetML(limits, formula)
    _feed(_expat(reader.start, reader.end, reader.chars), data)
    return reader.grids
