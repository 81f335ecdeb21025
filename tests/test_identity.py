"""Real exports II, identity: members keyed by 党员编号, a personnel number, an ID number (as a
pseudonym) or 姓名 within the branch, rows linked by whichever identifier they share with the
roster; branches keyed by code or by their normalised name. Every file is a small real CSV or
workbook written by the test, ingested by the real pipeline."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from audit.contract import load_contract
from audit.identity import branch_name, normalise_id_number, same_branch
from audit.ingest import PseudonymKeyError, ingest
from audit.inspection import render_inspection
from audit.mapping import MappingError, load_mapping
from audit.privacy import SECRET_ENV, installation_secret, pseudonym
from audit.reasons import Action, Reason
from conftest import ingest_at_once, write_csv, write_xlsx

ID18, ID18_LOWER, ID15 = "11010519491231002X", "11010519491231002x", "110105491231002"
ID15_AS_18 = ID18  # the 15-digit number widened: 19 inserted, its check character (X) added
ID_OTHER = "37140219640810920X"
BRANCH_LIST = [
    ["支部编号", "支部名称", "上级党组织", "组织类别"],
    ["B01", "联兴集团党支部", "新华街道党工委", "两新组织"],
    ["B02", "运河社区党支部", "新华街道党工委", "社区"],
]
ROSTER_TAIL = ["党籍状态", "入党时间"]
AUDIT = [sys.executable, "-m", "audit.cli"]


@pytest.fixture(autouse=True)
def secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own pseudonym secret (never the user's)."""
    path = tmp_path / "config" / "audit" / "pseudonym.key"
    monkeypatch.setenv(SECRET_ENV, str(path))
    return path


def batch_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "batch"
    write_csv(folder / "支部信息.csv", BRANCH_LIST)
    return folder


def codes(result, reason: Reason) -> list:
    return [p for p in result.problems if p.reason is reason]


def source(result, file: str, sheet: str = ""):
    return next(s for s in result.sources if s.file == file and s.sheet == sheet)


# --- member keys, one kind at a time --------------------------------------------------------------


def test_member_ids_come_first_and_rows_link_by_the_first_kind_they_share(tmp_path: Path):
    """党员编号 keys the roster though it also has 工号; a dues sheet without 党员编号 links by its
    工号 (its first identifier the roster has), not by its name."""
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["党员编号", "工号", "姓名", "所在支部编号", *ROSTER_TAIL],
            ["M1", "2001", "张伟", "B01", "正式", "2005-07-01"],
            ["M2", "2002", "张伟", "B01", "正式", "2005-07-01"],
        ],
    )
    write_csv(folder / "党费.csv", [["姓名", "工号", "所属月份", "应交金额", "实交金额"], ["张伟", "2002", "2019-01", "5", "5"]])
    result = ingest(folder)
    assert result.tables["members"]["member_id"].to_list() == ["M1", "M2"]
    assert result.tables["dues"]["member_id"].to_list() == ["M2"]
    assert result.problems == []
    assert dict(result.identities.links["dues.member_id"]) == {"personnel_no": 1}


@pytest.mark.parametrize("header", ["学号", "工号", "工作证号", "学工号", "人员编号"])
def test_roster_keyed_by_a_personnel_number(tmp_path: Path, header: str):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [[header, "姓名", "所在支部编号", *ROSTER_TAIL], ["20010001", "张伟", "B01", "正式", "2005-07-01"]],
    )
    write_csv(folder / "党费.csv", [[header, "所属月份", "应交金额", "实交金额"], ["20010001", "2019-01", "5", "5"]])
    result = ingest(folder)
    members = result.tables["members"]
    assert members["member_id"].to_list() == ["20010001"] and members["personnel_no"].to_list() == ["20010001"]
    assert result.tables["dues"]["member_id"].to_list() == ["20010001"]
    assert result.problems == []
    columns = {(c.source_header, c.column) for s in result.sources for c in s.columns}
    assert (header, "personnel_no") in columns  # 人员编号 is a personnel number, not a 党员编号


