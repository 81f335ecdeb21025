"""Branch ids are data, not paths, markup or format strings: a run over hostile ids writes every
page inside the report under a name derived from the id, links every page correctly, and no page
(the GX Data Docs included) runs anything in a real browser. A branch without a code is keyed by
its name (issue 13): the key its name gives is held to the same limits as a written code."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pytest

from audit.display import branch_page_href, branch_page_name
from audit.identity import branch_name
from audit.synth import write_world
from worlds import world

# Renamed real branches (members, meetings, dues …) and extra branches that have no records.
RENAMED = {"XH01": "<svg onload=alert(9)>", "XH02": "../../../../x/index", "XH03": "{processed}{quarter}"}
EXTRA = [
    "a/b",
    "{quarter:>3000000000}",
    "a#b",
    "a?b=1",
    "100%25",
    "=F7",
    "XH01",
    "xh01",
    "CON",
    "\"'><img src=x onerror=alert(1)>",
    "javascript:alert(2)",
    "支部/一",
]
TOO_LONG = "长" * 300
PLACEHOLDER = "\\"  # a blank written as `\`: a missing required id, not an id
CONTROL = "B\x1b[31mX"
# branch-list rows without a code, keyed by their name when it can be a key: (code, name)
WITHOUT_CODE = [(PLACEHOLDER, ""), ("", TOO_LONG + "党支部"), ("", CONTROL + "党支部")]


def _tree(root: Path, skip: Path) -> dict[str, str]:
    """Every file below root except under `skip`, with its SHA-256."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and skip not in path.parents:
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    w = world()
    for rows in w.tables.values():
        for row in rows:
            if row.get("branch_id") in RENAMED:
                row["branch_id"] = RENAMED[row["branch_id"]]
    template = w.tables["branches"][0]
    root = tmp_path_factory.mktemp("hostile")
    batch = root / "work" / "batch"
    write_world(w, batch)
    # extra branches, appended to the branch list as a reviewer's export would carry them
    path = batch / "支部信息.csv"
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"))))
    header = rows[0]
    for n, branch_id in enumerate([*EXTRA, TOO_LONG, CONTROL, PLACEHOLDER]):
        row = list(rows[1])
        row[0], row[1] = branch_id, f"测试{n}支部<b>"
        rows.append(row)
    for code, name in WITHOUT_CODE:
        row = list(rows[1])
        row[0], row[1] = code, name
        rows.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows[1:]])
    path.write_bytes(buffer.getvalue().encode("gb18030"))
    assert template["branch_id"] in RENAMED.values()
    # sentinels where an escaping page name would land
    for folder in (root, root / "work", root / "x", root / "work" / "x"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text("sentinel", encoding="utf-8")
    before = _tree(root, root / "work" / "report")
    out = root / "work" / "report"
    done = subprocess.run(
        [sys.executable, "-m", "audit.cli", "run", str(batch), "--quarter", "2019Q1", "--out", str(out), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "False", "COLUMNS": "200"},
    )
    assert _tree(root, out) == before, "the run wrote or changed something outside its report folder"
    return batch, out, done


def test_page_names_are_derived_safely_and_without_collisions():
    ids = [*RENAMED.values(), *EXTRA, "XH01", "XH02", "Xh01", "b_0123", TOO_LONG, PLACEHOLDER, "x" * 48, "X" * 49]
    names = [branch_page_name(i) for i in ids]
    assert branch_page_name("XH01") == "XH01.html" and branch_page_name("D00017") == "D00017.html"
    for branch_id, name in zip(ids, names, strict=True):
        assert re.fullmatch(r"[A-Za-z0-9\-\u4e00-\u9fff_]{1,80}\.html", name), (branch_id, name)
        assert branch_page_name(branch_id) == name  # stable
    folded = {n.casefold() for n in set(names)}
    assert len(folded) == len(set(ids)), "two ids share a page name (also on case-insensitive folders)"
    assert branch_page_name("CON") != "CON.html" and branch_page_name("nul") != "nul.html"
    assert branch_page_href("a#b").startswith("branches/ab_") and "#" not in branch_page_href("a#b")
    assert branch_page_href("支部") == "branches/" + "%E6%94%AF%E9%83%A8_" + branch_page_name("支部")[3:]


def _branch_rows(batch: Path) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the branch list the fixture wrote."""
    header, *rows = csv.reader(io.StringIO((batch / "支部信息.csv").read_bytes().decode("gb18030")))
    return header, rows


def test_a_run_over_hostile_ids_builds_every_page_inside_the_report(hostile):
    batch, out, done = hostile
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    scorecard = pl.read_parquet(out / "scorecard.parquet")
    ids = scorecard["branch_id"].to_list()
    # the code written as `\` beside a name: keyed by that name (`新华街道测试14支部<b>`), markup and all
    _, rows = _branch_rows(batch)
    by_name = {branch_name(row[1], row[2]).key for row in rows if row[0] == PLACEHOLDER and row[1]}
    assert len(by_name) == 1 and all("<b>" in key for key in by_name)
    assert set(ids) == {*RENAMED.values(), *EXTRA, *by_name}, "every usable id has its row; unusable ids are data problems"
    pages = sorted(p.name for p in (out / "branches").iterdir())
    assert pages == sorted(branch_page_name(i) for i in ids)
    status = (out / "run_status.json").read_text(encoding="utf-8")
    assert '"failed"' not in status


def test_unusable_ids_are_reported_as_data_problems_naming_file_and_row(hostile):
    """A code too long or with control characters, and a name that would give such a key to a
    branch without a code, are quarantined naming the file, row and the column as written; a row
    with neither code nor name lacks its required id; a backslash for a code beside a name: that name's."""
    batch, out, _ = hostile
    quarantine = pl.read_parquet(out / "quarantine.parquet").filter(pl.col("file") == "支部信息.csv")
    header, written = _branch_rows(batch)
    at = {tuple(row[:2]): n for n, row in enumerate(written, 2)}  # (code, name) -> Excel row number
    rows = quarantine.filter(pl.col("code") == "BAD_KEY").sort("row")
    expected = [
        (at[(TOO_LONG, f"测试{len(EXTRA)}支部<b>")], header[0]),
        (at[(CONTROL, f"测试{len(EXTRA) + 1}支部<b>")], header[0]),
        (at[WITHOUT_CODE[1]], header[1]),  # the header as the export writes it
        (at[WITHOUT_CODE[2]], header[1]),
    ]
    assert list(zip(rows["row"], rows["column"], strict=True)) == expected, quarantine
    assert all(r["action"] == "整行隔离" for r in rows.iter_rows(named=True))
    assert not any("\x1b" in text for text in [*quarantine["value"], *quarantine["reason"]])
    blank = quarantine.filter(pl.col("code") == "REQUIRED_BLANK", pl.col("column") == header[0])
    assert blank["row"].to_list() == [at[WITHOUT_CODE[0]]]
    keyed_by_name = at[(PLACEHOLDER, f"测试{len(EXTRA) + 2}支部<b>")]
    assert quarantine.filter(pl.col("row") == keyed_by_name).is_empty()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def test_overview_links_every_branch_page_and_each_link_resolves(hostile):
    _, out, _ = hostile
    parser = _Links()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    branch_links = [h for h in parser.hrefs if h.startswith("branches/")]
    scorecard = pl.read_parquet(out / "scorecard.parquet")
    assert len(branch_links) == scorecard.height
    for href in branch_links:
        assert "?" not in href and "#" not in href
        target = out / unquote(href)
        assert target.is_file() and target.parent == out / "branches", href
    page = (out / "branches" / branch_page_name("<svg onload=alert(9)>")).read_text(encoding="utf-8")
    assert "&lt;svg onload=alert(9)&gt;" in page  # shown as text
    overview = (out / "index.html").read_text(encoding="utf-8")
    assert "<td>=F7</td>" in overview and "'=F7" not in overview  # the CSV's formula guard is not data


def test_no_page_runs_script_from_the_data_in_a_browser(hostile):
    """Every HTML file the run wrote (overview, branch pages, GX Data Docs) opened in Chromium:
    no dialog, no event-handler attribute, no request leaving the file system."""
    from test_report import CHROMIUM, _browser

    _, out, _ = hostile
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 30 and any("data-docs" in p.parts for p in pages)
    dialogs, blocked, handlers = [], [], {}
    with _browser() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        def route(r):
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        for path in pages:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(50)
            found = page.evaluate(
                """() => [...document.querySelectorAll('*')].flatMap(e =>
                    [...e.attributes].filter(a => a.name.startsWith('on') ||
                        (/(^|:)(href|src|action|formaction)$/.test(a.name) && /^\\s*javascript:/i.test(a.value)))
                    .map(a => e.tagName + ' ' + a.name))"""
            )
            if found:
                handlers[path.relative_to(out).as_posix()] = found[:5]
        browser.close()
    assert dialogs == [] and blocked == [] and handlers == {}


def test_a_second_run_writes_byte_identical_pages_and_tables(hostile, tmp_path: Path):
    """Every page, table and workbook is reproducible (the overview once listed data problems in
    a different order each run): the same inputs into another folder give the same bytes."""
    batch, first, _ = hostile
    second = tmp_path / "again"
    done = subprocess.run(
        [sys.executable, "-m", "audit.cli", "run", str(batch), "--quarter", "2019Q1", "--out", str(second), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "False"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    compared = [
        p.relative_to(first)
        for p in sorted(first.rglob("*"))
        if p.is_file()
        and p.suffix in {".html", ".csv", ".parquet", ".xlsx", ".json"}
        and not {"data-docs", "notebooks"} & set(p.relative_to(first).parts)
        and p.name != "manifest.json"
        and not p.name.startswith(".")  # the output marker records when the folder was made
    ]
    assert len(compared) > 40
    different = [str(p) for p in compared if (first / p).read_bytes() != (second / p).read_bytes()]
    assert different == []


def test_a_notebook_that_cannot_be_written_names_the_file_not_the_kernel(tmp_path: Path):
    """A bad output path is a file problem: reported at once, naming the file, never retried as a
    kernel start-up failure; a status without a cell says where it failed in words."""
    from audit.paths import NOTEBOOKS
    from audit.report import NotebookStatus, ensure_kernel, execute, materialise

    ensure_kernel()
    source = materialise(NOTEBOOKS / "overview.py", tmp_path / "overview.ipynb")
    target = tmp_path / "missing" / "{quarter}" / "overview.ipynb"
    status = execute(str(source), str(target), {"processed": ".", "quarter": "2019Q1", "output": "."}, str(tmp_path), "x")
    assert status.status == "failed" and status.seconds < 20
    assert "内核启动失败" not in status.error and "无法读写文件" in status.error and "{quarter}" in status.error
    assert NotebookStatus("x", "failed", 1.0).where == "执行过程中"
    assert NotebookStatus("x", "failed", 1.0, cell=0).where == "第 0 个单元格"
