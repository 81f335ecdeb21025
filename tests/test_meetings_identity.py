"""Real exports II, meetings and offices: meetings keyed without 活动编号, attendance given as a
per-member list, as counts only or as a 缺席人员 / 请假人员 text, and who holds a branch's offices
(branch list, committee list, the roster's 党内职务). Every file is a small real CSV or workbook
written by the test and read by the real pipeline."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from audit.contract import load_contract
from audit.ingest import ingest
from audit.inspection import render_inspection
from audit.meetings import meeting_key, split_names
from audit.offices import holders_during, offices_in
from audit.privacy import SECRET_ENV
from audit.reasons import Action, Reason
from audit.validate import validate
from conftest import write_csv, write_xlsx

BRANCH_LIST = [
    ["支部编号", "支部名称", "上级党组织"],
    ["B01", "联兴集团党支部", "新华街道党工委"],
    ["B02", "运河社区党支部", "新华街道党工委"],
]
ROSTER = [
    ["工作证号", "姓名", "所在支部编号", "党籍状态", "入党时间"],
    ["W1", "张三", "B01", "正式", "2005-07-01"],
    ["W2", "李四", "B01", "正式", "2006-07-01"],
    ["W3", "王五", "B01", "预备", "2018-11-09"],
    ["W4", "赵六", "B01", "正式", "2001-07-01"],
    ["W5", "张三", "B02", "正式", "2003-07-01"],  # the same name in another branch: not a homonym of W1
]
MEETING_HEADER = ["所在党支部", "会议类型", "会议时间", "会议主题"]
DERIVED = re.compile(r"^B01-20190115-DK-[0-9a-f]{6}$")


@pytest.fixture(autouse=True)
def secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own pseudonym secret (never the user's)."""
    path = tmp_path / "config" / "audit" / "pseudonym.key"
    monkeypatch.setenv(SECRET_ENV, str(path))
    return path


def batch_dir(tmp_path: Path, roster: list[list[str]] = ROSTER) -> Path:
    folder = tmp_path / "batch"
    write_csv(folder / "支部信息.csv", BRANCH_LIST)
    write_csv(folder / "党员名册.csv", roster)
    return folder


def codes(result, reason: Reason) -> list:
    return [p for p in result.problems if p.reason is reason]


def by_id(frame: pl.DataFrame, key: str, value: str) -> dict:
    return frame.filter(pl.col(key) == value).row(0, named=True)


# --- meetings without ids ------------------------------------------------------------------------------


def test_derived_meeting_ids_are_stable_and_the_same_meeting_in_two_files_is_one_duplicate(tmp_path: Path):
    """No 活动编号 anywhere: each meeting is keyed `<branch>-<yyyymmdd>-<code>-<6 hex>`; the 党课 of
    15 January written again in a workbook (spaces, no 书名号, no clock time, the branch's full
    name) is the same meeting, so its second record is a duplicate; two 党小组会 of two groups on
    one day are two meetings; the keys are the same on a second run."""
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "三会一课.csv",
        [
            [*MEETING_HEADER, "党小组", "应到人数", "实到人数"],
            ["联兴集团党支部", "党课", "2019-01-15 14:30", "学习《党章》", "", "4", "4"],
            ["联兴集团党支部", "党小组会", "2019-01-20", "", "第一党小组", "2", "2"],
            ["联兴集团党支部", "党小组会", "2019-01-20", "", "第二党小组", "2", "2"],
        ],
    )
    write_xlsx(
        folder / "组织生活记录（补充）.xlsx",
        {
            "会议活动": [
                [*MEETING_HEADER, "应到人数", "实到人数"],
                ["中共新华街道联兴集团支部委员会", "党课", "2019/1/15", "学习 党章", 4, 4],
            ]
        },
    )
    first = ingest(folder)
    meetings = first.tables["meetings"]
    ids = meetings["meeting_id"].to_list()
    assert len(ids) == 3 and DERIVED.match(ids[0]), ids
    assert ids[1] != ids[2] and all(i.startswith("B01-20190120-DXZH-") for i in ids[1:])
    assert ids[0] == meeting_key("B01", meetings["held_on"][0], "DK", "学习党章")
    [duplicate] = codes(first, Reason.DUPLICATE)
    assert (duplicate.file, duplicate.sheet, duplicate.row, duplicate.value) == (
        "组织生活记录（补充）.xlsx",
        "会议活动",
        2,
        ids[0],
    )
    assert "三会一课.csv 第2行" in duplicate.message and duplicate.action is Action.ROW
    [notice] = [p for p in codes(first, Reason.MEETING_ID_DERIVED) if p.file == "三会一课.csv"]
    assert notice.action is Action.NOTE and notice.column == "活动编号" and "3 条会议没有活动编号" in notice.message
    again = ingest(folder)
    assert again.tables["meetings"]["meeting_id"].to_list() == ids
    lines = "\n".join(render_inspection(first, load_contract()))
    assert "0 条有活动编号，4 条生成编号" in lines


