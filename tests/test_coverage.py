"""Evaluability: a rule part whose data a branch's exports lack is 无法评估 there — neither passed
nor failed — in coverage.csv, the scorecard, the workbook, the pages and the rule catalogue.

Each case takes the compliant world (no finding, every branch 过硬), removes or blanks one kind of
data for one branch, writes real export files and runs the real validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import yaml

import audit
from audit.catalogue import render_catalogue
from audit.contract import load_contract
from audit.coverage import COVERAGE_COLUMNS, COVERAGE_SCHEMA, not_evaluated
from audit.decisions import Decisions, apply_decisions, with_decision_text
from audit.findings import rescore
from audit.followup import classify
from audit.paths import STANDARD_FILE
from audit.periods import Quarter
from audit.report import run_report
from audit.standard import StandardError, load_standard
from audit.synth import write_world
from audit.validate import VALIDATION_OUTPUTS, Validation, validate
from audit.views import meeting_sample
from audit.workbook import report_sheets, write_workbook
from conftest import BRANCHES, DUES, MEMBERS, write_csv
from worlds import audit as audit_world
from worlds import keys, meetings, members, plain_member, row, world

Q1_MONTHS = ["2019-01", "2019-02", "2019-03"]


def unjudged(v: Validation) -> set[tuple[str, str, str, str]]:
    """(rule_id, part, branch_id, period) of every 无法评估 row."""
    rows = v.coverage.filter(pl.col("status") == "无法评估")
    return {(r["rule_id"], r["part"], r["branch_id"], r["period"]) for r in rows.iter_rows(named=True)}


def reasons(v: Validation, rule_id: str, branch: str) -> set[str]:
    rows = v.coverage.filter((pl.col("rule_id") == rule_id) & (pl.col("branch_id") == branch) & (pl.col("status") == "无法评估"))
    return set(rows["reason"])


def card(v: Validation, branch: str) -> dict:
    return v.scorecard.filter(pl.col("branch_id") == branch).to_dicts()[0]


def without_points(w, branch: str) -> None:
    """No points record for any member of the branch (platforms often do not export points)."""
    ids = {m["member_id"] for m in members(w, branch)}
    w.tables["points"] = [p for p in w.tables["points"] if p["member_id"] not in ids]


MISSING = {}  # the member whose one points record is removed in `no_points`


@pytest.fixture(scope="module")
def no_points(tmp_path_factory) -> Validation:
    """XH01 exports no points at all; XH02 misses one member's February record (an SM-1 finding)."""
    w = world()
    without_points(w, "XH01")
    missing = plain_member(w, "XH02")["member_id"]
    w.tables["points"].remove(row(w, "points", missing, "2019-02"))
    MISSING["XH02"] = missing
    return audit_world(w, tmp_path_factory.mktemp("no-points"), "2019Q1")


def test_a_branch_without_points_is_not_judged_on_sm1_to_sm3(no_points: Validation):
    v = no_points
    expected = {("SM-1", "main", "XH01", m) for m in Q1_MONTHS} | {("SM-3", "main", "XH01", m) for m in Q1_MONTHS}
    assert unjudged(v) == expected | {("SM-2", "main", "XH01", "2019Q1")}
    assert reasons(v, "SM-1", "XH01") == {"“党员积分”中没有本支部的记录"}
    # XH01's members have no points record in any month, yet no SM-1 finding is made of it; the
    # one record missing in a branch that keeps points is still found
    assert keys(v) == {("SM-1", "error", "XH02", MISSING["XH02"], "2019-02")}
    xh01 = card(v, "XH01")
    assert xh01["制度机制"] == "部分评估" and xh01["rating"] == "达标"  # no finding, but not 过硬
    assert {d: xh01[d] for d in ("班子队伍", "组织生活", "基础保障", "作用发挥")} == {
        "班子队伍": "通过",
        "组织生活": "通过",
        "基础保障": "通过",
        "作用发挥": "未评估",
    }
    assert card(v, "XH02")["制度机制"] == "未通过" and card(v, "XH03")["rating"] == "过硬"
    # the check's column is withheld from GX in exactly XH01's rows
    facts = v.facts.tables["member_month"]
    assert (
        facts.filter(pl.col("branch_id") == "XH01")["has_points"].null_count()
        == facts.filter(pl.col("branch_id") == "XH01").height
    )
    assert facts.filter(pl.col("branch_id") != "XH01")["has_points"].null_count() == 0


