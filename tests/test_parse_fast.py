"""Ingestion's fast path (each column parsed once per distinct value, only rows with a problem read
cell by cell) against the row-by-row reference on the same files: every output byte the same."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

import pytest

from audit.contract import load_contract
from audit.ingest import Ingested, SourceStats, _SheetIngester, ingest
from audit.readers import RawSheet, gc_paused
from conftest import write_csv, write_xlsx

VALID_ID = "11010519491231002X"


def _outputs(result: Ingested, out: Path) -> dict[str, bytes]:
    """Every file ``Ingested.write`` makes, by path under ``out``."""
    result.write(out)
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def fast_and_slow(batch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ingested:
    """Ingest ``batch`` by the fast path and by the row-by-row reference; assert the quarantine,
    report, column map, meta and every table are byte-identical and the problems equal; return
    the fast result for the test's own checks."""
    fast = ingest(batch)
    fast_files = _outputs(fast, tmp_path / "fast")
    monkeypatch.setattr(_SheetIngester, "fast_path", False)
    slow = ingest(batch)
    slow_files = _outputs(slow, tmp_path / "slow")
    monkeypatch.undo()
    assert [p.as_row() for p in fast.problems] == [p.as_row() for p in slow.problems]
    assert fast.sources == slow.sources
    assert sorted(fast_files) == sorted(slow_files)
    differing = [name for name in fast_files if fast_files[name] != slow_files[name]]
    assert differing == []
    return fast


def _people(folder: Path, count: int) -> None:
    """A branch list and a roster of ``count`` members (`M0000`, …, names `党员0`, …), so the
    tables under test refer to members that exist."""
    write_csv(folder / "支部信息.csv", [["支部编号", "支部名称"], ["B01", "联兴集团党支部"]])
    roster = [["党员编号", "姓名", "所在支部编号", "党员类别", "入党日期"]]
    roster += [[f"M{i:04d}", f"党员{i}", "B01", "正式党员", "2005-07-01"] for i in range(count)]
    write_csv(folder / "党员名册.csv", roster)


def _codes(result: Ingested, table: str) -> list[tuple[int | None, str, str, str]]:
    return [(p.row, p.column, p.reason.name, p.action.value) for p in result.problems if p.table == table]


def test_a_few_bad_cells_among_thousands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rows = [["党员编号", "积分月份", "基础分", "加分", "扣分", "月度积分", "公示日期"]]
    for i in range(3000):
        rows.append([f"M{i % 250:04d}", f"2019-{i // 250 + 1:02d}", "80", str(i % 5), "0", str(80 + i % 5), "2019-09-25"])
    rows[500][5] = "八十"  # required total: the row is quarantined
    rows[1200][2] = "-"  # optional base points: a placeholder, blank
    rows[1700][3] = "两分"  # optional bonus: the value is nulled, the row kept
    rows[2100][1] = "2019-13"  # required month: quarantined
    rows[2500][6] = "2019-02-30"  # optional date: nulled
    rows[2900][0] = ""  # required member key, blank
    write_csv(tmp_path / "b" / "积分_党员积分.csv", rows)
    _people(tmp_path / "b", 250)
    result = fast_and_slow(tmp_path / "b", tmp_path, monkeypatch)
    assert _codes(result, "points") == [
        (501, "月度积分", "NOT_A_NUMBER", "整行隔离"),
        (1701, "加分", "NOT_A_NUMBER", "该值置空，行保留"),
        (2101, "积分月份", "BAD_MONTH", "整行隔离"),
        (2501, "公示日期", "BAD_DATE", "该值置空，行保留"),
        (2901, "党员编号", "REQUIRED_BLANK", "整行隔离"),
    ]
    [source] = [s for s in result.sources if s.table == "points"]
    assert (source.rows_read, source.rows_accepted, source.rows_quarantined) == (3000, 2997, 3)
    points = result.tables["points"]
    assert points.height == 2997 and points["base_points"].null_count() == 1
    assert points["_row"].to_list() == [n for n in range(2, 3002) if n not in (501, 2101, 2901)]


