"""`audit run`: validation, then the report notebooks executed by papermill and exported to
offline HTML, the Excel workbook and the manifest, written to a temporary folder and moved into
place only when complete.

Layout of a report folder:
    index.html                 the sub-district overview (links every branch page)
    branches/<branch_id>.html  one page per branch
    assets/plotly.min.js       one copy of plotly.js for every page (unless --self-contained)
    notebooks/                 the executed notebooks (provenance)
    findings.xlsx, manifest.json, + the outputs of `audit validate`
    followup.csv, decisions_applied.csv, notices/  整改跟踪, reviewer decisions, 整改通知书 (`audit.followup`)
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from audit.display import branch_page_href, branch_page_name, page_status_marker
from audit.limits import Limits
from audit.mapping import ReviewerMapping
from audit.outputs import (
    RunLock,
    check_output,
    clean_stale,
    discard_partial,
    make_parents,
    partial_folder,
    replace_folder,
)
from audit.paths import NOTEBOOKS
from audit.periods import Quarter
from audit.readers import sha256_file
from audit.standard import Standard, load_standard

KERNEL_NAME = "audit"
BRANCH_NOTEBOOK = "branch_report.py"
OVERVIEW_NOTEBOOK = "overview.py"
KEY_PACKAGES = [
    "polars",
    "pandas",
    "great-expectations",
    "papermill",
    "nbconvert",
    "plotly",
    "jupytext",
    "openpyxl",
    "xlsxwriter",
    "chinesecalendar",
]
EXIT_BRANCH_FAILED = 3


class RunError(Exception):
    """The run could not start or finish; the message says why, in Chinese."""


@dataclass
class NotebookStatus:
    name: str
    status: str  # ok | failed
    seconds: float
    cell: int | None = None
    error: str = ""

    @property
    def where(self) -> str:
        """Where it failed, for people: the cell when papermill names one."""
        return f"第 {self.cell} 个单元格" if self.cell is not None else "执行过程中"


@dataclass
class RunResult:
    out: Path
    quarter: Quarter
    findings: int
    branches: list[str]
    notebooks: list[NotebookStatus]
    timings: dict[str, float]
    size_bytes: int
    seed: int
    validation: Any = field(repr=False, default=None)
    notes: list[str] = field(default_factory=list)  # for people: the previous report used, what was skipped

    @property
    def failed(self) -> list[NotebookStatus]:
        return [n for n in self.notebooks if n.status != "ok"]


# --- notebooks ---------------------------------------------------------------------------------------


# Cell errors reach papermill as messages, not kernel log lines; the log only carries start-up and
# shutdown notices (a TCP warning on every start, an interrupt during shutdown).
KERNEL_QUIET = "--IPKernelApp.log_level=CRITICAL"


def ensure_kernel() -> None:
    """Register this environment's kernel as `audit` (once). Its start-up notices (ipykernel warns
    about TCP on every start) would otherwise print once per notebook into the user's terminal."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if KERNEL_NAME not in specs:
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME, "--display-name", "audit"],
            check=True,
            capture_output=True,
        )
        specs = KernelSpecManager().find_kernel_specs()
    spec_file = Path(specs[KERNEL_NAME]) / "kernel.json"
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    argv = [a for a in spec["argv"] if not a.startswith("--IPKernelApp.log_level=")] + [KERNEL_QUIET]
    if argv != spec["argv"]:
        spec["argv"] = argv
        spec_file.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")


def materialise(source: Path, target: Path) -> Path:
    """The jupytext .py notebook as an .ipynb papermill can execute."""
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "audit", "language": "python"}
    for n, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{n}"  # stable ids: identical inputs give identical notebooks and pages
    jupytext.write(notebook, target, fmt="ipynb")
    return target


