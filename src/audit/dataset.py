"""The public API for notebooks and ad-hoc exploration.

import audit
ds = audit.load("reports/2019Q1")                 # a validated run folder
ds = audit.from_batch("data/raw/xinhua-2019", "2019Q1")   # or straight from exports
ds.findings_for("XH01"); ds.branch_charts("XH01")["dues"].figure.show()
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from audit import charts, views
from audit.arguments import BranchChoiceError, check_quarter, existing_folder, parse_quarter, resolve_branch
from audit.charts import Chart
from audit.coverage import empty_coverage, unevaluable
from audit.errors import AuditError
from audit.facts import data_window
from audit.ingest import TableFiles, branch_tables
from audit.io import read_table
from audit.paths import STANDARD_FILE
from audit.periods import Quarter
from audit.readers import sha256_file
from audit.standard import Standard, StandardError, load_standard


class StandardChangedError(StandardError):
    """The standard file a run used has changed or is gone, so its thresholds can no longer be shown."""


@dataclass
class Dataset:
    """One batch's canonical tables and one quarter's validation results."""

    quarter: Quarter
    standard: Standard
    tables: Mapping[str, pl.DataFrame]  # a folder's tables are read when first used (`TableFiles`)
    findings: pl.DataFrame
    scorecard: pl.DataFrame
    quality: pl.DataFrame = field(default_factory=pl.DataFrame)
    quarantine: pl.DataFrame = field(default_factory=pl.DataFrame)
    progress: pl.DataFrame = field(default_factory=pl.DataFrame)
    coverage: pl.DataFrame = field(default_factory=empty_coverage)  # what each rule part could judge (`audit.coverage`)
    previous_scorecard: pl.DataFrame | None = None
    sample: pl.DataFrame | None = None
    root: Path | None = None
    window: tuple[dt.date, dt.date] | None = None  # the batch's data window (first and last month)
    # a branch id when the tables, coverage, progress and sample were cut to one branch (`load(..., branch=)`)
    scope: str | None = None

    @property
    def branches(self) -> pl.DataFrame:
        """The branch list, sorted by id."""
        return self.tables["branches"].sort("branch_id")

    def branch_id(self, branch: str) -> str:
        """The code of the branch `branch` names, as `audit run --branch` reads it (its code in any
        case, its name, or a part of its name only it has: `audit.arguments.resolve_branch`); a
        branch not in the data, or outside a dataset cut to one branch, is a `BranchChoiceError`."""
        found = resolve_branch(self.branches, branch)
        if self.scope is not None and found != self.scope:
            raise BranchChoiceError(f"这个数据集只载入了支部 {self.scope} 的记录，不能用于 {found}")
        return found

    def branch(self, branch_id: str) -> dict[str, Any]:
        """The branch's row of the branch list."""
        found = self.branch_id(branch_id)
        return self.branches.filter(pl.col("branch_id") == found).to_dicts()[0]

    def findings_for(self, branch_id: str) -> pl.DataFrame:
        """The branch's findings of the quarter."""
        return self.findings.filter(pl.col("branch_id") == self.branch_id(branch_id))

    def unevaluable_for(self, branch_id: str) -> pl.DataFrame:
        """The branch's rule parts the data did not allow to judge this quarter (无法评估), by period, with why."""
        return unevaluable(self.coverage).filter(pl.col("branch_id") == self.branch_id(branch_id))

    def rating(self, branch_id: str) -> dict[str, Any]:
        """The branch's scorecard row: each dimension's status, counts by severity and the rating."""
        return self.scorecard.filter(pl.col("branch_id") == self.branch_id(branch_id)).to_dicts()[0]

    def branch_charts(self, branch_id: str, quarter: Quarter | str | None = None) -> dict[str, Chart]:
        """Every chart of a branch page, for this (or another) quarter of the batch; a quarter
        outside the batch's data is refused as `audit run --quarter` refuses it."""
        q = self.quarter if quarter is None else parse_quarter(quarter)
        check_quarter(q, self._window())
        branch_id = self.branch_id(branch_id)
        t, std = self.tables, self.standard
        trend, missing = views.points_trend(t, branch_id, q, self.window)
        return {
            "meetings": charts.meeting_frequency(views.meeting_counts(t, branch_id, q, std)),
            "theme_days": charts.theme_day_dates(views.theme_days(t, branch_id, q), std.rule("OL-5").threshold("day_of_month")),
            "attendance": charts.attendance(views.attendance_rates(t, branch_id, q)),
            "points": charts.points_trend(trend, missing),
            "dues": charts.dues_completeness(views.dues_by_month(t, branch_id, q)),
            "arrears": charts.arrears_ageing(views.arrears_buckets(views.arrears(t, q, std, branch_id, self.window), std)),
        }

    def _window(self) -> tuple[dt.date, dt.date] | None:
        """The batch's data window: as the run recorded it, else from the tables."""
        return self.window or data_window(self.tables)

    def points_missing(self, branch_id: str) -> pl.DataFrame:
        """Members of the branch with months without points over the last four quarters."""
        return views.points_trend(self.tables, self.branch_id(branch_id), self.quarter, self.window)[1]

    def arrears(self, branch_id: str | None = None) -> pl.DataFrame:
        """Members in arrears at the quarter's end (one branch, or every branch)."""
        if branch_id is None and self.scope is not None:
            raise BranchChoiceError(f"这个数据集只载入了支部 {self.scope} 的记录，不能用于全街道")
        found = None if branch_id is None else self.branch_id(branch_id)
        return views.arrears(self.tables, self.quarter, self.standard, found, self.window)

    def overview_charts(self) -> dict[str, Chart]:
        """Every chart of the overview page."""
        comparison = views.quarter_comparison(self.scorecard, self.previous_scorecard)
        return {
            "heatmap": charts.compliance_heatmap(views.compliance_matrix(self.findings, self.branches, self.quarter)),
            "ratings": charts.ratings(self.scorecard, self.standard.ratings),
            "comparison": charts.quarter_comparison(  # both quarters counted from this batch, not from a report
                comparison, self.quarter.zh, self.quarter.previous.zh, "本季度与上季度问题数对比（均按本批次记录计算）"
            ),
            "arrears": charts.arrears_ageing(views.arrears_buckets(self.arrears(), self.standard), title="全街道欠缴党费账龄"),
        }


