"""Validation: a batch (or its canonical tables) and a quarter in, findings and scorecard out.

ingest -> amount due derived from the base where the export gives none (`audit.dues`) -> the
committee list's office holders in the quarter (`audit.offices.offices_for_period`) ->
record-quality suites -> facts -> coverage (what the data lets each rule part judge; the checked
columns of what it does not set to null, in the facts and in the open periods' progress) ->
standard suites -> findings -> scorecard.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from audit.cache import IngestCache, quality_key, refuse_inside_output
from audit.coverage import coverage_and_partial, empty_coverage, withhold, withhold_progress
from audit.dues import due_notices, with_derived_dues
from audit.facts import FACTS, Facts, QuarterOutOfRangeError, compute_facts, data_window
from audit.findings import assessed_rules, collect_findings, scorecard
from audit.ingest import Ingested, ingest
from audit.io import write_table
from audit.limits import Limits
from audit.mapping import ReviewerMapping
from audit.offices import offices_for_period
from audit.outputs import output_folder
from audit.paths import EXPECTATIONS
from audit.periods import Quarter
from audit.quality import QualityJob, collect_quality, quality_parameters, run_quality
from audit.standard import SEVERITIES, Standard, load_standard
from audit.suites import SuiteRun, Validator, build_standard_suites, offline_data_docs

# What `Validation.write` puts in a folder: removed when a later run there has nothing to audit, so
# no earlier findings sit beside the new ingest report as if they were current.
VALIDATION_OUTPUTS = (
    *(
        f"{stem}.{ext}"
        for stem in ("findings", "scorecard", "coverage", "data_quality", "progress")
        for ext in ("csv", "parquet")
    ),
    "validation.json",
)
VALIDATION_FOLDERS = ("facts", "data-docs")


class NothingUsableError(QuarterOutOfRangeError):
    """Nothing to audit remains once the batch is read: no usable row, or no dues, points or
    meeting record. The ingest report, quarantine and column map were written to ``out`` (when
    given) so the reviewer sees why."""

    def __init__(self, message: str, ingested: Ingested, out: Path | None):
        super().__init__(message)
        self.ingested, self.out = ingested, out


def nothing_usable(ingested: Ingested) -> str | None:
    """Why nothing in an ingested batch can be audited, or None when something can."""
    if not ingested.usable:
        return "没有任何可用的数据行，无法审核"
    if data_window(ingested.tables) is None:
        return "数据中没有任何党费、积分或会议记录，无法审核"
    return None


def _clear_validation_outputs(folder: Path) -> None:
    """Remove an earlier validation's outputs from a folder being written (regular files and real
    folders only: a symlink is never followed)."""
    for name in VALIDATION_OUTPUTS:
        path = folder / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    for name in VALIDATION_FOLDERS:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)


@dataclass
class Validation:
    quarter: Quarter
    standard: Standard
    facts: Facts
    findings: pl.DataFrame
    scorecard: pl.DataFrame
    quality: pl.DataFrame
    ingested: Ingested | None = None
    warnings: list[str] = field(default_factory=list)
    coverage: pl.DataFrame = field(default_factory=empty_coverage)  # `audit.coverage`: what could be judged

    def at_or_above(self, severity: str) -> int:
        levels = SEVERITIES[SEVERITIES.index(severity) :]
        return self.findings.filter(pl.col("severity").is_in(levels)).height

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        if self.ingested is not None:
            self.ingested.write(out)
        write_table(self.findings, out, "findings")
        write_table(self.scorecard, out, "scorecard")
        write_table(self.coverage, out, "coverage")
        write_table(self.quality, out, "data_quality")
        write_table(self.facts.progress, out, "progress")  # also when empty: no stale copy survives a re-run
        facts_dir = out / "facts"
        facts_dir.mkdir(exist_ok=True)
        for name, frame in self.facts.tables.items():
            frame.write_parquet(facts_dir / f"{name}.parquet", statistics=False)
        meta = {
            "quarter": str(self.quarter),
            "standard": self._standard_record(),
            "window": [self.facts.window[0].isoformat(), self.facts.window[1].isoformat()],
            "warnings": self.warnings,
            "findings": self.findings.height,
        }
        (out / "validation.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    def _standard_record(self) -> dict[str, str]:
        """The standard's name and version, and the file it was read from (made absolute) with the
        SHA-256 of its bytes: `audit.load` shows the thresholds of that file and refuses it once it
        has changed. The file must still read as the standard this validation used: edited while
        the audit ran, it is refused now rather than recorded with thresholds the findings did not use."""
        from audit.dataset import StandardChangedError
        from audit.readers import sha256_file

        record = {"name": self.standard.name, "version": self.standard.version}
        if self.standard.path is None:  # built in code, not read from a file: nothing to point to
            return record
        try:
            digest = sha256_file(self.standard.path)
        except OSError:
            raise StandardChangedError(f"审核过程中标准文件 {self.standard.path} 不见了；请恢复该文件后重新运行审核") from None
        if load_standard(self.standard.path) != self.standard:
            raise StandardChangedError(
                f"标准文件 {self.standard.path} 在审核过程中被修改，与本次审核所用的标准不一致；请重新运行审核"
            )
        return {**record, "path": str(self.standard.path.absolute()), "sha256": digest}


def validate_tables(
    tables: dict[str, pl.DataFrame],
    quarter: Quarter | str,
    standard: Standard | None = None,
    *,
    data_docs: Path | None = None,
    today: dt.date | None = None,
    step: Callable[[str], None] | None = None,
    record_quality: bool = True,
    cache: bool = False,
    jobs: int = 1,
) -> Validation:
    """Run both kinds of suites on canonical tables for one quarter. ``step`` (`audit run`'s
    progress) is told as each step begins: ``quality``, ``facts``, ``checks``. Without
    ``record_quality`` the record-quality suites are not run (the result's ``quality`` is empty):
    for another quarter's findings of the same tables, whose record quality is already known.
    With ``cache`` and no ``data_docs``, the record-quality result of the same tables, parameters,
    suites and code is taken from the cache (`audit.cache.quality_key`) or kept there; with Data
    Docs the suites always run (the pages are GX's account of that run). With ``jobs`` > 1 and
    tables large enough, a helper process runs the record-quality suites while this one computes
    the facts and runs the checks (`audit.quality.QualityJob`; the same findings and pages)."""
    step = step or (lambda name: None)
    step("quality")
    quarter = Quarter.parse(quarter) if isinstance(quarter, str) else quarter
    standard = standard or load_standard()
    if data_docs is not None and data_docs.exists():
        shutil.rmtree(data_docs)
    tables = with_derived_dues(tables, standard)  # 应交金额 from the base where the export gives none
    tables = offices_for_period(tables, quarter.start, quarter.end)  # the committee's holders in the quarter
    kept = IngestCache(None) if cache and data_docs is None else None
    checking = _RecordQuality(tables, standard, today, kept, data_docs, jobs) if record_quality else None
    try:
        validator = Validator(data_docs=data_docs)  # (GX imported here while a helper imports it too)
        if checking is not None:
            checking.run_unless_started(validator)
        step("facts")
        facts = compute_facts(tables, standard, quarter)
        # what the data lets each rule part judge; the rest is withheld from GX (neither passed nor failed)
        coverage, partial = coverage_and_partial(tables, standard, quarter, facts.window)
        facts.tables = withhold(facts.tables, coverage, standard, partial)
        facts.progress = withhold_progress(facts.progress, tables, standard, quarter, facts.window)  # open periods too
        step("checks")
        runs = run_standard_suites(validator, facts.tables, standard)
        findings = collect_findings(runs, standard)
        if checking is not None:
            quality = pl.concat([checking.result(validator), due_notices(tables["dues"], tables["members"])])
            quality = quality.sort("table", "file", "sheet", "row", "column")
        else:
            quality = collect_quality([])
    finally:
        if checking is not None:
            checking.stop()
    if data_docs is not None and data_docs.exists():
        offline_data_docs(data_docs)
    score = scorecard(findings, assessed_rules(runs), tables["branches"], standard, str(quarter), coverage)
    return Validation(quarter, standard, facts, findings, score, quality, warnings=list(facts.warnings), coverage=coverage)


def run_standard_suites(validator: Validator, frames: dict[str, pl.DataFrame], standard: Standard) -> list[SuiteRun]:
    """The standard's suites (built from the run's standard: its thresholds, severities, switched-off
    rules) run by GX on the fact tables they check, one run per fact with expectations."""
    parameters = standard.parameters()
    suites = build_standard_suites(standard)
    return [
        validator.run(suites[fact], frame, FACTS[fact].keys, parameters)
        for fact, frame in frames.items()
        if fact in suites and suites[fact]["expectations"]
    ]


class _RecordQuality:
    """The record-quality suites' findings for `validate_tables`: from the cache when the same
    tables, parameters, suites and code were checked before (`audit.cache.quality_key`; then GX is
    not run again), else from a helper process started at once (`QualityJob`), else run here."""

    def __init__(
        self,
        tables: dict[str, pl.DataFrame],
        standard: Standard,
        today: dt.date | None,
        cache: IngestCache | None,
        data_docs: Path | None,
        jobs: int,
    ):
        self.tables, self.cache = tables, cache
        self.parameters = quality_parameters(tables, data_window(tables), standard, today)
        self.key = quality_key(tables, self.parameters, sorted(EXPECTATIONS.glob("quality.*.json"))) if cache is not None else ""
        kept = cache.load(self.key) if cache is not None else None
        self.found = kept if isinstance(kept, pl.DataFrame) else None
        self.job = QualityJob.start(tables, self.parameters, data_docs, jobs) if self.found is None else None

    def run_unless_started(self, validator: Validator) -> None:
        """Without a helper the suites run now (where they always ran: first)."""
        if self.found is None and self.job is None:
            self._keep(self._here(validator))

    def result(self, validator: Validator) -> pl.DataFrame:
        """The findings: the helper's (waited for), or run here when it failed."""
        if self.found is None:
            answer = self.job.result() if self.job is not None else None
            self._keep(answer if answer is not None else self._here(validator))
        assert self.found is not None
        return self.found

    def _here(self, validator: Validator) -> pl.DataFrame:
        return collect_quality(run_quality(validator, self.tables, self.parameters))

    def _keep(self, found: pl.DataFrame) -> None:
        self.found = found
        if self.cache is not None:
            self.cache.store(self.key, found)

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()


def validate(
    batch: Path | str,
    quarter: Quarter | str,
    standard: Standard | None = None,
    *,
    out: Path | None = None,
    data_docs: bool = True,
    today: dt.date | None = None,
    limits: Limits | None = None,
    mapping: ReviewerMapping | None = None,
    ingested: Ingested | None = None,
    step: Callable[[str], None] | None = None,
    cache: bool = True,
    jobs: int = 1,
) -> Validation:
    """Ingest a batch and validate one quarter; with `out`, write every output there. ``ingested``:
    the batch already read (`audit run` reads it first to check its arguments); ``step``: told
    as each step begins (``read``, then `validate_tables`' steps); ``cache=False``: the ingestion
    cache (`audit.cache`) neither read nor written; ``jobs``: processes the record-quality suites
    may use (`validate_tables`).

    `out` is checked, locked and marked before any work (`audit.outputs.output_folder`): never the
    batch or a folder around or inside it, never a file or a folder the toolkit did not make.
    When nothing can be audited, the ingest outputs are still written there and
    ``NothingUsableError`` says so."""
    standard = standard or load_standard()
    if out is None:
        ingested = ingested if ingested is not None else _read(batch, limits, mapping, step, cache)
        if (why := nothing_usable(ingested)) is not None:
            raise NothingUsableError(why, ingested, None)
        ingested.tables = with_derived_dues(ingested.tables, standard)  # the tables written say 推算 too
        result = validate_tables(ingested.tables, quarter, standard, today=today, step=step, cache=cache, jobs=jobs)
        result.ingested = ingested
        return result
    if cache:
        refuse_inside_output(out)  # before the folder is made: it would hold the cache, not only outputs
    with output_folder(out, kind="validate", batch=Path(batch)) as target:
        ingested = ingested if ingested is not None else _read(batch, limits, mapping, step, cache)
        if (why := nothing_usable(ingested)) is not None:
            _clear_validation_outputs(target)
            ingested.write(target)
            raise NothingUsableError(why, ingested, out)
        ingested.tables = with_derived_dues(ingested.tables, standard)  # the tables written say 推算 too
        docs = target / "data-docs" if data_docs else None
        result = validate_tables(
            ingested.tables, quarter, standard, data_docs=docs, today=today, step=step, cache=cache, jobs=jobs
        )
        result.ingested = ingested
        result.write(target)
    return result


def _read(
    batch: Path | str,
    limits: Limits | None,
    mapping: ReviewerMapping | None,
    step: Callable[[str], None] | None,
    cache: bool = True,
) -> Ingested:
    """Step read: the batch ingested (through the ingestion cache unless ``cache`` is False)."""
    if step is not None:
        step("read")
    return ingest(batch, limits=limits, mapping=mapping, cache=cache)
