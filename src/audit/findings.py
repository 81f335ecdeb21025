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

import string
from collections.abc import Callable
from hashlib import sha256
from operator import itemgetter
from typing import Any

import polars as pl

from audit.labels import STATUS_FAIL, STATUS_NA, STATUS_PARTIAL, STATUS_PASS
from audit.periods import period_zh
from audit.standard import SEVERITIES, Part, Rule, Standard
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


_ID_SEPARATOR = "\x1f"  # between the parts of a finding's id text


def finding_id(rule_id: str, part: str, branch_id: str, subject_id: str, period: str) -> str:
    """The stable id of a finding (see the module docstring): `F-` + 12 upper-case hex digits."""
    return _finding_ids(pl.Series([_ID_SEPARATOR.join((rule_id, part, branch_id, subject_id, period))]))[0]


def _finding_ids(texts: pl.Series) -> pl.Series:
    """`finding_id` of each text of the parts already joined: the SHA-256 in Python (polars has
    none), its prefix and upper case applied by polars."""
    digests = [sha256(text.encode("utf-8")).hexdigest()[:12] for text in texts.to_list()]
    return pl.select(pl.concat_str(pl.lit("F-"), pl.lit(pl.Series(digests, dtype=pl.String)).str.to_uppercase())).to_series()


def render_message(template: str, context: dict[str, Any]) -> str:
    return _FORMATTER.vformat(template, (), _Context(context))


def _rule_order(standard: Standard) -> dict[str, int]:
    return {rule_id: n for n, rule_id in enumerate(standard.rules)}


def collect_findings(runs: list[SuiteRun], standard: Standard) -> pl.DataFrame:
    """One finding per fact row GX found failing, its message rendered from the rule part's
    template over whole columns (`_findings_of`)."""
    frames: list[pl.DataFrame] = []
    parameters = standard.parameters()
    for run in runs:
        for item in run.result.results:
            if item.success:
                continue
            meta = item.expectation_config.meta
            failing = item.result.get("unexpected_index_list") or []
            if not failing:
                continue
            key_of = itemgetter(*run.keys) if len(run.keys) > 1 else lambda entry, k=run.keys[0]: (entry[k],)
            keys = pl.DataFrame(
                [key_of(entry) for entry in failing],
                schema={k: run.frame.schema[k] for k in run.keys},
                orient="row",
            )
            matched = run.frame.join(keys.unique(), on=run.keys, how="semi")
            rule = standard.rule(meta["rule_id"])
            part = rule.part(meta.get("part"))
            own = {k: v for k, v in parameters.items() if k.startswith(rule.parameter_prefix + "_")}
            frames.append(_findings_of(matched, run.keys, rule, part, meta, own))
    if not frames:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    order = _rule_order(standard)
    frame = pl.concat(frames).unique(maintain_order=True)
    return (
        frame.with_columns(_order=pl.col("rule_id").replace_strict(order, return_dtype=pl.Int64))
        .sort("branch_id", "_order", "period", "subject_id", "message")
        .drop("_order")
    )