def test_a_record_without_an_id_of_a_meeting_written_with_one_takes_its_id(tmp_path: Path):
    """The platform export has 活动编号, the hand-kept 台账 not: the 台账's record of the same meeting
    takes the written id, so it is reported as a duplicate of it instead of counted twice."""
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "三会一课.csv",
        [["活动编号", "支部编号", "活动类型", "活动日期", "主题"], ["HD7", "B01", "党课", "2019-01-15", "学习党章"]],
    )
    write_csv(folder / "会议记录_台账.csv", [MEETING_HEADER, ["联兴集团党支部", "党课", "2019年1月15日", "学习党章"]])
    result = ingest(folder)
    assert result.tables["meetings"]["meeting_id"].to_list() == ["HD7"]
    [duplicate] = codes(result, Reason.DUPLICATE)
    assert (duplicate.file, duplicate.value) == ("会议记录_台账.csv", "HD7")
    [notice] = codes(result, Reason.MEETING_ID_DERIVED)
    assert "1 条与写有活动编号的会议相同，采用其编号" in notice.message


def test_an_attendance_list_without_ids_finds_its_meeting_by_date_and_type(tmp_path: Path):
    """A per-member list without 活动编号 names its meeting by date (and type): one fitting meeting is
    linked; no meeting on that date, or two it cannot tell apart, quarantine the row."""
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "三会一课.csv",
        [
            MEETING_HEADER,
            ["联兴集团党支部", "党课", "2019-01-15", "学习党章"],
            ["联兴集团党支部", "支委会", "2019-01-15", "研究发展工作"],
        ],
    )
    write_csv(
        folder / "参会明细.csv",
        [
            ["会议时间", "会议类型", "工作证号", "出勤情况"],
            ["2019-01-15", "党课", "W1", "出席"],
            ["2019-01-15", "党课", "W2", "请假"],
            ["2019-02-01", "党课", "W3", "出席"],
            ["2019-01-15", "", "W4", "出席"],
        ],
    )
    result = ingest(folder)
    meetings = result.tables["meetings"]
    lecture = meetings.filter(pl.col("meeting_type") == "党课")["meeting_id"].item()
    attendance = result.tables["attendance"]
    assert attendance.select("meeting_id", "member_id", "status").rows() == [(lecture, "W1", "出席"), (lecture, "W2", "请假")]
    [missing] = codes(result, Reason.MEETING_NOT_FOUND)
    assert (missing.row, missing.column, missing.action) == (4, "会议时间", Action.ROW) and "2019-02-01、党课" in missing.message
    [ambiguous] = codes(result, Reason.MEETING_AMBIGUOUS)
    assert ambiguous.row == 5 and "对应 2 条会议" in ambiguous.message and lecture in ambiguous.message
    stats = next(s for s in result.sources if s.file == "参会明细.csv")
    assert (stats.rows_read, stats.rows_accepted, stats.rows_quarantined) == (4, 2, 2)
    assert dict(zip(meetings["meeting_type"], meetings["attendance_source"], strict=True)) == {
        "党课": "list",
        "支部委员会": "none",
    }


# --- attendance as counts or names ---------------------------------------------------------------------


