"""The bundled sample's report pages in a real Chromium, offline: what a reviewer sees (#14 items
3–5). No cloud or logo button on any chart and the toolbar in Chinese; the overview answers first
(failing branches with their reasons, critical findings, then charts, the technical Data Docs link
last); every chart reads right (counts in whole numbers, percentages 0–100%, meetings in date order
as full bars, labels inside the chart, no empty chart). Checked on the rendered page: the SVG plotly
drew and the figure it drew from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from audit.display import DATA_DOCS_LABEL, branch_page_name
from audit.periods import Quarter
from audit.report import run_report
from conftest import SAMPLE
from test_report import CHROMIUM, _browser

QUARTER = "2019Q1"
CJK = re.compile(r"[\u4e00-\u9fff]")
# The y-axis titles of the charts that count things (meetings, members, branches, findings)
COUNT_TITLES = {"次数", "人数", "支部数", "问题数"}
PERCENT_TITLES = {"出席率", "足额交纳人数比例"}
WHOLE = re.compile(r"\d+")
PERCENT_TICKS = ["0%", "25%", "50%", "75%", "100%"]
# Every chart on a page, as plotly drew it: the figure's titles and the tick texts in the SVG
CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
  title: gd.layout.title.text,
  y_title: gd.layout.yaxis && gd.layout.yaxis.title ? gd.layout.yaxis.title.text : null,
  y2_title: gd.layout.yaxis2 && gd.layout.yaxis2.title ? gd.layout.yaxis2.title.text : null,
  y: [...gd.querySelectorAll('.ytick text')].map(t => t.textContent),
  y2: [...gd.querySelectorAll('.y2tick text')].map(t => t.textContent),
  x: [...gd.querySelectorAll('.xtick text')].map(t => t.textContent),
  colorbar: [...gd.querySelectorAll('.colorbar g[class$="tick"] text')].map(t => t.textContent),
  modebar: [...gd.querySelectorAll('.modebar-btn')].map(a => a.getAttribute('data-title') || ''),
  logo: gd.querySelectorAll('.modebar-btn--logo').length,
  legend: [...gd.querySelectorAll('.legendtext')].map(t => t.textContent),
  bars: [...gd.querySelectorAll('.barlayer .point path')].map(p => p.getBoundingClientRect().width).filter(w => w > 0),
  plot_width: gd._fullLayout._size.w,
  svg: (r => [r.left, r.top, r.right, r.bottom])(gd.querySelector('.main-svg').getBoundingClientRect()),
  texts: [...gd.querySelectorAll('.annotation-text, .legendtext, .gtitle, .xtitle, .ytitle, .y2title')]
    .map(t => (r => [t.textContent, r.left, r.top, r.right, r.bottom])(t.getBoundingClientRect())),
}))"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The bundled sample's report (one run for the module)."""
    out = tmp_path_factory.mktemp("sample") / QUARTER
    result = run_report(SAMPLE, Quarter.parse(QUARTER), out, jobs=2)
    assert not result.failed, result.failed
    return out


TABLES_JS = """() => [...document.querySelectorAll('main table')].map(t => ({
  head: [...t.querySelectorAll('thead th')].map(th => th.textContent),
  rows: [...t.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)),
}))"""
# Where the overview's parts are, as positions in document order
ORDER_JS = """() => {
  const main = document.querySelector('main');
  const all = [...main.querySelectorAll('*')];
  const at = el => el ? all.indexOf(el) : -1;
  const docs = main.querySelector('a[href="data-docs/index.html"]');
  return {
    critical: at([...main.querySelectorAll('h2')].find(h => h.textContent.includes('严重问题'))),
    ranking: at(main.querySelector('table.ranking')),
    first_chart: at(main.querySelector('.js-plotly-plot')),
    last_chart: at([...main.querySelectorAll('.js-plotly-plot')].pop()),
    docs: at(docs),
    docs_text: docs ? docs.textContent : null,
    last_link: at([...main.querySelectorAll('a')].pop()),
    header_docs: document.querySelectorAll('header a[href^="data-docs"]').length,
    summary: (main.querySelector('p.summary') || {}).textContent,
    rows: [...main.querySelectorAll('table.ranking tbody tr')].map(tr => ({
      rating: (tr.querySelector('td.rating') || {}).textContent,
      reason: (tr.querySelector('td.reason') || {}).textContent,
    })),
  };
}"""


# Table headers, and cells holding a code, id or date (`OL-10`, `F-86CDB3CB22DA`, `2019-02`,
# `2019年2月15日`), that the browser laid out on more than one line
WRAPPED_JS = r"""() => [...document.querySelectorAll('main table th, main table td')]
  .filter(c => c.tagName === 'TH' || /^([A-Za-z0-9][A-Za-z0-9._:\/-]{0,23}|\d{4}年(\d{1,2}月(\d{1,2}日)?)?)$/.test(c.textContent))
  .filter(c => { const r = document.createRange(); r.selectNodeContents(c);
                 return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1; })
  .map(c => c.textContent)"""


