"""Benchmark harness: `make bench` (sub-district, district) and `make bench-province`.

Each stage runs in a fresh process so its peak memory (RSS) is its own; the harness prints a
table of wall time, rows per second and peak RSS per stage, the polars / pandas / DuckDB ratios
for the same facts (asserted equal first), and writes them to docs/benchmarks.md with the
machine's description. Targets are reported as ratios, never asserted as timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import endtoend  # a sibling module: benchmarks/ is not a package

ROOT = Path(__file__).resolve().parents[1]
SCALES = {"subdistrict": None, "district": 30_000, "city": 300_000, "province": 7_500_000}
MEMBER_SHARDS = {"province": 8}  # write_facts shards for scales whose member facts do not fit at once
QUARTER = "2019Q3"


def _child(target, args, queue) -> None:
    started = time.perf_counter()
    extra = target(*args)
    queue.put((time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, extra))


def measure(target, *args) -> tuple[float, float, dict]:
    """Run target(*args) in a fresh process: (seconds, peak RSS in MB, what it returned)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(target, args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"{target.__name__} failed with exit code {process.exitcode}")
    return result


# --- stages (top level, so a spawned process can import them) ----------------------------------------


def stage_ingest(batch: str, work: str) -> dict:
    from audit.ingest import ingest

    result = ingest(Path(batch))
    result.write(Path(work))
    return {"rows": sum(s.rows_read for s in result.sources)}


def stage_read(src: str, batch: str) -> dict:
    """Ingest only (nothing written) with the `audit` package found in ``src``: how the readers of
    one version of the code compare with another's on the same batch (`--compare-readers`)."""
    sys.path.insert(0, src)
    from audit.ingest import ingest

    result = ingest(Path(batch))
    return {"rows": sum(s.rows_read for s in result.sources), "source": str(Path(sys.modules["audit"].__file__).parent)}


def stage_facts(work: str, quarter: str, shards: int) -> dict:
    """Every fact table from the canonical Parquet (lazy scans), written to <work>/facts."""
    import polars as pl

    from audit.facts import write_facts
    from audit.ingest import scan_tables
    from audit.periods import Quarter
    from audit.standard import load_standard

    tables = scan_tables(Path(work))
    started = time.perf_counter()
    write_facts(tables, load_standard(), Quarter.parse(quarter), Path(work) / "facts", member_shards=shards)
    seconds = time.perf_counter() - started
    counted = ("dues", "points", "meetings", "attendance", "members")
    rows = sum(tables[t].select(pl.len()).collect().item() for t in counted)
    return {"rows": rows, "compute_seconds": seconds}


def stage_validate_facts(work: str, quarter: str) -> dict:
    """As `audit.validate.validate_tables` does after the facts: coverage (what the data lets each
    rule part judge) with the checked columns of what it does not withheld, the standard suites,
    findings and the scorecard with its 部分评估."""
    import polars as pl

    from audit.coverage import coverage_and_partial, withhold
    from audit.facts import data_window
    from audit.findings import assessed_rules, collect_findings, scorecard
    from audit.ingest import load_tables, scan_tables
    from audit.periods import Quarter
    from audit.standard import load_standard
    from audit.suites import Validator
    from audit.validate import run_standard_suites

    standard = load_standard()
    frames = {p.stem: pl.read_parquet(p) for p in (Path(work) / "facts").glob("*.parquet")}
    tables = scan_tables(Path(work))
    started = time.perf_counter()
    coverage, partial = coverage_and_partial(tables, standard, Quarter.parse(quarter), data_window(tables))
    frames = withhold(frames, coverage, standard, partial)
    coverage_seconds = time.perf_counter() - started
    validator = Validator()
    started = time.perf_counter()
    runs = run_standard_suites(validator, frames, standard)
    gx_seconds = time.perf_counter() - started
    started = time.perf_counter()
    findings = collect_findings(runs, standard)
    score = scorecard(findings, assessed_rules(runs), load_tables(Path(work))["branches"], standard, quarter, coverage)
    return {
        "rows": sum(f.height for f in frames.values()),
        "coverage_seconds": coverage_seconds,
        "coverage_rows": coverage.height,
        "gx_seconds": gx_seconds,
        "scorecard_seconds": time.perf_counter() - started,
        "findings": findings.height,
        "branches": score.height,
    }


