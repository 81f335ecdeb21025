"""`audit run`: papermill notebooks in parallel, offline HTML, workbook, manifest, fault isolation."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from polars.testing import assert_frame_equal

from audit.periods import Quarter
from audit.report import run_report
from audit.synth import write_world
from conftest import notebooks_failing_for
from worlds import meetings, world

HOSTILE_TOPIC = '<script>alert(1)</script><img src=x onerror=alert(2)> & "点我"'  # kept as text: shown on XH01's page
REMOTE = re.compile(r"""<(?:script|link|img)\b[^>]*(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    w = world()
    hostile = meetings(w, "XH01", "主题党日", "2019-01")[0]
    hostile["topic"] = HOSTILE_TOPIC
    meetings(w, "XH02", "主题党日", "2019-02")[0]["topic"] = "@SUM(A1:A2)"
    folder = tmp_path_factory.mktemp("report") / "batch"
    write_world(w, folder)
    return folder


@pytest.fixture(scope="module")
def report(batch: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "2019Q1"
    result = run_report(batch, Quarter.parse("2019Q1"), out, jobs=3, sample_size=40)
    assert not result.failed, result.failed
    return out


def test_pages_and_provenance(report: Path):
    assert (report / "index.html").exists()
    assert sorted(p.name for p in (report / "branches").iterdir()) == ["XH01.html", "XH02.html", "XH03.html"]
    assert sorted(p.name for p in (report / "notebooks").iterdir()) == [
        "branch_XH01.ipynb",
        "branch_XH02.ipynb",
        "branch_XH03.ipynb",
        "overview.ipynb",
    ]
    index = (report / "index.html").read_text(encoding="utf-8")
    for branch in ("XH01", "XH02", "XH03"):
        assert f'href="branches/{branch}.html"' in index
    page = (report / "branches" / "XH01.html").read_text(encoding="utf-8")
    # XH01 owes no dues: its arrears chart is a sentence; the overview's ratings are a sentence too
    assert page.count('class="plotly-graph-div') == 5 and index.count('class="plotly-graph-div') == 2
    assert "2019年第一季度审核报告" in page and "需要整改的问题" in page
    assert "import audit" not in page and "ds = audit.load" not in page  # code cells are not exported


def test_pages_are_offline_with_one_plotly(report: Path):
    pages = [report / "index.html", *(report / "branches").glob("*.html"), *(report / "data-docs").rglob("*.html")]
    for path in pages:
        assert not REMOTE.search(path.read_text(encoding="utf-8")), path
    assert len(list(report.rglob("plotly*.js"))) == 1
    assert '<script src="../assets/plotly.min.js">' in (report / "branches" / "XH02.html").read_text(encoding="utf-8")
    assert "require.js" not in (report / "index.html").read_text(encoding="utf-8")


def test_hostile_export_text_is_escaped(report: Path):
    """The hostile topic is on XH01's page (the sample lists every meeting of the quarter), as
    text: present escaped, never as markup (nbconvert writes a text node's quotes as they are)."""
    page = (report / "branches" / "XH01.html").read_text(encoding="utf-8")
    assert html.escape(HOSTILE_TOPIC, quote=False) in page
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page


def test_workbook_sheets_headers_and_no_formulas(report: Path):
    book = openpyxl.load_workbook(report / "findings.xlsx")
    assert book.sheetnames == ["问题清单", "评定结果", "评估范围", "整改台账", "审核决定", "抽查样本", "数据问题"]
    sample = book["抽查样本"]
    assert [c.value for c in sample[1]][:5] == ["支部编号", "支部名称", "活动编号", "活动类型", "活动日期"]
    assert sample.freeze_panes == "A2" and sample.auto_filter.ref
    texts = [c for row in sample.iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    hostile = [c for c in texts if c.value.startswith(("=", "@"))]
    assert hostile, "the hostile topics were sampled"
    assert all(c.data_type == "s" for c in hostile)  # stored as text, never as a formula
    with zipfile.ZipFile(report / "findings.xlsx") as archive:
        assert not any(b"<f>" in archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/"))


def test_manifest_records_the_run(report: Path, batch: Path):
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["inputs"]) == {p.name for p in batch.iterdir()}
    assert all(len(v["sha256"]) == 64 for v in manifest["inputs"].values())
    assert manifest["parameters"]["seed"] == 2019 and manifest["parameters"]["quarter"] == "2019Q1"
    assert manifest["standard"]["version"] == "2018.11-r1"
    assert {"polars", "great-expectations", "papermill", "plotly"} <= set(manifest["versions"])
    assert set(manifest["notebooks"]) == {"XH01", "XH02", "XH03", "overview"}
    assert all(n["status"] == "ok" for n in manifest["notebooks"].values())
    assert set(manifest["timings_seconds"]["per_notebook"]) == {"XH01", "XH02", "XH03", "overview"}


def test_sample_is_reproducible(report: Path, batch: Path):
    from audit.ingest import ingest
    from audit.views import meeting_sample

    tables = ingest(batch).tables
    first = meeting_sample(tables, Quarter.parse("2019Q1"), 2019, 3)
    assert first.equals(meeting_sample(tables, Quarter.parse("2019Q1"), 2019, 3))
    assert not first.equals(meeting_sample(tables, Quarter.parse("2019Q1"), 7, 3))
    assert first.group_by("branch_id").len()["len"].to_list() == [3, 3, 3]


def test_a_failing_branch_does_not_stop_the_others(batch: Path, tmp_path: Path):
    notebooks = notebooks_failing_for(tmp_path / "notebooks", "XH02")
    out = tmp_path / "out"
    result = run_report(batch, Quarter.parse("2019Q1"), out, jobs=2, branches=["XH01", "XH02"], notebooks_dir=notebooks)
    assert [s.name for s in result.failed] == ["XH02"]
    assert "ValueError: 模拟的失败" in result.failed[0].error and result.failed[0].cell
    assert "报告生成失败" in (out / "branches" / "XH02.html").read_text(encoding="utf-8")
    assert "plotly-graph-div" in (out / "branches" / "XH01.html").read_text(encoding="utf-8")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "报告生成失败：ValueError: 模拟的失败" in index
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["notebooks"]["XH02"]["status"] == "failed"
    assert not list(tmp_path.glob(".out.partial-*"))


def test_a_run_for_one_branch_links_only_its_page(batch: Path, tmp_path: Path):
    """Walk-through A3: with `--branch` the overview linked every branch, and all but one link
    led to a missing file; every link of the overview now opens a page the run wrote."""
    out = tmp_path / "out"
    result = run_report(batch, Quarter.parse("2019Q1"), out, jobs=1, branches=["XH01"])
    assert not result.failed, result.failed
    index = (out / "index.html").read_text(encoding="utf-8")
    links = [html.unescape(h) for h in re.findall(r'href="(branches/[^"]*)"', index)]
    assert links == ["branches/XH01.html"] and [p.name for p in (out / "branches").iterdir()] == ["XH01.html"]
    assert "本次只生成了所选支部（" in index and "<td>XH02</td><td>" in index


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True, text=True, timeout=900)


def test_cli_run_self_contained_and_exit_codes(batch: Path, tmp_path: Path):
    out = tmp_path / "single"
    proc = _cli(
        "run", str(batch), "--quarter", "2019Q1", "--out", str(out), "--branch", "XH03", "--jobs", "1", "--self-contained"
    )
    assert proc.returncode == 0, proc.stderr
    assert "报告目录大小" in proc.stdout and "随机抽查种子：2019" in proc.stdout
    assert "IPKernelApp" not in proc.stdout + proc.stderr  # kernels do not print start-up notices
    assert not (out / "assets").exists()
    page = (out / "branches" / "XH03.html").read_text(encoding="utf-8")
    assert "Plotly" in page and "assets/plotly.min.js" not in page
    bad = _cli("run", str(batch), "--quarter", "2019Q1", "--out", str(tmp_path / "x"), "--branch", "XH99")
    assert bad.returncode == 2 and "数据中没有支部「XH99」" in bad.stderr
    assert not (tmp_path / "x").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"


def _browser():
    import os

    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must install Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    return sync_playwright()


@pytest.mark.parametrize(("page_name", "min_charts"), [("index.html", 2), ("branches/XH01.html", 5), ("data-docs/index.html", 0)])
def test_pages_render_in_a_real_browser_offline(report: Path, page_name: str, min_charts: int):
    with _browser() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        blocked, errors = [], []

        def route(r):
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((report / page_name).as_uri())
        page.wait_for_load_state("load")
        charts = page.locator(".plotly-graph-div").count()
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}", timeout=20000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{page_name.replace('/', '_')}.png"), full_page=True)
        text = page.inner_text("body")
        browser.close()
    assert blocked == [] and errors == []
    assert charts >= min_charts
    if min_charts:
        assert "审核" in text and ("评定" in text or "问题" in text)
    else:
        assert "standard.branch_month" in text  # the Data Docs index lists the suites


