"""The offline pages of `audit run`: each executed notebook exported to HTML without its code,
inside one page shell (style, title, footer, the page's plotly.js), written as
`branches/<page>.html` and `index.html`; a page whose notebook failed says so instead."""

from __future__ import annotations

import html
from pathlib import Path
from string import Template

from audit.display import branch_page_href, branch_page_name, page_failed_html, page_status_marker
from audit.periods import Quarter
from audit.report.kernel import OVERVIEW_EXECUTED, NotebookStatus, notebook_name
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


def notebook_body(notebook_path: Path) -> str:
    """The executed notebook as HTML without code cells (nbconvert's basic template: no CDN)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    notebook = nbformat.read(notebook_path, as_version=4)
    for n, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{n}"  # papermill's injected parameters cell gets a random id
    body, _ = exporter.from_notebook_node(notebook)
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


def plotly_tag(self_contained: bool, depth: int) -> str:
    """plotly.js for a page `depth` folders below the report (embedded, or the report's one copy),
    then its zh-CN locale, inline: nothing is fetched from the network."""
    locale = f"<script>{plotly_locale()}</script>"
    if self_contained:
        from plotly.offline import get_plotlyjs

        return f"<script>{get_plotlyjs()}</script>{locale}"
    prefix = "../" * depth
    return f'<script src="{prefix}assets/plotly.min.js"></script>{locale}'


def write_pages(
    folder: Path,
    quarter: Quarter,
    standard: Standard,
    names: dict[str, str],
    statuses: list[NotebookStatus],
    overview: NotebookStatus,
    self_contained: bool,
) -> None:
    """Every page of the report in `folder` from its executed notebooks (`folder/notebooks`):
    one per branch, by its id's page name (`names`: branch names by id, for titles), and the
    overview as `index.html`; plotly.js once in `assets/` unless each page embeds it. `standard`:
    the run's, whose version the footer names and whose rating words the style colours."""
    if not self_contained:
        from plotly.offline import get_plotlyjs

        (folder / "assets").mkdir()
        (folder / "assets" / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    executed = folder / "notebooks"
    footer = f"由 audit 工具根据导出数据生成 · 标准版本 {standard.version} · 季度 {quarter}"
    css = style(standard)
    (folder / "branches").mkdir()
    for status in statuses:
        title = f"{names.get(status.name, status.name)} {quarter.zh}审核报告"
        body = notebook_body(executed / notebook_name(status.name)) if status.status == "ok" else failure_body(title, status)
        (folder / "branches" / branch_page_name(status.name)).write_text(
            page(body, title, plotly_tag(self_contained, 1), footer, css), encoding="utf-8"
        )
    title = f"{quarter.zh}党支部审核总览"
    if overview.status == "ok":
        body = mark_failed_pages(notebook_body(executed / OVERVIEW_EXECUTED), statuses)
    else:
        links = "".join(
            f'<li><a href="{branch_page_href(s.name)}">{html.escape(names.get(s.name, s.name))}</a></li>' for s in statuses
        )
        body = failure_body(title, overview).replace("../index.html", "index.html") + f"<ul>{links}</ul>"
    (folder / "index.html").write_text(page(body, title, plotly_tag(self_contained, 0), footer, css), encoding="utf-8")
