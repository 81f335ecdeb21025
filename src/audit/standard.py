"""The standard's rules and thresholds (expectations/standard.yaml) as typed objects.

Thresholds reach the GX suites as expectation parameters named `<rule id without dash>_<name>`
(`OL2_min_meetings`), so the committed suites hold references, never numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from audit.errors import AuditError
from audit.paths import STANDARD_FILE

SEVERITIES = ("warning", "error", "critical")
PERIODS = ("month", "quarter", "half", "year")
RATINGS = ("best", "pass", "fail")  # a branch's rating, best first; the words are the standard's (`rating:`)


class StandardError(AuditError, ValueError):
    """The standard file is not usable; the message names the rule and the field."""


# How a check compares its column (the words of `check:` in standard.yaml; see its header comment)
LOWER = {"at_least": False, "more_than": True}  # word -> strict
UPPER = {"at_most": False, "less_than": True}
PAIR_IGNORE = ("either_value_is_missing", "both_values_are_missing", "neither")
CHECK_FIELDS = (
    "fact",
    "column",
    "label",
    *LOWER,
    *UPPER,
    "is",
    "pair",
    "ignore_row_if",
    "evidence",
    "period_column",
    "fact_applies",
)


@dataclass(frozen=True)
class Bound:
    """One side of a numeric check: a threshold of the rule (by name, judged by GX as a
    `$PARAMETER`) or a structural literal such as 0; `strict` excludes the bound itself."""

    value: str | int | float
    strict: bool = False

    @property
    def threshold(self) -> str | None:
        return self.value if isinstance(self.value, str) else None


@dataclass(frozen=True)
class Check:
    """One expectation a rule part declares: the fact table and column GX judges, and how.

    Exactly one form: bounds (`low` and/or `high`: the column lies between them), a yes/no
    observation (`is_true`: the column must be true), or a pair (`column` at least, or more than,
    the column `than`). `label` says in Chinese what the column means (`than_label`: the column
    `than`), so the rule catalogue (docs/rules.md) names it where it is declared. `fact_applies`
    names thresholds the fact computation applies itself (GX then only sees its outcome);
    `period_column` names the column holding the finding's period when it is not `period`."""

    fact: str
    column: str
    evidence: str
    label: str
    than_label: str | None = None
    low: Bound | None = None
    high: Bound | None = None
    is_true: bool = False
    than: str | None = None
    than_strict: bool = False
    ignore_row_if: str | None = None
    period_column: str | None = None
    fact_applies: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The fact columns GX reads."""
        return (self.column, self.than) if self.than else (self.column,)

    @property
    def labels(self) -> dict[str, str]:
        """The Chinese meaning of each column GX reads, by column."""
        if self.than is None or self.than_label is None:
            return {self.column: self.label}
        return {self.column: self.label, self.than: self.than_label}

    @property
    def thresholds(self) -> tuple[str, ...]:
        """The names of the rule's thresholds GX judges in this check."""
        return tuple(b.threshold for b in (self.low, self.high) if b is not None and b.threshold is not None)