def execute(source: str, target: str, parameters: dict[str, Any], cwd: str, name: str, *, warm: bool = False) -> NotebookStatus:
    """Run one notebook with papermill; a failing cell is reported, never raised.

    With `warm`, the notebook runs in this process's warm kernel (`WarmKernelEngine`): started by
    the first notebook, reset before each next one. A branch page costs less than starting a kernel
    and importing polars, plotly and the library, so a pool worker keeps one kernel for all its
    pages. Without it, papermill starts and stops a kernel for this notebook alone."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    started = time.perf_counter()
    missing = _missing_path(source, target, cwd)
    if missing:
        return NotebookStatus(name, "failed", 0.0, None, missing)
    last: Exception | None = None
    for attempt in range(3):  # kernel start-up can time out or clash on ports when many start at once
        try:
            papermill.execute_notebook(
                _literal(source),
                _literal(target),
                parameters=parameters,
                kernel_name=KERNEL_NAME,
                engine_name=_warm_engine() if warm else None,
                cwd=cwd,
                progress_bar=False,
                log_output=False,
                start_timeout=180,
                execution_timeout=900,
                report_mode=False,
            )
            return NotebookStatus(name, "ok", round(time.perf_counter() - started, 2))
        except PapermillExecutionError as exc:
            message = f"{exc.ename}: {exc.evalue}"
            return NotebookStatus(name, "failed", round(time.perf_counter() - started, 2), exc.exec_count, message[:500])
        except (RuntimeError, TimeoutError, OSError) as exc:  # also a kernel that died: the next try starts a new one
            if isinstance(exc, OSError) and _names_notebook_file(exc, source, target, cwd):
                seconds = round(time.perf_counter() - started, 2)
                return NotebookStatus(name, "failed", seconds, None, f"无法读写文件 {exc.filename}：{exc.strerror or exc}"[:500])
            last = exc
            if warm:
                _discard_warm_kernel()
            time.sleep(1 + attempt)
    return NotebookStatus(name, "failed", round(time.perf_counter() - started, 2), None, f"内核启动失败：{last}"[:500])


def _missing_path(source: str, target: str, cwd: str) -> str:
    """What is missing for a notebook to run, in words; empty when nothing is. A missing file or
    folder is the run's problem to name, not a kernel start-up failure to retry."""
    if not os.path.isfile(source):
        return f"无法读写文件 {source}：找不到 notebook 文件"
    for folder in (os.path.dirname(os.path.abspath(target)), cwd):
        if not os.path.isdir(folder):
            return f"无法读写文件 {target}：文件夹 {folder} 不存在"
    return ""


def _names_notebook_file(exc: OSError, source: str, target: str, cwd: str) -> bool:
    """A file error about the notebook or the run folder (not the kernel's): retrying cannot help
    and the message must name the file, not blame the kernel."""
    if exc.filename is None:
        return False
    where = os.path.abspath(str(exc.filename))
    folders = {os.path.abspath(os.path.dirname(source)), os.path.abspath(os.path.dirname(target)), os.path.abspath(cwd)}
    return any(where == folder or where.startswith(folder + os.sep) for folder in folders)


def _literal(path: str) -> str:
    """papermill formats input and output paths with the notebook's parameters (`{branch_id}` in a
    path is replaced); ours are literal, so braces from a folder name or an id stay braces."""
    return path.replace("{", "{{").replace("}", "}}")


def notebook_name(branch_id: str) -> str:
    """The executed notebook of a branch page: named like its page, never from raw id text."""
    return "branch_" + branch_page_name(branch_id).removesuffix(".html") + ".ipynb"


# Run out of band (silent: no output, no history, no execution count) before each notebook in a
# warm kernel, so the notebook starts as in a new kernel: empty namespace, the run folder as working
# folder, execution counts from 1 (a new history session), chart element ids from 1. Imported
# modules stay (the point).
_RESET = """\
import os as _os, sys as _sys
_os.chdir({cwd!r})
if "audit.display" in _sys.modules:
    _sys.modules["audit.display"].reset_ids()
get_ipython().reset(new_session=True)
"""
_WARM: dict[str, Any] = {"km": None, "kc": None, "engine": None}


def _warm_engine() -> str:
    """Register (once) and name the papermill engine that runs notebooks in the warm kernel."""
    from papermill.engines import NBClientEngine, papermill_engines

    if _WARM["engine"] is not None:
        return _WARM["engine"]

    class WarmKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            **kwargs,
        ):
            from jupyter_client.manager import AsyncKernelManager
            from jupyter_core.utils import run_sync
            from papermill.clientwrap import PapermillNotebookClient

            km = _WARM["km"]
            if km is not None and km.has_kernel and not run_sync(km.is_alive)():
                _discard_warm_kernel()  # died since the last notebook: start a new one
                km = None
            if km is None:
                km = _WARM["km"] = AsyncKernelManager(kernel_name=kernel_name)
            if _WARM["kc"] is not None:
                _reset_kernel(_WARM["kc"], os.getcwd())  # papermill has changed into the run folder
            client = PapermillNotebookClient(
                nb_man,
                km=km,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client.kc = _WARM["kc"]  # None the first time: nbclient starts the kernel and a client
            try:
                return client.execute()
            finally:
                _WARM["kc"] = client.kc  # kernel and client (its channels) stay for the next notebook

    papermill_engines.register("audit-warm", WarmKernelEngine)
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _discard_warm_kernel, exitpriority=10)  # pool worker exit
    _WARM["engine"] = "audit-warm"
    return _WARM["engine"]