def test_mixed_types_in_one_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Numbers and text, datetimes and strings, 1 / 1.0 / True and 0.0 / -0.0 in the same columns
    of a workbook: values Python counts equal but a cell shows differently are parsed apart."""
    header = ["党员编号", "所属月份", "应交金额", "实交金额", "交纳日期", "收缴人", "身份证号", "缴费年度"]
    rows = [header]
    for i in range(400):
        month = [dt.datetime(2019, i % 12 + 1, 1), "2019-03", 201904, 43600.0, "2019年5月"][i % 5]
        due = [20, 20.0, "20元", "￥20", True, -0.0, 0.0, "abc"][i % 8]
        paid = [20.5, "20.5", None, "", 0, -0.0][i % 6]
        paid_on = [dt.datetime(2019, 3, 5), dt.date(2019, 3, 5), "2019/3/5", dt.datetime(2019, 3, 5, 14, 30), 43529][i % 5]
        collector = ["M0001", 1, 1.0, True, "1", "TRUE"][i % 6]
        id_number = [VALID_ID, 1.10105194912310e17, "110105194912310021", -0.0, 0.0, None][i % 6]
        year = [2019, 2019.0, "2019", True, 1900][i % 5]
        rows.append([f"M{i:04d}", month, due, paid, paid_on, collector, id_number, year])
    write_xlsx(tmp_path / "b" / "党费收缴.xlsx", {"党费": rows})
    _people(tmp_path / "b", 400)
    result = fast_and_slow(tmp_path / "b", tmp_path, monkeypatch)
    codes = {reason for _, _, reason, _ in _codes(result, "dues")}
    assert {"NOT_A_NUMBER", "ID_MANGLED", "ID_BAD_CHECKSUM", "BELOW_MIN"} <= codes
    dues = result.tables["dues"]
    assert 0 < dues.height < 400 and dues["paid_on"].drop_nulls().unique().to_list() == [dt.date(2019, 3, 5)]


def test_placeholders_blank_as_zero_and_yes_no(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    placeholders = ["无", "—", "/", "／", "--", " 暂无 ", "\\", "", "  "]
    dues = [["党员编号", "所属月份", "应交金额", "实交金额", "交纳日期", "身份证号"]]
    meetings = [["活动编号", "支部编号", "活动类型", "活动日期", "主题", "应到人数", "实到人数", "是否有会议记录"]]
    for i in range(600):
        mark = placeholders[i % len(placeholders)]
        dues.append([f"M{i:04d}", "2019-01", "20" if i % 7 else mark, "20" if i % 3 else mark, mark, mark])
        minutes = ["是", "否", "无", "有", "—", "Y", ""][i % 7]
        meetings.append([f"HD{i}", "B01", "主题党日", "2019-01-15", mark, "5", "4" if i % 4 else mark, minutes])
    write_csv(tmp_path / "b" / "党费收缴.csv", dues)
    write_csv(tmp_path / "b" / "三会一课.csv", meetings)
    _people(tmp_path / "b", 600)
    result = fast_and_slow(tmp_path / "b", tmp_path, monkeypatch)
    table = result.tables["dues"]
    assert table.filter(table["_row"] == 5)["amount_paid"].to_list() == [0.0]  # `--` under 实交金额: blank, so 0
    assert {reason for _, _, reason, _ in _codes(result, "dues")} == {"REQUIRED_BLANK"}  # a placeholder for 应交金额
    assert {reason for _, _, reason, _ in _codes(result, "meetings")} >= {"BAD_YESNO"}  # `—` is no yes/no


def test_identifiers_given_by_stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A dues sheet naming members by 姓名 or 身份证号 instead of 党员编号; rows with neither are
    quarantined with the stand-ins named, rows with a mangled ID only cannot identify."""
    members = [["党员编号", "姓名", "所在支部编号", "党员类别", "入党日期", "身份证号"]]
    dues = [["姓名", "身份证号", "所属月份", "应交金额", "实交金额"]]
    for i in range(300):
        members.append([f"M{i:03d}", f"党员{i}", "B01", "正式党员", "2005-07-01", ""])
        name = "" if i % 50 == 7 else f"党员{i}"
        id_number = [VALID_ID, "", "3.70102E+17", "—"][i % 4]
        dues.append([name, id_number, "2019-01", "20", "20"])
    write_csv(tmp_path / "b" / "支部信息.csv", [["支部编号", "支部名称"], ["B01", "联兴集团党支部"]])
    write_csv(tmp_path / "b" / "党员名册.csv", members)
    write_csv(tmp_path / "b" / "党费收缴.csv", dues)
    result = fast_and_slow(tmp_path / "b", tmp_path, monkeypatch)
    blanks = [row for row, _, reason, _ in _codes(result, "dues") if reason == "REQUIRED_BLANK"]
    assert blanks and all(((row - 2) % 50 == 7 and (row - 2) % 4 != 0) for row in blanks)


