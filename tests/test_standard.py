"""The standard as data: suites, thresholds and the working-day calendar agree with each other."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from audit.contract import load_contract
from audit.facts import FACT_KEYS
from audit.paths import EXPECTATIONS
from audit.periods import Quarter, period_zh
from audit.quality import build_quality_suite
from audit.standard import StandardError, load_standard
from audit.workdays import count_weekdays, count_workdays

STANDARD = load_standard()
SUITES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in EXPECTATIONS.glob("standard.*.json")}


def _parameters(value):
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            yield value["$PARAMETER"]
        for v in value.values():
            yield from _parameters(v)
    elif isinstance(value, list):
        for v in value:
            yield from _parameters(v)


def test_every_rule_and_part_has_an_expectation():
    covered = {(e["meta"]["rule_id"], e["meta"]["part"] or "main") for s in SUITES.values() for e in s["expectations"]}
    wanted = {(rule.id, part) for rule in STANDARD.rules.values() for part in rule.parts}
    assert wanted == covered
    assert {r for r, _ in covered} == {
        "TM-1",
        "TM-2",
        *(f"OL-{i}" for i in range(1, 11)),
        *(f"SM-{i}" for i in range(1, 10)),
        "BG-1",
    }


def test_suite_meta_matches_the_standard_file():
    for suite in SUITES.values():
        for expectation in suite["expectations"]:
            meta = expectation["meta"]
            rule = STANDARD.rule(meta["rule_id"])
            assert (meta["clause"], meta["dimension"], meta["severity"]) == (
                rule.clause,
                rule.dimension,
                rule.part(meta["part"]).severity,
            )


def test_every_parameter_is_a_threshold_and_no_number_is_hard_coded_twice():
    params = STANDARD.parameters()
    used = {p for s in SUITES.values() for p in _parameters(s)}
    assert used <= set(params), used - set(params)


def test_suites_have_stable_unique_ids_and_one_per_fact():
    ids = [s["id"] for s in SUITES.values()] + [e["id"] for s in SUITES.values() for e in s["expectations"]]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    assert {s["meta"]["fact"] for s in SUITES.values()} == set(FACT_KEYS)


def test_committed_quality_suites_match_the_contract():
    for table in load_contract().tables.values():
        committed = json.loads((EXPECTATIONS / f"quality.{table.name}.json").read_text(encoding="utf-8"))
        assert committed == build_quality_suite(table), f"run `audit suites` ({table.name})"


def test_messages_name_only_known_placeholders():
    for rule in STANDARD.rules.values():
        for part in rule.parts.values():
            assert part.message, (rule.id, part.name)
            assert part.message.count("{") == part.message.count("}")


def test_standard_file_errors_are_clear(tmp_path: Path):
    bad = tmp_path / "standard.yaml"
    bad.write_text(
        "standard: {name: x, version: 1}\ndimensions: [a]\nrating: {}\nrules:\n  X-1: {title: t, clause: c, dimension: b, period: month}\n",
        encoding="utf-8",
    )
    with pytest.raises(StandardError, match="X-1：维度「b」不在 dimensions 中"):
        load_standard(bad)
    with pytest.raises(StandardError, match="找不到标准文件"):
        load_standard(tmp_path / "missing.yaml")


# --- working days -----------------------------------------------------------------------------------


def test_spring_festival_2019_official_vs_naive():
    official = count_workdays(dt.date(2019, 2, 1), dt.date(2019, 2, 11))
    assert official.days == 4 and official.fallback_years == ()  # Feb 1, 2 (调休), 3 (调休), 11
    assert count_weekdays(dt.date(2019, 2, 1), dt.date(2019, 2, 11)) == 7


def test_national_day_2019_official_vs_naive():
    # 10/1-7 holidays; 9/29 (Sunday) and 10/12 (Saturday) were 调休 workdays
    assert count_workdays(dt.date(2019, 9, 28), dt.date(2019, 10, 12)).days == 7
    assert count_weekdays(dt.date(2019, 9, 28), dt.date(2019, 10, 12)) == 10


def test_years_outside_the_calendar_fall_back_with_a_warning():
    result = count_workdays(dt.date(2027, 2, 1), dt.date(2027, 2, 12))
    assert result.days == 10 and result.fallback_years == (2027,)
    assert "2027年不在官方节假日日历范围内" in result.note


def test_periods():
    q = Quarter.parse("2019q1")
    assert (q.start, q.end, str(q.previous), q.zh) == (dt.date(2019, 1, 1), dt.date(2019, 3, 31), "2018Q4", "2019年第一季度")
    assert [period_zh(p) for p in ("2019-02", "2019Q1", "2019H1", "2019")] == [
        "2019年2月",
        "2019年第一季度",
        "2019年上半年",
        "2019年",
    ]
    with pytest.raises(ValueError, match="季度格式"):
        Quarter.parse("2019-1")


def test_rate_table_expressions_agree_with_the_scalar_rule():
    """SM-6 as polars expressions (facts) and as a Python function (synth) give the same dues,
    including band edges, rounding, flat categories and unknowable cases."""
    import polars as pl

    from audit.standard import dues_range, dues_range_exprs

    rule = load_standard().rule("SM-6")
    employments = [None, "在职", "离退休", "农民", "学生", "无固定收入", "其他", "个体"]
    incomes = [None, 0.0, 1.0, 2999.99, 3000.0, 3000.01, 3333.0, 4999.0, 5000.0, 5000.5, 9999.99, 10000.0, 10000.01, 123456.78]
    frame = pl.DataFrame(
        [(e, i) for e in employments for i in incomes], schema={"employment": pl.String, "income": pl.Float64}, orient="row"
    )
    low, high = dues_range_exprs(rule, "employment", "income")
    got = frame.with_columns(low=low, high=high)
    for row in got.iter_rows(named=True):
        expected = dues_range(rule, row["employment"], row["income"])
        assert (row["low"], row["high"]) == (expected or (None, None)), row
