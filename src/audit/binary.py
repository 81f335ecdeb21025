"""Binary workbooks checked before calamine builds them: OLE2 compound files (.xls and WPS .et
in BIFF, and Office's encrypted packages) and the record parts of .xlsb.

calamine turns a sheet into a dense grid from its first to its last cell, and reads every sheet
of an .xls when the workbook is opened, so one cell placed far away (BIFF allows column 65,535;
.xlsb any 32-bit column) or a lying DIMENSIONS record would make it allocate gigabytes before any
check could run. These scanners walk the records once, in Python, and refuse such a file against
``Limits`` first; they also find what calamine does not say: an encrypted workbook (FILEPASS, or
an ``EncryptedPackage`` stream), error cells (read by calamine as blank, kept here as ``#N/A``…)
and, for .xlsb, merged ranges.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from audit.limits import Limits
from audit.reasons import Reason
from audit.refusal import Refused, over, where

SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ERRORS = {  # error codes of BIFF and .xlsb cells, as Excel shows them
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
    0x2B: "#GETTING_DATA",
}
_END = 0xFFFFFFFE  # end of a sector chain
_FREE = 0xFFFFFFFF
_WORKBOOK_STREAMS = ("Workbook", "Book", "WORKBOOK", "BOOK")  # the names calamine looks for, in its order
_ENCRYPTED_STREAMS = {"EncryptedPackage", "EncryptionInfo"}


def _broken(detail: str) -> Refused:
    return Refused(Reason.FILE_BROKEN_XLSX, detail=detail)


# --- OLE2 compound files -------------------------------------------------------------------------


class Compound:
    """The directory and streams of an OLE2 compound file held in memory (read-only; every chain
    is bounded by the file's own sector count, so a looping or lying table cannot spin)."""

    def __init__(self, data: bytes):
        if len(data) < 512 or not data.startswith(SIGNATURE):
            raise _broken("不是完整的 OLE 复合文档")
        self.data = data
        shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
        if shift not in (9, 12) or mini_shift != 6:
            raise _broken("OLE 扇区大小无效")
        self.size = 1 << shift
        self.sectors = (len(data) - 512 + self.size - 1) // self.size
        # counts of FAT, mini FAT and DIFAT sectors are not trusted: chains end where the table says
        directory_start, cutoff, minifat_start = struct.unpack_from("<L4xLL", data, 0x30)
        difat_start = struct.unpack_from("<L", data, 0x44)[0]
        self.cutoff = cutoff
        self.fat = self._fat(difat_start)
        entries = self._chain_bytes(directory_start)
        self.entries: list[tuple[str, int, int, int]] = []  # name, type, start sector, size
        for at in range(0, len(entries) - 127, 128):
            length = struct.unpack_from("<H", entries, at + 64)[0]
            name = entries[at : at + max(0, min(length, 64) - 2)].decode("utf-16-le", "replace")
            kind = entries[at + 66]
            start, size = struct.unpack_from("<LL", entries, at + 116)
            self.entries.append((name, kind, start, size))
        if not self.entries or self.entries[0][1] != 5:
            raise _broken("OLE 目录缺少根条目")
        self._mini: bytes | None = None
        self._minifat_start = minifat_start

    def _sector(self, number: int) -> bytes:
        if number >= self.sectors:
            raise _broken("OLE 扇区编号超出文件")
        at = 512 + number * self.size
        return self.data[at : at + self.size]

    def _fat(self, difat_start: int) -> list[int]:
        per_sector = self.size // 4
        listed = list(struct.unpack_from("<109L", self.data, 0x4C))
        sector, seen = difat_start, 0
        while sector not in (_END, _FREE) and seen <= self.sectors:
            values = struct.unpack(f"<{per_sector}L", self._sector(sector))
            listed.extend(values[:-1])
            sector, seen = values[-1], seen + 1
        fat: list[int] = []
        for sector in listed:
            if sector in (_END, _FREE) or sector >= self.sectors:
                continue
            fat.extend(struct.unpack(f"<{per_sector}L", self._sector(sector)))
        return fat

    def _chain(self, start: int, table: list[int], limit: int) -> Iterator[int]:
        sector, steps = start, 0
        while sector not in (_END, _FREE):
            if sector >= len(table) or steps > limit:
                raise _broken("OLE 扇区链无效")
            yield sector
            sector, steps = table[sector], steps + 1

    def _chain_bytes(self, start: int) -> bytes:
        return b"".join(self._sector(s) for s in self._chain(start, self.fat, self.sectors))

    def names(self) -> set[str]:
        """Names of the streams and storages in the directory."""
        return {name for name, kind, _, _ in self.entries if kind in (1, 2)}

    def stream(self, name: str) -> bytes | None:
        """The bytes of the first stream called ``name``, or None when there is none."""
        for entry_name, kind, start, size in self.entries:
            if kind == 2 and entry_name == name:
                if size < self.cutoff:
                    return self._mini_stream(start, size)
                data = self._chain_bytes(start)
                if len(data) < size:
                    raise _broken(f"OLE 流「{name}」不完整")
                return data[:size]
        return None

    def _mini_stream(self, start: int, size: int) -> bytes:
        if self._mini is None:
            _, _, root_start, root_size = self.entries[0]
            self._mini = self._chain_bytes(root_start)[:root_size]
            raw = self._chain_bytes(self._minifat_start) if self._minifat_start not in (_END, _FREE) else b""
            self._minifat = list(struct.unpack(f"<{len(raw) // 4}L", raw[: len(raw) // 4 * 4]))
        limit = len(self._mini) // 64 + 1
        data = b"".join(self._mini[s * 64 : s * 64 + 64] for s in self._chain(start, self._minifat, limit))
        if len(data) < size:
            raise _broken("OLE 小流不完整")
        return data[:size]


def workbook_stream(compound: Compound) -> bytes:
    """The BIFF stream of an .xls/.et, or why the compound file is not one: an encrypted Office
    package (an .xlsx with an open password is an OLE file holding ``EncryptedPackage``) or
    another document altogether (a Word file renamed .xls)."""
    if compound.names() & _ENCRYPTED_STREAMS:
        raise Refused(Reason.FILE_ENCRYPTED)
    for name in _WORKBOOK_STREAMS:
        stream = compound.stream(name)
        if stream is not None:
            return stream
    raise Refused(Reason.FILE_NOT_SPREADSHEET, detail="OLE 复合文档中没有工作簿流，可能是 Word 等其他文档")


# --- BIFF (.xls, .et) ----------------------------------------------------------------------------

_CELLS_AT_ROW_COL = {0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006}  # NUMBER LABEL RSTRING BOOLERR RK LABELSST FORMULA


@dataclass
class BiffSheet:
    """What the scan learnt about one sheet: error cells calamine reads as blank."""

    errors: dict[tuple[int, int], str] = field(default_factory=dict)


def _records(stream: bytes, at: int) -> Iterator[tuple[int, int, int]]:
    """(type, offset of the body, size) of each BIFF record from ``at``."""
    end = len(stream)
    while at + 4 <= end:
        kind, size = struct.unpack_from("<HH", stream, at)
        body = at + 4
        at = body + size
        if at > end:
            raise _broken("BIFF 记录超出工作簿流")
        yield kind, body, size


def scan_biff(stream: bytes, limits: Limits) -> list[BiffSheet]:
    """Check a BIFF workbook stream against ``limits`` before calamine reads it, one entry per
    BOUNDSHEET in workbook order. calamine builds every sheet when it opens the file, so the
    cells of all sheets (each counted from its first to its last cell, as calamine stores it)
    count together against the cells limit."""
    positions: list[int] = []
    for kind, body, size in _records(stream, 0):
        if kind == 0x002F:  # FILEPASS: the rest of the stream is encrypted
            raise Refused(Reason.FILE_ENCRYPTED)
        if kind == 0x0085 and size >= 4:  # BOUNDSHEET
            positions.append(struct.unpack_from("<L", stream, body)[0])
        elif kind == 0x000A:  # EOF of the globals
            break
    total = 0
    sheets = []
    for position in positions:
        if position >= len(stream):
            raise _broken("BIFF 工作表位置超出工作簿流")
        sheet, cells = _scan_biff_sheet(stream, position, limits)
        total += cells
        if total > limits.cells:
            raise over(Reason.FILE_TOO_MANY_CELLS, total, limits.cells)
        sheets.append(sheet)
    return sheets


def _scan_biff_sheet(stream: bytes, position: int, limits: Limits) -> tuple[BiffSheet, int]:
    """One sheet's records: its cell range as calamine will store it, and its error cells."""
    sheet = BiffSheet()
    bottom = right = -1
    depth, started = 0, False
    unpack = struct.unpack_from
    for kind, body, size in _records(stream, position):
        if depth:
            depth += 1 if kind == 0x0809 else -1 if kind == 0x000A else 0
            continue
        if kind == 0x0809:
            depth, started = (1, started) if started else (0, True)
            continue
        if kind == 0x000A:
            break
        if kind in _CELLS_AT_ROW_COL and size >= 4:
            row, col = unpack("<HH", stream, body)
            first = last = col
            if kind == 0x0205 and size >= 8 and stream[body + 7]:  # BOOLERR holding an error
                sheet.errors[(row, col)] = ERRORS.get(stream[body + 6], "#ERROR")
            elif kind == 0x0006 and size >= 14 and stream[body + 12 : body + 14] == b"\xff\xff" and stream[body + 6] == 2:
                sheet.errors[(row, col)] = ERRORS.get(stream[body + 8], "#ERROR")
        elif kind == 0x00BD and size >= 6:  # MULRK: row, first column, ..., last column
            row, first = unpack("<HH", stream, body)
            last = unpack("<H", stream, body + size - 2)[0]
        elif kind == 0x0200:  # DIMENSIONS: calamine reserves room for the range it declares
            _check_declared(stream, body, size, limits)
            continue
        else:
            continue
        bottom, right = max(bottom, row), max(right, first, last)
    if bottom < 0:
        return sheet, 0
    if bottom + 1 > limits.rows:
        raise over(Reason.FILE_TOO_MANY_ROWS, bottom + 1, limits.rows)
    if right + 1 > limits.columns:
        raise over(Reason.FILE_TOO_MANY_COLUMNS, right + 1, limits.columns, where=where(None))
    return sheet, (bottom + 1) * (right + 1)  # the grid from A1, as the rows are handed on


def _check_declared(stream: bytes, body: int, size: int, limits: Limits) -> None:
    """DIMENSIONS as calamine reads it (u32 rows in BIFF8, u16 before; wrapping like its u32s)."""
    if size == 14:
        first_row, last_row, first_col, last_col = struct.unpack_from("<LLHH", stream, body)
    elif size == 10:
        first_row, last_row, first_col, last_col = struct.unpack_from("<HHHH", stream, body)
    else:
        return
    if first_col > 0xFF or last_col < first_col:
        first_col = 0
    if last_row < 1 or last_col < 1:
        return
    rows = ((last_row - 1 - first_row) % (1 << 32)) + 1
    cols = ((last_col - 1 - first_col) % (1 << 32)) + 1
    if rows * cols > limits.cells:
        raise over(Reason.FILE_TOO_MANY_CELLS, rows * cols, limits.cells)


# --- XLSB record parts ---------------------------------------------------------------------------


class _Records:
    """The records of one .xlsb part, streamed: (type, first bytes of the body, body size). Only
    ``keep`` bytes of each body are held; the rest is skipped as it is read."""

    def __init__(self, part: IO[bytes], keep: int, chunk: int):
        self.part, self.keep, self.chunk = part, keep, chunk
        self.buffer = b""
        self.at = 0

    def _have(self, count: int) -> bool:
        while len(self.buffer) - self.at < count:
            more = self.part.read(self.chunk)
            if not more:
                return False
            self.buffer = self.buffer[self.at :] + more
            self.at = 0
        return True

    def _byte(self) -> int:
        if not self._have(1):
            raise EOFError
        value = self.buffer[self.at]
        self.at += 1
        return value

    def __iter__(self) -> Iterator[tuple[int, bytes, int]]:
        while self._have(1):
            try:
                first = self._byte()
                kind = first & 0x7F | ((self._byte() & 0x7F) << 7) if first & 0x80 else first
                size, shift = 0, 0
                for _ in range(4):
                    value = self._byte()
                    size |= (value & 0x7F) << shift
                    shift += 7
                    if not value & 0x80:
                        break
            except EOFError:
                raise _broken("XLSB 记录不完整") from None
            held = min(size, self.keep)
            if not self._have(held):
                raise _broken("XLSB 记录不完整")
            head = self.buffer[self.at : self.at + held]
            self.at += held
            rest = size - held
            while rest:
                available = len(self.buffer) - self.at
                if available >= rest:
                    self.at += rest
                    break
                rest -= available
                self.buffer, self.at = self.part.read(min(rest, self.chunk) or 1), 0
                if not self.buffer:
                    raise _broken("XLSB 记录不完整")
            yield kind, head, size


@dataclass
class XlsbSheet:
    """One .xlsb worksheet part as the scan saw it: error cells and merged ranges."""

    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)


_XLSB_VALUE_CELLS = range(0x0002, 0x000B)  # RK, error, bool, real, string, shared string, formula results


def scan_xlsb_sheet(part: IO[bytes], limits: Limits, chunk: int) -> XlsbSheet:
    """A worksheet part: the cell range calamine will build (rows, columns, cells from its first
    to its last value), string lengths against the field limit, error cells and merged ranges."""
    sheet = XlsbSheet()
    row = 0
    bottom = right = -1
    in_data = True
    unpack = struct.unpack_from
    for kind, head, size in _Records(part, 24, chunk):
        if kind == 0x0000 and size >= 4:  # BrtRowHdr
            row = unpack("<L", head)[0]
            if row > 0x100000:  # calamine stops reading the sheet here
                in_data = False
        elif 0x0001 <= kind <= 0x000B and in_data and size >= 4:
            col = unpack("<L", head)[0]
            if kind in (0x0003, 0x000B) and size >= 9:
                sheet.errors[(row, col)] = ERRORS.get(head[8], "#ERROR")
            elif kind in (0x0006, 0x0008) and size >= 12 and unpack("<L", head, 8)[0] > limits.field:
                raise over(Reason.FILE_FIELD_TOO_LONG, "", limits.field, where=where(row + 1), unit="字符")
            if kind in _XLSB_VALUE_CELLS:
                bottom, right = max(bottom, row), max(right, col)
        elif kind == 0x0092:  # BrtEndSheetData
            in_data = False
        elif kind == 0x00B0 and size >= 16:  # BrtMergeCell
            first_row, last_row, first_col, last_col = unpack("<4L", head)
            sheet.merged.append((first_row, first_col, last_row, last_col))
    if bottom >= 0:
        if bottom + 1 > limits.rows:
            raise over(Reason.FILE_TOO_MANY_ROWS, bottom + 1, limits.rows)
        if right + 1 > limits.columns:
            raise over(Reason.FILE_TOO_MANY_COLUMNS, right + 1, limits.columns, where=where(None))
        cells = (bottom + 1) * (right + 1)  # the grid from A1, as the rows are handed on
        if cells > limits.cells:
            raise over(Reason.FILE_TOO_MANY_CELLS, cells, limits.cells)
    return sheet


def scan_xlsb_strings(part: IO[bytes], limits: Limits, chunk: int) -> None:
    """The shared strings part: each string's length, and their count against the cells limit."""
    count = 0
    for kind, head, size in _Records(part, 8, chunk):
        if kind == 0x0013 and size >= 5:  # BrtSSTItem: flags, then the string's length
            count += 1
            if count > limits.cells:
                raise over(Reason.FILE_TOO_MANY_CELLS, f"{limits.cells + 1:,} 以上", limits.cells)
            if struct.unpack_from("<L", head, 1)[0] > limits.field:
                raise over(Reason.FILE_FIELD_TOO_LONG, "", limits.field, where=where(None), unit="字符")


def xlsb_sheet_relations(part: IO[bytes], chunk: int) -> list[tuple[str, str]]:
    """(sheet name, relationship id) of every sheet listed in xl/workbook.bin, in order."""
    found = []
    for kind, head, _ in _Records(part, 4096, chunk):
        if kind == 0x009C and len(head) >= 12:  # BrtBundleSh
            at = 8
            texts = []
            for _ in range(2):
                length = struct.unpack_from("<L", head, at)[0] if at + 4 <= len(head) else 0
                if length == 0xFFFFFFFF:
                    length = 0
                texts.append(head[at + 4 : at + 4 + 2 * length].decode("utf-16-le", "replace"))
                at += 4 + 2 * length
            found.append((texts[1], texts[0]))
    return found


_RELATION = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_ATTR = re.compile(rb"""([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def relation_targets(xml: bytes) -> dict[str, str]:
    """Relationship id -> target, from a .rels part."""
    from xml.sax.saxutils import unescape

    targets = {}
    for match in _RELATION.finditer(xml):
        attrs = {
            m.group(1).decode(): unescape((m.group(2) or m.group(3) or b"").decode("utf-8", "replace"))
            for m in _ATTR.finditer(match.group(1))
        }
        if "Id" in attrs and "Target" in attrs:
            targets[attrs["Id"]] = attrs["Target"]
    return targets
