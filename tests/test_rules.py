"""Every rule of the standard: a passing case (the compliant world) and failing cases, each built
from real export files and run through ingestion, facts and the real GX suites."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from audit.paths import STANDARD_FILE
from audit.standard import load_standard
from worlds import audit, drop_meeting, keys, meetings, members, one, plain_member, row, secretary, world

D = dt.date


@pytest.mark.parametrize("quarter", ["2018Q3", "2018Q4", "2019Q1", "2019Q2", "2019Q3", "2019Q4"])
def test_compliant_world_has_no_findings(tmp_path: Path, quarter: str):
    v = audit(world(), tmp_path, quarter)
    assert v.findings.is_empty(), v.findings.to_dicts()
    assert set(v.scorecard["rating"]) == {"过硬"}
    assert set(v.scorecard["作用发挥"]) == {"未评估"}  # no rule in the source text: never shown as passed


# --- 班子队伍 --------------------------------------------------------------------------------------


def test_tm1_secretary_must_lead_study_each_quarter(tmp_path: Path):
    w = world()
    lecture = meetings(w, "XH01", "党课", "2019-02")[0]
    lecture["lecturer_id"] = "M00003"
    for study in meetings(w, "XH01", "集中学习", "2019-03"):
        drop_meeting(w, study)
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("TM-1", "error", "XH01", "", "2019Q1")}
    assert one(v, "TM-1")["message"] == "2019年第一季度支部书记主讲党课或集中学习次数不足：0次（要求每季度至少1次）"


def test_tm2_and_ol4_are_judged_when_the_year_ends(tmp_path: Path):
    w = world()
    lectures = [m for m in meetings(w, "XH02", "党课") if m["held_on"].year == 2019]
    for lecture in lectures[:3]:  # three 党课 become 集中学习 by the secretary: TM-1 still met
        lecture["meeting_type"] = "集中学习"
    lectures[3]["lecturer_id"] = "M00013"  # the one remaining 党课 is not given by the secretary
    q3 = audit(w, tmp_path, "2019Q3")
    assert keys(q3) == set()  # yearly rules are not violations before the year ends
    progress = q3.facts.progress.filter(pl.col("branch_id") == "XH02")
    assert set(progress.filter(pl.col("rule_id") == "OL-4")["status"]) == {"进度落后"}
    q4 = audit(w, tmp_path, "2019Q4")
    expected = {("OL-4", "error", "XH02", "", "2019"), ("TM-2", "error", "XH02", "", "2019")}
    led_in_q4 = [
        m for m in meetings(w, "XH02", "集中学习") if m["held_on"] >= D(2019, 10, 1) and m["lecturer_id"] == secretary(w, "XH02")
    ]
    if not led_in_q4:  # then the secretary led nothing in Q4 either
        expected.add(("TM-1", "error", "XH02", "", "2019Q4"))
    assert keys(q4) == expected


# --- 组织生活 --------------------------------------------------------------------------------------


def test_ol1_assembly_each_quarter(tmp_path: Path):
    w = world()
    drop_meeting(w, meetings(w, "XH02", "支部党员大会", "2019-02")[0])
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-1", "error", "XH02", "", "2019Q1")}
    assert "会议记录中本季度无支部党员大会" in one(v, "OL-1")["evidence"]


def test_ol2_committee_each_month(tmp_path: Path):
    w = world()
    drop_meeting(w, meetings(w, "XH01", "支部委员会", "2019-02")[0])
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-2", "error", "XH01", "", "2019-02")}
    assert one(v, "OL-2")["message"] == "2019年2月支部委员会召开次数不足：0次（要求每月至少1次）"
    assert one(v, "OL-2")["clause"] == "(二)1"


def test_ol3_each_party_group_each_month(tmp_path: Path):
    w = world()
    drop_meeting(w, next(m for m in meetings(w, "XH01", "党小组会", "2019-03") if m["group_name"] == "第二党小组"))
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-3", "error", "XH01", "第二党小组", "2019-03")}
    assert one(v, "OL-3")["evidence"] == "会议记录中无“第二党小组”该月的党小组会"  # the group's name set apart


def test_ol5_missing_theme_day_is_an_error_off_date_a_warning(tmp_path: Path):
    w = world()
    drop_meeting(w, meetings(w, "XH01", "主题党日", "2019-03")[0])
    meetings(w, "XH02", "主题党日", "2019-01")[0]["held_on"] = D(2019, 1, 16)
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-5", "error", "XH01", "", "2019-03"), ("OL-5", "warning", "XH02", "", "2019-01")}
    warning = v.findings.filter(pl.col("severity") == "warning").row(0, named=True)
    assert warning["message"] == "2019年1月主题党日在1月16日开展，不在规定的每月15日"
    ratings = dict(v.scorecard.select("branch_id", "rating").iter_rows())
    assert ratings == {"XH01": "未达标", "XH02": "达标", "XH03": "过硬"}  # a warning alone still 达标


@pytest.mark.parametrize(
    ("edit", "text"),
    [
        ("minutes", "无会议记录"),
        ("topic", "未记录主题"),
        ("attendance", "参会名单缺少党员 M00005"),
    ],
)
def test_ol6_theme_day_fully_recorded(tmp_path: Path, edit: str, text: str):
    w = world()
    theme = meetings(w, "XH01", "主题党日", "2019-02")[0]
    if edit == "minutes":
        theme["has_minutes"] = False
    elif edit == "topic":
        theme["topic"] = None
    else:
        w.tables["attendance"] = [
            a for a in w.tables["attendance"] if not (a["meeting_id"] == theme["meeting_id"] and a["member_id"] == "M00005")
        ]
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-6", "error", "XH01", "", "2019-02")}
    assert text in one(v, "OL-6")["message"] and theme["meeting_id"] in one(v, "OL-6")["message"]


def test_ol7_half_year_progress_then_violation(tmp_path: Path):
    w = world()
    drop_meeting(w, meetings(w, "XH03", "组织生活会", "2019-06")[0])
    q1 = audit(w, tmp_path, "2019Q1")
    assert keys(q1) == set()
    status = q1.facts.progress.filter((pl.col("branch_id") == "XH03") & (pl.col("rule_id") == "OL-7"))
    # half of one meeting is due by March: no whole meeting is due yet, so the branch is not behind
    assert status.select("period", "done", "expected_by_now", "status").row(0) == ("2019H1", 0, 0, "进度正常")
    q2 = audit(w, tmp_path, "2019Q2")
    assert keys(q2) == {("OL-7", "error", "XH03", "", "2019H1")}


def test_progress_is_behind_only_when_a_whole_meeting_due_by_now_was_not_held(tmp_path: Path):
    """In Q1 a yearly 民主评议 (1 a year) and a half-year 组织生活会 (1 a half) are not behind with
    none held; in Q3 a branch with no 党课 of the 2 a year is behind (1 due by September)."""
    w = world()
    q1 = audit(w, tmp_path, "2019Q1").facts.progress
    once = q1.filter(pl.col("rule_id").is_in(["OL-7", "OL-8"]))
    assert once.height and set(once["status"]) <= {"进度正常", "已完成"} and set(once["expected_by_now"]) == {0}
    lectures = [m for m in meetings(w, "XH02", "党课") if m["held_on"].year == 2019 and m["held_on"].month <= 9]
    for lecture in lectures:
        drop_meeting(w, lecture)
    q3 = audit(w, tmp_path, "2019Q3").facts.progress
    ol4 = q3.filter((pl.col("branch_id") == "XH02") & (pl.col("rule_id") == "OL-4"))
    assert ol4.select("required", "done", "expected_by_now", "status").row(0) == (2, 0, 1, "进度落后")


def test_ol8_appraisal_each_year(tmp_path: Path):
    w = world()
    drop_meeting(w, meetings(w, "XH01", "民主评议", "2018-12")[0])
    assert keys(audit(w, tmp_path, "2018Q4")) == {("OL-8", "error", "XH01", "", "2018")}


def _make_probationary(w, ids: list[str]) -> None:
    for person in w.tables["members"]:
        if person["member_id"] in ids:
            person.update(member_type="预备党员", joined_on=D(2019, 1, 1), full_member_on=None)
    for evaluation in w.tables["evaluations"]:
        if evaluation["member_id"] in ids and evaluation["year"] == 2019:
            evaluation["grade"] = "不评等次"


def _grade_excellent(w, branch: str, count: int) -> int:
    ids = {m["member_id"] for m in members(w, branch)}
    formal = [e for e in w.tables["evaluations"] if e["year"] == 2019 and e["member_id"] in ids and e["grade"] != "不评等次"]
    for n, evaluation in enumerate(formal):
        evaluation["grade"] = "优秀" if n < count else "合格"
    return len(formal)


def test_ol9_share_counted_against_formal_members_only(tmp_path: Path):
    w = world()
    ids = [m["member_id"] for m in members(w, "XH03")]
    _make_probationary(w, ids[-4:-1])
    graded = _grade_excellent(w, "XH03", 0)
    excellent = graded // 3 + 1
    _grade_excellent(w, "XH03", excellent)
    assert excellent * 3 <= graded + 3  # among everyone assessed it would be within a third
    v = audit(w, tmp_path, "2019Q4")
    assert keys(v) == {("OL-9", "error", "XH03", "", "2019")}
    assert one(v, "OL-9")["message"] == f"2019年民主评议评为优秀{excellent}人，超过参评正式党员{graded}人的三分之一"


def test_ol9_exactly_a_third_passes_and_graded_probationary_fails(tmp_path: Path):
    w = world()
    graded = _grade_excellent(w, "XH02", 0)
    _grade_excellent(w, "XH02", graded // 3)
    assert keys(audit(w, tmp_path, "2019Q4")) == set()
    w = world()
    _make_probationary(w, ["M00020"])
    next(e for e in w.tables["evaluations"] if e["member_id"] == "M00020" and e["year"] == 2019)["grade"] = "合格"
    v = audit(w, tmp_path, "2019Q4")
    assert keys(v) == {("OL-9", "error", "XH02", "", "2019")}
    assert "M00020" in one(v, "OL-9")["message"] and "预备党员不评等次" in one(v, "OL-9")["message"]


def test_ol10_exactly_half_present_is_no_quorum(tmp_path: Path):
    w = world()
    listed = {}
    for branch in ("XH01", "XH02", "XH03"):
        assembly = meetings(w, branch, "支部党员大会", "2019-02")[0]
        listed[branch] = (assembly, [a for a in w.tables["attendance"] if a["meeting_id"] == assembly["meeting_id"]])
    branch, (assembly, rows) = next((b, v) for b, v in listed.items() if len(v[1]) % 2 == 0)
    present = len(rows) // 2  # exactly half: "more than half" is not met
    for n, a in enumerate(rows):
        a.update(status="出席" if n < present else "缺席", reason=None)
    assembly.update(present_count=present, leave_count=0)
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-10", "error", branch, "", "2019-02")}
    assert f"出席{present}人，未超过应到{len(rows)}人的半数" in one(v, "OL-10")["message"]


def test_ol10_counts_must_agree_with_the_attendance_list(tmp_path: Path):
    w = world()
    meetings(w, "XH01", "支部党员大会", "2019-02")[0]["present_count"] = 1
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-10", "error", "XH01", "", "2019-02")}
    assert "与参会名单" in one(v, "OL-10")["message"]


# --- 制度机制 --------------------------------------------------------------------------------------


def test_sm1_points_every_month(tmp_path: Path):
    w = world()
    member = plain_member(w, "XH02")
    w.tables["points"].remove(row(w, "points", member["member_id"], "2019-02"))
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-1", "error", "XH02", member["member_id"], "2019-02")}
    assert one(v, "SM-1")["evidence"] == f"积分表中无党员 {member['member_id']} 在 2019-02 的记录"


def test_sm2_points_published_on_time(tmp_path: Path):
    w = world()
    ids = {m["member_id"] for m in members(w, "XH01")}
    for r in w.tables["points"]:
        if r["member_id"] in ids and D(2019, 1, 1) <= r["month"] <= D(2019, 3, 1):
            r["published_on"] = D(2019, 4, 30)  # 30 days after the quarter, the limit is 15
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-2", "error", "XH01", "", "2019Q1")}
    assert "2019年4月30日" in one(v, "SM-2")["message"]


def test_sm3_points_add_up(tmp_path: Path):
    w = world()
    member = plain_member(w, "XH01")
    row(w, "points", member["member_id"], "2019-03")["total_points"] += 3
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-3", "error", "XH01", member["member_id"], "2019-03")}


def test_sm4_member_transferred_mid_quarter(tmp_path: Path):
    """Trap: a member leaving on 2019-02-15 owes February but nothing after; the records stop."""
    w = world()
    member = plain_member(w, "XH03")
    member["transferred_out_on"] = D(2019, 2, 15)
    mid = member["member_id"]
    w.tables["points"] = [r for r in w.tables["points"] if not (r["member_id"] == mid and r["month"] >= D(2019, 3, 1))]
    w.tables["dues"] = [r for r in w.tables["dues"] if not (r["member_id"] == mid and r["month"] >= D(2019, 3, 1))]
    days = {m["meeting_id"]: m["held_on"] for m in w.tables["meetings"]}
    w.tables["attendance"] = [
        a for a in w.tables["attendance"] if not (a["member_id"] == mid and days[a["meeting_id"]] >= D(2019, 2, 15))
    ]
    for m in w.tables["meetings"]:
        if m["branch_id"] == "XH03" and m["held_on"] >= D(2019, 2, 15):
            listed = [a for a in w.tables["attendance"] if a["meeting_id"] == m["meeting_id"]]
            m.update(expected_count=len(listed), present_count=sum(a["status"] == "出席" for a in listed))
    w.tables["evaluations"] = [e for e in w.tables["evaluations"] if not (e["member_id"] == mid and e["year"] == 2019)]
    assert keys(audit(w, tmp_path, "2019Q1")) == set()
    # the same transfer with March records left in place: duties recorded after leaving
    w.tables["dues"].append({**row(w, "dues", mid, "2019-02"), "month": D(2019, 3, 1)})
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-4", "error", "XH03", mid, "2019-03")}
    assert "已于2019年2月15日转出" in one(v, "SM-4")["message"]


def test_sm4_inconsistent_dates_and_one_branch_at_a_time(tmp_path: Path):
    w = world()
    member = plain_member(w, "XH01")
    member["transferred_in_on"] = member["joined_on"] - dt.timedelta(days=30)
    twin_source = plain_member(w, "XH02", 1)
    twin_source.update(name=member["name"], id_number=member["id_number"])
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {
        ("SM-4", "error", "XH01", member["member_id"], "2019Q1"),
        ("SM-4", "error", "XH02", twin_source["member_id"], "2019Q1"),
    }
    messages = " ".join(v.findings["message"])
    assert "转入日期" in messages and "同一人" in messages


def test_sm5_dues_in_full_and_split_payments(tmp_path: Path):
    w = world()
    member = plain_member(w, "XH01")
    due = row(w, "dues", member["member_id"], "2019-01")
    w.tables["dues"].append({**due, "amount_paid": round(due["amount_due"] / 2, 2), "paid_on": D(2019, 1, 20)})
    due["amount_paid"] = due["amount_due"] - round(due["amount_due"] / 2, 2)  # two payments make the full amount
    assert keys(audit(w, tmp_path, "2019Q1")) == set()
    short = row(w, "dues", member["member_id"], "2019-02")
    short["amount_paid"] = round(short["amount_due"] * 0.6, 2)
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-5", "error", "XH01", member["member_id"], "2019-02")}
    assert "未足额交纳" in one(v, "SM-5")["message"]


def test_evidence_of_a_missing_dues_row_names_member_and_month_apart(tmp_path: Path):
    """Issue 14 item 6: not "党费表中无M000052019-02的记录", but member and month each with its label."""
    w = world()
    member = plain_member(w, "XH01")
    w.tables["dues"].remove(row(w, "dues", member["member_id"], "2019-02"))
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-5", "error", "XH01", member["member_id"], "2019-02")}
    assert one(v, "SM-5")["evidence"] == f"党费表中无党员 {member['member_id']} 在 2019-02 的记录"


def test_sm6_rate_table_and_amounts_with_yuan_and_full_width_digits(tmp_path: Path):
    w = world()
    member = plain_member(w, "XH02")
    member.update(employment="在职", income_base=6500)
    for r in w.tables["dues"]:
        if r["member_id"] == member["member_id"]:
            r["amount_due"] = r["amount_paid"] = 97.5  # 6500 × 1.5 %
    batch_v = audit(w, tmp_path, "2019Q1")
    assert keys(batch_v) == set()  # the exporter writes 元 and full-width digits in the dues files
    for r in w.tables["dues"]:
        if r["member_id"] == member["member_id"]:
            r["amount_due"] = r["amount_paid"] = 65.0  # the 1 % band: wrong for 6500
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-6", "error", "XH02", member["member_id"], m) for m in ("2019-01", "2019-02", "2019-03")}
    assert "应为97.5元" in v.findings["message"][0]


def test_sm7_disclosure_and_report_every_month(tmp_path: Path):
    w = world()
    next(d for d in w.tables["dues_disclosures"] if d["branch_id"] == "XH03" and d["month"] == D(2019, 3, 1))["reported_on"] = (
        None
    )
    w.tables["dues_disclosures"] = [
        d for d in w.tables["dues_disclosures"] if not (d["branch_id"] == "XH01" and d["month"] == D(2019, 1, 1))
    ]
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-7", "error", "XH03", "", "2019-03"), ("SM-7", "error", "XH01", "", "2019-01")}
    messages = dict(v.findings.select("branch_id", "message").iter_rows())
    assert messages["XH03"] == "2019年3月党费收缴情况未报街道党工委备案"


@pytest.mark.parametrize("months", [5, 6])
def test_sm8_six_month_dues_streak_across_quarters(tmp_path: Path, months: int):
    w = world()
    member = plain_member(w, "XH02")
    unpaid = [f"{y}-{m:02d}" for y, m in [(2018, 10), (2018, 11), (2018, 12), (2019, 1), (2019, 2), (2019, 3)]][-months:]
    for ym in unpaid:
        r = row(w, "dues", member["member_id"], ym)
        r.update(amount_paid=0.0, paid_on=None)
    v = audit(w, tmp_path, "2019Q1")
    expected = {("SM-5", "error", "XH02", member["member_id"], ym) for ym in unpaid if ym >= "2019-01"}
    if months == 6:
        expected.add(("SM-8", "critical", "XH02", member["member_id"], "2019-03"))
        assert "2018年10月至2019年3月" in one(v, "SM-8")["message"]
        assert one(v, "SM-8")["evidence"] == f"党费表中党员 {member['member_id']} 在 2018年10月至2019年3月 无实交金额"
    assert keys(v) == expected


def test_sm8_six_months_absent_from_organisational_life(tmp_path: Path):
    w = world()
    member = plain_member(w, "XH01")
    days = {m["meeting_id"]: m["held_on"] for m in w.tables["meetings"]}
    for a in w.tables["attendance"]:
        if a["member_id"] == member["member_id"] and D(2018, 10, 1) <= days[a["meeting_id"]] <= D(2019, 3, 31):
            a.update(status="缺席", reason=None)
    for m in w.tables["meetings"]:
        listed = [a for a in w.tables["attendance"] if a["meeting_id"] == m["meeting_id"]]
        m["present_count"] = sum(a["status"] == "出席" for a in listed)
    v = audit(w, tmp_path, "2019Q1")
    assert ("SM-8", "critical", "XH01", member["member_id"], "2019-03") in keys(v)
    assert {k[0] for k in keys(v)} <= {"SM-8", "OL-10"}  # the assembly may lose its quorum too
    assert "未参加组织生活" in one(v, "SM-8")["message"]
    assert one(v, "SM-8")["evidence"].startswith(f"参会明细中党员 {member['member_id']} 在 2018年10月至2019年3月 ")


# --- 发展党员 (SM-9): the case in XH01 (申请 2018-01-01, 支部大会 2019-05-22) ------------------------------
# Each part is judged in the month its breach becomes visible, and by that quarter's audit only.


def _case(w):
    return w.tables["development"][0]


def _quarter_of(month: str) -> str:
    return f"{month[:4]}Q{(int(month[5:]) - 1) // 3 + 1}"


@pytest.mark.parametrize(
    ("edit", "period", "part_text"),
    [
        (dict(birth_date=D(2000, 9, 1), applied_on=D(2018, 8, 10), talked_on=D(2018, 8, 25)), "2018-08", "17岁，不满18周岁"),
        (dict(applied_on=D(2018, 9, 3), talked_on=D(2018, 11, 1)), "2018-10", "2018年11月1日才谈话，超过1个月"),
        (dict(applied_on=D(2018, 9, 3), talked_on=None), "2018-10", "截至2018年12月31日仍无谈话记录，超过1个月"),
        (dict(candidate_on=D(2018, 12, 1)), "2018-12", "不满12个月"),
        (dict(voters_present=5), "2019-05", "未超过应到10人的半数"),
        (dict(votes_for=5), "2019-05", "赞成票5票"),
        (dict(approved_on=D(2019, 9, 1)), "2019-08", "上级党委2019年9月1日才审批，超过3个月"),
        (dict(approved_on=None), "2019-08", "截至2019年9月30日上级党委仍未审批，超过3个月"),
        (dict(full_member_on=D(2019, 12, 1)), "2019-12", "起不满12个月即于2019年12月1日转正"),
    ],
)
def test_sm9_each_step_in_the_quarter_it_falls_due(tmp_path: Path, edit: dict, period: str, part_text: str):
    """Age: the application; talk: 申请 + 1 month; activist: 确定发展对象; quorum, votes: the vote;
    approval: the vote + 3 months (late or missing); probation: 转正. Not in the vote's quarter."""
    w = world()
    _case(w).update(edit)
    v = audit(w, tmp_path, _quarter_of(period))
    assert keys(v) == {("SM-9", "error", "XH01", "P0001", period)}
    assert part_text in one(v, "SM-9")["message"]
    if _quarter_of(period) != "2019Q2":
        assert keys(audit(w, tmp_path, "2019Q2")) == set()