def _render(browser: Any, path: Path) -> dict[str, Any]:
    """A report page loaded offline with its charts drawn: what it requested from the network,
    its script errors and warnings, its charts (`CHARTS_JS`), tables, text and layout."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requested: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            requested.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    charts = page.locator(".plotly-graph-div").count()
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}", timeout=20000)
    seen = {
        "charts": page.evaluate(CHARTS_JS),
        "tables": page.evaluate(TABLES_JS),
        "text": page.inner_text("main"),
        "order": page.evaluate(ORDER_JS),
        "wrapped": page.evaluate(WRAPPED_JS),
        "requested": requested,
        "errors": errors,
    }
    page.close()
    return seen


def chosen_branches(report: Path) -> list[str]:
    """A few branches of the sample that between them show every case these tests check: the
    first branch of each rating, with and without dues in arrears, with several meetings on one
    day (chosen from the data, so a regenerated sample still covers each case)."""
    import polars as pl

    import audit

    ds = audit.load(report)
    ids = ds.branches["branch_id"].sort().to_list()
    owing = set(ds.arrears()["branch_id"])
    held = ds.tables["meetings"].filter(pl.col("held_on").is_between(ds.quarter.start, ds.quarter.end))
    same_day = set(held.group_by("branch_id", "held_on").len().filter(pl.col("len") > 1)["branch_id"])
    rating = dict(ds.scorecard.select("branch_id", "rating").iter_rows())
    cases = [owing, set(ids) - owing, same_day, *({b for b in ids if rating[b] == w} for w in ds.standard.ratings.values())]
    return sorted({next(b for b in ids if b in case) for case in cases if case})


@pytest.fixture(scope="module")
def rendered(report: Path) -> dict[str, dict[str, Any]]:
    """The overview (`index`) and the chosen branches' pages (`chosen_branches`, by id) as
    Chromium rendered them (`_render`): each page loaded once for all the tests of this module."""
    pages = {"index": report / "index.html"}
    pages |= {b: report / "branches" / branch_page_name(b) for b in chosen_branches(report)}
    with _browser() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        seen = {name: _render(browser, path) for name, path in pages.items()}
        browser.close()
    return seen


def test_pages_request_nothing_and_run_cleanly(rendered):
    """No page asks the network for anything (the locale is inline, plotly.js local) or logs an error."""
    assert len(rendered) > 1
    for name, page in rendered.items():
        assert page["requested"] == [] and page["errors"] == [], name


def test_no_chart_offers_to_share_or_upload_and_the_toolbar_is_chinese(rendered):
    """Item 3: every chart of every page: no "Share chart…" (cloud) or logo button, and each
    remaining toolbar button titled in Chinese (plotly.js's zh-CN locale, loaded from the page)."""
    charts = [(name, chart) for name, page in rendered.items() for chart in page["charts"]]
    assert len(charts) > len(rendered)
    for name, chart in charts:
        assert chart["logo"] == 0, (name, chart["title"])
        assert chart["modebar"], (name, chart["title"])
        for title in chart["modebar"]:
            assert not re.search(r"share|plotly|cloud|chart studio", title, re.IGNORECASE), (name, title)
            assert CJK.search(title), (name, title)


def test_the_overview_answers_first_and_ends_with_the_technical_link(report: Path, rendered):
    """Item 4: the rating summary in a sentence (no chart of three numbers), then 严重, then the
    branch table with failing branches first and a reason each, then the charts; the Data Docs
    link last, labelled for what it is."""
    import audit

    ds = audit.load(report)
    words = list(ds.standard.ratings.values())  # best first
    order = rendered["index"]["order"]
    assert 0 <= order["critical"] < order["ranking"] < order["first_chart"]
    assert order["header_docs"] == 0 and order["docs_text"] == DATA_DOCS_LABEL
    assert order["docs"] == order["last_link"] and order["docs"] > order["last_chart"]
    assert "各支部评定结果" not in [c["title"] for c in rendered["index"]["charts"]]  # a sentence, not a bar chart
    assert all(f"{w}{n}个" in order["summary"] for w, n in ds.scorecard["rating"].value_counts().iter_rows())
    ranks = [words[::-1].index(r["rating"]) for r in order["rows"]]
    assert ranks == sorted(ranks) and len(ranks) == ds.branches.height  # worst rating first
    assert ranks[0] < ranks[-1], "the sample has failing and passing branches"
    titles = {rule.title for rule in ds.standard.rules.values()}
    for row in order["rows"]:
        if row["rating"] != words[0]:  # each says why, in the standard's words, with counts
            assert any(t in row["reason"] for t in titles) or "无法评估" in row["reason"], row
            assert re.search(r"（\d+条）|\d+项", row["reason"]), row


def test_every_axis_reads_right_on_every_page(rendered):
    """Item 5: counts in whole numbers (no 0.5, 1.5, no repeated tick), the colour bar of counts
    too; percentages 0–100% in steps of 25; every title, legend and label inside its chart."""
    counted = percent = colorbars = 0
    for name, page in rendered.items():
        for c in page["charts"]:
            where = (name, c["title"])
            for title, ticks in ((c["y_title"], c["y"]), (c["y2_title"], c["y2"])):
                if title in COUNT_TITLES:
                    counted += 1
                    assert ticks and all(WHOLE.fullmatch(t) for t in ticks), (*where, ticks)
                    assert len(set(ticks)) == len(ticks) and int(ticks[0]) == 0, (*where, ticks)
                if title in PERCENT_TITLES:
                    percent += 1
                    assert ticks == PERCENT_TICKS, (*where, ticks)
            if c["colorbar"]:
                colorbars += 1
                assert all(WHOLE.fullmatch(t) for t in c["colorbar"]), (*where, c["colorbar"])
            left, top, right, bottom = c["svg"]
            for text, x0, y0, x1, y1 in c["texts"]:
                assert left - 1 <= x0 and x1 <= right + 1 and top - 1 <= y0 and y1 <= bottom + 1, (*where, text)
    assert counted and percent and colorbars


def test_attendance_meetings_in_date_order_as_full_bars(rendered):
    """Item 5: the attendance chart's axis is in date order, one category per meeting (several
    meetings on one day stand side by side, not as slivers), the 党员大会 rule named in the legend."""
    days = re.compile(r"(\d+)月(\d+)日([②-⑳])?")  # the second meeting of a day: ②
    checked, several = 0, False
    for name, page in rendered.items():
        for chart in (c for c in page["charts"] if c["title"] == "各次会议出席率"):
            checked += 1
            assert all(days.fullmatch(t) for t in chart["x"]), (name, chart["x"])  # a label per meeting: 1月9日②
            keys = [(int(m), int(d), ord(n) - 0x245F if n else 1) for m, d, n in (days.fullmatch(t).groups() for t in chart["x"])]
            assert keys == sorted(keys) and len(set(keys)) == len(keys), (name, chart["x"])
            slot = chart["plot_width"] / len(chart["x"])
            assert chart["bars"] and min(chart["bars"]) > 0.5 * slot, (name, min(chart["bars"]), slot)
            assert any("党员大会" in t for t in chart["legend"]), chart["legend"]
            several |= any(n > 1 for _, _, n in keys)
    assert checked and several, "a chosen branch holds several meetings on one day"


def test_an_empty_chart_is_one_sentence(report: Path, rendered):
    """Item 5: a branch nobody owes dues in shows no arrears chart (no −1…1 axis), only the
    sentence, once; a branch with arrears shows the chart."""
    import audit

    owing = set(audit.load(report).arrears()["branch_id"])
    ids = [name for name in rendered if name != "index"]
    assert owing & set(ids) and set(ids) - owing, "the chosen branches include some with and some without arrears"
    for branch_id in ids:
        page = rendered[branch_id]
        titles = [c["title"] for c in page["charts"]]
        if branch_id in owing:
            assert "欠缴党费账龄" in titles, branch_id
        else:
            assert "欠缴党费账龄" not in titles and page["text"].count("季度末没有欠缴党费的党员。") == 1, branch_id


def test_progress_names_rules_in_whole_meetings(report: Path, rendered):
    """Item 5: the half-year and year progress table names each rule and counts whole meetings
    (never "按进度应完成 0.25")."""
    import audit

    ds = audit.load(report)
    if ds.progress.is_empty():
        pytest.skip("the quarter closes every half-year and year: no progress table")
    titles = {rule.title for rule in ds.standard.rules.values()}
    for branch_id in set(ds.progress["branch_id"]) & set(rendered):
        [table] = [t for t in rendered[branch_id]["tables"] if "按进度应完成（次）" in t["head"]]
        assert table["rows"] and "规则" in table["head"]
        for row in table["rows"]:
            cells = dict(zip(table["head"], row, strict=True))
            assert cells["规则"] in titles, cells
            unjudged = cells["状态"] == "无法评估"  # no count without the data, the reason instead
            if unjudged:
                assert cells["已完成（次）"] == cells["按进度应完成（次）"] == "" and cells["原因（缺少的数据）"], cells
            assert all(WHOLE.fullmatch(v) for k, v in cells.items() if "（次）" in k and not (unjudged and v == "")), cells


def test_findings_tables_name_each_rule_by_its_title(report: Path, rendered):
    """Branch pages and the overview's 严重问题 listed rule codes only (SM-5): every findings table
    has the standard's title of each finding's rule right after its code."""
    import audit

    titles = {rule_id: rule.title for rule_id, rule in audit.load(report).standard.rules.items()}
    seen = 0
    for name, page in rendered.items():
        for table in (t for t in page["tables"] if "问题编号" in t["head"]):
            at = table["head"].index("规则编号")
            assert table["head"][at + 1] == "规则", (name, table["head"])
            for row in table["rows"]:
                assert row[at + 1] == titles[row[at]], (name, row)
                seen += 1
    assert seen, "some findings tables were shown"


def test_no_table_header_code_or_date_wraps_mid_word(rendered):
    """Walk-through C14: narrow columns broke 整改情/况, 规则编/号, `OL-/10`, `F-/86CDB3CB22DA`
    and `2019-/02` over two lines."""
    for name, page in rendered.items():
        assert page["wrapped"] == [], name
