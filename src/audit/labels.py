"""The Chinese words people read for the toolkit's codes and columns, each defined once.

Pages (`audit.display`, the notebooks), the workbook (`audit.workbook`), the command line and the
rule catalogue take severities, statuses and column headers from here, so a column is called the
same on a page, in findings.xlsx and in the terminal. A column that is also an export column
(branches, meetings) has the export contract's label (`contract.yaml`).
"""

from __future__ import annotations

SEVERITY_ZH = {"warning": "提示", "error": "错误", "critical": "严重"}

# A dimension's result on the scorecard (五个过硬); 部分评估: no failure, but some rule part of the
# dimension could not be judged for want of data (`audit.coverage`)
STATUS_PASS, STATUS_FAIL, STATUS_NA, STATUS_PARTIAL = "通过", "未通过", "未评估", "部分评估"

# Whether a rule part could be judged for a branch and period (coverage.csv, `audit.coverage`)
EVALUATED, UNEVALUABLE = "已评估", "无法评估"

# A finding's follow-up status against the previous quarter (`audit.followup`); 首次审核: no previous
# report was found, so nothing was tracked (the finding is not claimed to be new)
NEW, CONTINUING, RECTIFIED, SUPPLIED, PENDING = "新增", "持续", "已整改", "已补正", "待复查"
UNTRACKED = "首次审核"
FOLLOWUP_STATUSES = (UNTRACKED, NEW, CONTINUING, RECTIFIED, SUPPLIED, PENDING)

# The steps of `audit run` (`audit.report.run`, the manifest's timings) as the terminal names them,
# in the order they run; the notebooks and their HTML are one step to the reader (页面)
STEP_ZH = {
    "read": "读取",
    "quality": "校验",
    "facts": "事实",
    "checks": "检查",
    "export": "导出",
    "notebooks": "页面",
    "html": "页面",
}

# One header per column, wherever the column is shown
COLUMNS = {
    # findings and their follow-up
    "finding_id": "问题编号",
    "rule_id": "规则编号",
    "rule_title": "规则",
    "severity": "级别",
    "dimension": "维度",
    "branch_id": "支部编号",
    "branch_name": "支部名称",
    "subject_id": "对象",
    "period": "期间",
    "clause": "条款",
    "message": "问题",
    "evidence": "证据",
    "status": "整改情况",
    "period_then": "原问题期间",
    "period_now": "本期",
    # reviewer decisions (`audit.decisions`)
    "decision": "审核决定",
    "decision_text": "审核决定",
    "note": "说明",
    "reviewer": "审核人",
    "decided_on": "决定日期",
    "state": "处理结果",
    # the scorecard
    "quarter": "季度",
    "critical": SEVERITY_ZH["critical"],
    "errors": SEVERITY_ZH["error"],
    "warnings": SEVERITY_ZH["warning"],
    "false_alarms": "误报（不计入）",
    "rating": "评定",
    # what could be judged (coverage.csv)
    "part": "检查部分",
    "unevaluable": UNEVALUABLE,
    # members and meetings
    "member_id": "党员编号",
    "name": "姓名",
    "unpaid_months": "连续欠缴月数",
    "bucket": "账龄",
    "meeting_id": "活动编号",
    "meeting_type": "活动类型",
    "held_on": "活动日期",
    "topic": "主题",
    "present_count": "实到人数",
    "expected_count": "应到人数",
    # half-year and year rules before their period ends (`progress.csv`)
    "required": "要求次数",
    "done": "已完成",
    "expected_by_now": "按进度应完成",
    # where a record came from, and what became of it at import
    "source": "来源",
    "table": "表",
    "table_zh": "表",
    "file": "文件",
    "_file": "来源文件",
    "sheet": "工作表",
    "_sheet": "工作表",
    "row": "行号",
    "_row": "行号",
    "column": "列",
    "value": "原值",
    "reason": "原因",
    "action": "处理",
}
DECISION_ROW = "决定表行号"  # the row of a decision in decisions.csv (its `row`)


def headers(*columns: str, **special: str) -> dict[str, str]:
    """Chinese headers for a table's columns, in order: each column's word from `COLUMNS`, or the
    word in `special` for a column that means something narrower in this one table."""
    if set(special) - set(columns):
        raise ValueError(f"special headers for columns the table does not show: {sorted(set(special) - set(columns))}")
    return {column: special[column] if column in special else COLUMNS[column] for column in columns}