@dataclass(frozen=True)
class Need:
    """What a rule part cannot be judged without (`needs:` in standard.yaml; `audit.coverage`
    judges it per branch and period): rows of the export table `table` for the branch, or, with
    `column`, a value in that column among the branch's rows; `meetings` narrows it to meetings of
    those types. A table whose rows belong to meetings (参会明细) is needed per meeting: each
    meeting of the branch held in the judged period (with `since_window`: from the data window's
    start to the period's end) has rows in it. `also` names other columns of the same table that
    serve as well: a value in any of them meets the need (a theme day's 主题 or 会议内容)."""

    table: str
    column: str | None = None
    meetings: tuple[str, ...] = ()
    since_window: bool = False
    also: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns any of which meets the need (none for a table need)."""
        return (self.column, *self.also) if self.column else ()

    @property
    def name(self) -> str:
        """`table`, `table.column` or `table.a|table.b`, as the standard file writes it."""
        return "|".join(f"{self.table}.{c}" for c in self.columns) if self.column else self.table


@dataclass(frozen=True)
class Part:
    name: str
    severity: str
    message: str
    checks: tuple[Check, ...] = ()
    needs: tuple[Need, ...] = ()
    title: str = ""  # what people read for the part (`title:` in standard.yaml); its name when none is given


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    clause: str
    dimension: str
    period: str
    severity: str
    enabled: bool
    thresholds: dict[str, Any]
    parts: dict[str, Part]

    def part(self, name: str | None) -> Part:
        return self.parts[name or "main"]

    @property
    def parameter_prefix(self) -> str:
        return self.id.replace("-", "")

    def threshold(self, name: str) -> Any:
        value = self.thresholds[name]
        return float(Fraction(value)) if isinstance(value, str) and "/" in value else value


@dataclass(frozen=True)
class Standard:
    name: str
    version: str
    dimensions: tuple[str, ...]
    not_assessed: tuple[str, ...]
    rating: dict[str, str]
    rules: dict[str, Rule] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    @property
    def ratings(self) -> dict[str, str]:
        """The rating words by code (`RATINGS`), best first: charts, workbook and pages show these."""
        return {code: self.rating[code] for code in RATINGS}

    def enabled(self, rule_id: str) -> bool:
        return self.rules[rule_id].enabled

    def parameters(self) -> dict[str, float | int]:
        """Every scalar threshold, named as the suites refer to it."""
        params: dict[str, float | int] = {}
        for rule in self.rules.values():
            for name, value in rule.thresholds.items():
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    continue
                try:
                    params[f"{rule.parameter_prefix}_{name}"] = rule.threshold(name)
                except (ValueError, ZeroDivisionError):
                    raise StandardError(f"{rule.id} 的阈值 {name} 不是数字：{value}") from None
        return params


def _share_zh(value: Any) -> str:
    if isinstance(value, str) and "/" in value:
        num, den = Fraction(value).numerator, Fraction(value).denominator
        digits = "零一二三四五六七八九十"
        if num < 11 and den < 11:
            return f"{digits[den]}分之{digits[num]}"
    return str(value)


def _fact_names() -> tuple[str, ...]:
    """The fact tables a check may name (imported here: the facts read the standard)."""
    from audit.facts import FACTS

    return tuple(FACTS)


def _is_number(value: Any) -> bool:
    """A threshold value usable as a GX parameter: a number or a fraction such as "1/2"."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if not isinstance(value, str):
        return False
    try:
        Fraction(value)
    except (ValueError, ZeroDivisionError):
        return False
    return True


def _parse_bound(where: str, word: str, value: Any, thresholds: dict[str, Any], strict: bool) -> Bound:
    """A bound is the name of one of the rule's numeric thresholds or a literal number."""
    if isinstance(value, str):
        if value not in thresholds:
            raise StandardError(f"{where}：check 的 {word} 引用的阈值「{value}」不在该规则的 thresholds 中")
        if not _is_number(thresholds[value]):
            raise StandardError(f"{where}：check 的 {word} 引用的阈值「{value}」不是数字")
        return Bound(value, strict)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StandardError(f"{where}：check 的 {word} 应为阈值名或数字，不是「{value}」")
    return Bound(value, strict)


def _one_side(where: str, spec: dict[str, Any], words: dict[str, bool], thresholds: dict[str, Any]) -> Bound | None:
    used = [w for w in words if w in spec]
    if len(used) > 1:
        raise StandardError(f"{where}：check 的 {' 和 '.join(used)} 只能用一个")
    return _parse_bound(where, used[0], spec[used[0]], thresholds, words[used[0]]) if used else None


def _parse_labels(where: str, value: Any, columns: tuple[str, ...]) -> tuple[str, str | None]:
    """A check's `label`: what its column means in Chinese (a pair: `{column: meaning}` for both
    columns), which the rule catalogue shows; required, so no checked column is shown bare."""
    if value is None:
        raise StandardError(
            f"{where}：check 缺少 label（列 {'、'.join(columns)} 的中文含义，规则目录 docs/rules.md 用它说明检查）"
        )
    if len(columns) == 1:
        if not isinstance(value, str) or not value.strip():
            raise StandardError(f"{where}：check 的 label 应为列 {columns[0]} 的中文含义，不是「{value}」")
        return value, None
    if (
        not isinstance(value, dict)
        or set(value) != set(columns)
        or not all(isinstance(text, str) and text.strip() for text in value.values())
    ):
        raise StandardError(f"{where}：pair 检查的 label 应写成 {{{columns[0]}: 中文含义, {columns[1]}: 中文含义}}")
    return value[columns[0]], value[columns[1]]


