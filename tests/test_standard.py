"""The standard as data: the suites generated from it, its thresholds and messages, and the
working-day calendar agree with each other."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit.catalogue import render_catalogue
from audit.contract import load_contract
from audit.facts import FACTS, compute_facts
from audit.ingest import ingest
from audit.paths import EXPECTATIONS, REPO, STANDARD_FILE
from audit.periods import Quarter, period_zh
from audit.quality import build_quality_suite
from audit.standard import Standard, StandardError, load_standard
from audit.suites import build_standard_suites, suite_text, write_standard_suites
from audit.workdays import count_weekdays, count_workdays
from conftest import SAMPLE

STANDARD = load_standard()
SUITES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in EXPECTATIONS.glob("standard.*.json")}
GENERATED = build_standard_suites(STANDARD)
# What collect_findings adds to a message's context besides the fact row, the rule's thresholds
# (with their `_zh` forms) and its parameters (`OL2_min_meetings`)
MESSAGE_CONTEXT = {"period", "period_zh"}


@pytest.fixture(scope="module")
def sample_columns() -> dict[str, set[str]]:
    """The columns of every fact table on the sample, over the quarters of 2019 (2019Q4 ends a half
    and a year; a fact without rows in a quarter, such as recruitment, keeps only its checked
    columns, so the quarters with rows supply the message columns)."""
    tables = ingest(SAMPLE).tables
    columns: dict[str, set[str]] = {}
    for quarter in ("2019Q1", "2019Q2", "2019Q3", "2019Q4"):
        for name, frame in compute_facts(tables, STANDARD, Quarter.parse(quarter)).tables.items():
            columns.setdefault(name, set()).update(frame.columns)
    assert set(columns) == set(FACTS)
    return columns


def _parameters(value):
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            yield value["$PARAMETER"]
        for v in value.values():
            yield from _parameters(v)
    elif isinstance(value, list):
        for v in value:
            yield from _parameters(v)


def _literals(value):
    """Every number in a suite's kwargs that is not a `$PARAMETER` reference."""
    if isinstance(value, dict):
        if "$PARAMETER" not in value:
            for v in value.values():
                yield from _literals(v)
    elif isinstance(value, list):
        for v in value:
            yield from _literals(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def _numeric_thresholds(standard: Standard) -> dict[str, float]:
    """Every threshold that is a number, by parameter name (`OL2_min_meetings`)."""
    return {
        name: float(value)
        for name, value in standard.parameters().items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def _edited(tmp_path: Path, edit) -> Path:
    """The default standard file with `edit` applied to its data, written to tmp_path."""
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "standard.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# --- the suites are generated from the standard ------------------------------------------------------


def test_committed_standard_suites_are_the_generated_ones_byte_for_byte():
    committed = {p.name: p.read_bytes() for p in EXPECTATIONS.glob("standard.*.json")}
    generated = {f"standard.{fact}.json": suite_text(suite).encode("utf-8") for fact, suite in GENERATED.items()}
    assert committed.keys() == generated.keys(), "run `audit suites`"
    for name, text in generated.items():
        assert committed[name] == text, f"{name} differs from what standard.yaml generates: run `audit suites`, do not edit it"


def test_writing_the_suites_gives_the_committed_files_and_drops_stale_ones(tmp_path: Path):
    (tmp_path / "standard.retired_fact.json").write_text("{}", encoding="utf-8")
    (tmp_path / "quality.members.json").write_text("{}", encoding="utf-8")
    written = write_standard_suites(STANDARD, tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in EXPECTATIONS.glob("standard.*.json"))
    for path in written:
        assert path.read_bytes() == (EXPECTATIONS / path.name).read_bytes()
    assert not (tmp_path / "standard.retired_fact.json").exists()
    assert (tmp_path / "quality.members.json").exists()  # only standard suites are the standard's


def test_every_rule_and_part_has_an_expectation():
    covered = {(e["meta"]["rule_id"], e["meta"]["part"] or "main") for s in SUITES.values() for e in s["expectations"]}
    wanted = {(rule.id, part) for rule in STANDARD.rules.values() for part in rule.parts}
    assert wanted == covered
    assert {r for r, _ in covered} == set(STANDARD.rules)
    declared = sum(len(part.checks) for rule in STANDARD.rules.values() for part in rule.parts.values())
    assert sum(len(s["expectations"]) for s in SUITES.values()) == declared


def test_suite_meta_matches_the_standard_file():
    for suite in SUITES.values():
        for expectation in suite["expectations"]:
            meta = expectation["meta"]
            rule = STANDARD.rule(meta["rule_id"])
            assert (meta["clause"], meta["dimension"], meta["severity"], meta["standard_version"]) == (
                rule.clause,
                rule.dimension,
                rule.part(meta["part"]).severity,
                STANDARD.version,
            )


def test_every_check_names_columns_of_its_fact(sample_columns):
    for rule in STANDARD.rules.values():
        for part in rule.parts.values():
            for check in part.checks:
                named = {*check.columns, check.evidence} | ({check.period_column} if check.period_column else set())
                assert named <= sample_columns[check.fact], (rule.id, part.name, named - sample_columns[check.fact])


def test_the_run_builds_its_suites_from_its_own_standard(tmp_path: Path):
    def edit(d):
        d["rules"]["OL-5"]["enabled"] = False
        d["rules"]["OL-2"]["severity"] = "warning"
        d["rules"]["OL-2"]["thresholds"]["min_meetings"] = 2

    edited = load_standard(_edited(tmp_path, edit))
    suites = build_standard_suites(edited)
    rules = {e["meta"]["rule_id"] for s in suites.values() for e in s["expectations"]}
    assert rules == set(STANDARD.rules) - {"OL-5"}
    [ol2] = [e for e in suites["branch_month"]["expectations"] if e["meta"]["rule_id"] == "OL-2"]
    assert ol2["meta"]["severity"] == "warning"
    assert ol2["kwargs"]["min_value"] == {"$PARAMETER": "OL2_min_meetings"}  # the number stays in the standard
    assert edited.parameters()["OL2_min_meetings"] == 2
    # ids depend on what is checked, not on thresholds, severities or switched-off neighbours
    [default_ol2] = [e for e in GENERATED["branch_month"]["expectations"] if e["meta"]["rule_id"] == "OL-2"]
    assert ol2["id"] == default_ol2["id"] and suites["branch_month"]["id"] == GENERATED["branch_month"]["id"]


def test_every_parameter_is_a_threshold_and_no_number_is_hard_coded_twice():
    """Suites side, fully: every `$PARAMETER` of an expectation is a numeric threshold of that
    expectation's own rule; no number in any suite is a copy of one of its rule's thresholds (the
    literals left are structural, such as `at_most: 0`); every numeric threshold is judged by GX
    (a `$PARAMETER` of some expectation) or declared as applied by the fact (`fact_applies`).

    Python side: no polars expression under src/audit compares a column with a literal equal to
    a threshold's value. What this cannot see: the literals 0 and 1 (structural everywhere:
    `> 0` rows, `< 1` shares), a value reached by arithmetic or through a named constant, a
    threshold hidden in a string (`offset_by("3mo")`), and plain-Python comparisons outside
    polars expressions (the synthetic planter's own numbers); those are left to review."""
    numeric = _numeric_thresholds(STANDARD)
    judged = set()
    for suite in (*SUITES.values(), *GENERATED.values()):
        for expectation in suite["expectations"]:
            rule = STANDARD.rule(expectation["meta"]["rule_id"])
            own = {k: v for k, v in numeric.items() if k.startswith(rule.parameter_prefix + "_")}
            used = set(_parameters(expectation["kwargs"]))
            assert used <= own.keys(), (rule.id, used - own.keys())
            copies = [n for n in _literals(expectation["kwargs"]) if float(n) in own.values()]
            assert not copies, (rule.id, expectation["kwargs"], copies)
            judged |= used
    applied = {
        f"{rule.parameter_prefix}_{name}"
        for rule in STANDARD.rules.values()
        for part in rule.parts.values()
        for check in part.checks
        for name in check.fact_applies
    }
    assert not numeric.keys() - judged - applied, "thresholds neither judged by GX nor declared in fact_applies"
    found = _hard_coded_thresholds(REPO / "src" / "audit", set(numeric.values()) - {0.0, 1.0})
    assert found - set(NOT_A_THRESHOLD) == KNOWN_REPEATS, found


# Literal comparisons equal to some threshold's value that are not that threshold
NOT_A_THRESHOLD: dict[tuple[str, str], str] = {}
# Repeats still to be removed; delete the entry with the repeat.
KNOWN_REPEATS: set[tuple[str, str]] = set()


def _hard_coded_thresholds(folder: Path, values: set[float]) -> set[tuple[str, str]]:
    """(file, comparison) for each comparison of a polars expression with a numeric literal in
    `values` (operators, and the comparison methods `gt`, `ge`, `lt`, `le`, `eq`, `is_between`)."""
    found = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"gt", "ge", "lt", "le", "eq", "is_between"}
            ):
                sides = [node.func.value, *node.args]
            else:
                continue
            literals = [s.value for s in sides if isinstance(s, ast.Constant) and type(s.value) in (int, float)]
            expressions = [s for s in sides if not isinstance(s, ast.Constant)]
            if any(float(v) in values for v in literals) and any("pl." in ast.unparse(e) for e in expressions):
                found.add((path.relative_to(folder).as_posix(), ast.unparse(node)))
    return found