@pytest.mark.parametrize(("written", "normalised"), [(ID18, ID18), (ID18_LOWER, ID18), (ID15, ID15_AS_18)])
def test_roster_keyed_by_an_id_number_uses_its_pseudonym(tmp_path: Path, secret_file: Path, written: str, normalised: str):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [["身份证号码", "姓名", "所在支部编号", *ROSTER_TAIL], [written, "张伟", "B01", "正式", "2005-07-01"]],
    )
    result = ingest(folder)
    [key] = result.tables["members"]["member_id"].to_list()
    assert key == pseudonym(normalised, installation_secret()) and key.startswith("ID-") and len(key) == 19
    assert written not in key and normalised[:17] not in key
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert [p.reason for p in result.problems if p.action is not Action.NOTE] == []


def test_an_id_written_three_ways_is_one_person(tmp_path: Path):
    """15 digits in the roster, 18 digits in dues, a lower-case x in attendance: one member."""
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["身份证号", "姓名", "所在支部编号", *ROSTER_TAIL],
            [ID15, "张伟", "B01", "正式", "2005-07-01"],
            ["11010519491231004x".upper(), "李娜", "B01", "预备", "2018-11-09"],
        ],
    )
    write_csv(
        folder / "党费.csv",
        [
            ["身份证号", "所属月份", "应交金额", "实交金额"],
            [ID15_AS_18, "2019-01", "5", "5"],
            ["110105194912310048", "2019-01", "3", "3"],
        ],
    )
    write_csv(folder / "会议.csv", [["活动编号", "支部编号", "活动类型", "活动日期"], ["HD1", "B01", "党课", "2019-01-15"]])
    write_csv(
        folder / "参会明细.csv",
        [["活动编号", "身份证号", "出勤情况"], ["HD1", "1101 0519 4912 3100 2x", "出席"], ["HD1", "11010519491231004x", "出席"]],
    )
    result = ingest(folder)
    roster = dict(zip(result.tables["members"]["name"], result.tables["members"]["member_id"], strict=True))
    assert result.tables["dues"]["member_id"].to_list()[0] == roster["张伟"]
    assert result.tables["attendance"]["member_id"].to_list() == [roster["张伟"], roster["李娜"]]
    # 110105194912310048 is not 李娜's number (her check character is X): not guessed, quarantined
    [dangling] = codes(result, Reason.DANGLING_REF)
    assert (dangling.file, dangling.row, dangling.column, dangling.value) == ("党费.csv", 3, "身份证号", "110105********0048")


def test_roster_keyed_by_name_and_branch_with_a_notice(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["姓名", "所在支部编号", *ROSTER_TAIL],
            ["张伟", "B01", "正式", "2005-07-01"],
            ["张伟", "B02", "正式", "2001-07-01"],
            ["李娜", "B01", "预备", "2018-11-09"],
        ],
    )
    result = ingest(folder)
    assert sorted(result.tables["members"]["member_id"]) == ["B01/张伟", "B01/李娜", "B02/张伟"]
    [notice] = result.problems
    assert (notice.reason, notice.action, notice.file, notice.row) == (Reason.MEMBER_NAME_KEY, Action.NOTE, "党员名册.csv", 2)
    assert notice.message.startswith("本表 3 名党员没有党员编号、学工号或身份证号，按所在支部和姓名识别（第 2、3、4 行）")
    assert source(result, "党员名册.csv").rows_accepted == 3


def test_a_key_made_of_a_name_obeys_the_limits_of_a_code(tmp_path: Path):
    """`<branch>/<姓名>` is checked as a code is: a 70-character name or one holding a control
    character is no key (BAD_KEY, the row quarantined), the other name-keyed rows are kept."""
    folder = batch_dir(tmp_path)
    long_name = "张" * 70
    write_csv(
        folder / "党员名册.csv",
        [
            ["姓名", "所在支部编号", *ROSTER_TAIL],
            [long_name, "B01", "正式", "2005-07-01"],
            ["李\x07娜", "B01", "正式", "2001-07-01"],
            ["王强", "B01", "预备", "2018-11-09"],
        ],
    )
    result = ingest(folder)
    refused = codes(result, Reason.BAD_KEY)
    assert [(p.row, p.action) for p in refused] == [(2, Action.ROW), (3, Action.ROW)]
    assert refused[0].message.startswith("按支部和姓名生成的编号「B01/张张") and "超过上限 64" in refused[0].message
    assert "含有控制字符或不可见字符" in refused[1].message and "\x07" not in refused[1].message
    assert result.tables["members"]["member_id"].to_list() == ["B01/王强"]
    stats = source(result, "党员名册.csv")
    assert (stats.rows_read, stats.rows_accepted, stats.rows_quarantined) == (3, 1, 2)


