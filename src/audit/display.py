"""Showing charts and tables in report notebooks: escaped HTML, plotly divs that use the page's
one copy of plotly.js, and deterministic element ids so re-runs produce identical pages.

Every piece of HTML the notebooks show is made here, never by hand in a notebook: text from the
exports is escaped in one place (and tested without a kernel, `tests/test_display.py`), headers
come from `audit.labels`."""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import polars as pl

from audit.charts import Chart
from audit.decisions import STALE
from audit.labels import COLUMNS, DECISION_ROW, FOLLOWUP_STATUSES, SEVERITY_ZH, headers
from audit.reasons import Action

if TYPE_CHECKING:
    from audit.standard import Standard

_ids = itertools.count(1)


def reset_ids() -> None:
    """Chart element ids start again from 1 (a warm kernel does this before each notebook, so a
    page's ids do not depend on which pages the same kernel ran before)."""
    global _ids
    _ids = itertools.count(1)


# The modebar buttons that would send a chart off the machine (plotly.js 4's "Share chart…",
# earlier versions' cloud and Chart Studio buttons): party records never leave it
CLOUD_BUTTONS = ("sendChartToCloud", "sendDataToCloud", "editInChartStudio")
PLOTLY_CONFIG = {
    "displaylogo": False,
    "showSendToCloud": False,
    "modeBarButtonsToRemove": [*CLOUD_BUTTONS, "lasso2d", "select2d"],
    "responsive": True,
    "locale": "zh-CN",  # registered by the page (`report.pages.plotly_tag`, the vendored locale)
    "toImageButtonOptions": {"format": "png", "scale": 2},  # `chart_html` names the file after the chart
}


def chart_html(chart: Chart, element_id: str | None = None) -> str:
    """A chart as an HTML fragment: the plotly div (plotly.js is loaded once by the page) and its
    reading; a chart with nothing to draw (`Chart.empty`) is its title and reading, one sentence."""
    if chart.empty:
        title = chart.figure.layout.title.text or ""
        return f'<p class="empty chart-empty"><strong>{html.escape(title)}</strong>：{html.escape(chart.reading)}</p>'
    element_id = element_id or f"chart-{next(_ids)}"
    title = chart.figure.layout.title.text or "图表"
    config = PLOTLY_CONFIG | {"toImageButtonOptions": {"format": "png", "scale": 2, "filename": title}}  # a copy: plotly edits it
    div = chart.figure.to_html(include_plotlyjs=False, full_html=False, div_id=element_id, config=config)
    return f'<figure class="chart">{div}<figcaption>{html.escape(chart.reading)}</figcaption></figure>'


# A value a table cell keeps on one line (class `nw`): a code, id or date a browser would break at
# its `-` or `/` or beside its Chinese characters — `OL-10`, `F-86CDB3CB22DA`, `2019-02`, `2019年2月15日`
_UNBROKEN = re.compile(r"(?=.{1,24}$)[A-Za-z0-9][A-Za-z0-9._:]*[-/][A-Za-z0-9._:/-]*|\d{4}年(\d{1,2}月(\d{1,2}日)?)?")


def _cell(value: object) -> str:
    """One escaped table cell; a short code, id, date or number (`_UNBROKEN`) marked not to wrap."""
    text = "" if value is None else str(value)
    return f'<td class="nw">{html.escape(text)}</td>' if _UNBROKEN.fullmatch(text) else f"<td>{html.escape(text)}</td>"


def table_html(frame: pl.DataFrame, headers: Mapping[str, str] | None = None, empty: str = "无", classes: str = "data") -> str:
    """An escaped HTML table with Chinese headers; every value from the exports is text, never markup.
    Codes, ids and dates do not wrap (`_cell`); nor do headers (the pages' style)."""
    if frame.is_empty():
        return f'<p class="empty">{html.escape(empty)}</p>'
    headers = headers or {c: c for c in frame.columns}
    columns = [c for c in headers if c in frame.columns]
    head = "".join(f"<th>{html.escape(headers[c])}</th>" for c in columns)
    body = []
    for row in frame.select(columns).iter_rows():
        cells = "".join(_cell(v) for v in row)
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def show(fragment: str | Chart) -> None:
    """Display a chart or an HTML fragment in the running notebook."""
    from IPython.display import HTML, display

    display(HTML(chart_html(fragment) if isinstance(fragment, Chart) else fragment))


