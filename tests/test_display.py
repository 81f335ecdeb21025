"""The HTML the report notebooks show (`audit.display`), without a kernel: text from the exports is
escaped — present as escaped text, never as markup —, headers come from `audit.labels` and say the
same word for a column on the pages and in findings.xlsx, and no notebook builds HTML by hand."""

from __future__ import annotations

import html
import re

import polars as pl
import pytest

from audit import display, workbook
from audit.contract import load_contract
from audit.labels import SEVERITY_ZH, headers
from audit.paths import NOTEBOOKS, STANDARD_FILE
from audit.standard import load_standard

STANDARD = load_standard()
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
ESCAPED = html.escape(HOSTILE)
DIMENSIONS = ["政治功能强", "支部班子强"]


def assert_escaped(fragment: str, text: str = HOSTILE) -> None:
    """`text` is in the fragment as escaped text, and none of its markup is."""
    assert html.escape(text) in fragment
    assert "<script" not in fragment and "<img" not in fragment


def _finding(**values: str) -> dict[str, str]:
    row = dict.fromkeys(["finding_id", "rule_id", "severity", "dimension", "branch_id", "subject_id", "period", "clause"], "x")
    return row | {"severity": "critical", "message": HOSTILE, "evidence": HOSTILE} | values


def test_findings_escape_message_and_evidence_and_name_severities_in_chinese():
    frame = pl.DataFrame([_finding(branch_id=HOSTILE)])
    fragment = display.findings_html(frame, STANDARD, with_branch=True)
    assert fragment.count(ESCAPED) == 3  # message, evidence and the branch column
    assert_escaped(fragment)
    assert f"<td>{SEVERITY_ZH['critical']}</td>" in fragment and "<td>critical</td>" not in fragment
    assert "<th>规则编号</th>" in fragment and "<th>支部编号</th>" in fragment


def test_findings_name_each_rule_by_code_and_title_escaped(tmp_path):
    """A reviewer read only SM-5 on the branch page (its findings and 整改情况) and under 严重问题:
    each row now has the rule's title from the standard beside its code (规则编号, then 规则); a
    title is text, escaped."""
    import yaml

    frame = pl.DataFrame([_finding(rule_id="SM-5"), _finding(rule_id="SM-8"), _finding(rule_id="XX-9")])
    fragment = display.findings_html(frame, STANDARD, with_branch=True)
    head = re.findall(r"<th>(.*?)</th>", fragment)
    assert head[head.index("规则编号") + 1] == "规则"
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", fragment.split("<tbody>")[1])]
    at = head.index("规则编号")
    assert [r[at : at + 2] for r in rows] == [
        ["SM-5", html.escape(STANDARD.rule("SM-5").title)],
        ["SM-8", html.escape(STANDARD.rule("SM-8").title)],
        ["XX-9", ""],  # a rule the standard no longer has: its code alone
    ]
    followup = display.followup_html(pl.DataFrame([{"status": "持续", "rule_id": "SM-5", "message": "x"}]), STANDARD)
    assert f'<td>持续</td><td class="nw">SM-5</td><td>{html.escape(STANDARD.rule("SM-5").title)}</td>' in followup
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    data["rules"]["SM-5"]["title"] = HOSTILE
    (tmp_path / "standard.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    hostile = display.findings_html(
        frame.head(1).with_columns(message=pl.lit("x"), evidence=pl.lit("x")), load_standard(tmp_path / "standard.yaml")
    )
    assert hostile.count(ESCAPED) == 1
    assert_escaped(hostile)


def test_findings_with_decisions_show_the_reviewer_text_escaped():
    frame = pl.DataFrame([_finding() | {"decision": "误报", "note": HOSTILE, "reviewer": "王审", "decided_on": "2019-04-02"}])
    fragment = display.findings_html(frame, STANDARD)
    assert "误报" in fragment and ESCAPED in fragment.split("<th>审核决定</th>")[1]
    assert_escaped(fragment)