def test_counts_only_meetings_say_so(tmp_path: Path):
    """A meeting with 应到 / 实到 / 请假人数 and no list is `counts`, one with nothing `none`; no
    attendance row is made up for either."""
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "三会一课.csv",
        [
            [*MEETING_HEADER, "应到人数", "实到人数", "请假人数"],
            ["联兴集团党支部", "党课", "2019-01-15", "学习党章", "4", "3", "1"],
            ["联兴集团党支部", "主题党日", "2019-01-15", "重温入党誓词", "", "", ""],
        ],
    )
    result = ingest(folder)
    meetings = result.tables["meetings"].sort("meeting_type")
    assert meetings.select("meeting_type", "attendance_source", "absentees_complete").rows() == [
        ("主题党日", "none", None),
        ("党课", "counts", None),
    ]
    counts = meetings.filter(pl.col("meeting_type") == "党课").select("expected_count", "present_count", "leave_count")
    assert counts.row(0) == (4, 3, 1)
    assert result.tables["attendance"].is_empty()
    lines = "\n".join(render_inspection(result, load_contract()))
    assert "只有人数 1 条，没有出勤记录 1 条" in lines


def test_absentee_text_is_split_matched_in_the_branch_and_an_unknown_name_reported(tmp_path: Path):
    """`缺席人员及原因` and `请假人员` list names split on 、，, ; and spaces; a reason in brackets is
    kept (a leave reason makes it 请假); names match the members of the meeting's branch (张三 is
    W1 of B01, not W5 of B02); 钱七 is on no roster and is reported naming file, row and column."""
    folder = batch_dir(tmp_path)
    write_xlsx(
        folder / "三会一课.xlsx",
        {
            "会议活动": [
                ["导出时间：2019-12"],
                [*MEETING_HEADER, "应到人数", "实到人数", "缺席人员及原因", "请假人员"],
                ["联兴集团党支部", "党课", "2019-01-15", "学习党章", 5, 1, "张三（病假）、李四 钱七(出差)", "王五"],
                ["联兴集团党支部", "主题党日", "2019-01-20", "重温入党誓词", 4, 4, None, None],
                ["联兴集团党支部", "支委会", "2019-01-25", "研究工作", 4, 3, "赵六；", None],
            ]
        },
    )
    result = ingest(folder)
    meetings = result.tables["meetings"]
    lecture = by_id(meetings, "meeting_type", "党课")
    assert (lecture["attendance_source"], lecture["absentees_complete"]) == (
        "absentees",
        True,
    )  # 5 - 1 = 4 names, 钱七 among them
    theme = by_id(meetings, "meeting_type", "主题党日")
    assert (theme["attendance_source"], theme["absentees_complete"]) == ("absentees", True)  # nobody listed, 4 of 4
    committee = by_id(meetings, "meeting_type", "支部委员会")
    assert (committee["attendance_source"], committee["absentees_complete"]) == ("absentees", True)
    rows = result.tables["attendance"].sort("meeting_id", "member_id").select("meeting_id", "member_id", "status", "reason")
    assert rows.filter(pl.col("meeting_id") == lecture["meeting_id"]).drop("meeting_id").rows() == [
        ("W1", "请假", "病假"),
        ("W2", "缺席", None),
        ("W3", "请假", None),
    ]
    assert rows.filter(pl.col("meeting_id") == committee["meeting_id"]).drop("meeting_id").rows() == [("W4", "缺席", None)]
    assert rows.filter(pl.col("meeting_id") == theme["meeting_id"]).is_empty()
    [unknown] = codes(result, Reason.ABSENTEE_UNMATCHED)
    assert (unknown.file, unknown.sheet, unknown.row, unknown.column, unknown.value, unknown.action) == (
        "三会一课.xlsx",
        "会议活动",
        3,
        "缺席人员及原因",
        "钱七",
        Action.NOTE,
    )
    assert unknown.message == "缺席人员「钱七」在支部 B01 的党员名册中找不到，未计入出勤"
    assert unknown.as_row()["reason"] == unknown.message and unknown.as_row()["code"] == "ABSENTEE_UNMATCHED"