def _die_with_parent() -> None:
    """A pool worker must not outlive `audit run`: killed with SIGKILL, the run cannot stop its
    workers, and an orphan still writing into the run's temporary folder would race the next
    run's clean-up. Linux delivers SIGKILL to the worker when its parent dies (the worker's
    kernel exits on its own when the worker goes: ipykernel polls its parent)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux/glibc: workers end when their task queue closes
        pass
    if os.getppid() == 1:  # the parent died before the call above
        os._exit(1)


def _warm_up() -> None:
    """Pool initializer: start this worker's kernel and client before its first page. A failure
    here is not fatal: the first page then starts a kernel itself (and reports if it cannot)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    _die_with_parent()
    _warm_engine()
    km = AsyncKernelManager(kernel_name=KERNEL_NAME)
    _WARM["km"] = km
    try:
        run_sync(km.start_kernel)()
        kc = km.client()
        kc.start_channels()
        run_sync(kc.wait_for_ready)(timeout=180)
        kc.allow_stdin = False
        _WARM["kc"] = kc
    except Exception:  # port clash, slow start: leave it to the first page's retries
        _discard_warm_kernel()


def _reset_kernel(kc: Any, cwd: str) -> None:
    from jupyter_core.utils import run_sync

    async def reset() -> dict:
        return await kc.execute_interactive(_RESET.format(cwd=cwd), silent=True, store_history=False, timeout=60)

    reply = run_sync(reset)()
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"内核重置失败：{reply['content'].get('evalue', '')}")


def _discard_warm_kernel() -> None:
    from jupyter_core.utils import run_sync

    km, kc = _WARM["km"], _WARM["kc"]
    _WARM["km"] = _WARM["kc"] = None
    if kc is not None:
        kc.stop_channels()
    if km is not None and km.has_kernel:
        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # best effort: the kernel may already be gone
            pass


# --- pages -----------------------------------------------------------------------------------------------

