"""Audit toolkit for party-branch records.

Public API for notebooks and exploration (see README, "Exploring in JupyterLab"):
    audit.load(run_folder) -> Dataset          a folder written by `audit validate` / `audit run`
    audit.load(run_folder, branch="XH01")      the same, only one branch's records (fast)
    audit.from_batch(batch_folder, quarter)    ingest and validate in memory
    audit.charts, audit.views                   chart functions and the tables behind them
"""

from __future__ import annotations

__all__ = ["from_batch", "load"]


def load(root, branch=None):
    from audit.dataset import load as _load

    return _load(root, branch)


def from_batch(batch, quarter, standard=None):
    from audit.dataset import from_batch as _from_batch

    return _from_batch(batch, quarter, standard)