def test_a_branch_scoped_dataset_gives_the_same_page_content(report: Path):
    """Branch pages load only their branch's records (`audit.load(..., branch=)`); every chart and
    table on the page must equal what the whole batch gives, for every branch."""
    import audit

    full = audit.load(report)
    assert full.window is not None
    for branch_id in full.branches["branch_id"]:
        scoped = audit.load(report, branch=branch_id)
        assert scoped.tables["members"]["branch_id"].unique().to_list() == [branch_id]
        assert scoped.tables["dues"].height < full.tables["dues"].height
        mine, theirs = scoped.branch_charts(branch_id), full.branch_charts(branch_id)
        assert mine.keys() == theirs.keys()
        for name in mine:
            assert mine[name].figure.to_json() == theirs[name].figure.to_json(), (branch_id, name)
            assert mine[name].reading == theirs[name].reading, (branch_id, name)
        assert_frame_equal(scoped.points_missing(branch_id), full.points_missing(branch_id))
        assert_frame_equal(scoped.arrears(branch_id), full.arrears(branch_id))
    with pytest.raises(ValueError, match="只载入了支部"):
        scoped.arrears()


def _notebook(path: Path, *cells: str) -> str:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("value = 0", metadata={"tags": ["parameters"]})]
    notebook.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    notebook.metadata["kernelspec"] = {"name": "audit", "display_name": "audit", "language": "python"}
    for n, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{n}"
    nbformat.write(notebook, path)
    return str(path)