@pytest.mark.parametrize(
    ("render", "frame"),
    [
        (
            lambda f: display.followup_html(f, STANDARD),
            {"status": "新增", "rule_id": "OL-1", "subject_id": "x", "message": HOSTILE},
        ),
        (display.followup_counts_html, {"branch_id": "XH01", "branch_name": HOSTILE, "新增": 1}),
        (display.decisions_html, {"finding_id": "F-1", "decision": "误报", "note": HOSTILE, "row": 3}),
        (display.points_missing_html, {"member_id": "M1", "name": HOSTILE, "months": "2019-01", "count": 1}),
        (display.arrears_html, {"member_id": "M1", "name": HOSTILE, "unpaid_months": 4, "bucket": "3-5个月"}),
        (display.progress_html, {"rule_id": HOSTILE, "period": "2019H1", "required": 1, "done": 0, "status": "进行中"}),
        (display.sample_html, {"meeting_id": "HD1", "topic": HOSTILE, "_file": "会议.xlsx", "_row": 5}),
        (display.quality_html, {"table": "members", "file": HOSTILE, "row": 3, "column": "姓名", "message": "x"}),
        (display.quarantine_html, {"file": HOSTILE, "reason": HOSTILE, "action": "整行隔离"}),
    ],
)
def test_every_table_escapes_export_text(render, frame):
    fragment = render(pl.DataFrame([frame]))
    assert fragment.startswith("<table") and ESCAPED in fragment
    assert_escaped(fragment)


def test_quarantine_counts_by_file_and_reason_without_skipped_rows():
    rows = [
        {"file": "a.csv", "reason": "日期无效", "action": "整行隔离"},
        {"file": "a.csv", "reason": "日期无效", "action": "该值置空，行保留"},
        {"file": "a.csv", "reason": HOSTILE, "action": "跳过（非数据行）"},
    ]
    fragment = display.quarantine_html(pl.DataFrame(rows))
    assert "<tr><td>a.csv</td><td>日期无效</td><td>2</td></tr>" in fragment and ESCAPED not in fragment
    assert display.quarantine_html(pl.DataFrame(rows[2:])) == '<p class="empty">导入时没有隔离任何记录。</p>'


def test_headers_and_rating_escape_every_value():
    branch = {"branch_id": HOSTILE, "branch_name": HOSTILE, "org_type": HOSTILE, "parent_org": HOSTILE}
    fragment = display.branch_header_html(branch, "2019年第四季度", HOSTILE)
    assert fragment.count(ESCAPED) == 5
    assert_escaped(fragment)
    fragment = display.overview_header_html(HOSTILE, 20, HOSTILE, HOSTILE)
    assert fragment.count(ESCAPED) == 3 and "20 个党支部" in fragment
    assert_escaped(fragment)
    assert_escaped(display.note_html(HOSTILE))


def test_rating_counts_severities_and_says_false_alarms_only_when_there_are_some():
    rating = {"rating": "未达标", "critical": 1, "errors": 2, "warnings": 3, DIMENSIONS[0]: "通过", DIMENSIONS[1]: "未通过"}
    fragment = display.rating_html(rating, [*DIMENSIONS])
    assert "严重 1 条，错误 2 条，提示 3 条</p>" in fragment and "误报" not in fragment
    assert '<td class="status s-未通过">未通过</td>' in fragment and f"<th>{DIMENSIONS[1]}</th>" in fragment
    assert "（另有 2 条经审核判定为误报，不计入评定）" in display.rating_html(rating, DIMENSIONS, false_alarms=2)
    hostile = display.rating_html(rating | {"rating": HOSTILE, DIMENSIONS[0]: HOSTILE}, DIMENSIONS)
    assert hostile.count(ESCAPED) == 4  # the rating's class and text, the dimension's class and text
    assert_escaped(hostile)


RATINGS = ["过硬", "达标", "未达标"]  # best first, as `Standard.ratings` lists them


def _card(branch_id: str, name: str, rating: str, critical: int = 0, errors: int = 0, warnings: int = 0) -> dict:
    dims = {DIMENSIONS[0]: "通过" if not errors + critical else "未通过", DIMENSIONS[1]: "通过"}
    return (
        {"branch_id": branch_id, "branch_name": name, "rating": rating}
        | dims
        | {
            "critical": critical,
            "errors": errors,
            "warnings": warnings,
        }
    )


def test_ranking_links_every_branch_and_marks_failed_pages_escaped():
    card = pl.DataFrame([_card("XH02", HOSTILE, "达标", warnings=1), _card("XH/01", "联兴", "未达标", critical=2, errors=1)])
    fragment = display.ranking_html(card, DIMENSIONS, {"XH02": {"status": "failed", "error": HOSTILE}}, RATINGS)
    assert f'href="{display.branch_page_href("XH/01")}"' in fragment and 'href="branches/XH02.html"' in fragment
    assert display.page_status_marker("XH/01") in fragment and display.page_status_marker("XH02") not in fragment
    assert f'<span class="failed">报告生成失败：{ESCAPED}</span>' in fragment
    assert fragment.count(ESCAPED) == 2  # the name and the error
    assert_escaped(fragment)
    head = re.findall(r"<th>(.*?)</th>", fragment)
    assert head == ["评定", "支部编号", "支部名称", "主要问题", "严重", "错误", "提示", *DIMENSIONS]


