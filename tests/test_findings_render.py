"""Finding messages rendered over whole columns (`findings._message_expr`) read exactly as the
per-row `render_message` reads them, for every template of the standard and for values that
format awkwardly (a null, —, a float tie such as 2.675, -0.0, NaN, a tiny float, a date)."""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import replace
from typing import Any

import polars as pl
import pytest

from audit.findings import _findings_of, _message_expr, render_message
from audit.standard import Rule, load_standard

STANDARD = load_standard()
TEMPLATES = [(rule.id, part.name) for rule in STANDARD.rules.values() for part in rule.parts.values()]
ROWS = 7
TEXTS = ["甲", None, "—", "", "a{b}", "2019-07", "x"]
FLOATS = [2.675, -0.0, None, float("nan"), 1e-7, 97.5, 0.125]
INTS = [3, None, 0, -1, 10**12, 7, 1]
DATES = [dt.date(2019, 7, 1), None, dt.date(1900, 1, 1), dt.date(2019, 12, 31), dt.date(2020, 2, 29), dt.date(2019, 1, 5), None]


def _frame(template: str, flavour: int) -> pl.DataFrame:
    """A column for every field the template names, of a type chosen by the flavour; a field with
    a format spec gets floats (what the standard's `:.2f` and `:g` format)."""
    columns: dict[str, pl.Series] = {}
    for _, name, spec, _ in string.Formatter().parse(template):
        if not name or name in columns or name in ("period", "period_zh"):
            continue
        kinds = [FLOATS, TEXTS, INTS, DATES]
        values = FLOATS if spec else kinds[(flavour + len(columns)) % len(kinds)]
        columns[name] = pl.Series(name, values)
    columns["branch_id"] = pl.Series("branch_id", [f"B{n}" for n in range(ROWS)])
    return pl.DataFrame(columns)


def _per_row(template: str, frame: pl.DataFrame, fields: dict[str, pl.Series], rule: Rule, own: dict[str, Any]) -> list[str]:
    """The messages as collect_findings rendered them one row at a time."""
    out = []
    for n, record in enumerate(frame.iter_rows(named=True)):
        context = {**rule.thresholds, **record, **{k: v[n] for k, v in fields.items()}, **own}
        out.append(render_message(template, context))
    return out


@pytest.mark.parametrize(("rule_id", "part_name"), TEMPLATES)
@pytest.mark.parametrize("flavour", range(4))
def test_every_template_renders_as_the_per_row_formatter_does(rule_id, part_name, flavour):
    rule = STANDARD.rule(rule_id)
    template = rule.part(part_name).message
    frame = _frame(template, flavour)
    period = pl.Series(["2019-07", None, "2019Q3", "2019-08", "2019", "2019H2", ""])
    fields = {"period": period, "period_zh": pl.Series(["2019年7月"] * ROWS)}
    own = {k: v for k, v in STANDARD.parameters().items() if k.startswith(rule.parameter_prefix + "_")}
    expression = _message_expr(template, frame, fields, rule, own)
    assert expression is not None, template  # every template of the standard is expressible
    assert frame.select(expression).to_series().to_list() == _per_row(template, frame, fields, rule, own)


def test_a_template_the_expressions_cannot_hold_is_rendered_row_by_row():
    rule = STANDARD.rule("SM-3")
    part = replace(rule.part(None), message="{name!r}：{amount_due:.2f}，{member_id[0]}，{missing}，{period_zh}")
    rule = replace(rule, parts={**rule.parts, "main": part})
    frame = pl.DataFrame(
        {
            "branch_id": ["B1", "B1"],
            "member_id": ["M01", "M02"],
            "name": ["张三", None],
            "amount_due": [2.675, None],
            "period": ["2019-07", "2019-08"],
        }
    )
    assert _message_expr(part.message, frame, {"period": frame["period"], "period_zh": frame["period"]}, rule, {}) is None
    meta = {"severity": "error", "dimension": rule.dimension, "clause": rule.clause, "evidence": "member_id"}
    found = _findings_of(frame, ["branch_id", "member_id", "period"], rule, part, meta, {})
    assert found["message"].to_list() == ["'张三'：2.67，M，—，2019年7月", "None：—，M，—，2019年8月"]
    assert found["subject_id"].to_list() == ["", ""] and found["evidence"].to_list() == ["M01", "M02"]