def test_an_absentee_list_the_counts_do_not_confirm_is_marked_incomplete(tmp_path: Path):
    """应到 10, 实到 7, but one name listed: the list is not complete (`absentees_complete` false)."""
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "三会一课.csv",
        [
            [*MEETING_HEADER, "应到人数", "实到人数", "缺席人员"],
            ["联兴集团党支部", "党课", "2019-01-15", "学习党章", "10", "7", "李四"],
        ],
    )
    meeting = ingest(folder).tables["meetings"].row(0, named=True)
    assert (meeting["attendance_source"], meeting["absentees_complete"]) == ("absentees", False)


def test_an_absentee_name_two_members_of_the_branch_share_is_reported_never_guessed(tmp_path: Path):
    roster = [*ROSTER, ["W9", "李四", "B01", "正式", "2010-07-01"]]
    folder = batch_dir(tmp_path, roster)
    write_csv(
        folder / "三会一课.csv",
        [[*MEETING_HEADER, "缺席人员及原因"], ["联兴集团党支部", "党课", "2019-01-15", "学习党章", "李四（出差）、赵六"]],
    )
    result = ingest(folder)
    assert result.tables["attendance"]["member_id"].to_list() == ["W4"]
    [homonym] = codes(result, Reason.ABSENTEE_AMBIGUOUS)
    assert (homonym.row, homonym.column, homonym.value, homonym.action) == (2, "缺席人员及原因", "李四", Action.NOTE)
    assert "对应 2 名党员：学工号 W2、学工号 W9" in homonym.message


def test_names_in_absentee_text():
    assert split_names("张三（病假）、李四，王五; 赵六(出差)  孙七", "缺席") == [
        ("张三", "请假", "病假"),
        ("李四", "缺席", None),
        ("王五", "缺席", None),
        ("赵六", "缺席", "出差"),
        ("孙七", "缺席", None),
    ]
    assert split_names("请假：李四（事假，外出）；缺席：王五等2人", "缺席") == [
        ("李四", "请假", "事假,外出"),
        ("王五", "缺席", None),
    ]
    assert split_names("张三：出差", "缺席") == [("张三", "缺席", "出差")]
    assert split_names("无", "缺席") == split_names("全部到会", "缺席") == split_names(None, "请假") == []


# --- offices ---------------------------------------------------------------------------------------------


def offices(result) -> list[tuple]:
    columns = ("branch_id", "secretary_id", "secretary_source", "organizer_id", "organizer_source")
    return result.tables["branches"].sort("branch_id").select(columns).rows()


def test_secretary_from_the_branch_list(tmp_path: Path):
    folder = tmp_path / "batch"
    write_csv(
        folder / "支部信息.csv",
        [["支部编号", "支部名称", "上级党组织", "书记工号"], ["B01", "联兴集团党支部", "新华街道党工委", "W2"]],
    )
    write_csv(folder / "党员名册.csv", ROSTER[:5])
    result = ingest(folder)
    assert offices(result) == [("B01", "W2", "branches", None, None)]


def test_secretary_and_organizer_from_the_committee_list(tmp_path: Path):
    """A 支委名单 by branch name: the secretary whose term is open (the earlier one left in January),
    one member holding two offices; B02's lists name two open secretaries it cannot tell apart."""
    folder = batch_dir(tmp_path)
    write_xlsx(
        folder / "支部委员会成员.xlsx",
        {
            "Sheet1": [
                ["所在党支部", "姓名", "职务", "任职起止"],
                ["联兴集团党支部", "李四", "党支部书记", "2016.03-2019.01"],
                ["联兴集团党支部", "张三", "书记兼组织委员", "2019年1月至今"],
                ["联兴集团党支部", "赵六", "宣传委员", "2016.03-"],
                ["运河社区党支部", "张三", "支部书记", None],
                ["运河社区党支部", "张三", "副书记", None],
            ]
        },
    )
    write_csv(folder / "党员名册_补充.csv", [ROSTER[0], ["W6", "钱七", "B02", "正式", "2004-07-01"]])
    write_csv(folder / "支委名单_运河.csv", [["支部编号", "工作证号", "职务"], ["B02", "W6", "书记"]])
    result = ingest(folder)
    assert offices(result) == [("B01", "W1", "committee", "W1", "committee"), ("B02", None, None, None, None)]
    committee = result.tables["committee"]
    former = by_id(committee, "member_id", "W2")  # 任职起止 2016.03-2019.01, read to the month
    assert (former["term_start"].isoformat(), former["term_end"].isoformat()) == ("2016-03-01", "2019-01-01")
    assert (former["term_start_precision"], former["term_end_precision"]) == ("month", "month")
    assert by_id(committee, "member_id", "W1")["term_end"] is None  # 至今
    [ambiguous] = codes(result, Reason.OFFICE_AMBIGUOUS)
    assert ambiguous.action is Action.NOTE and "有 2 名书记：学工号 W5、学工号 W6" in ambiguous.message


