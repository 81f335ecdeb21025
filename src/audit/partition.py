"""The canonical tables partitioned by branch, for the branch pages: `tables/by_branch/<table>.parquet`
holds a table's rows grouped by branch (each branch's rows in the order of `tables/<table>.parquet`;
an attendance row of a member at another branch's meeting is in both branches' groups), and
`tables/by_branch/index.parquet` says where each branch's group starts and how many rows it has.
A copy of more than `PART_ROWS` rows is cut, between branches, into parts (`<table>.parquet`,
`<table>.1.parquet`, …; the index names each branch's part): reading a slice reads the file's
footer, whose size grows with its row groups (a city's attendance copy in one file: 2,211 row
groups, a 2 MB footer read by each of 10,000 pages). A branch page reads its slice of each copy
(row groups of `ROW_GROUP` rows, so a slice reads one or two of them), not the district's tables:
the rows `audit.load(..., branch=)` gets are exactly what filtering the whole tables gives
(`branch_rule`), in the same order (tested)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl

BY_BRANCH = "by_branch"  # below the report's `tables/`
INDEX = "index.parquet"
ROW_GROUP = 8192  # rows per row group of a copy: a branch's slice reads little more than its rows
PART_ROWS = 1_000_000  # a part of a copy holds the branches that start within this many rows of it
INDEX_SCHEMA = pl.Schema(
    {"table": pl.String(), "branch_id": pl.String(), "part": pl.Int64(), "offset": pl.Int64(), "rows": pl.Int64()}
)

Rule = Literal["branch", "attendance", "member"]
_SPLIT = 2**32  # a (branch, row) pair as one number: branch * _SPLIT + row (rows < 2**32)


def branch_rule(name: str, columns: list[str]) -> Rule | None:
    """Which rows of table `name` belong to a branch: its own `branch_id` (members, meetings and
    every table with the column), attendance at its meetings or by its members, the rows of its
    members (tables keyed by `member_id` alone); None: the table is read whole (the branch list,
    tables without either key)."""
    if name in ("members", "meetings"):
        return "branch"
    if name == "attendance":
        return "attendance"
    if name != "branches" and "branch_id" in columns:
        return "branch"
    if "member_id" in columns:
        return "member"
    return None


def _branch_rows(name: str, frame: pl.DataFrame, members: pl.DataFrame, meetings: pl.DataFrame) -> pl.DataFrame | None:
    """(`row`, `branch`) for every row of `frame` and every branch it belongs to (`branch_rule`),
    grouped by branch, each group in row order; None for a table read whole. A null key belongs
    to no branch, as the filter's `==` and `is_in` select no null."""
    rule = branch_rule(name, frame.columns)
    if rule is None:
        return None
    row = pl.int_range(pl.len(), dtype=pl.UInt64).alias("row")
    # the branches numbered in their sorted order before the rows are joined to them: a number per
    # (row, branch) pair, not the branch's text (the city's attendance has 36 million pairs)
    if rule == "branch":
        codes = _codes(frame["branch_id"])
        owned = [frame.select(row, branch=pl.col("branch_id")).join(codes, on="branch").drop("branch")]
    else:
        links = [("member_id", members)] + ([("meeting_id", meetings)] if rule == "attendance" else [])
        codes = _codes(pl.concat([owner["branch_id"] for _, owner in links]))
        owned = [
            frame.select(row, key).join(
                owner.select(key, branch=pl.col("branch_id")).join(codes, on="branch").drop("branch"), on=key
            )
            for key, owner in links
        ]
    # one number per (branch, row), sorted: groups by branch, rows in order within a group (a row
    # found twice for one branch, by its meeting and by its member, once); much faster than
    # sorting by the branch's text and the row
    numbered = pl.concat([pairs.select("row", "code") for pairs in owned])
    key = numbered.select(key=pl.col("code").cast(pl.UInt64) * _SPLIT + pl.col("row"))["key"].sort().unique(maintain_order=True)
    return pl.DataFrame({"row": key % _SPLIT, "branch": codes["branch"].gather(key // _SPLIT)})


def _codes(branches: pl.Series) -> pl.DataFrame:
    """(`code`, `branch`): the distinct non-null branches, numbered in their sorted order."""
    return branches.drop_nulls().unique().sort().rename("branch").to_frame().with_row_index("code")


def write_branch_copies(tables: dict[str, pl.DataFrame], tables_dir: Path) -> None:
    """Write `tables_dir/by_branch/`: each table partitioned by branch (`branch_rule`), then the
    index (last: a folder with the index has every copy)."""
    folder = tables_dir / BY_BRANCH
    folder.mkdir(exist_ok=True)
    for stale in folder.glob("*.parquet"):
        stale.unlink()
    members, meetings = tables["members"], tables["meetings"]
    index = []
    for name, frame in tables.items():
        rows = _branch_rows(name, frame, members, meetings)
        if rows is None:
            continue
        groups = (
            rows.group_by("branch", maintain_order=True)
            .len("rows")
            .with_columns(start=pl.col("rows").cum_sum() - pl.col("rows"))
            .with_columns(part=pl.col("start") // PART_ROWS)
            .with_columns(first=pl.col("start").min().over("part"))
        )
        parts = groups.group_by("part").agg(pl.col("first").first(), end=(pl.col("start") + pl.col("rows")).max())
        for part, first, end in parts.sort("part").iter_rows() if parts.height else [(0, 0, 0)]:  # an empty copy too
            # one part's rows gathered at a time: a copy of the whole table beside the tables was
            # the largest block of memory of a city's export
            frame.select(pl.all().gather(rows["row"].slice(first, end - first))).write_parquet(
                folder / part_name(name, part), row_group_size=ROW_GROUP, statistics=False
            )
        index.append(
            groups.select(
                table=pl.lit(name), branch_id="branch", part="part", offset=pl.col("start") - pl.col("first"), rows="rows"
            ).cast(INDEX_SCHEMA)
        )
    (pl.concat(index) if index else pl.DataFrame(schema=INDEX_SCHEMA)).write_parquet(folder / INDEX)


def part_name(table: str, part: int) -> str:
    """The file of a copy's part: the first is `<table>.parquet`."""
    return f"{table}.parquet" if part == 0 else f"{table}.{part}.parquet"


def read_branch_copies(tables_dir: Path, branch_id: str) -> dict[str, pl.DataFrame] | None:
    """Every canonical table in `tables_dir` cut to one branch, read from the branch copies: the
    branch's slice of each copy, the tables read whole as they are. None when the folder has no
    copies (written before they existed): then filter the whole tables."""
    folder = tables_dir / BY_BRANCH
    if not (folder / INDEX).is_file():
        return None
    where = {
        row["table"]: (row.get("part", 0), row["offset"], row["rows"])  # (an index from before parts: one file)
        for row in pl.scan_parquet(folder / INDEX).filter(pl.col("branch_id") == branch_id).collect().iter_rows(named=True)
    }
    queries = {}
    for path in sorted(tables_dir.glob("*.parquet")):
        if (folder / path.name).is_file():
            part, offset, rows = where.get(path.stem, (0, 0, 0))
            queries[path.stem] = pl.scan_parquet(folder / part_name(path.stem, part)).slice(offset, rows)
        else:
            queries[path.stem] = pl.scan_parquet(path)
    return dict(zip(queries, pl.collect_all(list(queries.values())), strict=True))


def filter_branch(scans: dict[str, pl.LazyFrame], branch_id: str) -> dict[str, pl.DataFrame]:
    """The tables cut to one branch by filtering the whole tables (`scans`), the filters pushed
    into the scans: what `read_branch_copies` reads, for a folder without the copies."""
    mine = pl.col("branch_id") == branch_id
    tables = {"members": scans["members"].filter(mine).collect(), "meetings": scans["meetings"].filter(mine).collect()}
    member_ids = tables["members"]["member_id"].implode()
    meeting_ids = tables["meetings"]["meeting_id"].implode()
    queries: dict[str, pl.LazyFrame] = {}
    for name, scan in scans.items():
        if name in tables:
            continue
        rule = branch_rule(name, scan.collect_schema().names())
        if rule == "attendance":
            queries[name] = scan.filter(pl.col("meeting_id").is_in(meeting_ids) | pl.col("member_id").is_in(member_ids))
        elif rule == "branch":
            queries[name] = scan.filter(mine)
        elif rule == "member":
            queries[name] = scan.filter(pl.col("member_id").is_in(member_ids))
        else:
            queries[name] = scan
    tables.update(zip(queries, pl.collect_all(list(queries.values())), strict=True))
    return {name: tables[name] for name in scans}