def _typed_scorecard(frame: pl.DataFrame | None) -> pl.DataFrame | None:
    """The severity counts as Int64 whatever wrote them (an empty scorecard stays as it is)."""
    if frame is None or frame.is_empty():
        return frame
    return frame.with_columns(pl.col("warnings", "errors", "critical").cast(pl.Int64))


def _coverage(frame: pl.DataFrame | None) -> pl.DataFrame:
    """The run's coverage table; a folder written before coverage existed has none (all rows judged)."""
    return empty_coverage() if frame is None else frame


def _branch_rows(root: Path, stem: str, branch: str | None) -> pl.DataFrame | None:
    """A table of the run (`read_table`), only `branch`'s rows when one is given: a city's
    coverage has 880,000 rows, 88 of them a branch's (filtered as the Parquet file is read)."""
    path = root / f"{stem}.parquet"
    if branch is None or not path.exists():
        return read_table(root, stem)
    scan = pl.scan_parquet(path)
    return (scan.filter(pl.col("branch_id") == branch) if "branch_id" in scan.collect_schema() else scan).collect()


def _or_empty(frame: pl.DataFrame | None) -> pl.DataFrame:
    """A table that was not written reads as an empty frame."""
    return pl.DataFrame() if frame is None else frame


def run_standard(root: Path, meta: dict[str, Any]) -> Standard:
    """The standard the run in `root` was validated with, as its `validation.json` records it, so the
    pages show the thresholds the findings were judged by. A file changed or gone since the run is
    refused (its thresholds may differ); a folder from before the file was recorded gets the default
    standard with a warning."""
    recorded = meta.get("standard") or {}
    path_text, digest = recorded.get("path"), recorded.get("sha256")
    record = root / "validation.json"
    if not path_text or not digest:
        warnings.warn(
            f"{record} 没有记录审核所用的标准文件（由旧版本生成），按默认标准 {STANDARD_FILE} 显示阈值，"
            "可能与当时的审核不同；用当前版本重新运行审核即可记录",
            UserWarning,
            stacklevel=3,
        )
        return load_standard()
    path = Path(path_text)
    try:
        now = sha256_file(path)
    except OSError:
        raise StandardChangedError(
            f"找不到审核所用的标准文件 {path}（{record} 记录的 SHA-256 为 {digest[:12]}…）；"
            "请恢复该文件，或用现有标准重新运行审核"
        ) from None
    if now != digest:
        raise StandardChangedError(
            f"标准文件 {path} 在审核之后被修改：审核时 SHA-256 为 {digest[:12]}…，现在为 {now[:12]}…；"
            "页面的阈值会与问题清单不一致，请用修改后的标准重新运行审核，或恢复原文件"
        )
    return load_standard(path)


class ReportFolderError(AuditError):
    """The folder given to `audit.load` is not one `audit run` or `audit validate` wrote."""