def test_keys_of_different_kinds_cannot_collide_in_one_roster(tmp_path: Path):
    """党员编号 1001 and, on another row without one, 工号 1001: one key for two people. The row
    keyed by the weaker kind (工号) is refused naming the other, and a dues row giving 工号 1001
    is not booked to the member whose 党员编号 is 1001."""
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["党员编号", "工号", "姓名", "所在支部编号", *ROSTER_TAIL],
            ["1001", "", "张伟", "B01", "正式", "2005-07-01"],
            ["", "1001", "李娜", "B01", "正式", "2001-07-01"],
            ["", "1002", "王强", "B02", "预备", "2018-11-09"],
        ],
    )
    write_csv(
        folder / "党费.csv",
        [["工号", "所属月份", "应交金额", "实交金额"], ["1001", "2019-01", "5", "5"], ["1002", "2019-01", "5", "5"]],
    )
    result = ingest(folder)
    [collision] = codes(result, Reason.MEMBER_KEY_COLLISION)
    assert (collision.file, collision.row, collision.action) == ("党员名册.csv", 3, Action.ROW)
    assert collision.message == (
        "本行按学工号「1001」得到的编号与 党员名册.csv 第2行 按党员编号得到的编号相同，两人无法区分；请为本行补写党员编号"
    )
    assert sorted(result.tables["members"]["member_id"]) == ["1001", "1002"]
    assert codes(result, Reason.DUPLICATE) == []  # not "重复记录": two people, not one twice
    dues = result.tables["dues"]
    assert dues["member_id"].to_list() == ["1002"]  # 工号 1001 is nobody now, least of all 张伟
    assert [p.row for p in result.problems if p.file == "党费.csv"] == [2]


def test_a_row_with_no_identifier_at_all_is_quarantined(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv", [["工号", "姓名", "所在支部编号", *ROSTER_TAIL], ["2001", "张伟", "B01", "正式", "2005-07-01"]]
    )
    write_csv(
        folder / "党费.csv",
        [["姓名", "工号", "所属月份", "应交金额", "实交金额"], ["", "", "2019-01", "5", "5"], ["", "2001", "2019-02", "5", "5"]],
    )
    result = ingest(folder)
    [blank] = result.problems
    assert (blank.reason, blank.row, blank.action) == (Reason.REQUIRED_BLANK, 2, Action.ROW)
    assert blank.message == "必填项「党员编号（或学工号、姓名）」为空"
    assert result.tables["dues"]["member_id"].to_list() == ["2001"]


# --- links by another identifier than the roster's key --------------------------------------------


def test_dues_by_name_and_id_link_to_a_roster_keyed_by_work_number(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_xlsx(
        folder / "党员花名册.xlsx",
        {
            "花名册": [
                ["工作证号", "姓名", "身份证号码", "所在党支部编码", *ROSTER_TAIL],
                ["W001", "张伟", ID18, "B01", "正式党员", "2005-07-01"],
                ["W002", "李娜", ID_OTHER, "B01", "预备党员", "2018-11-09"],
            ]
        },
    )
    write_csv(
        folder / "党费收缴.csv",
        [
            ["姓名", "身份证号", "所属月份", "应交金额", "实交金额"],
            ["张伟", ID18_LOWER, "2019-01", "5", "5"],
            ["李娜", ID_OTHER, "2019-01", "3", "3"],
        ],
    )
    write_xlsx(
        folder / "积分.xlsx", {"党员积分": [["姓名", "身份证号", "积分月份", "月度积分"], ["李娜", ID_OTHER, "2019-01", 90]]}
    )
    result = ingest(folder)
    assert result.tables["members"].sort("member_id")["member_id"].to_list() == ["W001", "W002"]
    assert result.tables["dues"].sort("month", "amount_due")["member_id"].to_list() == ["W002", "W001"]
    assert result.tables["points"]["member_id"].to_list() == ["W002"]
    assert result.problems == []  # linked by the ID number: no name-only notice
    assert result.identities.links["dues.member_id"]["id_number"] == 2


def test_name_only_link_is_accepted_with_one_counted_notice(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["工号", "姓名", "所在支部编号", *ROSTER_TAIL],
            ["2001", "张伟", "B01", "正式", "2005-07-01"],
            ["2002", "李娜", "B02", "预备", "2018-11-09"],
        ],
    )
    write_csv(
        folder / "党费.csv",
        [
            ["姓名", "所属月份", "应交金额", "实交金额"],
            ["张伟", "2019-01", "5", "5"],
            ["李娜", "2019-01", "3", "3"],
            ["张伟", "2019-02", "5", "5"],
        ],
    )
    result = ingest(folder)
    assert result.tables["dues"]["member_id"].to_list() == ["2001", "2002", "2001"]
    [notice] = result.problems
    assert (notice.reason, notice.action, notice.file, notice.row, notice.column) == (
        Reason.MEMBER_NAME_LINK,
        Action.NOTE,
        "党费.csv",
        2,
        "姓名",
    )
    assert notice.message.startswith("本表 3 行的党员编号只有姓名，按姓名对应到党员名册（第 2、3、4 行）")
    assert source(result, "党费.csv").rows_accepted == 3