def with_rule_titles(frame: pl.DataFrame, standard: Standard) -> pl.DataFrame:
    """`frame` with each row's rule title (`rule_title`) from `standard` beside its `rule_id`; empty
    for a rule the standard does not have (a finding of a rule since removed shows its code)."""
    titles = {rule_id: rule.title for rule_id, rule in standard.rules.items()}
    return frame.with_columns(rule_title=pl.col("rule_id").replace_strict(titles, default="", return_dtype=pl.String))


FINDING_HEADERS = headers(
    "finding_id",
    "rule_id",
    "rule_title",
    "severity",
    "dimension",
    "subject_id",
    "period",
    "clause",
    "message",
    "evidence",
    "decision_text",
)


def findings_html(
    findings: pl.DataFrame, standard: Standard, with_branch: bool = False, empty: str = "本季度没有发现问题。"
) -> str:
    """The findings table, each rule by code and by its title in `standard` (a reviewer reads
    按月足额交纳党费, not SM-5); with the reviewer's decisions when the findings carry them
    (`audit.decisions.annotate`): a 误报 stays listed, its decision saying it does not count.
    `empty`: what to say when there are none (the overview lists only the 严重 ones)."""
    from audit.decisions import with_decision_text

    frame = with_rule_titles(findings, standard).with_columns(
        pl.col("severity").replace_strict(SEVERITY_ZH, default=pl.col("severity"))
    )
    if "decision" in frame.columns:
        frame = with_decision_text(frame)
    columns = (headers("branch_id") if with_branch else {}) | FINDING_HEADERS
    return table_html(frame, columns, empty=empty, classes="data findings")


FOLLOWUP_HEADERS = headers(
    "status", "rule_id", "rule_title", "subject_id", "period_then", "period_now", "message", "finding_id", "decision_text"
)
FOLLOWUP_COUNT_HEADERS = headers("branch_id", "branch_name") | {status: status for status in FOLLOWUP_STATUSES}


def followup_html(rows: pl.DataFrame, standard: Standard, empty: str = "没有需要跟踪的问题。") -> str:
    """A branch's follow-up rows (`audit.views.branch_followup`) as a table, each rule by code and title."""
    return table_html(with_rule_titles(rows, standard), FOLLOWUP_HEADERS, empty=empty, classes="data followup")


def followup_counts_html(counts: pl.DataFrame) -> str:
    """Each branch's follow-up rows counted by status (`audit.views.followup_counts`): without a
    previous report only the 首次审核 (untracked) count, else the tracked statuses."""
    from audit.labels import UNTRACKED

    untracked = UNTRACKED in counts.columns and counts[UNTRACKED].sum() > 0
    shown = {k: v for k, v in FOLLOWUP_COUNT_HEADERS.items() if (k == UNTRACKED) == untracked or k not in FOLLOWUP_STATUSES}
    return table_html(counts, shown, classes="data followup-counts")


def decisions_html(applied: pl.DataFrame, empty: str = "没有失效的审核决定。") -> str:
    """Decisions as a table (the stale ones on the overview)."""
    columns = headers("finding_id", "decision", "note", "reviewer", "decided_on", "row", row=DECISION_ROW)
    return table_html(applied, columns, empty=empty, classes="data decisions")


def stale_decisions_note(decisions: int, stale: int) -> str:
    """How many decisions the run read and how many of them no longer have their finding."""
    return f"<p>审核决定 {decisions} 条；其中 {stale} 条对应的问题已不存在（{STALE}）：</p>"


def points_missing_html(missing: pl.DataFrame) -> str:
    """The members without a points record in some month of the last four quarters."""
    columns = headers("member_id", "name", "months", "count", months="缺少积分的月份", count="月数")
    return table_html(missing, columns, empty="近四个季度没有缺少积分记录的党员。")


def arrears_html(owing: pl.DataFrame, empty: str = "季度末没有欠缴党费的党员。", with_branch: bool = False) -> str:
    """The members who owe dues at the quarter's end, with the months unpaid in a row."""
    columns = (headers("branch_id") if with_branch else {}) | headers("member_id", "name", "unpaid_months", "bucket")
    return table_html(owing, columns, empty=empty)


