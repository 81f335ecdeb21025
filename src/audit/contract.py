"""The export contract (``contract.yaml``) as typed objects: tables, columns, header aliases.

Also answers the two recognition questions ingestion asks: which table does a file stem or sheet
name denote, and which canonical column does a header cell name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

import polars as pl
import yaml

from audit.values import fold

POLARS_TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "enum": pl.String(),
    "date": pl.Date(),
    "month": pl.Date(),
    "number": pl.Float64(),
    "integer": pl.Int64(),
    "rate": pl.Float64(),
    "yesno": pl.Boolean(),
    "id_number": pl.String(),
    "phone": pl.String(),
}
# Provenance columns added to every canonical table, so findings can cite source rows.
SOURCE_COLUMNS: dict[str, pl.DataType] = {"_file": pl.String(), "_sheet": pl.String(), "_row": pl.Int64()}
# Header decorations that do not change what a column is: a bracketed unit or hint anywhere
# (`（元）`, `(元/月)`, `【必填】`, `（正式党员或预备党员）`), a `单位：元` tail, a trailing colon.
_BRACKETED = re.compile(r"[(\[【〔《<][^()\[\]【】〔〕《》<>]*[)\]】〕》>]")
_UNIT_TAIL = re.compile(r"[,，、/;；]?单位[:：].*$")
_TRAILING_COLON = re.compile(r"[:：]+$")
HOW_CANONICAL, HOW_ALIAS, HOW_UNIT = "标准列名", "别名", "去掉单位后匹配"
# Kinds of an `identity` group (see contract.yaml): identifier kinds, in the order a member's key
# takes them after the column itself, and context kinds that identify nothing on their own.
IDENTIFIER_KINDS = ("personnel_no", "id_number", "name")
CONTEXT_KINDS = ("branch", "parent")
# Parts of a derived meeting key (`key_from`, see contract.yaml); `date` is the one a sheet must have.
KEY_PARTS = ("branch", "date", "type", "topic", "title", "group")


def normalize_header(text: str) -> str:
    """Fold a header cell for matching: half-width, no spaces or line breaks, no `*` required
    markers, lower case."""
    return fold(text).replace(" ", "").replace("*", "").lower()


def strip_unit(header: str) -> str:
    """`实交金额(元)` -> `实交金额`; also `金额(单位:元)`, `金额单位:元`, `(必填)姓名`, `姓名:`."""
    previous = None
    while previous != header:
        previous = header
        header = _TRAILING_COLON.sub("", _UNIT_TAIL.sub("", _BRACKETED.sub("", header)))
    return header


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    label: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    values: dict[str, list[str]] | None = None
    ref: str | None = None
    min: float | None = None
    max: float | None = None
    blank_as_zero: bool = False
    # spellings that name this column only when the column's values fit it (`人员类别`)
    aliases_if_values_fit: tuple[str, ...] = ()
    month_precision: bool = False  # a membership-history date: `2005.07` is read as 2005-07-01
    info: bool = False  # recognised and kept, read by no rule
    names_member: bool = False  # may name a member by 党员编号 or 学工号: tagged as member keys are
    derive: dict[str, Any] | None = None  # how a sheet without this column implies its value
    identity: dict[str, str] | None = None  # kind -> column of the same table that may stand in for this one
    key_from: dict[str, str] | None = None  # part -> column a meeting key is made from when none is given
    codes: dict[str, str] | None = None  # enum value -> its code in a derived key
    doc: str = ""

    @property
    def stand_ins(self) -> tuple[str, ...]:
        """The columns that identify the same member or branch instead of this one (`identity`), or
        from which the meeting is known (the `date` of `key_from`)."""
        if self.key_from:
            return (self.key_from["date"],)
        return tuple(self.identity[k] for k in IDENTIFIER_KINDS if self.identity and k in self.identity)

    @property
    def dtype(self) -> pl.DataType:
        return POLARS_TYPES[self.type]

    @property
    def personal(self) -> bool:
        return self.type in ("id_number", "phone")

    @property
    def precision_column(self) -> str | None:
        """The companion column marking month-precision values (`joined_on_precision` = `month`)."""
        return f"{self.name}_precision" if self.month_precision else None


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    names: tuple[str, ...]
    key: tuple[str, ...]
    columns: dict[str, Column] = field(default_factory=dict)
    doc: str = ""  # a note for the data dictionary
    computed: dict[str, str] = field(default_factory=dict)  # columns ingestion adds (name -> type), never read

    @property
    def computed_schema(self) -> dict[str, pl.DataType]:
        """The columns ingestion computes from other columns and tables (`computed`), typed."""
        return {name: POLARS_TYPES[kind] for name, kind in self.computed.items()}

    @property
    def required(self) -> list[Column]:
        return [c for c in self.columns.values() if c.required]

    def schema(self) -> dict[str, pl.DataType]:
        extra = {"id_number_status": pl.String()} if any(c.type == "id_number" for c in self.columns.values()) else {}
        precision = {c.precision_column: pl.String() for c in self.columns.values() if c.precision_column}
        columns = {c.name: c.dtype for c in self.columns.values()}
        return {**columns, **extra, **precision, **self.computed_schema, **SOURCE_COLUMNS}

    @cache  # noqa: B019 - tables are immutable and few
    def header_lookup(self) -> dict[str, tuple[str, str]]:
        """Folded spelling -> (canonical column, how it names it: 标准列名 or 别名)."""
        lookup: dict[str, tuple[str, str]] = {}
        for column in self.columns.values():
            for spelling in column.aliases:
                lookup[normalize_header(spelling)] = (column.name, HOW_ALIAS)
        for column in self.columns.values():
            for spelling in (column.name, column.label):
                lookup[normalize_header(spelling)] = (column.name, HOW_CANONICAL)
        return lookup

    @cache  # noqa: B019 - tables are immutable and few
    def guarded_lookup(self) -> dict[str, tuple[str, ...]]:
        """Folded spelling -> the columns it names only when the values fit (`aliases_if_values_fit`)."""
        lookup: dict[str, tuple[str, ...]] = {}
        for column in self.columns.values():
            for spelling in column.aliases_if_values_fit:
                key = normalize_header(spelling)
                lookup[key] = (*lookup.get(key, ()), column.name)
        return lookup

    def match(self, header: str) -> tuple[str, str] | None:
        """The canonical column a header names and how (标准列名, 别名, 去掉单位后匹配), or None."""
        lookup = self.header_lookup()
        key = normalize_header(header)
        hit = lookup.get(key)
        if hit is not None:
            return hit
        stripped = strip_unit(key)
        if stripped != key and stripped in lookup:
            return lookup[stripped][0], HOW_UNIT
        return None

    def column_for(self, header: str) -> str | None:
        """The canonical column a header names, or None for an extra column."""
        found = self.match(header)
        return found[0] if found else None

    def stood_in(self, named: set[str | None]) -> set[str]:
        """The identity columns (member or branch keys and references) that ``named`` — columns a
        header has — stands in for through one of their identifier columns (`identity`)."""
        return {c.name for c in self.columns.values() if c.stand_ins and named.intersection(c.stand_ins)}

    def columns_if_values_fit(self, header: str) -> tuple[str, ...]:
        """Columns this header names only when its values fit them (tried before `column_for`)."""
        lookup = self.guarded_lookup()
        key = normalize_header(header)
        return lookup.get(key) or lookup.get(strip_unit(key), ())

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class Contract:
    version: str
    tables: dict[str, Table]

    def table_for_name(self, name: str) -> str | None:
        """The table a file stem or sheet name denotes (longest matching spelling), or None."""
        text = normalize_header(name)
        best: tuple[int, str] | None = None
        ambiguous = False
        for table in self.tables.values():
            for spelling in (table.name, *table.names):
                spelled = normalize_header(spelling)
                if not _names(text, spelled, ascii_name=spelling.isascii()):
                    continue
                if best is None or len(spelled) > best[0]:
                    best, ambiguous = (len(spelled), table.name), False
                elif len(spelled) == best[0] and table.name != best[1]:
                    ambiguous = True
        return None if best is None or ambiguous else best[1]


def _names(text: str, spelled: str, *, ascii_name: bool) -> bool:
    if not ascii_name:
        return spelled in text
    # English names must stand as whole tokens: `dues` in `2019_dues`, not in `residues`.
    return re.search(rf"(?<![a-z]){re.escape(spelled)}(?![a-z])", text) is not None


def _identity(table: str, column: str, spec: Any, columns: dict[str, Any]) -> dict[str, str] | None:
    """A column's `identity` group, checked: known kinds, columns of the same table."""
    if spec is None:
        return None
    for kind, other in spec.items():
        if kind not in (*IDENTIFIER_KINDS, *CONTEXT_KINDS) or other not in columns:
            raise ValueError(f"contract.yaml: {table}.{column}: identity {kind}: {other} is not a kind and column of the table")
    return dict(spec)