def test_homonyms_in_one_branch_are_quarantined_naming_both(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["工号", "姓名", "身份证号码", "所在支部编号", *ROSTER_TAIL],
            ["2001", "张伟", "", "B01", "正式", "2005-07-01"],
            ["", "张伟", ID18, "B01", "正式", "2010-07-01"],
            ["2003", "张伟", "", "B02", "正式", "2001-07-01"],
        ],
    )
    write_csv(
        folder / "党费.csv",
        [
            ["姓名", "所属党支部", "所属月份", "应交金额", "实交金额"],
            ["张伟", "联兴集团党支部", "2019-01", "5", "5"],  # two 张伟 in B01: not guessed
            ["张伟", "运河社区党支部", "2019-01", "3", "3"],  # one 张伟 in B02: linked
        ],
    )
    result = ingest(folder)
    [ambiguous] = codes(result, Reason.MEMBER_AMBIGUOUS)
    assert (ambiguous.file, ambiguous.row, ambiguous.action, ambiguous.value) == ("党费.csv", 2, Action.ROW, "张伟")
    assert ambiguous.message == (
        "姓名「张伟」在支部 B01（联兴集团党支部） 对应 2 名党员：学工号 2001、身份证号 110105********002X，"
        "无法确定是哪一位；请补充能区分的编号"
    )
    assert result.tables["dues"]["member_id"].to_list() == ["2003"]
    assert (source(result, "党费.csv").rows_accepted, source(result, "党费.csv").rows_quarantined) == (1, 1)
    assert [p.reason for p in result.problems if p.action is Action.NOTE] == [Reason.MEMBER_NAME_LINK]


def test_roster_homonyms_keyed_only_by_name_are_both_quarantined(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["姓名", "所在支部编号", *ROSTER_TAIL],
            ["王强", "B01", "正式", "2005-07-01"],
            ["王强", "B01", "预备", "2018-11-09"],
            ["李娜", "B01", "正式", "2001-07-01"],
        ],
    )
    result = ingest(folder)
    homonyms = codes(result, Reason.MEMBER_HOMONYM)
    assert [(p.row, p.action) for p in homonyms] == [(2, Action.ROW), (3, Action.ROW)]
    assert homonyms[0].message == (
        "支部 B01（联兴集团党支部） 有 2 名党员都叫「王强」（党员名册.csv 第2行、党员名册.csv 第3行），"
        "且都没有党员编号、学工号或身份证号，无法区分"
    )
    assert result.tables["members"]["member_id"].to_list() == ["B01/李娜"]
    stats = source(result, "党员名册.csv")
    assert (stats.rows_read, stats.rows_accepted, stats.rows_quarantined) == (3, 1, 2)


