"""`audit inspect`, column_map.csv, the mapping file end to end, and layouts on real files: a wide
dues sheet with the year only in the title, evaluations without a year, month ranges, an
unrecognised workbook fixed in one step from what inspect suggests."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from audit.contract import load_contract
from audit.ingest import COLUMN_MAP_COLUMNS, ingest
from audit.inspection import render_inspection
from audit.mapping import apply_mapping, load_mapping
from conftest import BRANCHES, MEMBERS, SAMPLE, write_csv, write_xlsx

AUDIT = [sys.executable, "-m", "audit.cli"]
MONTHS = [f"{m}月" for m in range(1, 13)]


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDIT, *args], capture_output=True, text=True, timeout=600)


def source(result, file: str, sheet: str = ""):
    return next(s for s in result.sources if s.file == file and s.sheet == sheet)


def counts(stats) -> tuple[int, int, int, int]:
    return stats.rows_read, stats.rows_accepted, stats.rows_quarantined, stats.rows_skipped


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """Branches and members the corpus files refer to."""
    folder = tmp_path / "batch"
    write_csv(folder / "支部信息.csv", BRANCHES)
    write_csv(folder / "党员名册.csv", MEMBERS)
    return folder


def wide_dues(folder: Path) -> Path:
    """A wide dues sheet: the year only in the title, a base and a monthly amount, 12 month
    columns, a 合计 footer."""
    return write_xlsx(
        folder / "党费收缴.xlsx",
        {
            "Sheet1": [
                ["2019年度联兴集团党支部党费收缴明细"],
                ["党员编号", "姓名", "核算基数（元）", "缴费金额（元）", *MONTHS],
                ["M001", "张伟", 6500, 97.5, *([97.5] * 3), None, *([97.5] * 8)],
                ["M002", "李娜", 3000, 15, *([15] * 12)],
                ["合计", None, None, None, *([112.5] * 3), 15, *([112.5] * 8)],
            ]
        },
    )


def test_wide_dues_with_the_year_only_in_the_title(base: Path):
    wide_dues(base)
    result = ingest(base)
    assert counts(source(result, "党费收缴.xlsx", "Sheet1")) == (3, 2, 0, 1)  # the 合计 row skipped, not data
    dues = result.tables["dues"].sort("member_id", "month")
    assert dues.height == 24
    m001 = dues.filter(pl.col("member_id") == "M001")
    assert m001["month"].to_list() == [dt.date(2019, m, 1) for m in range(1, 13)]
    assert m001["amount_paid"].to_list() == [97.5, 97.5, 97.5, 0.0, *([97.5] * 8)]  # April blank: unpaid
    assert set(m001["amount_due"]) == {97.5} and set(m001["base"]) == {6500.0}
    assert set(dues["_row"]) == {3, 4} and set(dues["_sheet"]) == {"Sheet1"}
    columns = {(c.source_header, c.column, c.how) for c in source(result, "党费收缴.xlsx", "Sheet1").columns}
    assert ("1月", "amount_paid", "宽表月份列") in columns and ("12月", "amount_paid", "宽表月份列") in columns
    assert ("2019年度联兴集团党支部党费收缴明细", "month", "取自标题") in columns  # column_map says where the year came from
    assert ("缴费金额（元）", "amount_due", "宽表中视为每月应交") in columns
    assert ("核算基数（元）", "base", "去掉单位后匹配") in columns
    assert not any(c in {"所属月份", "实交金额", "应交金额"} for c, _, _ in columns)  # the layout's own headers never show


def test_a_quarantined_month_takes_its_whole_source_row(base: Path):
    write_xlsx(
        base / "党费收缴.xlsx",
        {"2019年": [["党员编号", "应交金额", "1月", "2月"], ["M001", 10, 10, -5], ["M002", 10, 10, 10]]},
    )
    result = ingest(base)
    assert counts(source(result, "党费收缴.xlsx", "2019年")) == (2, 1, 1, 0)
    assert result.tables["dues"]["member_id"].to_list() == ["M002", "M002"]  # no half-read row
    problem = next(p for p in result.problems if p.file == "党费收缴.xlsx")
    assert (problem.row, problem.column, problem.reason.name) == (2, "实交金额", "NEGATIVE_AMOUNT")


def test_evaluations_take_the_year_from_the_file_name(base: Path):
    write_xlsx(
        base / "2019年度民主评议结果.xlsx",
        {"Sheet1": [["党员编号", "姓名", "评议等次"], ["M001", "张伟", "优秀"], ["M002", "李娜", "不评等次"]]},
    )
    result = ingest(base)
    assert counts(source(result, "2019年度民主评议结果.xlsx", "Sheet1")) == (2, 2, 0, 0)
    assert result.tables["evaluations"]["year"].to_list() == [2019, 2019]
    assert ("2019", "year", "取自文件名") in {(c.source_header, c.column, c.how) for c in result.sources[0].columns}


def test_no_year_anywhere_is_quarantined_and_inspect_says_how_to_fix_it(base: Path, tmp_path: Path):
    write_csv(base / "评议结果.csv", [["党员编号", "评议等次"], ["M001", "合格"], ["M003", "优秀"]])
    result = ingest(base)
    assert counts(source(result, "评议结果.csv")) == (2, 0, 2, 0)
    problems = [p for p in result.problems if p.file == "评议结果.csv"]
    assert [p.reason.name for p in problems] == ["YEAR_NOT_FOUND"] * 2
    assert 'fixed: [{file: "评议结果.csv", values: {year: 四位年份}}]' in problems[0].message
    lines = render_inspection(result, load_contract())
    mapping = fix_from_suggestion(lines, tmp_path, {"四位年份": "2019"})
    fixed = ingest(base, mapping=load_mapping(mapping, load_contract()))
    assert counts(source(fixed, "评议结果.csv")) == (2, 2, 0, 0)
    assert fixed.tables["evaluations"]["year"].to_list() == [2019, 2019]
    assert ("2019", "year", "固定值（映射文件）") in {
        (c.source_header, c.column, c.how) for c in source(fixed, "评议结果.csv").columns
    }


def fix_from_suggestion(lines: list[str], folder: Path, fill: dict[str, str]) -> Path:
    """The mapping file a reviewer writes from inspect's suggestion: placeholders filled in, nothing else."""
    start = next(i for i, line in enumerate(lines) if line.startswith("建议写入映射文件的内容"))
    text = "\n".join(lines[start + 3 :]) + "\n"
    for placeholder, value in fill.items():
        text = text.replace(placeholder, value)
    path = folder / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unrecognised_workbook_is_fixed_in_one_step(base: Path, tmp_path: Path):
    # an evaluation sheet: no 姓名 or 学工号 that could stand in for its unrecognised 人员编码
    # (a roster with 姓名 is read keyed by name since Real exports II, see test_identity.py)
    write_xlsx(base / "台账.xlsx", {"Sheet1": [["人员编码", "年度", "评议等次"], ["M001", 2019, "合格"]]})
    result = ingest(base)
    assert any(s.file == "台账.xlsx" and "不对应任何表" in s.why for s in result.skipped)
    lines = render_inspection(result, load_contract())
    assert "■ 台账.xlsx［Sheet1］" in lines
    path = fix_from_suggestion(lines, tmp_path, {"table: 表名": "table: evaluations"})
    second = ingest(base, mapping=load_mapping(path, load_contract()))
    stats = source(second, "台账.xlsx", "Sheet1")
    assert stats.table == "evaluations" and counts(stats) == (1, 0, 1, 0)  # now read as evaluations, 党员编号 missing
    lines = render_inspection(second, apply_mapping(load_contract(), second.mapping))
    assert any("依据映射文件第 2 行（文件「台账.xlsx」、工作表「Sheet1」）" in line for line in lines)
    assert "  缺少的必填列：党员编号（member_id）" in lines
    suggestion = next(line for line in lines if "member_id  # 党员编号" in line)
    assert "表中未使用的列：人员编码" in suggestion
    path.write_text(path.read_text(encoding="utf-8") + "headers:\n  evaluations:\n    人员编码: member_id\n", encoding="utf-8")
    third = ingest(base, mapping=load_mapping(path, load_contract()))
    assert counts(source(third, "台账.xlsx", "Sheet1")) == (1, 1, 0, 0)
    assert "M001" in third.tables["evaluations"]["member_id"].to_list()
    hows = {(c.source_header, c.column, c.how) for c in source(third, "台账.xlsx", "Sheet1").columns}
    assert ("人员编码", "member_id", "映射文件") in hows