def _parse_check(where: str, spec: Any, defaults: dict[str, Any], thresholds: dict[str, Any], facts: tuple[str, ...]) -> Check:
    """One `check:` entry as a `Check`; every mistake is named by rule, part and field."""
    if not isinstance(spec, dict):
        raise StandardError(f"{where}：check 应为一个检查（映射）或检查列表，不是「{spec}」")
    if any(k is True for k in spec):  # YAML 1.1 reads an unquoted `yes:` key as true
        raise StandardError(f"{where}：check 中的「yes」被 YAML 读作 true，是/否的观察请写 is: true")
    unknown = [str(k) for k in spec if k not in CHECK_FIELDS]
    if unknown:
        raise StandardError(f"{where}：check 中有未知的比较方式或字段「{unknown[0]}」（可用：{'、'.join(CHECK_FIELDS)}）")
    spec = {**defaults, **spec}
    fact = spec.get("fact")
    if not fact:
        raise StandardError(f"{where}：check 缺少 fact（事实表）")
    if fact not in facts:
        raise StandardError(f"{where}：check 的 fact「{fact}」不是已知的事实表（可用：{'、'.join(facts)}）")
    evidence = spec.get("evidence")
    if not isinstance(evidence, str) or not evidence.startswith("ev_"):
        raise StandardError(f"{where}：check 的 evidence 应为事实表中以 ev_ 开头的证据列，不是「{evidence}」")
    bounds = any(word in spec for word in (*LOWER, *UPPER))
    forms = [form for form, used in (("上下限", bounds), ("is", "is" in spec), ("pair", "pair" in spec)) if used]
    if not forms:
        raise StandardError(f"{where}：check 没有比较方式（at_least、more_than、at_most、less_than、is 或 pair 之一）")
    if len(forms) > 1:
        raise StandardError(f"{where}：check 的 {' / '.join(forms)} 只能用一种")
    applies = spec.get("fact_applies") or []
    applies = [applies] if isinstance(applies, str) else list(applies)
    for name in applies:
        if name not in thresholds:
            raise StandardError(f"{where}：check 的 fact_applies 引用的阈值「{name}」不在该规则的 thresholds 中")
    ignore = spec.get("ignore_row_if")
    if ignore is not None and ("pair" not in spec or ignore not in PAIR_IGNORE):
        raise StandardError(f"{where}：check 的 ignore_row_if 只用于 pair，应为 {'、'.join(PAIR_IGNORE)} 之一")
    period_column = spec.get("period_column")
    if period_column is not None and not isinstance(period_column, str):
        raise StandardError(f"{where}：check 的 period_column 应为列名")
    common: dict[str, Any] = dict(
        fact=fact, evidence=evidence, ignore_row_if=ignore, period_column=period_column, fact_applies=tuple(applies)
    )
    if "pair" in spec:
        pair = spec["pair"]
        sides = [w for w in LOWER if isinstance(pair, dict) and w in pair]
        if not isinstance(pair, dict) or len(sides) != 1 or not isinstance(pair.get("a"), str) or set(pair) != {"a", *sides}:
            raise StandardError(f"{where}：check 的 pair 应写成 {{a: 列, at_least: 列}} 或 {{a: 列, more_than: 列}}")
        if not isinstance(pair[sides[0]], str):
            raise StandardError(f"{where}：check 的 pair.{sides[0]} 应为列名")
        label, than_label = _parse_labels(where, spec.get("label"), (pair["a"], pair[sides[0]]))
        return Check(
            column=pair["a"], than=pair[sides[0]], than_strict=LOWER[sides[0]], label=label, than_label=than_label, **common
        )
    column = spec.get("column")
    if not isinstance(column, str) or not column:
        raise StandardError(f"{where}：check 缺少 column（事实表的列）")
    if "is" in spec:
        if spec["is"] is not True:
            raise StandardError(f"{where}：check 的 is 只能是 true（事实本身是“是/否”的观察）")
        return Check(column=column, is_true=True, label=_parse_labels(where, spec.get("label"), (column,))[0], **common)
    low, high = _one_side(where, spec, LOWER, thresholds), _one_side(where, spec, UPPER, thresholds)
    return Check(column=column, low=low, high=high, label=_parse_labels(where, spec.get("label"), (column,))[0], **common)