def progress_html(progress: pl.DataFrame) -> str:
    """Half-year and year rules before their period ends (`audit.views.progress_table`): each rule
    by code and title, what is done against what is due by now, in whole meetings; a rule 无法评估
    for want of data with no count, and the reason (the 原因 column, shown when some row has one)."""
    reasons = "reason" in progress.columns and progress["reason"].fill_null("").str.len_chars().gt(0).any()
    columns = headers(
        "rule_id",
        "rule_title",
        "period",
        "required",
        "done",
        "expected_by_now",
        "status",
        *(("reason",) if reasons else ()),
        required="全期要求（次）",
        done="已完成（次）",
        expected_by_now="按进度应完成（次）",
        status="状态",
        **({"reason": "原因（缺少的数据）"} if reasons else {}),
    )
    return table_html(progress, columns, empty="本季度是期间末，半年和年度规则已在上面的问题清单中判定。")


def sample_html(sample: pl.DataFrame) -> str:
    """The meetings drawn for the on-site check, with where each record came from."""
    columns = headers("meeting_id", "meeting_type", "held_on", "topic", "present_count", "expected_count", "_file", "_row")
    return table_html(sample, columns, empty="本季度没有会议记录可抽查。")


COVERAGE_HEADERS = headers("rule_id", "rule_title", "part", "period", "reason", reason="原因（缺少的数据）")
COVERAGE_COUNT_HEADERS = headers("branch_id", "branch_name", "unevaluable", "rule_ids", rule_ids="涉及规则")


def coverage_html(rows: pl.DataFrame) -> str:
    """A branch's rule parts the data did not allow to judge (`audit.coverage.not_evaluated`), by
    period, and what was missing."""
    return table_html(rows, COVERAGE_HEADERS, empty="本季度各项规则所需的数据齐全，全部已评估。", classes="data coverage")


def coverage_counts_html(counts: pl.DataFrame, standard: Standard) -> str:
    """How many rule parts × periods each branch could not have judged (`audit.coverage.unevaluable_counts`),
    each rule by code and title (a reader does not know the codes); one sentence when every branch
    had everything judged."""
    if counts.is_empty() or not (counts["unevaluable"] > 0).any():
        return '<p class="empty">所有支部的各项规则所需数据齐全，全部已评估。</p>'
    rules = (
        with_rule_titles(counts.select("branch_id", rule_id=pl.col("rule_ids").str.split("、")).explode("rule_id"), standard)
        .with_columns(rule=pl.concat_str("rule_id", pl.lit(" "), "rule_title").str.strip_chars())
        .group_by("branch_id", maintain_order=True)
        .agg(rule_ids=pl.col("rule").filter(pl.col("rule_id") != "").str.join("、"))
    )
    named = counts.drop("rule_ids").join(rules, on="branch_id", how="left", maintain_order="left")
    return table_html(named.fill_null(""), COVERAGE_COUNT_HEADERS, classes="data coverage-counts")


def quarantine_html(quarantine: pl.DataFrame) -> str:
    """Rows quarantined at import, counted by file and reason; rows skipped as not data (template
    instructions, footers) are not problems and are left out."""
    problems = quarantine.filter(pl.col("action") != Action.SKIP.value) if not quarantine.is_empty() else quarantine
    counted = problems.group_by("file", "reason").len().sort("file", "reason") if not problems.is_empty() else problems
    return table_html(counted, headers("file", "reason", "len", len="条数"), empty="导入时没有隔离任何记录。")


def quality_html(quality: pl.DataFrame) -> str:
    """The record-quality checks' failures, by table (named as the export contract names it:
    党员名册, not members), file, row and column."""
    from audit.contract import load_contract

    if not quality.is_empty():
        titles = {name: table.title for name, table in load_contract().tables.items()}
        quality = quality.with_columns(pl.col("table").replace(titles))
    columns = headers("table", "file", "row", "column", "message")
    return table_html(quality, columns, empty="数据质量检查没有发现问题。")


def note_html(text: str) -> str:
    """A line of small print (what the follow-up was compared with)."""
    return f'<p class="meta">{html.escape(text)}</p>'


