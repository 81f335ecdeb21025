"""The amount due of dues rows whose export gives none, derived from the row's income base.

Platforms often export dues as paid amounts only (a wide sheet of months, `1月` … `12月`) beside
the member's 核算基数. Ingestion reads such a sheet with `amount_due` null and `due_source` null
(a sheet with an 应交 column gives `due_source` = 申报). Validation then derives, with the run's
standard, where the national rule leaves one amount (中共中央组织部《关于中国共产党党费收缴、使用和
管理的规定》, the rate tables of rule SM-6):

- the row's 核算基数 × the row's own 交纳党费比例, when the export gives both;
- else the row's 核算基数 and the member's 工作状态 in the roster: 在职 by the in-service bands
  (after-tax monthly income ≤3000 元 0.5 %, ≤5000 元 1 %, ≤10000 元 1.5 %, above 2 %), 离退休 by the
  retired bands, and the flat categories whose amount is one number (学生, 无固定收入: 0.2 元).

Nothing else is guessed: a 农民 (0.2–1 元), an unknown or 其他 工作状态, or a row without a base
keeps `amount_due` null: SM-5 and SM-6 are then 无法评估 for the branch and month, the reason
naming those rows, while the branch's other rows are still judged (`audit.coverage`). The roster's own
月收入基数 is never used as the base: SM-6 compares the amount due with the rate the roster's base
gives, so a due derived from it would be compared with itself. Derived rows get `due_source` =
推算; `due_notices` counts them, and the rows left without a due, per sheet for data_quality.csv.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from audit.standard import Standard, dues_range_exprs

DUE_DECLARED = "申报"  # the export gave the amount due
DUE_DERIVED = "推算"  # derived here from the row's base
# required columns a sheet may leave out as a whole: ingestion reads its rows with the column null
DERIVED_IF_ABSENT = {("dues", "amount_due")}
# descriptive columns the derivation reads (the data dictionary says so)
DERIVED_FROM = {("dues", "base"), ("dues", "rate")}
# (table, column) -> (the computed column saying where a row's value came from, its value for a sheet that has it)
DECLARED_BY = {("dues", "amount_due"): ("due_source", DUE_DECLARED)}
CHECK_DERIVED = "应交金额推算"
CHECK_UNKNOWN = "应交金额未知"
ROWS_SHOWN = 10


def derive_amount_due(tables: Mapping[str, pl.DataFrame], standard: Standard) -> pl.DataFrame:
    """The dues table with `amount_due` derived where the export gave none and the rule leaves one
    amount (see the module docstring), `due_source` = 推算 there; other rows unchanged. Idempotent."""
    dues = tables["dues"]
    if dues.is_empty() or "base" not in dues.columns or dues["amount_due"].null_count() == 0:
        return dues
    if "due_source" not in dues.columns:  # tables ingested before `due_source` existed
        dues = dues.with_columns(due_source=pl.lit(None, dtype=pl.String))
    members = tables["members"]
    employment = (
        members.select("member_id", _employment=pl.col("employment")).unique("member_id", keep="first")
        if "employment" in members.columns
        else pl.DataFrame(schema={"member_id": pl.String, "_employment": pl.String})
    )
    low, high = dues_range_exprs(standard.rule("SM-6"), "_employment", "base")
    own_rate = (pl.col("base") * pl.col("rate") + 1e-9).round(2) if "rate" in dues.columns else pl.lit(None, pl.Float64)
    by_rate = pl.when(pl.col("base").is_not_null()).then(own_rate)
    by_table = pl.when(low.is_not_null() & (low == high)).then(low)
    derived = pl.coalesce(by_rate, by_table)
    missing = pl.col("amount_due").is_null()
    out = (
        dues.join(employment, on="member_id", how="left", maintain_order="left")
        .with_columns(_derived=pl.when(missing).then(derived))
        .with_columns(
            amount_due=pl.coalesce("amount_due", "_derived"),
            due_source=pl.when(pl.col("_derived").is_not_null()).then(pl.lit(DUE_DERIVED)).otherwise(pl.col("due_source")),
        )
    )
    return out.drop("_employment", "_derived")


def with_derived_dues(tables: Mapping[str, pl.DataFrame], standard: Standard) -> dict[str, pl.DataFrame]:
    """The tables with `derive_amount_due` applied to dues (a new dict; the others unchanged)."""
    out = dict(tables)
    if "dues" in out and "members" in out:
        out["dues"] = derive_amount_due(out, standard)
    return out


def due_notices(dues: pl.DataFrame, members: pl.DataFrame | None = None) -> pl.DataFrame:
    """Data-quality rows (`QUALITY_COLUMNS`): per sheet, how many dues rows have a derived amount
    due, and how many have none (and why), each listing the first rows."""
    from audit.quality import QUALITY_COLUMNS  # (quality reads DERIVED_IF_ABSENT from here)

    schema = {c: pl.Int64 if c == "row" else pl.String for c in QUALITY_COLUMNS}
    if dues.is_empty() or "due_source" not in dues.columns:
        return pl.DataFrame(schema=schema)
    employment = {}
    if members is not None and "employment" in members.columns:
        employment = dict(members.select("member_id", "employment").iter_rows())
    rows = []
    derived = dues.filter(pl.col("due_source") == DUE_DERIVED)
    for (file, sheet), group in derived.group_by("_file", "_sheet", maintain_order=True):
        numbers = sorted(set(group["_row"].to_list()))
        rows.append(
            _sheet_row(
                file,
                sheet,
                numbers,
                CHECK_DERIVED,
                f"本表没有应交金额，{len(numbers)} 行按核算基数和党费标准推算（{_rows(numbers)}）；"
                "推算的应交金额用于核对是否足额交纳，请以支部实际核定的金额为准",
            )
        )
    unknown = dues.filter(pl.col("amount_due").is_null())
    for (file, sheet), group in unknown.group_by("_file", "_sheet", maintain_order=True):
        numbers = sorted(set(group["_row"].to_list()))
        why = sorted({_why_unknown(r, employment.get(r["member_id"])) for r in group.iter_rows(named=True)})
        rows.append(
            _sheet_row(
                file,
                sheet,
                numbers,
                CHECK_UNKNOWN,
                f"本表没有应交金额，{len(numbers)} 行无法按党费标准推算（{'；'.join(why)}；{_rows(numbers)}），"
                "这些月份未核对是否足额交纳",
            )
        )
    return pl.DataFrame(rows, schema=schema, orient="row")


def _sheet_row(file: object, sheet: object, numbers: list[int], check: str, message: str) -> dict[str, object]:
    """One data-quality line about a dues sheet's 应交金额, at the first of its `numbers` (rows)."""
    return {
        "table": "dues",
        "file": file,
        "sheet": sheet,
        "row": numbers[0],
        "column": "应交金额",
        "value": "",
        "check": check,
        "message": message,
    }


def _why_unknown(row: Mapping[str, object], employment: object) -> str:
    """Why a dues row without a declared due got none derived."""
    if employment == "农民":
        return "农民党员的党费在0.2元至1元之间由支部确定"
    if row.get("base") is None and employment not in ("学生", "无固定收入"):
        return "没有核算基数"
    if employment is None:
        return "党员名册中没有工作状态"
    if employment == "其他":
        return "工作状态为“其他”"
    return f"工作状态“{employment}”无法确定标准"


def _rows(numbers: list[int]) -> str:
    shown = "、".join(str(n) for n in numbers[:ROWS_SHOWN])
    return f"第 {shown}{' 等' if len(numbers) > ROWS_SHOWN else ''} 行"