def _run_record(root: Path) -> dict[str, Any]:
    """What the run in `root` recorded about itself; a folder that is not an audit report (missing,
    a file, a quarter not audited, a run that stopped) is a `ReportFolderError` saying so."""
    if root.is_file():
        raise ReportFolderError(f"{root} 是文件，不是文件夹：请给出 audit run 或 audit validate 生成的报告文件夹")
    if not root.is_dir():
        made = sorted(p.name for p in root.parent.glob("*") if (p / "validation.json").is_file()) if root.parent.is_dir() else []
        what = f"找不到报告文件夹 {root}"
        if re.fullmatch(r"\d{4}[Qq]\d+", root.name) and not re.fullmatch(r"\d{4}[Qq][1-4]", root.name):
            what += f"（「{root.name}」不是有效的季度，季度为 1 至 4，如 2019Q1）"
        there = f"；{root.parent} 中已有的报告：{'、'.join(made)}" if made else ""
        raise ReportFolderError(f"{what}{there}；报告由 audit run 数据批次 --quarter 季度 生成")
    record = root / "validation.json"
    if not record.is_file():
        outcome = _stopped(root)
        if outcome:
            raise ReportFolderError(f"{root} 中的审核没有完成：{outcome}；请按导入报告修正数据后重新运行 audit run")
        raise ReportFolderError(f"{root} 不是审核报告文件夹（不是 audit run 或 audit validate 生成的）")
    try:
        meta: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
        Quarter.parse(meta["quarter"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ReportFolderError(f"{root} 中的审核记录已损坏或不完整；请重新运行 audit run") from None
    return meta


def _stopped(root: Path) -> str | None:
    """Why the run that wrote `root` stopped before auditing (its manifest's outcome), if it did."""
    try:
        outcome = json.loads((root / "manifest.json").read_text(encoding="utf-8")).get("outcome")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return outcome if isinstance(outcome, str) and outcome else None


_STANDARDS: dict[tuple[str, str], Standard] = {}  # by the path and SHA-256 a run recorded (`_standard`)


def _standard(root: Path, meta: dict[str, Any]) -> Standard:
    """`run_standard`, read once per process while the file is unchanged (same SHA-256): a page
    worker's kernel loads the same run's standard for every branch page."""
    recorded = meta.get("standard") or {}
    key = (str(recorded.get("path") or ""), str(recorded.get("sha256") or ""))
    if key in _STANDARDS:
        try:
            if sha256_file(Path(key[0])) == key[1]:
                return _STANDARDS[key]
        except OSError:
            pass  # gone: `run_standard` says so
    standard = run_standard(root, meta)
    if all(key):
        _STANDARDS[key] = standard
    return standard


def load(root: Path | str, branch: str | None = None) -> Dataset:
    """Load a folder written by `audit validate` or `audit run`; with `branch`, only that branch's
    records are read (what a branch page needs, a fraction of a district's batch). The standard is
    the one the run used (`run_standard`). Tables are read from their Parquet copies: the CSVs are
    for people (their text is formula-safe for Excel). `branch` is read as `--branch` reads it
    (code in any case, or name); a folder that is not an audit report, or a branch not in it, is
    refused in Chinese (an `AuditError`)."""
    root = Path(root)
    meta = _run_record(root)
    if branch is not None:
        branch = resolve_branch(pl.read_parquet(root / "tables" / "branches.parquet"), branch)
    first, last = meta.get("window") or (None, None)
    return Dataset(
        quarter=Quarter.parse(meta["quarter"]),
        standard=_standard(root, meta),
        tables=TableFiles(root) if branch is None else branch_tables(root, branch),
        findings=pl.read_parquet(root / "findings.parquet"),
        scorecard=_or_empty(_typed_scorecard(read_table(root, "scorecard"))),
        quality=_or_empty(read_table(root, "data_quality")),
        quarantine=_or_empty(read_table(root, "quarantine")),
        progress=_or_empty(_branch_rows(root, "progress", branch)),
        coverage=_coverage(_branch_rows(root, "coverage", branch)),
        previous_scorecard=_typed_scorecard(read_table(root, "previous_scorecard")),
        sample=_branch_rows(root, "sample", branch),
        root=root,
        window=(dt.date.fromisoformat(first), dt.date.fromisoformat(last)) if first and last else None,
        scope=branch,
    )


def from_batch(
    batch: Path | str,
    quarter: Quarter | str,
    standard: Standard | None = None,
    *,
    mapping: Path | str | None = None,
    cache: bool = True,
) -> Dataset:
    """Ingest and validate a batch in memory (no files written to the report): for exploration.
    ``mapping``: the reviewer's mapping file (see the data dictionary); ``cache=False``: the
    ingestion cache (`audit.cache`) neither read nor written. The quarter is checked against the batch's
    data before the (slow) validation, as `audit run` checks it."""
    from audit.contract import load_contract
    from audit.ingest import ingest
    from audit.mapping import load_mapping
    from audit.validate import NothingUsableError, nothing_usable, validate_tables

    period = parse_quarter(quarter)
    ingested = ingest(
        existing_folder(batch, "数据批次"),
        mapping=load_mapping(mapping, load_contract()) if mapping is not None else None,
        cache=cache,
    )
    if (why := nothing_usable(ingested)) is not None:
        raise NothingUsableError(why, ingested, None)
    window = data_window(ingested.tables)
    check_quarter(period, window)
    result = validate_tables(ingested.tables, period, standard, cache=cache)
    return Dataset(
        quarter=result.quarter,
        standard=result.standard,
        tables=ingested.tables,
        findings=result.findings,
        scorecard=result.scorecard,
        quality=result.quality,
        quarantine=ingested.quarantine,
        progress=result.facts.progress,
        coverage=result.coverage,
        window=window,
    )