def stage_validate_rows(work: str) -> dict:
    from audit.facts import data_window
    from audit.ingest import load_tables
    from audit.quality import quality_parameters, run_quality
    from audit.standard import load_standard
    from audit.suites import Validator

    tables = load_tables(Path(work))
    params = quality_parameters(tables, data_window(tables), load_standard())
    run_quality(Validator(), tables, params)
    return {"rows": sum(t.height for t in tables.values())}


ENGINES = {"polars": "polars_facts", "duckdb": "duckdb_facts", "pandas": "pandas_facts"}


def stage_baseline(work: str, quarter: str, engine: str, span: tuple) -> dict:
    """One implementation of the compared facts, from the Parquet files; results kept for the check."""
    import baselines
    import polars as pl

    from audit.periods import Quarter

    started = time.perf_counter()
    frames = getattr(baselines, ENGINES[engine])(Path(work), Quarter.parse(quarter), span)
    seconds = time.perf_counter() - started
    for n, frame in enumerate(frames):
        frame.write_parquet(Path(work) / f"baseline_{engine}_{n}.parquet")
    counted = ("dues", "points", "meetings", "members")
    rows = sum(pl.scan_parquet(Path(work) / "tables" / f"{t}.parquet").select(pl.len()).collect().item() for t in counted)
    return {"rows": rows, "seconds": seconds}


def assert_baselines_equal(work: Path, engines: list[str]) -> None:
    import polars as pl
    from polars.testing import assert_frame_equal

    for n in range(3):
        reference = pl.read_parquet(work / f"baseline_polars_{n}.parquet")
        for engine in engines:
            assert_frame_equal(reference, pl.read_parquet(work / f"baseline_{engine}_{n}.parquet"))


def stage_report(batch: str, out: str, quarter: str, branches: int, jobs: int) -> dict:
    from audit.ingest import ingest
    from audit.periods import Quarter
    from audit.report import run_report

    chosen = ingest(Path(batch)).tables["branches"]["branch_id"].sort().head(branches).to_list()
    result = run_report(Path(batch), Quarter.parse(quarter), Path(out), jobs=jobs, branches=chosen)
    per_branch = [n.seconds for n in result.notebooks if n.name != "overview"]
    return {
        "rows": len(per_branch),
        "per_page": sum(per_branch) / len(per_branch),
        "notebooks_seconds": result.timings["notebooks"],
    }


def stage_empty_notebook(work: str, count: int) -> dict:
    """The floor: a notebook with the report's imports and nothing else, executed `count` times."""
    import nbformat

    from audit.report import ensure_kernel, execute

    ensure_kernel()
    source = Path(work) / "empty.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("processed = '.'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import polars, plotly\nimport audit\nfrom audit.display import show"),
    ]
    notebook.metadata["kernelspec"] = {"name": "audit", "display_name": "audit", "language": "python"}
    nbformat.write(notebook, source)
    seconds = [execute(str(source), str(Path(work) / f"empty_{n}.ipynb"), {}, work, "empty").seconds for n in range(count)]
    return {"rows": count, "per_page": sum(seconds) / count}


# --- data --------------------------------------------------------------------------------------------


def export_csv(tables_dir: Path, batch: Path) -> None:
    """Canonical Parquet as CSV exports with the contract's Chinese headers (for the ingest stage)."""
    import polars as pl

    from audit.contract import load_contract

    batch.mkdir(parents=True, exist_ok=True)
    for name, table in load_contract().tables.items():
        frame = pl.read_parquet(tables_dir / f"{name}.parquet")
        if frame.is_empty():
            continue
        columns = [c for c in table.columns if frame.get_column(c).null_count() < frame.height]
        frame.select(columns).rename({c: table.columns[c].label for c in columns}).write_csv(batch / f"{table.title}.csv")


def machine() -> str:
    cpu = "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from importlib import metadata

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("polars", "pandas", "duckdb", "great-expectations", "papermill"))
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, Python {platform.python_version()}; {versions}"


