"""Ingestion on small real files: every supported form, every refusal, rows always conserved."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl
import pytest

from audit.ingest import REPORT_COLUMNS, BatchNotFoundError, ingest, load_tables
from conftest import ATTENDANCE, BRANCHES, DUES, MEETINGS, MEMBERS, write_csv, write_xlsx


def conserved(result) -> None:
    for source in result.sources:
        assert source.rows_read == source.rows_accepted + source.rows_quarantined + source.rows_skipped, source


def codes(result) -> list[tuple[str, int | None, str]]:
    return [(p.file, p.row, p.reason.name) for p in result.problems]


def test_valid_batch_reads_every_form(batch: Path):
    result = ingest(batch)
    conserved(result)
    assert result.problems == []
    t = result.tables
    assert t["branches"].height == 2 and t["members"].height == 3 and t["meetings"].height == 3
    assert t["attendance"].height == 4 and t["dues"].height == 3
    members = t["members"].sort("member_id")
    assert members["joined_on"].to_list() == [dt.date(2005, 7, 1), dt.date(2018, 11, 9), dt.date(2001, 7, 1)]
    assert members["member_type"].to_list() == ["正式党员", "预备党员", "正式党员"]
    assert members["income_base"].to_list() == [6500.0, 3000.0, 4800.0]
    assert members["id_number"][0] == "110105********002X" and members["id_number_status"].to_list() == [
        "ok",
        "missing",
        "missing",
    ]
    assert members["phone"][0] == "138****5678"
    meetings = t["meetings"].sort("meeting_id")
    assert meetings["meeting_type"].to_list() == ["主题党日", "支部委员会", "支部党员大会"]
    assert meetings["held_on"].to_list() == [dt.date(2019, 1, 15), dt.date(2019, 1, 5), dt.date(2019, 2, 20)]
    assert meetings["has_minutes"].to_list() == [True, True, True]
    assert meetings["_row"].to_list() == [3, 4, 5]  # a title row above the header counts
    dues = t["dues"].sort("member_id")
    assert dues["month"].to_list() == [dt.date(2019, 1, 1)] * 3
    assert dues["amount_paid"].to_list() == [97.5, 15.0, 0.0]  # blank paid = unpaid
    assert t["attendance"]["status"].to_list() == ["出席", "请假", "出席", "出席"]
    assert t["members"].schema["joined_on"] == pl.Date and t["meetings"].schema["expected_count"] == pl.Int64


def test_report_columns_and_outputs(batch: Path, tmp_path: Path):
    out = tmp_path / "out"
    ingest(batch).write(out)
    report = pl.read_csv(out / "ingest_report.csv")
    assert report.columns == REPORT_COLUMNS
    assert (out / "ingest_report.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert set(report["table"]) == {"branches", "members", "meetings", "attendance", "dues"}
    tables = load_tables(out)
    assert set(tables) >= {"branches", "members", "dues", "points", "venues"}  # absent tables are empty, typed
    assert tables["points"].height == 0 and tables["points"].schema["month"] == pl.Date


def test_raw_files_are_never_modified(batch: Path, tmp_path: Path):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in batch.iterdir()}
    ingest(batch).write(tmp_path / "out")
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in batch.iterdir()}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_csv_encodings(tmp_path: Path, encoding: str):
    write_csv(tmp_path / "branches.csv", BRANCHES, encoding)
    result = ingest(tmp_path)
    assert result.tables["branches"]["branch_name"].to_list() == ["联兴集团党支部", "运河社区党支部"]


@pytest.mark.parametrize(
    "header",
    ["实交金额(元)", "实交金额（元）", " 实交金额 ", "实交金额（元）*", "ａｍｏｕｎｔ＿ｐａｉｄ", "AMOUNT_PAID", "实缴金额"],
)
def test_header_spellings(tmp_path: Path, header: str):
    write_csv(tmp_path / "members.csv", MEMBERS)
    write_csv(tmp_path / "branches.csv", BRANCHES)
    write_csv(tmp_path / "dues.csv", [["党员编号", "所属月份", "应交金额", header], ["M001", "2019-01", "5", "5"]])
    assert ingest(tmp_path).tables["dues"]["amount_paid"].to_list() == [5.0]


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("党员名册.csv", "members"),
        ("dues.csv", "dues"),
        ("联兴集团党支部_党费收缴_2019.csv", "dues"),
        ("2019_dues_disclosures.csv", "dues_disclosures"),
        ("党费公示.csv", "dues_disclosures"),
        ("三会一课.csv", "meetings"),
        ("发展党员台账.csv", "development"),
        ("residues.csv", None),
    ],
)
def test_table_recognised_by_stem(name: str, table: str | None):
    from audit.contract import load_contract

    assert load_contract().table_for_name(Path(name).stem) == table


def test_sheet_name_wins_and_sheet1_uses_stem(tmp_path: Path):
    write_xlsx(tmp_path / "三会一课台账.xlsx", {"会议活动": MEETINGS, "参会明细": ATTENDANCE, "说明": [["填表说明"]]})
    write_xlsx(tmp_path / "支部名册.xlsx", {"Sheet1": BRANCHES})
    write_xlsx(tmp_path / "新华街道2019.xlsx", {"党员花名册": [["新华街道党员花名册"], [], *MEMBERS]})
    result = ingest(tmp_path)
    conserved(result)
    assert {(s.file, s.sheet, s.table) for s in result.sources} == {
        ("三会一课台账.xlsx", "会议活动", "meetings"),
        ("三会一课台账.xlsx", "参会明细", "attendance"),
        ("支部名册.xlsx", "Sheet1", "branches"),
        ("新华街道2019.xlsx", "党员花名册", "members"),
    }
    assert [(s.file, s.sheet) for s in result.skipped] == [("三会一课台账.xlsx", "说明")]
    assert result.tables["members"]["_row"].to_list() == [4, 5, 6]


def test_same_table_in_several_files_is_combined(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", BRANCHES)
    write_csv(tmp_path / "members.csv", MEMBERS)
    write_csv(tmp_path / "一支部_党费收缴.csv", DUES[:2])
    write_csv(tmp_path / "二支部_党费收缴.csv", [DUES[0], *DUES[2:]], "gb18030")
    assert ingest(tmp_path).tables["dues"].height == 3


def test_non_tables_are_skipped(batch: Path):
    (batch / "说明.txt").write_text("说明", encoding="utf-8")
    (batch / "通知.docx").write_bytes(b"PK\x03\x04")
    (batch / "~$党员名册.xlsx").write_bytes(b"lock")
    result = ingest(batch)
    assert sorted(s.file for s in result.skipped) == ["~$党员名册.xlsx", "说明.txt", "通知.docx"]
    assert result.problems == []


ROW_CASES = [
    # (table file, rows, expected (row, column, reason start))
    (
        "meetings.csv",
        [MEETINGS[0], ["HD9", "B01", "茶话会", "2019-01-25", "", "", "", ""]],
        (2, "活动类型", "未知的活动类型「茶话会」"),
    ),
    (
        "meetings.csv",
        [MEETINGS[0], ["HD9", "B01", "党课", "2019年2月30日", "", "", "", ""]],
        (2, "活动日期", "日期无效「2019年2月30日」"),
    ),
    ("dues.csv", [DUES[0], ["M001", "2019-02", "5", "-5", ""]], (2, "实交金额(元)", "金额为负「-5」")),
    ("dues.csv", [DUES[0], ["M001", "2019-02", "五元", "5", ""]], (2, "应交金额", "不是有效数字「五元」")),
    ("dues.csv", [DUES[0], ["M9999", "2019-02", "5", "5", ""]], (2, "党员编号", "引用了不存在的党员编号 M9999")),
    ("dues.csv", [DUES[0], ["", "2019-02", "5", "5", ""]], (2, "党员编号", "必填项「党员编号」为空")),
    ("dues.csv", [DUES[0], ["M001", "2019-02", "5", "5", "", "多余"]], (2, "", "本行比表头多出 1 个非空单元格")),
    ("attendance.csv", [ATTENDANCE[0], ["HD404", "M001", "出席"]], (2, "活动编号", "引用了不存在的活动编号 HD404")),
    ("attendance.csv", [ATTENDANCE[0], ["HD1", "M001", "迟到"]], (2, "出勤情况", "未知的出勤情况「迟到」")),
]


@pytest.mark.parametrize(("name", "rows", "expected"), ROW_CASES)
def test_row_problems_are_quarantined_with_reason(batch: Path, name: str, rows, expected):
    write_csv(batch / "extra" / name, rows)
    result = ingest(batch)
    conserved(result)
    found = [(p.row, p.column, p.message) for p in result.problems if p.file == f"extra/{name}"]
    assert len(found) == 1
    row, column, reason = found[0]
    assert (row, column) == expected[:2] and reason.startswith(expected[2])
    extra = next(s for s in result.sources if s.file == f"extra/{name}")
    assert (extra.rows_read, extra.rows_accepted, extra.rows_quarantined) == (1, 0, 1)


def test_optional_bad_value_is_nulled_and_row_kept(batch: Path):
    write_csv(batch / "members.csv", [MEMBERS[0], ["M010", "赵六", "", "B01", "正式党员", "2010-01-01", "宇航员", "-100", ""]])
    result = ingest(batch)
    conserved(result)
    found = {(p.column, p.message, p.action.value) for p in result.problems if p.file == "members.csv"}
    assert found == {
        ("工作状态", "未知的工作状态「宇航员」（可选：在职、离退休、学生、农民、无固定收入、其他）", "该值置空，行保留"),
        ("月收入基数（元）", "金额为负「-100」", "该值置空，行保留"),
    }
    row = result.tables["members"].filter(pl.col("member_id") == "M010")
    assert row["employment"][0] is None and row["income_base"][0] is None


def test_duplicate_keys_first_wins(batch: Path):
    write_csv(batch / "联兴集团党支部_党员名册_补充.csv", [MEMBERS[0], MEMBERS[1]])
    result = ingest(batch)
    conserved(result)
    [problem] = result.problems
    assert problem.file == "联兴集团党支部_党员名册_补充.csv" and problem.row == 2
    assert problem.message == "重复记录（与 联兴集团党支部_党员名册_2019.csv 第2行 重复，键：党员编号）"
    assert result.tables["members"].height == 3


def test_dues_split_payments_allowed_identical_rows_not(batch: Path):
    write_csv(
        batch / "dues2.csv",
        [
            DUES[0],
            ["M001", "2019-02", "97.5", "50", "2019-02-03"],
            ["M001", "2019-02", "97.5", "47.5", "2019-02-20"],
            ["M001", "2019-02", "97.5", "47.5", "2019-02-20"],
        ],
    )
    result = ingest(batch)
    assert [(p.row, p.reason.name) for p in result.problems] == [(4, "DUPLICATE")]


def test_references_cascade_through_quarantined_rows(batch: Path):
    write_csv(batch / "meetings2.csv", [MEETINGS[0], ["HD9", "B01", "茶话会", "2019-01-25", "", "", "", ""]])
    write_csv(batch / "attendance2.csv", [ATTENDANCE[0], ["HD9", "M001", "出席"]])
    result = ingest(batch)
    conserved(result)
    messages = {(p.file, p.message) for p in result.problems}
    assert ("attendance2.csv", "引用的活动编号 HD9 所在行已被隔离（见该行的数据问题）") in messages


def test_dangling_optional_reference_is_nulled(batch: Path):
    write_csv(batch / "branches.csv", [BRANCHES[0], ["B03", "三支部", "新华街道党工委", "社区", "M404"]])
    result = ingest(batch)
    conserved(result)
    [problem] = result.problems
    assert problem.message == "引用了不存在的党员编号 M404" and problem.action.value == "该值置空，行保留"
    assert result.tables["branches"].filter(pl.col("branch_id") == "B03")["secretary_id"][0] is None


@pytest.mark.parametrize(
    ("cell", "status", "message"),
    [
        ("3.70102E+17", "mangled", "身份证号被 Excel 转成了科学计数法「3.70102E+17」，无法恢复，请从原系统重新导出"),
        ("110105194912310021", "bad_checksum", "身份证号校验位不符「110105********0021」"),
        ("11010519491231002", "lost_check", "身份证号只有 17 位「110105*******1002」，末位（可能是 X）已丢失，无法恢复"),
    ],
)
def test_bad_id_number_reported_member_kept(tmp_path: Path, cell: str, status: str, message: str):
    write_csv(tmp_path / "branches.csv", [row[:4] for row in BRANCHES])
    write_csv(tmp_path / "members.csv", [MEMBERS[0], [*MEMBERS[1][:2], cell, *MEMBERS[1][3:]]])
    result = ingest(tmp_path)
    [problem] = result.problems
    assert problem.message == message and problem.action.value == "仅提示，行保留"
    assert result.tables["members"]["id_number_status"].to_list() == [status]
    assert "110105194912310021" not in problem.value


def test_mangled_id_as_numeric_xlsx_cell(tmp_path: Path):
    write_csv(tmp_path / "branches.csv", [row[:4] for row in BRANCHES])
    write_xlsx(tmp_path / "members.xlsx", {"Sheet1": [MEMBERS[0], [*MEMBERS[1][:2], 370102198001011234, *MEMBERS[1][3:]]]})
    result = ingest(tmp_path)
    assert result.tables["members"]["id_number_status"].to_list() == ["mangled"]
    assert result.problems[0].reason.name == "ID_MANGLED"


FILE_CASES = [
    ("members.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "FILE_BROKEN_XLSX", "工作簿已损坏或不完整"),
    ("members.csv", b"\x00\x01\x02\x03garbage\x00\xff" * 50, "FILE_BINARY", "文件不是文本表格"),
    ("members.csv", b"", "FILE_EMPTY", "文件为空"),
    ("members.csv", "党员编号,姓名\n".encode() + b"\x81\x30\xff\xfe\xfd" * 3, "FILE_UNDECODABLE", "无法识别文件编码"),
]


@pytest.mark.parametrize(("name", "data", "code", "message"), FILE_CASES)
def test_file_level_problems_name_the_file(batch: Path, name: str, data: bytes, code: str, message: str):
    (batch / name).write_bytes(data)
    result = ingest(batch)
    conserved(result)
    [problem] = [p for p in result.problems if p.file == name]
    assert problem.reason.name == code and problem.message.startswith(message)
    assert problem.table == "members"
    assert result.tables["members"].height == 3  # the rest of the batch still loads


def test_truncated_workbook(batch: Path):
    whole = write_xlsx(batch / "tmp.xlsx", {"党员名册": MEMBERS}).read_bytes()
    (batch / "tmp.xlsx").unlink()
    (batch / "党员名册2.xlsx").write_bytes(whole[: len(whole) // 2])
    result = ingest(batch)
    [problem] = result.problems
    assert problem.reason.name == "FILE_BROKEN_XLSX" and problem.file == "党员名册2.xlsx" and problem.table == "members"


def test_missing_required_column_names_column_table_file(batch: Path):
    write_csv(batch / "dues2.csv", [["党员编号", "所属月份", "应交金额"], ["M001", "2019-03", "5"], ["M001", "2019-04", "5"]])
    result = ingest(batch)
    conserved(result)
    [problem] = [p for p in result.problems if p.file == "dues2.csv"]
    assert problem.message == "缺少必填列「实交金额」（amount_paid），本表 2 行均未导入"
    assert (problem.table, problem.column) == ("dues", "实交金额")
    source = next(s for s in result.sources if s.file == "dues2.csv")
    assert (source.rows_read, source.rows_quarantined) == (2, 2)


def test_duplicate_header(batch: Path):
    write_csv(
        batch / "dues2.csv", [["党员编号", "所属月份", "应交金额", "实交金额", "实缴金额"], ["M001", "2019-03", "5", "5", "5"]]
    )
    result = ingest(batch)
    [problem] = [p for p in result.problems if p.file == "dues2.csv"]
    assert problem.message == "表头重复：「实交金额」与「实缴金额」都对应「实交金额」（amount_paid），本表 1 行均未导入"


def test_no_header_found(batch: Path):
    write_csv(batch / "dues2.csv", [["甲", "乙"], ["1", "2"]])
    result = ingest(batch)
    conserved(result)
    [problem] = [p for p in result.problems if p.file == "dues2.csv"]
    assert problem.reason.name == "FILE_NO_HEADER" and "党员编号" in problem.message


def test_header_only_and_blank_rows(batch: Path):
    write_csv(batch / "dues2.csv", [DUES[0], ["", "", "", "", ""]])
    result = ingest(batch)
    source = next(s for s in result.sources if s.file == "dues2.csv")
    assert (source.rows_read, source.rows_accepted, source.rows_quarantined) == (0, 0, 0)
    assert result.problems == []


def test_hidden_sheet_and_merged_title_and_formula(tmp_path: Path):
    import openpyxl

    write_csv(tmp_path / "branches.csv", BRANCHES)
    path = tmp_path / "members.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "党员名册"
    sheet.append(["新华街道党员名册"])
    sheet.merge_cells("A1:I1")
    for row in MEMBERS:
        sheet.append(row)
    sheet["H3"] = "=6000+500"  # a formula without a cached result
    hidden = book.create_sheet("支部信息")
    hidden.sheet_state = "hidden"
    for row in [BRANCHES[0], ["B09", "九支部", "新华街道党工委", "社区", ""]]:
        hidden.append(row)
    book.save(path)
    result = ingest(tmp_path)
    conserved(result)
    assert any(s.hidden for s in result.sources)
    assert "B09" in result.tables["branches"]["branch_id"].to_list()
    [problem] = result.problems
    assert problem.reason.name == "FORMULA_NO_VALUE" and problem.row == 3 and problem.action.value == "该值置空，行保留"


def test_very_long_cell(batch: Path):
    write_csv(batch / "meetings2.csv", [MEETINGS[0], ["HD9", "B01", "党课", "2019-01-25", "长" * 100_000, "", "", ""]])
    result = ingest(batch)
    [problem] = result.problems
    assert problem.reason.name == "TOO_LONG" and len(problem.value) <= 200


def test_missing_batch_folder(tmp_path: Path):
    with pytest.raises(BatchNotFoundError):
        ingest(tmp_path / "nope")
