"""Real exports I, vocabulary: the header spellings, value forms and non-data rows that platform
exports and hand-kept 台账 templates use, and the transfer register as a source of members'
transfer dates. Every file here is a small real CSV or workbook written by the test."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from audit.contract import load_contract as contract
from audit.contract import normalize_header, strip_unit
from audit.ingest import ColumnMap, SourceStats, _SheetIngester, ingest
from audit.readers import RawSheet
from audit.reasons import Action, Reason
from audit.values import parse_date, parse_history_date, parse_rate
from conftest import BRANCHES, MEMBERS, write_csv

BRANCH_ROWS = [row[:4] for row in BRANCHES]  # without secretaries: tests name only the members they need

# --- every header the issue quotes, per table ---------------------------------------------------

REAL_HEADERS = {
    "meetings": [
        # a university system's 三会一课 import template
        "所在分党委编码 | 所在分党委 | 所在党支部编码 | 所在党支部 | 会议类型 | 主持人学工号 | 主持人姓名 | 记录人学工号 | "
        "记录人姓名 | 会议名称 | 计划会议时间 | 实际会议时间 | 会议地点 | 应到人数 | 实到人数 | 请假人数 | 列席人员 | 会议议题 | "
        "会议内容 | 会议决议",
        # its 主题党日 template
        "活动名称 | 计划时间 | 实际时间 | 活动地点 | 活动主题 | 主要内容及特色 | 应到人数 | 实到人数 | 请假人数 | 列席人员",
        # another tool
        "支部名称 | 会议名称 | 会议时间 | 会议时长 | 应到人数 | 实到人数 | 出席人数 | 缺席人员及原因 | 会议议题 | 主讲人",
    ],
    "members": [
        "工作证号 | 姓名 | 性别 | 出生日期 | 籍贯 | 民族 | 身份证号码 | 手机号码 | 党籍状态（正式党员或预备党员） | 所在分党委编码 | "
        "所在分党委 | 所在党支部编码 | 所在党支部 | 组织关系转入时间 | 提交书面申请书时间 | 确定为入党积极分子时间 | "
        "确定为发展对象时间 | 入党介绍人 | 入党时间 | 入党时所在党支部 | 转正时间",
        "所属党支部 | 姓名 | 性别 | 出生日期 | 民族 | 学历 | 身份证号码 | 联系电话 | 入党时间 | 党籍状态 | 工作/学习单位",
        "证件号码 | 手机 | 转为正式党员日期 | 出生年月 | 预/正 | 人员状态 | 是否退休 | 退休时间 | 党内职务 | 学工号",
    ],
    "dues": [
        "序号 | 姓名 | 身份证号 | 所属党支部 | 核算基数 | 应交金额 | 实交金额 | 备注",
        "核算基数（元） | 缴费金额（元）",
        "党员身份证号 | 缴存基数 | 交纳党费比例 | 应交党费 | 实交党费 | 缴费年度",
        "党费基数 | 月缴党费 | 缴费起止月份",
        "学工号 | 姓名 | 缴费类型 | 缴费起始月份 | 缴费截止月份 | 缴费金额",
        "应缴党费 | 交费月份 | 金额（单位：元）",
    ],
    "evaluations": ["学工号 | 姓名 | 党籍状态 | 评议结果"],
    "development": [
        "学工号 | 姓名 | 联系党支部编码 | 联系党支部 | 提交书面申请书时间 | 确定为入党积极分子时间 | 入党积极分子培训时间 | "
        "确定为发展对象时间 | 发展对象培训时间 | 列入发展计划时间 | 入党时间 | 转正时间 | 当前发展阶段"
    ],
    "transfers": [
        "学工号 | 姓名 | 类别 | 转入单位 | 转出单位 | 党费缴纳至年月 | 介绍信有效期天数 | 办理时间 | 是否有回执",
        "学工号 | 姓名 | 类别 | 转入单位 | 转出单位 | 转入党委 | 转入党支部 | 转入办理时间",
    ],
}
# the spellings item 2 of the issue names, with the column each must become
NAMED = {
    ("meetings", "会议时间"): "held_on",
    ("meetings", "实际会议时间"): "held_on",
    ("meetings", "实际时间"): "held_on",
    ("meetings", "计划会议时间"): "planned_on",
    ("meetings", "计划时间"): "planned_on",
    ("meetings", "会议议题"): "topic",
    ("meetings", "活动主题"): "topic",
    ("meetings", "会议名称"): "title",
    ("meetings", "活动名称"): "title",
    ("meetings", "会议内容"): "content",
    ("meetings", "主要内容及特色"): "content",
    ("meetings", "列席人员"): "observers",
    ("meetings", "主持人姓名"): "host",
    ("meetings", "记录人姓名"): "recorder",
    ("members", "入党时间"): "joined_on",
    ("members", "转正时间"): "full_member_on",
    ("members", "转为正式党员日期"): "full_member_on",
    ("members", "党籍状态"): "member_type",
    ("members", "所在党支部"): "branch_name",
    ("members", "所属党支部"): "branch_name",
    ("members", "所在党支部编码"): "branch_id",
    ("members", "证件号码"): "id_number",
    ("members", "手机"): "phone",
    ("members", "学工号"): "personnel_no",
    ("members", "工作证号"): "personnel_no",
    ("members", "人员状态"): "employment",
    ("dues", "核算基数"): "base",
    ("dues", "缴存基数"): "base",
    ("dues", "应缴党费"): "amount_due",
    ("dues", "缴费金额"): "amount_paid",
    ("dues", "交费月份"): "month",
    ("dues", "交纳党费比例"): "rate",
    ("evaluations", "评议结果"): "grade",
    ("development", "提交书面申请书时间"): "applied_on",
    ("development", "确定为入党积极分子时间"): "activist_on",
    ("development", "确定为发展对象时间"): "candidate_on",
    ("transfers", "办理时间"): "handled_on",
}


def test_every_real_header_names_a_column_and_no_spelling_two():
    """No header the issue quotes ends up as an extra column (`序号` is recognised and not kept),
    the spellings it names become their column, and no spelling names two columns of a table."""
    tables = contract().tables
    unmapped = [
        (table, header)
        for table, lines in REAL_HEADERS.items()
        for line in lines
        for header in line.split(" | ")
        if header != "序号" and tables[table].column_for(header) is None and not tables[table].columns_if_values_fit(header)
    ]
    assert unmapped == []
    assert {key: tables[key[0]].column_for(key[1]) for key in NAMED} == NAMED
    for table in tables.values():
        seen: dict[str, str] = {}
        for column in table.columns.values():
            for spelling in (column.name, column.label, *column.aliases):
                assert seen.setdefault(normalize_header(spelling), column.name) == column.name, f"{table.name}: {spelling}"


@pytest.mark.parametrize(
    ("header", "how"),
    [
        ("实交金额\n（元）", "去掉单位后匹配"),
        ("实交金额（单位：元）", "去掉单位后匹配"),
        ("实交金额 单位：元", "去掉单位后匹配"),
        ("实交金额【必填】", "去掉单位后匹配"),
        ("*实交金额", "标准列名"),
        ("实交金额*", "标准列名"),
        ("实 交 金 额", "标准列名"),
        ("缴费金额（元）", "去掉单位后匹配"),
        ("缴费金额", "别名"),
    ],
)
def test_header_decorations_and_how_they_were_read(tmp_path: Path, header: str, how: str):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    write_csv(tmp_path / "dues.csv", [["党员编号", "所属月份", "应交金额（元/月）", header], ["M001", "2019-01", "5", "5"]])
    result = ingest(tmp_path)
    assert result.tables["dues"]["amount_paid"].to_list() == [5.0]
    [source] = [s for s in result.sources if s.file == "dues.csv"]
    assert source.header_row == 1
    assert source.columns[2] == ColumnMap("应交金额（元/月）", "amount_due", "去掉单位后匹配")
    assert source.columns[3] == ColumnMap(header.strip(), "amount_paid", how)


def test_strip_unit_forms():
    assert strip_unit(normalize_header("月收入基数（元/月）")) == "月收入基数"
    assert strip_unit(normalize_header("应到人数（人）")) == "应到人数"
    assert strip_unit(normalize_header("时长（分钟）")) == "时长"
    assert strip_unit(normalize_header("金额，单位：元")) == "金额"
    assert strip_unit(normalize_header("（必填）姓名：")) == "姓名"


# --- the university meeting template, end to end -----------------------------------------------

TEMPLATE = REAL_HEADERS["meetings"][0].split(" | ")


def _template_row(**cells: object) -> list[object]:
    return [cells.get(h) for h in TEMPLATE]


def test_meeting_template_every_column_typed_and_kept(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    header = ["活动编号", *TEMPLATE]
    row = {
        "所在分党委编码": "F01",
        "所在分党委": "机关党委",
        "所在党支部编码": "B01",
        "所在党支部": "联兴集团党支部",
        "会议类型": "支部委员会",
        "主持人学工号": "20010001",
        "主持人姓名": "张伟",
        "记录人学工号": "20010002",
        "记录人姓名": "李娜",
        "会议名称": "三月支委会",
        "计划会议时间": "2019/2/1  09:00",
        "实际会议时间": "2019/2/3  14:30",
        "会议地点": "党员活动室",
        "应到人数": "5",
        "实到人数": "4",
        "请假人数": "1",
        "列席人员": "王五（团委）",
        "会议议题": "研究发展对象",
        "会议内容": "讨论确定发展对象",
        "会议决议": "同意",
    }
    path = tmp_path / "三会一课.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "三会一课"
    sheet.append(header)
    sheet.append(["HD1", *_template_row(**row)])
    sheet.append(["HD2", *_template_row(**{**row, "实际会议时间": 43499.6, "列席人员": "—", "会议决议": "无"})])
    book.save(path)
    result = ingest(tmp_path)
    [source] = [s for s in result.sources if s.table == "meetings"]
    assert (source.rows_read, source.rows_accepted, source.rows_quarantined, source.rows_skipped) == (2, 2, 0, 0)
    assert all(c.column is not None for c in source.columns), source.columns
    meetings = result.tables["meetings"].sort("meeting_id")
    first = meetings.row(0, named=True)
    assert first["held_on"] == dt.date(2019, 2, 3) and first["planned_on"] == dt.date(2019, 2, 1)
    assert (first["meeting_type"], first["branch_id"], first["host"], first["recorder"]) == ("支部委员会", "B01", "张伟", "李娜")
    assert (first["title"], first["topic"], first["content"], first["resolution"]) == (
        "三月支委会",
        "研究发展对象",
        "讨论确定发展对象",
        "同意",
    )
    assert (first["observers"], first["location"], first["branch_name"], first["parent_org_code"]) == (
        "王五(团委)",
        "党员活动室",
        "联兴集团党支部",
        "F01",
    )
    assert (first["expected_count"], first["present_count"], first["leave_count"]) == (5, 4, 1)
    assert (first["host_personnel_no"], first["recorder_personnel_no"]) == ("20010001", "20010002")
    second = meetings.row(1, named=True)
    assert second["held_on"] == dt.date(2019, 2, 3)  # an Excel serial with a time of day keeps its date
    assert second["observers"] is None and second["resolution"] is None  # `—`, `无`: blank
    assert result.problems == []


def test_template_without_our_ids_is_read_with_a_derived_meeting_id(tmp_path: Path):
    """Real exports II: a template without 活动编号 is read, the meeting keyed from its branch, type,
    date and topic (audit.meetings), with notices only."""
    row = _template_row(所在党支部编码="B01", 会议类型="党课", 实际会议时间="2019-03-01")
    write_csv(tmp_path / "三会一课.csv", [TEMPLATE, row])
    result = ingest(tmp_path)
    assert result.tables["meetings"]["meeting_id"].item().startswith("B01-20190301-DK-")
    assert {p.reason for p in result.problems} == {Reason.BRANCH_CREATED, Reason.MEETING_ID_DERIVED}
    assert {p.action for p in result.problems} == {Action.NOTE}
    [source] = result.sources
    assert [c.column for c in source.columns] == [contract().tables["meetings"].column_for(h) for h in TEMPLATE]
    assert None not in [c.column for c in source.columns]


# --- value-aware headers -------------------------------------------------------------------------

ROSTER = ["党员编号", "姓名", "所在党支部编码", "入党时间"]


@pytest.mark.parametrize(
    ("extra_headers", "values", "member_types", "how"),
    [
        (["人员类别"], [["正式党员"], ["预备"]], ["正式党员", "预备党员"], "按取值判定（取值「正式党员」、「预备」是党员类别）"),
        (
            ["人员类别", "党籍状态"],
            [["普通编制", "正式党员"], ["校聘", "预备党员"]],
            ["正式党员", "预备党员"],
            "按取值判定（已有「党籍状态」作党员类别，读作编制类别）",
        ),
        (
            ["党籍状态", "人员类别"],
            [["正", "正式党员"], ["预", "预备党员"]],
            ["正式党员", "预备党员"],
            "按取值判定（已有「党籍状态」作党员类别，读作编制类别）",
        ),
    ],
)
def test_person_category_is_member_type_only_when_its_values_fit(tmp_path: Path, extra_headers, values, member_types, how):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    rows = [["M001", "张伟", "B01", "2005-07-01"], ["M002", "李娜", "B01", "2018-11-09"]]
    write_csv(tmp_path / "members.csv", [[*ROSTER, *extra_headers], *[r + v for r, v in zip(rows, values, strict=True)]])
    result = ingest(tmp_path)
    assert result.problems == []
    assert result.tables["members"].sort("member_id")["member_type"].to_list() == member_types
    [source] = [s for s in result.sources if s.table == "members"]
    [category] = [c for c in source.columns if c.source_header == "人员类别"]
    assert category.how == how
    if "党籍状态" in extra_headers:
        assert category.column == "staff_category"
        staff = result.tables["members"].sort("member_id")["staff_category"].to_list()
        assert staff == [v[extra_headers.index("人员类别")] for v in values]


def test_person_category_of_staffing_alone_leaves_member_type_missing(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", [[*ROSTER, "人员类别"], ["M001", "张伟", "B01", "2005-07-01", "普通编制"]])
    result = ingest(tmp_path)
    [problem] = result.problems
    assert problem.message == "缺少必填列「党员类别」（member_type），本表 1 行均未导入"
    [source] = [s for s in result.sources if s.table == "members"]
    assert source.columns[-1] == ColumnMap(
        "人员类别", "staff_category", "按取值判定（取值「普通编制」不是党员类别，读作编制类别）"
    )


def test_roster_keyed_by_personnel_number_is_keyed_by_it(tmp_path: Path):
    """Real exports II (identity): a roster without 党员编号 is keyed by its 工作证号, no longer refused;
    its branch, missing from the (absent) branch list, is created with a notice."""
    header = ["工作证号", "姓名", "所在党支部编码", "党籍状态", "入党时间"]
    write_csv(tmp_path / "党员花名册.csv", [header, ["20010001", "张伟", "B01", "正式党员", "2005-07-01"]])
    result = ingest(tmp_path)
    assert result.tables["members"]["member_id"].to_list() == ["20010001"]
    [problem] = result.problems
    assert (problem.reason, problem.action) == (Reason.BRANCH_CREATED, Action.NOTE)


# --- value forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2019/2/3  14:30", dt.date(2019, 2, 3)),
        ("2019-02-03T14:30:00", dt.date(2019, 2, 3)),
        ("2019年2月3日 14:30", dt.date(2019, 2, 3)),
        ("2019年2月3日14时30分", dt.date(2019, 2, 3)),
        (dt.datetime(2019, 2, 3, 14, 30), dt.date(2019, 2, 3)),
        (43499.6, dt.date(2019, 2, 3)),
        ("43499.604", dt.date(2019, 2, 3)),
    ],
)
def test_date_times_keep_their_date(raw, value):
    parsed = parse_date(raw)
    assert parsed.value == value and parsed.precision == ""


@pytest.mark.parametrize(
    ("raw", "value", "precision"),
    [
        ("2005.07", dt.date(2005, 7, 1), "month"),
        ("2005年7月", dt.date(2005, 7, 1), "month"),
        ("198001", dt.date(1980, 1, 1), "month"),
        (198001, dt.date(1980, 1, 1), "month"),
        (2005.07, dt.date(2005, 7, 1), "month"),
        (2005.12, dt.date(2005, 12, 1), "month"),
        ("2005-7", dt.date(2005, 7, 1), "month"),
        ("2005-07-15", dt.date(2005, 7, 15), ""),
        ("2005.7.15", dt.date(2005, 7, 15), ""),
    ],
)
def test_membership_dates_may_be_given_to_the_month(raw, value, precision):
    parsed = parse_history_date(raw)
    assert (parsed.value, parsed.precision) == (value, precision)
    assert not parse_date(raw).ok or precision == ""  # where a day is needed, a month is not a date


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (2005.1, Reason.AMBIGUOUS_MONTH),
        ("2005.13", Reason.BAD_DATE),
        ("2005", Reason.UNPARSED_DATE),
        ("去年", Reason.UNPARSED_DATE),
    ],
)
def test_membership_dates_that_cannot_be_read(raw, reason):
    assert parse_history_date(raw).reason is reason


@pytest.mark.parametrize(
    ("raw", "value"), [("1%", 0.01), ("0.5%", 0.005), ("１％", 0.01), ("5‰", 0.005), (0.02, 0.02), ("0.03", 0.03)]
)
def test_rates(raw, value):
    assert parse_rate(raw).value == pytest.approx(value)


@pytest.mark.parametrize("raw", ["2", 1, "百分之一", "150%", "-1%", True])
def test_rates_refused(raw):
    assert parse_rate(raw).reason is Reason.NOT_A_RATE


def _roster_book(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "党员花名册"
    for row in [
        ["联兴集团党支部党员花名册"],
        [
            "*党员编号",
            "姓名",
            "所在党支部编码",
            "预/正",
            "入党时间",
            "转正时间",
            "出生年月",
            "月收入基数\n（元/月）",
            "民族",
            "手机",
            "证件号码",
        ],
        ["M001", "张伟", "B01", "正", "2005.07", "2006年7月", "198001", "6500", "汉族", "13812345678", "11010519491231002X"],
        ["M002", "李娜", "B01", "预", "2018/11/9 14:30", "无", "1990-03", "/", "-", "—", "无"],
        ["M003", "王强", "B02", "正式", 43413.6, "", "", "", "／", "", ""],
    ]:
        sheet.append(row)
    book.save(path)


def test_roster_value_forms(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    _roster_book(tmp_path / "党员名册.xlsx")
    result = ingest(tmp_path)
    assert result.problems == []
    m = result.tables["members"].sort("member_id")
    assert m["member_type"].to_list() == ["正式党员", "预备党员", "正式党员"]
    assert m["joined_on"].to_list() == [dt.date(2005, 7, 1), dt.date(2018, 11, 9), dt.date(2018, 11, 9)]
    assert m["joined_on_precision"].to_list() == ["month", None, None]
    assert m["full_member_on"].to_list() == [dt.date(2006, 7, 1), None, None]
    assert m["full_member_on_precision"].to_list() == ["month", None, None]
    assert m["birth_date"].to_list() == [dt.date(1980, 1, 1), dt.date(1990, 3, 1), None]
    assert m["birth_date_precision"].to_list() == ["month", "month", None]
    assert m["income_base"].to_list() == [6500.0, None, None]
    assert m["ethnicity"].to_list() == ["汉族", None, None]
    assert m["phone"].to_list() == ["138****5678", None, None]
    assert m["id_number_status"].to_list() == ["ok", "missing", "missing"]
    assert m["_row"].to_list() == [3, 4, 5]


def test_placeholders_blank_an_optional_column_and_fail_a_required_one(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    header = ["活动编号", "支部编号", "活动类型", "活动日期", "主题", "应到人数", "是否有会议记录"]
    write_csv(
        tmp_path / "meetings.csv",
        [header, ["HD1", "B01", "党课", "2019-01-15", "无", "-", "无"], ["HD2", "B01", "党课", "—", "学习", "3", "有"]],
    )
    result = ingest(tmp_path)
    [problem] = result.problems
    assert (problem.row, problem.column, problem.value, problem.reason, problem.action) == (
        3,
        "活动日期",
        "—",
        Reason.REQUIRED_BLANK,
        Action.ROW,
    )
    meeting = result.tables["meetings"].row(0, named=True)
    assert (meeting["topic"], meeting["expected_count"], meeting["has_minutes"]) == (None, None, False)  # 无 = no


def test_rate_column_in_dues(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    header = ["党员编号", "交费月份", "缴存基数", "交纳党费比例", "应缴党费", "缴费金额"]
    rows = [["M001", "2019-01", "3000", "0.5%", "15", "15"], ["M002", "2019-01", "6000", "1%", "60", "60"]]
    write_csv(tmp_path / "dues.csv", [header, *rows, ["M003", "2019-01", "9000", "2", "180", "180"]])
    result = ingest(tmp_path)
    dues = result.tables["dues"].sort("member_id")
    assert dues["rate"].to_list() == [0.005, 0.01, None]
    assert dues["base"].to_list() == [3000.0, 6000.0, 9000.0]
    assert dues["amount_due"].to_list() == [15.0, 60.0, 180.0]
    [problem] = result.problems
    assert (problem.row, problem.reason, problem.action) == (4, Reason.NOT_A_RATE, Action.VALUE)
    assert problem.message == "无法识别的比例「2」（可用：1%、0.5%、5‰、0.01）"


# --- rows that are not data ----------------------------------------------------------------------

DUES_HEADER = [
    "序号",
    "党员编号",
    "所属月份",
    "应交金额（元）",
    "实交金额（元）",
    "交纳日期",
    "收缴人",
    "备注",
    "缴费类型",
    "学工号",
    "姓名",
    "所属党支部",
]


def _dues_template(path: Path) -> None:
    """A 党费 template: title, header, two instruction rows, data, a notes block merged over C6:L19
    inside the data, more data (one bad), a blank row, footers."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "党费收缴"
    rows = {
        1: ["2019年党费收缴明细表"],
        2: DUES_HEADER,
        3: ["", "必填", "必填，格式2019-01", "必填", "必填", "选填", "选填", "选填", "下拉选择"],
        4: ["", "请填写党员编号"],
        5: [1, "M001", "2019-01", "97.5", "97.5", "2019-01-05", "李娜"],
        6: ["", "", "注意事项：1. 党员编号须与系统一致；2. 金额保留两位小数"],
        20: [2, "M002", "2019-01", "15", "15", "2019-01-06", "李娜"],
        21: [3, "M003", "2019-01", "24", "-5"],  # a real bad row: quarantined, not skipped
        23: ["合计", None, None, "136.5", "107.5"],  # row 22 is blank: not read
        24: ["制表人：李娜", None, None, None, "审核人：张伟", None, "填表日期：2019年2月1日"],
    }
    for number, cells in rows.items():
        for column, value in enumerate(cells, start=1):
            if value not in (None, ""):
                sheet.cell(row=number, column=column, value=value)
    sheet.merge_cells("A1:L1")
    sheet.merge_cells("C6:L19")
    book.save(path)