def test_ranking_links_only_the_pages_the_run_made():
    """Walk-through A3: `--branch 联兴集团` made one page, yet all 20 names linked to pages; a
    branch without a page is plain text, and a note says only the chosen branches have pages."""
    card = pl.DataFrame([_card("XH01", "联兴集团党支部", "达标"), _card("XH02", HOSTILE, "未达标", errors=1)])
    fragment = display.ranking_html(card, DIMENSIONS, {}, RATINGS, pages=["XH01"])
    assert re.findall(r'href="([^"]*)"', fragment) == ["branches/XH01.html"]
    assert f"<td>XH02</td><td>{ESCAPED}</td>" in fragment and display.page_status_marker("XH02") not in fragment
    assert "本次只生成了所选支部（联兴集团党支部）的页面，其他支部的名称不带链接" in fragment
    assert_escaped(fragment)
    every = display.ranking_html(card, DIMENSIONS, {}, RATINGS)  # no choice: every branch has its page
    assert len(re.findall(r'href="branches/', every)) == 2 and "pages-chosen" not in every


def test_ranking_puts_failing_branches_first_each_with_its_reason():
    """#14 item 4: worst rating first, then most 严重 and 错误, then by id; each row says why."""
    card = pl.DataFrame(
        [
            _card("XH01", "甲", "过硬"),
            _card("XH02", "乙", "未达标", errors=1),
            _card("XH03", "丙", "达标", warnings=2),
            _card("XH04", "丁", "未达标", critical=1, errors=1),
            _card("XH05", "戊", "未达标", errors=1),
        ]
    )
    reasons = {"XH04": "严重：连续6个月不交党费或不参加组织生活（1条）", "XH02": HOSTILE}
    fragment = display.ranking_html(card, DIMENSIONS, {}, RATINGS, reasons)
    rows = re.findall(r"<tr><td[^>]*>[^<]*</td><td>(XH\d+)</td>", fragment)
    assert rows == ["XH04", "XH02", "XH05", "XH03", "XH01"]
    assert '<td class="reason">严重：连续6个月不交党费或不参加组织生活（1条）</td>' in fragment
    assert f'<td class="reason">{ESCAPED}</td>' in fragment
    assert_escaped(fragment)


def test_branch_reasons_name_failed_rules_with_counts_leaving_out_false_alarms():
    from audit.views import branch_reasons

    standard = load_standard()
    findings = pl.DataFrame(
        [
            {"branch_id": "XH01", "rule_id": "SM-5", "severity": "error", "counted": True},
            {"branch_id": "XH01", "rule_id": "SM-5", "severity": "error", "counted": True},
            {"branch_id": "XH01", "rule_id": "SM-8", "severity": "critical", "counted": True},
            {"branch_id": "XH01", "rule_id": "OL-2", "severity": "error", "counted": False},  # 误报
            {"branch_id": "XH02", "rule_id": "OL-5", "severity": "warning", "counted": True},
        ]
    )
    branches = pl.DataFrame({"branch_id": ["XH01", "XH02", "XH03", "XH04"]})
    unevaluable = pl.DataFrame({"branch_id": ["XH03"], "unevaluable": [2]})
    reasons = dict(branch_reasons(findings, standard, branches, unevaluable).iter_rows())
    title = {r: standard.rule(r).title for r in ("SM-5", "SM-8", "OL-5")}
    assert reasons == {
        "XH01": f"严重：{title['SM-8']}（1条）；错误：{title['SM-5']}（2条）",
        "XH02": f"提示：{title['OL-5']}（1条）",
        "XH03": "无法评估：2项",
        "XH04": "",
    }


def test_progress_names_each_rule_and_counts_whole_meetings():
    """#14 item 5: never "按进度应完成 0.25"; the rule's title beside its code, the period in words."""
    from audit.standard import load_standard
    from audit.views import progress_table

    standard = load_standard()
    progress = pl.DataFrame(
        {
            "branch_id": ["XH01"] * 4,
            "rule_id": ["OL-8", "OL-4", "OL-7", "TM-2"],
            "period": ["2019", "2019", "2019H1", "2019"],
            "required": [1, 2, 1, 3],
            "done": [0, 1, 0, 2],
            "expected_by_now": [0.25, 0.5, 1.0, 2.25],
            "status": ["进度落后", "进度正常", "进度落后", "进度落后"],
        }
    )
    table = progress_table(progress, standard)
    assert table["expected_by_now"].to_list() == [1, 1, 1, 3]  # done >= share exactly when done >= it rounded up
    assert table["rule_title"].to_list() == [standard.rule(r).title for r in ("OL-8", "OL-4", "OL-7", "TM-2")]
    assert table["period"].to_list() == ["2019年", "2019年", "2019年上半年", "2019年"]
    fragment = display.progress_html(table)
    assert "0.25" not in fragment and "0.5" not in fragment and f"<td>{standard.rule('OL-8').title}</td>" in fragment
    assert "<th>规则</th>" in fragment and "<th>按进度应完成（次）</th>" in fragment
    assert progress_table(progress.head(0), standard).is_empty()


