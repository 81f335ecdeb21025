"""`audit run`: validation, then the report notebooks executed by papermill and exported to
offline HTML, the Excel workbook and the manifest, written to a temporary folder and moved into
place only when complete.

Layout of a report folder:
    index.html                 the sub-district overview (links every branch page)
    branches/<branch_id>.html  one page per branch
    assets/plotly.min.js       one copy of plotly.js for every page (unless --self-contained)
    notebooks/                 the executed notebooks (provenance)
    tables/by_branch/          the canonical tables partitioned by branch, with their index: what
                               each branch page reads (`audit.partition`); as large as tables/
                               (a district: 9 MB, about 5% of its report)
    findings.xlsx, manifest.json, + the outputs of `audit validate`
    followup.csv, decisions_applied.csv, notices/  整改跟踪, reviewer decisions, 整改通知书 (`audit.followup`)

Each page worker executes a branch's notebook in its warm kernel and exports and writes the page
itself; the run writes the overview once every page is done (it marks the failed ones).

Modules: `run` (the run as named, timed steps), `kernel` (the Jupyter kernel, papermill and the
warm kernels of the page workers), `pages` (the offline HTML pages, exported by the workers) and
`manifest` (`manifest.json` and `audit verify-manifest`).
"""

from __future__ import annotations

from audit.errors import EXIT_BRANCH_FAILED
from audit.outputs import RunLock
from audit.report.kernel import (
    KERNEL_NAME,
    NotebookStatus,
    _discard_warm_kernel,
    ensure_kernel,
    execute,
    materialise,
    notebook_name,
)
from audit.report.manifest import ManifestError, Verification, verify_manifest
from audit.report.pages import failure_body, mark_failed_pages, notebook_body, page, plotly_tag
from audit.report.run import RunError, RunOptions, RunResult, _clean_stale_partials, _move_into_place, run_report

__all__ = [
    "EXIT_BRANCH_FAILED",
    "KERNEL_NAME",
    "ManifestError",
    "NotebookStatus",
    "RunError",
    "RunLock",
    "RunOptions",
    "RunResult",
    "Verification",
    "_clean_stale_partials",
    "_discard_warm_kernel",
    "_move_into_place",
    "ensure_kernel",
    "execute",
    "failure_body",
    "mark_failed_pages",
    "materialise",
    "notebook_body",
    "notebook_name",
    "page",
    "plotly_tag",
    "run_report",
    "verify_manifest",
]