STYLE = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",SimHei,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;color:#b03a2e;margin:.2em 0}h2{font-size:20px;border-left:5px solid #c0392b;padding-left:10px;margin-top:2em}
.meta,.crumb{color:#666;font-size:14px}a{color:#1f618d}
table.data{border-collapse:collapse;width:100%;font-size:13px;margin:10px 0}
table.data th,table.data td{border:1px solid #ddd;padding:5px 7px;text-align:left;vertical-align:top}
table.data th{background:#f4f6f7}
.status.s-通过{color:#1e8449}.status.s-未通过{color:#c0392b;font-weight:bold}.status.s-未评估{color:#888}
.rating.r-过硬{color:#1e8449}.rating.r-达标{color:#b7950b}.rating.r-未达标{color:#c0392b}
p.rating{font-size:18px}.failed{color:#fff;background:#c0392b;padding:1px 6px;margin-left:6px;font-size:12px;border-radius:3px}
figure.chart{margin:16px 0 28px;page-break-inside:avoid}figcaption{font-size:14px;color:#333;margin-top:4px;padding-left:4px;border-left:3px solid #ccc}
.empty{color:#666}footer{color:#888;font-size:12px;margin-top:40px;border-top:1px solid #eee;padding-top:8px}
.jp-OutputArea-output pre,.output_text pre{white-space:pre-wrap}.anchor-link{display:none}
table.findings td:nth-child(-n+6){white-space:nowrap}
@media print{body{background:#fff}main{padding:0;max-width:none}a{color:#000;text-decoration:none}}
"""


def page(body: str, title: str, plotly: str, footer: str) -> str:
    """The offline page shell: no request leaves the file system."""
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>{plotly}</head>"
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
    for status in statuses:
        if status.status != "ok":
            note = f'<span class="failed">报告生成失败：{html.escape(status.error or "")}</span>'
            body = body.replace(page_status_marker(status.name), note)
    return body


def failure_body(title: str, status: NotebookStatus) -> str:
    return (
        f'<p class="crumb"><a href="../index.html">← 返回总览</a></p><h1>{html.escape(title)}</h1>'
        f'<p class="failed">报告生成失败</p><p>{status.where}出错：<code>{html.escape(status.error)}</code></p>'
        "<p>其他支部的报告不受影响。问题清单（findings.xlsx）中仍包含该支部的全部问题。</p>"
    )


def plotly_tag(self_contained: bool, depth: int) -> str:
    if self_contained:
        from plotly.offline import get_plotlyjs

        return f"<script>{get_plotlyjs()}</script>"
    prefix = "../" * depth
    return f'<script src="{prefix}assets/plotly.min.js"></script>'


# --- the run ---------------------------------------------------------------------------------------


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in KEY_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def run_report(
    batch: Path,
    quarter: Quarter,
    out: Path,
    *,
    jobs: int | None = None,
    branches: list[str] | None = None,
    self_contained: bool = False,
    seed: int = 2019,
    sample_size: int = 3,
    standard: Standard | None = None,
    notebooks_dir: Path = NOTEBOOKS,
    progress: Callable[[str, int, int], None] | None = None,
    limits: Limits | None = None,
    mapping: ReviewerMapping | None = None,
    previous: Path | None = None,
    decisions: Path | None = None,
    deadline: dt.date | None = None,
) -> RunResult:
    """Run the whole quarterly report into `out` (see the module docstring). `out` is checked
    before any work and again under the lock (`audit.outputs`): never the batch or anything around
    or inside it, never a file or a folder the toolkit did not make. When nothing can be audited,
    `out` gets the ingest outputs and a manifest only, and ``NothingUsableError`` says so."""
    out = check_output(out, kind="run", batch=batch)
    make_parents(out)
    with RunLock(out, command="run"):
        out = check_output(out, kind="run", batch=batch)
        _clean_stale_partials(out)
        try:
            return _run_locked(
                batch,
                quarter,
                out,
                jobs=jobs,
                branches=branches,
                self_contained=self_contained,
                seed=seed,
                sample_size=sample_size,
                standard=standard,
                notebooks_dir=notebooks_dir,
                progress=progress,
                limits=limits,
                mapping=mapping,
                previous=previous,
                decisions=decisions,
                deadline=deadline,
            )
        except BaseException:
            discard_partial(out)  # wherever the interrupt or error came, no temporary folder stays
            raise


def _run_locked(
    batch: Path,
    quarter: Quarter,
    out: Path,
    *,
    jobs: int | None,
    branches: list[str] | None,
    self_contained: bool,
    seed: int,
    sample_size: int,
    standard: Standard | None,
    notebooks_dir: Path,
    progress: Callable[[str, int, int], None] | None,
    limits: Limits | None = None,
    mapping: ReviewerMapping | None = None,
    previous: Path | None = None,
    decisions: Path | None = None,
    deadline: dt.date | None = None,
) -> RunResult:
    from audit.validate import NothingUsableError, validate

    standard = standard or load_standard()
    jobs = jobs or os.cpu_count() or 1
    timings: dict[str, float] = {}
    tmp = partial_folder(out)  # marked as this run's, so only it is ever cleared away
    # The page workers start now and each starts its kernel while this process validates; by the
    # time the pages run, their kernels are warm.
    ensure_kernel()
    workers = max(1, min(jobs, len(branches) if branches else jobs))
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_warm_up)
    try:
        for _ in range(workers):  # one submission per worker, so all of them start (and warm up) now
            pool.submit(int)
        clock = time.perf_counter()
        try:
            result = validate(batch, quarter, standard, out=tmp, data_docs=True, limits=limits, mapping=mapping)
        except NothingUsableError as exc:  # the reviewer still gets the ingest report, quarantine and column map
            manifest = _manifest_base(batch, exc.ingested, quarter, limits, mapping)
            manifest["outcome"] = str(exc)
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            _move_into_place(tmp, out)
            raise NothingUsableError(str(exc), exc.ingested, out) from None
        timings["validate"] = round(time.perf_counter() - clock, 2)
        tables = result.ingested.tables
        known = tables["branches"]["branch_id"].sort().to_list()
        unknown = sorted(set(branches or []) - set(known))
        if unknown:
            raise RunError(f"数据中没有这些支部：{'、'.join(unknown)}（可选：{'、'.join(known)}）")
        selected = [b for b in known if not branches or b in branches]

        clock = time.perf_counter()
        from audit.followup import FollowupError, write_follow_up

        try:  # follow-up, decisions, sample, previous scorecard, findings.xlsx, notices
            extras = write_follow_up(
                tmp, out, batch, quarter, standard, result, selected, seed, sample_size, previous, decisions, deadline
            )
        except FollowupError as exc:
            raise RunError(str(exc)) from None
        docs_pages = len(list((tmp / "data-docs").rglob("*.html"))) if (tmp / "data-docs").exists() else 0
        timings["extras"] = round(time.perf_counter() - clock, 2)

        clock = time.perf_counter()
        nb_dir = tmp / "notebooks"
        nb_dir.mkdir()
        src_dir = tmp / ".sources"
        src_dir.mkdir()
        branch_source = materialise(notebooks_dir / BRANCH_NOTEBOOK, src_dir / "branch_report.ipynb")
        overview_source = materialise(notebooks_dir / OVERVIEW_NOTEBOOK, src_dir / "overview.ipynb")
        statuses: list[NotebookStatus] = []
        try:
            # the overview runs alongside the pages (first in the queue); failed pages are marked
            # in its branch table afterwards (`mark_failed_pages`)
            overview_future = pool.submit(
                execute,
                str(overview_source),
                str(nb_dir / "overview.ipynb"),
                {"processed": ".", "quarter": str(quarter), "output": "."},
                str(tmp),
                "overview",
                warm=True,
            )
            futures = {
                pool.submit(
                    execute,
                    str(branch_source),
                    str(nb_dir / notebook_name(b)),
                    {"processed": ".", "quarter": str(quarter), "branch_id": b, "output": "."},
                    str(tmp),
                    b,
                    warm=True,  # each worker keeps one kernel for all its pages
                ): b
                for b in selected
            }
            for n, future in enumerate(as_completed(futures), start=1):
                statuses.append(future.result())
                if progress:
                    progress(futures[future], n, len(selected))
            overview = overview_future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        statuses.sort(key=lambda s: s.name)
        status_map = {s.name: {"status": s.status, "cell": s.cell, "error": s.error} for s in statuses}
        (tmp / "run_status.json").write_text(json.dumps(status_map, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        timings["notebooks"] = round(time.perf_counter() - clock, 2)

        clock = time.perf_counter()
        if not self_contained:
            from plotly.offline import get_plotlyjs

            (tmp / "assets").mkdir()
            (tmp / "assets" / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
        footer = f"由 audit 工具根据导出数据生成 · 标准版本 {standard.version} · 季度 {quarter}"
        (tmp / "branches").mkdir()
        names = dict(tables["branches"].select("branch_id", "branch_name").iter_rows())
        for status in statuses:
            title = f"{names.get(status.name, status.name)} {quarter.zh}审核报告"
            notebook = nb_dir / notebook_name(status.name)
            body = notebook_body(notebook) if status.status == "ok" else failure_body(title, status)
            (tmp / "branches" / branch_page_name(status.name)).write_text(
                page(body, title, plotly_tag(self_contained, 1), footer), encoding="utf-8"
            )
        overview_title = f"{quarter.zh}党支部审核总览"
        if overview.status == "ok":
            body = mark_failed_pages(notebook_body(nb_dir / "overview.ipynb"), statuses)
        else:
            links = "".join(
                f'<li><a href="{branch_page_href(s.name)}">{html.escape(names.get(s.name, s.name))}</a></li>' for s in statuses
            )
            body = failure_body(overview_title, overview).replace("../index.html", "index.html") + f"<ul>{links}</ul>"
        (tmp / "index.html").write_text(page(body, overview_title, plotly_tag(self_contained, 0), footer), encoding="utf-8")
        shutil.rmtree(src_dir)
        timings["html"] = round(time.perf_counter() - clock, 2)

        notebooks = [*statuses, overview]
        manifest = {
            "tool": "audit",
            "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "batch": str(Path(batch).resolve()),
            "inputs": {name: {"sha256": digest} for name, digest in sorted(result.ingested.files.items())},
            "parameters": {
                "quarter": str(quarter),
                "jobs": jobs,
                "branches": branches or [],
                "self_contained": self_contained,
                "seed": seed,
                "sample_size": sample_size,
                "limits": (limits or Limits()).as_dict(),
                "deadline": deadline.isoformat() if deadline else None,
            },
            "standard": {
                "name": standard.name,
                "version": standard.version,
                "sha256": sha256_file(standard.path) if standard.path else None,
            },
            "contract_version": result.ingested.contract_version,
            "mapping": mapping.manifest if mapping is not None else None,
            **extras.manifest(),
            "versions": _versions(),
            "timings_seconds": {**timings, "per_notebook": {s.name: s.seconds for s in notebooks}},
            "notebooks": {s.name: {"status": s.status, "cell": s.cell, "error": s.error} for s in notebooks},
            "outputs": {"findings": result.findings.height, "data_docs_pages": docs_pages},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # workers stop their kernels as they exit
    size = _folder_size(out)
    return RunResult(out, quarter, result.findings.height, selected, notebooks, timings, size, seed, result, extras.notes)


def _clean_stale_partials(out: Path) -> None:
    """Remove what earlier killed runs left next to `out`, and only what they provably made."""
    clean_stale(out)


def _manifest_base(batch: Path, ingested, quarter: Quarter, limits: Limits | None, mapping: ReviewerMapping | None) -> dict:
    """The manifest of a run that stopped after reading the batch (nothing to audit)."""
    return {
        "tool": "audit",
        "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "batch": str(Path(batch).resolve()),
        "inputs": {name: {"sha256": digest} for name, digest in sorted(ingested.files.items())},
        "parameters": {"quarter": str(quarter), "limits": (limits or Limits()).as_dict()},
        "contract_version": ingested.contract_version,
        "mapping": mapping.manifest if mapping is not None else None,
        "versions": _versions(),
    }


def _move_into_place(tmp: Path, out: Path) -> None:
    """Replace the previous report only once the new one is complete, and only if audit made it
    (its marker is re-checked right before the rename; `audit.outputs.replace_folder`)."""
    replace_folder(tmp, out, kind="run")


@dataclass
class Verification:
    batch: Path
    changed: list[str]
    missing: list[str]
    added: list[str]

    @property
    def matches(self) -> bool:
        return not (self.changed or self.missing or self.added)


def _read_manifest(path: Path) -> tuple[dict[str, str], str | None]:
    """The input hashes and batch path a manifest records. A manifest travels with its report and
    may have been edited or damaged: anything not of the shape `audit run` writes is refused."""
    broken = RunError(f"{path} 不是 audit run 写出的 manifest.json（内容无法解析或不完整）")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise broken from None
    inputs = manifest.get("inputs") if isinstance(manifest, dict) else None
    batch = manifest.get("batch") if isinstance(manifest, dict) else None
    if not isinstance(inputs, dict) or not (batch is None or isinstance(batch, str)):
        raise broken
    recorded = {}
    for name, entry in inputs.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(digest, str):
            raise broken
        recorded[name] = digest
    return recorded, batch


def verify_manifest(report: Path, batch: Path | None = None) -> Verification:
    """Re-hash the inputs a report was made from and say whether it still matches its data."""
    from audit.ingest import input_files

    manifest_path = report / "manifest.json"
    if not manifest_path.exists():
        raise RunError(f"{report} 中没有 manifest.json，不是 audit run 生成的报告目录")
    recorded, recorded_batch = _read_manifest(manifest_path)
    if batch is None and not recorded_batch:
        raise RunError(f"{manifest_path} 没有记录数据批次文件夹，请用 --batch 指定")
    batch = Path(batch or recorded_batch or "")
    if not batch.is_dir():
        raise RunError(f"找不到报告所用的数据批次文件夹：{batch}（可用 --batch 指定）")
    present = input_files(batch)  # the files ingestion reads, by the (masked) names the manifest holds
    changed = sorted(n for n, digest in recorded.items() if n in present and sha256_file(present[n]) != digest)
    missing = sorted(n for n in recorded if n not in present)
    added = sorted(n for n in present if n not in recorded)
    return Verification(batch, changed, missing, added)