def test_a_branch_known_only_from_a_reference_has_a_page():
    """A branch no branch list names (a 阵地建设 row's unknown code) has no name: its page says so
    (it failed with AttributeError, and the whole run with it)."""
    fragment = display.branch_header_html({"branch_id": "XH99", "branch_name": None}, "2019年第一季度", "v1")
    assert "<h1>（支部名称未知）　2019年第一季度审核报告</h1>" in fragment and "XH99" in fragment


def test_overview_header_leaves_the_data_docs_to_a_labelled_link_at_the_bottom():
    """#14 item 4: the English GX page is not in the header; its link is labelled 数据校验明细（技术）."""
    header = display.overview_header_html("总览", 20, "标准", "1")
    assert "data-docs" not in header and "findings.xlsx" in header
    link = display.technical_links_html()
    assert f'<a href="data-docs/index.html">{display.DATA_DOCS_LABEL}</a>' in link
    assert display.DATA_DOCS_LABEL == "数据校验明细（技术）"


def test_a_column_has_one_header_on_pages_and_in_the_workbook():
    pairs = [
        (display.FINDING_HEADERS, workbook.FINDINGS_ZH),
        (display.FOLLOWUP_HEADERS, workbook.FOLLOWUP_ZH),
        (display.FOLLOWUP_COUNT_HEADERS, workbook.FOLLOWUP_ZH),
    ]
    for page, book in pairs:
        shared = set(page) & set(book)
        assert shared and {c: page[c] for c in shared} == {c: book[c] for c in shared}
    assert display.FINDING_HEADERS["rule_id"] == workbook.FINDINGS_ZH["rule_id"] == "规则编号"
    assert workbook.FINDINGS_ZH["status"] == workbook.FOLLOWUP_ZH["status"] == display.FOLLOWUP_HEADERS["status"]


def test_record_columns_are_named_as_the_export_contract_names_them():
    """The sample shows meeting and branch columns: on the page and in the workbook, each is
    headed by the contract's label (branches' over meetings' for the branch's name)."""
    contract = load_contract()
    labels = {name: c.label for table in ("meetings", "branches") for name, c in contract.tables[table].columns.items()}
    shown = [c for c in workbook.SAMPLE_ZH if c in labels]
    assert len(shown) == 8
    assert {c: workbook.SAMPLE_ZH[c] for c in shown} == {c: labels[c] for c in shown}
    page = re.findall(r"<th>(.*?)</th>", display.sample_html(pl.DataFrame([dict.fromkeys(workbook.SAMPLE_ZH, "x")])))
    assert {labels[c] for c in shown if c not in ("branch_id", "branch_name")} <= set(page)


def test_a_table_cannot_rename_a_column_it_does_not_show():
    assert headers("branch_id", "rule_id", rule_id="规则") == {"branch_id": "支部编号", "rule_id": "规则"}
    with pytest.raises(ValueError, match="does not show"):
        headers("branch_id", rule_id="规则")


def test_no_notebook_builds_html_by_hand():
    for notebook in NOTEBOOKS.glob("*.py"):
        code = notebook.read_text(encoding="utf-8")
        assert not re.search(r"<(table|tr|td|th|p|span|header)\b|html\.escape", code), notebook.name


def test_data_problems_name_tables_as_the_exports_do():
    """The overview's data problems said `meetings` / `members`: a reviewer knows 组织生活记录, 党员名册."""
    rows = [{"table": t, "file": "f.xlsx", "row": 3, "column": "身份证号", "message": "x"} for t in ("members", "meetings")]
    fragment = display.quality_html(pl.DataFrame(rows))
    assert "<td>党员名册</td>" in fragment and "<td>组织生活记录</td>" in fragment and "members" not in fragment


