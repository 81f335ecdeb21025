"""Findings and the 五个过硬 scorecard, from GX validation results.

Each failing expectation names its rule in ``meta``; the failing keys come from GX's
``unexpected_index_list`` and are joined back to the fact rows for the message context and the
evidence. Nothing here re-evaluates a rule.
"""

from __future__ import annotations

import string
from typing import Any

import polars as pl

from audit.periods import period_zh
from audit.standard import SEVERITIES, Standard
from audit.suites import SuiteRun

FINDING_COLUMNS = ["rule_id", "severity", "dimension", "branch_id", "subject_id", "period", "clause", "message", "evidence"]
FINDING_SCHEMA = dict.fromkeys(FINDING_COLUMNS, pl.String)
STATUS_PASS, STATUS_FAIL, STATUS_NA = "通过", "未通过", "未评估"


class _Context(dict):
    """Message context: a missing key shows as — rather than failing the whole run."""

    def __missing__(self, key: str) -> str:
        return "—"


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None or value == "—":
            return "—"
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


_FORMATTER = _Formatter()


def render_message(template: str, context: dict[str, Any]) -> str:
    return _FORMATTER.vformat(template, (), _Context(context))


def _rule_order(standard: Standard) -> dict[str, int]:
    return {rule_id: n for n, rule_id in enumerate(standard.rules)}


def collect_findings(runs: list[SuiteRun], standard: Standard) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    parameters = standard.parameters()
    for run in runs:
        for item in run.result.results:
            if item.success:
                continue
            meta = item.expectation_config.meta
            failing = item.result.get("unexpected_index_list") or []
            if not failing:
                continue
            keys = pl.DataFrame(
                [{k: entry[k] for k in run.keys} for entry in failing],
                schema={k: run.frame.schema[k] for k in run.keys},
                orient="row",
            )
            matched = run.frame.join(keys.unique(), on=run.keys, how="semi")
            rule = standard.rule(meta["rule_id"])
            part = rule.part(meta.get("part"))
            own = {k: v for k, v in parameters.items() if k.startswith(rule.parameter_prefix + "_")}
            for record in matched.iter_rows(named=True):
                period = record.get(meta.get("period_column") or "period") or record.get("period")
                context = {**rule.thresholds, **record, "period": period, "period_zh": period_zh(str(period)), **own}
                rows.append(
                    {
                        "rule_id": rule.id,
                        "severity": meta["severity"],
                        "dimension": meta["dimension"],
                        "branch_id": record.get("branch_id") or "",
                        "subject_id": record.get("subject_id") or "",
                        "period": str(period),
                        "clause": meta["clause"],
                        "message": render_message(part.message, context),
                        "evidence": record.get(meta.get("evidence", "")) or "",
                    }
                )
    if not rows:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    order = _rule_order(standard)
    frame = pl.DataFrame(rows, schema=FINDING_SCHEMA, orient="row").unique(maintain_order=True)
    return (
        frame.with_columns(_order=pl.col("rule_id").replace_strict(order, return_dtype=pl.Int64))
        .sort("branch_id", "_order", "period", "subject_id", "message")
        .drop("_order")
    )


def assessed_rules(runs: list[SuiteRun]) -> pl.DataFrame:
    """(branch_id, rule_id) pairs for which some expectation checked at least one non-null value."""
    pairs = []
    for run in runs:
        if run.frame.is_empty() or "branch_id" not in run.frame.columns:
            continue
        for item in run.result.results:
            kwargs = item.expectation_config.kwargs
            columns = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
            checked = run.frame.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in columns))
            pairs.append(checked.select("branch_id", rule_id=pl.lit(item.expectation_config.meta["rule_id"])).unique())
    if not pairs:
        return pl.DataFrame(schema={"branch_id": pl.String, "rule_id": pl.String})
    return pl.concat(pairs).unique()


def scorecard(
    findings: pl.DataFrame, assessed: pl.DataFrame, branches: pl.DataFrame, standard: Standard, quarter: str
) -> pl.DataFrame:
    """Per branch: each dimension passed / failed / not assessed, and the rating."""
    fails_at = SEVERITIES.index(standard.rating.get("dimension_fails_at", "error"))
    dimension_of = {rule.id: rule.dimension for rule in standard.rules.values()}
    rows = []
    for branch in branches.sort("branch_id").iter_rows(named=True):
        branch_id = branch["branch_id"]
        mine = findings.filter(pl.col("branch_id") == branch_id)
        judged = {dimension_of[r] for r in assessed.filter(pl.col("branch_id") == branch_id)["rule_id"]}
        severities = mine["severity"].to_list()
        row = {"branch_id": branch_id, "branch_name": branch.get("branch_name") or "", "quarter": quarter}
        for dimension in standard.dimensions:
            failing = mine.filter(
                (pl.col("dimension") == dimension)
                & pl.col("severity").is_in([s for s in SEVERITIES if SEVERITIES.index(s) >= fails_at])
            )
            if dimension in standard.not_assessed or (dimension not in judged and failing.is_empty()):
                row[dimension] = STATUS_NA
            else:
                row[dimension] = STATUS_FAIL if failing.height else STATUS_PASS
        row.update(
            warnings=severities.count("warning"),
            errors=severities.count("error"),
            critical=severities.count("critical"),
        )
        assessed_statuses = [row[d] for d in standard.dimensions if row[d] != STATUS_NA]
        if row["errors"] or row["critical"]:
            rating = standard.rating["fail"]
        elif all(s == STATUS_PASS for s in assessed_statuses) and not row["warnings"]:
            rating = standard.rating["best"]
        else:
            rating = standard.rating["pass"]
        row["rating"] = rating
        rows.append(row)
    schema = {
        "branch_id": pl.String,
        "branch_name": pl.String,
        "quarter": pl.String,
        **dict.fromkeys(standard.dimensions, pl.String),
        "warnings": pl.Int64,
        "errors": pl.Int64,
        "critical": pl.Int64,
        "rating": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