def test_a_warm_kernel_runs_each_notebook_as_a_fresh_one_and_survives_a_crash(tmp_path: Path):
    """Pool workers keep one kernel for all their pages; before each notebook the namespace, the
    working folder, the execution count and the chart ids are reset, so outputs equal a new
    kernel's. A notebook that kills its kernel fails alone; the next one gets a new kernel."""
    import nbformat

    from audit.report import _discard_warm_kernel, ensure_kernel, execute

    ensure_kernel()
    state = _notebook(
        tmp_path / "state.ipynb",
        "import os\nimport audit.display as d\n"
        "print(sorted(k for k in globals() if not k.startswith('_') and k not in {'In', 'Out', 'get_ipython', 'exit', 'quit', 'open'}))\n"
        f"print(os.getcwd() == os.path.realpath({str(tmp_path)!r}))\nprint(next(d._ids), next(d._ids))\nleak = value",
        "import os\nprint(os.getpid())",
    )
    crash = _notebook(tmp_path / "crash.ipynb", "import os\nos._exit(1)")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(name: str, warm: bool, source: str = state, cwd: Path = tmp_path) -> tuple[list, str]:
        status = execute(source, str(tmp_path / f"{name}.out.ipynb"), {"value": 1}, str(cwd), name, warm=warm)
        notebook = nbformat.read(tmp_path / f"{name}.out.ipynb", as_version=4)
        # stdout may arrive in one message or several; compare the text
        cells = [(c.execution_count, "".join(o.get("text", "") for o in c.outputs)) for c in notebook.cells]
        return status, cells

    try:
        first, cells_first = run("first", warm=True)
        run("other", warm=True, cwd=elsewhere)  # changes folder and defines `leak` in the same kernel
        second, cells_second = run("second", warm=True)
        fresh, cells_fresh = run("fresh", warm=False)
        assert first.status == second.status == fresh.status == "ok"
        assert cells_second[:-1] == cells_fresh[:-1] == cells_first[:-1]  # all but the pid cell
        assert cells_second[2][1] == "['d', 'os', 'value']\nTrue\n1 2\n"
        assert [c[0] for c in cells_second] == [1, 2, 3, 4]  # papermill's parameters cell included
        pid = lambda cells: cells[-1][1]  # noqa: E731
        assert pid(cells_first) == pid(cells_second) != pid(cells_fresh)  # one warm kernel, reused

        crashed, _ = run("crash", warm=True, source=crash)
        assert crashed.status == "failed"
        after, cells_after = run("after", warm=True)
        assert after.status == "ok" and cells_after[:-1] == cells_fresh[:-1]
        assert pid(cells_after) != pid(cells_second)
    finally:
        _discard_warm_kernel()


def test_the_branch_partition_beside_the_export_is_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The tables are partitioned by branch in a thread while the export runs: the branch pages
    start only once it is written, its failure fails the run, and a run that fails removes its
    temporary folder only after the partition has stopped writing into it."""
    import threading
    import time

    import audit.followup
    import audit.partition

    batch = tmp_path / "batch"
    write_world(world(), batch)
    written = threading.Event()

    def slow_partition(tables, tables_dir: Path) -> None:
        time.sleep(1.0)  # still writing when the export fails
        (tables_dir / "by_branch").mkdir(parents=True, exist_ok=True)
        (tables_dir / "by_branch" / "late.txt").write_text("late", encoding="utf-8")
        written.set()

    def broken_export(*args, **kwargs):
        raise RuntimeError("export failed")

    monkeypatch.setattr(audit.partition, "write_branch_copies", slow_partition)
    monkeypatch.setattr(audit.followup, "write_follow_up", broken_export)
    with pytest.raises(RuntimeError, match="export failed"):
        run_report(batch, Quarter.parse("2019Q1"), tmp_path / "out", jobs=1, branches=["XH01"])
    assert written.is_set()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "batch.truth"]  # nothing left behind

    def broken_partition(tables, tables_dir: Path) -> None:
        raise RuntimeError("partition failed")

    monkeypatch.undo()
    monkeypatch.setattr(audit.partition, "write_branch_copies", broken_partition)
    with pytest.raises(RuntimeError, match="partition failed"):
        run_report(batch, Quarter.parse("2019Q1"), tmp_path / "out", jobs=1, branches=["XH01"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "batch.truth"]