def test_no_publication_date_leaves_only_sm2_unjudged(tmp_path: Path):
    w = world()
    ids = {m["member_id"] for m in members(w, "XH02")}
    for points in w.tables["points"]:
        if points["member_id"] in ids:
            points["published_on"] = None
    v = audit_world(w, tmp_path, "2019Q1")
    assert unjudged(v) == {("SM-2", "main", "XH02", "2019Q1")}
    assert reasons(v, "SM-2", "XH02") == {"“党员积分”中本支部的记录都没有“公示日期”"}
    assert keys(v) == set()  # not "N条积分记录没有公示日期"
    assert card(v, "XH02")["制度机制"] == "部分评估" and card(v, "XH02")["rating"] == "达标"


def test_no_income_base_leaves_only_sm6_unjudged(tmp_path: Path):
    w = world()
    for member in members(w, "XH03"):
        member["income_base"] = None
    v = audit_world(w, tmp_path, "2019Q1")
    assert unjudged(v) == {("SM-6", "main", "XH03", m) for m in Q1_MONTHS}
    assert reasons(v, "SM-6", "XH03") == {"“党员名册”中本支部的记录都没有“月收入基数”"}
    assert keys(v) == set()


def test_no_party_groups_leaves_only_ol3_unjudged(tmp_path: Path):
    w = world()
    for member in members(w, "XH01"):
        member["group_name"] = None
    v = audit_world(w, tmp_path, "2019Q1")
    assert unjudged(v) == {("OL-3", "main", "XH01", m) for m in Q1_MONTHS}
    assert reasons(v, "OL-3", "XH01") == {"“党员名册”中本支部的记录都没有“党小组”"}
    assert card(v, "XH01")["组织生活"] == "部分评估" and card(v, "XH01")["rating"] == "达标"


@pytest.fixture(scope="module")
def no_offices(tmp_path_factory) -> Validation:
    """2019Q4 (the year's rules judged too): XH02 has no secretary on its branch record, XH03's
    党课 and 集中学习 name no lecturer."""
    w = world()
    next(b for b in w.tables["branches"] if b["branch_id"] == "XH02")["secretary_id"] = None
    w.tables["committee"] = [c for c in w.tables["committee"] if not (c["branch_id"] == "XH02" and c["post"] == "书记")]
    for kind in ("党课", "集中学习"):
        for meeting in meetings(w, "XH03", kind):
            meeting["lecturer_id"] = None
    return audit_world(w, tmp_path_factory.mktemp("no-offices"), "2019Q4")


def test_no_secretary_or_lecturer_leaves_tm1_and_tm2_unjudged(no_offices: Validation):
    v = no_offices
    assert unjudged(v) == {
        (rule, "main", branch, period) for rule, period in (("TM-1", "2019Q4"), ("TM-2", "2019")) for branch in ("XH02", "XH03")
    }
    assert reasons(v, "TM-1", "XH02") == reasons(v, "TM-2", "XH02") == {"“支部信息”中本支部的记录都没有“书记编号”"}
    assert reasons(v, "TM-1", "XH03") == {"“组织生活记录”中本支部的党课、集中学习都没有“授课人编号”"}
    assert reasons(v, "TM-2", "XH03") == {"“组织生活记录”中本支部的党课都没有“授课人编号”"}
    assert keys(v) == set()  # never "书记主讲次数不足" for want of a name
    for branch in ("XH02", "XH03"):  # 班子队伍 has only TM-1 and TM-2: nothing of it judged
        assert card(v, branch)["班子队伍"] == "未评估" and card(v, branch)["rating"] == "达标"
    assert card(v, "XH01")["班子队伍"] == "通过" and card(v, "XH01")["rating"] == "过硬"