def test_offices_by_name_and_attendance_by_personnel_number(tmp_path: Path):
    folder = tmp_path / "batch"
    write_csv(
        folder / "支部信息.csv",
        [
            ["支部编号", "支部名称", "上级党组织", "支部书记", "组织委员"],
            ["B01", "联兴集团党支部", "新华街道党工委", "张伟", "赵六"],
        ],
    )
    write_csv(
        folder / "党员名册.csv",
        [
            ["学号", "姓名", "所在支部编号", *ROSTER_TAIL],
            ["S1", "张伟", "B01", "正式", "2005-07-01"],
            ["S2", "李娜", "B01", "正式", "2001-07-01"],
        ],
    )
    write_csv(
        folder / "会议.csv",
        [["活动编号", "支部编号", "活动类型", "活动日期", "主讲人"], ["HD1", "B01", "党课", "2019-01-15", "李娜"]],
    )
    write_csv(folder / "参会.csv", [["活动编号", "学号", "出勤情况"], ["HD1", "S1", "出席"], ["HD1", "S2", "出席"]])
    result = ingest(folder)
    branch = result.tables["branches"].row(0, named=True)
    assert (branch["secretary_id"], branch["organizer_id"]) == ("S1", None)  # 赵六 is not on the roster: blanked
    assert result.tables["meetings"]["lecturer_id"].to_list() == ["S2"]
    assert result.tables["attendance"]["member_id"].to_list() == ["S1", "S2"]
    [missing] = codes(result, Reason.DANGLING_REF)
    assert (missing.column, missing.action, missing.message) == (
        "组织委员",
        Action.VALUE,
        "引用了不存在的姓名 赵六（B01（联兴集团党支部））",
    )


# --- pseudonyms -------------------------------------------------------------------------------------


def id_batch(tmp_path: Path) -> Path:
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["身份证号码", "姓名", "所在支部编号", *ROSTER_TAIL],
            [ID18, "张伟", "B01", "正式", "2005-07-01"],
            [ID_OTHER, "李娜", "B02", "正式", "2001-07-01"],
        ],
    )
    write_csv(
        folder / "党费.csv",
        [
            ["姓名", "身份证号", "所属月份", "应交金额", "实交金额"],
            ["张伟", ID18, "2019-01", "5", "-5"],
            ["李娜", ID_OTHER, "2019-01", "3", "3"],
        ],
    )
    return folder


def _digits_of_every_byte(path: Path) -> str:
    """Every file's bytes as text, Parquet decoded, separators removed."""
    views = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        data = file.read_bytes()
        views.append(data.decode("utf-8", "replace"))
        if file.suffix == ".parquet":
            table = pq.read_table(io.BytesIO(data))
            views += [" ".join(table.column_names), *(repr(v) for c in table.columns for v in c.to_pylist())]
    return "".join(views).replace(" ", "").replace("-", "")