def test_sm9_deadlines_in_whole_months_with_the_threshold_judged_by_gx(tmp_path: Path):
    """申请 on 1-31: the month runs out on 2-28 (a talk then is on time, on 3-1 late); allowing two
    months in the standard moves the deadline to 3-31 and clears the finding."""
    w = world()
    _case(w).update(applied_on=D(2019, 1, 31), talked_on=D(2019, 2, 28))
    assert keys(audit(w, tmp_path, "2019Q1")) == set()
    _case(w).update(talked_on=D(2019, 3, 1))
    assert keys(audit(w, tmp_path, "2019Q1")) == {("SM-9", "error", "XH01", "P0001", "2019-02")}
    two = load_standard(_edited_standard(tmp_path, lambda d: d["rules"]["SM-9"]["thresholds"].update(talk_within_months=2)))
    assert keys(audit(w, tmp_path, "2019Q1", two)) == set()


def test_sm9_vote_carried_among_present_but_not_among_expected(tmp_path: Path):
    w = world()
    _case(w).update(voters_expected=10, voters_present=7, votes_for=5)  # 5 > 7/2 but not > 10/2
    v = audit(w, tmp_path, "2019Q2")
    assert keys(v) == {("SM-9", "error", "XH01", "P0001", "2019-05")}
    assert "赞成票5票，未超过应到有表决权党员10人的半数" in one(v, "SM-9")["message"]