def test_secretary_from_the_roster_post_and_a_conflicting_committee_noted(tmp_path: Path):
    roster = [[*ROSTER[0], "党内职务"], [*ROSTER[1], "党支部书记"], [*ROSTER[2], "党委书记"], [*ROSTER[3], "组织委员、纪检委员"]]
    folder = batch_dir(tmp_path, roster)
    result = ingest(folder)
    assert offices(result) == [("B01", "W1", "members", "W3", "members"), ("B02", None, None, None, None)]
    assert offices_in("党委书记") == frozenset() and offices_in("支部副书记") == {"deputy_secretary"}
    write_csv(folder / "班子成员.csv", [["支部编号", "姓名", "职务"], ["B01", "李四", "支部书记"]])
    second = ingest(folder)
    assert offices(second)[0] == ("B01", "W2", "committee", "W3", "members")
    [conflict] = codes(second, Reason.OFFICE_CONFLICT)
    assert (conflict.file, conflict.row, conflict.column) == ("党员名册.csv", 2, "党内职务")
    assert "党员名册（党内职务）中支部 B01 的书记是 学工号 W1，与支部委员会成员表中的 学工号 W2 不一致" in conflict.message
    lines = "\n".join(render_inspection(second, load_contract()))
    assert "书记：支部委员会成员表 1 个支部，没有（无法评估） 1 个支部" in lines


def test_transfer_register_by_work_number_sets_the_date_and_the_post_of_a_member_gone_is_not_used(tmp_path: Path):
    """Members keyed by 工作证号; the transfer-out register (by 工作证号 and 姓名) gives W3 the
    transfer date the roster lacks, so W3's 党内职务 组织委员 no longer makes W3 the organizer."""
    roster = [[*ROSTER[0], "党内职务"], [*ROSTER[1], "支部书记"], [*ROSTER[2], ""], [*ROSTER[3], "组织委员"]]
    folder = batch_dir(tmp_path, roster)
    write_csv(
        folder / "组织关系转出.csv",
        [["工作证号", "姓名", "转出办理时间", "转入党组织"], ["W3", "王五", "2019-02-10", "外单位党支部"]],
    )
    result = ingest(folder)
    members = result.tables["members"]
    assert by_id(members, "member_id", "W3")["transferred_out_on"].isoformat() == "2019-02-10"
    assert by_id(members, "member_id", "W1")["transferred_out_on"] is None
    assert offices(result)[0] == ("B01", "W1", "members", None, None)
    assert dict(result.identities.links["transfers.member_id"]) == {"personnel_no": 1}


# --- lecturers ---------------------------------------------------------------------------------------------


def test_lecturer_by_name_or_number_and_never_the_host(tmp_path: Path):
    folder = batch_dir(tmp_path)
    write_csv(
        folder / "三会一课.csv",
        [
            [*MEETING_HEADER, "主讲人", "主持人"],
            ["联兴集团党支部", "党课", "2019-01-15", "学习党章", "李四", "张三"],
            ["联兴集团党支部", "党课", "2019-02-15", "学习准则", "W3", "张三"],
            ["联兴集团党支部", "党课", "2019-03-15", "学习条例", "", "张三"],
        ],
    )
    result = ingest(folder)
    meetings = result.tables["meetings"].sort("held_on")
    assert meetings["lecturer_id"].to_list() == ["W2", "W3", None]
    assert all(m.startswith("B01-2019") for m in meetings["meeting_id"].to_list())
    assert codes(result, Reason.DANGLING_REF) == []