def test_progress_of_an_open_year_is_not_counted_without_its_data(tmp_path: Path):
    """2019Q2, the year still open: TM-2 (the secretary's 党课) is progress, not a finding. Without
    a secretary XH02's count of his lectures is no progress either: 无法评估 with the reason, in
    progress.csv too; the other branches' TM-2 and XH02's other rules are counted as before."""
    w = world()
    next(b for b in w.tables["branches"] if b["branch_id"] == "XH02")["secretary_id"] = None
    w.tables["committee"] = [c for c in w.tables["committee"] if not (c["branch_id"] == "XH02" and c["post"] == "书记")]
    write_world(w, tmp_path / "batch")
    v = validate(tmp_path / "batch", "2019Q2", out=tmp_path / "out", data_docs=False)
    progress = v.facts.progress
    tm2 = progress.filter(pl.col("rule_id") == "TM-2")
    xh02 = tm2.filter(pl.col("branch_id") == "XH02").to_dicts()
    assert [(r["period"], r["done"], r["status"], r["reason"]) for r in xh02] == [
        ("2019", None, "无法评估", "“支部信息”中本支部的记录都没有“书记编号”")
    ]
    others = tm2.filter(pl.col("branch_id") != "XH02")
    assert others["done"].null_count() == 0 and set(others["reason"]) == {""}
    assert "无法评估" not in set(others["status"])
    assert set(progress.filter((pl.col("branch_id") == "XH02") & (pl.col("rule_id") != "TM-2"))["reason"]) == {""}
    written = pl.read_csv(tmp_path / "out" / "progress.csv", infer_schema=False)
    row = written.filter((pl.col("branch_id") == "XH02") & (pl.col("rule_id") == "TM-2")).to_dicts()
    assert [(r["done"], r["status"]) for r in row] == [(None, "无法评估")]


def test_every_part_with_needs_is_withheld_in_rows_its_coverage_names(no_offices: Validation):
    """The generic step keys a fact row by branch and its check's period column: every such key
    in the facts is one coverage lists, so no 无法评估 can miss the rows it stands for."""
    v = no_offices
    listed = {(r["rule_id"], r["part"], r["branch_id"], r["period"]) for r in v.coverage.iter_rows(named=True)}
    checked = 0
    for rule in v.standard.rules.values():
        for part in (p for p in rule.parts.values() if p.needs):
            for check in part.checks:
                frame = v.facts.tables.get(check.fact)
                if frame is None:
                    continue
                period = check.period_column or "period"
                for branch, when in frame.select("branch_id", period).drop_nulls().unique().iter_rows():
                    assert (rule.id, part.name, branch, when) in listed, (rule.id, part.name, branch, when)
                    checked += 1
    assert checked > 100


def test_a_theme_day_without_attendance_list_leaves_its_month_unjudged(tmp_path: Path):
    w = world()
    theme = meetings(w, "XH01", "主题党日", "2019-02")[0]  # recorded with counts only: no attendance list
    w.tables["attendance"] = [a for a in w.tables["attendance"] if a["meeting_id"] != theme["meeting_id"]]
    v = audit_world(w, tmp_path, "2019Q1")
    named = f"以下会议在“参会明细”中没有名单：主题党日 {theme['meeting_id']}（2019年2月15日，只记录了人数）"
    # OL-6 in that month; SM-8's absence streaks from that month on (they look back)
    assert unjudged(v) == {
        ("OL-6", "main", "XH01", "2019-02"),
        ("SM-8", "attendance", "XH01", "2019-02"),
        ("SM-8", "attendance", "XH01", "2019-03"),
    }
    assert reasons(v, "OL-6", "XH01") == {named}
    assert keys(v) == set()  # not "参会名单缺少党员 …" for every member
    assert card(v, "XH01")["组织生活"] == "部分评估"