def _parse_checks(
    where: str, spec: Any, defaults: dict[str, Any], thresholds: dict[str, Any], facts: tuple[str, ...]
) -> tuple[Check, ...]:
    """A part's `check:` (one check or a list of them); a part without one is refused."""
    if not spec:
        raise StandardError(f"{where}：没有声明检查（check）")
    items = spec if isinstance(spec, list) else [spec]
    checks = tuple(_parse_check(where, item, defaults, thresholds, facts) for item in items)
    kinds = [(c.fact, c.columns, c.is_true, c.than is not None) for c in checks]
    if len(set(kinds)) < len(kinds):  # one expectation per fact, columns and kind: their ids would clash
        raise StandardError(f"{where}：同一事实表的同一列重复声明了同类检查（上下限请写在同一个检查中）")
    return checks


NEED_FIELDS = ("need", "meetings", "since")


def branch_link(table: str) -> str | None:
    """How a row of export table `table` belongs to a branch: its own `branch_id` ("branch"), its
    meeting's ("meeting": a column referencing meetings.meeting_id) or its member's ("member");
    None when it does not (from the contract's `ref` declarations)."""
    from audit.contract import load_contract

    columns = load_contract().tables[table].columns
    if "branch_id" in columns:
        return "branch"
    refs = {column.ref for column in columns.values()}
    if "meetings.meeting_id" in refs:
        return "meeting"
    if "members.member_id" in refs:
        return "member"
    return None


def _parse_need(where: str, item: Any, meeting_types: tuple[str, ...]) -> Need:
    """One entry of `needs:` (`table`, `table.column`, or a mapping with `need`, `meetings` and
    `since`), checked against the export contract (src/audit/contract.yaml)."""
    from audit.contract import load_contract

    tables = load_contract().tables
    if isinstance(item, dict):
        unknown = [str(k) for k in item if k not in NEED_FIELDS]
        if unknown:
            raise StandardError(f"{where}：needs 中有未知的字段「{unknown[0]}」（可用：{'、'.join(NEED_FIELDS)}）")
        text, meetings, since = item.get("need"), item.get("meetings") or [], item.get("since")
    else:
        text, meetings, since = item, [], None
    also: list[str] = []
    if isinstance(text, list) and len(text) > 1 and all(isinstance(t, str) for t in text):
        # any of several columns of one table: [meetings.topic, meetings.content]
        split = [t.strip().partition(".") for t in text]
        if any(not column for _, _, column in split) or len({table for table, _, _ in split}) > 1:
            listed = "、".join(text)
            raise StandardError(
                f"{where}：needs 中的「{listed}」应为同一个表的几列（任一列有填写即可），如 [meetings.topic, meetings.content]"
            )
        for table, _, column in split[1:]:
            if table in tables and column not in tables[table].columns:
                raise StandardError(
                    f"{where}：needs 中的「{table}.{column}」：“{tables[table].title}”（{table}）没有列「{column}」"
                )
        also = [column for _, _, column in split[1:]]
        text = text[0]
    if not isinstance(text, str) or not text.strip():
        raise StandardError(f"{where}：needs 的每一项应为“表”或“表.列”（如 points、points.published_on），不是「{text}」")
    table, _, column = text.strip().partition(".")
    if table not in tables:
        known = "、".join(f"{name}（{spec.title}）" for name, spec in tables.items())
        raise StandardError(f"{where}：needs 中的表「{table}」不在导出规范 contract.yaml 中（可用：{known}）")
    spec = tables[table]
    if column and column not in spec.columns:
        raise StandardError(
            f"{where}：needs 中的「{text}」：“{spec.title}”（{table}）没有列「{column}」（可用：{'、'.join(spec.columns)}）"
        )
    link = branch_link(table)
    if link is None:
        raise StandardError(f"{where}：needs 中的“{spec.title}”（{table}）的行不属于任何支部，无法按支部判断")
    if not isinstance(meetings, list) or not all(isinstance(m, str) for m in meetings):
        raise StandardError(f"{where}：needs 中「{text}」的 meetings 应为会议类型的列表，如 [党课, 集中学习]")
    if meetings and table != "meetings" and link != "meeting":
        raise StandardError(f"{where}：needs 中「{text}」的 meetings 只用于组织生活记录或按会议登记的表（如参会明细）")
    for kind in meetings:
        if kind not in meeting_types:
            raise StandardError(
                f"{where}：needs 中的会议类型「{kind}」不是导出规范中的活动类型（可用：{'、'.join(meeting_types)}）"
            )
    if since is not None and (since != "window" or link != "meeting"):
        raise StandardError(f"{where}：needs 中「{text}」的 since 只能是 window，且只用于按会议登记的表（如参会明细）")
    return Need(table, column or None, tuple(meetings), since == "window", tuple(also))