def test_wide_layout_rows_stand_and_fall_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Wide dues (one column per month, several rows read from one source row): a bad month cell
    quarantines the whole source row, a problem every month shares is listed once, ragged rows
    and blank months as the layout reads them."""
    rows: list[list[object]] = [["2019年党费收缴明细表"], ["党员编号", "姓名", *(f"{m}月" for m in range(1, 13))]]
    for i in range(500):
        months: list[object] = [20.0 + (i % 3)] * 12
        if i % 97 == 5:
            months[4] = "未交"
        if i % 89 == 3:
            months[7] = None
        row: list[object] = [f"M{i:04d}", f"党员{i}", *months] if i % 113 != 9 else ["", "", *months]
        if i % 131 == 11:
            row += ["", "多余"]
        rows.append(row)
    write_xlsx(tmp_path / "b" / "党费收缴.xlsx", {"2019年党费": rows})
    _people(tmp_path / "b", 500)
    result = fast_and_slow(tmp_path / "b", tmp_path, monkeypatch)
    [source] = [s for s in result.sources if s.table == "dues"]
    assert source.rows_read == 500 and 0 < source.rows_quarantined < 30
    assert result.tables["dues"].height == 12 * source.rows_accepted
    codes = _codes(result, "dues")
    assert {reason for _, _, reason, _ in codes} >= {"NOT_A_NUMBER", "RAGGED_ROW", "REQUIRED_BLANK"}
    assert len(codes) == len(set(codes))  # the blank 党员编号 every month of a row shares: listed once


def test_rows_read_from_one_source_row_need_not_be_next_to_each_other():
    """Rows a layout reads from one source row stand or fall together and keep the order of their
    source rows' first appearance, wherever they are: by the fast path as by the reference."""
    header = (1, ["党员编号", "所属月份", "应交金额", "实交金额"])
    body = [(2, ["M1", "2019-01", "20", "20"]), (3, ["M2", "2019-01", "20", "20"]), (2, ["M1", "2019-02", "20", "20"])]
    body += [(4, ["M3", "2019-01", "20", "x"]), (3, ["M2", "2019-02", "20", "20"]), (4, ["M3", "2019-02", "20", "20"])]
    body += [(5, ["M4", "2019-01", "20", "20"]), (2, ["M1", "2019-03", "20", "20"])]
    results = []
    for fast in (True, False):
        sheet = RawSheet("党费.csv", "", "党费", "党费", [header, *body])
        stats, problems = SourceStats(sheet.file, "", "dues"), []
        ingester = _SheetIngester(load_contract().tables["dues"], sheet, stats, problems)
        ingester.fast_path = fast
        frame = ingester.run()
        assert frame is not None
        results.append((frame.select("member_id", "month", "_row").rows(), [p.as_row() for p in problems], stats))
    assert results[0] == results[1]
    rows, problems, stats = results[0]
    assert [(member, row) for member, _, row in rows] == [("M1", 2)] * 3 + [("M2", 3)] * 2 + [("M4", 5)]
    assert [(p["row"], p["code"], p["action"]) for p in problems] == [(4, "NOT_A_NUMBER", "整行隔离")]
    assert (stats.rows_read, stats.rows_accepted, stats.rows_quarantined) == (4, 3, 1)