def test_a_meeting_known_only_from_its_absentee_text_has_no_list(tmp_path: Path):
    """A 台账 with 应到/实到 and 缺席人员及原因 instead of 参会明细: the text gives rows for the absent
    only (nobody is marked present from it), so the theme day still has no attendance list."""
    batch = tmp_path / "batch"
    write_csv(batch / "支部信息.csv", BRANCHES)
    write_csv(batch / "党员名册.csv", MEMBERS)
    write_csv(batch / "党费收缴.csv", DUES)
    write_csv(
        batch / "组织生活记录.csv",
        [
            ["活动编号", "支部编号", "活动类型", "活动日期", "主题", "应到人数", "实到人数", "缺席人员及原因", "是否有会议记录"],
            ["HD1", "B01", "主题党日", "2019-01-15", "重温入党誓词", "2", "1", "李娜（病假）", "是"],
        ],
    )
    v = validate(batch, "2019Q1", data_docs=False)
    assert v.ingested.tables["attendance"].select("meeting_id", "member_id", "status").rows() == [("HD1", "M002", "请假")]
    assert reasons(v, "OL-6", "B01") == {"以下会议在“参会明细”中没有名单：主题党日 HD1（2019年1月15日，只记录了缺席、请假人员）"}
    assert ("OL-6", "main", "B01", "2019-01") in unjudged(v)
    assert "OL-6" not in set(v.findings["rule_id"])  # not "参会名单缺少党员 M001"


def test_coverage_csv_is_written_sorted_and_byte_stable(tmp_path: Path):
    w = world()
    without_points(w, "XH02")
    for member in members(w, "XH01"):
        member["group_name"] = None
    batch = tmp_path / "batch"
    write_world(w, batch)
    first = validate(batch, "2019Q1", out=tmp_path / "first", data_docs=False)
    validate(batch, "2019Q1", out=tmp_path / "second", data_docs=False)
    assert {"coverage.csv", "coverage.parquet"} <= set(VALIDATION_OUTPUTS)
    written = (tmp_path / "first" / "coverage.csv").read_bytes()
    assert written == (tmp_path / "second" / "coverage.csv").read_bytes()
    assert (tmp_path / "first" / "coverage.parquet").read_bytes() == (tmp_path / "second" / "coverage.parquet").read_bytes()
    table = pl.read_csv(tmp_path / "first" / "coverage.csv", infer_schema=False).fill_null("")
    assert table.columns == COVERAGE_COLUMNS
    assert table.equals(pl.read_parquet(tmp_path / "first" / "coverage.parquet"))
    assert set(table["status"]) == {"已评估", "无法评估"}
    # every enabled part of the standard, for every branch and period judged in the quarter
    standard = first.standard
    periods = {"month": 3, "quarter": 1, "half": 0, "year": 0}
    per_branch = sum(periods[r.period] * len(r.parts) for r in standard.rules.values() if r.enabled)
    assert table.height == 3 * per_branch
    order = {rule_id: n for n, rule_id in enumerate(standard.rules)}
    parts = {(r.id, p): n for r in standard.rules.values() for n, p in enumerate(r.parts)}
    ranks = [
        (b, order[r], parts[(r, p)], when) for r, p, b, when in table.select("rule_id", "part", "branch_id", "period").iter_rows()
    ]
    assert ranks == sorted(ranks)
    assert (table["reason"] == "").to_list() == (table["status"] == "已评估").to_list()
    lines = written.decode("utf-8-sig").splitlines()
    assert "OL-3,main,XH01,2019-02,无法评估,“党员名册”中本支部的记录都没有“党小组”" in lines
    assert "SM-1,main,XH02,2019-01,无法评估,“党员积分”中没有本支部的记录" in lines
    assert audit.load(tmp_path / "first").coverage.equals(first.coverage)
    assert set(audit.load(tmp_path / "first").unevaluable_for("XH02")["rule_id"]) == {"SM-1", "SM-2", "SM-3"}


