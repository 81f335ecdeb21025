"""The floor of record-quality validation: the committed quality suites evaluated as polars
expressions, without GX.

`quality_floor` reads expectations/quality.<table>.json, evaluates each expectation on the same
canonical tables with the same parameters (`audit.quality.quality_parameters`) and returns the
rows `audit.quality.collect_quality` makes of GX's results (table, file, sheet, row, column,
value, check, message). The benchmark measures GX against it (issue 16: GX ≤ 3× this floor);
tests/test_quality_floor.py holds the two equal. It judges the way GX's pandas engine does:
a null is also a float NaN; a column check ignores missing values; a compound key ignores rows
with every part missing; a count pair ignores rows with either count missing. The value shown is
the one GX hands back from its pandas frame, rendered as `collect_quality` renders it (a date as
ISO text, a whole number without ".0", a missing value as nothing).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl

from audit.keysets import KIND
from audit.paths import EXPECTATIONS
from audit.quality import ID_STATUS_ZH, QUALITY_COLUMNS

KINDS = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    KIND,  # a column's values are keys of another table (`audit.keysets`)
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_column_pair_values_a_to_be_greater_than_b",
}
_SCHEMA = {c: pl.Int64 if c == "row" else pl.String for c in QUALITY_COLUMNS}


def quality_floor(tables: dict[str, pl.DataFrame], parameters: dict[str, Any], folder: Path = EXPECTATIONS) -> pl.DataFrame:
    """Every row failing an expectation of its table's quality suite, as `collect_quality` lists them."""
    found = []
    for name, frame in tables.items():
        suite = json.loads((folder / f"quality.{name}.json").read_text(encoding="utf-8"))
        for expectation in suite["expectations"]:
            failing = frame.filter(_failing(expectation["type"], _resolve(expectation["kwargs"], parameters), frame))
            if not failing.is_empty():
                found.append(_rows(name, expectation, frame, failing))
    out = pl.concat(found) if found else pl.DataFrame(schema=_SCHEMA)
    return out.unique(maintain_order=True).sort("table", "file", "sheet", "row", "column")


def _resolve(kwargs: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The arguments with each `$PARAMETER` replaced by its value."""
    return {k: parameters[v["$PARAMETER"]] if isinstance(v, dict) and "$PARAMETER" in v else v for k, v in kwargs.items()}


def _missing(frame: pl.DataFrame, column: str) -> pl.Expr:
    """What pandas calls missing: null, and NaN in a float column."""
    expr = pl.col(column).is_null()
    return expr | pl.col(column).is_nan() if frame.schema[column].is_float() else expr


def _bound(frame: pl.DataFrame, column: str, value: Any) -> tuple[pl.Expr, Any]:
    """A column and a bound made comparable: a date column against a datetime as a datetime."""
    if isinstance(value, dt.datetime) and frame.schema[column] == pl.Date:
        return pl.col(column).cast(pl.Datetime("us")), value
    return pl.col(column), value


def _failing(kind: str, kwargs: dict[str, Any], frame: pl.DataFrame) -> pl.Expr:
    """The rows an expectation finds unexpected."""
    if kind not in KINDS:
        raise ValueError(f"quality floor: expectation type {kind} not written as an expression")
    if kind == "expect_compound_columns_to_be_unique":
        columns = kwargs["column_list"]
        considered = ~pl.all_horizontal(_missing(frame, c) for c in columns)
        return considered & pl.struct(columns).is_duplicated()
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kwargs["column_A"], kwargs["column_B"]
        considered = ~_missing(frame, a) & ~_missing(frame, b)
        holds = pl.col(a) >= pl.col(b) if kwargs.get("or_equal") else pl.col(a) > pl.col(b)
        return considered & ~holds
    column = kwargs["column"]
    missing = _missing(frame, column)
    if kind == "expect_column_values_to_not_be_null":
        return missing
    if kind in ("expect_column_values_to_be_in_set", KIND):
        values = pl.Series(kwargs.get("value_set", kwargs.get("keys")), dtype=frame.schema[column])
        return ~missing & ~pl.col(column).is_in(values.implode())
    if kind == "expect_column_values_to_be_unique":
        return ~missing & pl.col(column).is_duplicated()
    holds = pl.lit(True)
    for side, strict in (("min_value", "strict_min"), ("max_value", "strict_max")):
        if kwargs.get(side) is not None:
            expr, bound = _bound(frame, column, kwargs[side])
            if side == "min_value":
                holds = holds & (expr > bound if kwargs.get(strict) else expr >= bound)
            else:
                holds = holds & (expr < bound if kwargs.get(strict) else expr <= bound)
    return ~missing & ~holds


def _rows(table: str, expectation: dict[str, Any], frame: pl.DataFrame, failing: pl.DataFrame) -> pl.DataFrame:
    """The data-quality rows of one expectation's failing rows."""
    kwargs, meta = expectation["kwargs"], expectation["meta"]
    column = kwargs.get("column") or kwargs.get("column_A")
    if column is None:  # a compound key: collect_quality finds no value under the joined names
        values = pl.Series([""] * failing.height, dtype=pl.String)
    else:
        values = _shown(frame, failing, column)
        if column == "id_number_status":
            values = values.replace(ID_STATUS_ZH)
    template = meta["message"].split("{value}")
    message = pl.concat_str([pl.lit(template[0]), *(e for piece in template[1:] for e in (pl.col("value"), pl.lit(piece)))])
    return (
        pl.DataFrame(
            {
                "table": pl.Series([table] * failing.height, dtype=pl.String),
                "file": _index_text(frame, failing, "_file"),
                "sheet": _index_text(frame, failing, "_sheet"),
                "row": failing.get_column("_row").cast(pl.Int64),
                "column": pl.Series([meta["label"]] * failing.height, dtype=pl.String),
                "value": values,
                "check": pl.Series([meta["check"]] * failing.height, dtype=pl.String),
            }
        )
        .with_columns(message=message)
        .select(QUALITY_COLUMNS)
    )


def _index_text(frame: pl.DataFrame, failing: pl.DataFrame, column: str) -> pl.Series:
    """A text index column (`_file`, `_sheet`) as collect_quality shows it: a null as nothing."""
    return failing.get_column(column).fill_null("")


def _shown(frame: pl.DataFrame, failing: pl.DataFrame, column: str) -> pl.Series:
    """A failing row's value as collect_quality shows it after the crossing to pandas."""
    values, dtype = failing.get_column(column), frame.schema[column]
    if dtype == pl.String:
        return values.fill_null("")
    if dtype in (pl.Date, pl.Datetime):
        return values.cast(pl.Date).cast(pl.String).fill_null("")
    if dtype == pl.Boolean:
        return values.replace_strict({True: "True", False: "False"}, default="", return_dtype=pl.String)
    if dtype.is_integer():
        return values.cast(pl.String).fill_null("")
    if dtype.is_float():  # a whole number without ".0", NaN as nothing (`quality._shown`)
        return pl.Series(
            ["" if v is None or v != v else str(int(v)) if v.is_integer() else str(v) for v in values.to_list()],
            dtype=pl.String,
        )
    return pl.Series(["" if v is None else str(v) for v in values.to_list()], dtype=pl.String)
