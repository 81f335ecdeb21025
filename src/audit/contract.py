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
    "yesno": pl.Boolean(),
    "id_number": pl.String(),
    "phone": pl.String(),
}
# Provenance columns added to every canonical table, so findings can cite source rows.
SOURCE_COLUMNS: dict[str, pl.DataType] = {"_file": pl.String(), "_sheet": pl.String(), "_row": pl.Int64()}
_UNIT_SUFFIX = re.compile(r"\((?:元|人|个|次|分|份|日期|yyyy-mm-dd|必填)\)$|\*$|:$")


def normalize_header(text: str) -> str:
    """Fold a header cell for matching: half-width, no spaces, lower case."""
    return fold(text).replace(" ", "").lower()


def strip_unit(header: str) -> str:
    """`实交金额(元)` -> `实交金额`; also drops a trailing `*` (required marker) or colon."""
    previous = None
    while previous != header:
        previous, header = header, _UNIT_SUFFIX.sub("", header)
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

    @property
    def dtype(self) -> pl.DataType:
        return POLARS_TYPES[self.type]

    @property
    def personal(self) -> bool:
        return self.type in ("id_number", "phone")


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    names: tuple[str, ...]
    key: tuple[str, ...]
    columns: dict[str, Column] = field(default_factory=dict)

    @property
    def required(self) -> list[Column]:
        return [c for c in self.columns.values() if c.required]

    def schema(self) -> dict[str, pl.DataType]:
        extra = {"id_number_status": pl.String()} if any(c.type == "id_number" for c in self.columns.values()) else {}
        return {**{c.name: c.dtype for c in self.columns.values()}, **extra, **SOURCE_COLUMNS}

    @cache  # noqa: B019 - tables are immutable and few
    def header_lookup(self) -> dict[str, str]:
        lookup: dict[str, str] = {}
        for column in self.columns.values():
            for spelling in (column.name, column.label, *column.aliases):
                lookup[normalize_header(spelling)] = column.name
        return lookup

    def column_for(self, header: str) -> str | None:
        """The canonical column a header names, or None for an extra column."""
        lookup = self.header_lookup()
        key = normalize_header(header)
        return lookup.get(key) or lookup.get(strip_unit(key))

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
            )
            for col, c in spec["columns"].items()
        }
        tables[name] = Table(name, spec["title"], tuple(spec["names"]), tuple(spec["key"]), columns)
    return Contract(str(raw["version"]), tables)
