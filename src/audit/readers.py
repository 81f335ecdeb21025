"""Read a batch folder into raw sheets: a grid of cells per CSV file or workbook sheet.

Nothing here interprets the cells beyond decoding; it only decides which files are tables, and
reports files it cannot open as ``FileProblem`` instead of raising.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.reasons import Reason

TABLE_SUFFIXES = {".csv", ".xlsx", ".xlsm"}
REFUSED_SUFFIXES = {".xls", ".et"}


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
    file: str
    sheet: str
    reason: Reason
    detail: str = ""

    def message(self) -> str:
        return self.reason.render(detail=self.detail)


@dataclass
class Skipped:
    file: str
    sheet: str
    why: str


def discover(batch: Path) -> list[Path]:
    """Every file below the batch folder, in a stable order."""
    return sorted(
        (p for p in batch.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(batch).parts)),
        key=lambda p: p.relative_to(batch).as_posix(),
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def read_csv(path: Path, rel: str) -> RawSheet | FileProblem:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileProblem(rel, "", Reason.FILE_UNREADABLE, exc.strerror or str(exc))
    if not data.strip():
        return FileProblem(rel, "", Reason.FILE_EMPTY)
    if _looks_binary(data):
        return FileProblem(rel, "", Reason.FILE_BINARY)
    decoded = decode(data)
    if decoded is None:
        return FileProblem(rel, "", Reason.FILE_UNDECODABLE)
    text, encoding = decoded
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        return FileProblem(rel, "", Reason.FILE_UNREADABLE, f"CSV 格式错误：{exc}")
    rows = [(number, record) for number, record in enumerate(records, start=1)]
    return RawSheet(rel, "", path.stem, path.stem, rows, encoding)


def read_xlsx(path: Path, rel: str) -> Iterator[RawSheet | FileProblem]:
    import openpyxl  # imported lazily: CLI start-up stays fast for CSV-only batches

    try:
        values = openpyxl.load_workbook(path, read_only=True, data_only=True)
        # Formula cells without a cached result read as blank; load the formulas only when the
        # workbook has any, so a plain export is read once.
        formulas = openpyxl.load_workbook(path, read_only=True, data_only=False) if _has_formulas(path) else None
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, type(exc).__name__)
        return
    except Exception as exc:
        yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, f"{type(exc).__name__}: {exc}"[:200])
        return
    try:
        for sheet in values.worksheets:
            formula_rows = formulas[sheet.title].iter_rows(min_row=1, values_only=True) if formulas else None
            rows: list[tuple[int, list[Any]]] = []
            for number, row in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
                cells = list(row)
                if formula_rows is not None:
                    sources = next(formula_rows, ())
                    for i, (value, source) in enumerate(zip(cells, sources, strict=False)):
                        if value is None and isinstance(source, str) and source.startswith("="):
                            cells[i] = FormulaWithoutValue(source)
                rows.append((number, cells))
            yield RawSheet(rel, sheet.title, sheet.title, path.stem, rows, "xlsx", hidden=sheet.sheet_state != "visible")
    except (zipfile.BadZipFile, KeyError, EOFError, ValueError) as exc:
        yield FileProblem(rel, "", Reason.FILE_BROKEN_XLSX, f"{type(exc).__name__}: {exc}"[:200])
    finally:
        values.close()
        if formulas is not None:
            formulas.close()


def _has_formulas(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        return any(
            b"<f>" in archive.read(name) or b"<f " in archive.read(name)
            for name in archive.namelist()
            if name.startswith("xl/worksheets/") and name.endswith(".xml")
        )


class FormulaWithoutValue(str):
    """A formula cell saved without a cached result (written by a tool, never opened in Excel)."""


def read_batch(batch: Path) -> Iterator[RawSheet | FileProblem | Skipped]:
    """Every sheet of every table file in the batch, plus what could not be read or was skipped."""
    for path in discover(batch):
        rel = path.relative_to(batch).as_posix()
        suffix = path.suffix.lower()
        if path.name.startswith("~$"):
            yield Skipped(rel, "", "Office 临时锁文件")
        elif suffix in REFUSED_SUFFIXES:
            yield FileProblem(rel, "", Reason.FILE_XLS)
        elif suffix == ".csv":
            yield read_csv(path, rel)
        elif suffix in (".xlsx", ".xlsm"):
            yield from read_xlsx(path, rel)
        else:
            yield Skipped(rel, "", f"不是表格文件（{suffix or '无扩展名'}）")