def test_workbook_sheet_lists_what_was_not_checked(no_points: Validation, tmp_path: Path):
    v = no_points
    tables = v.ingested.tables
    names = dict(tables["branches"].select("branch_id", "branch_name").iter_rows())
    quarter = Quarter.parse("2019Q1")
    followup = classify(v.findings, None, quarter, v.standard)
    applied = apply_decisions(v.findings, Decisions(), quarter, followup)
    listed = with_decision_text(applied.findings).join(followup.select("finding_id", "status"), on="finding_id", how="left")
    sheets = report_sheets(
        quarter="2019Q1",
        quarter_zh="2019年第一季度",
        standard=v.standard,
        findings=listed,
        scorecard=v.scorecard,
        followup=with_decision_text(followup),
        decisions=applied.table,
        sample=meeting_sample(tables, quarter, 2019, 3),
        quarantine=v.ingested.quarantine,
        quality=v.quality,
        tables=tables,
        titles={name: t.title for name, t in load_contract().tables.items()},
        coverage=v.coverage,
    )
    path = tmp_path / "findings.xlsx"
    write_workbook(path, sheets)
    book = openpyxl.load_workbook(path)
    sheet = book["评估范围"]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0] == ["支部编号", "支部名称", "规则编号", "规则", "检查部分", "维度", "期间", "评估状态", "原因（缺少的数据）"]
    body = rows[1:]
    assert len(body) == 7 and {r[0] for r in body} == {"XH01"} and {r[1] for r in body} == {names["XH01"]}
    assert [(r[2], r[6]) for r in body] == [("SM-1", m) for m in Q1_MONTHS] + [("SM-2", "2019Q1")] + [
        ("SM-3", m) for m in Q1_MONTHS
    ]
    assert {r[3] for r in body} == {"每名党员每月有积分记录", "积分每季度通报公示", "积分计算正确"}
    assert {(r[4], r[5], r[7], r[8]) for r in body} == {(None, "制度机制", "无法评估", "“党员积分”中没有本支部的记录")}
    # printed like every other sheet
    assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.paperSize) == 9
    assert sheet.print_title_rows == "$1:$1" and sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    assert "&A" in sheet.oddHeader.left.text and "评估范围" in sheet.oddFooter.center.text
    header = [c.value for c in book["评定结果"][1]]
    xh01 = next(r for r in book["评定结果"].iter_rows(min_row=2, values_only=True) if r[0] == "XH01")
    assert xh01[header.index("制度机制")] == "部分评估" and xh01[header.index("评定")] == "达标"


def test_rescoring_keeps_a_partly_assessed_dimension_from_the_best_rating(no_points: Validation):
    """A reviewer's 误报 removes XH02's only finding: 制度机制 passes again. XH01's SM-1..3 stay
    无法评估, so its 制度机制 stays 部分评估 and it stays below 过硬 whatever is judged 误报."""
    v = no_points
    counted = v.findings.filter(pl.col("branch_id") != "XH02")
    again = rescore(v.scorecard, counted, v.standard, v.coverage)
    assert card_of(again, "XH02")["制度机制"] == "通过" and card_of(again, "XH02")["rating"] == "过硬"
    assert card_of(again, "XH01")["制度机制"] == "部分评估" and card_of(again, "XH01")["rating"] == "达标"


def card_of(frame: pl.DataFrame, branch: str) -> dict:
    return frame.filter(pl.col("branch_id") == branch).to_dicts()[0]


def test_branch_page_and_overview_say_what_was_not_checked(tmp_path: Path):
    w = world()
    without_points(w, "XH01")
    batch = tmp_path / "batch"
    write_world(w, batch)
    out = tmp_path / "report"
    result = run_report(batch, Quarter.parse("2019Q1"), out, jobs=1, branches=["XH01", "XH02"])
    assert not result.failed, result.failed
    page = (out / "branches" / "XH01.html").read_text(encoding="utf-8")
    section = page[page.index("评估范围") :]
    assert "无法评估" in section and "“党员积分”中没有本支部的记录" in section
    for rule in ("每名党员每月有积分记录", "积分每季度通报公示", "积分计算正确"):
        assert rule in section
    assert 'class="status s-部分评估"' in page
    other = (out / "branches" / "XH02.html").read_text(encoding="utf-8")
    assert "全部已评估" in other[other.index("评估范围") :]
    index = (out / "index.html").read_text(encoding="utf-8")
    counts = index[index.index("coverage-counts") :]
    named = "、".join(f"{code} {load_standard().rule(code).title}" for code in ("SM-1", "SM-2", "SM-3"))
    assert "<td>XH01</td>" in counts and "<td>7</td>" in counts and named in counts  # each rule with its title
    book = openpyxl.load_workbook(out / "findings.xlsx")
    assert book["评估范围"].max_row == 8  # the header and XH01's seven rows