def test_the_hard_coded_threshold_scan_finds_a_repeat(tmp_path: Path):
    (tmp_path / "mod.py").write_text(
        "import polars as pl\nA = pl.col('streak') >= 6\nB = pl.col('n').is_between(1, 18)\nC = len(x) >= 6\nD = pl.col('n') > 0\n",
        encoding="utf-8",
    )
    assert _hard_coded_thresholds(tmp_path, {6.0, 18.0}) == {
        ("mod.py", "pl.col('streak') >= 6"),
        ("mod.py", "pl.col('n').is_between(1, 18)"),
    }


def test_suites_have_stable_unique_ids_and_one_per_fact():
    ids = [s["id"] for s in SUITES.values()] + [e["id"] for s in SUITES.values() for e in s["expectations"]]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    assert {s["meta"]["fact"] for s in SUITES.values()} == set(FACTS)


def test_committed_quality_suites_match_the_contract():
    for table in load_contract().tables.values():
        committed = json.loads((EXPECTATIONS / f"quality.{table.name}.json").read_text(encoding="utf-8"))
        assert committed == build_quality_suite(table), f"run `audit suites` ({table.name})"


# --- messages ----------------------------------------------------------------------------------------


def _unknown_placeholders(message: str, known: set[str]) -> set[str]:
    """The `{placeholders}` of a message (`{total_points:g}` is `total_points`) that are not in `known`."""
    names = {re.split(r"[.\[]", field)[0] for _, field, _, _ in string.Formatter().parse(message) if field is not None}
    return names - known


