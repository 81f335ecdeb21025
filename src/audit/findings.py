"""Findings and the 五个过硬 scorecard, from GX validation results.

Each failing expectation names its rule in ``meta``; the failing keys come from GX's
``unexpected_index_list`` and are joined back to the fact rows for the message context and the
evidence. Nothing here re-evaluates a rule.

Every finding carries a ``finding_id`` (`finding_id`): ``F-`` and the first 12 hex digits (upper
case) of the SHA-256 of its rule id, rule part (``main`` for a rule of one part), branch id,
subject and period, UTF-8, joined by the unit separator U+001F. The subject is the finding's
``subject_id`` (member, party group, recruitment case); for a fact without one it is the fact's
own key apart from branch and period (the meeting of an OL-10 finding), so two meetings failing in
one month get two ids. The id depends on nothing else (not the message, evidence, quarter, machine
or run): the same violation has the same id whenever and wherever it is found, and follow-up
across quarters, reviewer decisions and notices all key on it.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Set as AbstractSet
from typing import Any

import polars as pl

from audit.labels import STATUS_FAIL, STATUS_NA, STATUS_PARTIAL, STATUS_PASS
from audit.periods import period_zh
from audit.standard import SEVERITIES, Standard
from audit.suites import SuiteRun

FINDING_COLUMNS = [
    "finding_id",
    "rule_id",
    "severity",
    "dimension",
    "branch_id",
    "subject_id",
    "period",
    "clause",
    "message",
    "evidence",
]
FINDING_SCHEMA = dict.fromkeys(FINDING_COLUMNS, pl.String)
# Fact key columns that name the branch or the period, not the subject of a finding
_PERIOD_KEYS = ("branch_id", "period", "quarter", "half", "year")


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


def finding_id(rule_id: str, part: str, branch_id: str, subject_id: str, period: str) -> str:
    """The stable id of a finding (see the module docstring): `F-` + 12 upper-case hex digits."""
    text = "\x1f".join((rule_id, part, branch_id, subject_id, period))
    return "F-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12].upper()


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
                branch_id, subject_id = record.get("branch_id") or "", record.get("subject_id") or ""
                subject = subject_id or "\x1e".join(str(record[k]) for k in run.keys if k not in _PERIOD_KEYS)
                rows.append(
                    {
                        "finding_id": finding_id(rule.id, part.name, branch_id, subject, str(period)),
                        "rule_id": rule.id,
                        "severity": meta["severity"],
                        "dimension": meta["dimension"],
                        "branch_id": branch_id,
                        "subject_id": subject_id,
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
    findings: pl.DataFrame,
    assessed: pl.DataFrame,
    branches: pl.DataFrame,
    standard: Standard,
    quarter: str,
    coverage: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per branch: each dimension passed / failed / partly assessed / not assessed, and the rating;
    `coverage` (`audit.coverage`): a dimension with a 无法评估 rule part of the branch is 部分评估
    unless it fails (未评估 when nothing of it could be judged), and such a branch never gets the
    best rating."""
    from audit.coverage import unevaluable_dimensions

    dimension_of = {rule.id: rule.dimension for rule in standard.rules.values()}
    partial = unevaluable_dimensions(coverage, standard)
    rows = []
    for branch in branches.sort("branch_id").iter_rows(named=True):
        branch_id = branch["branch_id"]
        judged = {dimension_of[r] for r in assessed.filter(pl.col("branch_id") == branch_id)["rule_id"]}
        judged -= set(standard.not_assessed)
        row = {"branch_id": branch_id, "branch_name": branch.get("branch_name") or "", "quarter": quarter}
        mine = findings.filter(pl.col("branch_id") == branch_id)
        rows.append(_score(row, mine, judged, standard, partial.get(branch_id, set())))
    return pl.DataFrame(rows, schema=_scorecard_schema(standard), orient="row")


def rescore(card: pl.DataFrame, counted: pl.DataFrame, standard: Standard, coverage: pl.DataFrame | None = None) -> pl.DataFrame:
    """The scorecard again when some findings no longer count (a reviewer judged them 误报): a
    dimension judged before is judged again on the findings that still count; one not assessed
    stays not assessed; one with a 无法评估 part (in `coverage`, or shown 部分评估) stays partly
    assessed unless it still fails. Branches, columns and order are unchanged."""
    from audit.coverage import unevaluable_dimensions

    partial = unevaluable_dimensions(coverage, standard)
    rows = []
    for row in card.iter_rows(named=True):
        judged = {d for d in standard.dimensions if row[d] != STATUS_NA}
        unjudged = partial.get(row["branch_id"], set()) | {d for d in standard.dimensions if row[d] == STATUS_PARTIAL}
        base = {"branch_id": row["branch_id"], "branch_name": row["branch_name"], "quarter": row["quarter"]}
        rows.append(_score(base, counted.filter(pl.col("branch_id") == row["branch_id"]), judged, standard, unjudged))
    return pl.DataFrame(rows, schema=_scorecard_schema(standard), orient="row")


def _score(
    row: dict[str, Any], mine: pl.DataFrame, judged: set[str], standard: Standard, partial: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    """One branch's dimensions, counts by severity and rating from its findings; `judged`: the
    dimensions some rule checked (a dimension with a failing finding counts as judged too);
    `partial`: the dimensions with a rule part the data did not allow to judge (部分评估 unless
    failing, or 未评估 when nothing of the dimension was judged; either way the branch cannot get
    the best rating)."""
    fails_at = SEVERITIES.index(standard.rating.get("dimension_fails_at", "error"))
    failing_levels = [s for s in SEVERITIES if SEVERITIES.index(s) >= fails_at]
    severities = mine["severity"].to_list()
    for dimension in standard.dimensions:
        failing = mine.filter((pl.col("dimension") == dimension) & pl.col("severity").is_in(failing_levels))
        if dimension in standard.not_assessed:
            row[dimension] = STATUS_NA
        elif failing.height:
            row[dimension] = STATUS_FAIL
        elif dimension not in judged:  # nothing of it judged, for want of a rule, of records or of data
            row[dimension] = STATUS_NA
        else:
            row[dimension] = STATUS_PARTIAL if dimension in partial else STATUS_PASS
    row.update(
        warnings=severities.count("warning"),
        errors=severities.count("error"),
        critical=severities.count("critical"),
    )
    assessed_statuses = [row[d] for d in standard.dimensions if row[d] != STATUS_NA]
    if row["errors"] or row["critical"]:
        rating = standard.rating["fail"]
    elif all(s == STATUS_PASS for s in assessed_statuses) and not row["warnings"] and not partial:
        rating = standard.rating["best"]
    else:
        rating = standard.rating["pass"]
    row["rating"] = rating
    return row


def _scorecard_schema(standard: Standard) -> dict[str, Any]:
    return {
        "branch_id": pl.String,
        "branch_name": pl.String,
        "quarter": pl.String,
        **dict.fromkeys(standard.dimensions, pl.String),
        "warnings": pl.Int64,
        "errors": pl.Int64,
        "critical": pl.Int64,
        "rating": pl.String,
    }
