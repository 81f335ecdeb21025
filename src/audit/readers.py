"""Read a batch folder into raw sheets: a grid of cells per CSV file or workbook sheet.

Nothing here interprets the cells beyond decoding; it only decides which files are tables, and
reports files it cannot open as ``FileProblem`` instead of raising.

Workbooks (.xlsx, .xlsm, .xls, .xlsb, .ods, WPS .et) are read by python-calamine, the format
chosen from the file's content, not its name; HTML tables and SpreadsheetML 2003 saved as .xls
are read cell by cell (``audit.markup``); openpyxl reads only the .xlsx sheets calamine cannot
keep whole (a formula saved without its value, an error value, a sparse sheet).

Files come from people and systems the reviewer does not control, so reading is defensive:
only regular files inside the batch are opened (symbolic links, pipes, sockets and devices are
listed as skipped, never followed or opened), and every file is checked against ``Limits``
before the expensive step — the zip directory before a workbook is inflated, one streaming pass
over each workbook part (or the records of a binary workbook) before calamine builds a sheet, a
line count and the first line's width before a CSV is decoded. A file over a limit becomes a
``FileProblem`` naming the limit.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import gc
import hashlib
import io
import os
import posixpath
import re
import stat
import struct
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from audit.binary import (
    SIGNATURE,
    Compound,
    relation_targets,
    scan_biff,
    scan_xlsb_sheet,
    scan_xlsb_strings,
    workbook_stream,
    xlsb_sheet_relations,
)
from audit.limits import RATIO_GRACE, Limits
from audit.markup import scan_ods_content
from audit.reasons import Reason
from audit.refusal import Refused as _Refused
from audit.refusal import over as _over
from audit.refusal import where as _where

# Read by content whatever the name says; `.et` is WPS's own (BIFF or zip inside).
TABLE_SUFFIXES = {".csv", ".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".et"}
CHUNK = 1 << 18  # bytes read at a time by the streaming checks (even: UTF-16 stays aligned)


@dataclass
class RawSheet:
    """The cells of one CSV file or one worksheet. ``rows`` pairs each row with its number as the
    user sees it in Excel/WPS (1-based, title and header rows counted)."""

    file: str
    sheet: str
    name_hint: str  # the sheet name, or the file stem for CSV
    stem: str
    rows: list[tuple[int, list[Any]]]
    encoding: str = ""
    hidden: bool = False
    # canonical column -> (raw value, how): a value every data row takes when the sheet has no
    # such column (mapping file, a year in the title or name); filled before ingestion
    fixed: dict[str, tuple[Any, str]] = field(default_factory=dict)
    # every merged range as (first_row, first_col, last_row, last_col), 0-based: row 0 is the row
    # numbered 1 in ``rows``; empty for CSV
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)


@dataclass
class FileProblem:
    """A file or sheet that was not read; ``context`` fills the reason's message template."""

    file: str
    sheet: str
    reason: Reason
    detail: str = ""
    context: dict[str, object] = field(default_factory=dict)

    def message(self) -> str:
        return self.reason.render(detail=self.detail, **self.context)


