"""Audit toolkit for party-branch records.

Public API for notebooks and exploration (see README, "Exploring in JupyterLab"):
    audit.load(run_folder) -> Dataset          a folder written by `audit validate` / `audit run`
    audit.load(run_folder, branch="XH01")      the same, only one branch's records (fast)
    audit.from_batch(batch_folder, quarter)    ingest and validate in memory
    audit.charts, audit.views                   chart functions and the tables behind them
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when called: `import audit` stays light
    from audit.dataset import Dataset
    from audit.periods import Quarter
    from audit.standard import Standard

__all__ = ["from_batch", "load"]


def load(root: Path | str, branch: str | None = None) -> Dataset:
    """A folder written by `audit validate` / `audit run`, with the standard that run used."""
    from audit.dataset import load as _load

    return _load(root, branch)


def from_batch(
    batch: Path | str,
    quarter: Quarter | str,
    standard: Standard | None = None,
    *,
    mapping: Path | str | None = None,
    cache: bool = True,
) -> Dataset:
    """Ingest and validate a batch in memory (no report written), for exploration; an unchanged
    file comes from the ingestion cache (``cache=False``: not used)."""
    from audit.dataset import from_batch as _from_batch

    return _from_batch(batch, quarter, standard, mapping=mapping, cache=cache)
