"""Ingest a batch of exports into typed canonical polars tables.

raw sheets (readers) -> recognise table and header -> parse every value -> accepted rows or
quarantine -> duplicate keys and references across tables -> ``Ingested``.

Every data row below a header is either accepted or quarantined with a reason, so
``rows_read = rows_accepted + rows_quarantined`` holds for every source file and sheet.

ID and mobile numbers are masked (``audit.privacy``) on the way in: in every text cell, every
problem's value and message, and every file, sheet and extra-column name, so no later stage ever
holds them whole.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from audit.contract import SOURCE_COLUMNS, Column, Contract, Table, load_contract
from audit.io import write_csv, write_table
from audit.limits import Limits
from audit.privacy import mask_personal, shown, visible
from audit.readers import FileProblem, FormulaWithoutValue, RawSheet, Skipped, discover, read_batch, sha256_file
from audit.reasons import Action, Reason
from audit.values import (
    Parsed,
    cell_text,
    check_id_number,
    enum_parser,
    fail,
    is_blank,
    mask_phone,
    parse_date,
    parse_integer,
    parse_month,
    parse_number,
    parse_text,
    parse_yesno,
)

HEADER_SCAN_ROWS = 30
MAX_KEY_LENGTH = 64  # an identifier longer than this is not an id (and would not fit a page name)
KEY_SHOWN = 24  # characters of a refused identifier a message shows
REPORT_COLUMNS = ["file", "sheet", "table", "rows_read", "rows_accepted", "rows_quarantined"]
QUARANTINE_COLUMNS = ["file", "sheet", "row", "column", "value", "reason", "table", "action", "code"]


class BatchNotFoundError(Exception):
    """The batch folder does not exist or is not a folder."""


@dataclass
class Problem:
    """One quarantine entry: a rejected row, a rejected value, or a file that was not imported."""

    file: str
    sheet: str
    row: int | None
    column: str
    value: str
    reason: Reason
    message: str
    table: str
    action: Action

    def __post_init__(self) -> None:
        """Every problem is masked where it is made: reasons render raw values, names come from the
        batch, exception text can hold paths. Values and messages show control characters escaped."""
        self.file, self.sheet = mask_personal(self.file), mask_personal(self.sheet)
        self.column = visible(mask_personal(self.column))
        self.value = visible(mask_personal(self.value))
        self.message = visible(mask_personal(self.message))

    def as_row(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "reason": self.message,
            "table": self.table,
            "action": self.action.value,
            "code": self.reason.name,
        }


@dataclass
class SourceStats:
    file: str
    sheet: str
    table: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # canonical column -> header as written
    hidden: bool = False
    encoding: str = ""


@dataclass
class Ingested:
    """The outcome of ingesting one batch."""

    batch: Path
    tables: dict[str, pl.DataFrame]
    sources: list[SourceStats]
    problems: list[Problem]
    skipped: list[Skipped]
    contract_version: str
    files: dict[str, str]  # relative path (masked, see `input_files`) -> sha256

    @property
    def report(self) -> pl.DataFrame:
        rows = [{c: getattr(s, c) for c in REPORT_COLUMNS} for s in self.sources]
        schema = {c: pl.Int64 if c.startswith("rows") else pl.String for c in REPORT_COLUMNS}
        return pl.DataFrame(rows, schema=schema, orient="row")

    @property
    def quarantine(self) -> pl.DataFrame:
        schema = {c: pl.Int64 if c == "row" else pl.String for c in QUARANTINE_COLUMNS}
        return pl.DataFrame([p.as_row() for p in self.problems], schema=schema, orient="row")

    @property
    def rows_accepted(self) -> int:
        return sum(s.rows_accepted for s in self.sources)

    @property
    def usable(self) -> bool:
        return self.rows_accepted > 0

    def write(self, out: Path) -> None:
        """Write the ingest report, the quarantine and one Parquet file per canonical table."""
        out.mkdir(parents=True, exist_ok=True)
        write_csv(self.report, out / "ingest_report.csv")
        write_table(self.quarantine, out, "quarantine")  # the Parquet copy is what `audit.load` reads
        tables_dir = out / "tables"
        tables_dir.mkdir(exist_ok=True)
        for name, frame in self.tables.items():
            frame.write_parquet(tables_dir / f"{name}.parquet", statistics=False)
        meta = {
            "batch": self.batch.name,
            "contract_version": self.contract_version,
            "files": self.files,
            "skipped": [{"file": s.file, "sheet": s.sheet, "why": s.why} for s in self.skipped],
            "tables": {name: frame.height for name, frame in self.tables.items()},
        }
        (out / "ingest_meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8")


def load_tables(processed: Path) -> dict[str, pl.DataFrame]:
    """Read the canonical tables written by ``Ingested.write``."""
    return {p.stem: pl.read_parquet(p) for p in sorted((processed / "tables").glob("*.parquet"))}


def branch_tables(processed: Path, branch_id: str) -> dict[str, pl.DataFrame]:
    """The canonical tables cut to one branch, read with filters pushed into the scans: the branch's
    members, meetings and everything keyed by them (attendance at its meetings or by its members);
    tables without a branch or member key, and the branch list itself, whole. A branch page needs
    nothing else, so it does not read the whole batch."""
    scans = scan_tables(processed)
    mine = pl.col("branch_id") == branch_id
    tables = {"members": scans["members"].filter(mine).collect(), "meetings": scans["meetings"].filter(mine).collect()}
    member_ids = tables["members"]["member_id"].implode()
    meeting_ids = tables["meetings"]["meeting_id"].implode()
    queries: dict[str, pl.LazyFrame] = {}
    for name, scan in scans.items():
        if name in tables:
            continue
        columns = scan.collect_schema().names()
        if name == "attendance":
            queries[name] = scan.filter(pl.col("meeting_id").is_in(meeting_ids) | pl.col("member_id").is_in(member_ids))
        elif name != "branches" and "branch_id" in columns:
            queries[name] = scan.filter(mine)
        elif "member_id" in columns:
            queries[name] = scan.filter(pl.col("member_id").is_in(member_ids))
        else:
            queries[name] = scan
    tables.update(zip(queries, pl.collect_all(list(queries.values())), strict=True))
    return {name: tables[name] for name in scans}


def scan_tables(processed: Path) -> dict[str, pl.LazyFrame]:
    """The canonical tables as lazy scans: facts then read only the columns and rows they use
    (how `compute_facts` stays within memory at province scale)."""
    return {p.stem: pl.scan_parquet(p) for p in sorted((processed / "tables").glob("*.parquet"))}


# --- per sheet ------------------------------------------------------------------------------------


def _is_identifier(table: Table, column: Column) -> bool:
    """Text columns that name a record: a table's own single key, or a reference to another table."""
    return column.type == "text" and (column.ref is not None or table.key == (column.name,))


