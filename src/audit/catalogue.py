"""The rule catalogue reviewers read (docs/rules.md), generated from the standard file's rules and checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.coverage import need_zh
from audit.facts import FACTS
from audit.labels import SEVERITY_ZH, STATUS_PARTIAL
from audit.standard import Check, Rule, Standard, load_standard
from audit.suites import check_expectation

PERIODS_ZH = {
    "month": "每月",
    "quarter": "每季度",
    "half": "每半年（半年结束时审核，之前显示进度）",
    "year": "每年（年底审核，之前显示进度）",
}


def _value(value: Any, params: dict[str, Any]) -> str:
    if isinstance(value, dict) and "$PARAMETER" in value:
        name = value["$PARAMETER"]
        return f"{params.get(name, '?'):g}（阈值 `{name}`）" if isinstance(params.get(name), (int, float)) else f"`{name}`"
    return str(value)


def describe(expectation: dict[str, Any], params: dict[str, Any], labels: Mapping[str, str]) -> str:
    """What one GX expectation requires, in Chinese, with each threshold's value and parameter
    name; columns are named by `labels`, the Chinese meaning their check declares (`Check.labels`)."""
    kwargs = expectation["kwargs"]
    kind = expectation["type"]
    if kind == "expect_column_values_to_be_between":
        column = labels.get(kwargs["column"], kwargs["column"])
        parts = []
        if "min_value" in kwargs:
            parts.append(("大于 " if kwargs.get("strict_min") else "不少于 ") + _value(kwargs["min_value"], params))
        if "max_value" in kwargs:
            parts.append(("小于 " if kwargs.get("strict_max") else "不超过 ") + _value(kwargs["max_value"], params))
        return f"{column}：{'，'.join(parts)}"
    if kind == "expect_column_values_to_be_in_set":
        return f"{labels.get(kwargs['column'], kwargs['column'])}：是"
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = labels.get(kwargs["column_A"], kwargs["column_A"]), labels.get(kwargs["column_B"], kwargs["column_B"])
        return f"{a} {'不小于' if kwargs.get('or_equal') else '大于'} {b}"
    return kind


def judged_by(rule: Rule, check: Check, params: dict[str, Any]) -> str:
    """Who applies the check's threshold: GX (the parameter shown beside the bound), the fact
    computation (GX then sees only its outcome: named here, for the thresholds to move into GX
    later), or nobody because the fact is itself a yes/no observation."""
    applied = []
    for name in check.fact_applies:
        param = f"{rule.parameter_prefix}_{name}"
        value = params.get(param)
        words = rule.thresholds.get(name)
        if isinstance(value, (int, float)):
            applied.append(f"{value:g}（`{param}`）")
        elif isinstance(words, list) and all(isinstance(word, str) for word in words):  # a list of words (OL-11's terms)
            applied.append(f"`{name}`（{'、'.join(words) or '空'}）")
        else:
            applied.append(f"`{name}`")
    if check.is_true:
        if applied:
            return f"事实计算时已按阈值 {'、'.join(applied)}判断，GX 只检查结果为“是”"
        return "是/否的观察（事实本身即是或否），GX 检查为“是”"
    said = "GX 比较两列" if check.than is not None else "GX 判断阈值" if check.thresholds else "GX 判断（固定界限，不是阈值）"
    if applied:
        said += f"；所比较的列由事实计算时按阈值 {'、'.join(applied)}得出"
    return said


def render_catalogue(standard: Standard | None = None) -> str:
    standard = standard or load_standard()
    params = standard.parameters()
    best, passed, failed = (f"**{word}**" for word in standard.ratings.values())
    lines = [
        "# 规则目录",
        "",
        "本文件由 `audit docs` 根据 `expectations/standard.yaml`（规则、检查和阈值；GX 期望套件 `expectations/standard.*.json` 也由它生成）生成，请勿手工修改。",
        "",
        f"标准：{standard.name}  ",
        f"版本：{standard.version}",
        "",
        "每条规则在审核季度内按下表的“审核粒度”逐行检查；不满足的每一行生成一条问题（问题清单 findings.csv），"
        "注明规则编号、条款、严重程度和证据（来源文件和行号）。修改阈值、停用规则或调整严重程度只需编辑 `expectations/standard.yaml`。",
        "",
        f"评定：各维度没有“错误”或“严重”问题即为通过；全部已评估维度通过且没有“提示”为{best}，没有“错误”或“严重”问题为{passed}，否则{failed}。"
        "“作用发挥”维度原文没有规则，始终显示为**未评估**。",
        "",
        "所需数据：规则（或其某一部分）列出的“所需数据”是判断它所必需的导出表和列（名称同数据字典）。"
        "某支部缺少这些数据时，该部分在该支部、该期间为**无法评估**：既不算通过也不算问题，列在 coverage.csv 和 "
        f"findings.xlsx 的“评估范围”工作表中并注明缺少什么；所在维度显示为“{STATUS_PARTIAL}”（有问题时仍为“未通过”，"
        "整个维度都无法评估时为“未评估”），"
        f"该支部不能评为{best}。没有列出所需数据的规则按已有记录判断（例如没有会议记录即召开次数为 0）。",
    ]
    for dimension in standard.dimensions:
        lines += ["", f"## {dimension}", ""]
        rules = [r for r in standard.rules.values() if r.dimension == dimension]
        if not rules:
            lines.append("原文中没有该维度的规则：评定时显示为“未评估”，从不显示为通过。")
            continue
        for rule in rules:
            state = "" if rule.enabled else "（已停用）"
            lines += [f"### {rule.id} {rule.title}{state}", "", f"- 条款：{rule.clause}；周期：{PERIODS_ZH[rule.period]}"]
            for part in rule.parts.values():
                label = "" if part.name == "main" else f"{part.title or part.name}；"
                for check in part.checks:
                    kind, kwargs = check_expectation(rule, check)
                    what = describe({"type": kind, "kwargs": kwargs}, params, check.labels)
                    lines.append(
                        f"- 检查（{label}{FACTS[check.fact].title}，{SEVERITY_ZH[part.severity]}）：{what}。{judged_by(rule, check, params)}"
                    )
            for part in rule.parts.values():
                if part.needs:
                    label = "" if part.name == "main" else f"（{part.title or part.name}）"
                    lines.append(f"- 所需数据{label}：{'；'.join(need_zh(need) for need in part.needs)}")
            for part in rule.parts.values():
                label = "" if part.name == "main" else f"（{part.title or part.name}）"
                lines.append(f"- 问题描述模板{label}：{part.message}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
