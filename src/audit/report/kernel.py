"""The kernel engine of `audit run`: the `audit` Jupyter kernel, the notebooks papermill executes
and where their executed copies go, and the warm kernel each page worker keeps for all its pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.display import branch_page_name

KERNEL_NAME = "audit"
BRANCH_NOTEBOOK = "branch_report.py"
OVERVIEW_NOTEBOOK = "overview.py"
OVERVIEW_EXECUTED = "overview.ipynb"  # the executed overview, in the report's notebooks/


@dataclass
class NotebookStatus:
    """How one notebook ran: ok or failed, in how many seconds, and where and why it failed."""

    name: str
    status: str  # ok | failed
    seconds: float
    cell: int | None = None
    error: str = ""

    @property
    def where(self) -> str:
        """Where it failed, for people: the cell when papermill names one."""
        return f"第 {self.cell} 个单元格" if self.cell is not None else "执行过程中"


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
# modules stay (the point). The reset ends in a full garbage collection, which walks every object
# of polars, plotly and the library (a third of a second a page); what survives it is frozen
# (`gc.freeze`), so the next reset's collection walks only what the last notebook made. Every
# `FULL_GC_EVERY` notebooks the frozen objects are unfrozen first, so garbage among them (a cache
# dropped since) is collected after all.
_RESET = """\
import gc as _gc, os as _os, sys as _sys
_os.chdir({cwd!r})
if "audit.display" in _sys.modules:
    _sys.modules["audit.display"].reset_ids()
if {full!r}:
    _gc.unfreeze()
get_ipython().reset(new_session=True)
__import__("gc").freeze()  # (the reset removed the name _gc)
"""
FULL_GC_EVERY = 100
_WARM: dict[str, Any] = {"km": None, "kc": None, "engine": None, "resets": 0}


def _warm_engine() -> str:
    """Register (once) and name the papermill engine that runs notebooks in the warm kernel."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    if _WARM["engine"] is not None:
        return _WARM["engine"]

    class WrittenWhenDone(NotebookExecutionManager):
        """papermill's record of the run, written to the executed notebook once, when the notebook
        has run, failed or lost its kernel, instead of also before and after every cell (each
        write re-validates the whole notebook: about a tenth of a second a branch page)."""

        done = False

        def save(self, **kwargs: Any) -> None:
            if self.done:
                super().save(**kwargs)

        def notebook_complete(self, **kwargs: Any) -> None:
            self.done = True
            super().notebook_complete(**kwargs)

    class WarmKernelEngine(NBClientEngine):
        @classmethod
        def execute_notebook(
            cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False, autosave_cell_every=30, **kwargs
        ):
            # papermill's `Engine.execute_notebook`, with the manager above
            nb_man = WrittenWhenDone(
                nb,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

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
    run's clean-up. Linux delivers SIGKILL to the worker when its parent dies; elsewhere (Windows)
    a watchdog thread ends the worker (`audit.portable.die_with_parent`). The worker's kernel
    exits on its own when the worker goes: ipykernel polls its parent."""
    from audit.portable import die_with_parent

    die_with_parent()


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
    """Make the warm kernel as new before the next notebook (`_RESET`), in the run folder `cwd`."""
    from jupyter_core.utils import run_sync

    _WARM["resets"] += 1
    code = _RESET.format(cwd=cwd, full=_WARM["resets"] % FULL_GC_EVERY == 0)

    async def reset() -> dict:
        return await kc.execute_interactive(code, silent=True, store_history=False, timeout=60)

    reply = run_sync(reset)()
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"内核重置失败：{reply['content'].get('evalue', '')}")


def _discard_warm_kernel() -> None:
    """Stop this process's warm kernel and its client, if any; the next notebook starts a new one."""
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


def page_workers(jobs: int, branches: list[str] | None) -> ProcessPoolExecutor:
    """The processes that execute the notebooks, started now: each starts its kernel while the run
    validates, so by the time the pages run their kernels are warm."""
    workers = max(1, min(jobs, len(branches) if branches else jobs))
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_warm_up)
    for _ in range(workers):  # one submission per worker, so all of them start (and warm up) now
        pool.submit(int)
    return pool
