"""Layouts on raw sheets: wide month columns and month ranges into one row per month; the year
from a year column, the mapping file, the title row, the sheet name or the file name."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from audit.contract import load_contract
from audit.layouts import (
    LayoutColumn,
    Unresolved,
    YearHint,
    find_year,
    implied_columns,
    month_header,
    reshape,
    year_in,
)
from audit.readers import RawSheet
from audit.reasons import Reason

DUES = load_contract().tables["dues"]
POINTS = load_contract().tables["points"]


def sheet(rows: list[list[Any]], file: str = "党费.xlsx", name: str = "Sheet1", first: int = 1) -> RawSheet:
    stem = file.rsplit(".", 1)[0]
    return RawSheet(file, name, name or stem, stem, [(first + i, list(r)) for i, r in enumerate(rows)])


def body(reshaped) -> list[tuple[int, list[Any]]]:
    rows = reshaped.sheet.rows
    header = next(i for i, (_, cells) in enumerate(rows) if "所属月份" in cells or "积分月份" in cells)
    return rows[header + 1 :]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("1月", (None, 1)),
        ("01月", (None, 1)),
        ("3月份", (None, 3)),
        ("十二月", (None, 12)),
        ("十月", (None, 10)),
        ("1月\n（元）", (None, 1)),
        ("*2月", (None, 2)),
        ("2019年3月", (2019, 3)),
        ("2019.03", (2019, 3)),
        ("2019-11", (2019, 11)),
        ("13月", None),
        ("月份", None),
        ("所属月份", None),
        ("2019年", None),
        ("实交金额", None),
    ],
)
def test_month_headers(cell: str, expected):
    assert month_header(cell) == expected


def test_year_in_text():
    assert year_in("2019年度党费收缴明细") == 2019
    assert year_in("联兴集团党支部_党费收缴_2019") == 2019
    assert year_in("2018年7月至2019年6月党费") is None  # two years: says nothing
    assert year_in("党费_201901") is None  # a month number, not a year
    assert year_in("第3季度") is None


def test_wide_dues_with_the_year_only_in_the_title():
    raw = sheet(
        [
            ["2019年度党费收缴明细表"],
            ["党员编号", "姓名", "应交金额（元）", "1月", "2月", "3月"],
            ["M001", "张伟", "20", "20", "20", None],
            [None, None, None, None, None, None],
            ["M002", "李娜", "15", "15", None, "15", "多余"],
        ]
    )
    out = reshape(DUES, raw, 1)
    assert out.layout == "wide"
    assert out.sheet.rows[0] == (1, ["2019年度党费收缴明细表"])  # the title row stays where it was
    assert out.sheet.rows[1] == (2, ["党员编号", "姓名", "应交金额（元）", "所属月份", "实交金额"])
    assert body(out) == [
        (3, ["M001", "张伟", "20", "2019-01", "20"]),
        (3, ["M001", "张伟", "20", "2019-02", "20"]),
        (3, ["M001", "张伟", "20", "2019-03", None]),  # blank paid: unpaid, as everywhere in dues
        (4, [None, None, None, None, None, None]),  # a blank row stays one blank row
        (5, ["M002", "李娜", "15", "2019-01", "15", "多余"]),  # the extra cell stays past the header
        (5, ["M002", "李娜", "15", "2019-02", None, "多余"]),
        (5, ["M002", "李娜", "15", "2019-03", "15", "多余"]),
    ]
    assert out.columns == [
        LayoutColumn("1月", "amount_paid", "宽表月份列"),
        LayoutColumn("2月", "amount_paid", "宽表月份列"),
        LayoutColumn("3月", "amount_paid", "宽表月份列"),
        LayoutColumn("2019年度党费收缴明细表", "month", "取自标题"),
    ]
    assert set(out.generated) == {"所属月份", "实交金额"}


def test_wide_year_column_wins_and_is_checked_per_row():
    raw = sheet(
        [
            ["2018年党费"],
            ["党员编号", "缴费年度", "应交金额", "1月", "2月"],
            ["M001", "2019", "20", "20", "20"],
            ["M002", "", "20", "20", "20"],
            ["M003", "去年", "20", "20", "20"],
        ]
    )
    out = reshape(DUES, raw, 1)
    assert out.sheet.rows[1][1] == ["党员编号", "应交金额", "所属月份", "实交金额"]  # the year column is used up
    months = [cells[2] for _, cells in body(out)]
    assert months[:4] == ["2019-01", "2019-02", "2018-01", "2018-02"]  # a blank year cell: the title's year
    assert months[4] == Unresolved(Reason.BAD_YEAR, "去年", label="缴费年度", value="去年")
    assert LayoutColumn("缴费年度", "month", "年份列") in out.columns


def test_wide_year_from_mapping_sheet_name_file_name_or_nowhere():
    rows = [["党员编号", "应交金额", "1月", "2月"], ["M001", "20", "20", "20"]]
    hint = YearHint(2017, "映射文件", "映射文件第 3 行")
    assert body(reshape(DUES, sheet([["2019年度"], *rows]), 1, hint))[0][1][2] == "2017-01"
    by_sheet = reshape(DUES, sheet(rows, name="2018年"), 0)
    assert body(by_sheet)[0][1][2] == "2018-01" and LayoutColumn("2018年", "month", "取自工作表名") in by_sheet.columns
    by_file = reshape(DUES, sheet(rows, file="sub/党费_2016.xlsx"), 0)
    assert body(by_file)[0][1][2] == "2016-01"
    assert LayoutColumn("党费_2016.xlsx", "month", "取自文件名") in by_file.columns
    nowhere = reshape(DUES, sheet(rows, file="党费[1].xlsx"), 0)
    cell = body(nowhere)[0][1][2]
    assert isinstance(cell, Unresolved) and cell.reason is Reason.YEAR_NOT_FOUND
    assert 'file: "党费[[]1].xlsx"' in cell.reason.render(**cell.context)  # a pattern matching only that file
    assert LayoutColumn("", "month", "未找到年份") in nowhere.columns


def test_wide_headers_naming_the_year_need_no_other_year():
    raw = sheet([["党员编号", "应交金额", "2018年12月", "2019年1月"], ["M001", "20", "20", "20"]], file="党费.xlsx")
    out = reshape(DUES, raw, 0)
    assert [cells[2] for _, cells in body(out)] == ["2018-12", "2019-01"]
    assert all(c.how != "未找到年份" for c in out.columns)


def test_wide_paid_column_beside_months_is_the_monthly_due_unless_a_total():
    raw = sheet([["2019年"], ["党员编号", "核算基数（元）", "缴费金额（元）", "1月", "2月"], ["M001", "5000", "25", "25", "25"]])
    out = reshape(DUES, raw, 1)
    assert out.sheet.rows[1][1] == ["党员编号", "核算基数（元）", "应交金额", "所属月份", "实交金额"]
    assert LayoutColumn("缴费金额（元）", "amount_due", "宽表中视为每月应交") in out.columns
    total = sheet([["2019年"], ["党员编号", "应交金额", "实交金额合计", "1月", "2月"], ["M001", "25", "50", "25", "25"]])
    headers = reshape(DUES, total, 1).sheet.rows[1][1]
    assert headers == ["党员编号", "应交金额", "实交金额合计", "所属月份", "实交金额"]  # not a known header: kept as extra
    yearly = sheet([["2019年"], ["党员编号", "实交金额（全年）", "1月", "2月"], ["M001", "50", "25", "25"]])
    out = reshape(DUES, yearly, 1)
    assert out.sheet.rows[1][1] == ["党员编号", "所属月份", "实交金额"]  # a yearly total is never a month's due
    assert LayoutColumn("实交金额（全年）", None, "未使用") in out.columns


def test_wide_points_drop_the_total_column():
    raw = sheet([["2019年度党员积分"], ["党员编号", "姓名", "1月", "2月", "合计"], ["M001", "张伟", "90", "95", "185"]])
    out = reshape(POINTS, raw, 1)
    assert out.sheet.rows[1][1] == ["党员编号", "姓名", "积分月份", "月度积分"]
    assert body(out) == [(3, ["M001", "张伟", "2019-01", "90"]), (3, ["M001", "张伟", "2019-02", "95"])]
    assert LayoutColumn("合计", None, "未使用") in out.columns


def test_a_repeated_month_is_not_a_wide_sheet():
    raw = sheet([["党员编号", "应交金额", "1月", "1月"], ["M001", "20", "20", "20"]])
    assert reshape(DUES, raw, 0).layout == ""


def test_implied_columns_let_the_header_be_found():
    assert implied_columns(DUES, ["姓名", "1月", "2月", "3月"]) == {"month", "amount_paid"}
    assert implied_columns(POINTS, ["姓名", "1月", "2月"]) == {"month", "total_points"}
    assert implied_columns(DUES, ["学工号", "缴费起始月份", "缴费截止月份", "缴费金额"]) == {"month"}
    assert implied_columns(DUES, ["姓名", "1月"]) == set()
    assert implied_columns(load_contract().tables["members"], ["1月", "2月"]) == set()


def test_range_cell_total_split_evenly_to_the_cent():
    raw = sheet(
        [
            ["党员编号", "应交金额", "缴费金额", "缴费起止月份"],
            ["M001", "60", "10", "2019.01-2019.06"],
            ["M002", "10", "10", "2019年1月至3月"],
            ["M003", "10", "10", "2019.05"],
            ["M004", "20", "20", "2019-01-2019-02"],
            ["M005", "20", "20", "2019年11月—2019年12月"],
        ]
    )
    out = reshape(DUES, raw, 0)
    assert out.layout == "range"
    assert out.sheet.rows[0][1] == ["党员编号", "应交金额", "缴费金额", "所属月份"]
    rows = out.sheet.rows[1:]
    m1 = [cells for n, cells in rows if n == 2]
    assert [c[3] for c in m1] == ["2019-01", "2019-02", "2019-03", "2019-04", "2019-05", "2019-06"]
    assert [c[1] for c in m1] == [10.0] * 6 and [c[2] for c in m1] == [1.67, 1.67, 1.67, 1.67, 1.66, 1.66]
    m2 = [cells for n, cells in rows if n == 3]
    assert [c[2] for c in m2] == [3.34, 3.33, 3.33] and round(sum(c[2] for c in m2), 2) == 10.0
    assert [cells for n, cells in rows if n == 4] == [["M003", 10.0, 10.0, "2019-05"]]
    assert [cells[3] for n, cells in rows if n == 5] == ["2019-01", "2019-02"]
    assert [cells[3] for n, cells in rows if n == 6] == ["2019-11", "2019-12"]
    assert LayoutColumn("缴费起止月份", "month", "起止月份展开") in out.columns
    assert out.split == ("应交金额", "缴费金额")  # not marked monthly: totals, both


def test_range_monthly_amount_is_repeated_not_split():
    raw = sheet([["党员编号", "月缴党费", "实交金额", "起止月份"], ["M001", "20", "40", "201901-201902"]])
    rows = reshape(DUES, raw, 0).sheet.rows[1:]
    assert rows == [(2, ["M001", "20", 20.0, "2019-01"]), (2, ["M001", "20", 20.0, "2019-02"])]


def test_start_and_end_columns_with_date_cells():
    raw = sheet(
        [
            ["党员编号", "应交金额", "缴费起始月份", "缴费截止月份", "缴费金额"],
            ["M001", "40", dt.datetime(2018, 11, 1), dt.datetime(2019, 2, 1), "40"],
            ["M002", "10", "2019.03", None, "10"],
            ["M003", "20", "2019-05-15", "2019/6/30", "20"],
        ]
    )
    out = reshape(DUES, raw, 0)
    assert out.sheet.rows[0][1] == ["党员编号", "应交金额", "所属月份", "缴费金额"]
    assert out.sheet.rows[1:] == [
        (2, ["M001", 10.0, "2018-11", 10.0]),
        (2, ["M001", 10.0, "2018-12", 10.0]),
        (2, ["M001", 10.0, "2019-01", 10.0]),
        (2, ["M001", 10.0, "2019-02", 10.0]),
        (3, ["M002", 10.0, "2019-03", 10.0]),  # no end month: that month only
        (4, ["M003", 10.0, "2019-05", 10.0]),  # full dates: their months
        (4, ["M003", 10.0, "2019-06", 10.0]),
    ]
    assert [c.source_header for c in out.columns if c.how == "起止月份展开"] == ["缴费起始月份", "缴费截止月份"]


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("上半年", Reason.BAD_RANGE),
        ("2019.06-2019.01", Reason.RANGE_REVERSED),
        ("1990.01-2019.12", Reason.RANGE_TOO_LONG),
        ("2019.13-2019.14", Reason.BAD_RANGE),
        (None, Reason.REQUIRED_BLANK),
    ],
)
def test_unreadable_ranges_stay_one_row_that_will_be_quarantined(cell, reason):
    raw = sheet([["党员编号", "应交金额", "实交金额", "缴费起止月份"], ["M001", "10", "10", cell]])
    rows = reshape(DUES, raw, 0).sheet.rows[1:]
    assert len(rows) == 1 and rows[0][0] == 2
    assert isinstance(rows[0][1][3], Unresolved) and rows[0][1][3].reason is reason
    rows[0][1][3].reason.render(**rows[0][1][3].context)  # the message renders


def test_range_months_without_a_year_take_the_sheets_year():
    raw = sheet([["2019年补缴"], ["党员编号", "应交金额", "实交金额", "起止月份"], ["M001", "10", "20", "11月-12月"]])
    out = reshape(DUES, raw, 1)
    assert [cells[3] for _, cells in out.sheet.rows[2:]] == ["2019-11", "2019-12"]
    assert LayoutColumn("2019年补缴", "month", "取自标题") in out.columns


def test_find_year_order_title_sheet_file():
    rows = [["民主评议"], ["党员编号", "评议等次"]]
    assert find_year(sheet([["2019年度民主评议"], ["党员编号"]], name="2018", file="2017.xlsx"), 1).how == "取自标题"
    assert find_year(sheet(rows, name="2018年", file="2017.xlsx"), 1).year == 2018
    assert find_year(sheet(rows, name="Sheet1", file="2017年度评议.xlsx"), 1).how == "取自文件名"
    assert find_year(sheet(rows, name="Sheet1", file="评议.xlsx"), 1) is None


def test_sheets_without_a_layout_are_returned_as_they_are():
    raw = sheet([["党员编号", "所属月份", "应交金额", "实交金额"], ["M001", "2019-01", "1", "1"]])
    out = reshape(DUES, raw, 0)
    assert out.sheet is raw and out.columns == [] and out.layout == ""


def test_evaluations_without_a_year_column_take_it_from_title_or_names():
    evaluations = load_contract().tables["evaluations"]
    rows = [["2019年度民主评议结果"], ["党员编号", "评议等次"], ["M001", "合格"]]
    out = reshape(evaluations, sheet(rows, file="评议.xlsx"), 1)
    assert out.sheet.fixed == {"year": (2019, "取自标题")} and out.sheet.rows == sheet(rows).rows
    by_file = reshape(evaluations, sheet(rows[1:], file="2018年度民主评议结果.xlsx"), 0)
    assert by_file.sheet.fixed == {"year": (2018, "取自文件名")}
    nowhere = reshape(evaluations, sheet(rows[1:], file="评议.xlsx"), 0).sheet.fixed["year"]
    assert nowhere[1] == "未找到年份" and nowhere[0].reason is Reason.YEAR_NOT_FOUND
    assert 'file: "评议.xlsx"' in nowhere[0].reason.render(**nowhere[0].context)
    given = sheet(rows[1:], file="评议.xlsx")
    given.fixed["year"] = (2017, "固定值（映射文件）")
    assert reshape(evaluations, given, 0).sheet.fixed == {"year": (2017, "固定值（映射文件）")}  # the mapping's wins
    with_column = [["年度", "党员编号", "评议等次"], ["2016", "M001", "合格"]]
    assert reshape(evaluations, sheet(with_column, file="2019年评议.xlsx"), 0).sheet.fixed == {}
