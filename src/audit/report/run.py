"""`audit run` itself: under the report folder's lock, into a temporary folder moved into place
only when complete, a short list of named steps, each timed (the manifest's `timings_seconds`)
and shown to the user by its Chinese name (`audit.labels.STEP_ZH`) as it runs:

    read       读取  the batch ingested; --quarter and --branch checked against its months and
                     branch list before anything slow starts (`audit.arguments`)
    quality    校验  the record-quality suites          (these three: `audit validate` of the
    facts      事实  the facts of the quarter            quarter, while the page workers warm
    checks     检查  the standard's suites, findings      up their kernels)
    export     导出  follow-up, reviewer decisions, sample, findings.xlsx, notices (`audit.followup`)
    notebooks  页面  the overview and one notebook per branch, executed in parallel, each branch
                     page exported to HTML by the worker that executed it
    html       页面  the overview page (failed branch pages marked), plotly.js, clean-up

then the manifest. See `audit.report` for the folder's layout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from audit.arguments import check_quarter, choose_branches
from audit.cache import refuse_inside_output
from audit.errors import AuditError
from audit.limits import Limits
from audit.mapping import ReviewerMapping
from audit.outputs import RunLock, check_output, clean_stale, discard_partial, make_parents, partial_folder, replace_folder
from audit.paths import NOTEBOOKS
from audit.periods import Quarter
from audit.report.kernel import BRANCH_NOTEBOOK, OVERVIEW_NOTEBOOK, NotebookStatus, ensure_kernel, materialise, page_workers
from audit.report.manifest import run_manifest, stopped_manifest, write_manifest
from audit.report.pages import Shell, branch_title, make_branch_page, make_overview_body, write_overview
from audit.standard import Standard, load_standard

if TYPE_CHECKING:
    from audit.ingest import Ingested
    from audit.validate import Validation

SOURCES = ".sources"  # the notebooks as .ipynb, made for papermill; removed once the pages are written
OVERVIEW_BODY = "overview.html"  # in SOURCES: the overview's exported body, before failed pages are marked


class RunError(AuditError):
    """The run could not start or finish; the message says why, in Chinese."""


class StepProgress(Protocol):
    """What a run tells the terminal as it goes: a step (a key of `audit.labels.STEP_ZH`) begins, advances
    (the pages: `done` of `total`, `detail` the branch just finished) and ends after `seconds`."""

    def begin(self, step: str) -> None: ...

    def advance(self, step: str, done: int, total: int, detail: str) -> None: ...

    def end(self, step: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """What a run was asked for besides the batch, the quarter and the report folder."""

    jobs: int | None = None
    branches: list[str] | None = None
    self_contained: bool = False
    seed: int = 2019
    sample_size: int = 3
    standard: Standard | None = None
    notebooks_dir: Path = NOTEBOOKS
    progress: StepProgress | None = None
    limits: Limits | None = None
    mapping: ReviewerMapping | None = None
    previous: Path | None = None
    decisions: Path | None = None
    deadline: dt.date | None = None
    cache: bool = True  # the ingestion cache (`audit.cache`) used; not a parameter of the report

    def parameters(self, quarter: Quarter, jobs: int) -> dict[str, Any]:
        """The run's parameters as the manifest records them (`jobs`: the processes used)."""
        return {
            "quarter": str(quarter),
            "jobs": jobs,
            "branches": self.branches or [],
            "self_contained": self.self_contained,
            "seed": self.seed,
            "sample_size": self.sample_size,
            "limits": (self.limits or Limits()).as_dict(),
            "deadline": self.deadline.isoformat() if self.deadline else None,
        }


@dataclass
class RunResult:
    """A finished run: where, what it found and which pages failed, how long each step took."""

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
    progress: StepProgress | None = None,
    limits: Limits | None = None,
    mapping: ReviewerMapping | None = None,
    previous: Path | None = None,
    decisions: Path | None = None,
    deadline: dt.date | None = None,
    cache: bool = True,
) -> RunResult:
    """Run the whole quarterly report into `out` (see `audit.report`). `out` is checked before any
    work and again under the lock (`audit.outputs`): never the batch or anything around or inside
    it, never a file or a folder the toolkit did not make. When nothing can be audited, `out` gets
    the ingest outputs and a manifest only, and ``NothingUsableError`` says so."""
    options = RunOptions(
        jobs,
        branches,
        self_contained,
        seed,
        sample_size,
        standard,
        notebooks_dir,
        progress,
        limits,
        mapping,
        previous,
        decisions,
        deadline,
        cache,
    )
    out = check_output(out, kind="run", batch=batch)
    if cache:
        refuse_inside_output(out)  # before the folder is made: it would hold the cache, not only outputs
    make_parents(out)
    with RunLock(out, command="run"):
        out = check_output(out, kind="run", batch=batch)
        _clean_stale_partials(out)
        try:
            return _run_locked(batch, quarter, out, options)
        except BaseException:
            discard_partial(out)  # wherever the interrupt or error came, no temporary folder stays
            raise


