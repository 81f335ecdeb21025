"""End to end at district scale (`make bench`) and city scale (`make bench-city`): one `audit run`
of a synthetic export batch, as a reviewer runs it (the CLI, `--jobs 2`), its step timings from the
manifest, and beside each step, measured in the same benchmark run, the floor it is judged against:

    ingest (read)            reading the same files as raw cells: python-calamine for workbooks,
                             polars `read_csv` with every column as text for CSVs
    record quality (GX)      the same checks as polars expressions (`quality_floor`)
    findings + scorecard     writing findings.csv (the frame `audit` writes, as it writes it)
    branch pages (all-in)    an empty notebook with the report's imports, per page
    warm re-run              a second `audit validate` of the unchanged batch against the first

Each measurement runs in its own process (the run itself is a subprocess: the CLI a reviewer
types). Ratios are printed, never asserted: the machine is shared and noisy.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDIT = [sys.executable, "-m", "audit.cli"]  # the CLI a reviewer types, with this tree's sources
QUARTER = "2019Q3"
JOBS = 2
# `audit synth` parameters of each end-to-end scale (issue #16: district = 1,000 branches, 30,000
# members, 2018-07 to 2019-12, about 3.1 million rows; city = district x10)
SYNTH = {
    "district": ["--branches", "1000", "--members", "30000", "--start", "2018-07", "--end", "2019-12", "--seed", "7"],
    "city": ["--branches", "10000", "--members", "300000", "--start", "2018-07", "--end", "2019-12", "--seed", "7"],
}
TARGETS = {
    "read / raw cells": "≤ 3",
    "quality (GX) / polars": "≤ 3",
    "findings + scorecard / write findings.csv": "≤ 2",
    "page all-in / empty notebook": "≤ 1.3",
    "warm validate / cold validate": "≤ 0.2",
    "city / district end to end": "≤ 11",
    "end to end (s)": "≤ 180 (district)",
}


def _env(cache: Path | None) -> dict[str, str]:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT / "src")}
    if cache is not None:
        env["AUDIT_CACHE_DIR"] = str(cache)
    return env


def stage_cli(command: list[str], cache: str | None) -> dict:
    """Run one `audit` CLI call to completion (in a fresh process, so the peak RSS of its largest
    process is measured alone): its seconds and that peak in MB."""
    started = time.perf_counter()
    done = subprocess.run(command, env=_env(Path(cache) if cache else None), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: findings at or above --fail-on is still a finished run
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return {"seconds": seconds, "rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _timed(measure, command: list[str], cache: Path | None) -> tuple[float, float]:
    """`stage_cli` in a fresh process: (seconds, peak RSS in MB)."""
    _, _, info = measure(stage_cli, command, str(cache) if cache else None)
    return info["seconds"], info["rss"]


def batch(scale: str, work: Path) -> Path:
    """The scale's synthetic export batch (made once; `audit synth` is deterministic by seed)."""
    folder = work / f"batch-{scale}"
    stamp = folder / ".bench-synth"
    wanted = " ".join(SYNTH[scale])
    if folder.exists() and stamp.exists() and stamp.read_text() == wanted:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(folder.with_name(folder.name + ".truth"), ignore_errors=True)
    print(f"  audit synth {wanted} …", flush=True)
    subprocess.run([*AUDIT, "synth", "--out", str(folder), *SYNTH[scale]], env=_env(None), check=True, capture_output=True)
    (folder / ".audit-output.json").unlink(missing_ok=True)  # read as raw exports, like a reviewer's folder
    stamp.write_text(wanted)
    return folder


# --- floors (each called in a fresh process by bench.measure) ---------------------------------------------