def test_sm9_publicity_over_spring_festival_counts_official_workdays(tmp_path: Path):
    """2019-02-01..02-11: 7 weekdays, but 4 official working days (Feb 2-3 were 调休 workdays,
    Feb 4-8 holidays). 2019-01-31..02-11: 5 official working days, enough. Judged when 公示 ends."""
    w = world()
    _case(w).update(publicity_start=D(2019, 2, 1), publicity_end=D(2019, 2, 11))
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-9", "error", "XH01", "P0001", "2019-02")}
    assert "仅4个工作日" in one(v, "SM-9")["message"]
    _case(w).update(publicity_start=D(2019, 1, 31))
    assert keys(audit(w, tmp_path, "2019Q1")) == set()


# --- 基础保障 --------------------------------------------------------------------------------------


def test_bg1_six_items_and_not_assessed_without_a_check(tmp_path: Path):
    w = world()
    checks = [v for v in w.tables["venues"] if v["branch_id"] == "XH02"]
    checks[-1]["has_flags"] = False
    w.tables["venues"] = [v for v in w.tables["venues"] if v["branch_id"] != "XH03"]
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("BG-1", "error", "XH02", "", "2019Q1")}
    assert "缺党旗国旗" in one(v, "BG-1")["message"]
    score = {r["branch_id"]: r["基础保障"] for r in v.scorecard.iter_rows(named=True)}
    assert score == {"XH01": "通过", "XH02": "未通过", "XH03": "未评估"}