class _Steps:
    """The seconds each step of the run took, by its name, in the order they ran, each step told
    to `progress` as it begins and ends. A step ends when the next begins, or at `end`."""

    def __init__(self, progress: StepProgress | None) -> None:
        self.seconds: dict[str, float] = {}
        self.progress = progress
        self.current: str | None = None
        self.clock = 0.0

    def begin(self, name: str) -> None:
        """Step `name` begins (the current one, if any, has ended)."""
        self.end()
        self.current, self.clock = name, time.perf_counter()
        if self.progress is not None:
            self.progress.begin(name)

    def advance(self, done: int, total: int, detail: str) -> None:
        """The current step has done `done` of `total` (`detail`: what it just finished)."""
        if self.progress is not None and self.current is not None:
            self.progress.advance(self.current, done, total, detail)

    def end(self) -> None:
        """The current step has ended (a step that fails is not recorded: the run stops)."""
        if self.current is None:
            return
        name, self.current = self.current, None
        self.seconds[name] = round(time.perf_counter() - self.clock, 2)
        if self.progress is not None:
            self.progress.end(name, self.seconds[name])

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time the block as step `name`."""
        self.begin(name)
        yield
        self.end()


def _run_locked(batch: Path, quarter: Quarter, out: Path, options: RunOptions) -> RunResult:
    """The run, once `out` is locked: the steps, the manifest, then the folder moved into place."""
    from audit.followup import write_follow_up
    from audit.ingest import ingest
    from audit.validate import nothing_usable
    from audit.workbook import branch_names

    standard = options.standard or load_standard()
    jobs = options.jobs or os.cpu_count() or 1
    steps = _Steps(options.progress)
    tmp = partial_folder(out)  # marked as this run's, so only it is ever cleared away
    pool = None
    background = ThreadPoolExecutor(max_workers=1)  # the branch partition, beside the export
    partition: Future[None] | None = None
    try:
        steps.begin("read")
        ingested = ingest(batch, limits=options.limits, mapping=options.mapping, cache=options.cache, jobs=jobs)
        if nothing_usable(ingested) is not None:  # raises, with the ingest report in `out`
            _validate(batch, quarter, standard, tmp, out, options, ingested, steps, jobs)
        selected = _checked_arguments(ingested, quarter, options.branches)  # before anything slow starts
        ensure_kernel()
        pool = page_workers(jobs, selected)
        result = _validate(batch, quarter, standard, tmp, out, options, ingested, steps, jobs)
        steps.end()
        tables = result.ingested.tables
        # the tables partitioned by branch for the pages (`audit.partition`: polars, which leaves
        # the interpreter free) while the export's Python runs: on the core it would leave idle
        from audit.partition import write_branch_copies

        partition = background.submit(write_branch_copies, dict(tables), tmp / "tables")
        with steps.timed("export"):
            extras = write_follow_up(
                tmp,
                out,
                batch,
                quarter,
                standard,
                result,
                selected,
                options.seed,
                options.sample_size,
                options.previous,
                options.decisions,
                options.deadline,
            )
        names = branch_names(tables)
        shell = Shell.of(quarter, standard, options.self_contained)
        with steps.timed("notebooks"):
            statuses, overview = _execute_notebooks(pool, tmp, quarter, selected, options, steps, names, shell, partition)
        with steps.timed("html"):
            write_overview(tmp, quarter, shell, names, statuses, overview, tmp / SOURCES / OVERVIEW_BODY)
            shutil.rmtree(tmp / SOURCES)
        notebooks = [*statuses, overview]
        parameters = {**options.parameters(quarter, jobs), "branches": selected if options.branches else []}  # codes, as resolved
        extra = extras.manifest()
        write_manifest(
            tmp,
            run_manifest(batch, result, standard, parameters, options.mapping, extra, steps.seconds, notebooks, _docs_pages(tmp)),
        )
        _move_into_place(tmp, out)
    except BaseException:
        background.shutdown(wait=True)  # nothing may still write into what is removed
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        background.shutdown(wait=True)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)  # workers stop their kernels as they exit
    size = _folder_size(out)
    return RunResult(
        out, quarter, result.findings.height, selected, notebooks, steps.seconds, size, options.seed, result, extras.notes
    )


def _checked_arguments(ingested: Ingested, quarter: Quarter, branches: list[str] | None) -> list[str]:
    """The branches to make pages for (their codes, however they were written), once the quarter
    is known to lie inside the batch's months and every branch asked for is in its branch list:
    the checks and messages of `audit.load` (`audit.arguments`)."""
    from audit.facts import data_window

    check_quarter(quarter, data_window(ingested.tables))
    return choose_branches(ingested.tables["branches"], branches)


def _validate(
    batch: Path,
    quarter: Quarter,
    standard: Standard,
    tmp: Path,
    out: Path,
    options: RunOptions,
    ingested: Ingested,
    steps: _Steps,
    jobs: int,
) -> Validation:
    """Steps quality, facts, checks: `audit validate` of the batch already read, into the run's
    folder, with GX Data Docs (the record-quality suites in a helper process when ``jobs`` > 1 and
    the batch is large: `audit.quality.QualityJob`). When nothing can be audited, the reviewer
    still gets the ingest report, quarantine and column map, with a manifest saying why, in `out`."""
    from audit.validate import NothingUsableError, validate

    try:
        return validate(
            batch,
            quarter,
            standard,
            out=tmp,
            data_docs=True,
            limits=options.limits,
            mapping=options.mapping,
            ingested=ingested,
            step=steps.begin,
            jobs=jobs,
        )
    except NothingUsableError as exc:
        write_manifest(tmp, stopped_manifest(batch, exc.ingested, quarter, options.limits, options.mapping, str(exc)))
        _move_into_place(tmp, out)
        raise NothingUsableError(str(exc), exc.ingested, out) from None


def _execute_notebooks(
    pool: ProcessPoolExecutor,
    tmp: Path,
    quarter: Quarter,
    selected: list[str],
    options: RunOptions,
    steps: _Steps,
    names: dict[str, str],
    shell: Shell,
    partition: Future[None],
) -> tuple[list[NotebookStatus], NotebookStatus]:
    """Step notebooks: the overview (first in the queue) and each branch's notebook, executed in
    the page workers' warm kernels into `notebooks/`, each branch page exported and written by the
    worker that executed it (`pages.make_branch_page`); how each ran in `run_status.json`. The
    branch pages start once `partition` (the canonical tables partitioned by branch for them to
    read, `audit.partition`, begun before the export) is written. Failed pages are marked in the
    overview's branch table afterwards (`pages.write_overview`)."""
    (tmp / "notebooks").mkdir()
    (tmp / "branches").mkdir()
    sources = tmp / SOURCES
    sources.mkdir()
    branch_source = materialise(options.notebooks_dir / BRANCH_NOTEBOOK, sources / "branch_report.ipynb")
    overview_source = materialise(options.notebooks_dir / OVERVIEW_NOTEBOOK, sources / "overview.ipynb")
    statuses: list[NotebookStatus] = []
    try:
        overview_future = pool.submit(
            make_overview_body,
            str(overview_source),
            str(tmp),
            {"processed": ".", "quarter": str(quarter), "output": ".", "pages": selected if options.branches else None},
            str(sources / OVERVIEW_BODY),
        )
        partition.result()  # the branch pages read the partition (written during the export)
        futures = {
            pool.submit(
                make_branch_page,
                str(branch_source),
                str(tmp),
                {"processed": ".", "quarter": str(quarter), "branch_id": b, "output": "."},
                b,
                branch_title(names.get(b, b), quarter),
                shell,
            ): b
            for b in selected
        }
        for n, future in enumerate(as_completed(futures), start=1):
            statuses.append(future.result())
            steps.advance(n, len(selected), futures[future])
        overview = overview_future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    statuses.sort(key=lambda s: s.name)
    status_map = {s.name: {"status": s.status, "cell": s.cell, "error": s.error} for s in statuses}
    (tmp / "run_status.json").write_text(json.dumps(status_map, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return statuses, overview


def _docs_pages(folder: Path) -> int:
    """The GX Data Docs pages written into the report."""
    docs = folder / "data-docs"
    return len(list(docs.rglob("*.html"))) if docs.exists() else 0


def _folder_size(folder: Path) -> int:
    """Bytes of every file below `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _clean_stale_partials(out: Path) -> None:
    """Remove what earlier killed runs left next to `out`, and only what they provably made."""
    clean_stale(out)


def _move_into_place(tmp: Path, out: Path) -> None:
    """Replace the previous report only once the new one is complete, and only if audit made it
    (its marker is re-checked right before the rename; `audit.outputs.replace_folder`)."""
    replace_folder(tmp, out, kind="run")