def _key_problem(text: str) -> str | None:
    """Why a (folded) cell cannot serve as an identifier, or None when it can."""
    if len(text) > MAX_KEY_LENGTH:
        return f"长度为 {len(text)} 个字符，超过上限 {MAX_KEY_LENGTH}"
    if not text.isprintable() and visible(text) != text:
        return "含有控制字符或不可见字符"
    return None


def _parser_for(column: Column, identifier: bool = False) -> Callable[[Any], Parsed]:
    if identifier:

        def parse_identifier(raw: Any) -> Parsed:
            text = cell_text(raw)
            why = _key_problem(text)
            if why is not None:
                return fail(Reason.BAD_KEY, label=column.label, value=shown(text, KEY_SHOWN), why=why)
            return parse_text(raw)

        return parse_identifier
    base: Callable[[Any], Parsed] = {
        "text": parse_text,
        "date": parse_date,
        "month": parse_month,
        "number": parse_number,
        "integer": parse_integer,
        "yesno": parse_yesno,
    }.get(column.type, parse_text)
    if column.type == "enum":
        base = enum_parser(column.label, column.values or {})
    if column.min is None and column.max is None:
        return base

    def bounded(raw: Any) -> Parsed:
        parsed = base(raw)
        if not parsed.ok:
            return parsed
        shown = cell_text(raw)
        if column.min is not None and parsed.value < column.min:
            if column.type == "number" and column.min == 0:
                return fail(Reason.NEGATIVE_AMOUNT, value=shown)
            return fail(Reason.BELOW_MIN, label=column.label, min=column.min, value=shown)
        if column.max is not None and parsed.value > column.max:
            return fail(Reason.ABOVE_MAX, label=column.label, max=column.max, value=shown)
        return parsed

    return bounded


