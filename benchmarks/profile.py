"""Profiles behind docs/performance.md: `python benchmarks/profile.py WORK [--branch ID]`.

WORK is a folder with canonical tables (`WORK/tables/*.parquet`, e.g. /tmp/audit-bench/district
after `make bench`). Prints each fact's time when collected on its own, then pyinstrument
profiles of the full facts build and, when WORK also holds a report run (`WORK/report1`), of one
branch page's data and charts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pyinstrument import Profiler

from audit.facts import FactContext, compute_facts, data_window, fact_names, fact_queries
from audit.ingest import scan_tables
from audit.periods import Quarter
from audit.standard import load_standard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--quarter", default="2019Q3")
    parser.add_argument("--branch", default=None)
    args = parser.parse_args()
    tables, standard, quarter = scan_tables(args.work), load_standard(), Quarter.parse(args.quarter)
    window = data_window(tables)
    context = FactContext(tables, standard, quarter, window)
    for name in fact_names(context):
        started = time.perf_counter()
        rows = fact_queries(context, [name])[0][name].collect().height
        print(f"{name:16s} {time.perf_counter() - started:7.3f} s  {rows:>12,} rows")

    profiler = Profiler(interval=0.001)
    with profiler:
        compute_facts(tables, standard, quarter)
    print(profiler.output_text(unicode=False, color=False))

    report = args.work / "report1"
    if (report / "validation.json").exists():
        import audit

        branch = args.branch or audit.load(report).branches["branch_id"][0]
        profiler = Profiler(interval=0.001)
        with profiler:
            ds = audit.load(report, branch=branch)
            ds.branch_charts(branch)
            ds.points_missing(branch)
            ds.arrears(branch)
        print(profiler.output_text(unicode=False, color=False))


if __name__ == "__main__":
    main()