def test_the_overview_says_there_is_no_critical_finding_not_that_there_is_none_at_all():
    """Under 严重问题 an empty table said 本季度没有发现问题 while other findings existed."""
    none = pl.DataFrame([_finding()]).head(0)
    assert (
        display.findings_html(none, STANDARD, with_branch=True, empty="本季度没有严重问题。")
        == '<p class="empty">本季度没有严重问题。</p>'
    )
    assert display.findings_html(none, STANDARD) == '<p class="empty">本季度没有发现问题。</p>'


def test_progress_without_its_data_says_why_and_shows_no_count(tmp_path):
    """A rule 无法评估 in progress.csv (XH02's 党课 name no lecturer, so TM-2's lectures by the
    secretary cannot be counted) showed a count due by now, without the reason: now no count done
    or due by now, the status 无法评估 and the reason in Chinese; the other rows keep their counts."""
    from audit.labels import UNEVALUABLE
    from audit.standard import load_standard
    from audit.synth import write_world
    from audit.validate import validate
    from audit.views import progress_table
    from worlds import world

    w = world()
    for meeting in w.tables["meetings"]:
        if meeting["branch_id"] == "XH02" and meeting["meeting_type"] == "党课":
            meeting["lecturer_id"] = None
    write_world(w, tmp_path / "batch")
    validate(tmp_path / "batch", "2019Q2", out=tmp_path / "out", data_docs=False)
    progress = pl.read_parquet(tmp_path / "out" / "progress.parquet")  # as the branch page reads it back
    standard = load_standard()
    mine = progress_table(progress.filter(pl.col("branch_id") == "XH02"), standard)
    tm2 = mine.filter(pl.col("rule_id") == "TM-2").to_dicts()
    reason = "“组织生活记录”中本支部的党课都没有“授课人编号”"
    assert [(r["done"], r["expected_by_now"], r["status"], r["reason"]) for r in tm2] == [(None, None, UNEVALUABLE, reason)]
    others = mine.filter(pl.col("rule_id") != "TM-2")
    assert not others.is_empty() and others["done"].null_count() == others["expected_by_now"].null_count() == 0
    fragment = display.progress_html(mine)
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", fragment) if ">TM-2</td>" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells == ["TM-2", standard.rule("TM-2").title, "2019年", str(tm2[0]["required"]), "", "", UNEVALUABLE, reason]
    assert "<th>原因（缺少的数据）</th>" in fragment
    counted = display.progress_html(progress_table(progress.filter(pl.col("branch_id") == "XH01"), standard))
    assert "原因" not in counted and UNEVALUABLE not in counted  # nothing missing: no empty reason column
    hostile = display.progress_html(mine.with_columns(reason=pl.lit(HOSTILE)))
    assert_escaped(hostile)


def test_codes_ids_and_dates_in_a_table_do_not_wrap():
    """Walk-through C14: `OL-/10`, `F-/86CDB3CB22DA`, `2019-/02` broke at the hyphen; such cells
    carry the class the pages keep on one line, text and hostile values do not."""
    frame = pl.DataFrame({"a": ["OL-10", "F-86CDB3CB22DA", "2019-02", "2019年2月15日", "M00006", "本期新增的问题", HOSTILE]})
    cells = re.findall(r"<td( class=\"nw\")?>", display.table_html(frame))
    assert cells == [' class="nw"'] * 4 + ["", "", ""]  # M00006 has nowhere to break
    assert_escaped(display.table_html(frame))


def test_overview_coverage_names_each_rule_by_code_and_title():
    """A reviewer read only SM-10、OL-6 under the overview's 评估范围 (涉及规则): each code now has its
    title from the standard beside it; a branch with everything judged keeps an empty cell, and
    every branch judged in full is one sentence."""
    counts = pl.DataFrame(
        {
            "branch_id": ["XH01", "XH02", "XH03"],
            "branch_name": ["一支部", "二支部", "三支部"],
            "unevaluable": [3, 0, 1],
            "rule_ids": ["SM-10、OL-6", "", "XX-9"],
        }
    )
    fragment = display.coverage_counts_html(counts, STANDARD)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", fragment.split("<tbody>")[1])]
    sm10, ol6 = (html.escape(f"{code} {STANDARD.rule(code).title}") for code in ("SM-10", "OL-6"))
    assert [r[-1] for r in rows] == [f"{sm10}、{ol6}", "", "XX-9"]
    assert [r[0] for r in rows] == ["XH01", "XH02", "XH03"]
    judged = display.coverage_counts_html(counts.with_columns(unevaluable=pl.lit(0), rule_ids=pl.lit("")), STANDARD)
    assert judged == '<p class="empty">所有支部的各项规则所需数据齐全，全部已评估。</p>'
