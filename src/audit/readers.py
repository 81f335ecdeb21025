"""Read a batch folder into raw sheets: a grid of cells per CSV file or workbook sheet.

Nothing here interprets the cells beyond decoding; it only decides which files are tables, and
reports files it cannot open as ``FileProblem`` instead of raising.

Files come from people and systems the reviewer does not control, so reading is defensive:
only regular files inside the batch are opened (symbolic links, pipes, sockets and devices are
listed as skipped, never followed or opened), and every file is checked against ``Limits``
before the expensive step — the zip directory before a workbook is inflated, one streaming pass
over each workbook part before openpyxl parses it, a line count and the first line's width
before a CSV is decoded. A file over a limit becomes a ``FileProblem`` naming the limit.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import os
import re
import stat
import struct
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from audit.limits import RATIO_GRACE, Limits
from audit.reasons import Reason

TABLE_SUFFIXES = {".csv", ".xlsx", ".xlsm"}
REFUSED_SUFFIXES = {".xls", ".et"}
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


# --- terminal ------------------------------------------------------------------------------------


def printable(text: object) -> str:
    """Batch text made safe to print through rich: control characters (escape sequences, bidi
    overrides) shown escaped as ``\\x1b``, and rich markup escaped so ``[red]`` prints as written."""
    from rich.markup import escape

    from audit.privacy import visible

    return escape(visible(str(text)))


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


class _Refused(Exception):
    """A file (or sheet) over a limit; carries the reason and its message context."""

    def __init__(self, reason: Reason, **context: object):
        super().__init__(reason.name)
        self.reason, self.context = reason, context

    def problem(self, rel: str, sheet: str = "") -> FileProblem:
        context = dict(self.context)
        detail = str(context.pop("detail", ""))
        return FileProblem(rel, sheet, self.reason, detail, context)


def _over(reason: Reason, found: int | str, limit: int, **context: object) -> _Refused:
    shown = f"{found:,}" if isinstance(found, int) else found
    return _Refused(reason, found=shown, limit=f"{limit:,}", **context)


def _where(row: int | None) -> str:
    return f"第 {row:,} 行" if row else "有一行"


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
        with _csv_field_limit(limits.field):
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
        return refused.problem(rel)
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


class _PartScan:
    """Counts what openpyxl would build from one workbook part, from its bytes, without parsing
    it: cells and shared strings, the highest row number (empty rows up to it are read as well),
    cells in one row, the longest run of text, and whether any cell has a formula. A limit passed
    raises ``_Refused`` at once, so a bomb is never inflated further than the chunk that shows it.

    Counting is an upper bound (a tag-like text inside a comment counts too), never less than what
    the parser will see: tags are found with or without a namespace prefix, in UTF-8 or UTF-16,
    and entity declarations, which could expand past any count, are refused."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.cells = 0
        self.row = 0  # number of the current row, as openpyxl numbers it
        self.max_row = 0
        self.row_cells = 0  # cells seen in the current row so far
        self.formulas = False
        self.tail = b""  # an unfinished tag (or text run) carried to the next chunk
        self.decoder: codecs.IncrementalDecoder | None = None
        self.started = False
        self.is_xml = True

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
        if len(head) > limits.field:
            self._check_runs(head)
        elif b"<![CDATA[" in head:
            self._check_cdata(head)
        if _PREFIXED.search(head):
            self._scan_exact(head)
            return
        tokens = _FAST_TOKEN.findall(head)
        if not tokens:
            return
        cells = tokens.count(b"c") + tokens.count(b"si")
        if b"row" in tokens or self.row_cells + cells > limits.columns:
            self._scan_exact(head)  # a row without its number first, or maybe a row too wide
            return
        self.formulas = self.formulas or b"f" in tokens
        self._add_cells(cells)
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

    def _add_cells(self, count: int) -> None:
        self.cells += count
        if self.cells > self.limits.cells:
            raise _over(Reason.FILE_TOO_MANY_CELLS, f"{self.limits.cells + 1:,} 以上", self.limits.cells)

    def _add_row(self, number: int) -> None:
        if number > self.max_row:
            self.max_row = number
            if number > self.limits.rows:
                raise _over(Reason.FILE_TOO_MANY_ROWS, number, self.limits.rows)

    def _scan_exact(self, head: bytes) -> None:
        """Tag by tag, whatever the prefix, with each row's attributes read properly."""
        limits = self.limits
        for match in _TOKEN.finditer(head):
            name = match.group(1).rpartition(b":")[2]
            if name == b"row":
                self.row = self._row_number(head, match.end(1))
                self.row_cells = 0
                self._add_row(self.row)
            elif name == b"f":
                self.formulas = True
            else:
                self._add_cells(1)
                if name == b"c":
                    self.row_cells += 1
                    if self.row_cells > limits.columns:
                        where = _where(self.row)
                        raise _over(Reason.FILE_TOO_MANY_COLUMNS, f"{limits.columns + 1:,} 以上", limits.columns, where=where)

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