# --- thresholds are data ---------------------------------------------------------------------------


def _edited_standard(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "standard.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_changing_a_threshold_changes_the_findings(tmp_path: Path):
    path = _edited_standard(tmp_path, lambda d: d["rules"]["OL-2"]["thresholds"].update(min_meetings=2))
    v = audit(world(), tmp_path, "2019Q1", load_standard(path))
    assert keys(v) == {("OL-2", "error", b, "", m) for b in ("XH01", "XH02", "XH03") for m in ("2019-01", "2019-02", "2019-03")}
    assert "要求每月至少2次" in v.findings["message"][0]


def test_disabling_a_rule_and_changing_severity(tmp_path: Path):
    w = world()
    drop_meeting(w, meetings(w, "XH01", "主题党日", "2019-03")[0])
    drop_meeting(w, meetings(w, "XH02", "支部委员会", "2019-01")[0])

    def edit(d):
        d["rules"]["OL-5"]["enabled"] = False
        d["rules"]["OL-2"]["severity"] = "warning"

    v = audit(w, tmp_path, "2019Q1", load_standard(_edited_standard(tmp_path, edit)))
    assert keys(v) == {("OL-2", "warning", "XH02", "", "2019-01")}
    assert dict(v.scorecard.select("branch_id", "rating").iter_rows())["XH02"] == "达标"


def test_two_writes_are_byte_identical_and_validation_json_records_the_standard_used(tmp_path: Path):
    w = world()
    drop_meeting(w, meetings(w, "XH01", "支部委员会", "2019-02")[0])
    first, second = tmp_path / "a", tmp_path / "b"
    audit(w, tmp_path, "2019Q1").write(first)
    audit(w, tmp_path, "2019Q1").write(second)
    for stem in ("findings", "scorecard", "quarantine", "data_quality", "progress"):
        for name in (f"{stem}.csv", f"{stem}.parquet"):
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "validation.json").read_bytes() == (second / "validation.json").read_bytes()
    frame = pl.read_csv(first / "findings.csv")
    assert frame.columns == [
        "finding_id",
        "rule_id",
        "severity",
        "dimension",
        "branch_id",
        "subject_id",
        "period",
        "clause",
        "message",
        "evidence",
    ]
    assert (first / "findings.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    # the standard named in validation.json is the one the audit used, down to its file's bytes
    renamed = _edited_standard(tmp_path, lambda d: d["standard"].update(name="试行标准", version="2099.1-test"))
    third = tmp_path / "c"
    audit(w, tmp_path, "2019Q1", load_standard(renamed)).write(third)
    for folder, path in ((first, STANDARD_FILE), (third, renamed)):
        used = load_standard(path)
        recorded = json.loads((folder / "validation.json").read_text(encoding="utf-8"))["standard"]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert recorded == {"name": used.name, "version": used.version, "path": str(path.absolute()), "sha256": digest}
    assert json.loads((third / "validation.json").read_text(encoding="utf-8"))["standard"]["version"] == "2099.1-test"
    assert (third / "findings.csv").read_bytes() == (first / "findings.csv").read_bytes()  # findings carry no version