def run_scale(scale: str, work: Path, report_branches: int, results: Path) -> list[tuple[str, str, float, int, float]]:
    """Sub-district and district start from exports (ingest timed); city (district x10, for the
    growth check) and province from canonical Parquet. GX runs up to city scale (its target is
    district); pandas up to city scale (at province its frames alone exceed the memory)."""
    from baselines import window
    from generate import generate

    rows: list[tuple[str, str, float, int, float]] = []
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if scale == "subdistrict":
        batch = ROOT / "data" / "raw" / "xinhua-2019"
    else:
        generate(SCALES[scale], work, attendance=scale != "province")
        batch = work / "batch"
        if scale == "district":
            export_csv(work / "tables", batch)
            shutil.rmtree(work / "tables")
    if scale in ("subdistrict", "district"):
        seconds, rss, info = measure(stage_ingest, str(batch), str(work))
        rows.append((scale, "ingest", seconds, info["rows"], rss))
    seconds, rss, info = measure(stage_facts, str(work), QUARTER, MEMBER_SHARDS.get(scale, 1))
    rows.append((scale, "facts", info["compute_seconds"], info["rows"], rss))
    FACTS_SECONDS[scale] = info["compute_seconds"]
    if scale != "province":
        seconds, rss, info = measure(stage_validate_facts, str(work), QUARTER)
        rows.append((scale, "coverage (无法评估)", info["coverage_seconds"], info["coverage_rows"], rss))
        rows.append((scale, "GX validation (facts)", info["gx_seconds"], info["rows"], rss))
        rows.append((scale, "findings + scorecard", info["scorecard_seconds"], info["findings"], rss))
    if scale in ("subdistrict", "district"):
        seconds, rss, info = measure(stage_validate_rows, str(work))
        rows.append((scale, "GX validation (raw rows)", seconds, info["rows"], rss))
    span = window(work)
    engines = ["polars", "duckdb"] + (["pandas"] if scale != "province" else [])
    timings = {}
    for engine, label in (("polars", "polars (project)"), ("duckdb", "DuckDB SQL"), ("pandas", "pandas")):
        if engine in engines:
            _, rss, info = measure(stage_baseline, str(work), QUARTER, engine, span)
            rows.append((scale, f"facts: {label}", info["seconds"], info["rows"], rss))
            timings[engine] = info["seconds"]
    assert_baselines_equal(work, engines[1:])
    RATIOS[scale] = {"polars/DuckDB": timings["polars"] / timings["duckdb"]}
    if "pandas" in timings:
        RATIOS[scale]["pandas/polars"] = timings["pandas"] / timings["polars"]
    district = FACTS_SECONDS.get("district") or _stored_facts_seconds(results, "district")
    if scale == "city" and district:
        RATIOS[scale]["facts time, x10 rows"] = FACTS_SECONDS["city"] / district
    if scale in ("subdistrict", "district") and report_branches:
        _, rss, one = measure(stage_report, str(batch), str(work / "report1"), QUARTER, report_branches, 1)
        rows.append((scale, f"report: {one['rows']} branch pages, 1 job", one["notebooks_seconds"], one["rows"], rss))
        _, rss, two = measure(stage_report, str(batch), str(work / "report2"), QUARTER, report_branches, 2)
        rows.append((scale, f"report: {two['rows']} branch pages, 2 jobs", two["notebooks_seconds"], two["rows"], rss))
        _, rss, empty = measure(stage_empty_notebook, str(work), 3)
        rows.append((scale, "empty notebook with the same imports", empty["per_page"], 1, rss))
        RATIOS[scale]["page/empty notebook"] = one["per_page"] / empty["per_page"]
        RATIOS[scale]["speed-up 2 jobs"] = one["notebooks_seconds"] / two["notebooks_seconds"]
    return rows


FACTS_SECONDS: dict[str, float] = {}


def _stored_facts_seconds(results: Path, scale: str) -> float | None:
    import json

    if not results.exists():
        return None
    stages = json.loads(results.read_text(encoding="utf-8")).get(scale, {}).get("stages", [])
    return next((stage[1] for stage in stages if stage[0] == "facts"), None)


RATIOS: dict[str, dict[str, float]] = {}


def render(rows, ratios) -> str:
    lines = ["| scale | stage | wall (s) | rows | rows/s | peak RSS (MB) |", "|---|---|---:|---:|---:|---:|"]
    for scale, stage, seconds, count, rss in rows:
        lines.append(f"| {scale} | {stage} | {seconds:.2f} | {count:,} | {count / seconds if seconds else 0:,.0f} | {rss:,.0f} |")
    lines += ["", "| scale | ratio | value | target |", "|---|---|---:|---|"]
    targets = {
        "polars/DuckDB": "≤ 1.0",
        "pandas/polars": "≥ 5",
        "page/empty notebook": "≤ 1.3",
        "speed-up 2 jobs": "≈ 2 (near-linear)",
        "facts time, x10 rows": "≤ 11",
    }
    for scale, values in ratios.items():
        for name, value in values.items():
            lines.append(f"| {scale} | {name} | {value:.2f} | {targets.get(name, '')} |")
    return "\n".join(lines)