def _findings_of(
    matched: pl.DataFrame, keys: list[str], rule: Rule, part: Part, meta: dict[str, Any], own: dict[str, Any]
) -> pl.DataFrame:
    """The findings of one failing expectation's rows, in their order. A row's message context is
    the rule's thresholds, the row, its period and period_zh, then the rule's own parameters (a
    later one wins), as `render_message` reads it; the template becomes one `concat_str` over the
    columns (`_message_expr`), and only a template that cannot be expressed so is rendered row by row."""
    if matched.is_empty():
        return pl.DataFrame(schema=FINDING_SCHEMA)
    period = _evaluate(matched, _period_expr(matched, meta.get("period_column") or "period"))
    period_text = _python_text(period, str)
    names = period_text.unique()
    zh = period_text.replace_strict(names, [period_zh(p) for p in names.to_list()], return_dtype=pl.String)
    fields = {"period": period, "period_zh": zh}
    message = _message_expr(part.message, matched, fields, rule, own)
    if message is None:
        texts = [render_message(part.message, context) for context in _contexts(matched, fields, rule, own)]
        message = pl.lit(pl.Series(texts, dtype=pl.String))
    branch = _evaluate(matched, _or_empty(matched, "branch_id"))
    subject_id = _evaluate(matched, _or_empty(matched, "subject_id"))
    parts = [_python_text(matched.get_column(k), str) for k in keys if k not in _PERIOD_KEYS]
    joined = pl.concat_str(parts, separator="\x1e") if parts else pl.lit("")
    subject = _evaluate(matched, pl.when(pl.lit(subject_id) != "").then(pl.lit(subject_id)).otherwise(joined))
    # `finding_id` of each row: its text joined by polars, only the SHA-256 per row in Python
    id_texts = pl.concat_str([pl.lit(rule.id), pl.lit(part.name), branch, subject, period_text], separator=_ID_SEPARATOR)
    ids = _finding_ids(pl.select(id_texts).to_series())
    evidence = meta.get("evidence", "")
    return matched.select(
        finding_id=ids,
        rule_id=pl.lit(rule.id, dtype=pl.String),
        severity=pl.lit(meta["severity"], dtype=pl.String),
        dimension=pl.lit(meta["dimension"], dtype=pl.String),
        branch_id=pl.lit(branch),
        subject_id=pl.lit(subject_id),
        period=pl.lit(period_text),
        clause=pl.lit(meta["clause"], dtype=pl.String),
        message=message,
        evidence=_or_empty(matched, evidence),
    )


def _evaluate(frame: pl.DataFrame, expression: pl.Expr) -> pl.Series:
    """An expression over a frame as a column of the frame's height (a literal repeated)."""
    return frame.with_columns(expression.alias("\x00value")).get_column("\x00value")


