"""Helpers for rule tests: take a compliant generated world, break one thing, write real export
files with the same exporter the sample uses, and run the real validation on them."""

from __future__ import annotations

import copy
import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from audit.standard import Standard
from audit.synth import SynthConfig, World, generate, write_world
from audit.validate import Validation, validate

BASE = SynthConfig(seed=11, branches=3, members=36, start="2018-07", end="2019-12", plant=False)


@cache
def _base() -> World:
    return generate(BASE)


def world() -> World:
    """A fresh, fully compliant world (3 branches, 2018-07 .. 2019-12) to edit."""
    return copy.deepcopy(_base())


def quality_world() -> World:
    """A compliant world with four problems only the record-quality suites catch (ingestion lets them
    through): a meeting outside the batch's window, a birth date in the future, points beyond the
    configured bounds, more present than expected."""
    w = world()
    meeting = next(m for m in w.tables["meetings"] if m["meeting_type"] == "集中学习")
    meeting["held_on"] = dt.date(2021, 3, 1)  # outside the batch's window
    w.tables["members"][3]["birth_date"] = dt.date(2099, 1, 1)  # in the future
    w.tables["points"][0]["total_points"] = 999.0  # beyond the configured bounds
    w.tables["meetings"][0]["present_count"] = 99  # more present than expected
    return w


def audit(w: World, tmp_path: Path, quarter: str, standard: Standard | None = None) -> Validation:
    batch = tmp_path / f"batch-{quarter}"
    write_world(w, batch)
    return validate(batch, quarter, standard, data_docs=False)


def keys(v: Validation) -> set[tuple[str, str, str, str, str]]:
    """(rule_id, severity, branch_id, subject_id, period) of every finding."""
    return {(r["rule_id"], r["severity"], r["branch_id"], r["subject_id"], r["period"]) for r in v.findings.iter_rows(named=True)}


def one(v: Validation, rule_id: str) -> dict[str, Any]:
    rows = v.findings.filter(pl.col("rule_id") == rule_id).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def month(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[5:7]), 1)


def meetings(w: World, branch: str, kind: str, ym: str | None = None) -> list[dict[str, Any]]:
    return [
        m
        for m in w.tables["meetings"]
        if m["branch_id"] == branch and m["meeting_type"] == kind and (ym is None or f"{m['held_on']:%Y-%m}" == ym)
    ]


def drop_meeting(w: World, meeting: dict[str, Any]) -> None:
    w.tables["meetings"].remove(meeting)
    w.tables["attendance"] = [a for a in w.tables["attendance"] if a["meeting_id"] != meeting["meeting_id"]]


def members(w: World, branch: str) -> list[dict[str, Any]]:
    return [m for m in w.tables["members"] if m["branch_id"] == branch]


def plain_member(w: World, branch: str, n: int = 0) -> dict[str, Any]:
    """A member present all window long, not on the committee, not the secretary."""
    branch_row = next(b for b in w.tables["branches"] if b["branch_id"] == branch)
    committee = {branch_row["secretary_id"], branch_row["organizer_id"]}
    people = [
        m
        for m in members(w, branch)
        if m["member_id"] not in committee
        and m["transferred_in_on"] is None
        and m["transferred_out_on"] is None
        and m["joined_on"] < dt.date(2018, 7, 1)
        and m["member_type"] == "正式党员"
    ]
    return people[n + 2]  # skip the rest of the committee (the first members of a branch)


def row(w: World, table: str, member_id: str, ym: str) -> dict[str, Any]:
    return next(r for r in w.tables[table] if r["member_id"] == member_id and f"{r['month']:%Y-%m}" == ym)


def secretary(w: World, branch: str) -> str:
    return next(b for b in w.tables["branches"] if b["branch_id"] == branch)["secretary_id"]


def quarter_of(period: str) -> str:
    """The quarter whose audit reports a finding of this period: a month's or a quarter's own, a
    half-year's or a year's last."""
    year = period[:4]
    if "-" in period:
        return f"{year}Q{(int(period[5:]) - 1) // 3 + 1}"
    if "Q" in period:
        return period
    if "H" in period:
        return f"{year}Q{2 if period.endswith('1') else 4}"
    return f"{year}Q4"