RESULTS = ROOT / "benchmarks" / "results.json"


def save(scale: str, rows: list, results_path: Path) -> dict:
    """Keep each scale's latest figures (scales run separately, e.g. `make bench` after
    `make bench-province`, replace only their own rows)."""
    import json

    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    results[scale] = {
        "run": dt.date.today().isoformat(),
        "machine": machine(),
        "stages": [list(r[1:]) for r in rows if r[0] == scale],
        "ratios": RATIOS.get(scale, {}),
    }
    ordered = {s: results[s] for s in SCALES if s in results}
    for kept in ("readers", "end_to_end"):  # kept across runs: written by --compare-readers, --end-to-end
        if kept in results:
            ordered[kept] = results[kept]
    results_path.write_text(json.dumps(ordered, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return ordered


def render_markdown(results: dict) -> str:
    readers, ends = results.get("readers"), results.get("end_to_end")
    results = {scale: result for scale, result in results.items() if scale in SCALES}
    rows = [(scale, *stage) for scale, result in results.items() for stage in result["stages"]]
    runs = "; ".join(f"{scale} {result['run']}" for scale, result in results.items())
    machines = sorted({result["machine"] for result in results.values()})
    return (
        _render_scales(results, rows, runs, machines)
        + (_render_end_to_end(ends) if ends else "")
        + (_render_readers(readers) if readers else "")
    )


def _render_end_to_end(ends: dict) -> str:
    """The end-to-end runs (`--end-to-end`): each step of `audit run` beside the floor it is judged by."""
    text = (
        "\n## End to end: `audit run` beside its floors\n\n"
        "`make bench` (district) and `make bench-city` (city = district x10): `audit synth "
        f"{' '.join(endtoend.SYNTH['district'])}` (x10 branches and members for the city), then `audit run "
        f"--quarter {endtoend.QUARTER} --jobs {endtoend.JOBS}` through the CLI with an empty ingest cache; its steps from "
        "the manifest; each floor measured in its own process in the same benchmark run (`benchmarks/endtoend.py` "
        "says what each floor is). The warm re-run is a second `audit validate` of the unchanged batch.\n"
    )
    for scale, figures in ends.items():
        text += (
            f"\nRun {figures['run']} ({figures['machine']}).\n\n"
            + endtoend.render(scale, figures["rows"], figures["ratios"])
            + "\n"
        )
    return text


def _render_readers(readers: dict) -> str:
    """Ingest with the readers before and after a change, on the same batches (`--compare-readers`)."""
    lines = [
        "\n## Reading the exports: before and after\n",
        f"Run {readers['run']} with `--compare-readers` (machine: {readers['machine']}). {readers['note']} "
        "Ingest only (read, parse, check; nothing written), each in a fresh process.\n",
        "| batch | readers | wall (s) | rows read | rows/s | peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for batch, label, seconds, count, rss in readers["rows"]:
        lines.append(f"| {batch} | {label} | {seconds:.2f} | {count:,} | {count / seconds if seconds else 0:,.0f} | {rss:,.0f} |")
    return "\n".join(lines) + "\n"


def _render_scales(results: dict, rows: list, runs: str, machines: list[str]) -> str:
    return (
        "# Benchmarks\n\nGenerated by `make bench` / `make bench-province` (`benchmarks/bench.py`, figures kept in "
        "`benchmarks/results.json`); do not edit by hand. What the figures mean and what was changed because of "
        "them: [performance.md](performance.md).\n\n"
        f"Runs: {runs}. Machine: {'; '.join(machines)}.\n\n"
        "Each stage runs in a fresh process; peak RSS is that process's. Quarter audited: "
        f"{QUARTER}. Sub-district = the bundled sample (exports); district = 1,000 branches and 30,000 members "
        "for 2019 (CSV exports made from `benchmarks/generate.py`); city = district x10 (300,000 members, "
        "canonical Parquet; for the growth check); province = 7.5 million members (canonical Parquet, "
        f"no attendance, member facts in {MEMBER_SHARDS['province']} shards, `make bench-province`). "
        "Facts: the full build (`write_facts`, every column) from Parquet scans; facts: polars / DuckDB / "
        "pandas: the compared columns only, each from the same Parquet files, asserted equal. Report pages run "
        "in warm kernels (one per worker, started while the run validates); the empty notebook starts a fresh "
        "kernel each time.\n\n" + render(rows, {scale: result["ratios"] for scale, result in results.items()}) + "\n"
    )


def compare_readers(old_src: str, district: str, note: str, results_path: Path, write: str) -> None:
    """Ingest the bundled sample (best of three) and a district batch (once) with the old and the
    current readers, alternately, and keep the figures under "readers" in results.json."""
    import json

    new_src = str(ROOT / "src")
    batches = [("sample (xinhua-2019)", str(ROOT / "data" / "raw" / "xinhua-2019"), 3), ("district (audit synth)", district, 1)]
    rows = []
    for label, batch, repeats in batches:
        for name, src in (("before", old_src), ("after", new_src)):
            runs = [measure(stage_read, src, batch) for _ in range(repeats)]
            seconds, rss, info = min(runs, key=lambda run: run[0])
            print(f"{label} {name}: {seconds:.2f} s, {info['rows']:,} rows, {rss:,.0f} MB ({info['source']})", flush=True)
            rows.append([label, name, seconds, info["rows"], rss])
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    results["readers"] = {"run": dt.date.today().isoformat(), "machine": machine(), "note": note, "rows": rows}
    results_path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if write:
        Path(write).write_text(render_markdown(results), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="audit benchmarks")
    parser.add_argument("--scales", default="subdistrict,district")
    parser.add_argument("--work", default="/tmp/audit-bench")
    parser.add_argument("--report-branches", type=int, default=30, help="branch pages per report run")
    parser.add_argument("--write", default=str(ROOT / "docs" / "benchmarks.md"), help="'' to only print")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument(
        "--compare-readers",
        nargs=2,
        metavar=("OLD_SRC", "DISTRICT_BATCH"),
        help="ingest the sample and DISTRICT_BATCH with the `audit` package in OLD_SRC, then with this one",
    )
    parser.add_argument("--note", default="", help="what OLD_SRC is, for --compare-readers")
    parser.add_argument(
        "--end-to-end",
        default="district",
        help="comma-separated end-to-end scales (district, city) run as `audit run` from synthetic exports; '' for none",
    )
    args = parser.parse_args()
    if args.compare_readers:
        compare_readers(*args.compare_readers, args.note, Path(args.results), args.write)
        return
    rows = []
    for scale in filter(None, args.scales.split(",")):
        print(f"== {scale}", flush=True)
        rows += run_scale(scale, Path(args.work) / scale, args.report_branches, Path(args.results))
        print(render([r for r in rows if r[0] == scale], {scale: RATIOS.get(scale, {})}), flush=True)
        if args.write:
            results = save(scale, rows, Path(args.results))
            Path(args.write).write_text(render_markdown(results), encoding="utf-8")
    if rows:
        print(render(rows, RATIOS))
    for scale in filter(None, args.end_to_end.split(",")):
        print(f"== end to end: {scale}", flush=True)
        figures = end_to_end(scale, Path(args.work) / "e2e", Path(args.results))
        print(endtoend.render(scale, figures["rows"], figures["ratios"]), flush=True)
        if args.write:
            Path(args.write).write_text(
                render_markdown(json.loads(Path(args.results).read_text(encoding="utf-8"))), encoding="utf-8"
            )


def end_to_end(scale: str, work: Path, results_path: Path) -> dict:
    """One end-to-end scale (`endtoend.run_end_to_end`) with the sample's `make demo` run beside it;
    the figures kept under "end_to_end" in results.json (the city / district ratio from the stored
    district run when only the city runs)."""
    work.mkdir(parents=True, exist_ok=True)
    rows, ratios, kept = endtoend.run_end_to_end(scale, work, measure)
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    stored = results.setdefault("end_to_end", {})
    if scale == "district":
        demo = endtoend.demo_seconds(work, measure)
        rows.append(("sub-district sample, as `make demo` runs it", demo, 0, 0.0))
        kept["demo"] = demo
    if scale == "city" and "district" in stored:
        ratios["city / district end to end"] = kept["end_to_end"] / stored["district"]["end_to_end"]
    stored[scale] = {"run": dt.date.today().isoformat(), "machine": machine(), "rows": rows, "ratios": ratios, **kept}
    results_path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return stored[scale]


if __name__ == "__main__":
    main()