def _cache_key(raw: Any) -> Any:
    return (type(raw), raw) if raw is None or isinstance(raw, (str, int, float, bool)) or hasattr(raw, "isoformat") else None


def _is_empty_row(cells: list[Any]) -> bool:
    return all(is_blank(c) for c in cells)


def _find_header(sheet: RawSheet, table: Table) -> int | None:
    """Index into ``sheet.rows`` of the first row naming at least half of the required columns."""
    required = {c.name for c in table.required}
    need = max(1, math.ceil(len(required) / 2))
    for index, (_, cells) in enumerate(sheet.rows[:HEADER_SCAN_ROWS]):
        named = {table.column_for(cell_text(c)) for c in cells if not is_blank(c)}
        if len(named & required) >= need:
            return index
    return None


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


class _SheetIngester:
    """Parses one raw sheet that names a table into accepted rows and problems."""

    def __init__(self, table: Table, sheet: RawSheet, stats: SourceStats, problems: list[Problem]):
        self.table, self.sheet, self.stats, self.problems = table, sheet, stats, problems
        self.parsers = {name: _parser_for(col, _is_identifier(table, col)) for name, col in table.columns.items()}
        self.mapping: dict[int, str] = {}  # cell index -> column, once the header is read
        self.caches: dict[str, dict[Any, Parsed]] = defaultdict(dict)

    def file_problem(self, reason: Reason, header: str = "", **context: object) -> None:
        self.problems.append(
            Problem(
                self.sheet.file,
                self.sheet.sheet,
                None,
                header,
                "",
                reason,
                reason.render(**context),
                self.table.name,
                Action.FILE,
            )
        )

    def run(self) -> pl.DataFrame | None:
        table, sheet = self.table, self.sheet
        if not any(not _is_empty_row(cells) for _, cells in sheet.rows):
            self.file_problem(Reason.FILE_EMPTY)
            return None
        header_index = _find_header(sheet, table)
        if header_index is None:
            data_rows = [r for r in sheet.rows if not _is_empty_row(r[1])]
            self.stats.rows_read = self.stats.rows_quarantined = len(data_rows)
            required = "、".join(c.label for c in table.required)
            self.file_problem(Reason.FILE_NO_HEADER, scan=HEADER_SCAN_ROWS, required=required)
            return None
        _, header_cells = sheet.rows[header_index]
        data = [(n, cells) for n, cells in sheet.rows[header_index + 1 :] if not _is_empty_row(cells)]
        self.stats.rows_read = len(data)
        mapping = self._map_header(header_cells, data)
        if mapping is None:
            self.stats.rows_quarantined = len(data)
            return None
        self.mapping = mapping
        return self._parse_rows(mapping, len(header_cells), data)

    def _map_header(self, header_cells: list[Any], data: list[tuple[int, list[Any]]]) -> dict[int, str] | None:
        table, rows = self.table, len(data)
        mapping: dict[int, str] = {}
        written: dict[str, str] = {}
        reserved = {*table.columns, *SOURCE_COLUMNS, "id_number_status"}
        broken = False
        for index, cell in enumerate(header_cells):
            text = cell_text(cell)
            as_written = mask_personal(str(cell).strip())  # the header as the user wrote it, for messages
            if not text:
                if any(index < len(cells) and not is_blank(cells[index]) for _, cells in data):
                    name = f"列{_column_letter(index)}"
                    mapping[index], written[name] = name, name
                continue
            canonical = table.column_for(text)
            if canonical is None:
                name = mask_personal(text)  # an extra column's header becomes a Parquet column name
                while name in written or name in reserved:
                    name += "_"
                mapping[index], written[name] = name, as_written
            elif canonical in written:
                column = table.columns[canonical]
                self.file_problem(
                    Reason.FILE_DUPLICATE_HEADER,
                    column.label,
                    first=written[canonical],
                    second=as_written,
                    label=column.label,
                    column=canonical,
                    rows=rows,
                )
                broken = True
            else:
                mapping[index], written[canonical] = canonical, as_written
        for column in table.required:
            if column.name not in written:
                self.file_problem(Reason.FILE_MISSING_COLUMN, column.label, label=column.label, column=column.name, rows=rows)
                broken = True
        self.stats.headers = written
        return None if broken else mapping

    def _parse(self, name: str, raw: Any) -> Parsed:
        if isinstance(raw, FormulaWithoutValue):
            return fail(Reason.FORMULA_NO_VALUE, value=str(raw)[:60])
        key = _cache_key(raw)
        cache = self.caches[name]
        if key is not None and key in cache:
            return cache[key]
        parsed = self.parsers[name](raw)
        if key is not None:
            cache[key] = parsed
        return parsed

    def _parse_rows(self, mapping: dict[int, str], width: int, data: list[tuple[int, list[Any]]]) -> pl.DataFrame:
        table, sheet, stats = self.table, self.sheet, self.stats
        columns = table.columns
        extras = [name for name in mapping.values() if name not in columns]
        has_id = any(c.type == "id_number" for c in columns.values())
        out: dict[str, list[Any]] = {name: [] for name in [*columns, *(["id_number_status"] if has_id else []), *extras]}
        out.update({name: [] for name in SOURCE_COLUMNS})
        for number, cells in data:
            found: list[Problem] = []
            reject = False
            values: dict[str, Any] = dict.fromkeys(out)
            overflow = sum(1 for c in cells[width:] if not is_blank(c))
            if overflow:
                found.append(self._row_problem(number, "", "", Reason.RAGGED_ROW, extra=overflow))
                reject = True
            for index, name in mapping.items():
                raw = cells[index] if index < len(cells) else None
                if name not in columns:
                    values[name] = None if is_blank(raw) else mask_personal(cell_text(raw))
                    continue
                column = columns[name]
                header = stats.headers.get(name, column.label)
                if is_blank(raw) and not isinstance(raw, FormulaWithoutValue):
                    if column.required and column.blank_as_zero:
                        values[name] = 0.0
                    elif column.required:
                        found.append(self._row_problem(number, header, "", Reason.REQUIRED_BLANK, label=column.label))
                        reject = True
                    continue
                if column.type == "id_number":
                    check = check_id_number(raw)
                    values[name], values["id_number_status"] = check.masked, check.status
                    if check.reason is not None:
                        problem = self._row_problem(
                            number, header, check.masked, check.reason, value=check.masked, length=len(cell_text(raw))
                        )
                        problem.action = Action.NOTE
                        found.append(problem)
                    continue
                if column.type == "phone":
                    values[name] = mask_phone(cell_text(raw))
                    continue
                parsed = self._parse(name, raw)
                if parsed.ok:
                    values[name] = parsed.value
                    continue
                displayed = shown(cell_text(raw), KEY_SHOWN if parsed.reason is Reason.BAD_KEY else 200)
                found.append(self._row_problem(number, header, displayed, parsed.reason, **dict(parsed.context)))
                if column.required:
                    reject = True
                else:
                    found[-1].action = Action.VALUE
            if has_id and values.get("id_number") is None:
                values["id_number_status"] = "missing"
            if reject:
                for problem in found:
                    problem.action = Action.ROW
                stats.rows_quarantined += 1
            else:
                stats.rows_accepted += 1
                values.update({"_file": sheet.file, "_sheet": sheet.sheet, "_row": number})
                for name in out:
                    out[name].append(values[name])
            self.problems.extend(found)
        schema = {**table.schema(), **dict.fromkeys(extras, pl.String())}
        return pl.DataFrame(out, schema=schema)

    def _row_problem(self, row: int, column: str, displayed: str, reason: Reason, **context: object) -> Problem:
        return Problem(
            self.sheet.file,
            self.sheet.sheet,
            row,
            column,
            displayed,
            reason,
            reason.render(**context),
            self.table.name,
            Action.ROW,
        )


