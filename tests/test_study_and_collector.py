"""OL-11 (every 主题党日 names the study of 党章党规 or 习近平新时代中国特色社会主义思想) and SM-10 (dues
collected by the branch's 组织委员): the matching rules and their traps, the study terms as data a
reviewer edits without Python, and both rules end to end on small generated batches."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from audit.cli import app
from audit.facts.study import StudyTerms
from audit.paths import STANDARD_FILE
from audit.standard import StandardError, load_standard
from audit.synth import write_world
from worlds import audit, keys, meetings, one, plain_member, row, world

TERMS = StudyTerms(("党章", "党规", "中国共产党…条例", "习近平总书记…讲话", "习近平新时代中国特色社会主义思想"))


# --- what counts as naming the study ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("学习党章党规", "党章"),
        ("学习《中国共产党章程》", "党章"),  # the full name holds the term
        ("学习 习近平　新时代中国特色社会主义思想", "习近平新时代中国特色社会主义思想"),  # spaces, ideographic too
        ("学习ＸＸ党规", "党规"),  # full-width letters fold
        ("学习《中国共产党纪律处分条例》", "中国共产党…条例"),  # … : text between, one clause
        ("学习习近平总书记在庆祝改革开放40周年大会上的重要讲话", "习近平总书记…讲话"),
        ("中国共产党成立98周年，学习物业管理条例", None),  # … does not cross a clause
        ("学习《物业管理条例》", None),  # 条例 alone is not the party's
        ("环境整治志愿活动", None),
        ("", None),
    ],
)
def test_a_term_is_found_in_folded_text_and_gaps_stay_in_one_clause(text: str, named: str | None):
    assert TERMS.named([text]) == named


def test_a_term_inside_a_members_name_or_an_exclusion_does_not_count():
    """党 is a surname: 老党员党章海 names a person, not the party constitution."""
    assert TERMS.named(["走访慰问老党员党章海"]) == "党章"  # without the roster it would count
    assert TERMS.named(["走访慰问老党员党章海"], names=["党章海", "王芳"]) is None
    assert TERMS.named(["走访党章海后学习党章"], names=["党章海"]) == "党章"  # the name masked, the study still there
    with_exclusion = StudyTerms(("党章",), ("政党章程比较",))
    assert with_exclusion.named(["讲座：政党章程比较"]) is None
    assert with_exclusion.named(["讲座：政党章程比较；学习党章"]) == "党章"


def test_topic_or_content_either_names_the_study():
    assert TERMS.named(["志愿服务进社区", "学习党章后开展志愿服务"]) == "党章"
    assert TERMS.named([None, "学习党规"]) == "党规"
    assert TERMS.named(["志愿服务进社区", None]) is None


def _standard_copy(tmp_path: Path, **thresholds: object) -> Path:
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    data["rules"]["OL-11"]["thresholds"].update(thresholds)
    path = tmp_path / "standard.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_study_terms_that_are_not_a_list_of_words_are_refused_in_chinese(tmp_path: Path):
    w = world()
    with pytest.raises(StandardError, match="OL-11 的阈值 study_terms 应为词语列表"):
        audit(w, tmp_path, "2019Q1", load_standard(_standard_copy(tmp_path, study_terms="党章")))


# --- OL-11 end to end --------------------------------------------------------------------------------


def _theme(w, branch: str, ym: str) -> dict:
    return meetings(w, branch, "主题党日", ym)[0]


def test_ol11_a_theme_day_naming_no_study_is_a_warning_quoting_its_text(tmp_path: Path):
    w = world()
    day = _theme(w, "XH01", "2019-02")
    day["topic"], day["content"] = "环境整治志愿活动", "清理楼道杂物\n" + "张贴标语" * 20
    generic = _theme(w, "XH02", "2019-02")  # a generic topic whose content names the study passes
    generic["topic"], generic["content"] = "志愿服务进社区", "学习《中国共产党纪律处分条例》后开展志愿服务"
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-11", "warning", "XH01", "", "2019-02")}
    message = one(v, "OL-11")["message"]
    assert f"{day['meeting_id']}（2019年2月15日）主题“环境整治志愿活动”，内容“清理楼道杂物 张贴标语" in message
    assert message.endswith("…”") and "\n" not in message  # quoted: one line, cut short


def test_ol11_a_theme_day_without_topic_or_content_is_ol6_not_ol11(tmp_path: Path):
    w = world()
    day = _theme(w, "XH01", "2019-01")
    day["topic"] = day["content"] = None
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("OL-6", "error", "XH01", "", "2019-01")}


def test_ol11_is_unevaluable_where_no_theme_day_records_a_topic_or_content(tmp_path: Path):
    w = world()
    for day in meetings(w, "XH03", "主题党日"):
        day["topic"] = day["content"] = None
    v = audit(w, tmp_path, "2019Q1")
    assert not [k for k in keys(v) if k[0] == "OL-11"]
    rows = v.coverage.filter((v.coverage["rule_id"] == "OL-11") & (v.coverage["branch_id"] == "XH03")).to_dicts()
    assert {r["status"] for r in rows} == {"无法评估"} and len(rows) == 3
    assert "“主题”或“会议内容”" in rows[0]["reason"]


def test_study_terms_are_edited_in_the_standard_file_without_python(tmp_path: Path):
    """A district adds its own word to `study_terms` in a copy of the standard passed with --standard:
    the theme day it names is no longer reported; the shipped standard still reports it."""
    w = world()
    day = _theme(w, "XH01", "2019-02")
    day["topic"], day["content"] = "学习《德城区基层党建工作手册》", None
    batch = tmp_path / "batch"
    write_world(w, batch)
    extended = load_standard(STANDARD_FILE).rule("OL-11").thresholds["study_terms"] + ["基层党建工作手册"]
    runs = {"shipped": None, "extended": _standard_copy(tmp_path, study_terms=extended)}
    found = {}
    for name, standard in runs.items():
        out = tmp_path / name
        args = ["validate", str(batch), "--quarter", "2019Q1", "--out", str(out), "--no-data-docs"]
        result = CliRunner().invoke(app, args + (["--standard", str(standard)] if standard else []))
        assert result.exit_code == 0, result.output
        with (out / "findings.csv").open(encoding="utf-8-sig") as handle:
            found[name] = {(r["rule_id"], r["branch_id"], r["period"]) for r in csv.DictReader(handle)}
    assert found["shipped"] == {("OL-11", "XH01", "2019-02")}
    assert found["extended"] == set()


# --- SM-10 end to end --------------------------------------------------------------------------------


def _branch(w, branch: str) -> dict:
    return next(b for b in w.tables["branches"] if b["branch_id"] == branch)


def _person(w, member_id: str) -> dict:
    return next(m for m in w.tables["members"] if m["member_id"] == member_id)


def test_sm10_the_secretary_collecting_for_the_organizer_is_a_breach(tmp_path: Path):
    w = world()
    secretary = _person(w, _branch(w, "XH01")["secretary_id"])
    payer = plain_member(w, "XH01")
    row(w, "dues", payer["member_id"], "2019-03")["collector"] = secretary["name"]
    organizer = _person(w, _branch(w, "XH02")["organizer_id"])  # by member key, or by name with spaces: the organizer
    row(w, "dues", plain_member(w, "XH02")["member_id"], "2019-03")["collector"] = organizer["member_id"]
    row(w, "dues", plain_member(w, "XH02", 1)["member_id"], "2019-03")["collector"] = "　".join(organizer["name"])
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-10", "error", "XH01", "", "2019-03")}
    finding = one(v, "SM-10")
    assert (
        f"由“{secretary['name']}”收取，当时的组织委员是{_person(w, _branch(w, 'XH01')['organizer_id'])['name']}"
        in finding["message"]
    )
    assert finding["message"].startswith("2019年3月有1笔党费不是由组织委员收取")


def test_sm10_the_organizer_on_the_payments_date_follows_the_committee_terms(tmp_path: Path):
    """The organizer changes on 6 February: payments before it collected by the old organizer and
    from it by the new one pass; the old organizer collecting on 8 February does not."""
    w = world()
    bid, change = "XH01", dt.date(2019, 2, 6)
    committee = [c for c in w.tables["committee"] if c["branch_id"] == bid]
    old = next(c for c in committee if c["post"] == "组织委员")
    new = next(c for c in committee if c["post"] == "宣传委员")
    old["term_end"] = new["term_end"] = change - dt.timedelta(days=1)
    w.tables["committee"].append({**old, "member_id": new["member_id"], "term_start": change, "term_end": None})
    _branch(w, bid)["organizer_id"] = new["member_id"]
    names = {m["member_id"]: m["name"] for m in w.tables["members"]}
    ids = {m["member_id"] for m in w.tables["members"] if m["branch_id"] == bid}
    for r in w.tables["dues"]:
        if r["member_id"] in ids and r["paid_on"] >= change:
            r["collector"] = names[new["member_id"]]
    early = row(w, "dues", plain_member(w, bid)["member_id"], "2019-02")
    early["paid_on"], early["collector"] = dt.date(2019, 2, 5), names[old["member_id"]]
    late = row(w, "dues", plain_member(w, bid, 1)["member_id"], "2019-02")
    late["paid_on"], late["collector"] = dt.date(2019, 2, 8), names[old["member_id"]]
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-10", "error", bid, "", "2019-02")}
    assert "有1笔" in one(v, "SM-10")["message"] and "2019年2月8日交纳" in one(v, "SM-10")["message"]


def test_sm10_a_payment_no_organizer_term_covers_is_named_in_coverage_not_skipped(tmp_path: Path):
    """The old organizer's term ends on 5 February, the new one's starts on 11 February: a payment
    of 8 February falls between them. It is judged against nobody — not the branch list's (undated)
    organizer — and not silently either: SM-10 is 无法评估 for XH01 in February, the reason naming
    the payment and its date; February's other payments are still judged (a breach on the 12th)."""
    w = world()
    bid = "XH01"
    committee = [c for c in w.tables["committee"] if c["branch_id"] == bid]
    old = next(c for c in committee if c["post"] == "组织委员")
    new = next(c for c in committee if c["post"] == "宣传委员")
    old["term_end"] = new["term_end"] = dt.date(2019, 2, 5)
    w.tables["committee"].append({**old, "member_id": new["member_id"], "term_start": dt.date(2019, 2, 11), "term_end": None})
    _branch(w, bid)["organizer_id"] = new["member_id"]
    names = {m["member_id"]: m["name"] for m in w.tables["members"]}
    ids = {m["member_id"] for m in w.tables["members"] if m["branch_id"] == bid}
    for r in w.tables["dues"]:
        if r["member_id"] in ids and r["month"] >= dt.date(2019, 2, 1):
            r["paid_on"] = r["month"].replace(day=3) if r["month"].month == 2 else r["month"].replace(day=15)
            r["collector"] = names[old["member_id"] if r["month"].month == 2 else new["member_id"]]
    gap = row(w, "dues", plain_member(w, bid)["member_id"], "2019-02")
    gap["paid_on"], gap["collector"] = dt.date(2019, 2, 8), "某某"
    late = row(w, "dues", plain_member(w, bid, 1)["member_id"], "2019-02")
    late["paid_on"], late["collector"] = dt.date(2019, 2, 12), names[old["member_id"]]
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == {("SM-10", "error", bid, "", "2019-02")}
    assert "有1笔" in one(v, "SM-10")["message"] and "2019年2月12日交纳" in one(v, "SM-10")["message"]
    sm10 = v.coverage.filter((v.coverage["rule_id"] == "SM-10") & (v.coverage["status"] == "无法评估"))
    payer = plain_member(w, bid)
    assert [(r["branch_id"], r["period"], r["reason"]) for r in sm10.iter_rows(named=True)] == [
        (
            bid,
            "2019-02",
            f"“支部委员会成员”中组织委员的任期都不包括以下党费的交纳日期：{payer['name']}（{payer['member_id']}）"
            "2月党费（2019年2月8日交纳）；这些党费未核对收缴人，本支部其余党费已核对",
        )
    ]


def test_sm10_is_unevaluable_without_a_collector_or_an_organizer(tmp_path: Path):
    w = world()
    ids = {m["member_id"] for m in w.tables["members"] if m["branch_id"] == "XH02"}
    for r in w.tables["dues"]:
        if r["member_id"] in ids:
            r["collector"] = None
    _branch(w, "XH03")["organizer_id"] = None
    w.tables["committee"] = [c for c in w.tables["committee"] if not (c["branch_id"] == "XH03" and c["post"] == "组织委员")]
    v = audit(w, tmp_path, "2019Q1")
    assert keys(v) == set()
    sm10 = v.coverage.filter(v.coverage["rule_id"] == "SM-10")
    unevaluable = {(r["branch_id"], r["reason"]) for r in sm10.filter(sm10["status"] == "无法评估").iter_rows(named=True)}
    assert {b for b, _ in unevaluable} == {"XH02", "XH03"}
    assert any("收缴人" in reason for b, reason in unevaluable if b == "XH02")
    assert any("组织委员" in reason for b, reason in unevaluable if b == "XH03")