def test_mapping_value_aliases_and_fixed_branch(base: Path, tmp_path: Path):
    write_csv(
        base / "联兴集团_会议记录.csv",
        [["活动编号", "活动类型", "活动日期"], ["HD1", "支委会议", "2019-01-05"], ["HD2", "党员大会", "2019-02-01"]],
    )
    assert counts(source(ingest(base), "联兴集团_会议记录.csv")) == (2, 0, 2, 0)  # no 支部编号 column
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "fixed:\n  - file: '联兴集团*'\n    values: {支部编号: B01}\nvalues:\n  meetings:\n    会议类型:\n      支委会议: 支部委员会\n",
        encoding="utf-8",
    )
    result = ingest(base, mapping=load_mapping(mapping, load_contract()))
    assert counts(source(result, "联兴集团_会议记录.csv")) == (2, 2, 0, 0)
    meetings = result.tables["meetings"].sort("meeting_id")
    assert meetings["meeting_type"].to_list() == ["支部委员会", "支部党员大会"] and meetings["branch_id"].to_list() == [
        "B01",
        "B01",
    ]


def test_month_range_sheet_is_expanded(base: Path):
    write_csv(
        base / "党费补缴.csv",
        [
            ["党员编号", "缴费类型", "缴费起始月份", "缴费截止月份", "应交金额", "缴费金额"],
            ["M001", "补缴", "2019.01", "2019.03", "30", "30"],
            ["M002", "补缴", "2019.06", "2019.04", "10", "10"],
            ["填表人：王强", None, None, None, None, None],
        ],
    )
    result = ingest(base)
    assert counts(source(result, "党费补缴.csv")) == (3, 1, 1, 1)
    dues = result.tables["dues"].sort("month")
    assert dues["month"].to_list() == [dt.date(2019, m, 1) for m in (1, 2, 3)]
    assert dues["amount_paid"].to_list() == [10.0, 10.0, 10.0] and dues["amount_due"].to_list() == [10.0] * 3
    problem = next(p for p in result.problems if p.reason.name == "RANGE_REVERSED")
    assert problem.row == 3 and "2019.06-2019.04" in problem.message
    hows = {(c.source_header, c.column, c.how) for c in source(result, "党费补缴.csv").columns}
    assert ("缴费起始月份", "month", "起止月份展开") in hows and ("缴费金额", "amount_paid", "别名（按月均分）") in hows