def _key_from(table: str, column: str, spec: Any, columns: dict[str, Any]) -> dict[str, str] | None:
    """A column's `key_from` parts, checked: known parts, a `date`, columns of the same table, and a
    code for every value of the enum column that is the `type` part."""
    if spec is None:
        return None
    for part, other in spec.items():
        if part not in KEY_PARTS or other not in columns:
            raise ValueError(f"contract.yaml: {table}.{column}: key_from {part}: {other} is not a part and column of the table")
    if "date" not in spec:
        raise ValueError(f"contract.yaml: {table}.{column}: key_from needs a date")
    kind = columns.get(spec.get("type", ""), {})
    codes = kind.get("codes") or {}
    if "codes" in kind and set(codes) != set(kind.get("values") or {}):
        raise ValueError(f"contract.yaml: {table}.{spec['type']}: codes must name every value")
    return dict(spec)


@cache
def load_contract() -> Contract:
    raw: dict[str, Any] = yaml.safe_load(files("audit").joinpath("contract.yaml").read_text(encoding="utf-8"))
    tables = {}
    for name, spec in raw["tables"].items():
        columns = {
            col: Column(
                name=col,
                type=c["type"],
                label=c.get("label", col),
                required=c.get("required", False),
                aliases=tuple(c.get("aliases", ())),
                values=c.get("values"),
                ref=c.get("ref"),
                min=c.get("min"),
                max=c.get("max"),
                blank_as_zero=c.get("blank_as_zero", False),
                aliases_if_values_fit=tuple(c.get("aliases_if_values_fit", ())),
                month_precision=c.get("month_precision", False),
                info=c.get("info", False),
                names_member=c.get("names_member", False),
                derive=c.get("derive"),
                identity=_identity(name, col, c.get("identity"), spec["columns"]),
                key_from=_key_from(name, col, c.get("key_from"), spec["columns"]),
                codes=c.get("codes"),
                doc=c.get("doc", ""),
            )
            for col, c in spec["columns"].items()
        }
        tables[name] = Table(
            name,
            spec["title"],
            tuple(spec["names"]),
            tuple(spec["key"]),
            columns,
            spec.get("doc", ""),
            dict(spec.get("computed") or {}),
        )
    return Contract(str(raw["version"]), tables)