def test_template_rows_notes_and_footers_are_skipped_with_reasons(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    _dues_template(tmp_path / "党费收缴.xlsx")
    result = ingest(tmp_path)
    [source] = [s for s in result.sources if s.table == "dues"]
    assert (source.rows_read, source.rows_accepted, source.rows_quarantined, source.rows_skipped) == (8, 2, 1, 5)
    assert source.rows_read == source.rows_accepted + source.rows_quarantined + source.rows_skipped
    assert source.header_row == 2
    found = [(p.row, p.reason.name, p.action.value) for p in result.problems if p.file == "党费收缴.xlsx"]
    assert found == [
        (3, "SKIP_INSTRUCTION", "跳过（非数据行）"),
        (4, "SKIP_INSTRUCTION", "跳过（非数据行）"),
        (6, "SKIP_NOTES", "跳过（非数据行）"),
        (21, "NEGATIVE_AMOUNT", "整行隔离"),
        (23, "SKIP_FOOTER", "跳过（非数据行）"),
        (24, "SKIP_FOOTER", "跳过（非数据行）"),
    ]
    notes = next(p for p in result.problems if p.row == 6)
    assert notes.message == "注意事项或说明「注意事项:1. 党员编号须与系统一致;2. 金额保留两位小数」，不是数据，已跳过"
    dues = result.tables["dues"].sort("_row")
    assert dues["member_id"].to_list() == ["M001", "M002"] and dues["_row"].to_list() == [5, 20]
    assert dues["payment_type"].to_list() == [None, None] and "序号" not in dues.columns


def test_skipped_rows_in_the_report_files_and_not_in_the_problem_count(tmp_path: Path):
    batch = tmp_path / "batch"
    write_csv(batch / "branches.csv", BRANCH_ROWS)
    write_csv(batch / "members.csv", MEMBERS)
    _dues_template(batch / "党费收缴.xlsx")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "audit.cli", "ingest", str(batch), "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    report = pl.read_csv(out / "ingest_report.csv").filter(pl.col("table") == "dues")
    assert report.select("rows_read", "rows_accepted", "rows_quarantined", "rows_skipped").row(0) == (8, 2, 1, 5)
    quarantine = pl.read_csv(out / "quarantine.csv")
    skipped = quarantine.filter(pl.col("action") == "跳过（非数据行）")
    assert skipped["row"].to_list() == [3, 4, 6, 23, 24]
    assert "非数据行 5 行" in proc.stdout and "数据问题 1 条" in proc.stdout


def test_notes_lines_in_a_csv_and_a_subtotal(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    rows = [
        ["党员编号", "所属月份", "应交金额", "实交金额"],
        ["M001", "2019-01", "5", "5"],
        ["填写注意事项："],
        ["1、党员编号须与系统一致"],
        ["2、金额单位为元"],
        ["M002", "2019-01", "5", "5"],
        ["导入说明：请勿修改表头"],
        ["M003"],  # a broken data row after a notes block: not two cells, read as notes
        ["小计", "", "10", "10"],
    ]
    write_csv(tmp_path / "dues.csv", rows)
    result = ingest(tmp_path)
    [source] = [s for s in result.sources if s.table == "dues"]
    assert (source.rows_read, source.rows_accepted, source.rows_quarantined, source.rows_skipped) == (8, 2, 0, 6)
    codes = [(p.row, p.reason.name) for p in result.problems]
    assert codes == [
        (3, "SKIP_NOTES"),
        (4, "SKIP_NOTES"),
        (5, "SKIP_NOTES"),
        (7, "SKIP_NOTES"),
        (8, "SKIP_NOTES"),
        (9, "SKIP_FOOTER"),
    ]


def test_merged_heading_spanning_the_columns_inside_the_data(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "党费收缴"
    for row in [
        ["党员编号", "所属月份", "应交金额", "实交金额"],
        ["第一党小组"],
        ["M001", "2019-01", "5", "5"],
        ["M002", "2019-01", "5", "5"],
    ]:
        sheet.append(row)
    sheet.merge_cells("A2:D2")
    book.save(tmp_path / "dues.xlsx")
    result = ingest(tmp_path)
    [source] = [s for s in result.sources if s.table == "dues"]
    assert (source.rows_read, source.rows_accepted, source.rows_skipped) == (3, 2, 1)
    [problem] = result.problems
    assert problem.message == "跨列合并单元格 A2:D2「第一党小组」（说明或分组标题），不是数据，已跳过"


def test_a_data_row_that_merely_starts_like_a_word_is_data(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    header = ["党员编号", "活动编号", "出勤情况", "请假事由"]
    write_csv(tmp_path / "meetings.csv", [["活动编号", "支部编号", "活动类型", "活动日期"], ["HD1", "B01", "党课", "2019-01-15"]])
    write_csv(tmp_path / "attendance.csv", [header, ["M001", "HD1", "请假", "请假照顾家人"], ["M002", "HD1", "出席", "无"]])
    result = ingest(tmp_path)
    assert result.problems == []
    assert result.tables["attendance"]["reason"].to_list() == ["请假照顾家人", None]


# --- the transfer register -----------------------------------------------------------------------


def _register_book(path: Path) -> None:
    book = openpyxl.Workbook()
    out = book.active
    out.title = "组织关系转出"
    out.append(
        [
            "学工号",
            "党员编号",
            "姓名",
            "类别",
            "转入单位",
            "转出单位",
            "党费缴纳至年月",
            "介绍信有效期天数",
            "办理时间",
            "是否有回执",
        ]
    )
    out.append(["20010003", "M003", "王强", "省内", "某大学党委", "联兴集团党支部", "2019.04", "30", "2019/5/20 10:00", "是"])
    out.append(["20010002", "M002", "李娜", "省外", "某公司党委", "联兴集团党支部", "2019.06", "30", "2019-06-15", "否"])
    out.append(["20010001", "M001", "张伟", "省内", "某局党委", "联兴集团党支部", "2019.03", "30", "2019-04-02", "是"])
    incoming = book.create_sheet("转接登记")
    incoming.append(["党员编号", "姓名", "转入党委", "转入党支部", "转入办理时间"])
    incoming.append(["M001", "张伟", "新华街道党工委", "联兴集团党支部", "2018-03-01"])
    book.save(path)


def test_transfer_register_gives_transfer_dates_the_roster_lacks(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    header = [*MEMBERS[0], "转出日期"]
    write_csv(
        tmp_path / "members.csv",
        [header, [*MEMBERS[1], "2019-04-01"], [*MEMBERS[2], ""], [*MEMBERS[3], "2019.05"]],
    )
    _register_book(tmp_path / "组织关系转接.xlsx")
    result = ingest(tmp_path)
    members = result.tables["members"].sort("member_id")
    # M001: the roster's date wins over the register's; M002: filled; M003: the month refined to the day
    assert members["transferred_out_on"].to_list() == [dt.date(2019, 4, 1), dt.date(2019, 6, 15), dt.date(2019, 5, 20)]
    assert members["transferred_out_on_precision"].to_list() == [None, None, None]
    assert members["transferred_in_on"].to_list() == [dt.date(2018, 3, 1), None, None]
    [note] = result.problems
    assert (note.file, note.sheet, note.row, note.column, note.action) == (
        "组织关系转接.xlsx",
        "组织关系转出",
        4,
        "办理时间",
        Action.NOTE,
    )
    assert note.message == (
        "组织关系转接登记的转出办理时间 2019-04-02 与党员名册的转出日期 2019-04-01（members.csv 第2行）不一致，以党员名册为准"
    )
    register = result.tables["transfers"].sort("member_id", "direction")
    assert register.select("member_id", "direction").rows() == [
        ("M001", "转入"),
        ("M001", "转出"),
        ("M002", "转出"),
        ("M003", "转出"),
    ]
    assert register["dues_paid_until"].to_list() == [None, dt.date(2019, 3, 1), dt.date(2019, 6, 1), dt.date(2019, 4, 1)]
    hows = {(s.sheet, c.how) for s in result.sources if s.table == "transfers" for c in s.columns if c.column == "direction"}
    assert hows == {("组织关系转出", "取自工作表名"), ("转接登记", "取自表头「转入办理时间」")}


def test_register_direction_default_and_column(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    write_csv(tmp_path / "members.csv", MEMBERS)
    write_csv(tmp_path / "关系转接.csv", [["党员编号", "办理时间"], ["M001", "2019-05-01"]])
    write_csv(tmp_path / "转接登记.csv", [["党员编号", "转接方向", "办理时间"], ["M002", "组织关系转入", "2019-01-10"]])
    result = ingest(tmp_path)
    assert result.tables["members"].sort("member_id")["transferred_out_on"].to_list() == [dt.date(2019, 5, 1), None, None]
    assert result.tables["members"].sort("member_id")["transferred_in_on"].to_list() == [None, dt.date(2019, 1, 10), None]
    [plain] = [s for s in result.sources if s.file == "关系转接.csv"]
    assert plain.columns[-1] == ColumnMap("转出", "direction", "未注明，按默认值「转出」")


def test_register_keyed_by_personnel_number_without_a_roster_names_what_is_missing(tmp_path: Path):
    """Real exports II (identity): the 学工号 stands in for 党员编号, but with no roster to link to
    the row is quarantined saying so, instead of the whole sheet being refused."""
    header = REAL_HEADERS["transfers"][0].split(" | ")
    write_csv(
        tmp_path / "组织关系转出.csv",
        [header, ["20010003", "王强", "省内", "某大学", "本支部", "2019.04", "30", "2019-05-20", "是"]],
    )
    result = ingest(tmp_path)
    [problem] = result.problems
    assert (problem.reason, problem.action, problem.column, problem.value) == (
        Reason.MEMBER_NO_SHARED_KEY,
        Action.ROW,
        "学工号",
        "20010003",
    )
    assert (
        problem.message == "本行的学工号、姓名在党员名册中都没有对应的列（名册有：批次中没有可用的党员名册），无法确定是哪名党员"
    )
    [source] = result.sources
    assert (source.rows_read, source.rows_accepted, source.rows_quarantined) == (1, 0, 1)
    assert None not in [c.column for c in source.columns]


# --- the interfaces other parts use: fixed values, long-form rows -----------------------------------


def _ingest_sheet(
    table: str, rows: list[tuple[int, list[object]]], **fields: object
) -> tuple[SourceStats, list, pl.DataFrame | None]:
    sheet = RawSheet("评议.xlsx", "Sheet1", "Sheet1", "评议", rows, **fields)
    stats, problems = SourceStats(sheet.file, sheet.sheet, table), []
    frame = _SheetIngester(contract().tables[table], sheet, stats, problems).run()
    return stats, problems, frame


def test_fixed_value_is_a_column_of_every_row_and_a_header_wins():
    rows = [(1, ["党员编号", "评议结果"]), (2, ["M001", "合格"]), (3, ["M002", "优秀"])]
    stats, problems, frame = _ingest_sheet("evaluations", rows, fixed={"year": (2019, "取自文件名")})
    assert problems == [] and frame is not None
    assert frame["year"].to_list() == [2019, 2019]
    assert stats.columns[-1] == ColumnMap("2019", "year", "取自文件名")
    with_header = [(1, ["年度", "党员编号", "评议结果"]), (2, ["2018", "M001", "合格"])]
    stats, _, frame = _ingest_sheet("evaluations", with_header, fixed={"year": (2019, "取自文件名")})
    assert frame is not None and frame["year"].to_list() == [2018]
    assert [c.how for c in stats.columns] == ["标准列名", "标准列名", "别名"]


def test_rows_sharing_a_source_row_are_counted_once():
    rows = [
        (1, ["年度", "党员编号", "评议结果"]),
        (2, ["2019", "M001", "合格"]),
        (2, ["2018", "M001", "优秀"]),
        (3, ["2019", "M002", "合格"]),
        (3, ["2018", "M002", "茶话会"]),  # one bad long row: its whole source row is quarantined
        (4, ["合计", "", ""]),
        (4, ["合计", "", ""]),
    ]
    stats, problems, frame = _ingest_sheet("evaluations", rows)
    assert (stats.rows_read, stats.rows_accepted, stats.rows_quarantined, stats.rows_skipped) == (3, 1, 1, 1)
    assert frame is not None and frame["_row"].to_list() == [2, 2]
    assert [(p.row, p.reason.name, p.action) for p in problems] == [
        (4, "SKIP_FOOTER", Action.SKIP),
        (3, "UNKNOWN_ENUM", Action.ROW),
    ]


def test_theme_day_template_without_a_type_column(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCH_ROWS)
    header = ["活动编号", "支部编号", "活动名称", "实际时间", "活动地点", "活动主题", "主要内容及特色", "应到人数", "实到人数"]
    rows = [
        ["HD1", "B01", "3月主题党日活动", "2019-03-15", "活动室", "重温入党誓词", "参观", "5", "5"],
        ["HD2", "B01", "支部委员会会议", "2019-03-02", "", "", "", "3", "3"],
        ["HD3", "B01", "重温誓词", "2019-03-20", "", "", "", "", ""],
    ]
    write_csv(tmp_path / "活动记录.csv", [header, *rows])  # the type, row by row, out of 活动名称
    book = openpyxl.Workbook()
    book.active.title = "主题党日"  # the template's own type, from the sheet name
    for row in [header, ["HD4", "B02", "学习", "2019-04-15", "", "", "", "", ""]]:
        book.active.append(row)
    book.save(tmp_path / "2019年台账.xlsx")
    result = ingest(tmp_path)
    meetings = result.tables["meetings"].sort("meeting_id")
    assert meetings.select("meeting_id", "meeting_type").rows() == [
        ("HD1", "主题党日"),
        ("HD2", "支部委员会"),
        ("HD4", "主题党日"),
    ]
    assert meetings["topic"].to_list() == ["重温入党誓词", None, None] and meetings["content"].to_list() == ["参观", None, None]
    [problem] = result.problems
    assert (problem.file, problem.row, problem.column, problem.reason) == ("活动记录.csv", 4, "活动名称", Reason.UNKNOWN_ENUM)
    hows = {s.file: [c for c in s.columns if c.column == "meeting_type"] for s in result.sources if s.table == "meetings"}
    assert hows == {
        "活动记录.csv": [ColumnMap("活动名称", "meeting_type", "按取值判定（从「活动名称」中读出活动类型）")],
        "2019年台账.xlsx": [ColumnMap("主题党日", "meeting_type", "取自工作表名")],
    }