# --- batch ---------------------------------------------------------------------------------------


def _assign_tables(items: list[RawSheet | FileProblem | Skipped], contract: Contract):
    """Decide the table of each raw sheet: the sheet name wins over the file stem; a workbook
    whose sheets name nothing is the table its stem names (first sheet; the others skipped)."""
    by_file: dict[str, list[RawSheet]] = defaultdict(list)
    for item in items:
        if isinstance(item, RawSheet):
            by_file[item.file].append(item)
    assigned: list[tuple[RawSheet, str]] = []
    skipped: list[Skipped] = []
    for file, sheets in by_file.items():
        named = [(s, contract.table_for_name(s.name_hint)) for s in sheets]
        if not any(t for _, t in named if t) and sheets[0].sheet:
            stem_table = contract.table_for_name(sheets[0].stem)
            candidates = [s for s in sheets if any(not _is_empty_row(c) for _, c in s.rows)] or sheets[:1]
            if stem_table:
                assigned.append((candidates[0], stem_table))
                skipped += [
                    Skipped(file, s.sheet, "工作表名称不对应任何表，且已按文件名读取第一个工作表")
                    for s in sheets
                    if s is not candidates[0]
                ]
            else:
                skipped += [Skipped(file, s.sheet, "文件名和工作表名称都不对应任何表") for s in sheets]
            continue
        for sheet, table in named:
            if table:
                assigned.append((sheet, table))
            elif sheet.sheet:
                skipped.append(Skipped(file, sheet.sheet, "工作表名称不对应任何表"))
            else:
                skipped.append(Skipped(file, "", "文件名不对应任何表"))
    return assigned, skipped