def floor_read(folder: str) -> dict:
    """Every table file of the batch (sub-folders too) as raw cells: calamine for workbooks, polars
    all-text for CSVs; in `JOBS` processes, the largest files first, as `audit run --jobs` reads."""
    from concurrent.futures import ProcessPoolExecutor

    files = sorted((p for p in Path(folder).rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size)
    with ProcessPoolExecutor(max_workers=JOBS) as pool:
        cells = sum(pool.map(_raw_cells, files, chunksize=1))
    # the peak of its largest process: the readers are children of this one
    return {"rows": cells, "rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _raw_cells(path: Path) -> int:
    """The cells of one file read as raw cells (`floor_read`)."""
    import polars as pl
    from python_calamine import CalamineWorkbook

    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".et"):
        book = CalamineWorkbook.from_path(str(path))
        return sum(sum(len(r) for r in book.get_sheet_by_name(name).to_python()) for name in book.sheet_names)
    if suffix in (".csv", ".txt"):
        frame = pl.read_csv(path, infer_schema=False, has_header=False, truncate_ragged_lines=True, encoding="utf8-lossy")
        return frame.height * frame.width
    return 0


def floor_quality(report: str) -> dict:
    """The record-quality checks as polars expressions on the run's canonical tables."""
    sys.path.insert(0, str(Path(__file__).parent))
    from quality_floor import quality_floor

    from audit.facts import data_window
    from audit.ingest import load_tables
    from audit.quality import quality_parameters
    from audit.standard import load_standard

    tables = load_tables(Path(report))
    parameters = quality_parameters(tables, data_window(tables), load_standard())
    started = time.perf_counter()
    rows = quality_floor(tables, parameters)
    return {"rows": rows.height, "seconds": time.perf_counter() - started}


def stage_quality_gx(report: str) -> dict:
    """The record-quality suites through GX, as `audit validate` runs them, on the same tables."""
    from audit.facts import data_window
    from audit.ingest import load_tables
    from audit.quality import collect_quality, quality_parameters, run_quality
    from audit.standard import load_standard
    from audit.suites import Validator

    tables = load_tables(Path(report))
    parameters = quality_parameters(tables, data_window(tables), load_standard())
    started = time.perf_counter()
    rows = collect_quality(run_quality(Validator(), tables, parameters))
    return {"rows": rows.height, "seconds": time.perf_counter() - started}


def stage_findings(report: str, quarter: str) -> dict:
    """Findings + scorecard from the GX results of the run's facts, against writing findings.csv."""
    import tempfile

    from audit.coverage import coverage_and_partial, withhold
    from audit.facts import compute_facts
    from audit.findings import assessed_rules, collect_findings, scorecard
    from audit.ingest import load_tables
    from audit.io import write_csv
    from audit.periods import Quarter
    from audit.standard import load_standard
    from audit.suites import Validator
    from audit.validate import run_standard_suites

    standard, period = load_standard(), Quarter.parse(quarter)
    tables = load_tables(Path(report))
    facts = compute_facts(tables, standard, period)
    coverage, partial = coverage_and_partial(tables, standard, period, facts.window)
    frames = withhold(facts.tables, coverage, standard, partial)
    runs = run_standard_suites(Validator(), frames, standard)
    started = time.perf_counter()
    findings = collect_findings(runs, standard)
    scorecard(findings, assessed_rules(runs), tables["branches"], standard, quarter, coverage)
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_csv(findings, Path(folder) / "findings.csv")
        write_seconds = time.perf_counter() - started
    return {"rows": findings.height, "seconds": seconds, "write_seconds": write_seconds}


# --- the end-to-end run ------------------------------------------------------------------------------------


def run_end_to_end(scale: str, work: Path, measure) -> tuple[list[tuple], dict[str, float], dict]:
    """The scale's end-to-end run and its floors: (table rows (stage, seconds, count, RSS MB),
    ratios, figures to keep)."""
    sys.path.insert(0, str(ROOT / "src"))
    folder = batch(scale, work)
    report = work / f"report-{scale}"
    cache = work / f"cache-{scale}"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(report, ignore_errors=True)
    print(f"  audit run {folder.name} --quarter {QUARTER} --jobs {JOBS} …", flush=True)
    total, rss = _timed(
        measure, [*AUDIT, "run", str(folder), "--quarter", QUARTER, "--jobs", str(JOBS), "--out", str(report)], cache
    )
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    steps = {k: v for k, v in manifest["timings_seconds"].items() if isinstance(v, (int, float))}
    pages = len([n for n in manifest["timings_seconds"].get("per_notebook", {}) if n != "overview"])
    rows = [(f"end to end: audit run --jobs {JOBS}", total, pages, rss)]
    rows += [(f"  step {name}", seconds, 0, 0.0) for name, seconds in steps.items()]
    ratios: dict[str, float] = {"end to end (s)": total}

    seconds, rss, info = measure(floor_read, str(folder))
    rows.append((f"floor: raw cells (calamine, polars all-text), {JOBS} processes", seconds, info["rows"], max(rss, info["rss"])))
    ratios["read / raw cells"] = steps.get("read", 0.0) / seconds

    _, rss, gx = measure(stage_quality_gx, str(report))
    rows.append(("record quality: GX (as validate runs it)", gx["seconds"], gx["rows"], rss))
    _, rss, floor = measure(floor_quality, str(report))
    rows.append(("floor: record quality as polars expressions", floor["seconds"], floor["rows"], rss))
    ratios["quality (GX) / polars"] = gx["seconds"] / floor["seconds"]

    _, rss, found = measure(stage_findings, str(report), QUARTER)
    rows.append(("findings + scorecard", found["seconds"], found["rows"], rss))
    rows.append(("floor: write findings.csv", found["write_seconds"], found["rows"], rss))
    ratios["findings + scorecard / write findings.csv"] = found["seconds"] / found["write_seconds"]

    from bench import stage_empty_notebook

    _, rss, empty = measure(stage_empty_notebook, str(work), 3)
    rows.append(("floor: empty notebook, per page", empty["per_page"], 1, rss))
    all_in = (steps.get("notebooks", 0.0) + steps.get("html", 0.0)) * JOBS / max(pages, 1)
    rows.append(("branch page all-in (execute + HTML), per page per worker", all_in, pages, 0.0))
    ratios["page all-in / empty notebook"] = all_in / empty["per_page"]

    validate = [*AUDIT, "validate", str(folder), "--quarter", QUARTER, "--no-data-docs", "--out"]
    shutil.rmtree(cache, ignore_errors=True)
    cold, rss_cold = _timed(measure, [*validate, str(work / f"validate-cold-{scale}")], cache)
    warm, rss_warm = _timed(measure, [*validate, str(work / f"validate-warm-{scale}")], cache)
    rows.append(("audit validate, empty cache", cold, 0, rss_cold))
    rows.append(("audit validate again, unchanged batch", warm, 0, rss_warm))
    ratios["warm validate / cold validate"] = warm / cold
    return rows, ratios, {"end_to_end": total, "steps": steps, "pages": pages}


def demo_seconds(work: Path, measure) -> float:
    """The sub-district sample as `make demo` runs it (2019Q1, every branch, default jobs)."""
    sample = ROOT / "data" / "raw" / "xinhua-2019"
    out = work / "report-demo"
    shutil.rmtree(out, ignore_errors=True)
    seconds, _ = _timed(measure, [*AUDIT, "run", str(sample), "--quarter", "2019Q1", "--out", str(out)], work / "cache-demo")
    return seconds


def render(scale: str, rows: list[tuple], ratios: dict[str, float]) -> str:
    """The end-to-end table and its ratios, as markdown."""
    lines = [f"| {scale}: stage | wall (s) | rows | peak RSS (MB) |", "|---|---:|---:|---:|"]
    for stage, seconds, count, rss in rows:
        lines.append(
            f"| {stage} | {seconds:.2f} | {count:,} | {rss:,.0f} |" if rss else f"| {stage} | {seconds:.2f} | {count or ''} | |"
        )
    lines += ["", f"| {scale}: ratio | value | target |", "|---|---:|---|"]
    lines += [f"| {name} | {value:.2f} | {TARGETS.get(name, '')} |" for name, value in ratios.items()]
    return "\n".join(lines)
