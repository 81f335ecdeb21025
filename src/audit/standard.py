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

from audit.paths import STANDARD_FILE

SEVERITIES = ("warning", "error", "critical")
SEVERITY_ZH = {"warning": "提示", "error": "错误", "critical": "严重"}  # how pages, workbook and catalogue name them
PERIODS = ("month", "quarter", "half", "year")


class StandardError(ValueError):
    """The standard file is not usable; the message names the rule and the field."""


@dataclass(frozen=True)
class Part:
    name: str
    severity: str
    message: str


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


def load_standard(path: Path | str | None = None) -> Standard:
    """Read and check the standard file; a mistake in it is reported by rule and field."""
    path = Path(path) if path else STANDARD_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StandardError(f"找不到标准文件：{path}") from None
    except yaml.YAMLError as exc:
        raise StandardError(f"标准文件 {path} 格式错误：{exc}") from None
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
            parts_spec = spec.get("parts") or {"main": {"message": spec.get("message", "")}}
            parts = {}
            for name, part in parts_spec.items():
                part_severity = part.get("severity", severity)
                if part_severity not in SEVERITIES:
                    raise StandardError(f"{rule_id}：severity 应为 {'/'.join(SEVERITIES)}，不是「{part_severity}」")
                parts[name] = Part(name, part_severity, part.get("message") or spec.get("message", ""))
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