def _message_names(rule, part, columns: dict[str, set[str]]) -> set[str]:
    """What a part's message may name: the columns of its checks' fact tables, the rule's thresholds
    and parameters, and the context collect_findings adds."""
    names = set(MESSAGE_CONTEXT) | set(rule.thresholds)
    names |= {k for k in STANDARD.parameters() if k.startswith(rule.parameter_prefix + "_")}
    for check in part.checks:
        names |= columns[check.fact]
    return names


def test_messages_name_only_known_placeholders(sample_columns):
    for rule in STANDARD.rules.values():
        for part in rule.parts.values():
            assert part.message, (rule.id, part.name)
            assert not _unknown_placeholders(part.message, _message_names(rule, part, sample_columns)), (rule.id, part.name)
    # and a typo is caught
    rule = STANDARD.rule("TM-1")
    typo = "{period_zh}支部书记主讲党课次数不足：{secretary_sesions}次（要求至少{min_sessions:g}次）"
    assert _unknown_placeholders(typo, _message_names(rule, rule.part(None), sample_columns)) == {"secretary_sesions"}


def test_every_check_has_a_label_and_the_catalogue_names_its_column_by_it(tmp_path: Path):
    """A checked column's Chinese meaning is declared with its check (`label:`), so adding a rule
    touches no separate list of labels: each check's line in docs/rules.md shows its label, an
    edited label shows up there, and a pair labels both of its columns."""
    catalogue = render_catalogue(STANDARD)
    for rule in STANDARD.rules.values():
        section = catalogue.split(f"### {rule.id} ", 1)[1].split("\n### ", 1)[0]
        for part in rule.parts.values():
            for check in part.checks:
                assert check.label.strip() and check.label != check.column, (rule.id, part.name)
                assert f"）：{check.label}：" in section, (rule.id, part.name, check.label)

    def edit(d):
        d["rules"]["OL-2"]["check"]["label"] = "支部委员会会议次数（改）"
        d["rules"]["SM-6"]["check"] = {
            "pair": {"a": "amount_paid", "at_least": "amount_due"},
            "label": {"amount_paid": "实交金额", "amount_due": "应交金额"},
        }

    edited = render_catalogue(load_standard(_edited(tmp_path, edit)))
    assert "：支部委员会会议次数（改）：不少于 1（阈值 `OL2_min_meetings`）。" in edited
    assert "：实交金额 不小于 应交金额。GX 比较两列" in edited