def test_the_host_is_resolved_to_a_member_of_the_branch_where_it_names_one(tmp_path: Path):
    """主持人 by name (with a title in brackets) or by number becomes `host_id`, a member of the
    meeting's branch; a name no member of the branch has, or two share, stays null without a
    quarantine entry (no rule reads the host yet); `inspect` counts both."""
    roster = [*ROSTER, ["W6", "李四", "B01", "正式", "2010-07-01"]]  # a second 李四 in B01
    folder = batch_dir(tmp_path, roster)
    write_csv(
        folder / "三会一课.csv",
        [
            [*MEETING_HEADER, "主持人"],
            ["联兴集团党支部", "支委会", "2019-01-05", "研究工作", "张三（书记）"],
            ["联兴集团党支部", "支委会", "2019-02-05", "研究发展", "W4"],
            ["运河社区党支部", "支委会", "2019-01-06", "研究工作", "张三"],  # B02's 张三, not B01's
            ["联兴集团党支部", "支委会", "2019-03-05", "研究党费", "李四"],  # two 李四: not guessed
            ["联兴集团党支部", "党员大会", "2019-03-20", "选举", "街道党工委刘书记"],
            ["联兴集团党支部", "党课", "2019-03-25", "学习党章", ""],
        ],
    )
    result = ingest(folder)
    meetings = result.tables["meetings"].sort("branch_id", "held_on")
    assert meetings["host_id"].to_list() == ["W1", "W4", None, None, None, "W5"]
    assert [p for p in result.problems if p.column == "主持人"] == []
    lines = "\n".join(render_inspection(result, load_contract()))
    assert "5 条会议写有主持人，3 条对应到本支部党员，2 条未对应（未猜测）" in lines


def test_the_secretary_of_each_quarter_comes_from_the_committee_terms(tmp_path: Path):
    """张三 was secretary until June 2019, 李四 from July: ingestion records the current holder
    (李四), and each audited quarter asks its own secretary for its 党课 — 张三 in the first
    quarter, 李四 in the third — so neither quarter has a TM-1 finding for B01."""
    folder = batch_dir(tmp_path)
    write_xlsx(
        folder / "支部委员会成员.xlsx",
        {
            "Sheet1": [
                ["所在党支部", "姓名", "职务", "任职起止"],
                ["联兴集团党支部", "张三", "党支部书记", "2016.03-2019.06"],
                ["联兴集团党支部", "李四", "党支部书记", "2019年7月至今"],
            ]
        },
    )
    write_csv(
        folder / "三会一课.csv",
        [
            [*MEETING_HEADER, "主讲人"],
            ["联兴集团党支部", "党课", "2019-02-15", "学习党章", "张三"],
            ["联兴集团党支部", "党课", "2019-08-15", "学习准则", "李四"],
        ],
    )
    write_csv(
        folder / "党费.csv",
        [["工作证号", "所属月份", "应交金额", "实交金额"], *(["W1", f"2019-{m:02d}", "5", "5"] for m in range(1, 13))],
    )
    q1 = validate(folder, "2019Q1", data_docs=False)
    assert q1.ingested.tables["branches"].filter(pl.col("branch_id") == "B01")["secretary_id"].to_list() == ["W2"]
    committee = q1.ingested.tables["committee"]
    assert holders_during(committee, dt.date(2019, 4, 1), dt.date(2019, 6, 30)) == {("B01", "secretary"): ["W1"]}
    assert holders_during(committee, dt.date(2019, 6, 1), dt.date(2019, 7, 31)) == {("B01", "secretary"): ["W2"]}
    q3 = validate(folder, "2019Q3", data_docs=False)
    for v in (q1, q3):
        tm1 = v.findings.filter(pl.col("rule_id") == "TM-1")
        assert "B01" not in set(tm1["branch_id"]), tm1["message"].to_list()
        assert set(v.coverage.filter((pl.col("rule_id") == "TM-1") & (pl.col("branch_id") == "B01"))["status"]) == {"已评估"}