def test_formulas_without_values_and_text_too_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Cells only the row path reads right: a formula saved without its value (openpyxl), overlong
    text, an extra column the contract does not know."""
    rows: list[list[object]] = [["党员编号", "积分月份", "备注", "月度积分", "自定义列"]]
    for i in range(200):
        total = "=C3+1" if i % 40 == 3 else 80 + i % 3
        note = "长" * 2001 if i % 60 == 9 else "按时"
        rows.append([f"M{i:04d}", "2019-01", note, total, ["甲", None, 3, VALID_ID][i % 4]])
    write_xlsx(tmp_path / "b" / "党员积分.xlsx", {"党员积分": rows})
    _people(tmp_path / "b", 200)
    result = fast_and_slow(tmp_path / "b", tmp_path, monkeypatch)
    assert {reason for _, _, reason, _ in _codes(result, "points")} == {"FORMULA_NO_VALUE", "TOO_LONG"}
    assert VALID_ID not in str(result.tables["points"]["自定义列"].to_list())


def test_the_fast_path_reads_again_only_the_rows_with_a_problem():
    """Clean rows are never read cell by cell: the rows `_parse_row` reads are exactly those with
    a problem (here a bad amount, a ragged row and a blank key)."""
    rows = [(1, ["党员编号", "所属月份", "应交金额", "实交金额"])]
    rows += [(n, [f"M{n}", "2019-01", "20", "20"]) for n in range(2, 1002)]
    rows[100] = (101, ["M101", "2019-01", "二十", "20"])
    rows[200] = (201, ["M201", "2019-01", "20", "20", "", "x"])
    rows[300] = (301, ["", "2019-01", "20", "20"])
    sheet = RawSheet("党费.csv", "", "党费", "党费", rows)
    stats = SourceStats(sheet.file, "", "dues")
    ingester = _SheetIngester(load_contract().tables["dues"], sheet, stats, [])
    read: list[int] = []
    reference = ingester._parse_row
    ingester._parse_row = lambda plan, number, cells: read.append(number) or reference(plan, number, cells)  # type: ignore[method-assign]
    frame = ingester.run()
    assert read == [101, 201, 301]
    assert frame is not None and frame.height == 997 and (stats.rows_accepted, stats.rows_quarantined) == (997, 3)


def test_non_data_rows_told_by_their_first_filled_cell(tmp_path: Path):
    """The quick test for a data row (its first cell) agrees with the full one: a footer or notes
    row whose first cell is blank or indented, a number first, a data row starting with `请`."""
    rows: list[list[object]] = [["党员编号", "积分月份", "月度积分"]]
    rows += [[f"M{i:04d}", "2019-01", 80] for i in range(50)]
    rows += [["请假人员", "2019-01", 80], [" 合计", None, 4000], [None, "合计", 4000], ["  注：", None, None]]
    rows += [["积分按月公示", None, None], [12, "2019-02", 80], [None, "制表人：张三", None]]
    write_xlsx(tmp_path / "b" / "党员积分.xlsx", {"党员积分": rows})
    _people(tmp_path / "b", 50)
    result = ingest(tmp_path / "b")
    [source] = [s for s in result.sources if s.table == "points"]
    skipped = [(p.row, p.reason.name) for p in result.problems if p.action.value == "跳过（非数据行）"]
    assert skipped == [(53, "SKIP_FOOTER"), (54, "SKIP_FOOTER"), (55, "SKIP_NOTES"), (56, "SKIP_NOTES"), (58, "SKIP_FOOTER")]
    assert (source.rows_read, source.rows_skipped, source.rows_accepted) == (57, 5, 50)
    dangling = [p.row for p in result.problems if p.reason.name == "DANGLING_REF"]
    assert dangling == [52, 57]  # read as data: `请假人员` and the number 12 name no member


def test_the_garbage_collector_is_paused_while_rows_are_built_and_restored_after():
    """`gc_paused` holds the cyclic collector off inside, restores it after (also on an error) and
    leaves it off when it was off already (a caller pausing around a whole ingest)."""
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