@dataclass
class Skipped:
    file: str
    sheet: str
    why: str


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector held off while a sheet's rows are built or parsed: millions of
    small lists of cells, none in a cycle, would otherwise set off full collections that walk
    every row read so far (a third of a district's ingest). The previous state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- terminal ------------------------------------------------------------------------------------


def printable(text: object) -> str:
    """Batch text made safe to print through rich: ID and mobile numbers masked, control
    characters (escape sequences, bidi overrides) shown escaped as ``\\x1b``, and rich markup
    escaped so ``[red]`` prints as written."""
    from rich.markup import escape

    from audit.privacy import mask_personal, visible

    return escape(visible(mask_personal(str(text))))


# --- the batch folder ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One name below the batch folder: a regular file to read (``why`` empty) or something that
    is listed as skipped and never opened (``why`` says what it is)."""

    rel: str
    path: Path
    why: str = ""


_NOT_REGULAR = (
    (stat.S_ISFIFO, "命名管道（FIFO），不是普通文件，未打开"),
    (stat.S_ISSOCK, "套接字，不是普通文件，未打开"),
    (stat.S_ISCHR, "设备文件，不是普通文件，未打开"),
    (stat.S_ISBLK, "设备文件，不是普通文件，未打开"),
)


def entries(batch: Path) -> list[Entry]:
    """Every name below the batch folder in a stable order, without following symbolic links.
    Hidden names (starting with `.`) are ignored, as are the folders holding them."""
    found: list[Entry] = []
    pending = [(batch, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            listing = list(os.scandir(folder))
        except OSError as exc:
            if prefix:  # the batch folder itself is checked by the caller
                found.append(Entry(prefix.rstrip("/"), folder, f"无法读取文件夹（{exc.strerror or exc}）"))
            continue
        for item in listing:
            if item.name.startswith("."):
                continue
            rel, path = prefix + item.name, Path(item.path)
            try:
                mode = item.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                found.append(Entry(rel, path, f"无法读取（{exc.strerror or exc}）"))
                continue
            if stat.S_ISDIR(mode):
                pending.append((path, rel + "/"))
            elif stat.S_ISREG(mode):
                found.append(Entry(rel, path))
            elif stat.S_ISLNK(mode):
                found.append(Entry(rel, path, "符号链接，未跟随（可能指向批次文件夹之外）"))
            else:
                why = next((text for test, text in _NOT_REGULAR if test(mode)), "不是普通文件，未打开")
                found.append(Entry(rel, path, why))
    return sorted(found, key=lambda e: e.rel)


def discover(batch: Path) -> list[Path]:
    """Every regular file below the batch folder, in a stable order: what is read and hashed."""
    return [e.path for e in entries(batch) if not e.why]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_regular(path: Path) -> IO[bytes]:
    """Open a file for reading only if it is a regular file and not a symbolic link (checked on
    the open descriptor, so a file swapped for a link or a pipe after listing is not followed,
    and opening a pipe never blocks)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(0, "不是普通文件")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


# --- limits --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """``csv.field_size_limit`` is process-wide: set it for one parse, then put it back."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


# --- CSV -----------------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str] | None:
    """Decode CSV bytes as the contract allows; returns (text, encoding) or None."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return None


def _looks_binary(data: bytes) -> bool:
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return b"\x00" in head or head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0"))


def _csv_units(head: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """The bytes of a line feed, a carriage return, a comma and a tab in the file's encoding
    (UTF-16 or ASCII-compatible)."""
    if head.startswith(b"\xff\xfe"):
        return b"\n\x00", b"\r\x00", b",\x00", b"\t\x00"
    if head.startswith(b"\xfe\xff"):
        return b"\x00\n", b"\x00\r", b"\x00,", b"\x00\t"
    return b"\n", b"\r", b",", b"\t"


def _precheck_csv(handle: IO[bytes], limits: Limits) -> None:
    """Before decoding: count the lines and the first line's columns in one streaming pass over
    the bytes (memory stays at one chunk, whatever the file holds)."""
    head = handle.read(CHUNK)
    newline, carriage, comma, tab = _csv_units(head)
    lines, returns, first_done, commas, tabs, last = 0, 0, False, 0, 0, b""
    chunk = head
    while chunk:
        if not first_done:
            ends = [at for at in (chunk.find(newline), chunk.find(carriage)) if at >= 0]
            end = min(ends) if ends else -1
            part = chunk if end < 0 else chunk[:end]
            commas, tabs = commas + part.count(comma), tabs + part.count(tab)
            first_done = end >= 0
            if first_done and max(commas, tabs) + 1 > limits.columns:
                raise _over(Reason.FILE_TOO_MANY_COLUMNS, max(commas, tabs) + 1, limits.columns, where=_where(1))
        lines += chunk.count(newline)
        returns += chunk.count(carriage)  # lines of a file that ends them with CR alone
        last = chunk[-len(newline) :]
        chunk = handle.read(CHUNK)
    if not first_done and max(commas, tabs) + 1 > limits.columns:  # one line, no line break
        raise _over(Reason.FILE_TOO_MANY_COLUMNS, max(commas, tabs) + 1, limits.columns, where=_where(1))
    rows = max(lines, returns) + (0 if last in (newline, carriage) else 1)
    if rows > limits.rows:
        raise _over(Reason.FILE_TOO_MANY_ROWS, rows, limits.rows)


class _LineCheck:
    """Feeds a CSV's lines to the parser, refusing a record wider than the columns limit before
    the parser builds it (a record can span lines inside quotes, hence the running count)."""

    def __init__(self, delimiter: str, limits: Limits):
        self.delimiter, self.limits = delimiter, limits
        self.line = 0
        self.pending = 0  # delimiters seen since the last complete record

    def lines(self, source: Iterable[str]) -> Iterator[str]:
        for line in source:
            self.line += 1
            self.pending += line.count(self.delimiter)
            if self.pending + 1 > self.limits.columns:
                raise _over(Reason.FILE_TOO_MANY_COLUMNS, self.pending + 1, self.limits.columns, where=_where(self.line))
            yield line


def read_csv(path: Path, rel: str, limits: Limits | None = None) -> RawSheet | FileProblem:
    """One CSV file as a raw sheet, or the reason it was not read (checked against ``limits``)."""
    limits = limits or Limits()
    try:
        with _open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.size:
                raise _over(Reason.FILE_TOO_LARGE, size, limits.size)
            if _looks_binary(handle.read(4096)):
                return FileProblem(rel, "", Reason.FILE_BINARY)
            handle.seek(0)
            _precheck_csv(handle, limits)
            handle.seek(0)
            data = handle.read()
        if not data or data.isspace():
            return FileProblem(rel, "", Reason.FILE_EMPTY)
        decoded = decode(data)
        del data
        if decoded is None:
            return FileProblem(rel, "", Reason.FILE_UNDECODABLE)
        text, encoding = decoded
        end = text.find("\n")
        first_line = text if end < 0 else text[:end]
        delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
        check = _LineCheck(delimiter, limits)
        rows: list[tuple[int, list[Any]]] = []
        cells = 0
        with _csv_field_limit(limits.field), gc_paused():
            reader = csv.reader(check.lines(io.StringIO(text, newline="")), delimiter=delimiter)
            try:
                for number, record in enumerate(reader, start=1):
                    check.pending = 0
                    if number > limits.rows:  # line breaks the count above did not see
                        raise _over(Reason.FILE_TOO_MANY_ROWS, f"{limits.rows + 1:,} 以上", limits.rows)
                    cells += len(record)
                    if cells > limits.cells:
                        raise _over(Reason.FILE_TOO_MANY_CELLS, f"{limits.cells + 1:,} 以上", limits.cells)
                    rows.append((number, record))
            except csv.Error as exc:
                if "field limit" in str(exc):
                    raise _over(Reason.FILE_FIELD_TOO_LONG, "", limits.field, where=_where(check.line), unit="字符") from None
                return FileProblem(rel, "", Reason.FILE_UNREADABLE, f"CSV 格式错误：{exc}")
    except _Refused as refused:
        return _problem(refused, rel)
    except OSError as exc:
        return FileProblem(rel, "", Reason.FILE_UNREADABLE, exc.strerror or str(exc))
    return RawSheet(rel, "", path.stem, path.stem, rows, encoding)


# --- workbooks: the zip directory ----------------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_ENTRY = 46  # bytes of a central directory entry without its name
_ENTRY_ROOM = 1024  # bytes of directory allowed per part (real entries take about 100)


def _check_zip_directory(handle: IO[bytes], size: int, limits: Limits) -> None:
    """Refuse a workbook with too many parts from its end-of-directory record, before zipfile
    reads the directory itself (its memory grows with the entries; the record cannot lie about
    the directory's size without the directory failing to parse)."""
    tail_size = min(size, _EOCD.size + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return  # not a zip: zipfile says so
    _, _, _, _, entries_count, directory_size, _, _ = _EOCD.unpack_from(tail, at)
    if at >= _ZIP64_LOCATOR.size and tail[at - _ZIP64_LOCATOR.size : at - _ZIP64_LOCATOR.size + 4] == b"PK\x06\x07":
        _, _, record_at, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        handle.seek(record_at)
        record = handle.read(_ZIP64_EOCD.size)
        if len(record) == _ZIP64_EOCD.size and record.startswith(b"PK\x06\x06"):
            values = _ZIP64_EOCD.unpack(record)
            entries_count, directory_size = values[7], values[8]
    if entries_count > limits.parts:
        raise _over(Reason.FILE_TOO_MANY_PARTS, entries_count, limits.parts)
    if directory_size > limits.parts * _ENTRY_ROOM:  # a directory far larger than its count says
        raise _over(Reason.FILE_TOO_MANY_PARTS, f"约 {directory_size // _CENTRAL_ENTRY:,}", limits.parts)


def _check_inflation(archive: zipfile.ZipFile, limits: Limits) -> None:
    """Refuse a zip bomb from the directory alone: the total inflated size, and any large part
    that inflates far more than real spreadsheet XML (about 15 times) does."""
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    if total > limits.unzipped:
        raise _over(Reason.FILE_UNZIPPED_TOO_LARGE, total, limits.unzipped)
    for info in infos:
        if info.file_size > RATIO_GRACE and info.file_size > limits.ratio * max(info.compress_size, 1):
            raise _over(Reason.FILE_ZIP_RATIO, info.file_size // max(info.compress_size, 1), limits.ratio)


# --- workbooks: one streaming pass over each part ------------------------------------------------

# The start tags that matter. The fast pattern finds unprefixed tags (every spreadsheet program
# writes them so) with a row's number when written first; anything else sends a chunk to the exact
# pattern, which takes any namespace prefix. Other tags starting with c, s or f (`cols`,
# `sheetData`) are found by the fast pattern and ignored.
_FAST_TOKEN = re.compile(rb'<(row(?: r="\d{1,18}")?|[csf][^\s/>]*)(?=[\s/>])')
_ROW_NUMBER = re.compile(rb'row r="(\d+)"')
_PREFIXED = re.compile(rb":(?:c|si|f|row)[\s/>]")
_TOKEN = re.compile(rb"<((?:[A-Za-z_][\w.\-]*:)?(?:c|si|f|row))(?=[\s/>])")
_ATTRIBUTE = re.compile(rb"""\s+([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XML_SPACE = b" \t\r\n"
_CELL_REF = re.compile(rb"\s*([A-Za-z]+)(\d+)\s*")
_CELL_COLUMNS = re.compile(rb'<c r="([A-Z]+)\d')
_CELL_ROWS = re.compile(rb'<c r="[A-Z]+0*(\d+)"')
_P = rb"(?:[\w.\-]+:)?"  # any namespace prefix
# a formula cell closed without a <v> holding its cached result (`~` stands for any prefix)
_FORMULA_NO_VALUE = re.compile(rb"(?:</~f>|<~f\b[^>]*/>)\s*(?:<~v\s*/>\s*|<~v>\s*</~v>\s*)?</~c>".replace(b"~", _P))
_ERROR_CELL = re.compile(rb"""<""" + _P + rb"""c\b[^>]*\st\s*=\s*["']e["']""")
_MERGE_CELL = re.compile(
    rb"""<""" + _P + rb"""mergeCell\b[^>]*?\sref\s*=\s*["']([A-Za-z]{1,3})(\d{1,18}):([A-Za-z]{1,3})(\d{1,18})["']"""
)


def _column_number(letters: bytes) -> int:
    """`A` -> 1, `Z` -> 26, `AA` -> 27, `XFD` -> 16384 (absurdly long references stay huge, not slow)."""
    if len(letters) > 12:
        return 2**62
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rem = divmod(number - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _row_value(digits: bytes) -> int:
    """A row number from a reference's digits (far too many digits stay huge: no slow conversion)."""
    return int(digits) if len(digits) <= 18 else 2**62


@functools.lru_cache(maxsize=64)
def _beyond_column(right: int) -> re.Pattern[bytes]:
    """A cell reference whose column comes after column number ``right`` (letters only)."""
    letters = _column_letters(right).encode() if right else b""
    options = [rb"[A-Z]{%d,}" % (len(letters) + 1)]
    for i, letter in enumerate(letters):
        if letter < ord("Z"):
            options.append(re.escape(letters[:i]) + b"[%c-Z]" % (letter + 1) + rb"[A-Z]{%d}" % (len(letters) - i - 1))
    return re.compile(rb'<c r="(?:' + b"|".join(options) + rb")\d")


class _PartScan:
    """Counts what calamine (or openpyxl) would build from one workbook part, from its bytes,
    without parsing it: cells and shared strings, the highest row number, the rightmost column of
    any cell (calamine builds a sheet as one grid from A1's side to its last cell), cells in one
    row, the longest run of text, merged ranges, and whether a cell holds a formula saved
    without its value or an error value (both read through openpyxl, which keeps them). A limit
    passed raises ``Refused`` at once, so a bomb is never inflated further than the chunk that
    shows it.

    Counting is an upper bound (a tag-like text inside a comment counts too), never less than what
    the parser will see: tags are found with or without a namespace prefix, in UTF-8 or UTF-16,
    and entity declarations, which could expand past any count, are refused."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.cells = 0
        self.row = 0  # number of the current row, as openpyxl numbers it
        self.max_row = 0
        self.row_cells = 0  # cells seen in the current row so far
        self.column = 0  # 1-based column of the last cell placed without a reference
        self.bottom = 0  # highest row of any cell, from its reference (1-based)
        self.right = 0  # rightmost column of any cell (1-based)
        self.formula_without_value = False
        self.errors = False
        self.marks = 0  # `<` of tags, start and end (comments and declarations count too)
        self.merged: list[tuple[int, int, int, int]] = []
        self.edge = b""  # the end of the previous chunk (a formula cell may straddle two)
        self.tail = b""  # an unfinished tag (or text run) carried to the next chunk
        self.decoder: codecs.IncrementalDecoder | None = None
        self.started = False
        self.is_xml = True

    @property
    def unexplained(self) -> int:
        """Elements its rows and cells do not account for (a row, and at most eight elements a
        cell: `c`, `v`, `f`, an inline string's `is`, `t` and a few rich-text runs), each element
        counted by the `<` of its start and end tags (an empty one has one: counted fully)."""
        return self.marks - 2 * max(self.max_row, self.bottom) - 16 * self.cells

    @property
    def grid(self) -> int:
        """Cells of the grid calamine builds: every row up to the last, every column up to the last."""
        return max(self.bottom, self.max_row) * self.right

    def feed(self, data: bytes, final: bool = False) -> None:
        if not self.started:
            data = self._start(data)
            if not self.is_xml:
                return
        if self.decoder is not None:
            data = self.decoder.decode(data, final).encode("utf-8")
        buf = self.tail + data if self.tail else data
        if final:
            head, self.tail = buf, b""
        else:
            cut = buf.rfind(b"<")
            cdata = buf.rfind(b"<![CDATA[", 0, cut + 1) if cut >= 0 else -1
            if cdata >= 0 and buf.find(b"]]>", cdata) < 0:
                cut = cdata  # an unfinished CDATA section holds `<` of its own: keep it whole
            if cut < 0:
                head, self.tail = b"", buf
            else:
                head, self.tail = buf[:cut], buf[cut:]
            if len(self.tail) > self.limits.field + 65536:
                raise _over(Reason.FILE_FIELD_TOO_LONG, "", self.limits.field, where=_where(None), unit="字节")
        if head:
            self._scan(head)

    def _start(self, data: bytes) -> bytes:
        """Recognise the part's encoding and whether it is XML at all (images are not parsed)."""
        self.started = True
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            codec = "utf-16"
        elif data[:1] == b"\x00":
            codec = "utf-16-be"
        elif data[1:2] == b"\x00":
            codec = "utf-16-le"
        else:
            codec = ""
        text = data[:256]
        if codec:
            self.decoder = codecs.getincrementaldecoder(codec)("replace")
            text = text.decode(codec, "replace").encode("utf-8")
        text = text.removeprefix(b"\xef\xbb\xbf").lstrip(_XML_SPACE)
        self.is_xml = not text or text.startswith(b"<")  # XML may start with white space
        return data

    def _scan(self, head: bytes) -> None:
        limits = self.limits
        if b"<!ENTITY" in head:
            raise _Refused(Reason.FILE_BROKEN_XLSX, detail="含有 XML 实体声明（可被用来无限展开内容）")
        self.marks += head.count(b"<")  # one pass over the bytes (a district's largest workbook: 0.3 s)
        if len(head) > limits.field:
            self._check_runs(head)
        elif b"<![CDATA[" in head:
            self._check_cdata(head)
        if _PREFIXED.search(head):
            self._scan_extras(head, self._scan_exact(head))
            return
        tokens = _FAST_TOKEN.findall(head)
        cells = tokens.count(b"c")
        if b"row" in tokens or self.row_cells + cells > limits.columns or head.count(b'<c r="') != cells:
            # a row without its number first, a cell without its reference first, a wide row
            self._scan_extras(head, self._scan_exact(head))
            return
        self._scan_extras(head, b"f" in tokens)
        if not tokens:
            return
        self._add_cells(cells + tokens.count(b"si"))
        numbers = [int(n) for n in _ROW_NUMBER.findall(b" ".join(tokens))]
        if numbers:
            self.row = numbers[-1]
            self._add_row(max(numbers))
            last = len(tokens) - 1
            while tokens[last][:1] != b"r":
                last -= 1
            self.row_cells = tokens[last:].count(b"c")
        else:
            self.row_cells += cells
        if cells:
            self._place_referenced(head)

    def _place_referenced(self, head: bytes) -> None:
        """The rightmost column and lowest row of cells that all carry their reference (calamine
        places a cell by its reference, whatever row it sits in): the column by searching only for
        one beyond what is known, the row as the largest number of the chunk's references."""
        if _beyond_column(self.right).search(head):
            self._add_column(max(map(_column_number, _CELL_COLUMNS.findall(head))), self.row)
        rows = _CELL_ROWS.findall(head)
        if rows:  # numbers of one length (the usual case) compare as bytes, without converting each
            self._add_bottom(_row_value(max(rows)) if len(set(map(len, rows))) == 1 else max(map(_row_value, rows)))

    def _scan_extras(self, head: bytes, formulas: bool) -> None:
        """Formulas saved without a value, error cells and merged ranges."""
        if formulas and _FORMULA_NO_VALUE.search(self.edge + head):
            self.formula_without_value = True
        self.edge = head[-512:]
        if not self.errors and b't="e"' in head and _ERROR_CELL.search(head):
            self.errors = True
        if b"mergeCell" in head:
            for first_col, first_row, last_col, last_row in _MERGE_CELL.findall(head):
                top, left = int(first_row) - 1, _column_number(first_col) - 1
                bottom, right = int(last_row) - 1, _column_number(last_col) - 1
                self.merged.append((min(top, bottom), min(left, right), max(top, bottom), max(left, right)))

    def _add_cells(self, count: int) -> None:
        self.cells += count
        if self.cells > self.limits.cells:
            raise _over(Reason.FILE_TOO_MANY_CELLS, f"{self.limits.cells + 1:,} 以上", self.limits.cells)

    def _add_row(self, number: int) -> None:
        if number > self.max_row:
            self.max_row = number
            if number > self.limits.rows:
                raise _over(Reason.FILE_TOO_MANY_ROWS, number, self.limits.rows)

    def _add_bottom(self, number: int) -> None:
        if number > self.bottom:
            self.bottom = number
            if number > self.limits.rows:
                raise _over(Reason.FILE_TOO_MANY_ROWS, number, self.limits.rows)

    def _add_column(self, number: int, row: int) -> None:
        if number > self.right:
            self.right = number
            if number > self.limits.columns:
                raise _over(Reason.FILE_TOO_MANY_COLUMNS, number, self.limits.columns, where=_where(row or None))

    def _scan_exact(self, head: bytes) -> bool:
        """Tag by tag, whatever the prefix, with each row's and cell's attributes read properly;
        True when the chunk holds a formula."""
        limits = self.limits
        formulas = False
        for match in _TOKEN.finditer(head):
            name = match.group(1).rpartition(b":")[2]
            if name == b"row":
                self.row = self._row_number(head, match.end(1))
                self.row_cells = 0
                self.column = 0
                self._add_row(self.row)
            elif name == b"f":
                formulas = True
            else:
                self._add_cells(1)
                if name == b"c":
                    self.row_cells += 1
                    if self.row_cells > limits.columns:
                        where = _where(self.row)
                        raise _over(Reason.FILE_TOO_MANY_COLUMNS, f"{limits.columns + 1:,} 以上", limits.columns, where=where)
                    self._place_cell(head, match.end(1))
        return formulas

    def _place_cell(self, head: bytes, at: int) -> None:
        """A cell's position as calamine takes it: its reference, else the next column of the row."""
        row, column = max(self.row, 1), self.column + 1
        while match := _ATTRIBUTE.match(head, at):
            at = match.end()
            name = match.group(1).rpartition(b":")[2]
            value = match.group(2) if match.group(2) is not None else match.group(3)
            if name == b"r" and (reference := _CELL_REF.fullmatch(value)):
                column, row = _column_number(reference.group(1)), _row_value(reference.group(2))
            elif name == b"t" and value.strip() == b"e":
                self.errors = True
        self.column = column
        self._add_column(column, row)
        self._add_bottom(row)

    def _row_number(self, head: bytes, at: int) -> int:
        """The row's `r` attribute as openpyxl reads it (a whole number, maybe written `5.0`),
        or the previous row's number plus one."""
        while match := _ATTRIBUTE.match(head, at):
            at = match.end()
            if match.group(1) == b"r":
                value = (match.group(2) if match.group(2) is not None else match.group(3)).strip()
                try:
                    number = float(value)
                except ValueError:
                    break
                if number.is_integer() and number >= 0:
                    return int(number) if number < 2**62 else 2**62
                break
        return self.row + 1

    def _check_runs(self, head: bytes) -> None:
        """The longest run without markup: a text value openpyxl would hold as one string."""
        longest = max(map(len, head.split(b"<")))
        if longest > self.limits.field:
            raise _over(Reason.FILE_FIELD_TOO_LONG, "", self.limits.field, where=_where(None), unit="字节")
        self._check_cdata(head)

    def _check_cdata(self, head: bytes) -> None:
        at = head.find(b"<![CDATA[")
        while at >= 0:
            end = head.find(b"]]>", at)
            if (end if end >= 0 else len(head)) - at > self.limits.field:
                raise _over(Reason.FILE_FIELD_TOO_LONG, "", self.limits.field, where=_where(None), unit="字节")
            at = head.find(b"<![CDATA[", end) if end >= 0 else -1


def _scan_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> _PartScan:
    """Stream one part once, inflating at most ``CHUNK`` bytes at a time."""
    scan = _PartScan(limits)
    with archive.open(info) as part:
        while chunk := part.read(CHUNK):
            scan.feed(chunk)
            if not scan.is_xml:
                break
        else:
            scan.feed(b"", final=True)
    return scan


def _scan_workbook(archive: zipfile.ZipFile, limits: Limits) -> dict[str, _PartScan]:
    """Every part of a zip workbook streamed once against the limits: what each part holds. The
    cells limit holds for the workbook as a whole too (shared strings counted, an upper bound), so
    thousands of small sheets cannot add up to what no single sheet may hold."""
    scans: dict[str, _PartScan] = {}
    total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        scans[info.filename] = scan = _scan_part(archive, info, limits)
        total += scan.cells
        if total > limits.cells:
            raise _over(Reason.FILE_TOO_MANY_CELLS, f"全部工作表合计 {limits.cells + 1:,} 以上", limits.cells)
    return scans


# --- workbooks: which part is which sheet ----------------------------------------------------------

_SHEET_TAG = re.compile(rb"<(?:[\w.\-]+:)?sheet\b([^>]*)>")


def _part_path(base: str, target: str) -> str:
    """A relationship target as a zip member name (relative to ``base``'s folder, or absolute)."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), target))


def _xml_sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> part of an .xlsx, from xl/workbook.xml and its relationships (both already
    streamed against the limits; a workbook part larger than any real one is not parsed)."""
    from xml.sax.saxutils import unescape

    names = set(archive.namelist())
    if "xl/workbook.xml" not in names or archive.getinfo("xl/workbook.xml").file_size > 50_000_000:
        return {}
    rels = archive.read("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in names else b""
    targets = relation_targets(rels)
    parts = {}
    for match in _SHEET_TAG.finditer(archive.read("xl/workbook.xml")):
        attrs = {}
        for attribute in _ATTRIBUTE.finditer(match.group(1)):
            value = attribute.group(2) if attribute.group(2) is not None else attribute.group(3)
            attrs[attribute.group(1).rpartition(b":")[2].decode("ascii", "replace")] = unescape(value.decode("utf-8", "replace"))
        if "name" in attrs and attrs.get("id") in targets:
            parts[attrs["name"]] = _part_path("xl/workbook.xml", targets[attrs["id"]])
    return parts


def _xlsb_sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> part of an .xlsb, from xl/workbook.bin and its relationships."""
    names = set(archive.namelist())
    rels = archive.read("xl/_rels/workbook.bin.rels") if "xl/_rels/workbook.bin.rels" in names else b""
    targets = relation_targets(rels)
    with archive.open("xl/workbook.bin") as part:
        listed = xlsb_sheet_relations(part, CHUNK)
    return {name: _part_path("xl/workbook.bin", targets[rid]) for name, rid in listed if rid in targets}


# --- workbooks: reading ----------------------------------------------------------------------------


class FormulaWithoutValue(str):
    """A formula cell saved without a cached result (written by a tool, never opened in Excel)."""


def _problem(refused: _Refused, rel: str, sheet: str = "") -> FileProblem:
    context = dict(refused.context)
    detail = str(context.pop("detail", ""))
    return FileProblem(rel, sheet, refused.reason, detail, context)


def _failure(exc: BaseException) -> str:
    """A library's error as a short detail for the message (never a traceback)."""
    return f"{type(exc).__name__}: {exc}"[:200]


def _is_panic(exc: BaseException) -> bool:
    """calamine's Rust panics reach Python as pyo3's PanicException (a BaseException)."""
    return type(exc).__name__ == "PanicException"


def read_workbook(path: Path, rel: str, limits: Limits | None = None) -> Iterator[RawSheet | FileProblem]:
    """Every worksheet of a table file as a raw sheet, or why the file (or a sheet) was not read.
    The reader is chosen by content, whatever the extension: an OLE2 file is BIFF (.xls, WPS
    .et) or an encrypted package, a zip is .xlsx/.xlsm, .xlsb, .ods or WPS's zipped .et, markup
    is HTML or SpreadsheetML 2003, and anything else is read as delimited text."""
    limits = limits or Limits()
    try:
        handle = _open_regular(path)
    except OSError as exc:
        yield FileProblem(rel, "", Reason.FILE_UNREADABLE, exc.strerror or str(exc))
        return
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.size:
                raise _over(Reason.FILE_TOO_LARGE, size, limits.size)
            head = handle.read(8192)
            handle.seek(0)
            if head.startswith(SIGNATURE):
                reader: Iterator[RawSheet | FileProblem] = _read_ole(handle, rel, limits)
            elif head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
                reader = _read_zip(handle, size, rel, limits)
            elif (kind := _markup_kind(head)) and Path(rel).suffix.lower() != ".csv":
                reader = _read_markup(handle, kind, rel, limits)
            else:
                reader = iter([read_csv(path, rel, limits)])
            yield from reader
        except _Refused as refused:
            yield _problem(refused, rel)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError) as exc:
            yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, type(exc).__name__)
        except MemoryError:
            raise
        except Exception as exc:
            yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, _failure(exc))
        except BaseException as exc:
            if not _is_panic(exc):
                raise
            yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, _failure(exc))


read_xlsx = read_workbook  # the name earlier callers used


def _markup_kind(head: bytes) -> str:
    """`html`, `spreadsheetml`, `xml` (some other XML) or `` (not markup) from a file's start."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head[: len(head) // 2 * 2].decode("utf-16", "ignore")
    else:
        text = head.decode("latin-1")
    text = text.lstrip("\ufeff\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(("<?xml", "<!--")) or text.startswith("<workbook"):
        if "urn:schemas-microsoft-com:office:spreadsheet" in text or "<workbook" in text:
            return "spreadsheetml"
        if "<html" in text or "<table" in text:
            return "html"
        return "xml" if text.startswith("<?xml") else ""
    if text.startswith(("<!doctype html", "<html", "<table", "<head", "<meta", "<body", "<style", "<title")):
        return "html"
    return ""


def _read_markup(handle: IO[bytes], kind: str, rel: str, limits: Limits) -> Iterator[RawSheet | FileProblem]:
    """HTML tables or SpreadsheetML 2003 saved with a spreadsheet's name, read cell by cell."""
    from audit.markup import decode_markup, read_html, read_spreadsheetml

    stem = Path(rel).stem
    data = handle.read()
    if kind == "xml":
        raise _Refused(Reason.FILE_NOT_SPREADSHEET, detail="是 XML 文件，但不是 Excel 2003 XML 表格")
    if kind == "spreadsheetml":
        grids = read_spreadsheetml(data, limits, lambda formula: FormulaWithoutValue(formula))
        encoding = "xml2003"
    else:
        text = decode_markup(data)
        del data
        if text is None:
            raise _Refused(Reason.FILE_UNDECODABLE)
        grids = read_html(text, limits)
        encoding = "html"
        if len(grids) == 1:
            grids[0].name = ""  # one table: named by the file, like a CSV
    if not grids:
        raise _Refused(Reason.FILE_NOT_SPREADSHEET, detail="网页中没有表格（<table>）")
    for grid in grids:
        hint = grid.name or stem
        yield RawSheet(rel, grid.name, hint, stem, grid.rows, encoding, hidden=grid.hidden, merged=grid.merged)


def _read_ole(handle: IO[bytes], rel: str, limits: Limits) -> Iterator[RawSheet | FileProblem]:
    """A BIFF workbook (.xls, WPS .et): its records checked first, then read by calamine."""
    data = handle.read()
    stream = workbook_stream(Compound(data))
    scans = scan_biff(stream, limits)
    del stream
    errors = [scan.errors for scan in scans]
    del data
    yield from _read_calamine(handle, "xls", rel, limits, errors=lambda index, name: errors[index] if index < len(errors) else {})


def _read_zip(handle: IO[bytes], size: int, rel: str, limits: Limits) -> Iterator[RawSheet | FileProblem]:
    """An .xlsx/.xlsm, .xlsb or .ods (or WPS's zipped .et): the zip and every part checked
    against the limits, then the sheets read by calamine (openpyxl for the few it cannot keep)."""
    _check_zip_directory(handle, size, limits)
    handle.seek(0)
    with zipfile.ZipFile(handle) as archive:
        _check_inflation(archive, limits)
        names = set(archive.namelist())
        parts = _scan_workbook(archive, limits)
        if "xl/workbook.xml" in names:
            sheets = _xml_sheet_parts(archive)
            kind = "xlsx"
        elif "xl/workbook.bin" in names:
            sheets = _xlsb_sheet_parts(archive)
            xlsb = {}
            for name, part in sheets.items():
                if part in names:
                    with archive.open(part) as stream:
                        xlsb[name] = scan_xlsb_sheet(stream, limits, CHUNK)
            if "xl/sharedStrings.bin" in names:
                with archive.open("xl/sharedStrings.bin") as stream:
                    scan_xlsb_strings(stream, limits, CHUNK)
            kind = "xlsb"
        elif "content.xml" in names:
            if "META-INF/manifest.xml" in names and b"encryption-data" in archive.read("META-INF/manifest.xml"):
                raise _Refused(Reason.FILE_ENCRYPTED)
            with archive.open("content.xml") as stream:
                tables = scan_ods_content(stream, limits)
            kind = "ods"
        else:
            raise _Refused(Reason.FILE_NOT_SPREADSHEET, detail="压缩包中没有工作簿（可能是 .docx 等其他文件）")
    if kind == "xlsx":
        yield from _read_xlsx_sheets(handle, sheets, parts, rel, limits)
    elif kind == "xlsb":

        def xlsb_errors(index: int, name: str) -> dict[tuple[int, int], str]:
            return xlsb[name].errors if name in xlsb else {}

        def xlsb_merged(index: int, name: str) -> list[tuple[int, int, int, int]]:
            return xlsb[name].merged if name in xlsb else []

        yield from _read_calamine(handle, kind, rel, limits, errors=xlsb_errors, merged=xlsb_merged)
    else:

        def ods_merged(index: int, name: str) -> list[tuple[int, int, int, int]]:
            match = [t for t in tables if t.name == name] or tables[index : index + 1]
            return match[0].merged if match else []

        yield from _read_calamine(handle, kind, rel, limits, merged=ods_merged)


def _read_xlsx_sheets(
    handle: IO[bytes], sheets: dict[str, str], parts: dict[str, _PartScan], rel: str, limits: Limits
) -> Iterator[RawSheet | FileProblem]:
    """An .xlsx's sheets: calamine for each, except a sheet holding a formula saved without its
    value or an error value (openpyxl keeps them; calamine reads both as blank) and a sparse
    sheet whose grid from A1 to its last cell would pass the cells limit (openpyxl reads only
    the cells present)."""
    worst = _PartScan(limits)  # a sheet whose part cannot be found is judged by the largest part
    for scan in parts.values():
        worst.bottom, worst.max_row = max(worst.bottom, scan.bottom), max(worst.max_row, scan.max_row)
        worst.right = max(worst.right, scan.right)
        worst.formula_without_value |= scan.formula_without_value
        worst.errors |= scan.errors
    fallback = _OpenpyxlBook(handle, limits)
    if any(scan.decoder is not None for scan in parts.values()):  # calamine reads UTF-8 parts only
        for name, part in sheets.items():
            _check_openpyxl(parts.get(part, worst), name)
        try:
            yield from fallback.sheets(rel, lambda name: parts.get(sheets.get(name, ""), worst).merged)
        finally:
            fallback.close()
        return

    def through_openpyxl(index: int, name: str) -> bool:
        scan = parts.get(sheets.get(name, ""), worst)
        if scan.formula_without_value or scan.errors or scan.grid > limits.cells:
            _check_openpyxl(scan, name)  # a refusal leaves this sheet out, the others are read
            return True
        return False

    def merged(index: int, name: str) -> list[tuple[int, int, int, int]]:
        return parts.get(sheets.get(name, ""), worst).merged

    try:
        yield from _read_calamine(handle, "xlsx", rel, limits, merged=merged, openpyxl=(through_openpyxl, fallback))
    finally:
        fallback.close()


# Elements a sheet read by openpyxl may hold beyond its rows and cells (`_PartScan.unexplained`):
# openpyxl keeps every element of a sheet it does not read (about 100 bytes each, never freed);
# real sheets hold a few thousand (column widths, views, validations, links)
OPENPYXL_UNKNOWN_TAGS = 1_000_000


def _check_openpyxl(scan: _PartScan, sheet: str) -> None:
    """Refuse a sheet openpyxl would read whose XML holds far more elements than its cells."""
    if scan.unexplained > OPENPYXL_UNKNOWN_TAGS:
        detail = (
            f"工作表「{sheet}」除单元格外还有约 {scan.unexplained:,} 个 XML 元素，超过 {OPENPYXL_UNKNOWN_TAGS:,} 个；"
            "含未保存结果的公式或错误值的工作表须整表读入，这些元素会耗尽内存"
        )
        raise _Refused(Reason.FILE_BROKEN_XLSX, detail=detail)


class _OpenpyxlBook:
    """openpyxl's read-only view of one workbook, opened only when a sheet needs it."""

    def __init__(self, handle: IO[bytes], limits: Limits):
        self.handle, self.limits = handle, limits
        self.values: Any = None
        self.formulas: Any = None

    def rows(self, title: str) -> list[tuple[int, list[Any]]]:
        """The sheet's rows as openpyxl reads them, formula cells without a value marked."""
        import openpyxl  # imported lazily: most workbooks never need it

        if self.values is None:
            self.handle.seek(0)
            self.values = openpyxl.load_workbook(self.handle, read_only=True, data_only=True)
            self.handle.seek(0)
            self.formulas = openpyxl.load_workbook(self.handle, read_only=True, data_only=False)
        sheet = self.values[title]
        sheet.reset_dimensions()  # read the cells present, never pad to a declared <dimension>
        formula_sheet = self.formulas[title]
        formula_sheet.reset_dimensions()
        return _sheet_rows(
            sheet.iter_rows(min_row=1, values_only=True), formula_sheet.iter_rows(min_row=1, values_only=True), self.limits
        )

    def sheets(self, rel: str, merged: Callable[[str], list[tuple[int, int, int, int]]]) -> Iterator[RawSheet | FileProblem]:
        """Every worksheet read by openpyxl alone (a workbook calamine cannot open)."""
        import openpyxl

        self.handle.seek(0)
        book = openpyxl.load_workbook(self.handle, read_only=True)
        titles = [(sheet.title, sheet.sheet_state) for sheet in book.worksheets]
        book.close()
        for title, state in titles:
            try:
                rows = self.rows(title)
            except _Refused as refused:
                yield _problem(refused, rel, title)
                continue
            yield RawSheet(rel, title, title, Path(rel).stem, rows, "xlsx", hidden=state != "visible", merged=merged(title))

    def close(self) -> None:
        for book in (self.values, self.formulas):
            if book is not None:
                book.close()


def _read_calamine(
    handle: IO[bytes],
    kind: str,
    rel: str,
    limits: Limits,
    *,
    errors: Callable[[int, str], dict[tuple[int, int], str]] | None = None,
    merged: Callable[[int, str], list[tuple[int, int, int, int]]] | None = None,
    openpyxl: tuple[Callable[[int, str], bool], _OpenpyxlBook] | None = None,
) -> Iterator[RawSheet | FileProblem]:
    """The worksheets of a workbook checked by its scan, read by calamine in workbook order
    (chart and macro sheets are not tables). ``errors`` gives error cells calamine reads as
    blank, ``merged`` the merged ranges where calamine does not report them, ``openpyxl`` which
    sheets openpyxl reads instead."""
    import python_calamine  # imported lazily: CLI start-up stays fast for CSV-only batches

    stem = Path(rel).stem
    handle.seek(0)
    book = python_calamine.CalamineWorkbook.from_filelike(handle)
    with book:
        for index, meta in enumerate(book.sheets_metadata):
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue
            name = meta.name
            hidden = meta.visible != python_calamine.SheetVisibleEnum.Visible
            try:
                if openpyxl is not None and openpyxl[0](index, name):
                    rows = openpyxl[1].rows(name)
                    ranges = merged(index, name) if merged else []
                else:
                    with gc_paused():
                        sheet = book.get_sheet_by_index(index)
                        rows = _grid_rows(sheet, limits, check_field=kind == "xls")
                    found = sheet.merged_cell_ranges
                    del sheet  # calamine's grid: freed before the next sheet is built
                    ranges = [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in found] if found else []
                    if merged is not None and not found:
                        ranges = merged(index, name)
                    if errors is not None:
                        _put_errors(rows, errors(index, name))
            except _Refused as refused:
                yield _problem(refused, rel, name)
                continue
            except python_calamine.CalamineError as exc:
                yield FileProblem(rel, name, Reason.FILE_BROKEN_XLSX, _failure(exc))
                continue
            yield RawSheet(rel, name, name, stem, rows, kind, hidden=hidden, merged=ranges)


def _grid_rows(sheet: Any, limits: Limits, *, check_field: bool) -> list[tuple[int, list[Any]]]:
    """A calamine sheet as rows numbered as Excel/WPS shows them (the rows above its first cell
    kept empty, the columns left of it blank), each row cut after its last non-blank cell."""
    start = sheet.start
    if start is None:
        return []
    top, left = start
    rows: list[tuple[int, list[Any]]] = [(n, []) for n in range(1, top + 1)]
    pad = [None] * left
    field_limit = limits.field if check_field and limits.field < 65536 else 0  # BIFF strings hold at most 65,535 characters
    for number, cells in enumerate(sheet.to_python(), start=top + 1):
        while cells and cells[-1] == "":
            cells.pop()
        if left and cells:
            cells = pad + cells
        if field_limit and any(isinstance(c, str) and len(c) > field_limit for c in cells):
            raise _over(Reason.FILE_FIELD_TOO_LONG, "", field_limit, where=_where(number), unit="字符")
        rows.append((number, cells))
    return rows


def _put_errors(rows: list[tuple[int, list[Any]]], errors: dict[tuple[int, int], str]) -> None:
    """Error values (`#N/A`, `#DIV/0!`) where calamine left the cell blank, as openpyxl showed them."""
    for (row, column), text in errors.items():
        if row >= len(rows):
            continue
        cells = rows[row][1]
        if column >= len(cells):
            cells.extend([None] * (column + 1 - len(cells)))
        if cells[column] in ("", None):
            cells[column] = text


def _sheet_rows(
    source: Iterator[tuple[Any, ...]], formula_rows: Iterator[tuple[Any, ...]] | None, limits: Limits
) -> list[tuple[int, list[Any]]]:
    """The rows of one sheet read by openpyxl, stopping at the first limit passed (the streaming
    pass has already counted them; this guards what openpyxl actually builds, each row as wide
    as its last cell)."""
    rows: list[tuple[int, list[Any]]] = []
    cells = 0
    for number, row in enumerate(source, start=1):
        if number > limits.rows:
            raise _over(Reason.FILE_TOO_MANY_ROWS, f"{limits.rows + 1:,} 以上", limits.rows)
        cells += len(row)
        if len(row) > limits.columns:
            raise _over(Reason.FILE_TOO_MANY_COLUMNS, len(row), limits.columns, where=_where(number))
        if cells > limits.cells:
            raise _over(Reason.FILE_TOO_MANY_CELLS, f"{limits.cells + 1:,} 以上", limits.cells)
        values = list(row)
        if formula_rows is not None:
            sources = next(formula_rows, ())
            for i, (value, source_cell) in enumerate(zip(values, sources, strict=False)):
                if value is None and isinstance(source_cell, str) and source_cell.startswith("="):
                    values[i] = FormulaWithoutValue(source_cell)
        rows.append((number, values))
    return rows


def read_batch(batch: Path, limits: Limits | None = None) -> Iterator[RawSheet | FileProblem | Skipped]:
    """Every sheet of every table file in the batch, plus what could not be read or was skipped."""
    limits = limits or Limits()
    for entry in entries(batch):
        yield from read_entry(entry, limits)


def read_entry(entry: Entry, limits: Limits | None = None) -> Iterator[RawSheet | FileProblem | Skipped]:
    """Every sheet of one name below the batch folder, or why it was not read or was skipped
    (`audit.ingest` reads a batch file by file, each file one unit of its cache)."""
    rel, path = entry.rel, entry.path
    suffix = path.suffix.lower()
    if entry.why:
        yield Skipped(rel, "", entry.why)
    elif path.name.startswith("~$"):
        yield Skipped(rel, "", "Office 临时锁文件")
    elif suffix in TABLE_SUFFIXES:
        yield from read_workbook(path, rel, limits or Limits())
    else:
        yield Skipped(rel, "", f"不是表格文件（{suffix or '无扩展名'}）")