def test_catalogue_states_the_data_each_part_needs():
    text = render_catalogue()
    sm8 = text[text.index("### SM-8") : text.index("### SM-9")]
    assert "- 所需数据（连续未交党费）：“党费收缴”（本支部有记录）" in sm8
    assert "- 所需数据（连续未参加组织生活）：“参会明细”（自数据起始月至所审期间末本支部的每次会议都有名单）" in sm8
    sm2 = text[text.index("### SM-2") : text.index("### SM-3")]
    assert "- 所需数据：“党员积分”（本支部有记录）；“党员积分”的“公示日期”列（本支部的记录中有填写）" in sm2
    tm1 = text[text.index("### TM-1") : text.index("### TM-2")]
    assert "“组织生活记录”的“授课人编号”列（本支部的党课、集中学习中有填写）" in tm1
    ol1 = text[text.index("### OL-1") : text.index("### OL-2")]
    assert "所需数据" not in ol1  # a rule judged on whatever records exist lists nothing
    assert "无法评估" in text[: text.index("## 班子队伍")]


def _standard_with(tmp_path: Path, rule: str, needs) -> Path:
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    data["rules"][rule]["needs"] = needs
    path = tmp_path / "standard.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("rule", "needs", "said"),
    [
        ("SM-1", ["pointz"], "SM-1：needs 中的表「pointz」不在导出规范 contract.yaml 中"),
        ("SM-1", ["points.published"], "SM-1：needs 中的「points.published」：“党员积分”（points）没有列「published」"),
        (
            "TM-1",
            [{"need": "meetings.lecturer_id", "meetings": ["党会"]}],
            "TM-1：needs 中的会议类型「党会」不是导出规范中的活动类型",
        ),
        ("SM-1", [{"need": "points", "meetings": ["党课"]}], "SM-1：needs 中「points」的 meetings 只用于组织生活记录"),
        ("SM-1", [{"need": "points", "since": "window"}], "SM-1：needs 中「points」的 since 只能是 window"),
        ("SM-1", [{"need": "points", "when": 1}], "SM-1：needs 中有未知的字段「when」"),
        ("SM-1", ["points", "points"], "SM-1：needs 中有重复的项"),
    ],
)
def test_needs_are_checked_against_the_contract(tmp_path: Path, rule: str, needs, said: str):
    with pytest.raises(StandardError) as raised:
        load_standard(_standard_with(tmp_path, rule, needs))
    assert said in str(raised.value)


def test_a_part_with_needs_shares_no_checked_column(tmp_path: Path):
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    extra = dict(data["rules"]["SM-1"])  # a second rule judging SM-1's column, without SM-1's needs
    extra.pop("needs")
    data["rules"]["SM-1X"] = extra
    path = tmp_path / "standard.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(StandardError, match="SM-1：检查的列「has_points」（member_month）也被 SM-1X 检查"):
        load_standard(path)