def _parse_needs(where: str, spec: Any, inherited: tuple[Need, ...] = ()) -> tuple[Need, ...]:
    """A part's `needs:` (one entry or a list), after those its rule declares for every part."""
    from audit.contract import load_contract

    if spec is None:
        return inherited
    meeting_types = tuple(load_contract().tables["meetings"].columns["meeting_type"].values or {})
    items = spec if isinstance(spec, list) else [spec]
    needs = (*inherited, *(_parse_need(where, item, meeting_types) for item in items))
    if len(set(needs)) < len(needs):
        raise StandardError(f"{where}：needs 中有重复的项")
    return needs


def _check_needs_columns(rules: dict[str, Rule]) -> None:
    """A part with `needs` has the fact columns it reads to itself: where it cannot be judged those
    columns are set to null before GX runs (`audit.coverage.withhold`), which must not silence
    another part's check."""
    readers: dict[tuple[str, str], list[str]] = {}
    for rule in rules.values():
        for part in rule.parts.values():
            for key in {(check.fact, column) for check in part.checks for column in check.columns}:
                readers.setdefault(key, []).append(part_name(rule, part))
    for rule in rules.values():
        for part in (p for p in rule.parts.values() if p.needs):
            for check in part.checks:
                for column in check.columns:
                    others = [w for w in readers[(check.fact, column)] if w != part_name(rule, part)]
                    if others:
                        raise StandardError(
                            f"{part_name(rule, part)}：检查的列「{column}」（{check.fact}）也被 {'、'.join(others)} 检查；"
                            "声明了 needs 的部分不能与其他部分共用同一列（无法评估时该列会被置空）"
                        )


def part_name(rule: Rule, part: Part) -> str:
    """A rule part as messages name it: `SM-1`, `SM-8（attendance）`."""
    return rule.id if part.name == "main" else f"{rule.id}（{part.name}）"