# A branch known only from a reference (a 阵地建设 row naming a code no branch list has): no name
UNNAMED_BRANCH = "（支部名称未知）"


def branch_header_html(branch: Mapping[str, Any], quarter_zh: str, standard_version: str) -> str:
    """A branch page's header: the way back to the overview, the title, the branch's particulars."""
    return (
        f'<header class="page"><p class="crumb"><a href="../index.html">← 返回{html.escape(quarter_zh)}总览</a></p>'
        f"<h1>{html.escape(branch.get('branch_name') or UNNAMED_BRANCH)}　{html.escape(quarter_zh)}审核报告</h1>"
        f'<p class="meta">{COLUMNS["branch_id"]} {html.escape(branch["branch_id"])}　·　{html.escape(branch.get("org_type") or "")}　·　'
        f"上级党组织 {html.escape(branch.get('parent_org') or '')}　·　标准版本 {html.escape(standard_version)}</p></header>"
    )


def rating_html(rating: Mapping[str, Any], dimensions: Sequence[str], false_alarms: int = 0) -> str:
    """A branch's rating, its findings counted by severity (and the 误报 left out of them), and
    each dimension's result."""
    counts = "，".join(f"{COLUMNS[key]} {rating[key]} 条" for key in ("critical", "errors", "warnings"))
    left_out = f"（另有 {false_alarms} 条经审核判定为误报，不计入评定）" if false_alarms else ""
    head = "".join(f"<th>{html.escape(d)}</th>" for d in dimensions)
    cells = "".join(_status_cell(rating[d]) for d in dimensions)
    return (
        f'<p class="rating r-{html.escape(rating["rating"])}">{COLUMNS["rating"]}：<strong>{html.escape(rating["rating"])}</strong>　'
        f"{counts}{left_out}</p>"
        f'<table class="data dims"><thead><tr>{head}</tr></thead><tbody><tr>{cells}</tr></tbody></table>'
    )


def overview_header_html(title: str, branches: int, standard_name: str, standard_version: str) -> str:
    """The overview's header: title, how many branches, the standard and the workbook (the
    developers' Data Docs are linked at the bottom of the page, `technical_links_html`)."""
    return (
        f'<header class="page"><h1>{html.escape(title)}</h1>'
        f'<p class="meta">{branches} 个党支部　·　标准：{html.escape(standard_name)}（版本 {html.escape(standard_version)}）'
        f'　·　<a href="findings.xlsx">下载问题清单（Excel）</a></p></header>'
    )


DATA_DOCS_LABEL = "数据校验明细（技术）"


def technical_links_html() -> str:
    """The overview's last lines: the GX Data Docs, an English page for technical staff, labelled as such."""
    return (
        f'<p class="meta technical"><a href="data-docs/index.html">{DATA_DOCS_LABEL}</a>：'
        "数据校验工具（Great Expectations）逐项列出的校验结果，英文页面，供技术人员排查数据问题时查看。</p>"
    )


def summary_html(text: str) -> str:
    """The overview's one-sentence answer at the top (how many branches got each rating)."""
    return f'<p class="summary">{html.escape(text)}</p>'


