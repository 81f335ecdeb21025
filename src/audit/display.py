"""Showing charts and tables in report notebooks: escaped HTML, plotly divs that use the page's
one copy of plotly.js, and deterministic element ids so re-runs produce identical pages."""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from collections.abc import Mapping
from urllib.parse import quote

import polars as pl

from audit.charts import Chart
from audit.standard import SEVERITY_ZH

_ids = itertools.count(1)


def reset_ids() -> None:
    """Chart element ids start again from 1 (a warm kernel does this before each notebook, so a
    page's ids do not depend on which pages the same kernel ran before)."""
    global _ids
    _ids = itertools.count(1)


PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "locale": "zh-CN",
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def chart_html(chart: Chart, element_id: str | None = None) -> str:
    """A chart as an HTML fragment: the plotly div (plotly.js is loaded once by the page) and its reading."""
    element_id = element_id or f"chart-{next(_ids)}"
    div = chart.figure.to_html(include_plotlyjs=False, full_html=False, div_id=element_id, config=PLOTLY_CONFIG)
    return f'<figure class="chart">{div}<figcaption>{html.escape(chart.reading)}</figcaption></figure>'


def table_html(frame: pl.DataFrame, headers: Mapping[str, str] | None = None, empty: str = "无", classes: str = "data") -> str:
    """An escaped HTML table with Chinese headers; every value from the exports is text, never markup."""
    if frame.is_empty():
        return f'<p class="empty">{html.escape(empty)}</p>'
    headers = headers or {c: c for c in frame.columns}
    columns = [c for c in headers if c in frame.columns]
    head = "".join(f"<th>{html.escape(headers[c])}</th>" for c in columns)
    body = []
    for row in frame.select(columns).iter_rows():
        cells = "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def show(fragment: str | Chart) -> None:
    """Display a chart or an HTML fragment in the running notebook."""
    from IPython.display import HTML, display

    display(HTML(chart_html(fragment) if isinstance(fragment, Chart) else fragment))


FINDING_HEADERS = {
    "finding_id": "问题编号",
    "rule_id": "规则",
    "severity": "级别",
    "dimension": "维度",
    "subject_id": "对象",
    "period": "期间",
    "clause": "条款",
    "message": "问题",
    "evidence": "证据",
    "decision_text": "审核决定",
}


def findings_html(findings: pl.DataFrame, with_branch: bool = False) -> str:
    """The findings table; with the reviewer's decisions when the findings carry them
    (`audit.decisions.annotate`): a 误报 stays listed, its decision saying it does not count."""
    from audit.decisions import with_decision_text

    frame = findings.with_columns(pl.col("severity").replace_strict(SEVERITY_ZH, default=pl.col("severity")))
    if "decision" in frame.columns:
        frame = with_decision_text(frame)
    headers = ({"branch_id": "支部"} if with_branch else {}) | FINDING_HEADERS
    return table_html(frame, headers, empty="本季度没有发现问题。", classes="data findings")


FOLLOWUP_HEADERS = {
    "status": "整改情况",
    "rule_id": "规则",
    "subject_id": "对象",
    "period_then": "原问题期间",
    "period_now": "本期",
    "message": "问题",
    "finding_id": "问题编号",
    "decision_text": "审核决定",
}
FOLLOWUP_COUNT_HEADERS = {
    "branch_id": "编号",
    "branch_name": "支部",
    "新增": "新增",
    "持续": "持续",
    "已整改": "已整改",
    "已补正": "已补正",
    "待复查": "待复查",
}


def followup_html(rows: pl.DataFrame, empty: str = "没有需要跟踪的问题。") -> str:
    """A branch's follow-up rows (`audit.views.branch_followup`) as a table."""
    return table_html(rows, FOLLOWUP_HEADERS, empty=empty, classes="data followup")


def decisions_html(applied: pl.DataFrame, empty: str = "没有失效的审核决定。") -> str:
    """Decisions as a table (the stale ones on the overview)."""
    headers = {
        "finding_id": "问题编号",
        "decision": "审核决定",
        "note": "说明",
        "reviewer": "审核人",
        "decided_on": "决定日期",
        "row": "决定表行号",
    }
    return table_html(applied, headers, empty=empty, classes="data decisions")


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