def _period_expr(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A row's period as `record.get(column) or record.get("period")`: the period column's value,
    or the fact's `period` where that one is null or empty (falsy)."""
    fallback = pl.col("period") if "period" in frame.columns else pl.lit(None)
    if column not in frame.columns:
        return fallback
    value, dtype = pl.col(column), frame.schema[column]
    falsy = value.is_null()
    if dtype == pl.String:
        falsy = falsy | (value == "")
    elif dtype.is_numeric():
        falsy = falsy | (value == 0)
    elif dtype == pl.Boolean:
        falsy = falsy | ~value
    return pl.when(falsy).then(fallback).otherwise(value)


def _or_empty(frame: pl.DataFrame, column: str) -> pl.Expr:
    """`record.get(column) or ""` of a text column ("" when the frame has no such column)."""
    if column not in frame.columns:
        return pl.lit("", dtype=pl.String)
    return pl.col(column).cast(pl.String).fill_null("")


def _python_text(values: pl.Series, render: Callable[[Any], str]) -> pl.Series:
    """`render(value)` of every value, null included, called once per distinct value: distinct by a
    text key (a text itself; for a float its shortest round-trip form, so -0.0 and 0.0 stay two).
    A nested column (no text key) is rendered value by value."""
    if values.dtype == pl.String and render is str:
        return values.fill_null("None")
    if values.dtype.is_nested() or values.dtype == pl.Object:
        return pl.Series(values.name, [render(v) for v in values.to_list()], dtype=pl.String)
    key = values if values.dtype == pl.String else values.cast(pl.String)
    distinct = pl.DataFrame({"key": key, "value": values}).unique(subset="key", maintain_order=True)
    texts = {
        k: render(v) for k, v in zip(distinct.get_column("key").to_list(), distinct.get_column("value").to_list(), strict=True)
    }
    old = pl.Series([k for k in texts if k is not None], dtype=pl.String)
    new = pl.Series([t for k, t in texts.items() if k is not None], dtype=pl.String)
    out = key.replace_strict(old, new, default=None, return_dtype=pl.String)
    return out.fill_null(texts[None]) if None in texts else out


def _message_expr(
    template: str, frame: pl.DataFrame, fields: dict[str, pl.Series], rule: Rule, own: dict[str, Any]
) -> pl.Expr | None:
    """A message template as one expression over the frame, each field as `_Formatter` renders it:
    a name no one gives, or a null, as —; a text as it is; any other value (or a text with a
    format spec such as `:.2f`) formatted by `_Formatter` once per distinct value. None when the
    template names a field by position, attribute or index, converts it (`!r`) or nests a spec:
    then `render_message` renders it row by row."""
    pieces: list[pl.Expr] = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        return None
    for literal, name, spec, conversion in parsed:
        if literal:
            pieces.append(pl.lit(literal, dtype=pl.String))
        if name is None:
            continue
        spec = spec or ""
        if conversion or not name or name.isdigit() or "." in name or "[" in name or "{" in spec:
            return None
        if name in own:
            pieces.append(pl.lit(_FORMATTER.format_field(own[name], spec), dtype=pl.String))
        elif name in fields:
            pieces.append(pl.lit(_field_text(fields[name], spec)))
        elif name in frame.columns:
            pieces.append(pl.lit(_field_text(frame.get_column(name), spec)))
        elif name in rule.thresholds:
            pieces.append(pl.lit(_FORMATTER.format_field(rule.thresholds[name], spec), dtype=pl.String))
        else:
            pieces.append(pl.lit("—", dtype=pl.String))
    return pl.concat_str(pieces) if pieces else pl.lit("", dtype=pl.String)


def _field_text(values: pl.Series, spec: str) -> pl.Series:
    """One field of every row as `_Formatter.format_field` renders it."""
    if values.dtype == pl.String and not spec:
        return values.fill_null("—")
    return _python_text(values, lambda value: "—" if value is None else _FORMATTER.format_field(value, spec))


def _contexts(frame: pl.DataFrame, fields: dict[str, pl.Series], rule: Rule, own: dict[str, Any]) -> list[dict[str, Any]]:
    """Each row's message context as `render_message` reads it (`_message_expr`'s fallback)."""
    extra = list(zip(*(series.to_list() for series in fields.values()), strict=True))
    return [
        {**rule.thresholds, **record, **dict(zip(fields, values, strict=True)), **own}
        for record, values in zip(frame.iter_rows(named=True), extra, strict=True)
    ]


def assessed_rules(runs: list[SuiteRun]) -> pl.DataFrame:
    """(branch_id, rule_id) pairs for which some expectation checked at least one non-null value."""
    pairs = []
    for run in runs:
        if run.frame.is_empty() or "branch_id" not in run.frame.columns:
            continue
        branches: dict[tuple[str, ...], pl.Series] = {}  # expectations checking the same columns share them
        every_row: pl.Series | None = None  # the branches of all rows, for columns without a null
        for item in run.result.results:
            kwargs = item.expectation_config.kwargs
            columns = tuple(kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs)
            if columns not in branches:
                if all(run.frame.get_column(c).null_count() == 0 for c in columns):
                    if every_row is None:
                        every_row = run.frame.get_column("branch_id").unique()
                    branches[columns] = every_row
                else:
                    checked = run.frame.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in columns))
                    branches[columns] = checked.get_column("branch_id").unique()
            rule_id = item.expectation_config.meta["rule_id"]
            pairs.append(pl.DataFrame({"branch_id": branches[columns]}).with_columns(rule_id=pl.lit(rule_id, dtype=pl.String)))
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
    judged = assessed.select(
        "branch_id", dimension=pl.col("rule_id").replace_strict(dimension_of, return_dtype=pl.String)
    ).filter(~pl.col("dimension").is_in(list(standard.not_assessed)))
    name = pl.col("branch_name").fill_null("") if "branch_name" in branches.columns else pl.lit("")
    base = branches.sort("branch_id", maintain_order=True).select(
        "branch_id", branch_name=name.cast(pl.String), quarter=pl.lit(quarter, dtype=pl.String)
    )
    return _scores(base, findings, judged, unevaluable_dimensions(coverage, standard), standard)


