"""Ingest a batch of exports into typed canonical polars tables.

raw sheets (readers) -> recognise table and header -> parse every value -> accepted rows or
quarantine -> identities (``audit.identity``: member, branch and meeting keys from what the exports
carry) -> duplicate keys and references across tables -> how each meeting's attendance is known
(``audit.meetings``) and who holds each branch's offices (``audit.offices``) -> ``Ingested``.

Every row below a header is accepted, quarantined with a reason, or skipped as not data
(template instructions, footers, notes blocks) with a reason, so
``rows_read = rows_accepted + rows_quarantined + rows_skipped`` holds for every source file and
sheet, counted by distinct source row (a layout may read several rows from one). Rows a table gains
from another table's source row — a branch created from a reference to it, attendance from a
meeting's 缺席人员 text (``identity.Derived``) — are not rows read: they keep that source row's
``_file``/``_sheet``/``_row`` and are counted in its ``rows_derived``. So every row of every table
is either read from an accepted row of a sheet of that table or derived from a data row of a sheet
of another, and each source's ``rows_derived`` is the number of rows derived from it.

ID and mobile numbers are masked (``audit.privacy``) on the way in: in every text cell, every
problem's value and message, and every file, sheet and extra-column name, so no later stage ever
holds them whole.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import json
import math
import operator
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from audit.cache import CacheUse, IngestCache, code_version, make_key
from audit.contract import (
    HOW_ALIAS,
    HOW_UNIT,
    SOURCE_COLUMNS,
    Column,
    Contract,
    Table,
    load_contract,
    normalize_header,
    strip_unit,
)
from audit.dues import DECLARED_BY, DERIVED_IF_ABSENT
from audit.errors import AuditError
from audit.helpers import Helper
from audit.identity import (
    ID_COLUMN,
    KEY_SHOWN,
    Derived,
    IdentityReport,
    Issue,
    key_problem,
    member_labels,
    members_by_name,
    normalise_id_number,
    resolve_identities,
    seal_id_number,
)
from audit.identity import MAX_KEY_LENGTH as MAX_KEY_LENGTH  # (tests and callers read it here)
from audit.io import write_csv, write_table
from audit.layouts import Reshaped, Unresolved, YearHint, implied_columns, merge_columns, reshape
from audit.limits import Limits
from audit.mapping import HOW_FIXED, HOW_MAPPING, ReviewerMapping, apply_mapping, fixed_for
from audit.meetings import attendance_shapes, resolve_hosts
from audit.offices import fill_offices
from audit.privacy import (
    MIN_DIGITS,
    SecretError,
    holds_personal,
    installation_secret,
    mask_personal,
    secret_path,
    shown,
    tag_personal,
    visible,
)
from audit.readers import (
    TABLE_SUFFIXES,
    Entry,
    FileProblem,
    FormulaWithoutValue,
    RawSheet,
    Skipped,
    discover,
    entries,
    gc_paused,
    read_entry,
    sha256_file,
)
from audit.reasons import Action, Reason
from audit.values import (
    MAX_TEXT,
    Parsed,
    cell_text,
    check_id_number,
    enum_in_text_parser,
    enum_parser,
    fail,
    fold,
    is_blank,
    is_placeholder,
    mask_phone,
    parse_date,
    parse_history_date,
    parse_integer,
    parse_month,
    parse_number,
    parse_rate,
    parse_text,
    parse_yesno,
)

HEADER_SCAN_ROWS = 30
REPORT_COLUMNS = [
    *("file", "sheet", "table"),
    *("rows_read", "rows_accepted", "rows_quarantined", "rows_skipped", "rows_derived"),
]
QUARANTINE_COLUMNS = ["file", "sheet", "row", "column", "value", "reason", "table", "action", "code"]
COLUMN_MAP_COLUMNS = ["file", "sheet", "table", "header_row", "source_header", "column", "how"]


class BatchNotFoundError(AuditError):
    """The batch folder does not exist or is not a folder."""


class PseudonymKeyError(BatchNotFoundError):
    """The pseudonym secret a batch keyed by ID numbers needs cannot be read or made (a subclass of
    BatchNotFoundError, so every command reports it as unusable input: exit 2, a Chinese message)."""


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


@dataclass(frozen=True)
class ColumnMap:
    """How one source column was read: the header as written (for a fixed value: the value), the
    canonical column it became (None: not used) and why, in Chinese — shown by `audit inspect`
    and written to column_map.csv. ``how`` is one of 标准列名, 别名, 去掉单位后匹配,
    按取值判定（…）, 映射文件, 固定值（映射文件）, 取自标题, 取自工作表名, 取自文件名, 取自表头「…」,
    年份列, 未使用 (and the layouts' own)."""

    source_header: str
    column: str | None
    how: str


HOW_UNUSED = "未使用"
HOW_DERIVED_LATER = "表中没有，按核算基数和党费标准推算（无法推算的留空）"


@dataclass
class SourceStats:
    """The accounting of one source file or sheet (a row of ingest_report.csv) and how its columns
    were read. Rows count distinct source rows: ``rows_read = rows_accepted + rows_quarantined +
    rows_skipped``; ``rows_derived`` counts the rows other tables gained from this source's rows
    (a branch created from a reference in it, attendance from its 缺席人员 text), not in that sum."""

    file: str
    sheet: str
    table: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0  # rows that are not data: template instructions, footers, notes blocks
    rows_derived: int = 0  # rows of other tables derived from this source's rows (``identity.Derived``)
    headers: dict[str, str] = field(default_factory=dict)  # canonical column -> header as written
    hidden: bool = False
    encoding: str = ""
    header_row: int | None = None  # Excel row number of the header row
    columns: list[ColumnMap] = field(default_factory=list)  # one per non-blank header cell, then fixed values


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
    mapping: ReviewerMapping | None = None  # the reviewer's mapping file, if one was given
    recognised: dict[tuple[str, str], str] = field(default_factory=dict)  # (file, sheet) -> how (`_assign_tables`)
    identities: IdentityReport = field(default_factory=IdentityReport)  # branches and keys resolved (`audit inspect`)
    cache: CacheUse | None = field(default=None, compare=False)  # files taken from the ingestion cache (None: not used)

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
    def column_map(self) -> pl.DataFrame:
        """How every source column was read (column_map.csv): one row per ColumnMap of every source."""
        rows = [
            {
                "file": s.file,
                "sheet": s.sheet,
                "table": s.table,
                "header_row": s.header_row,
                "source_header": c.source_header,
                "column": c.column,
                "how": c.how,
            }
            for s in self.sources
            for c in s.columns
        ]
        schema = {c: pl.Int64 if c == "header_row" else pl.String for c in COLUMN_MAP_COLUMNS}
        return pl.DataFrame(rows, schema=schema, orient="row")

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
        write_csv(self.column_map, out / "column_map.csv")  # how each source column was read (C)
        tables_dir = out / "tables"
        tables_dir.mkdir(exist_ok=True)
        for name, frame in self.tables.items():
            frame.write_parquet(tables_dir / f"{name}.parquet", statistics=False)
        meta = {
            "batch": mask_personal(self.batch.name),
            "contract_version": self.contract_version,
            "files": self.files,
            "mapping": self.mapping.manifest if self.mapping is not None else None,
            "skipped": [{"file": s.file, "sheet": s.sheet, "why": s.why} for s in self.skipped],
            "tables": {name: frame.height for name, frame in self.tables.items()},
        }
        (out / "ingest_meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8")


class TableFiles(Mapping[str, pl.DataFrame]):
    """The canonical tables written by ``Ingested.write`` (`tables/<name>.parquet` of the folder
    `processed`), each read when it is first used and then kept (`audit.load`): a notebook does
    not read the tables it never touches (the overview needs the branch list, members and dues,
    not the attendance: at city scale 18 million rows, 4.4 GB once read)."""

    def __init__(self, processed: Path) -> None:
        self._paths = {path.stem: path for path in sorted((processed / "tables").glob("*.parquet"))}
        self._read: dict[str, pl.DataFrame] = {}

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name not in self._read:
            self._read[name] = pl.read_parquet(self._paths[name])  # KeyError for a table not there
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __contains__(self, name: object) -> bool:  # without reading the table (Mapping's would)
        return name in self._paths

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"TableFiles({', '.join(self._paths)})"

    @property
    def loaded(self) -> list[str]:
        """The tables read so far."""
        return list(self._read)


def load_tables(processed: Path) -> dict[str, pl.DataFrame]:
    """Read the canonical tables written by ``Ingested.write``, all of them now."""
    return dict(TableFiles(processed))


def branch_tables(processed: Path, branch_id: str) -> dict[str, pl.DataFrame]:
    """The canonical tables cut to one branch: the branch's members, meetings and everything keyed
    by them (attendance at its meetings or by its members); tables without a branch or member key,
    and the branch list itself, whole (`audit.partition.branch_rule`). A branch page needs nothing
    else, so it reads its slice of the tables partitioned by branch, not the whole batch; a folder
    written before those existed is read with the filters pushed into the scans of the tables."""
    from audit.partition import filter_branch, read_branch_copies

    copies = read_branch_copies(processed / "tables", branch_id)
    return copies if copies is not None else filter_branch(scan_tables(processed), branch_id)


def scan_tables(processed: Path) -> dict[str, pl.LazyFrame]:
    """The canonical tables as lazy scans: facts then read only the columns and rows they use
    (how `compute_facts` stays within memory at province scale)."""
    return {p.stem: pl.scan_parquet(p) for p in sorted((processed / "tables").glob("*.parquet"))}


# --- per sheet ------------------------------------------------------------------------------------


def _is_identifier(table: Table, column: Column) -> bool:
    """Text columns that name a record: a table's own single key, or a reference to another table."""
    return column.type == "text" and (column.ref is not None or table.key == (column.name,))


def _tagged_columns(table: Table) -> frozenset[str]:
    """The columns whose values identify a member or branch (`_is_identifier`, the personnel
    numbers that stand in for a member key, texts that may name a member by its key:
    `names_member`): read whole, then an ID or mobile number in one is masked and tagged
    (`_tag_keys`), so identifiers that mask alike stay distinct and a text naming a member by
    such a key still equals it."""
    standing = {c.identity["personnel_no"] for c in table.columns.values() if c.identity and "personnel_no" in c.identity}
    return frozenset(c.name for c in table.columns.values() if _is_identifier(table, c) or c.name in standing or c.names_member)


def _parser_for(column: Column, identifier: bool = False, whole: bool = False) -> Callable[[Any], Parsed]:
    """The parser of one column; a placeholder for blank (`无`, `—`, `/`) parses to None in every
    column but a yes/no one (where `无` means no), so the caller treats it as a blank cell. A
    ``whole`` column's text (an ``identifier``'s always) keeps its ID and mobile numbers
    (`_tag_keys` masks them)."""
    base = _base_parser(column, identifier, whole)
    if column.type == "yesno":
        return base

    def parse_or_placeholder(raw: Any) -> Parsed:
        return _PLACEHOLDER if is_placeholder(raw) else base(raw)

    return parse_or_placeholder


_PLACEHOLDER = Parsed(None)


def _whole_text(raw: Any) -> Parsed:
    """`parse_text` without masking: an identifier's text as written, until `_tag_keys`."""
    text = cell_text(raw)
    if len(text) > MAX_TEXT:
        return fail(Reason.TOO_LONG, length=len(text), limit=MAX_TEXT)
    return Parsed(text)


def _base_parser(column: Column, identifier: bool, whole: bool) -> Callable[[Any], Parsed]:
    if identifier:  # always read whole (`_tagged_columns`)

        def parse_identifier(raw: Any) -> Parsed:
            text = cell_text(raw)
            why = key_problem(text)
            if why is not None:
                return fail(Reason.BAD_KEY, label=column.label, value=shown(text, KEY_SHOWN), why=why)
            return _whole_text(raw)

        return parse_identifier
    if whole:
        return _whole_text
    base: Callable[[Any], Parsed] = {
        "text": parse_text,
        "date": parse_history_date if column.month_precision else parse_date,
        "month": parse_month,
        "number": parse_number,
        "integer": parse_integer,
        "rate": parse_rate,
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


def _value_key(raw: Any) -> tuple[Any, ...]:
    """A key for a cell value that is not plain text, telling apart values Python counts equal but
    a cell shows differently: `1`, `1.0` and `True`; a formula's text and the same text typed;
    `0.0` and `-0.0`. ``key[1]`` is the value."""
    return (type(raw), raw) if raw else (type(raw), raw, repr(raw))


# (cell index or -1 for a fixed value, column name, contract column or None for an extra column,
# header as written, the fixed value)
_Entry = tuple[int, str, Column | None, str, Any]


@dataclass(frozen=True)
class _RowPlan:
    """How the rows of one sheet are read: the planned columns in order, the output columns and
    their types, the identifiers another column may stand in for, and the header's width."""

    entries: list[_Entry]
    names: list[str]
    schema: dict[str, pl.DataType]
    stand_ins: dict[str, list[str]]
    has_id: bool
    width: int


@dataclass(frozen=True, slots=True)
class _Cell:
    """What one cell gives its row: values by output column, at most one problem (header, value
    shown, reason, context, action) and whether that problem rejects the row."""

    values: tuple[tuple[str, Any], ...] = ()
    problem: tuple[str, str, Reason, tuple[tuple[str, object], ...], Action] | None = None
    reject: bool = False


_BLANK = _Cell()


def _is_empty_row(cells: list[Any]) -> bool:
    """Every cell blank (``is_blank``), decided at the first that is not."""
    for cell in cells:
        if cell is not None and (not isinstance(cell, str) or cell.strip()):
            return False
    return True


def _find_header(sheet: RawSheet, table: Table) -> int | None:
    """Index into ``sheet.rows`` of the first row naming at least half of the required columns
    that the sheet does not take as fixed values or derive (a header naming a column only when its
    values fit, such as `人员类别`, counts)."""
    required = {c.name for c in table.required if c.derive is None} - set(sheet.fixed)
    need = max(1, math.ceil(len(required) / 2))
    for index, (_, cells) in enumerate(sheet.rows[:HEADER_SCAN_ROWS]):
        named: set[str | None] = set()
        for cell in cells:
            if is_blank(cell):
                continue
            text = cell_text(cell)
            named.add(table.column_for(text))
            named.update(table.columns_if_values_fit(text))
        named.update(implied_columns(table, cells))  # layouts (C): month columns name the month and its value
        named.update(table.stood_in(named))  # identities: 姓名 or 学工号 stands in for 党员编号
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


# --- rows that are not data ----------------------------------------------------------------------

# Template instruction rows under the header: `必填`, `必填，与系统内保持一致`, `选填`, `请按…填写`, `下拉选择`.
_INSTRUCTION_WORDS = (
    "必填", "选填", "非必填", "可选填", "可不填", "不必填", "必选", "可选", "下拉选择", "下拉菜单", "下拉", "从下拉",
    "请选择", "请填写", "请输入", "请按", "请根据", "请用", "格式:", "格式：", "填写格式", "填写示例", "示例:", "示例：",
    "例:", "例：", "例如", "如:", "如：",
)  # fmt: skip
# Footer rows: totals (the whole cell) and signatures (followed by a colon): `合计`, `制表人：`.
_TOTAL_WORDS = ("合计", "总计", "小计", "共计", "累计", "本页合计", "本页小计", "本月合计", "全年合计")
_SIGNATURE_WORDS = (
    "制表人", "制表", "审核人", "审核", "审批人", "复核人", "填表人", "填报人", "填表日期", "填报日期", "制表日期",
    "审核日期", "统计日期", "报送日期", "负责人", "单位负责人", "经办人", "联系人", "联系电话", "签字", "签名", "盖章",
    "单位盖章", "党组织盖章", "日期",
)  # fmt: skip
# Notes blocks: `注意事项：`, `填写注意事项：`, `注意：`, `导入说明：`, `说明`, `填表说明`.
_NOTES_WORDS = (
    "填写注意事项", "填表注意事项", "注意事项", "导入说明", "填写说明", "填表说明", "温馨提示", "注意", "说明", "备注", "提示", "注",
)  # fmt: skip


def _words(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_INSTRUCTION = re.compile(rf"^(?:{_words(_INSTRUCTION_WORDS)})|^请.{{0,20}}(?:填写|填|选择|输入)")
_FOOTER = re.compile(rf"^(?:{_words(_TOTAL_WORDS)})(?:[:：].*)?$|^(?:{_words(_SIGNATURE_WORDS)})[:：]")
_NOTES = re.compile(rf"^(?:{_words(_NOTES_WORDS)})(?:[:：]|$|\d|[一二三四五六七八九十]+[、.])")
_NON_DATA_START = re.compile(f"{_INSTRUCTION.pattern}|{_FOOTER.pattern}|{_NOTES.pattern}")
# the first characters of all these words: most data rows are decided by one set lookup
_NON_DATA_FIRST = frozenset(w[0] for w in (*_INSTRUCTION_WORDS, *_TOTAL_WORDS, *_SIGNATURE_WORDS, *_NOTES_WORDS, "请"))
TEXT_SHOWN = 40  # characters of a skipped row's text its entry shows


# Headers that number the rows of a template and carry nothing: recognised, not kept.
ROW_NUMBER_HEADERS = frozenset({"序号", "行号", "no", "no."})
VALUES_FIT = 0.8  # share of a column's non-blank values that must fit for a value-aware header


class _SheetIngester:
    """Parses one raw sheet that names a table into accepted rows, problems and skipped rows."""

    def __init__(self, table: Table, sheet: RawSheet, stats: SourceStats, problems: list[Problem]):
        self.table, self.sheet, self.stats, self.problems = table, sheet, stats, problems
        whole = _tagged_columns(table)
        self.parsers = {name: _parser_for(col, _is_identifier(table, col), name in whole) for name, col in table.columns.items()}
        self.mapping: dict[int, str] = {}  # cell index -> column, once the header is read
        self.fixed: dict[str, Any] = {}  # column -> raw value every row takes (see RawSheet.fixed)
        self.derived_from: dict[str, int] = {}  # column -> index of the cell its value is read out of
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
        with gc_paused():  # rows of cells hold no cycles (`audit.readers.gc_paused`)
            return self._run()

    def _run(self) -> pl.DataFrame | None:
        table, sheet = self.table, self.sheet
        if not any(not _is_empty_row(cells) for _, cells in sheet.rows):
            self.file_problem(Reason.FILE_EMPTY)
            return None
        header_index = _find_header(sheet, table)
        if header_index is None:
            data_rows = [r for r in sheet.rows if not _is_empty_row(r[1])]
            self.stats.rows_read = self.stats.rows_quarantined = _distinct_rows(data_rows)
            required = "、".join(c.label for c in table.required if c.name not in sheet.fixed)
            self.file_problem(Reason.FILE_NO_HEADER, scan=HEADER_SCAN_ROWS, required=required)
            return None
        header_number, header_cells = sheet.rows[header_index]
        self.stats.header_row = header_number
        body = [(n, cells) for n, cells in sheet.rows[header_index + 1 :] if not _is_empty_row(cells)]
        self.stats.rows_read = _distinct_rows(body)
        data = self._drop_non_data(header_cells, body)
        header_cells, data = self._layout(header_index, header_cells, data)  # layouts (C): long form, years
        mapping = self._map_header(header_cells, data)
        if mapping is None:
            self.stats.rows_quarantined = _distinct_rows(data)
            return None
        self.mapping = mapping
        return self._parse_rows(mapping, len(header_cells), data)

    # --- layouts (engineer C, audit.layouts) --------------------------------------------------------

    year_hint: YearHint | None = None  # the mapping file's year for this sheet, set by `ingest`
    layout: Reshaped | None = None  # how the layout read the sheet, merged into stats.columns by `ingest`

    def _layout(
        self, header_index: int, header_cells: list[Any], data: list[tuple[int, list[Any]]]
    ) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
        """The header and data rows in long form (wide month columns, month ranges; several rows may
        share a source row number) and a year from the title or names as a fixed value."""
        sheet = replace(self.sheet, rows=[*self.sheet.rows[: header_index + 1], *data])
        self.layout = reshape(self.table, sheet, header_index, self.year_hint)
        self.sheet = self.layout.sheet
        rows = self.sheet.rows
        return rows[header_index][1], rows[header_index + 1 :]

    # --- rows that are not data ------------------------------------------------------------------

    def _drop_non_data(self, header_cells: list[Any], body: list[tuple[int, list[Any]]]) -> list[tuple[int, list[Any]]]:
        """The data rows of ``body``; template instructions, footers, notes blocks and wide merged
        cells are listed as skipped (action 跳过（非数据行）) and counted in ``rows_skipped`` by
        distinct source row."""
        width = max((i + 1 for i, c in enumerate(header_cells) if not is_blank(c)), default=1)
        wide = self._wide_merges(width)
        data: list[tuple[int, list[Any]]] = []
        skipped: set[int] = set()
        in_notes = False
        for number, cells in body:
            if not (in_notes or number in wide):  # the usual data row, told by its first cell (`_non_data`)
                first = cells[0]
                if type(first) is str:
                    if (head := first.lstrip()[:1]) and head not in _NON_DATA_FIRST:
                        data.append((number, cells))
                        continue
                elif first is not None and not isinstance(first, str):
                    data.append((number, cells))
                    continue
            found = self._non_data(number, cells, wide, in_notes)
            if found is None:
                in_notes = False
                data.append((number, cells))
                continue
            reason, index, text = found
            in_notes = reason is Reason.SKIP_NOTES
            context: dict[str, object] = {"value": shown(text, TEXT_SHOWN)}
            if reason is Reason.SKIP_MERGED:
                context["cells"] = wide[number][1]
            header = cell_text(header_cells[index]) if index < len(header_cells) else ""
            problem = Problem(
                self.sheet.file,
                self.sheet.sheet,
                number,
                header,
                shown(text, TEXT_SHOWN),
                reason,
                reason.render(**context),
                self.table.name,
                Action.SKIP,
            )
            if number not in skipped:
                self.problems.append(problem)
            skipped.add(number)
        if not skipped:
            return data
        self.stats.rows_skipped = len(skipped - {n for n, _ in data})
        return [(n, cells) for n, cells in data if n not in skipped]

    def _wide_merges(self, width: int) -> dict[int, tuple[int, str]]:
        """Excel row number -> (first column index, `C6:L19`) of each merged range spanning at
        least half of the table's columns (two at least): a notes block or a group heading."""
        need = max(2, math.ceil(width / 2))
        rows: dict[int, tuple[int, str]] = {}
        for first_row, first_col, last_row, last_col in self.sheet.merged:
            if last_col - first_col + 1 < need:
                continue
            cells = f"{_column_letter(first_col)}{first_row + 1}:{_column_letter(last_col)}{last_row + 1}"
            for row in range(first_row + 1, last_row + 2):
                rows.setdefault(row, (first_col, cells))
        return rows

    @staticmethod
    def _non_data(
        number: int, cells: list[Any], wide: dict[int, tuple[int, str]], in_notes: bool
    ) -> tuple[Reason, int, str] | None:
        """Why a row is not data (reason, index of the cell that says so, its text), or None."""
        first = cells[0]
        index = 0
        if is_blank(first):
            index, first = next((i, c) for i, c in enumerate(cells) if not is_blank(c))
        if not (number in wide or in_notes) and not (
            isinstance(first, str)
            and first.lstrip()[:1] in _NON_DATA_FIRST
            and _NON_DATA_START.match(fold(first).replace(" ", ""))
        ):
            return None  # the usual data row, decided on its first cell
        filled = [(i, c) for i, c in enumerate(cells) if not is_blank(c)]
        text = cell_text(first)
        key = text.replace(" ", "") if isinstance(first, str) else ""
        if key and _FOOTER.match(key):
            return Reason.SKIP_FOOTER, index, " ".join(cell_text(c) for _, c in filled)
        if key and _NOTES.match(key):
            return Reason.SKIP_NOTES, index, text
        if key and _INSTRUCTION.match(key):
            strong = sum(1 for _, c in filled if isinstance(c, str) and _INSTRUCTION.match(cell_text(c).replace(" ", "")))
            if strong * 2 >= len(filled):
                return Reason.SKIP_INSTRUCTION, index, " | ".join(cell_text(c) for _, c in filled)
        if number in wide and all(i == wide[number][0] for i, _ in filled):
            return Reason.SKIP_MERGED, index, text
        if in_notes and len(filled) == 1 and key:
            return Reason.SKIP_NOTES, index, text
        return None

    # --- the header --------------------------------------------------------------------------------

    def _map_header(self, header_cells: list[Any], data: list[tuple[int, list[Any]]]) -> dict[int, str] | None:
        """Cell index -> column (canonical, or an extra column's name), recording a ``ColumnMap``
        per header cell on the stats; None when a required column is missing or named twice."""
        table, rows = self.table, _distinct_rows(data)
        mapping: dict[int, str] = {}
        written: dict[str, str] = {}  # canonical column -> header as written
        columns: dict[int, ColumnMap] = {}
        reserved = {*table.schema(), *SOURCE_COLUMNS}
        broken = False
        deferred: list[int] = []
        texts = {i: cell_text(c) for i, c in enumerate(header_cells)}

        def extra(index: int, as_written: str) -> None:
            name = mask_personal(texts[index])  # an extra column's header becomes a Parquet column name
            while name in written or name in reserved:
                name += "_"
            mapping[index], written[name] = name, as_written
            columns[index] = ColumnMap(as_written, None, HOW_UNUSED)

        def assign(index: int, canonical: str, how: str, as_written: str) -> None:
            nonlocal broken
            column = table.columns[canonical]
            if canonical not in written:
                mapping[index], written[canonical] = canonical, as_written
                columns[index] = ColumnMap(as_written, canonical, how)
            elif column.info:  # a second spelling of a descriptive column: kept as it is, not typed
                extra(index, as_written)
            else:
                self.file_problem(
                    Reason.FILE_DUPLICATE_HEADER,
                    column.label,
                    first=written[canonical],
                    second=as_written,
                    label=column.label,
                    column=canonical,
                    rows=rows,
                )
                columns[index] = ColumnMap(as_written, None, HOW_UNUSED)
                broken = True

        for index, cell in enumerate(header_cells):
            text = texts[index]
            as_written = mask_personal(str(cell).strip())  # the header as the user wrote it, for messages
            if not text:
                if any(index < len(cells) and not is_blank(cells[index]) for _, cells in data):
                    name = f"列{_column_letter(index)}"
                    mapping[index], written[name] = name, name
                continue
            if normalize_header(text) in ROW_NUMBER_HEADERS:
                columns[index] = ColumnMap(as_written, None, HOW_UNUSED)
            elif table.columns_if_values_fit(text):
                deferred.append(index)
            elif (found := table.match(text)) is not None:
                assign(index, found[0], found[1], as_written)
            else:
                extra(index, as_written)
        for index in deferred:  # value-aware headers, once every plain header has its column
            as_written = mask_personal(str(header_cells[index]).strip())
            canonical, how = self._by_values(index, texts[index], written, data)
            if canonical is None:  # its values fit no column it may name: kept as an extra column
                extra(index, as_written)
            else:
                assign(index, canonical, how, as_written)
        extras = self._fixed_and_derived(header_cells, written, mapping)
        stood_in = table.stood_in(set(written))  # a member or branch given by 学工号, 身份证号, 姓名, …
        for column in table.required:
            if (table.name, column.name) in DERIVED_IF_ABSENT and column.name not in written:
                extras.append(ColumnMap("", column.name, HOW_DERIVED_LATER))  # dues: `audit.dues`
                continue
            if column.name not in written and column.name not in stood_in:
                self.file_problem(
                    Reason.FILE_MISSING_COLUMN,
                    column.label,
                    label=column.label,
                    column=column.name,
                    rows=rows,
                    hint="",
                )
                broken = True
        self.stats.headers = written
        self.stats.columns = [columns[i] for i in sorted(columns)] + extras
        return None if broken else mapping

    def _by_values(
        self, index: int, text: str, written: dict[str, str], data: list[tuple[int, list[Any]]]
    ) -> tuple[str | None, str]:
        """The column a value-aware header (`人员类别`) names: the first of its candidates not yet
        named by another header whose values fit, else its plain meaning; and why, in Chinese."""
        values = [cells[index] for _, cells in data if index < len(cells) and not is_blank(cells[index])]
        values = [v for v in values if not is_placeholder(v)]
        sample = "、".join(f"「{shown(cell_text(v), 12)}」" for v in list(dict.fromkeys(map(cell_text, values)))[:3])
        reasons: list[str] = []
        for candidate in self.table.columns_if_values_fit(text):
            column = self.table.columns[candidate]
            if candidate in written:
                reasons.append(f"已有「{written[candidate]}」作{column.label}")
                continue
            fit = sum(1 for v in values if self._parse(candidate, v).ok)
            if values and fit >= VALUES_FIT * len(values):
                return candidate, f"按取值判定（取值{sample}是{column.label}）"
            reasons.append(f"取值{sample or '为空'}不是{column.label}" if values else f"没有取值，无法判定是否{column.label}")
        plain = self.table.column_for(text)
        label = self.table.columns[plain].label if plain else "附加列"
        return plain, f"按取值判定（{'；'.join(reasons)}，读作{label}）"

    def _fixed_and_derived(self, header_cells: list[Any], written: dict[str, str], mapping: dict[int, str]) -> list[ColumnMap]:
        """Columns the sheet does not have: fixed values every row takes (RawSheet.fixed; a header
        in the sheet wins), values implied by header spellings or names, or read row by row out of
        another column (``derive``: a 主题党日 template's 活动名称 `主题党日活动` gives the type)."""
        found: list[ColumnMap] = []
        for name, (raw, how) in self.sheet.fixed.items():
            if name in self.table.columns and name not in written:
                self.fixed[name] = raw
                written[name] = self.table.columns[name].label
                found.append(ColumnMap(mask_personal(cell_text(raw)), name, how))  # a fixed 支部编号 may be a phone
        for column in self.table.columns.values():
            if column.derive is None or column.name in written:
                continue
            value, how = self._derive(column, header_cells)
            source = (column.derive or {}).get("from_column")
            if value is None and source in written:
                index = next(i for i, name in mapping.items() if name == source)
                self.derived_from[column.name] = index
                self.parsers[column.name] = enum_in_text_parser(column.label, column.values or {})
                written[column.name] = written[source]
                how = f"按取值判定（从「{written[source]}」中读出{column.label}）"
                found.append(ColumnMap(written[source], column.name, how))
            elif value is not None:
                self.fixed[column.name] = value
                written[column.name] = column.label
                found.append(ColumnMap(value, column.name, how))
        return found

    def _derive(self, column: Column, header_cells: list[Any]) -> tuple[str | None, str]:
        """A derived column's value and why: a header spelling that implies it (`转入办理时间`),
        else a word in the sheet name, then the file name, else the default."""
        derive = column.derive or {}
        spellings = {normalize_header(k): v for k, v in (derive.get("headers") or {}).items()}
        for cell in header_cells:
            key = strip_unit(normalize_header(cell_text(cell)))
            if key in spellings:
                return spellings[key], f"取自表头「{mask_personal(cell_text(cell))}」"
        for name, how in ((self.sheet.sheet, "取自工作表名"), (self.sheet.stem, "取自文件名")):
            hits = {v for word, v in (derive.get("names") or {}).items() if word in (name or "")}
            if len(hits) == 1:
                return hits.pop(), how
        default = derive.get("default")
        return default, f"未注明，按默认值「{default}」" if default is not None else ""

    # --- values ----------------------------------------------------------------------------------

    def _parse(self, name: str, raw: Any) -> Parsed:
        if isinstance(raw, FormulaWithoutValue):
            return fail(Reason.FORMULA_NO_VALUE, value=str(raw)[:60])
        if isinstance(raw, Unresolved):  # layouts (C): a year or month range the sheet does not make clear
            return fail(raw.reason, **raw.context)
        key = _cache_key(raw)
        cache = self.caches[name]
        if key is not None and key in cache:
            return cache[key]
        parsed = self.parsers[name](raw)
        if key is not None:
            cache[key] = parsed
        return parsed

    fast_path = True  # False: every row read by `_parse_row` alone (the reference the fast path must match)

    def _parse_rows(self, mapping: dict[int, str], width: int, data: list[tuple[int, list[Any]]]) -> pl.DataFrame:
        """Typed rows and their problems. A source row is accepted when all the rows read from it
        are (a layout may read several from one), quarantined when any is. Each column is parsed
        once per distinct value (`_fast_columns`); the rows where any cell has a problem, or that
        are ragged or lack an identifier, are read again cell by cell by `_parse_row`, which gives
        their problems in plan order. Both apply the same rules (`_cell`)."""
        table = self.table
        columns = table.columns
        extras = [name for name in mapping.values() if name not in columns]
        schema = {**table.schema(), **dict.fromkeys(extras, pl.String())}
        present = [*mapping.values(), *self.fixed, *self.derived_from]
        has_id = any(columns[name].type == "id_number" for name in present if name in columns)
        derived = [c.precision_column for name in present if name in columns and (c := columns[name]).precision_column]
        # identities: a required key or reference the sheet may give by another identifier instead
        stand_ins = {
            c.name: [s for s in c.stand_ins if s in present]
            for c in table.required
            if c.stand_ins and any(s in present for s in c.stand_ins)
        }
        # only the columns this sheet has are filled; the others are added as nulls
        private = [ID_COLUMN] if has_id else []  # the ID number as a key, for audit.identity only
        names = list(dict.fromkeys([*present, *(["id_number_status"] if has_id else []), *derived, *private, *SOURCE_COLUMNS]))
        if has_id:
            schema[ID_COLUMN] = pl.String()
        headers = self.stats.headers
        # (cell index or -1 for a fixed value, column name, contract column or None, header, fixed raw)
        entries = [(i, name, columns.get(name), headers.get(name, name), None) for i, name in mapping.items()]
        entries += [(-1, name, columns[name], columns[name].label, raw) for name, raw in self.fixed.items()]
        entries += [(i, name, columns[name], headers[name], None) for name, i in self.derived_from.items()]
        plan = _RowPlan(entries, names, {name: schema[name] for name in names}, stand_ins, has_id, width)
        found = self._fast_columns(plan, data) if self.fast_path else None
        fast, read_again = found if found is not None else (None, range(len(data)))
        slow = {i: self._parse_row(plan, *data[i]) for i in read_again}
        frame = self._assemble(plan, data, fast, slow)
        absent = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in schema.items() if name not in plan.schema]
        return frame.with_columns(absent).select(list(schema)).rechunk()

    def _cell(self, plan: _RowPlan, entry: _Entry, raw: Any) -> _Cell:
        """What one cell of a planned column gives its row, whatever the row: its values, at most
        one problem and whether it rejects the row. Depends on the cell's value alone."""
        _, name, column, header, _ = entry
        if column is None:  # a column the contract does not know: kept as text
            return _Cell(((name, None if is_blank(raw) else mask_personal(cell_text(raw))),))
        if column.personal and is_placeholder(raw):
            raw = None
        if raw is not None and (not is_blank(raw) or isinstance(raw, FormulaWithoutValue)):
            if column.type == "id_number":
                check = check_id_number(raw)
                key = None if check.status in ("mangled", "bad_length") else normalise_id_number(raw)
                values = ((name, check.masked), ("id_number_status", check.status), (ID_COLUMN, key))
                if check.reason is None:
                    return _Cell(values)
                context = (("value", check.masked), ("length", len(cell_text(raw))))
                return _Cell(values, (header, check.masked, check.reason, context, Action.NOTE))
            if column.type == "phone":
                return _Cell(((name, mask_phone(cell_text(raw))),))
            parsed = self._parse(name, raw)
            if parsed.ok and parsed.value is not None:
                if parsed.precision:
                    return _Cell(((name, parsed.value), (f"{name}_precision", parsed.precision)))
                return _Cell(((name, parsed.value),))
            if not parsed.ok:
                displayed = shown(cell_text(raw), KEY_SHOWN if parsed.reason is Reason.BAD_KEY else 200)
                action = Action.ROW if column.required else Action.VALUE
                return _Cell((), (header, displayed, parsed.reason, parsed.context, action), column.required)
        # blank, or a placeholder for blank
        if name in plan.stand_ins:
            return _BLANK  # checked once the row's other identifiers are read (`_parse_row`)
        if column.required and column.blank_as_zero:
            return _Cell(((name, 0.0),))
        if column.required:
            displayed = "" if raw is None else shown(cell_text(raw), 200)
            context = (("label", column.label),)
            return _Cell((), (header, displayed, Reason.REQUIRED_BLANK, context, Action.ROW), True)
        return _BLANK

    def _parse_row(self, plan: _RowPlan, number: int, cells: list[Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
        """One row read cell by cell: its values (None when rejected) and its problems in plan
        order (a ragged row first, a missing identifier last)."""
        columns = self.table.columns
        found: list[Problem] = []
        reject = False
        values: dict[str, Any] = dict.fromkeys(plan.names)
        overflow = sum(1 for c in cells[plan.width :] if not is_blank(c))
        if overflow:
            found.append(self._row_problem(number, "", "", Reason.RAGGED_ROW, extra=overflow))
            reject = True
        for entry in plan.entries:
            index, raw = entry[0], entry[4]
            if index >= 0:
                raw = cells[index] if index < len(cells) else None
            cell = self._cell(plan, entry, raw)
            values.update(cell.values)
            if cell.problem is not None:
                header, displayed, reason, context, action = cell.problem
                found.append(self._row_problem(number, header, displayed, reason, **dict(context)))
                found[-1].action = action
                reject = reject or cell.reject
        if plan.has_id and values.get("id_number") is None:
            values["id_number_status"] = "missing"
        for name, others in plan.stand_ins.items():
            # an ID number identifies only when it is one (not `3.70102E+17`)
            usable = [values.get(ID_COLUMN if columns[o].type == "id_number" else o) for o in others]
            if values.get(name) is None and all(v is None for v in usable):
                labels = "、".join(columns[o].label for o in others)
                label = f"{columns[name].label}（或{labels}）"
                header = self.stats.headers.get(name, label)
                found.append(self._row_problem(number, header, "", Reason.REQUIRED_BLANK, label=label))
                reject = True
        if reject:
            return None, found
        values.update({"_file": self.sheet.file, "_sheet": self.sheet.sheet, "_row": number})
        return values, found

    def _fast_columns(self, plan: _RowPlan, data: list[tuple[int, list[Any]]]) -> tuple[pl.DataFrame, list[int]] | None:
        """Every row's values with each column parsed once per distinct value (by `_cell`, in order
        of first appearance, so the parse caches fill as they would row by row), and the indices
        of the rows `_parse_row` must read instead: any cell with a problem, a ragged row, a
        missing identifier. None when a value cannot be told apart from others (not hashable)."""
        n = len(data)
        series: dict[str, pl.Series] = {}
        suspect = pl.zeros(n, dtype=pl.Boolean, eager=True)
        need = max((entry[0] + 1 for entry in plan.entries), default=0)  # cells a row must have to be read
        rows = [cells if len(cells) >= need else [*cells, *[None] * (need - len(cells))] for _, cells in data]
        for entry in plan.entries:
            index, raw = entry[0], entry[4]
            if index < 0:  # a fixed value: one for every row
                distinct, codes = [raw], pl.zeros(n, dtype=pl.UInt32, eager=True)
            else:
                raws = list(map(operator.itemgetter(index), rows))
                keys = [r if type(r) is str else _value_key(r) for r in raws]
                try:
                    lookup = {key: code for code, key in enumerate(dict.fromkeys(keys))}
                except TypeError:
                    return None
                distinct = [key if type(key) is str else key[1] for key in lookup]
                codes = pl.Series(list(map(lookup.__getitem__, keys)), dtype=pl.UInt32)
            cells = [self._cell(plan, entry, raw) for raw in distinct]
            if any(cell.problem is not None for cell in cells):
                suspect |= pl.Series([cell.problem is not None for cell in cells], dtype=pl.Boolean).gather(codes)
            for name in {name for cell in cells for name, _ in cell.values}.intersection(plan.schema):
                by_value = [dict(cell.values).get(name) for cell in cells]
                series[name] = pl.Series(name, by_value, dtype=plan.schema[name]).gather(codes)
        if plan.has_id:
            status = series.get("id_number_status", pl.repeat(None, n, dtype=pl.String, eager=True))
            missing = series["id_number"].is_null() if "id_number" in series else pl.repeat(True, n, eager=True)
            series["id_number_status"] = status.zip_with(~missing, pl.repeat("missing", n, eager=True)).alias("id_number_status")

        def blank(name: str) -> pl.Series:
            return series[name].is_null() if name in series else pl.repeat(True, n, dtype=pl.Boolean, eager=True)

        columns = self.table.columns
        for name, others in plan.stand_ins.items():
            usable = [ID_COLUMN if columns[o].type == "id_number" else o for o in others]
            suspect |= functools.reduce(operator.and_, [blank(name), *(blank(u) for u in usable)])
        ragged = [i for i, (_, cells) in enumerate(data) if len(cells) > plan.width and not _is_empty_row(cells[plan.width :])]
        indices = sorted({*suspect.arg_true().to_list(), *ragged})
        series["_file"] = pl.repeat(self.sheet.file, n, dtype=pl.String, eager=True)
        series["_sheet"] = pl.repeat(self.sheet.sheet, n, dtype=pl.String, eager=True)
        series["_row"] = pl.Series([number for number, _ in data], dtype=pl.Int64)
        frame = pl.DataFrame(
            [
                series[name].alias(name) if name in series else pl.repeat(None, n, dtype=dtype, eager=True).alias(name)
                for name, dtype in plan.schema.items()
            ]
        )
        return frame, indices

    def _assemble(
        self,
        plan: _RowPlan,
        data: list[tuple[int, list[Any]]],
        fast: pl.DataFrame | None,
        slow: dict[int, tuple[dict[str, Any] | None, list[Problem]]],
    ) -> pl.DataFrame:
        """The accepted rows in source-row order (the fast values of rows `_parse_row` did not read,
        its values otherwise), the problems of the rows it read, and the sheet's row counts. The
        rows read from one source row (a wide layout) stand or fall together and a problem they
        share is listed once."""
        numbers = [number for number, _ in data]
        sizes = Counter(numbers)
        grouped = len(sizes) < len(numbers)  # a layout read several rows from one source row
        rejected = {numbers[i] for i, (values, _) in slow.items() if values is None}
        self.stats.rows_quarantined += len(rejected)
        self.stats.rows_accepted += len(sizes) - len(rejected)
        position = pl.int_range(len(numbers), dtype=pl.Int64, eager=True)
        # rows keep the order in which their source rows first appear
        first = position
        if grouped:
            first = pl.DataFrame({"n": numbers, "i": position}).select(pl.col("i").min().over("n")).to_series()
        firsts = first.to_list() if grouped else []
        problem_rows: dict[int, list[int]] = {}  # source row -> its rows read again, in that order
        for i in sorted(slow, key=lambda i: (firsts[i], i)) if grouped else sorted(slow):
            problem_rows.setdefault(numbers[i], []).append(i)
        for number, rows in problem_rows.items():
            problems = [p for i in rows for p in slow[i][1]]
            if sizes[number] > 1:  # a cell every month of a wide row shares: its problem listed once
                problems = list({(p.column, p.value, p.reason, p.message): p for p in problems}.values())
            if number in rejected:
                for problem in problems:
                    problem.action = Action.ROW
            self.problems.extend(problems)
        parts: list[pl.DataFrame] = []
        if fast is not None and fast.height:
            read_again = pl.Series(sorted(slow), dtype=pl.Int64).implode()
            quarantined = pl.Series(numbers, dtype=pl.Int64).is_in(pl.Series(list(rejected), dtype=pl.Int64).implode())
            keep = ~position.is_in(read_again) & ~quarantined
            parts.append(fast.with_columns(_first=first, _position=position).filter(keep))
        kept = [i for i in sorted(slow) if slow[i][0] is not None and numbers[i] not in rejected]
        if kept:
            out = {name: [slow[i][0][name] for i in kept] for name in plan.schema}  # type: ignore[index]
            at = pl.Series(kept, dtype=pl.Int64)
            parts.append(pl.DataFrame(out, schema=plan.schema).with_columns(_first=first.gather(at), _position=at))
        if not parts:
            return pl.DataFrame(schema=plan.schema)
        frame = pl.concat(parts)
        if len(parts) > 1 or grouped:
            frame = frame.sort("_first", "_position")
        return frame.drop("_first", "_position")

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


def _distinct_rows(rows: list[tuple[int, list[Any]]]) -> int:
    """Source rows among ``rows``: a layout may read several rows from one source row."""
    return len({number for number, _ in rows})


def _by_source_row(rows: list[tuple[int, Any, Any]]) -> Iterable[tuple[int, list[tuple[int, Any, Any]]]]:
    """Rows grouped by source row number, in first-seen order (one group per row in the usual case)."""
    if len({row[0] for row in rows}) == len(rows):
        return ((row[0], [row]) for row in rows)
    groups: dict[int, list[tuple[int, Any, Any]]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    return groups.items()


# --- batch ---------------------------------------------------------------------------------------


def _assign_tables(
    items: list[RawSheet | FileProblem | Skipped],
    contract: Contract,
    mapping: ReviewerMapping | None = None,
    why: dict[tuple[str, str], str] | None = None,
):
    """Decide the table of each raw sheet: the reviewer's mapping file (``tables``) wins, then the
    sheet name, then the file stem (a workbook whose sheets name nothing: its first sheet, the
    others skipped); a file whose names say nothing is recognised by its header when one table's
    required columns are all there. A sheet whose header lacks the table's identifying columns
    and is mostly other columns (a statistics sheet that merely resembles a branch list) is
    skipped with the reason, never half-read. ``why`` gets (file, sheet) -> how the table was
    recognised: 映射文件, 工作表名称, 文件名 or 表头."""
    by_file: dict[str, list[RawSheet]] = defaultdict(list)
    for item in items:
        if isinstance(item, RawSheet):
            by_file[item.file].append(item)
    chosen: list[tuple[RawSheet, str, str]] = []  # sheet, table, how it was recognised
    skipped: list[Skipped] = []
    for file, sheets in by_file.items():
        found, passed = _choose_tables(file, sheets, contract, mapping)
        chosen += found
        skipped += passed
    assigned, unlike = _confirm_tables(chosen, contract, why)
    return assigned, skipped + unlike


def _choose_tables(
    file: str, sheets: list[RawSheet], contract: Contract, mapping: ReviewerMapping | None
) -> tuple[list[tuple[RawSheet, str, str]], list[Skipped]]:
    """The first step of `_assign_tables` for one file's sheets: (sheet, table, how) for each sheet
    its names (or header) give a table, and the sheets skipped."""
    chosen: list[tuple[RawSheet, str, str]] = []
    skipped: list[Skipped] = []
    mapped = [_mapped_table(mapping, s) for s in sheets]
    named = [(s, m or contract.table_for_name(s.name_hint), m) for s, m in zip(sheets, mapped, strict=True)]
    if not any(t for _, t, _ in named if t) and sheets[0].sheet:
        file_table = _mapped_file_table(mapping, file)
        stem_table = file_table or contract.table_for_name(sheets[0].stem)
        candidates = [s for s in sheets if any(not _is_empty_row(c) for _, c in s.rows)] or sheets[:1]
        if stem_table:
            chosen.append((candidates[0], stem_table, "映射文件" if file_table else "文件名"))
            skipped += [
                Skipped(file, s.sheet, "工作表名称不对应任何表，且已按文件名读取第一个工作表")
                for s in sheets
                if s is not candidates[0]
            ]
            return chosen, skipped
        for sheet in sheets:
            by_header = _table_by_header(sheet, contract)
            if by_header:
                chosen.append((sheet, by_header, "表头"))
            else:
                skipped.append(Skipped(file, sheet.sheet, "文件名和工作表名称都不对应任何表，表头也不是任何表的表头"))
        return chosen, skipped
    for sheet, table, by_mapping in named:
        if table:
            chosen.append((sheet, table, "映射文件" if by_mapping else "工作表名称" if sheet.sheet else "文件名"))
        elif not sheet.sheet and (by_header := _table_by_header(sheet, contract)):
            chosen.append((sheet, by_header, "表头"))
        elif sheet.sheet:
            skipped.append(Skipped(file, sheet.sheet, "工作表名称不对应任何表"))
        else:
            skipped.append(Skipped(file, "", "文件名不对应任何表，表头也不是任何表的表头"))
    return chosen, skipped


def _confirm_tables(
    chosen: list[tuple[RawSheet, str, str]], contract: Contract, why: dict[tuple[str, str], str] | None
) -> tuple[list[tuple[RawSheet, str]], list[Skipped]]:
    """The second step of `_assign_tables`: a sheet named after a table whose header is not that
    table's (`_unlike`) is skipped; ``why`` gets how each other sheet's table was recognised."""
    assigned: list[tuple[RawSheet, str]] = []
    skipped: list[Skipped] = []
    for sheet, table, how in chosen:
        unlike = _unlike(sheet, contract.tables[table]) if how in ("工作表名称", "文件名") else None
        if unlike:
            skipped.append(Skipped(sheet.file, sheet.sheet, unlike))
            continue
        assigned.append((sheet, table))
        if why is not None:
            why[(sheet.file, sheet.sheet)] = how
    return assigned, skipped


def _header_texts(sheet: RawSheet, table: Table) -> list[str] | None:
    """The non-blank cells of the sheet's header row for ``table``, or None when it has none."""
    index = _find_header(sheet, table)
    if index is None:
        return None
    return [cell_text(c) for c in sheet.rows[index][1] if not is_blank(c)]


def _table_by_header(sheet: RawSheet, contract: Contract) -> str | None:
    """The one table whose required columns the sheet's header names all of (the table naming
    most of the header when several do; None when that is a tie or no table fits)."""
    fits: list[tuple[int, str]] = []
    for table in contract.tables.values():
        header = _header_texts(sheet, table)
        if header is None:
            continue
        named = {table.column_for(text) for text in header} - {None}
        named |= table.stood_in(named)  # 姓名 or 学工号 stands in for 党员编号
        named |= {column for t, column in DERIVED_IF_ABSENT if t == table.name}  # 应交金额: derived from the base
        if all(column.name in named for column in table.required):
            fits.append((len(named), table.name))
    fits.sort(reverse=True)
    if not fits or (len(fits) > 1 and fits[0][0] == fits[1][0]):
        return None
    return fits[0][1]


def _unlike(sheet: RawSheet, table: Table) -> str | None:
    """Why a sheet named after ``table`` is not one (a statistics sheet whose header merely
    resembles it), or None: its header lacks the columns that identify the table's records (the
    key's required text columns) and at most half of its columns are the table's."""
    header = _header_texts(sheet, table)
    if header is None:
        return None
    columns = {table.column_for(text) for text in header}  # (a name standing in for a code does not count)
    ours = [text for text in header if table.column_for(text)]
    if implied_columns(table, header):  # a wide sheet's month columns (`1月` … `12月`) are the table's too
        from audit.layouts import month_header

        ours += [text for text in header if month_header(text) is not None]
    identity = [table.columns[k] for k in table.key if table.columns[k].required and table.columns[k].type == "text"]
    derivable = {c.name for c in identity if c.key_from and c.key_from["date"] in columns}  # a meeting known by its date
    missing = [c.label for c in identity if c.name not in columns and c.name not in sheet.fixed and c.name not in derivable]
    if not missing or len(ours) * 2 > len(header):
        return None
    shown = visible(mask_personal("、".join(ours) or "无"))
    return (
        f"不是{table.title}：表头没有「{'、'.join(missing)}」，{len(header)} 个列中只有 {len(ours)} 个是"
        f"{table.title}的列（{shown}），像是统计表或其他表，未读取；如确是{table.title}，请补上该列或在映射文件中指定"
    )


# --- the reviewer's mapping file (engineer C, audit.mapping) ---------------------------------------


def _mapped_table(mapping: ReviewerMapping | None, sheet: RawSheet) -> str | None:
    """The table the mapping file gives a worksheet (a sheet pattern) or a CSV file (a file pattern)."""
    rule = mapping.table_rule(sheet.file, sheet.sheet, sheet_only=bool(sheet.sheet)) if mapping else None
    return rule.table if rule else None


def _mapped_file_table(mapping: ReviewerMapping | None, file: str) -> str | None:
    """The table the mapping file gives a whole workbook (a file pattern without a sheet)."""
    rule = mapping.file_rule(file) if mapping else None
    return rule.table if rule else None


def _with_fixed(sheet: RawSheet, table: Table, mapping: ReviewerMapping | None) -> tuple[RawSheet, YearHint | None]:
    """The sheet with the mapping file's fixed values for it, and its year for the layouts."""
    if mapping is None:
        return sheet, None
    fixed, year, _ = fixed_for(table, mapping.fixed_values(sheet.file, sheet.sheet))
    hint = YearHint(int(year.value), HOW_FIXED, f"映射文件第 {year.line} 行 {year.key}: {year.value}") if year else None
    return (replace(sheet, fixed={**sheet.fixed, **fixed}) if fixed else sheet), hint


def _record_columns(stats: SourceStats, ingester: _SheetIngester, mapping: ReviewerMapping | None) -> None:
    """The layout's ColumnMaps merged in; headers matched through the mapping file say so."""
    if ingester.layout is not None:
        stats.columns = merge_columns(stats.columns, ingester.layout, lambda h, c, w: ColumnMap(mask_personal(h), c, w))
    if mapping is not None:
        stats.columns = [
            replace(c, how=HOW_MAPPING)
            if c.column and c.how in (HOW_ALIAS, HOW_UNIT) and mapping.header_alias(stats.table, c.source_header)
            else c
            for c in stats.columns
        ]


def ingest(
    batch: Path | str,
    contract: Contract | None = None,
    *,
    limits: Limits | None = None,
    mapping: ReviewerMapping | None = None,
    cache: bool = True,
    jobs: int = 1,
) -> Ingested:
    """Read every table of a batch folder; never raises for bad content, only for a missing folder.
    A file over one of ``limits`` (defaults: ``audit.limits.Limits()``) is refused, the rest read.
    ``mapping`` (``audit.mapping.load_mapping``) adds the reviewer's tables, headers, fixed values
    and value spellings. Each file is read into a `FileOutcome` (taken from the ingestion cache,
    `audit.cache`, when the same file was read before with the same contract, mapping, limits and
    code; ``cache=False``: neither read nor written), then the batch-wide stages run on them all.
    The cyclic garbage collector is held off throughout (`readers.gc_paused`): the millions of small
    objects ingestion makes hold no cycles, and full collections would walk them all again and again.
    ``jobs`` > 1: the files to read are shared among that many processes when there is enough to
    read (`_read_all`); the outcome is the same."""
    with gc_paused():
        return _ingest(Path(batch), contract, limits, mapping, cache, jobs)


def _ingest(
    batch: Path, contract: Contract | None, limits: Limits | None, mapping: ReviewerMapping | None, cache: bool, jobs: int = 1
) -> Ingested:
    """`ingest` itself."""
    if not batch.is_dir():
        raise BatchNotFoundError(f"找不到数据批次文件夹：{batch}")
    contract = apply_mapping(contract or load_contract(), mapping)
    names = _Names(batch)
    store = _OutcomeCache.open(batch, contract, mapping, limits) if cache else None
    listed = entries(batch)
    whole = store.batch_key(listed, names) if store is not None else None
    if store is not None and whole is not None and (done := store.load_batch(whole[0])) is not None:
        store.cache.use.hits += len(whole[1])
        for key in whole[2]:  # the files' entries stay while the batch's is used: one changed file reads one file
            store.cache.touch(key)
        files = {name: whole[1].get(name) or sha256_file(path) for name, path in names.files.items()}
        return done.ingested(batch, contract.version, files, mapping, store.cache.use)
    hashes: dict[str, str] = {}  # file (masked) -> sha256, each file hashed once
    looked_up = [_look_up(entry, names, store, hashes) for entry in listed]
    pending = [item for item in looked_up if isinstance(item, _Pending)]
    read = iter(_read_all([p.entry for p in pending], names, contract, mapping, limits, jobs))
    secret = _pseudonym_secret(batch)
    outcomes = [
        item if isinstance(item, FileOutcome) else _finish(item, next(read), store, contract, secret) for item in looked_up
    ]
    problems = [p for o in outcomes for p in o.problems]
    sources = [s for o in outcomes for s in o.sources]
    skipped = [s for o in outcomes for s in o.read_skipped] + [s for o in outcomes for s in o.named_skipped]
    skipped += [s for o in outcomes for s in o.unlike_skipped]
    recognised = {where: how for o in outcomes for where, how in o.recognised.items()}
    frames: dict[str, list[pl.DataFrame]] = defaultdict(list)
    quarantined_keys: dict[str, set[str]] = defaultdict(set)
    for outcome in outcomes:
        for table_name, frame in outcome.frames:
            frames[table_name].append(frame)
        for table_name, keys in outcome.quarantined_keys.items():
            quarantined_keys[table_name] |= keys
    tables = {
        name: pl.concat(frames[name], how="diagonal_relaxed") if frames[name] else pl.DataFrame(schema=table.schema())
        for name, table in contract.tables.items()
    }
    # the files' frames let go (stored in the cache already): the tables share their columns, and a
    # later stage that replaces a table then frees them (at city scale, gigabytes)
    frames.clear()
    for outcome in outcomes:
        outcome.frames = []
    tables, identities = _resolve_identities(contract, tables, sources, problems, quarantined_keys, mapping, secret)
    checker = _CrossTableChecker(contract, tables, sources, problems, quarantined_keys)
    tables = checker.run()
    tables = _attendance_and_offices(contract, tables, sources, problems, identities)
    problems.sort(key=lambda p: (p.file, p.sheet, p.row if p.row is not None else -1))
    sources.sort(key=lambda s: (s.file, s.sheet))
    files = {name: hashes.get(name) or sha256_file(path) for name, path in names.files.items()}
    use = store.cache.use if store is not None else None
    if store is not None and whole is not None and use is not None and hashes == whole[1] == files:
        sealed = store.fingerprint(known) if (known := store.secret()) is not None else ""
        if use.hits + use.writes == len(hashes) and not any(o.whole_ids or o.sealed not in ("", sealed) for o in outcomes):
            # every file was served or stored, none changed since the batch's key was taken
            store.cache.store(whole[0], BatchOutcome(tables, sources, problems, skipped, recognised, identities))
    return Ingested(
        batch, tables, sources, problems, skipped, contract.version, files, mapping, recognised, identities, cache=use
    )


@dataclass
class BatchOutcome:
    """A whole batch's ingestion after the batch-wide stages (identities, cross-table checks,
    attendance and offices), kept in the cache when no file of the batch changed: an unchanged
    batch is then one entry read, where it was every file's entry read and those stages run again
    (a district: 5 s, a third of a warm `audit validate`). Made only from file outcomes that were
    themselves served or stored, so it never holds a whole ID number either."""

    tables: dict[str, pl.DataFrame]
    sources: list[SourceStats]
    problems: list[Problem]
    skipped: list[Skipped]
    recognised: dict[tuple[str, str], str]
    identities: IdentityReport

    def __getstate__(self) -> dict[str, Any]:
        """Frames as zstd-compressed Arrow IPC, as `FileOutcome` keeps them."""
        state = dict(self.__dict__)
        state["tables"] = {name: _frame_bytes(frame) for name, frame in self.tables.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["tables"] = {name: pl.read_ipc(io.BytesIO(data)) for name, data in state["tables"].items()}
        self.__dict__.update(state)

    def ingested(
        self, batch: Path, version: str, files: dict[str, str], mapping: ReviewerMapping | None, use: CacheUse
    ) -> Ingested:
        """The `Ingested` of this batch as `ingest` returns it."""
        return Ingested(
            batch,
            self.tables,
            self.sources,
            self.problems,
            self.skipped,
            version,
            files,
            mapping,
            self.recognised,
            self.identities,
            cache=use,
        )


@dataclass
class FileOutcome:
    """One input file's part of ingestion, everything `ingest` gathers from it before the batch-wide
    stages, in the order it gathers it: the unit the ingestion cache keeps (`audit.cache`). Never a
    whole ID number: with the cache, the private ID column is sealed (`audit.identity.seal_id_number`)."""

    file: str  # the name the outputs give it (masked, `_Names`)
    problems: list[Problem] = field(default_factory=list)
    sources: list[SourceStats] = field(default_factory=list)
    read_skipped: list[Skipped] = field(default_factory=list)  # by the reader (not a table file, a lock file)
    named_skipped: list[Skipped] = field(default_factory=list)  # sheets no name or header gives a table
    unlike_skipped: list[Skipped] = field(default_factory=list)  # sheets named after a table, not one (`_unlike`)
    frames: list[tuple[str, pl.DataFrame]] = field(default_factory=list)  # (table, accepted rows) per sheet
    quarantined_keys: dict[str, set[str]] = field(default_factory=dict)  # `_remember_quarantined_keys`
    recognised: dict[tuple[str, str], str] = field(default_factory=dict)  # (file, sheet) -> how (`_assign_tables`)
    sealed: str = ""  # fingerprint of the secret the ID column was sealed with; "": no ID number left whole or sealed
    whole_ids: bool = False  # the private ID column holds whole numbers (never stored)

    def __getstate__(self) -> dict[str, Any]:
        """As the cache stores it: each frame as Arrow IPC compressed with zstd (a district's
        attendance: 5 MB instead of 500 MB pickled, and read back several times faster)."""
        state = dict(self.__dict__)
        state["frames"] = [(name, _frame_bytes(frame)) for name, frame in self.frames]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["frames"] = [(name, pl.read_ipc(io.BytesIO(data))) for name, data in state["frames"]]
        self.__dict__.update(state)


def _frame_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="zstd")
    return buffer.getvalue()


@dataclass
class _Pending:
    """A name of the batch to read: its cache key (None: not stored) and its state before reading."""

    entry: Entry
    key: str | None = None
    before: os.stat_result | None = None
    sha256: str = ""


def _look_up(entry: Entry, names: _Names, store: _OutcomeCache | None, hashes: dict[str, str]) -> FileOutcome | _Pending:
    """One name of the batch taken from the cache when its key is there, else what reading it
    needs (`_read_all`, then `_finish`)."""
    if entry.why:
        return _Pending(entry)
    file = names.file(entry.rel)
    try:
        before = os.stat(entry.path, follow_symlinks=False)
        hashes[file] = sha256_file(entry.path)
    except OSError:
        return _Pending(entry)
    if store is None:
        return _Pending(entry)
    key = store.key(file, hashes[file], entry.path.suffix.lower())
    found = store.load(key, file)
    if found is not None:
        return found
    store.cache.use.misses += 1
    return _Pending(entry, key, before, hashes[file])


def _finish(
    pending: _Pending, outcome: FileOutcome, store: _OutcomeCache | None, contract: Contract, secret: Callable[[], bytes]
) -> FileOutcome:
    """A name just read: its identifiers tagged (`_tag_keys`); with the cache, its private ID column
    sealed (`_seal`) and the outcome stored, unless its bytes changed while it was read or it could
    not be read."""
    _tag_keys(outcome, contract, secret)
    if store is None:
        return outcome
    _seal(outcome, store)
    if pending.key is None or pending.before is None:
        return outcome
    try:
        after = os.stat(pending.entry.path, follow_symlinks=False)
    except OSError:
        return outcome
    before = pending.before
    unchanged = (before.st_size, before.st_mtime_ns, before.st_ino) == (after.st_size, after.st_mtime_ns, after.st_ino)
    unreadable = any(p.action is Action.FILE and p.reason is Reason.FILE_UNREADABLE for p in outcome.problems)
    if unchanged and not unreadable and not outcome.whole_ids and _same_bytes(pending.entry.path, pending.sha256):
        store.store(pending.key, outcome)
    return outcome


# What reading a file costs, in bytes of CSV read: a workbook byte about six (inflating, our XML
# scan, calamine's cells), and each file about 50 KB more (opening, header search, assembling).
_WORKBOOK_WEIGHT, _FILE_COST = 6, 50_000
# Below this much to read (about three seconds), the files are read in this process only: starting
# a process costs about a second, and the bundled sample's run stays as fast as before.
PARALLEL_READ_COST = 30_000_000


def _read_cost(entry: Entry) -> int:
    if entry.why:
        return 0
    try:
        size = os.stat(entry.path, follow_symlinks=False).st_size
    except OSError:
        return 0
    workbook = entry.path.suffix.lower() in TABLE_SUFFIXES - {".csv"}
    return _FILE_COST + size * (_WORKBOOK_WEIGHT if workbook else 1)


def _read_all(
    entries: list[Entry],
    names: _Names,
    contract: Contract,
    mapping: ReviewerMapping | None,
    limits: Limits | None,
    jobs: int,
) -> list[FileOutcome]:
    """Each name read (`_read_file`), in order. With ``jobs`` > 1 and enough to read, the names are
    shared among this process and ``jobs`` - 1 helper processes, the costliest first to the least
    loaded (`_read_cost`); the outcomes come back in the names' order, so nothing depends on who
    read what. A helper that cannot start or does not answer leaves its share to this process."""
    costs = [_read_cost(entry) for entry in entries]
    if jobs <= 1 or len(entries) < 2 or sum(costs) < PARALLEL_READ_COST:
        return _read_share(entries, names, contract, mapping, limits)
    shares: list[list[int]] = [[] for _ in range(min(jobs, len(entries)))]
    loads = [0] * len(shares)
    for index in sorted(range(len(entries)), key=lambda i: -costs[i]):
        # a name not read (`Entry.why`) stays here: its masked name is made as it is met (`_Names`)
        least = loads.index(min(loads)) if not entries[index].why else 0
        shares[least].append(index)
        loads[least] += costs[index]
    # all started before any is told (each imports while the next starts); a helper not told is None
    helpers = [(sorted(share), Helper.start("audit.ingest:_serve_share")) for share in shares[1:] if share]
    try:
        told = [
            (
                share,
                helper
                if helper is not None and helper.tell([entries[i] for i in share], names, contract, mapping, limits)
                else None,
            )
            for share, helper in helpers
        ]
        read = {i: _read_file(entries[i], names, contract, mapping, limits) for i in sorted(shares[0])}
        for share, helper in told:
            outcomes = helper.result() if helper is not None else None
            if not _outcomes_of(outcomes, share):
                outcomes = _read_share([entries[i] for i in share], names, contract, mapping, limits)
            read.update(zip(share, outcomes, strict=True))
    finally:
        for _, helper in helpers:
            if helper is not None:
                helper.stop()
    return [read[i] for i in range(len(entries))]


def _read_share(
    entries: list[Entry], names: _Names, contract: Contract, mapping: ReviewerMapping | None, limits: Limits | None
) -> list[FileOutcome]:
    """`_read_file` of each name, in order: what one process reads (`_read_all`, `_serve_share`)."""
    return [_read_file(entry, names, contract, mapping, limits) for entry in entries]


def _outcomes_of(answer: Any, share: list[int]) -> bool:
    """Whether a read helper's answer is the outcomes of its share (else this process reads it)."""
    return isinstance(answer, list) and len(answer) == len(share) and all(isinstance(o, FileOutcome) for o in answer)


def _serve_share(
    entries: list[Entry], names: _Names, contract: Contract, mapping: ReviewerMapping | None, limits: Limits | None
) -> list[FileOutcome]:
    """A read helper's function (`audit.helpers`): its share read, the cyclic collector held off."""
    with gc_paused():
        return _read_share(entries, names, contract, mapping, limits)


def _same_bytes(path: Path, sha256: str) -> bool:
    """Whether a file still has the bytes hashed before it was read: a rewrite keeping its size and
    modification time (a coarse clock: FAT, network drives) is seen only by hashing it again."""
    try:
        return sha256_file(path) == sha256
    except OSError:
        return False


def _read_file(
    entry: Entry, names: _Names, contract: Contract, mapping: ReviewerMapping | None, limits: Limits | None
) -> FileOutcome:
    """Read one name of the batch: its sheets masked (`_Names`), their tables assigned, each sheet
    parsed (`_SheetIngester`)."""
    items = [names.masked(item) for item in read_entry(entry, limits)]
    outcome = FileOutcome(names.file(entry.rel))
    for item in items:
        if isinstance(item, Skipped):
            outcome.read_skipped.append(item)
        elif isinstance(item, FileProblem):
            table = _mapped_file_table(mapping, item.file) or contract.table_for_name(Path(item.file).stem) or ""
            problem = Problem(item.file, item.sheet, None, "", "", item.reason, item.message(), table, Action.FILE)
            outcome.problems.append(problem)
            outcome.sources.append(SourceStats(item.file, item.sheet, table))
    sheets = [item for item in items if isinstance(item, RawSheet)]
    if not sheets:
        return outcome
    chosen, outcome.named_skipped = _choose_tables(sheets[0].file, sheets, contract, mapping)
    assigned, outcome.unlike_skipped = _confirm_tables(chosen, contract, outcome.recognised)
    keys: dict[str, set[str]] = defaultdict(set)
    for sheet, table_name in assigned:
        table = contract.tables[table_name]
        sheet, year_hint = _with_fixed(sheet, table, mapping)
        stats = SourceStats(sheet.file, sheet.sheet, table_name, hidden=sheet.hidden, encoding=sheet.encoding)
        outcome.sources.append(stats)
        before = len(outcome.problems)
        ingester = _SheetIngester(table, sheet, stats, outcome.problems)
        ingester.year_hint = year_hint
        frame = ingester.run()
        _record_columns(stats, ingester, mapping)
        if frame is not None and frame.height:
            frame = _declared(table, frame, set(ingester.mapping.values()))
            outcome.frames.append((table_name, frame))
        _remember_quarantined_keys(ingester, outcome.problems[before:], keys)
    outcome.quarantined_keys = dict(keys)
    return outcome


def _tag_keys(outcome: FileOutcome, contract: Contract, secret: Callable[[], bytes]) -> None:
    """Mask and tag (`privacy.tag_personal`) the ID and mobile numbers the identifier columns
    (`_tagged_columns`) were read with, and the quarantined keys: masked alone, 13987654321 and
    13911114321 would both be 139****4321, one member or branch. The secret is asked for only when
    some identifier holds such a number; the outcome then records which secret tagged it (`sealed`)."""
    tags: dict[str, str] = {}

    def tagged(values: Iterable[str]) -> dict[str, str]:
        for value in values:
            if value not in tags:
                tags[value] = tag_personal(value, secret()) if holds_personal(value) else value
        return tags

    frames: list[tuple[str, pl.DataFrame]] = []
    for name, frame in outcome.frames:
        for column in _tagged_columns(contract.tables[name]) & set(frame.columns):
            if frame.schema[column] != pl.String:
                continue
            # a personal number has at least MIN_DIGITS digits: only such values are looked at
            # (the short ones, most ids, left out first by their length: counting digits costs more)
            long = frame.select(column).filter(pl.col(column).str.len_bytes() >= MIN_DIGITS)
            candidates = long.filter(pl.col(column).str.count_matches(r"\d") >= MIN_DIGITS)[column].unique().to_list()
            known = tagged(candidates)
            found = {value: known[value] for value in candidates if known[value] != value}
            if found:
                frame = frame.with_columns(pl.col(column).replace(found))
        frames.append((name, frame))
    outcome.frames = frames
    for name, keys in outcome.quarantined_keys.items():
        tagged(keys)
        outcome.quarantined_keys[name] = {tags[k] for k in keys}
    if any(k != v for k, v in tags.items()):
        outcome.sealed = _OutcomeCache.fingerprint(secret())


def _seal(outcome: FileOutcome, store: _OutcomeCache) -> None:
    """Replace the whole ID numbers of the private ID column by sealed ones (`seal_id_number`), so
    the cache never holds one; without the pseudonym secret they stay whole and are not stored."""
    if not any(ID_COLUMN in frame.columns and frame[ID_COLUMN].null_count() < frame.height for _, frame in outcome.frames):
        return
    secret = store.secret()
    if secret is None:
        outcome.whole_ids = True
        return
    sealed: list[tuple[str, pl.DataFrame]] = []
    for name, frame in outcome.frames:
        if ID_COLUMN in frame.columns:
            numbers = frame[ID_COLUMN].drop_nulls().unique().to_list()
            seals = {number: seal_id_number(number, secret) for number in numbers}
            frame = frame.with_columns(pl.col(ID_COLUMN).replace_strict(seals, default=None, return_dtype=pl.String))
        sealed.append((name, frame))
    outcome.frames = sealed
    outcome.sealed = store.fingerprint(secret)


class _OutcomeCache:
    """The ingestion cache as `ingest` uses it: the key of a file's outcome (its bytes and name, and
    what reading it depends on besides: the effective contract, the mapping file, the limits, the
    code), and the pseudonym secret sealed ID numbers depend on (asked for once, only when needed)."""

    def __init__(self, batch: Path, contract: Contract, mapping: ReviewerMapping | None, limits: Limits | None):
        self.batch = batch
        self.cache = IngestCache(batch)
        mapping_text = repr(replace(mapping, path=Path())) if mapping is not None else ""
        self.context = (code_version(), contract.version, repr(contract), mapping_text, repr(limits or Limits()))
        self._secret: bytes | None = None
        self._asked = False

    @classmethod
    def open(
        cls, batch: Path, contract: Contract, mapping: ReviewerMapping | None, limits: Limits | None
    ) -> _OutcomeCache | None:
        """The cache for this ingestion; None (not used) when there is no home folder to keep it in."""
        try:
            return cls(batch, contract, mapping, limits)
        except RuntimeError:  # Path.home(): no HOME and no user entry
            return None

    def key(self, file: str, sha256: str, suffix: str) -> str:
        return make_key("file-outcome", *self.context, file, sha256, suffix)

    def secret(self) -> bytes | None:
        """The installation's pseudonym secret if there is one already (the cache never makes it: a
        batch that needs no pseudonym makes none), else None: then ID numbers are not sealed and their
        files not stored, and the identity stage asks for the secret only when it needs it."""
        if not self._asked:
            self._asked = True
            try:
                self._secret = installation_secret(self.batch) if secret_path().is_file() else None
            except SecretError:
                self._secret = None
        return self._secret

    @staticmethod
    def fingerprint(secret: bytes) -> str:
        """Which secret sealed an outcome's ID numbers (an HMAC of a constant: says nothing of the secret)."""
        return hmac.new(secret, b"audit ingest cache: sealed ID numbers", hashlib.sha256).hexdigest()

    def load(self, key: str, file: str) -> FileOutcome | None:
        """The stored outcome of `file`, or None: absent, unreadable, or sealed with another secret."""
        found = self.cache.load(key)
        if not isinstance(found, FileOutcome) or found.file != file or found.whole_ids:
            return None
        if found.sealed:
            secret = self.secret()
            if secret is None or self.fingerprint(secret) != found.sealed:
                return None
        self.cache.use.hits += 1
        return found

    def store(self, key: str, outcome: FileOutcome) -> None:
        self.cache.store(key, outcome)

    def batch_key(self, listed: list[Entry], names: _Names) -> tuple[str, dict[str, str], list[str]] | None:
        """The key of the whole batch's outcome — every name with its bytes' SHA-256 (or what it is,
        for a name never opened), the context of a file's key, and which pseudonym secret sealed
        ID numbers —, those hashes by file and the files' own keys; None when a file cannot be hashed."""
        secret = self.secret()
        parts = [*self.context, self.fingerprint(secret) if secret is not None else "-"]
        hashes: dict[str, str] = {}
        keys: list[str] = []
        for entry in listed:
            file = names.file(entry.rel)
            if entry.why:
                parts.append(f"{file}\0-\0{entry.why}")
                continue
            try:
                hashes[file] = sha256_file(entry.path)
            except OSError:
                return None
            parts.append(f"{file}\0{hashes[file]}\0{entry.path.suffix.lower()}")
            keys.append(self.key(file, hashes[file], entry.path.suffix.lower()))
        return make_key("batch-outcome", *parts), hashes, keys

    def load_batch(self, key: str) -> BatchOutcome | None:
        """The stored outcome of the whole batch, or None (absent, unreadable, not one)."""
        found = self.cache.load(key)
        return found if isinstance(found, BatchOutcome) else None


def _declared(table: Table, frame: pl.DataFrame, columns: set[str]) -> pl.DataFrame:
    """A sheet's rows with their source column (`due_source`) saying 申报 when the sheet has the
    column a derivation may fill later (`audit.dues`); null (nothing declared) otherwise."""
    for (name, column), (source, declared) in DECLARED_BY.items():
        if name == table.name and column in columns:
            frame = frame.with_columns(pl.lit(declared, dtype=pl.String).alias(source))
    return frame


def _resolve_identities(
    contract: Contract,
    tables: dict[str, pl.DataFrame],
    sources: list[SourceStats],
    problems: list[Problem],
    quarantined_keys: dict[str, set[str]],
    mapping: ReviewerMapping | None,
    secret: Callable[[], bytes],
) -> tuple[dict[str, pl.DataFrame], IdentityReport]:
    """Member and branch keys from what the exports carry (``audit.identity``), its issues added as
    problems: a quarantined source row moves from accepted to quarantined in its source's counts."""
    resolution = resolve_identities(contract, tables, quarantined_keys=quarantined_keys, mapping=mapping, secret=secret)
    _add_issues(contract, resolution.issues, sources, problems)
    _add_derived(resolution.derived, sources)
    return resolution.tables, resolution.report


def _pseudonym_secret(batch: Path) -> Callable[[], bytes]:
    """The installation's pseudonym secret, made (or read) when first asked for: by identifiers that
    hold an ID or mobile number (`_tag_keys`) and members known only by an ID number (`identity`)."""
    found: list[bytes] = []

    def secret() -> bytes:
        if not found:
            try:
                found.append(installation_secret(batch))
            except SecretError as exc:
                raise PseudonymKeyError(str(exc)) from None
        return found[0]

    return secret


def _attendance_and_offices(
    contract: Contract,
    tables: dict[str, pl.DataFrame],
    sources: list[SourceStats],
    problems: list[Problem],
    identities: IdentityReport,
) -> dict[str, pl.DataFrame]:
    """On the checked tables: how each meeting's attendance is known and the attendance rows its
    缺席人员 / 请假人员 text gives (``audit.meetings``), then each branch's secretary and organizer
    from the branch list, the committee list or the roster (``audit.offices``). Notices only: no
    source row is removed here; the attendance rows a text gives are counted as derived."""
    columns_of = {(s.file, s.sheet): set(s.headers) for s in sources if s.table == "meetings"}
    members = tables["members"]
    shown = member_labels(members)
    tables, issues, identities.attendance, derived = attendance_shapes(tables, columns_of, members_by_name(members), shown)
    meetings, hosts = resolve_hosts(tables["meetings"], members)  # 主持人 as a member, where it names one
    tables = {**tables, "meetings": meetings}
    identities.meetings.update({k: v for k, v in hosts.items() if v})
    tables, more, identities.offices = fill_offices(tables, shown)
    _add_issues(contract, [*issues, *more], sources, problems)
    _add_derived(derived, sources)
    return tables


def _add_derived(derived: Iterable[Derived], sources: list[SourceStats]) -> None:
    """Count each derived row in the ``rows_derived`` of the source row it came from."""
    stats = {(s.file, s.sheet): s for s in sources}
    for row in derived:
        stats[(row.file, row.sheet)].rows_derived += 1


def _add_issues(contract: Contract, issues: Iterable[Issue], sources: list[SourceStats], problems: list[Problem]) -> None:
    """Issues of the identity, meeting and office stages as problems, each showing the header as the
    sheet wrote it; a quarantined source row moves from accepted to quarantined in its counts."""
    stats = {(s.file, s.sheet, s.table): s for s in sources}
    for issue in issues:
        source = stats.get((issue.file, issue.sheet, issue.table))
        column = contract.tables[issue.table].columns.get(issue.column) if issue.table else None
        header = source.headers.get(issue.column) if source is not None else None
        shown_as = header or (column.label if column is not None else issue.column)
        problems.append(
            Problem(
                issue.file, issue.sheet, issue.row, shown_as, issue.value, issue.reason, issue.message, issue.table, issue.action
            )
        )
        if issue.action is Action.ROW and source is not None:
            source.rows_accepted -= 1
            source.rows_quarantined += 1


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


def _months_note(rows: pl.DataFrame, total: int) -> str:
    """Which of a source row's `total` rows `rows` are, by month when the table has months."""
    if "month" not in rows.columns:
        return f"（本行读出的 {total} 条记录中的 {rows.height} 条）"
    months = sorted({m for m in rows["month"].to_list() if m is not None})
    named = "、".join(f"{m.year}年{m.month}月" for m in months)
    if rows.height == total:
        return f"（本行的 {total} 个月：{named}）"
    return f"（本行 {total} 个月中的 {named}，这些月份未重复计入；本行其余月份已导入）"


def _remember_quarantined_keys(ingester: _SheetIngester, found: list[Problem], keys: dict[str, set[str]]) -> None:
    """Keys of rows quarantined while parsing (as the key column holds them: whole, then tagged by
    `_tag_keys`), so a reference to them says so instead of 'missing'."""
    table, sheet = ingester.table, ingester.sheet
    if len(table.key) != 1:
        return
    rows = {p.row for p in found if p.action is Action.ROW and p.row is not None}
    index = next((i for i, name in ingester.mapping.items() if name == table.key[0]), None)
    if not rows or index is None:
        return
    for number, cells in sheet.rows:
        if number in rows and index < len(cells) and not is_blank(cells[index]):
            keys[table.name].add(cell_text(cells[index]))  # whole, as the key column holds it until `_tag_keys`


def _kept(frame: pl.DataFrame, keep: pl.Expr, whole: pl.DataFrame) -> pl.DataFrame:
    """The rows of `frame` that `keep` keeps and whose source row (`whole`: file, sheet, row) is not
    quarantined whole, in their order: one filter, one copy of the table (a filter and then an anti
    join made two, and at city scale a table is gigabytes)."""
    if whole.is_empty():
        return frame.filter(keep)
    source = pl.struct("_file", "_sheet", "_row")
    removed = whole.select(source).to_series().unique().implode()
    return frame.filter(keep & ~source.is_in(removed).fill_null(False))


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
        self._transfer_dates()
        return self.tables

    def _transfer_dates(self) -> None:
        """Members' transfer dates from the transfer register (组织关系转接): the latest 办理时间 of a
        member's 转出 (转入) rows fills the roster's 转出日期 (转入日期) where the roster has none, or
        has only the month (`2019.05`) and the register's day lies in it; where both have a date
        and they differ, the roster's date is kept and the register row gets a note. Only register
        rows that passed every check (their member exists) are used."""
        if "transfers" not in self.tables or "members" not in self.tables:
            return
        register, members = self.tables["transfers"], self.tables["members"]
        if register.is_empty() or members.is_empty():
            return
        member_table = self.contract.tables["members"]
        for direction, name in (("转出", "transferred_out_on"), ("转入", "transferred_in_on")):
            if name not in members.columns:
                continue
            latest = (
                register.filter(pl.col("direction") == direction)
                .sort("handled_on", "_file", "_sheet", "_row")
                .group_by("member_id", maintain_order=True)
                .last()
                .select("member_id", _handled=pl.col("handled_on"), _reg_file="_file", _reg_sheet="_sheet", _reg_row="_row")
            )
            if latest.is_empty():
                continue
            column = member_table.columns[name]
            joined = members.join(latest, on="member_id", how="left", maintain_order="left")
            precision = pl.col(column.precision_column) if column.precision_column in joined.columns else pl.lit(None)
            same_month = pl.col(name).dt.truncate("1mo") == pl.col("_handled").dt.truncate("1mo")
            refine = pl.col(name).is_null() | ((precision == "month") & same_month)
            refine = pl.col("_handled").is_not_null() & refine.fill_null(False)
            conflicts = joined.filter(pl.col("_handled").is_not_null() & ~refine & (pl.col(name) != pl.col("_handled")))
            for row in conflicts.iter_rows(named=True):
                stats = self.stats.get((row["_reg_file"], row["_reg_sheet"], "transfers"))
                reason = Reason.TRANSFER_CONFLICT
                self.problems.append(
                    Problem(
                        row["_reg_file"],
                        row["_reg_sheet"],
                        row["_reg_row"],
                        stats.headers.get("handled_on", "办理时间") if stats else "办理时间",
                        row["_handled"].isoformat(),
                        reason,
                        reason.render(
                            direction=direction,
                            register=row["_handled"].isoformat(),
                            label=column.label,
                            roster=row[name].isoformat(),
                            where=f"{row['_file']} 第{row['_row']}行",
                        ),
                        "transfers",
                        Action.NOTE,
                    )
                )
            filled = [pl.when(refine).then(pl.col("_handled")).otherwise(pl.col(name)).alias(name)]
            if column.precision_column in joined.columns:
                filled.append(pl.when(refine).then(None).otherwise(precision).alias(column.precision_column))
            self.tables["members"] = members = joined.with_columns(filled).drop("_handled", "_reg_file", "_reg_sheet", "_reg_row")

    def _stored_row_problem(
        self, row: dict[str, Any], table: str, column: Column, value: str, reason: Reason, message: str, action: Action
    ) -> Problem:
        """The quarantine entry of a stored row: its file, sheet and row, and `column` named by the
        header its export gave it (the contract's label when the export had none)."""
        header = self.stats[(row["_file"], row["_sheet"], table)].headers.get(column.name, column.label)
        return Problem(row["_file"], row["_sheet"], row["_row"], header, value, reason, message, table, action)

    def _quarantine(
        self, table: str, rows: pl.DataFrame, make: Callable[[dict[str, Any]], Problem], frame: pl.DataFrame
    ) -> pl.DataFrame:
        """One problem per source row of the stored `rows` of `table` (`frame`: the whole table)
        that are removed. A layout reads several rows from one source row (a wide sheet's months):
        such a source row is listed once, its months in the reason; when all its rows are removed it
        is quarantined (counted once), when some are left it stays accepted and the problem is a
        note, so a source row is never both counted quarantined and present in the table. Returns
        the rows to remove: `rows`, and the other rows of each source row quarantined whole."""
        key = self.contract.tables[table].key
        source = ["_file", "_sheet", "_row"]
        counted = {(p.file, p.sheet, p.row) for p in self.problems if p.table == table and p.action is Action.ROW}
        mine = frame.join(rows.select(source).unique(), on=source, how="semi")
        totals = {(f, s, r): n for f, s, r, n in mine.group_by(source).len().iter_rows()}
        whole: list[tuple[str, str, int]] = []
        for (file, sheet, number), group in rows.group_by(source, maintain_order=True):
            first = group.row(0, named=True)
            problem = make(first)
            total = totals.get((file, sheet, number), group.height)
            if total > 1:  # a source row that gave several rows: which of them, once
                problem.message = mask_personal(problem.message + _months_note(group, total))
                if group.height < total:
                    problem.action = Action.NOTE
            self.problems.append(problem)
            if problem.action is not Action.ROW:
                continue
            if len(key) == 1 and first[key[0]] is not None:
                self.quarantined_keys[table].add(str(first[key[0]]))
            whole.append((file, sheet, number))
            if (file, sheet, number) in counted:
                continue
            counted.add((file, sheet, number))
            stats = self.stats[(file, sheet, table)]
            stats.rows_accepted -= 1
            stats.rows_quarantined += 1
        return pl.DataFrame(whole, schema={"_file": pl.String, "_sheet": pl.String, "_row": pl.Int64}, orient="row")

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
        # where each duplicated key was first met (only those keys: at city scale the whole table's
        # texts would be gigabytes)
        firsts = (
            frame.lazy()
            .filter(pl.col("_first"))
            .select(*key, "_file", "_row")
            .join(dupes.lazy().select(key).unique(), on=key, how="semi", nulls_equal=True)
            .select(*key, _first_at=pl.format("{} 第{}行", pl.col("_file"), pl.col("_row")))
            .collect()
        )
        dupes = dupes.join(firsts, on=key, how="left", nulls_equal=True)
        label_column = table.columns[key[0]]
        key_text = "、".join(table.columns[k].label for k in key)

        def make(row: dict[str, Any]) -> Problem:
            value = "/".join("" if row[k] is None else str(row[k]) for k in key)
            message = Reason.DUPLICATE.render(first=row["_first_at"], key=key_text)
            return self._stored_row_problem(row, table.name, label_column, value, Reason.DUPLICATE, message, Action.ROW)

        whole = self._quarantine(table.name, dupes, make, frame)
        self.tables[table.name] = _kept(frame, pl.col("_first"), whole).drop("_first")

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
            message = reason.render(label=target_label, value=value)
            action = Action.ROW if column.required else Action.VALUE
            return self._stored_row_problem(row, table.name, column, value, reason, message, action)

        if column.required:
            whole = self._quarantine(table.name, dangling, make, frame)
            self.tables[table.name] = _kept(frame, ~dangling_mask, whole)
        else:
            self.problems.extend(make(row) for row in dangling.iter_rows(named=True))
            self.tables[table.name] = frame.with_columns(
                pl.when(dangling_mask).then(None).otherwise(pl.col(column.name)).alias(column.name)
            )