def ranking_html(
    scorecard: pl.DataFrame,
    dimensions: Sequence[str],
    status: Mapping[str, Mapping[str, Any]],
    ratings: Sequence[str] = (),
    reasons: Mapping[str, str] | None = None,
    pages: Collection[str] | None = None,
) -> str:
    """Every branch's rating, why (`reasons`: one line per branch id, `audit.views.branch_reasons`),
    counts and dimensions, its name linking to its page; worst rating first (`ratings`: the
    standard's words, best first), then most 严重 and 错误, then by id. A branch whose page failed
    (`status`: `run_status.json`) says so, the others carry the marker the run fills in when a
    page fails (`page_status_marker`). `pages`: the branches the run made pages for (`--branch`),
    None for all; any other branch's name is plain text, never a link to a missing file, and a
    note above the table says why."""
    reasons = reasons or {}
    chosen = None if pages is None else set(pages)
    rank = {word: n for n, word in enumerate(reversed(ratings))}
    ordered = sorted(
        scorecard.iter_rows(named=True),
        key=lambda r: (rank.get(r["rating"], len(rank)), -r["critical"], -r["errors"], -r["warnings"], r["branch_id"]),
    )
    rows = []
    for r in ordered:
        state = status.get(r["branch_id"], {"status": "ok"})
        if chosen is None or r["branch_id"] in chosen:
            link = f'<a href="{branch_page_href(r["branch_id"])}">{html.escape(r["branch_name"])}</a>'
            note = page_status_marker(r["branch_id"]) if state["status"] == "ok" else page_failed_html(state.get("error") or "")
        else:
            link, note = html.escape(r["branch_name"]), ""
        dims = "".join(_status_cell(r[d]) for d in dimensions)
        rows.append(
            f'<tr><td class="rating r-{html.escape(r["rating"])}">{html.escape(r["rating"])}</td>'
            f"<td>{html.escape(r['branch_id'])}</td><td>{link}{note}</td>"
            f'<td class="reason">{html.escape(reasons.get(r["branch_id"], ""))}</td>'
            f"<td>{r['critical']}</td><td>{r['errors']}</td><td>{r['warnings']}</td>{dims}</tr>"
        )
    columns = [
        *headers("rating", "branch_id", "branch_name").values(),
        "主要问题",
        *headers("critical", "errors", "warnings").values(),
        *dimensions,
    ]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns)
    table = f'<table class="data ranking"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    if chosen is None:
        return table
    named = "、".join(html.escape(r["branch_name"]) for r in ordered if r["branch_id"] in chosen)
    return (
        f'<p class="meta pages-chosen">本次只生成了所选支部（{named}）的页面，其他支部的名称不带链接；'
        "需要其他支部的页面时，不指定支部重新生成报告即可。</p>" + table
    )


def _status_cell(result: str) -> str:
    """A dimension's result (通过 / 未通过 / 部分评估 / 未评估) as a cell coloured by the page's style."""
    return f'<td class="status s-{html.escape(result)}">{html.escape(result)}</td>'


def page_failed_html(error: str) -> str:
    """What the overview shows beside a branch whose page failed: that it failed, and the error."""
    return f'<span class="failed">报告生成失败：{html.escape(error)}</span>'


_PLAIN_ID = re.compile(r"[A-Z0-9][A-Z0-9-]{0,47}")
_READABLE = re.compile(r"[^A-Za-z0-9\-\u4e00-\u9fff]+")
# Names Windows reserves in every folder (with any extension)
_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])", re.IGNORECASE)


def branch_page_name(branch_id: str) -> str:
    """The file name of a branch's page, derived from its id and never containing raw id text.

    An id of capital letters, digits and `-` (up to 48, not a name Windows reserves) is used as it
    is: `XH01` → `XH01.html`. Any other id becomes its letters, digits, `-` and Chinese characters
    (up to 24) followed by `_` and the first 12 hex digits of the SHA-256 of the exact id:
    `xh/01` → `xh01_3b7c….html`, `../../index` → `index_9f2e….html`. The scheme is collision-free:
    the first form never contains `_`, the second always ends in the hash of the whole id, and no
    two names differ only in letter case (Windows and macOS folders ignore case), since the first
    form has no lower-case letters and the hash is distinct for `XH01` and `xh01`."""
    if _PLAIN_ID.fullmatch(branch_id) and not _RESERVED.fullmatch(branch_id):
        return f"{branch_id}.html"
    readable = _READABLE.sub("", branch_id)[:24]
    digest = hashlib.sha256(branch_id.encode("utf-8")).hexdigest()[:12]
    return f"{readable}_{digest}.html"


def branch_page_href(branch_id: str, prefix: str = "branches/") -> str:
    """The link to a branch's page (URL-encoded, HTML-escaped), relative to the overview."""
    return html.escape(prefix + quote(branch_page_name(branch_id)), quote=True)


def page_status_marker(branch_id: str) -> str:
    """Where the overview's branch table shows a failed branch page: `audit run` executes the
    overview alongside the pages, so the overview cannot know; the run fills the marker in
    afterwards (`report.mark_failed_pages`)."""
    return f'<span class="page-status" data-branch="{html.escape(branch_id)}"></span>'