def rescore(card: pl.DataFrame, counted: pl.DataFrame, standard: Standard, coverage: pl.DataFrame | None = None) -> pl.DataFrame:
    """The scorecard again when some findings no longer count (a reviewer judged them 误报): a
    dimension judged before is judged again on the findings that still count; one not assessed
    stays not assessed; one with a 无法评估 part (in `coverage`, or shown 部分评估) stays partly
    assessed unless it still fails. Branches, columns and order are unchanged."""
    from audit.coverage import unevaluable_dimensions

    statuses = card.select("branch_id", *standard.dimensions).unpivot(index="branch_id", variable_name="dimension")
    judged = statuses.filter(pl.col("value") != STATUS_NA).select("branch_id", "dimension")
    shown = statuses.filter(pl.col("value") == STATUS_PARTIAL).select("branch_id", "dimension")
    partial = pl.concat([unevaluable_dimensions(coverage, standard), shown], how="vertical_relaxed")
    return _scores(card.select("branch_id", "branch_name", "quarter"), counted, judged, partial, standard)


def _scores(
    base: pl.DataFrame, findings: pl.DataFrame, judged: pl.DataFrame, partial: pl.DataFrame, standard: Standard
) -> pl.DataFrame:
    """Each branch of `base` (branch_id, branch_name, quarter; its order kept) scored on its
    findings: its dimensions, counts by severity and rating. `judged`: (branch_id, dimension) some
    rule checked (a dimension with a failing finding counts as judged too); `partial`: (branch_id,
    dimension) with a rule part the data did not allow to judge (部分评估 unless failing, or 未评估
    when nothing of the dimension was judged; either way the branch cannot get the best rating)."""
    fails_at = SEVERITIES.index(standard.rating.get("dimension_fails_at", "error"))
    failing_levels = [s for s in SEVERITIES if SEVERITIES.index(s) >= fails_at]
    severity = pl.col("severity")
    counts = findings.group_by("branch_id").agg(
        warnings=(severity == "warning").sum().cast(pl.Int64),
        errors=(severity == "error").sum().cast(pl.Int64),
        critical=(severity == "critical").sum().cast(pl.Int64),
    )
    failing = findings.filter(severity.is_in(failing_levels)).select("branch_id", "dimension")
    branch = pl.col("branch_id")

    def has(pairs: pl.DataFrame, dimension: str) -> pl.Expr:
        return branch.is_in(pairs.filter(pl.col("dimension") == dimension).get_column("branch_id").implode(), nulls_equal=True)

    statuses: dict[str, pl.Expr] = {}
    for dimension in standard.dimensions:
        if dimension in standard.not_assessed:
            statuses[dimension] = pl.lit(STATUS_NA, dtype=pl.String)
            continue
        statuses[dimension] = (
            pl.when(has(failing, dimension))
            .then(pl.lit(STATUS_FAIL))
            .when(~has(judged, dimension))  # nothing of it judged, for want of a rule, of records or of data
            .then(pl.lit(STATUS_NA))
            .when(has(partial, dimension))
            .then(pl.lit(STATUS_PARTIAL))
            .otherwise(pl.lit(STATUS_PASS))
        )
    frame = base.join(counts, on="branch_id", how="left", maintain_order="left", nulls_equal=True).with_columns(
        pl.col("warnings", "errors", "critical").fill_null(0), **statuses
    )
    all_pass = pl.all_horizontal([pl.col(d).is_in([STATUS_PASS, STATUS_NA]) for d in standard.dimensions])
    some_partial = branch.is_in(partial.get_column("branch_id").implode(), nulls_equal=True)
    rating = (
        pl.when((pl.col("errors") > 0) | (pl.col("critical") > 0))
        .then(pl.lit(standard.rating["fail"]))
        .when(all_pass & (pl.col("warnings") == 0) & ~some_partial)
        .then(pl.lit(standard.rating["best"]))
        .otherwise(pl.lit(standard.rating["pass"]))
    )
    schema = _scorecard_schema(standard)
    return frame.with_columns(rating=rating).select(pl.col(name).cast(dtype) for name, dtype in schema.items())


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
