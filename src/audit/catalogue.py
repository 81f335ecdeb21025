"""The rule catalogue reviewers read (docs/rules.md), generated from the suites and the standard file."""

from __future__ import annotations

from typing import Any

from audit.facts import FACT_KEYS
from audit.standard import SEVERITY_ZH, Standard, load_standard
from audit.suites import load_suite_json

FACTS_ZH = {
    "branch_month": "支部×月",
    "group_month": "党小组×月",
    "branch_quarter": "支部×季度",
    "branch_half": "支部×半年",
    "branch_year": "支部×年",
    "assembly": "每次支部党员大会",
    "member_month": "党员×月（组织关系在本支部的月份）",
    "member_streak": "党员（向前追溯到数据起始月）",
    "member_transfer": "转出党员×月",
    "member_status": "党员",
    "recruitment": "发展对象（按支部大会所在月审核）",
}
COLUMNS_ZH = {
    "committee_meetings": "支部委员会次数",
    "theme_days": "主题党日次数",
    "theme_day_on_day": "主题党日在规定日期开展",
    "theme_day_recorded": "主题党日有主题、有会议记录、每名党员都有参会记录",
    "disclosure_complete": "当月党费已公开且已报备",
    "group_meetings": "党小组会次数",
    "assemblies": "支部党员大会次数",
    "secretary_sessions": "书记主讲的党课或集中学习次数",
    "points_unpublished": "没有公示日期的积分记录数",
    "points_publish_delay_days": "最晚公示日期距季度末的天数",
    "venue_ok": "最近一次检查六项齐全",
    "life_meetings": "组织生活会次数",
    "secretary_lectures": "书记讲党课次数",
    "lectures": "党课次数",
    "appraisals": "民主评议次数",
    "excellent_share": "优秀人数占参评正式党员的比例",
    "probationary_graded": "被评定等次的预备党员人数",
    "attended_share": "出席人数占会议当日党员人数的比例",
    "counts_agree": "记录的应到、实到人数与参会名单一致",
    "has_points": "有当月积分记录",
    "points_add_up": "月度积分 = 基础分 + 加分 − 扣分",
    "paid_in_full": "实交金额合计不少于应交金额",
    "amount_due": "应交金额",
    "due_low": "标准金额下限",
    "due_high": "标准金额上限",
    "unpaid_streak": "连续未交党费的月数",
    "absent_streak": "连续未参加组织生活（无出席、无请假）的月数",
    "records_after_transfer": "转出后的党费、积分、参会记录数",
    "dates_consistent": "入党、转入、转出、转正日期前后一致",
    "duplicate_identities": "同一人（姓名和身份证号相同）同时在其他支部的记录数",
    "age_at_application": "递交申请时的周岁",
    "talk_ok": "递交申请后按时谈话",
    "activist_months": "积极分子培养月数",
    "publicity_workdays": "公示期工作日数（国家法定节假日与调休）",
    "present_share": "实到有表决权党员占应到的比例",
    "for_share": "赞成票占应到有表决权党员的比例",
    "approval_ok": "上级党委按时审批",
    "probation_months_served": "预备期月数",
}
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


def describe(expectation: dict[str, Any], params: dict[str, Any]) -> str:
    kwargs = expectation["kwargs"]
    kind = expectation["type"]
    if kind == "expect_column_values_to_be_between":
        column = COLUMNS_ZH.get(kwargs["column"], kwargs["column"])
        parts = []
        if "min_value" in kwargs:
            parts.append(("大于 " if kwargs.get("strict_min") else "不少于 ") + _value(kwargs["min_value"], params))
        if "max_value" in kwargs:
            parts.append(("小于 " if kwargs.get("strict_max") else "不超过 ") + _value(kwargs["max_value"], params))
        return f"{column}：{'，'.join(parts)}"
    if kind == "expect_column_values_to_be_in_set":
        return f"{COLUMNS_ZH.get(kwargs['column'], kwargs['column'])}：是"
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = COLUMNS_ZH.get(kwargs["column_A"], kwargs["column_A"]), COLUMNS_ZH.get(kwargs["column_B"], kwargs["column_B"])
        return f"{a} 不小于 {b}"
    return kind


def render_catalogue(standard: Standard | None = None) -> str:
    standard = standard or load_standard()
    params = standard.parameters()
    by_rule: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for fact in FACT_KEYS:
        suite = load_suite_json(f"standard.{fact}")
        for expectation in suite["expectations"]:
            by_rule.setdefault(expectation["meta"]["rule_id"], []).append((fact, expectation))
    lines = [
        "# 规则目录",
        "",
        "本文件由 `audit docs` 根据 `expectations/standard.yaml`（阈值）和 `expectations/standard.*.json`（GX 期望套件）生成，请勿手工修改。",
        "",
        f"标准：{standard.name}  ",
        f"版本：{standard.version}",
        "",
        "每条规则在审核季度内按下表的“审核粒度”逐行检查；不满足的每一行生成一条问题（问题清单 findings.csv），"
        "注明规则编号、条款、严重程度和证据（来源文件和行号）。修改阈值、停用规则或调整严重程度只需编辑 `expectations/standard.yaml`。",
        "",
        "评定：各维度没有“错误”或“严重”问题即为通过；全部已评估维度通过且没有“提示”为**过硬**，没有“错误”或“严重”问题为**达标**，否则**未达标**。"
        "“作用发挥”维度原文没有规则，始终显示为**未评估**。",
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
            for fact, expectation in by_rule.get(rule.id, []):
                part = expectation["meta"]["part"]
                severity = SEVERITY_ZH[rule.part(part).severity]
                lines.append(f"- 检查（{FACTS_ZH[fact]}，{severity}）：{describe(expectation, params)}")
            for part in rule.parts.values():
                label = "" if part.name == "main" else f"（{part.name}）"
                lines.append(f"- 问题描述模板{label}：{part.message}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