def ingest(batch: Path | str, contract: Contract | None = None, *, limits: Limits | None = None) -> Ingested:
    """Read every table of a batch folder; never raises for bad content, only for a missing folder.
    A file over one of ``limits`` (defaults: ``audit.limits.Limits()``) is refused, the rest read."""
    batch = Path(batch)
    if not batch.is_dir():
        raise BatchNotFoundError(f"找不到数据批次文件夹：{batch}")
    contract = contract or load_contract()
    names = _Names(batch)
    items = [names.masked(item) for item in read_batch(batch, limits)]
    problems: list[Problem] = []
    sources: list[SourceStats] = []
    skipped = [i for i in items if isinstance(i, Skipped)]
    for item in items:
        if isinstance(item, FileProblem):
            table = contract.table_for_name(Path(item.file).stem) or ""
            problems.append(Problem(item.file, item.sheet, None, "", "", item.reason, item.message(), table, Action.FILE))
            sources.append(SourceStats(item.file, item.sheet, table))
    assigned, more_skipped = _assign_tables(items, contract)
    skipped += more_skipped
    frames: dict[str, list[pl.DataFrame]] = defaultdict(list)
    quarantined_keys: dict[str, set[str]] = defaultdict(set)
    for sheet, table_name in assigned:
        table = contract.tables[table_name]
        stats = SourceStats(sheet.file, sheet.sheet, table_name, hidden=sheet.hidden, encoding=sheet.encoding)
        sources.append(stats)
        before = len(problems)
        ingester = _SheetIngester(table, sheet, stats, problems)
        frame = ingester.run()
        if frame is not None and frame.height:
            frames[table_name].append(frame)
        _remember_quarantined_keys(ingester, problems[before:], quarantined_keys)
    tables = {
        name: pl.concat(frames[name], how="diagonal_relaxed") if frames[name] else pl.DataFrame(schema=table.schema())
        for name, table in contract.tables.items()
    }
    checker = _CrossTableChecker(contract, tables, sources, problems, quarantined_keys)
    tables = checker.run()
    problems.sort(key=lambda p: (p.file, p.sheet, p.row if p.row is not None else -1))
    sources.sort(key=lambda s: (s.file, s.sheet))
    files = {name: sha256_file(path) for name, path in names.files.items()}
    return Ingested(batch, tables, sources, problems, skipped, contract.version, files)