def load_standard(path: Path | str | None = None) -> Standard:
    """Read and check the standard file; a mistake in it is reported by rule and field."""
    path = Path(path) if path else STANDARD_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StandardError(f"找不到标准文件：{path}") from None
    except yaml.YAMLError as exc:
        raise StandardError(f"标准文件 {path} 格式错误：{exc}") from None
    facts = _fact_names()
    try:
        dimensions = tuple(raw["dimensions"])
        rules = {}
        for rule_id, spec in raw["rules"].items():
            severity = spec.get("severity", "error")
            if spec.get("dimension") not in dimensions:
                raise StandardError(f"{rule_id}：维度「{spec.get('dimension')}」不在 dimensions 中")
            if spec.get("period") not in PERIODS:
                raise StandardError(f"{rule_id}：period 应为 {'/'.join(PERIODS)}")
            thresholds = dict(spec.get("thresholds") or {})
            for name, value in list(thresholds.items()):
                if isinstance(value, str) and "/" in value:
                    thresholds[f"{name}_zh"] = _share_zh(value)
            if spec.get("parts") and "check" in spec:
                raise StandardError(f"{rule_id}：有 parts 时 check 写在各部分下")
            parts_spec = spec.get("parts") or {"main": {"message": spec.get("message", ""), "check": spec.get("check")}}
            defaults = {k: spec[k] for k in ("fact", "evidence") if k in spec}
            rule_needs = _parse_needs(rule_id, spec.get("needs"))  # a one-check rule's, or every part's
            parts = {}
            for name, part in parts_spec.items():
                part_severity = part.get("severity", severity)
                if part_severity not in SEVERITIES:
                    raise StandardError(f"{rule_id}：severity 应为 {'/'.join(SEVERITIES)}，不是「{part_severity}」")
                where = rule_id if name == "main" else f"{rule_id}（{name}）"
                checks = _parse_checks(where, part.get("check"), defaults, thresholds, facts)
                needs = _parse_needs(where, part.get("needs"), rule_needs)
                title = str(part.get("title") or ("" if name == "main" else name)).strip()
                parts[name] = Part(name, part_severity, part.get("message") or spec.get("message", ""), checks, needs, title)
            rules[rule_id] = Rule(
                id=rule_id,
                title=spec["title"],
                clause=str(spec["clause"]),
                dimension=spec["dimension"],
                period=spec["period"],
                severity=severity,
                enabled=bool(spec.get("enabled", True)),
                thresholds=thresholds,
                parts=parts,
            )
        _check_needs_columns(rules)
        words = [raw["rating"].get(code) if isinstance(raw["rating"], dict) else None for code in RATINGS]
        if not all(isinstance(word, str) and word.strip() for word in words) or len(set(words)) < len(words):
            raise StandardError(f"rating 应为 {'、'.join(RATINGS)} 各给出一个不同的评定用语（如 过硬、达标、未达标）")
        standard = Standard(
            name=raw["standard"]["name"],
            version=str(raw["standard"]["version"]),
            dimensions=dimensions,
            not_assessed=tuple(raw.get("not_assessed", ())),
            rating=dict(raw["rating"]),
            rules=rules,
            quality=dict(raw.get("quality") or {}),
            path=path,
        )
    except KeyError as exc:
        raise StandardError(f"标准文件 {path} 缺少字段 {exc}") from None
    except StandardError as exc:  # a rule's mistake: name the file too
        raise StandardError(f"标准文件 {path}：{exc}") from None
    standard.parameters()  # validates the numbers
    return standard


def dues_range(rule: Rule, employment: str | None, income: float | None) -> tuple[float, float] | None:
    """The dues a member should pay per month under SM-6's rate table, or None if unknowable."""
    flat = rule.thresholds.get("flat", {})
    if employment in flat:
        low, high = flat[employment]
        return float(low), float(high)
    if employment in (None, "其他") or income is None:
        return None
    table = rule.thresholds["retired" if employment == "离退休" else "in_service"]
    for band in table:
        if band["up_to"] is None or income <= band["up_to"]:
            due = round(income * band["rate"] + 1e-9, 2)
            return due, due
    return None


def dues_range_exprs(rule: Rule, employment: str, income: str) -> tuple[pl.Expr, pl.Expr]:
    """`dues_range` as two polars expressions over columns (lowest, highest expected dues), so the
    rate table is applied column-wise; null where `dues_range` returns None."""
    emp, inc = pl.col(employment), pl.col(income)
    flat = rule.thresholds.get("flat", {})
    cases: list[tuple[pl.Expr, pl.Expr, pl.Expr]] = [
        (emp == name, pl.lit(float(low)), pl.lit(float(high))) for name, (low, high) in flat.items()
    ]
    known = emp.is_not_null() & (emp != "其他") & inc.is_not_null()
    for table, applies in (("retired", emp == "离退休"), ("in_service", emp != "离退休")):
        for band in rule.thresholds[table]:
            within = known & applies if band["up_to"] is None else known & applies & (inc <= band["up_to"])
            due = (inc * band["rate"] + 1e-9).round(2)
            cases.append((within, due, due))

    def chain(pick: int) -> pl.Expr:
        expr = pl.when(cases[0][0]).then(cases[0][pick])
        for condition, *values in cases[1:]:
            expr = expr.when(condition).then(values[pick - 1])
        return expr.otherwise(pl.lit(None, dtype=pl.Float64)).cast(pl.Float64)

    return chain(1), chain(2)