def test_every_declared_need_names_a_contract_column():
    """The shipped standard's needs, as parsed: tables and columns of the contract, and the kinds
    the issue names (points, 公示日期, income base, venues, 党小组, secretary, lecturer, lists, votes)."""
    standard = load_standard()
    needs = {(r.id, p.name): {n.name for n in p.needs} for r in standard.rules.values() for p in r.parts.values()}
    assert needs[("SM-1", "main")] == {"points"}
    assert needs[("SM-2", "main")] == {"points", "points.published_on"}
    assert "members.income_base" in needs[("SM-6", "main")] and "dues.amount_due" in needs[("SM-5", "main")]
    assert needs[("BG-1", "main")] == {"venues"} and needs[("OL-3", "main")] == {"members.group_name"}
    assert {"branches.secretary_id", "meetings.lecturer_id"} == needs[("TM-1", "main")] == needs[("TM-2", "main")]
    assert needs[("OL-6", "main")] == needs[("OL-10", "counts")] == needs[("SM-8", "attendance")] == {"attendance"}
    assert needs[("SM-9", "votes")] == {"development.voters_expected", "development.votes_for"}
    assert needs[("OL-1", "main")] == set()
    assert needs[("OL-11", "main")] == {"meetings.topic|meetings.content"}  # either column serves
    assert needs[("SM-10", "main")] == {"dues.collector", "branches.organizer_id"}
    tables = load_contract().tables
    for parts in needs.values():
        for name in (alternative for need in parts for alternative in need.split("|")):
            table, _, column = name.partition(".")
            assert table in tables and (not column or column in tables[table].columns)


def test_the_bundled_sample_has_nothing_unevaluable(sample_q1: Validation):
    assert sample_q1.coverage.filter(pl.col("status") == "无法评估").is_empty()
    assert sample_q1.coverage.height == 20 * sum(
        (3 if r.period == "month" else 1 if r.period == "quarter" else 0) * len(r.parts)
        for r in sample_q1.standard.rules.values()
        if r.enabled
    )
    assert "部分评估" not in sample_q1.scorecard.select(sample_q1.standard.dimensions).to_numpy()


@pytest.fixture(scope="module")
def sample_q1() -> Validation:
    from conftest import SAMPLE

    return validate(SAMPLE, "2019Q1", data_docs=False)


def test_not_evaluated_names_rules_and_hides_the_main_part(no_points: Validation):
    rows = not_evaluated(no_points.coverage, no_points.standard, {"XH01": "联兴"})
    assert rows["part"].null_count() == rows.height and set(rows["branch_name"]) == {"联兴"}
    assert set(rows["dimension"]) == {"制度机制"}


def test_a_committee_list_without_a_secretary_in_office_in_the_quarter_says_so(tmp_path: Path):
    """XH02's branch record names no secretary and its committee list's secretary left office on
    30 June 2019: in 2019Q4 nobody held the office by the list, and the reason says that rather than
    that the branch list lacks a 书记编号 (which the reviewer could not fix: the list is complete)."""
    w = world()
    next(b for b in w.tables["branches"] if b["branch_id"] == "XH02")["secretary_id"] = None
    for c in w.tables["committee"]:
        if c["branch_id"] == "XH02" and c["post"] == "书记":
            c["term_end"] = dt.date(2019, 6, 30)
    v = audit_world(w, tmp_path, "2019Q4")
    expected = {"“支部委员会成员”中没有2019年第4季度（2019年10月1日至2019年12月31日）在任的书记"}
    assert reasons(v, "TM-1", "XH02") == reasons(v, "TM-2", "XH02") == expected
    assert ("TM-1", "main", "XH02", "2019Q4") in unjudged(v)


def test_rule_parts_are_shown_by_their_chinese_titles():
    """The 检查部分 column (branch page, findings.xlsx 评估范围, the notice) shows a part's `title:`
    from standard.yaml, never its id (`counts`, `attendance`); every named part has a Chinese one."""
    import re

    standard = load_standard()
    named = [(r.id, p) for r in standard.rules.values() for p in r.parts.values() if p.name != "main"]
    assert named and all(p.title and not re.search(r"[A-Za-z]", p.title) for _, p in named)
    coverage = pl.DataFrame(
        [
            ("OL-10", "counts", "XH05", "2019-01", "无法评估", "“参会明细”中没有本支部的名单"),
            ("SM-8", "attendance", "XH05", "2019-01", "无法评估", "“参会明细”中没有本支部的名单"),
            ("OL-6", "main", "XH05", "2019-01", "无法评估", "“参会明细”中没有本支部的名单"),
        ],
        schema=COVERAGE_SCHEMA,
        orient="row",
    )
    rows = not_evaluated(coverage, standard)
    assert rows["part"].to_list() == ["人数与参会名单一致", "连续未参加组织生活", None]