def input_files(batch: Path) -> dict[str, Path]:
    """The files ingestion reads, by the name every output gives them (masked, see `_Names`):
    what `ingest_meta.json` and `manifest.json` record and `audit verify-manifest` re-hashes."""
    return _Names(batch).files


class _Names:
    """File and sheet names as outputs show them: ID and mobile numbers masked, control characters
    escaped. Two names that differ only in masked digits stay distinct: the later one (files in
    path order, sheets in workbook order) gets `~2`, `~3`, … before its extension."""

    def __init__(self, batch: Path):
        self._files: dict[str, str] = {}
        self._sheets: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()
        self._taken_sheets: dict[str, set[str]] = defaultdict(set)
        self.files: dict[str, Path] = {}
        for path in discover(batch):
            self.files[self.file(path.relative_to(batch).as_posix())] = path

    def file(self, raw: str) -> str:
        if raw not in self._files:
            self._files[raw] = _distinct(visible(mask_personal(raw)), self._taken, with_suffix=True)
        return self._files[raw]

    def sheet(self, file: str, raw: str) -> str:
        if not raw:
            return raw
        if (file, raw) not in self._sheets:
            self._sheets[(file, raw)] = _distinct(visible(mask_personal(raw)), self._taken_sheets[file], with_suffix=False)
        return self._sheets[(file, raw)]

    def masked(self, item: RawSheet | FileProblem | Skipped) -> RawSheet | FileProblem | Skipped:
        """A reader's item with its file and sheet names (and the hints naming its table) masked."""
        file, sheet = self.file(item.file), self.sheet(item.file, item.sheet)
        if isinstance(item, RawSheet):
            stem = PurePosixPath(file).stem
            return replace(item, file=file, sheet=sheet, name_hint=sheet if item.sheet else stem, stem=stem)
        if isinstance(item, Skipped):
            return replace(item, file=file, sheet=sheet, why=visible(mask_personal(item.why)))
        return replace(item, file=file, sheet=sheet)


def _distinct(name: str, taken: set[str], *, with_suffix: bool) -> str:
    """`name`, or `name~2`, `name~3`, … (before a file's extension): the first not yet taken."""
    candidate, n = name, 1
    path = PurePosixPath(name)
    while candidate in taken:
        n += 1
        if with_suffix and path.suffix:
            candidate = str(path.with_name(f"{path.stem}~{n}{path.suffix}"))
        else:
            candidate = f"{name}~{n}"
    taken.add(candidate)
    return candidate


def _remember_quarantined_keys(ingester: _SheetIngester, found: list[Problem], keys: dict[str, set[str]]) -> None:
    """Keys of rows quarantined while parsing (as the key column holds them: masked), so a reference
    to them says so instead of 'missing'."""
    table, sheet = ingester.table, ingester.sheet
    if len(table.key) != 1:
        return
    rows = {p.row for p in found if p.action is Action.ROW and p.row is not None}
    index = next((i for i, name in ingester.mapping.items() if name == table.key[0]), None)
    if not rows or index is None:
        return
    for number, cells in sheet.rows:
        if number in rows and index < len(cells) and not is_blank(cells[index]):
            keys[table.name].add(mask_personal(cell_text(cells[index])))