def _without(path: list[Any], key: str):
    """An edit of the standard's data: remove `key` from the mapping at a path of keys."""

    def edit(data):
        for step in path:
            data = data[step]
        del data[key]

    return edit


# --- mistakes in the standard file -------------------------------------------------------------------


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


def _set(path: list[Any], value: Any):
    """An edit of the standard's data: set the value at a path of keys and indices."""

    def edit(data):
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set(["rules", "OL-2", "check", "fact"], "branch_mnth"), "OL-2：check 的 fact「branch_mnth」不是已知的事实表"),
        (
            _set(["rules", "OL-5", "parts", "held", "check", "at_least"], "min_meeting"),
            "OL-5（held）：check 的 at_least 引用的阈值「min_meeting」不在该规则的 thresholds 中",
        ),
        (
            _set(["rules", "SM-2", "check", 1], {"column": "points_publish_delay_days", "equals": 15}),
            "SM-2：check 中有未知的比较方式或字段「equals」",
        ),
        (
            _set(["rules", "SM-6", "check"], {"column": "amount_due", "at_least": "in_service"}),
            "SM-6：check 的 at_least 引用的阈值「in_service」不是数字",
        ),
        (_set(["rules", "OL-1", "check", "more_than"], "min_meetings"), "OL-1：check 的 at_least 和 more_than 只能用一个"),
        (_set(["rules", "OL-6", "check", "at_least"], 1), "OL-6：check 的 上下限 / is 只能用一种"),
        (
            _set(["rules", "OL-1", "check"], {"fact": "branch_quarter", "column": "assemblies", "evidence": "ev_assemblies"}),
            "OL-1：check 没有比较方式",
        ),
        (_set(["rules", "OL-6", "check", "is"], False), "OL-6：check 的 is 只能是 true"),
        (_set(["rules", "OL-9", "parts", "share", "check"], None), "OL-9（share）：没有声明检查"),
        (_set(["rules", "BG-1", "check", "evidence"], "venue_ok"), "BG-1：check 的 evidence 应为事实表中以 ev_ 开头的证据列"),
        (
            _set(["rules", "TM-1", "check", "ignore_row_if"], "either_value_is_missing"),
            "TM-1：check 的 ignore_row_if 只用于 pair",
        ),
        (
            _set(["rules", "SM-2", "check", 1], {"column": "points_unpublished", "label": "未公示数", "at_least": 0}),
            "SM-2：同一事实表的同一列重复声明了同类检查",
        ),
        (
            _set(["rules", "SM-6", "check"], {"pair": {"a": "amount_due", "at_most": "expected_due_max"}}),
            "SM-6：check 的 pair 应写成",
        ),
        (
            _set(["rules", "SM-9", "parts", "talk", "check", "fact_applies"], ["talk_months"]),
            "SM-9（talk）：check 的 fact_applies 引用的阈值「talk_months」",
        ),
        (_without(["rules", "OL-2", "check"], "label"), "OL-2：check 缺少 label（列 committee_meetings 的中文含义"),
        (
            _set(["rules", "OL-5", "parts", "on_day", "check", "label"], " "),
            "OL-5（on_day）：check 的 label 应为列 theme_day_on_day 的中文含义",
        ),
        (
            _set(
                ["rules", "SM-6", "check"],
                {"pair": {"a": "amount_paid", "at_least": "amount_due"}, "label": "实交金额"},
            ),
            "SM-6：pair 检查的 label 应写成",
        ),
        (_set(["rating", "pass"], "过硬"), "rating 应为 best、pass、fail 各给出一个不同的评定用语"),
    ],
)
def test_mistakes_in_checks_are_named_by_rule_part_and_field(tmp_path: Path, edit, message):
    with pytest.raises(StandardError, match=message):
        load_standard(_edited(tmp_path, edit))


def test_an_unquoted_yes_is_explained(tmp_path: Path):
    text = STANDARD_FILE.read_text(encoding="utf-8")
    path = tmp_path / "standard.yaml"
    assert text.count("is: true, evidence: ev_venue}") == 1  # BG-1's check
    path.write_text(text.replace("is: true, evidence: ev_venue}", "yes: true, evidence: ev_venue}"), encoding="utf-8")
    with pytest.raises(StandardError, match="BG-1：check 中的「yes」被 YAML 读作 true，是/否的观察请写 is: true"):
        load_standard(path)


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