def test_column_map_csv_is_written_by_ingest(base: Path, tmp_path: Path):
    wide_dues(base)
    out = tmp_path / "out"
    proc = audit("ingest", str(base), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    frame = pl.read_csv(out / "column_map.csv", infer_schema_length=0)
    assert frame.columns == COLUMN_MAP_COLUMNS
    assert (out / "column_map.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    row = frame.filter((pl.col("file") == "党费收缴.xlsx") & (pl.col("source_header") == "3月")).row(0, named=True)
    assert row == {
        "file": "党费收缴.xlsx",
        "sheet": "Sheet1",
        "table": "dues",
        "header_row": "2",
        "source_header": "3月",
        "column": "amount_paid",
        "how": "宽表月份列",
    }
    assert "column_map.csv" in proc.stdout


def test_inspect_prints_a_complete_mapping_of_the_sample():
    proc = audit("inspect", str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = proc.stdout
    result = ingest(SAMPLE)
    for stats in result.sources:
        block = text.split(f"■ {stats.file}" + (f"［{stats.sheet}］" if stats.sheet else "") + "\n", 1)[1].split("\n■ ", 1)[0]
        assert f"表头：第 {stats.header_row} 行" in block
        assert (
            f"读取 {stats.rows_read}，导入 {stats.rows_accepted}，隔离 {stats.rows_quarantined}，跳过 {stats.rows_skipped}"
            in block
        )
        for column in stats.columns:  # every source column, with its canonical column or 未使用
            target = "未使用" if column.column is None else column.column
            assert re.search(rf"^    {re.escape(column.source_header)} *→ {re.escape(target)}", block, re.M), column
    for skipped in result.skipped:
        assert f"已跳过：{skipped.why}" in text


def test_inspect_of_every_corpus_file_is_complete(base: Path, tmp_path: Path):
    wide_dues(base)
    write_xlsx(base / "2019年度民主评议结果.xlsx", {"Sheet1": [["党员编号", "评议等次"], ["M001", "优秀"]]})
    write_csv(
        base / "党费补缴.csv", [["党员编号", "缴费起止月份", "应交金额", "实交金额"], ["M001", "2019.01-2019.02", "20", "20"]]
    )
    out = tmp_path / "map.csv"
    proc = audit("inspect", str(base), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    frame = pl.read_csv(out, infer_schema_length=0)
    assert set(frame["file"]) == {"支部信息.csv", "党员名册.csv", "党费收缴.xlsx", "2019年度民主评议结果.xlsx", "党费补缴.csv"}
    for row in frame.iter_rows(named=True):
        target = "未使用" if row["column"] is None else row["column"]
        assert re.search(
            rf"^    {re.escape(row['source_header'])} *→ {re.escape(target)}(（[^）]*）)?(：{re.escape(row['how'])})?$",
            proc.stdout,
            re.M,
        ), row
    assert "所有文件都已识别，没有需要写入映射文件的内容。" in proc.stdout
    assert audit("inspect", str(base), "--out", str(out)).returncode == 2  # never overwrites


def test_mapping_mistake_exits_2_naming_the_line(base: Path, tmp_path: Path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("headers:\n  members:\n    人员编码: 编码\n", encoding="utf-8")
    for command in (["inspect"], ["ingest", "--out", str(tmp_path / "o")], ["validate", "--quarter", "2019Q1"]):
        proc = audit(command[0], str(base), *command[1:], "--mapping", str(mapping))
        assert proc.returncode == 2 and "第 3 行" in proc.stderr and "没有列「编码」" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_ingest_meta_records_the_mapping(base: Path, tmp_path: Path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("values:\n  meetings:\n    会议类型: {支委会议: 支部委员会}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert audit("ingest", str(base), "--out", str(out), "--mapping", str(mapping)).returncode == 0
    meta = json.loads((out / "ingest_meta.json").read_text(encoding="utf-8"))
    assert meta["mapping"] == {"path": str(mapping.resolve()), "sha256": load_mapping(mapping, load_contract()).sha256}


@pytest.mark.parametrize("command", ["validate", "run"])
def test_nothing_usable_still_writes_the_reports_and_points_to_them(tmp_path: Path, command: str):
    batch = tmp_path / "batch"
    write_csv(batch / "支部信息.csv", BRANCHES)  # branches only: nothing to audit
    write_csv(batch / "dues.csv", [["党员编号", "所属月份", "应交金额"], ["M001", "2019-01", "5"]])
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("# 空的映射文件\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = (
        audit(command, str(batch), "--quarter", "2019Q1", "--out", str(out), "--mapping", str(mapping), "--jobs", "1")
        if command == "run"
        else audit(command, str(batch), "--quarter", "2019Q1", "--out", str(out), "--mapping", str(mapping))
    )
    assert proc.returncode == 2, proc.stderr
    assert "数据中没有任何党费、积分或会议记录，无法审核" in proc.stderr and "Traceback" not in proc.stderr
    for name in ("ingest_report.csv", "quarantine.csv", "column_map.csv"):
        assert (out / name).is_file() and str(out / name) in proc.stderr.replace("\n", "")
    quarantine = pl.read_csv(out / "quarantine.csv")
    assert "缺少必填列「实交金额」" in quarantine["reason"][0]
    assert "audit inspect" in proc.stderr
    if command == "run":
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["mapping"]["sha256"] == load_mapping(mapping, load_contract()).sha256
        assert manifest["outcome"] == "数据中没有任何党费、积分或会议记录，无法审核"
        assert audit("verify-manifest", str(out)).returncode == 0


def test_inspect_prints_batch_text_inertly(base: Path):
    write_csv(base / "党费收缴.csv", [["党员编号", "[red]标记[/red]", "\x1b[2J清屏", "所属月份", "应交金额", "实交金额"]])
    proc = audit("inspect", str(base))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^    \[red\]标记\[/red\] *→ 未使用$", proc.stdout, re.M)  # markup shown as written, not applied
    assert "\x1b" not in proc.stdout and re.search(r"^    \\x1b\[2J清屏 *→ 未使用$", proc.stdout, re.M)


def test_inspect_counts_the_rows_a_sheet_gives_other_tables(base: Path):
    """A 台账 with counts and a 缺席人员 text: its absentees become attendance rows (rows_derived),
    which inspect states beside the sheet's own rows; a sheet that gives none says nothing of it."""
    write_csv(
        base / "组织生活记录.csv",
        [
            ["活动编号", "支部编号", "活动类型", "活动日期", "主题", "应到人数", "实到人数", "缺席人员及原因"],
            ["HD1", "B01", "主题党日", "2019-01-15", "重温入党誓词", "2", "1", "李娜（病假）"],
        ],
    )
    result = ingest(base)
    assert source(result, "组织生活记录.csv").rows_derived == 1
    lines = render_inspection(result, load_contract())
    at = lines.index("■ 组织生活记录.csv")
    block = lines[at : lines.index("", at) if "" in lines[at:] else len(lines)]
    rows = next(line for line in block if line.startswith("  行数："))
    assert (
        rows
        == "  行数：读取 1，导入 1，隔离 0，跳过 0；另由本表的行生成其他表的记录 1 行（如缺席人员名单、支部信息中没有的支部）"
    )
    members = next(line for line in render_inspection(result, load_contract())[lines.index("■ 党员名册.csv") :] if "行数" in line)
    assert "另由本表" not in members


def test_inspect_says_a_dues_sheet_without_amount_due_is_read_with_it_derived(base: Path):
    write_xlsx(
        base / "党费收缴.xlsx",
        {"Sheet1": [["2019年党费"], ["党员编号", "姓名", "核算基数", "1月", "2月"], ["M001", "张伟", 6500, 97.5, 97.5]]},
    )
    result = ingest(base)
    assert counts(source(result, "党费收缴.xlsx", "Sheet1")) == (1, 1, 0, 0)
    text = "\n".join(render_inspection(result, load_contract()))
    assert "表中没有，按核算基数和党费标准推算（无法推算的留空）" in text
    block = text[text.index("■ 党费收缴.xlsx") :]
    assert "缺少的必填列：无" in block


def test_a_duplicated_wide_row_is_listed_once_with_its_months(base: Path):
    """A member listed twice on a wide dues sheet: the copy is one quarantine entry naming its 12
    months, not 12 entries. A row that repeats only some months of another (a second payment in the
    others) loses just those months, with a note, and stays accepted: no source row is counted
    quarantined while rows of it are in the table."""
    paid = [97.5] * 12
    second = [15, 15, 15, *([20] * 9)]  # Jan–Mar as the row above, Apr–Dec a second payment
    write_xlsx(
        base / "党费收缴.xlsx",
        {
            "Sheet1": [
                ["2019年度党费收缴明细"],
                ["党员编号", "姓名", "应交金额", *MONTHS],
                ["M001", "张伟", 97.5, *paid],
                ["M001", "张伟", 97.5, *paid],  # row 4: a copy of row 3
                ["M002", "李娜", 15, *([15] * 12)],
                ["M002", "李娜", 15, *second],  # row 6: Jan–Mar repeat row 5
            ]
        },
    )
    result = ingest(base)
    stats = source(result, "党费收缴.xlsx", "Sheet1")
    assert counts(stats) == (4, 3, 1, 0)
    duplicates = [p for p in result.problems if p.file == "党费收缴.xlsx" and p.reason.name == "DUPLICATE"]
    assert [(p.row, p.action.value) for p in duplicates] == [(4, "整行隔离"), (6, "仅提示，行保留")]
    months = "、".join(f"2019年{m}月" for m in range(1, 13))
    assert duplicates[0].message.endswith(f"（本行的 12 个月：{months}）")
    assert duplicates[1].message.endswith(
        "（本行 12 个月中的 2019年1月、2019年2月、2019年3月，这些月份未重复计入；本行其余月份已导入）"
    )
    dues = result.tables["dues"].filter(pl.col("_file") == "党费收缴.xlsx")
    assert sorted(dues.group_by("_row").len().rows()) == [(3, 12), (5, 12), (6, 9)]
    assert stats.rows_accepted == dues["_row"].n_unique()
    written = result.quarantine.filter(pl.col("file") == "党费收缴.xlsx")
    assert written.height == 2


def test_a_bad_cell_every_month_of_a_wide_row_shares_is_listed_once(base: Path):
    """An unreadable 应交金额 beside 12 month columns makes the source row's 12 rows fail alike:
    one quarantine entry for it, not 12; a bad month cell is its own entry."""
    write_xlsx(
        base / "党费收缴.xlsx",
        {
            "Sheet1": [
                ["2019年度党费收缴明细"],
                ["党员编号", "姓名", "应交金额", *MONTHS],
                ["M001", "张伟", "九十七元", *([97.5] * 12)],
                ["M002", "李娜", 15, "x", *([15] * 11)],
            ]
        },
    )
    result = ingest(base)
    assert counts(source(result, "党费收缴.xlsx", "Sheet1")) == (2, 0, 2, 0)
    found = [(p.row, p.column, p.value) for p in result.problems if p.file == "党费收缴.xlsx"]
    assert found == [(3, "应交金额", "九十七元"), (4, "实交金额", "x")]