class _CrossTableChecker:
    """Duplicate keys and references between tables, quarantined like row problems."""

    def __init__(self, contract, tables, sources, problems, quarantined_keys):
        self.contract: Contract = contract
        self.tables: dict[str, pl.DataFrame] = tables
        self.stats = {(s.file, s.sheet, s.table): s for s in sources}
        self.problems: list[Problem] = problems
        self.quarantined_keys: dict[str, set[str]] = quarantined_keys

    def run(self) -> dict[str, pl.DataFrame]:
        for table in self.contract.tables.values():
            self._duplicates(table)
        for table in self.contract.tables.values():
            for column in table.columns.values():
                if column.ref and column.required:
                    self._reference(table, column)
        for table in self.contract.tables.values():
            for column in table.columns.values():
                if column.ref and not column.required:
                    self._reference(table, column)
        return self.tables

    def _header(self, row: dict[str, Any], table: str, column: Column) -> str:
        stats = self.stats[(row["_file"], row["_sheet"], table)]
        return stats.headers.get(column.name, column.label)

    def _quarantine(self, table: str, rows: pl.DataFrame, make: Callable[[dict[str, Any]], Problem]) -> None:
        key = self.contract.tables[table].key
        for row in rows.iter_rows(named=True):
            self.problems.append(make(row))
            if len(key) == 1 and row[key[0]] is not None:
                self.quarantined_keys[table].add(str(row[key[0]]))
            stats = self.stats[(row["_file"], row["_sheet"], table)]
            stats.rows_accepted -= 1
            stats.rows_quarantined += 1

    def _duplicates(self, table: Table) -> None:
        frame = self.tables[table.name]
        if frame.is_empty():
            return
        key = list(table.key)
        frame = frame.with_columns(_first=pl.struct(key).is_first_distinct())
        dupes = frame.filter(~pl.col("_first"))
        if dupes.is_empty():
            self.tables[table.name] = frame.drop("_first")
            return
        firsts = frame.filter(pl.col("_first")).select(*key, _first_at=pl.format("{} 第{}行", pl.col("_file"), pl.col("_row")))
        dupes = dupes.join(firsts, on=key, how="left", nulls_equal=True)
        label_column = table.columns[key[0]]
        key_text = "、".join(table.columns[k].label for k in key)

        def make(row: dict[str, Any]) -> Problem:
            value = "/".join("" if row[k] is None else str(row[k]) for k in key)
            reason = Reason.DUPLICATE
            message = reason.render(first=row["_first_at"], key=key_text)
            return Problem(
                row["_file"],
                row["_sheet"],
                row["_row"],
                self._header(row, table.name, label_column),
                value,
                reason,
                message,
                table.name,
                Action.ROW,
            )

        self._quarantine(table.name, dupes, make)
        self.tables[table.name] = frame.filter(pl.col("_first")).drop("_first")

    def _reference(self, table: Table, column: Column) -> None:
        frame = self.tables[table.name]
        target_table, target_column = column.ref.split(".")
        if frame.is_empty():
            return
        valid = self.tables[target_table].get_column(target_column).unique()
        dangling_mask = pl.col(column.name).is_not_null() & ~pl.col(column.name).is_in(valid.implode())
        dangling = frame.filter(dangling_mask)
        if dangling.is_empty():
            return
        target_label = self.contract.tables[target_table].columns[target_column].label
        known_bad = self.quarantined_keys.get(target_table, set())

        def make(row: dict[str, Any]) -> Problem:
            value = row[column.name]
            reason = Reason.REF_QUARANTINED if value in known_bad else Reason.DANGLING_REF
            return Problem(
                row["_file"],
                row["_sheet"],
                row["_row"],
                self._header(row, table.name, column),
                value,
                reason,
                reason.render(label=target_label, value=value),
                table.name,
                Action.ROW if column.required else Action.VALUE,
            )

        if column.required:
            self._quarantine(table.name, dangling, make)
            self.tables[table.name] = frame.filter(~dangling_mask)
        else:
            self.problems.extend(make(row) for row in dangling.iter_rows(named=True))
            self.tables[table.name] = frame.with_columns(
                pl.when(dangling_mask).then(None).otherwise(pl.col(column.name)).alias(column.name)
            )
