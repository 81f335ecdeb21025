"""The offline pages of `audit run`: each executed notebook exported to HTML without its code,
inside one page shell (style, title, footer, the page's plotly.js), written as
`branches/<page>.html` and `index.html`; a page whose notebook failed says so instead. The page
workers execute and export each branch page in one task (`make_branch_page`), in parallel; the
run itself only writes the overview, once it knows which pages failed (`write_overview`)."""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from audit.display import branch_page_href, branch_page_name, page_failed_html, page_status_marker
from audit.periods import Quarter
from audit.report.kernel import OVERVIEW_EXECUTED, NotebookStatus, execute, notebook_name
from audit.standard import RATINGS, Standard

# A rating's colour by its code; `display` marks a rating with the class `r-<word>`, the word being
# the run's standard's (`rating:`), so the classes are made from the standard (`style`)
RATING_COLORS = {"best": "#1e8449", "pass": "#b7950b", "fail": "#c0392b"}
STYLE = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",SimHei,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;color:#b03a2e;margin:.2em 0}h2{font-size:20px;border-left:5px solid #c0392b;padding-left:10px;margin-top:2em}
.meta,.crumb{color:#666;font-size:14px}a{color:#1f618d}
table.data{border-collapse:collapse;width:100%;font-size:13px;margin:10px 0}
table.data th,table.data td{border:1px solid #ddd;padding:5px 7px;text-align:left;vertical-align:top}
table.data th{background:#f4f6f7;white-space:nowrap}table.data td.nw{white-space:nowrap}
.status.s-通过{color:#1e8449}.status.s-未通过{color:#c0392b;font-weight:bold}.status.s-未评估{color:#888}.status.s-部分评估{color:#b9770e;font-weight:bold}
$ratings
p.rating{font-size:18px}.failed{color:#fff;background:#c0392b;padding:1px 6px;margin-left:6px;font-size:12px;border-radius:3px}
figure.chart{margin:16px 0 28px;page-break-inside:avoid}figcaption{font-size:14px;color:#333;margin-top:4px;padding-left:4px;border-left:3px solid #ccc}
.empty{color:#666}p.chart-empty{margin:12px 0 20px;padding:10px 12px;background:#f8f9f9;border-left:3px solid #ccc;color:#333}
p.summary{font-size:17px;margin:12px 0}table.ranking th,table.ranking td{white-space:nowrap}table.ranking td.reason{white-space:normal;min-width:260px}table.ranking td.rating{font-weight:bold}
p.technical{margin-top:36px}footer{color:#888;font-size:12px;margin-top:40px;border-top:1px solid #eee;padding-top:8px}
.jp-OutputArea-output pre,.output_text pre{white-space:pre-wrap}.anchor-link{display:none}
table.findings th,table.findings td:nth-child(-n+6){white-space:nowrap}
@media print{body{background:#fff}main{padding:0;max-width:none}a{color:#000;text-decoration:none}}
"""


def style(standard: Standard) -> str:
    """The pages' CSS, with a class for each of the standard's rating words."""
    ratings = "".join(f".rating.r-{standard.ratings[code]}{{color:{RATING_COLORS[code]}}}" for code in RATINGS)
    return Template(STYLE).substitute(ratings=ratings)


def page(body: str, title: str, plotly: str, footer: str, css: str) -> str:
    """The offline page shell (`css`: `style`): no request leaves the file system."""
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{css}</style>{plotly}</head>"
        f"<body><main>{body}<footer>{html.escape(footer)}</footer></main></body></html>\n"
    )


@functools.cache
def _exporter() -> Any:
    """nbconvert's HTML exporter (basic template: no CDN; no code, no prompts), built once per
    process (its templates load once): a page worker exports every page it executes with it. The
    notebook is validated once, after its preprocessors, not after each of the twelve (a third of
    a page's export; the same HTML)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        optimistic_validation=True,
    )


def notebook_body(notebook_path: Path) -> str:
    """The executed notebook as HTML without code cells (nbconvert's basic template: no CDN)."""
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    for n, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{n}"  # papermill's injected parameters cell gets a random id
    body, _ = _exporter().from_notebook_node(notebook)
    return body


def mark_failed_pages(body: str, statuses: list[NotebookStatus]) -> str:
    """The overview with each failed branch page marked in its branch table (the overview runs
    alongside the pages, so it cannot know; `display.page_status_marker`)."""
    for status in statuses:
        if status.status != "ok":
            body = body.replace(page_status_marker(status.name), page_failed_html(status.error or ""))
    return body


def failure_body(title: str, status: NotebookStatus) -> str:
    """The page of a notebook that failed: where and why, and that the other pages are complete."""
    return (
        f'<p class="crumb"><a href="../index.html">← 返回总览</a></p><h1>{html.escape(title)}</h1>'
        f'<p class="failed">报告生成失败</p><p>{status.where}出错：<code>{html.escape(status.error)}</code></p>'
        "<p>其他支部的报告不受影响。问题清单（findings.xlsx）中仍包含该支部的全部问题。</p>"
    )


# Files the pages embed (`src/audit/assets/README.md` says where each comes from)
ASSETS = Path(__file__).resolve().parents[1] / "assets"
PLOTLY_LOCALE = ASSETS / "plotly-locale-zh-cn.js"


def plotly_locale() -> str:
    """plotly.js's zh-CN locale (vendored, matching the bundled plotly.js): registered after
    plotly.js, it puts the charts' toolbar and date words in Chinese (`display.PLOTLY_CONFIG`)."""
    return PLOTLY_LOCALE.read_text(encoding="utf-8")


@functools.cache
def _plotly_js() -> str:
    """The bundled plotly.js, read once per process."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def plotly_tag(self_contained: bool, depth: int) -> str:
    """plotly.js for a page `depth` folders below the report (embedded, or the report's one copy),
    then its zh-CN locale, inline: nothing is fetched from the network."""
    locale = f"<script>{plotly_locale()}</script>"
    if self_contained:
        return f"<script>{_plotly_js()}</script>{locale}"
    prefix = "../" * depth
    return f'<script src="{prefix}assets/plotly.min.js"></script>{locale}'


@dataclass(frozen=True)
class Shell:
    """What every page of a run shares around its body: the footer (the standard's version and the
    quarter), the style (the standard's rating words) and how plotly.js is included."""

    footer: str
    css: str
    self_contained: bool

    @classmethod
    def of(cls, quarter: Quarter, standard: Standard, self_contained: bool) -> Shell:
        """The shell of a run's pages for `quarter` judged by `standard`."""
        footer = f"由 audit 工具根据导出数据生成 · 标准版本 {standard.version} · 季度 {quarter}"
        return cls(footer, style(standard), self_contained)

    def page(self, body: str, title: str, depth: int) -> str:
        """The page of `body` `depth` folders below the report."""
        return page(body, title, plotly_tag(self.self_contained, depth), self.footer, self.css)


def branch_title(name: str, quarter: Quarter) -> str:
    """A branch page's title: the branch's name (its id when it has none) and the quarter."""
    return f"{name} {quarter.zh}审核报告"


def make_branch_page(source: str, folder: str, parameters: dict[str, Any], name: str, title: str, shell: Shell) -> NotebookStatus:
    """A page worker's task: execute branch `name`'s notebook in the warm kernel into
    `folder/notebooks`, then export it and write its page `folder/branches/<page>.html` at once
    (the failure page when the notebook failed), so pages are exported in parallel, each by the
    worker that executed it."""
    run = Path(folder)
    executed = run / "notebooks" / notebook_name(name)
    status = execute(source, str(executed), parameters, folder, name, warm=True)
    body = notebook_body(executed) if status.status == "ok" else failure_body(title, status)
    (run / "branches" / branch_page_name(name)).write_text(shell.page(body, title, 1), encoding="utf-8")
    return status


def make_overview_body(source: str, folder: str, parameters: dict[str, Any], body: str) -> NotebookStatus:
    """A page worker's task: execute the overview notebook in the warm kernel into
    `folder/notebooks` and, when it ran, export its body into the file `body`: the run marks the
    failed pages in it once every page is done (`write_overview`)."""
    executed = Path(folder) / "notebooks" / OVERVIEW_EXECUTED
    status = execute(source, str(executed), parameters, folder, "overview", warm=True)
    if status.status == "ok":
        Path(body).write_text(notebook_body(executed), encoding="utf-8")
    return status


def write_overview(
    folder: Path,
    quarter: Quarter,
    shell: Shell,
    names: dict[str, str],
    statuses: list[NotebookStatus],
    overview: NotebookStatus,
    body: Path,
) -> None:
    """The overview `index.html` from its exported body (`make_overview_body`) with the failed
    branch pages marked, or the overview's failure page listing every branch page (`names`: branch
    names by id); plotly.js once in `assets/` unless each page embeds it. The branch pages are
    already written, by the workers (`make_branch_page`)."""
    if not shell.self_contained:
        (folder / "assets").mkdir()
        (folder / "assets" / "plotly.min.js").write_text(_plotly_js(), encoding="utf-8")
    title = f"{quarter.zh}党支部审核总览"
    if overview.status == "ok":
        content = mark_failed_pages(body.read_text(encoding="utf-8"), statuses)
    else:
        links = "".join(
            f'<li><a href="{branch_page_href(s.name)}">{html.escape(names.get(s.name, s.name))}</a></li>' for s in statuses
        )
        content = failure_body(title, overview).replace("../index.html", "index.html") + f"<ul>{links}</ul>"
    (folder / "index.html").write_text(shell.page(content, title, 0), encoding="utf-8")
