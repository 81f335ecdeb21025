"""Runs the registered facts for a quarter: all at once (`compute_facts`) or written to Parquet in
member shards (`write_facts`)."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from audit.facts.branch_period import progress
from audit.facts.context import FactContext, Frame, checked_window
from audit.facts.registry import FACTS
from audit.periods import Quarter
from audit.standard import Standard

# one module per grain, each registering its facts on import; this order (then the order within
# a module) is the facts' order in FACTS, whatever imported a grain module first
GRAINS = (
    "branch_month",
    "group_month",
    "branch_quarter",
    "branch_period",
    "assembly",
    "member_month",
    "member_streak",
    "member_status",
    "recruitment",
)
for _grain in GRAINS:
    importlib.import_module(f"audit.facts.{_grain}")
_ordered = sorted(FACTS.values(), key=lambda spec: GRAINS.index(spec.make.__module__.rpartition(".")[2]))
FACTS.clear()
FACTS.update((spec.name, spec) for spec in _ordered)

MEMBER_FACTS = tuple(name for name, spec in FACTS.items() if spec.per_member)


@dataclass
class Facts:
    """The quarter's fact tables (by name), the progress of open half-years and years, and warnings."""

    quarter: Quarter
    window: tuple[dt.date, dt.date]  # first month start, last month end with records
    tables: dict[str, pl.DataFrame]
    progress: pl.DataFrame
    warnings: list[str] = field(default_factory=list)


def fact_names(ctx: FactContext) -> list[str]:
    """The fact tables this quarter has: every unconditional fact, then the conditional ones whose
    condition holds (half-year and year facts only when that period ends in the quarter and inside
    the data; otherwise their numbers go to `progress`)."""
    always = [name for name, spec in FACTS.items() if spec.when is None]
    return always + [name for name, spec in FACTS.items() if spec.when is not None and spec.exists(ctx)]


def fact_queries(ctx: FactContext, names: Iterable[str]) -> tuple[dict[str, pl.LazyFrame], pl.LazyFrame]:
    """The named facts as lazy queries (sorted by key: lazy joins do not keep row order, and
    outputs must be reproducible) and the progress query."""
    queries = {name: FACTS[name].make(ctx).sort(FACTS[name].keys) for name in names}
    return queries, progress(ctx)


def build(ctx: FactContext) -> Facts:
    """Every fact of the context's quarter, collected together."""
    queries, progress_query = fact_queries(ctx, fact_names(ctx))
    *collected, progress_frame = pl.collect_all([*queries.values(), progress_query])
    return Facts(ctx.quarter, ctx.window, dict(zip(queries, collected, strict=True)), progress_frame, ctx.warnings)


def compute_facts(tables: Mapping[str, Frame], standard: Standard, quarter: Quarter) -> Facts:
    """Every fact table for the quarter. Tables may be DataFrames or LazyFrames (``scan_parquet``):
    each fact is a lazy query, and all of them run in one ``collect_all`` so shared inputs are
    read once and filters and column choices reach the scans."""
    return build(FactContext(tables, standard, quarter, checked_window(tables, quarter)))


def write_facts(
    tables: Mapping[str, Frame], standard: Standard, quarter: Quarter, folder: Path, *, member_shards: int = 1
) -> Facts:
    """`compute_facts` for batches too big to hold (a province): writes ``folder/<fact>.parquet``.

    Branch-level facts are computed in one go; member-level facts (one row per member or member
    and month, the big ones) in `member_shards` shards of members by hash, each shard's rows
    written before the next is computed, so peak memory is about one shard's. Every member fact
    depends only on the member's own rows (and, for duplicate identities, on all members, which
    each shard still sees), so the shards' union equals the unsharded facts; rows are sorted by
    key within each shard. The returned Facts has the written tables' row counts, not the rows.
    """
    import pyarrow.parquet as pq

    window = checked_window(tables, quarter)
    folder.mkdir(parents=True, exist_ok=True)
    ctx = FactContext(tables, standard, quarter, window)
    names = [n for n in fact_names(ctx) if n not in MEMBER_FACTS]
    queries, progress_query = fact_queries(ctx, names)
    *frames, progress_frame = pl.collect_all([*queries.values(), progress_query])
    rows: dict[str, int] = {}
    for name, frame in zip(queries, frames, strict=True):
        frame.write_parquet(folder / f"{name}.parquet")
        rows[name] = frame.height
    del frames
    writers: dict[str, pq.ParquetWriter] = {}
    warnings = list(ctx.warnings)
    try:
        for shard in range(member_shards):
            part = FactContext(tables, standard, quarter, window, member_shard=(shard, member_shards))
            shard_queries, _ = fact_queries(part, MEMBER_FACTS)
            for name, frame in zip(shard_queries, pl.collect_all(list(shard_queries.values())), strict=True):
                arrow = frame.to_arrow()
                if name not in writers:
                    writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", arrow.schema)
                writers[name].write_table(arrow)
                rows[name] = rows.get(name, 0) + frame.height
            warnings += [w for w in part.warnings if w not in warnings]
    finally:
        for writer in writers.values():
            writer.close()
    counts = {name: pl.DataFrame({"rows": [count]}) for name, count in rows.items()}
    return Facts(quarter, window, counts, progress_frame, warnings)