def _scan_workbook(archive: zipfile.ZipFile, limits: Limits) -> bool:
    """Stream every part once (inflating at most ``CHUNK`` bytes at a time); True when any cell
    has a formula, so the formulas are only loaded for workbooks that have some."""
    formulas = False
    for info in archive.infolist():
        if info.is_dir():
            continue
        scan = _PartScan(limits)
        with archive.open(info) as part:
            while chunk := part.read(CHUNK):
                scan.feed(chunk)
                if not scan.is_xml:
                    break
            else:
                scan.feed(b"", final=True)
        formulas = formulas or scan.formulas
    return formulas


# --- workbooks: reading --------------------------------------------------------------------------


def read_xlsx(path: Path, rel: str, limits: Limits | None = None) -> Iterator[RawSheet | FileProblem]:
    """Every worksheet of a workbook as a raw sheet, or why the workbook (or a sheet) was not read."""
    limits = limits or Limits()
    try:
        handle = _open_regular(path)
    except OSError as exc:
        yield FileProblem(rel, "", Reason.FILE_UNREADABLE, exc.strerror or str(exc))
        return
    with handle:
        yield from _read_workbook(handle, rel, limits)


def _read_workbook(handle: IO[bytes], rel: str, limits: Limits) -> Iterator[RawSheet | FileProblem]:
    import openpyxl  # imported lazily: CLI start-up stays fast for CSV-only batches

    stem = Path(rel).stem
    try:
        size = os.fstat(handle.fileno()).st_size
        if size > limits.size:
            raise _over(Reason.FILE_TOO_LARGE, size, limits.size)
        _check_zip_directory(handle, size, limits)
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            _check_inflation(archive, limits)
            has_formulas = _scan_workbook(archive, limits)
        handle.seek(0)
        values = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        # Formula cells without a cached result read as blank; load the formulas only when the
        # workbook has any, so a plain export is read once.
        formulas = openpyxl.load_workbook(handle, read_only=True, data_only=False) if has_formulas else None
    except _Refused as refused:
        yield refused.problem(rel)
        return
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, type(exc).__name__)
        return
    except MemoryError:
        raise
    except Exception as exc:
        yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, f"{type(exc).__name__}: {exc}"[:200])
        return
    try:
        for sheet in values.worksheets:
            sheet.reset_dimensions()  # read the cells present, never pad to a declared <dimension>
            formula_rows = None
            if formulas is not None:
                formula_sheet = formulas[sheet.title]
                formula_sheet.reset_dimensions()
                formula_rows = formula_sheet.iter_rows(min_row=1, values_only=True)
            try:
                rows = _sheet_rows(sheet.iter_rows(min_row=1, values_only=True), formula_rows, limits)
            except _Refused as refused:
                yield refused.problem(rel, sheet.title)
                continue
            yield RawSheet(rel, sheet.title, sheet.title, stem, rows, "xlsx", hidden=sheet.sheet_state != "visible")
    except MemoryError:
        raise
    except Exception as exc:
        yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, f"{type(exc).__name__}: {exc}"[:200])
    finally:
        values.close()
        if formulas is not None:
            formulas.close()


def _sheet_rows(
    source: Iterator[tuple[Any, ...]], formula_rows: Iterator[tuple[Any, ...]] | None, limits: Limits
) -> list[tuple[int, list[Any]]]:
    """The rows of one sheet, stopping at the first limit passed (the streaming pass has already
    counted them; this guards what openpyxl actually builds, each row as wide as its last cell)."""
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


class FormulaWithoutValue(str):
    """A formula cell saved without a cached result (written by a tool, never opened in Excel)."""


def read_batch(batch: Path, limits: Limits | None = None) -> Iterator[RawSheet | FileProblem | Skipped]:
    """Every sheet of every table file in the batch, plus what could not be read or was skipped."""
    limits = limits or Limits()
    for entry in entries(batch):
        rel, path = entry.rel, entry.path
        suffix = path.suffix.lower()
        if entry.why:
            yield Skipped(rel, "", entry.why)
        elif path.name.startswith("~$"):
            yield Skipped(rel, "", "Office 临时锁文件")
        elif suffix in REFUSED_SUFFIXES:
            yield FileProblem(rel, "", Reason.FILE_XLS)
        elif suffix == ".csv":
            yield read_csv(path, rel, limits)
        elif suffix in (".xlsx", ".xlsm"):
            yield from read_xlsx(path, rel, limits)
        else:
            yield Skipped(rel, "", f"不是表格文件（{suffix or '无扩展名'}）")