def test_pseudonyms_are_stable_across_runs_and_processes_and_no_output_holds_the_number(tmp_path: Path, secret_file: Path):
    folder = id_batch(tmp_path)
    first = ingest(folder).tables["members"].sort("name")["member_id"].to_list()
    key_bytes = secret_file.read_bytes()
    second = ingest(folder).tables["members"].sort("name")["member_id"].to_list()
    assert first == second and secret_file.read_bytes() == key_bytes  # made once, then reused
    outs = []
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        proc = subprocess.run(
            [*AUDIT, "ingest", str(folder), "--out", str(out)], capture_output=True, text=True, timeout=300, env=os.environ.copy()
        )
        assert proc.returncode == 0, proc.stderr
        assert ID18[:17] not in proc.stdout + proc.stderr and ID_OTHER[:17] not in proc.stdout + proc.stderr
        outs.append(out)
        assert pl.read_parquet(out / "tables" / "members.parquet").sort("name")["member_id"].to_list() == first
    for name in ("quarantine.csv", "ingest_report.csv", "column_map.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    for out in outs:
        text = _digits_of_every_byte(out)
        for number in (ID18, ID_OTHER):
            assert number[:17] not in text and number.lower() not in text
        assert str(secret_file.parent) not in text and key_bytes.decode().strip() not in text
    assert not (folder / "pseudonym.key").exists() and not any(p.name == "pseudonym.key" for p in tmp_path.glob("out*/**/*"))


def test_a_different_secret_gives_different_pseudonyms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = id_batch(tmp_path)
    mine = ingest(folder).tables["members"].sort("name")["member_id"].to_list()
    monkeypatch.setenv(SECRET_ENV, str(tmp_path / "other" / "pseudonym.key"))
    theirs = ingest(folder).tables["members"].sort("name")["member_id"].to_list()
    assert set(mine).isdisjoint(theirs) and all(k.startswith("ID-") for k in theirs)


def test_the_secret_is_never_kept_inside_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = id_batch(tmp_path)
    monkeypatch.setenv(SECRET_ENV, str(folder / "keys" / "pseudonym.key"))
    with pytest.raises(PseudonymKeyError, match="不能放在数据批次文件夹中"):
        ingest(folder)
    assert not (folder / "keys").exists()
    proc = subprocess.run(
        [*AUDIT, "ingest", str(folder), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert proc.returncode == 2 and "不能放在数据批次文件夹中" in proc.stdout + proc.stderr


def test_no_secret_is_made_for_a_batch_that_does_not_need_one(tmp_path: Path, secret_file: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [["党员编号", "身份证号码", "姓名", "所在支部编号", *ROSTER_TAIL], ["M1", ID18, "张伟", "B01", "正式", "2005-07-01"]],
    )
    write_csv(folder / "党费.csv", [["身份证号", "所属月份", "应交金额", "实交金额"], [ID18, "2019-01", "5", "5"]])
    result = ingest(folder)
    assert result.tables["dues"]["member_id"].to_list() == ["M1"]  # linked by the number, keyed by 党员编号
    assert not secret_file.exists()
    assert "_id_full" not in result.tables["dues"].columns and "_id_full" not in result.tables["members"].columns


def test_normalised_id_numbers():
    assert normalise_id_number(ID18_LOWER) == ID18
    assert normalise_id_number("110105 19491231 002x") == ID18
    assert normalise_id_number("１１０１０５１９４９１２３１００２Ｘ") == ID18
    assert normalise_id_number(ID15) == ID15_AS_18
    assert normalise_id_number("11010519491231002") == ID18  # the lost X restored
    assert normalise_id_number(3.70102e17) is None and normalise_id_number("12345") is None


# --- branches -------------------------------------------------------------------------------------

EXAMPLES = ["中共新华街道联兴集团支部委员会", "联兴集团党支部", "联兴集团党支部 "]


def test_the_issue_examples_are_one_branch():
    names = [
        branch_name(EXAMPLES[0], "新华街道党工委"),
        branch_name(EXAMPLES[1]),
        branch_name(EXAMPLES[2], "中共新华街道工作委员会"),
    ]
    assert all(same_branch(a, b) for a in names for b in names)
    assert {n.key for n in names[::2]} == {"新华街道联兴集团党支部"}
    assert branch_name("联兴集团党支部").key == "联兴集团党支部"
    assert branch_name("联兴集团党支部").core == branch_name(EXAMPLES[2]).core == branch_name("联兴集团支部").core == "联兴集团"
    assert not same_branch(branch_name("第一党支部", "新华社区党委"), branch_name("第一党支部", "运河社区党委"))
    assert not same_branch(branch_name("联兴党支部"), branch_name("联兴集团党支部"))
    assert not same_branch(branch_name(EXAMPLES[0]), branch_name(EXAMPLES[1]))  # the parent unknown: not the same name


def test_members_by_branch_name_resolve_to_the_code_and_inspect_shows_the_table(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["党员编号", "姓名", "所在党支部", *ROSTER_TAIL],
            ["M1", "张伟", EXAMPLES[0], "正式", "2005-07-01"],
            ["M2", "李娜", EXAMPLES[1], "正式", "2005-07-01"],
            ["M3", "王强", EXAMPLES[2], "正式", "2005-07-01"],
            ["M4", "赵六", "运河社区 党支部", "正式", "2005-07-01"],
        ],
    )
    result = ingest(folder)
    assert result.tables["members"].sort("member_id")["branch_id"].to_list() == ["B01", "B01", "B01", "B02"]
    assert result.problems == []
    lines = render_inspection(result, load_contract())
    assert "支部（各表中的编号和名称写法 → 支部键）：" in lines
    [b01] = [line for line in lines if line.startswith("  B01（联兴集团党支部） ← ")]
    assert "B01（编号，1 行）" in b01 and "「联兴集团党支部」（支部信息中的名称，1 行）" in b01
    assert f"「{EXAMPLES[0]}」（去掉上级组织名后相同，1 行）" in b01
    assert "「联兴集团党支部」（名称相同，2 行）" in b01  # the trailing space is gone when the cell is read
    [b02] = [line for line in lines if line.startswith("  B02（运河社区党支部） ← ")]
    assert "「运河社区 党支部」（名称规范化后相同，1 行）" in b02
    proc = subprocess.run([*AUDIT, "inspect", str(folder)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and b01.strip() in proc.stdout


def test_an_uncertain_name_is_not_guessed_and_the_mapping_file_resolves_it(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["党员编号", "姓名", "所在党支部", *ROSTER_TAIL],
            ["M1", "张伟", "联兴党支部", "正式", "2005-07-01"],
            ["M2", "李娜", "联兴集团党支部", "正式", "2005-07-01"],
        ],
    )
    result = ingest(folder)
    [unresolved] = codes(result, Reason.BRANCH_UNRESOLVED)
    assert (unresolved.row, unresolved.action, unresolved.column) == (2, Action.ROW, "所在党支部")
    assert "「联兴党支部」与 B01（联兴集团党支部） 相近" in unresolved.message
    assert result.tables["members"]["member_id"].to_list() == ["M2"]
    lines = render_inspection(result, load_contract())
    assert any(line.startswith("  「联兴党支部」：与以下支部相近 B01（联兴集团党支部）") for line in lines)
    assert "branches:" in lines and '  "联兴党支部": ？  # 可选：B01（联兴集团党支部）' in lines
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("branches:\n  联兴党支部: B01\n", encoding="utf-8")
    fixed = ingest(folder, mapping=load_mapping(mapping, load_contract()))
    assert fixed.tables["members"].sort("member_id")["branch_id"].to_list() == ["B01", "B01"]
    assert fixed.problems == []
    assert any("「联兴党支部」（映射文件第 2 行，1 行）" in line for line in render_inspection(fixed, load_contract()))


def test_mapping_file_branches_are_checked(tmp_path: Path):
    path = tmp_path / "mapping.yaml"
    path.write_text("branches:\n  联兴党支部: B01\n  联兴 党支部: B02\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"第 3 行.*出现了两次"):
        load_mapping(path, load_contract())
    path.write_text("branches:\n  联兴党支部: [B01]\n", encoding="utf-8")
    with pytest.raises(MappingError, match="第 2 行"):
        load_mapping(path, load_contract())


def test_branches_missing_from_the_list_are_created_with_a_notice(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv",
        [
            ["党员编号", "姓名", "所在支部编号", *ROSTER_TAIL],
            ["M1", "张伟", "B09", "正式", "2005-07-01"],
            ["M2", "李娜", "B09", "正式", "2005-07-01"],
        ],
    )
    write_csv(
        folder / "会议.csv", [["活动编号", "支部名称", "活动类型", "活动日期"], ["HD1", "红星社区党支部", "党课", "2019-01-15"]]
    )
    result = ingest(folder)
    assert sorted(result.tables["branches"]["branch_id"]) == ["B01", "B02", "B09", "红星社区党支部"]
    assert result.tables["meetings"]["branch_id"].to_list() == ["红星社区党支部"]
    assert result.tables["members"].height == 2
    notices = codes(result, Reason.BRANCH_CREATED)
    assert [(p.file, p.row, p.action) for p in notices] == [("会议.csv", 2, Action.NOTE), ("党员名册.csv", 2, Action.NOTE)]
    assert (
        notices[1].message
        == "支部信息中没有支部编号 B09，已按其他表中的引用新建该支部（键 B09；首次出现在 党员名册.csv 第2行，共 2 行引用）"
    )
    lines = render_inspection(result, load_contract())
    assert any(line.startswith("  B09［支部信息中没有，已新建］ ← B09（编号，2 行）") for line in lines)


def test_a_batch_without_a_branch_list_keys_branches_by_name(tmp_path: Path):
    folder = tmp_path / "batch"
    write_csv(
        folder / "党员名册.csv",
        [
            ["工号", "姓名", "所在党支部", *ROSTER_TAIL],
            ["1", "张伟", EXAMPLES[1], "正式", "2005-07-01"],
            ["2", "李娜", EXAMPLES[2], "正式", "2005-07-01"],
        ],
    )
    result = ingest(folder)
    assert result.tables["members"]["branch_id"].to_list() == ["联兴集团党支部", "联兴集团党支部"]
    assert result.tables["branches"]["branch_id"].to_list() == ["联兴集团党支部"]
    [notice] = result.problems
    assert notice.reason is Reason.BRANCH_CREATED and "共 2 行引用" in notice.message


def test_one_name_with_two_codes_is_an_error_naming_both(tmp_path: Path):
    folder = tmp_path / "batch"
    write_csv(
        folder / "支部信息.csv",
        [*BRANCH_LIST, ["B07", EXAMPLES[0], "中共新华街道工作委员会", "两新组织"]],
    )
    write_csv(
        folder / "党员名册.csv",
        [
            ["党员编号", "姓名", "所在党支部编码", "所在党支部", *ROSTER_TAIL],
            ["M1", "张伟", "", "联兴集团党支部", "正式", "2005-07-01"],  # by name only: which one?
            ["M2", "李娜", "B02", "运河社区党支部", "正式", "2005-07-01"],
        ],
    )
    result = ingest(folder)
    [conflict] = codes(result, Reason.BRANCH_NAME_CONFLICT)
    assert (conflict.file, conflict.row) == ("支部信息.csv", 4)
    assert "B01、B07" in conflict.message and "支部信息.csv 第2行" in conflict.message
    [ambiguous] = codes(result, Reason.BRANCH_AMBIGUOUS)
    assert (ambiguous.file, ambiguous.row, ambiguous.action) == ("党员名册.csv", 2, Action.ROW)
    assert ambiguous.message.startswith(
        "支部名称「联兴集团党支部」同时对应 B01（联兴集团党支部）、B07（中共新华街道联兴集团支部委员会）"
    )
    assert result.tables["members"]["member_id"].to_list() == ["M2"]
    lines = render_inspection(result, load_contract())
    assert any(line.startswith("  「联兴集团党支部」：同时对应 B01（联兴集团党支部）、B07") for line in lines)


def test_an_id_number_excel_rounded_identifies_no_one(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "党员名册.csv", [["工号", "姓名", "所在支部编号", *ROSTER_TAIL], ["2001", "张伟", "B01", "正式", "2005-07-01"]]
    )
    write_xlsx(
        folder / "党费.xlsx",
        {"党费收缴": [["身份证号", "所属月份", "应交金额", "实交金额"], [1.10105194912310e17, "2019-01", 5, 5]]},
    )
    result = ingest(folder)
    assert result.tables["dues"].is_empty()
    assert [(p.reason, p.action) for p in result.problems] == [
        (Reason.ID_MANGLED, Action.ROW),
        (Reason.REQUIRED_BLANK, Action.ROW),
    ]
    assert result.problems[1].message == "必填项「党员编号（或身份证号）」为空"


def test_two_processes_making_the_secret_at_once_agree_on_it(tmp_path: Path):
    folder = id_batch(tmp_path)
    env = {**os.environ, SECRET_ENV: str(tmp_path / "fresh" / "audit" / "pseudonym.key")}
    assert ingest_at_once(folder, [tmp_path / "race1", tmp_path / "race2"], env) == [0, 0]
    keys = [
        pl.read_parquet(tmp_path / f"race{n}" / "tables" / "members.parquet").sort("name")["member_id"].to_list() for n in (1, 2)
    ]
    assert keys[0] == keys[1]
    assert [p.name for p in (tmp_path / "fresh" / "audit").iterdir()] == ["pseudonym.key"]  # no temporary file left
    assert stat.S_IMODE((tmp_path / "fresh" / "audit" / "pseudonym.key").stat().st_mode) == 0o600


def test_a_venue_check_gives_its_branch_by_党支部编码(tmp_path: Path):
    """The code header the issue names (`党支部编码`) keys a venue check's branch as it does the
    other tables' (a platform's 阵地建设 sheet), so the check is read and linked to the branch."""
    folder = batch_dir(tmp_path)
    write_csv(folder / "阵地建设.csv", [["党支部编码", "检查日期", "有场所", "有制度"], ["B02", "2019-03-05", "√", "×"]])
    result = ingest(folder)
    assert (source(result, "阵地建设.csv").rows_accepted, result.problems) == (1, [])
    venues = result.tables["venues"]
    assert venues.select("branch_id", "has_space", "has_rules").rows() == [("B02", True, False)]
