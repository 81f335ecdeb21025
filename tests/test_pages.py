"""Branch pages at district speed: each page worker exports and writes the pages it executes (the
run only writes the overview afterwards), and a branch page reads its branch's slice of the tables
partitioned by branch (`audit.partition`), exactly the rows and order the whole-table filter gives."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import audit
from audit.display import branch_page_name
from audit.ingest import branch_tables, load_tables, scan_tables
from audit.io import write_table
from audit.partition import BY_BRANCH, INDEX, ROW_GROUP, filter_branch, write_branch_copies
from audit.periods import Quarter
from audit.report import run_report
from audit.synth import write_world
from audit.validate import validate
from conftest import notebooks_failing_for
from worlds import meetings, members, plain_member, world

QUARTER = "2019Q1"


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test world with an attendance row that belongs to two branches: a member of XH01 at
    one of XH02's meetings (in both branches' attendance)."""
    w = world()
    visitor = plain_member(w, "XH01")
    guest_meeting = meetings(w, "XH02", "支部党员大会")[0]
    row = {
        **copy.deepcopy(w.tables["attendance"][0]),
        "meeting_id": guest_meeting["meeting_id"],
        "member_id": visitor["member_id"],
    }
    w.tables["attendance"].append(row)
    assert {m["member_id"] for m in members(w, "XH02")}.isdisjoint({visitor["member_id"]})
    folder = tmp_path_factory.mktemp("pages") / "batch"
    write_world(w, folder)
    return folder


@pytest.fixture(scope="module")
def validated(batch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`audit validate`'s folder with the branch copies `audit run` writes for its pages."""
    out = tmp_path_factory.mktemp("validated") / "run"
    validate(batch, QUARTER, out=out, data_docs=False)
    write_branch_copies(load_tables(out), out / "tables")
    return out


def test_a_branch_read_equals_the_whole_table_filter_for_every_branch(validated: Path):
    """Every table, every branch: the rows and their order as filtering the whole tables gives
    them, including the attendance row shared by two branches."""
    branches = pl.read_parquet(validated / "tables" / "branches.parquet")["branch_id"].to_list()
    assert len(branches) == 3
    shared = 0
    for branch_id in branches:
        cut = branch_tables(validated, branch_id)
        filtered = filter_branch(scan_tables(validated), branch_id)
        assert cut.keys() == filtered.keys()
        for name in cut:
            assert_frame_equal(cut[name], filtered[name], check_exact=True), (branch_id, name)
        assert cut["members"]["branch_id"].unique().to_list() == [branch_id]
        mine = set(cut["meetings"]["meeting_id"]) | set(cut["members"]["member_id"])
        assert cut["attendance"].height and all(
            a in mine or m in mine for a, m in cut["attendance"].select("meeting_id", "member_id").iter_rows()
        )
        shared += cut["attendance"].filter(~pl.col("member_id").is_in(cut["members"]["member_id"].implode())).height
    assert shared == 1  # the visitor's row, in XH02's attendance as well as in XH01's
    whole = pl.read_parquet(validated / "tables" / "attendance.parquet")
    copies = pl.read_parquet(validated / "tables" / BY_BRANCH / "attendance.parquet")
    assert copies.height == whole.height + 1  # the visitor's row in two branches' groups


def test_copies_cut_into_parts_read_as_the_whole_table_filter(validated: Path, tmp_path: Path, monkeypatch):
    """A copy larger than `PART_ROWS` is cut into parts between branches (a city's one-file
    attendance copy had a 2 MB footer that every page read): each branch still reads exactly what
    filtering the whole tables gives."""
    import audit.partition as partition

    folder = tmp_path / "run"
    shutil.copytree(validated, folder)
    monkeypatch.setattr(partition, "PART_ROWS", 7)
    write_branch_copies(load_tables(folder), folder / "tables")
    index = pl.read_parquet(folder / "tables" / BY_BRANCH / INDEX)
    parts = sorted(p.name for p in (folder / "tables" / BY_BRANCH).glob("attendance*.parquet"))
    assert index.filter(pl.col("table") == "attendance")["part"].n_unique() == len(parts) == 3  # one branch a part
    assert (folder / "tables" / BY_BRANCH / "members.1.parquet").is_file()
    for branch_id in pl.read_parquet(folder / "tables" / "branches.parquet")["branch_id"]:
        cut, filtered = branch_tables(folder, branch_id), filter_branch(scan_tables(folder), branch_id)
        assert cut.keys() == filtered.keys()
        for name in cut:
            assert_frame_equal(cut[name], filtered[name], check_exact=True), (branch_id, name)


def test_a_branch_dataset_holds_its_branchs_coverage_progress_and_sample(validated: Path, tmp_path: Path):
    """`audit.load(branch=)` reads only the branch's rows of the per-branch tables (a city's
    coverage has 880,000 rows): the whole table's rows of that branch, in their order."""
    folder = tmp_path / "run"
    shutil.copytree(validated, folder)
    meetings = pl.read_parquet(folder / "tables" / "meetings.parquet")
    write_table(meetings.select("branch_id", "meeting_id").reverse(), folder, "sample")  # as `audit run` writes one
    whole = audit.load(folder)
    assert whole.coverage.height and whole.progress.height and whole.sample is not None and whole.sample.height
    for branch_id in whole.branches["branch_id"]:
        ds = audit.load(folder, branch=branch_id)
        mine = pl.col("branch_id") == branch_id
        assert ds.coverage.height and ds.coverage.equals(whole.coverage.filter(mine))
        assert ds.progress.equals(whole.progress.filter(mine))
        assert ds.sample is not None and ds.sample.equals(whole.sample.filter(mine))
        assert ds.findings.equals(whole.findings) and ds.scorecard.equals(whole.scorecard)  # the district's, for comparison


def test_rows_of_no_branch_or_of_two_are_partitioned_as_the_filter_selects_them(tmp_path: Path):
    """Keys the real ingest never lets through (it quarantines dangling references), partitioned
    as the filter selects them all the same: null keys (no branch), a member id in two branches
    (its rows in both), rows of members and meetings of no branch, a branch missing from the
    branch list, tables read whole."""
    s = pl.String
    tables = {
        "branches": pl.DataFrame({"branch_id": ["B1", "B2"], "name": ["一", "二"]}),
        "members": pl.DataFrame(
            {"member_id": ["M1", "M2", "M2", "M3", None, "M4"], "branch_id": ["B1", "B1", "B2", None, "B2", "B9"]}
        ),
        "meetings": pl.DataFrame({"meeting_id": ["H1", "H2", None, "H3", "H1"], "branch_id": ["B1", "B2", "B2", None, "B2"]}),
        "attendance": pl.DataFrame(
            {
                "meeting_id": ["H1", "H2", "H3", None, "H2", "H9", None, "H3"],
                "member_id": ["M1", "M1", "M3", "M2", None, "M9", None, "M4"],
                "n": [1, 2, 3, 4, 5, 6, 7, 8],
            }
        ),
        "dues": pl.DataFrame({"member_id": ["M2", "M1", None, "M3", "M4", "M2"], "n": [1, 2, 3, 4, 5, 6]}),
        "venues": pl.DataFrame({"branch_id": ["B2", None, "B1", "B9", "B2"], "n": [1, 2, 3, 4, 5]}),
        "notes": pl.DataFrame({"text": ["无键"]}, schema={"text": s}),
    }
    folder = tmp_path / "run"
    (folder / "tables").mkdir(parents=True)
    for name, frame in tables.items():
        frame.write_parquet(folder / "tables" / f"{name}.parquet", statistics=False)
    write_branch_copies(tables, folder / "tables")
    for branch_id in ("B1", "B2", "B9", "B0"):
        cut, filtered = branch_tables(folder, branch_id), filter_branch(scan_tables(folder), branch_id)
        assert cut.keys() == filtered.keys() == tables.keys()
        for name in cut:
            assert_frame_equal(cut[name], filtered[name], check_exact=True), (branch_id, name)
    assert branch_tables(folder, "B2")["attendance"]["n"].to_list() == [1, 2, 4, 5]
    assert branch_tables(folder, "B1")["dues"]["n"].to_list() == [1, 2, 6]


def test_a_branch_read_touches_only_its_own_slice(validated: Path, tmp_path: Path):
    """With every other branch's rows of every copy blanked and the whole tables gone (all but
    those read whole), a branch still reads exactly its own rows: it reads nothing else."""
    folder = tmp_path / "run"
    shutil.copytree(validated, folder)
    tables = folder / "tables"
    branch_id = "XH02"
    expected = filter_branch(scan_tables(validated), branch_id)
    index = pl.read_parquet(tables / BY_BRANCH / INDEX)
    for copy_file in (tables / BY_BRANCH).glob("*.parquet"):
        if copy_file.name == INDEX:
            continue
        frame = pl.read_parquet(copy_file)
        found = index.filter(pl.col("table") == copy_file.stem, pl.col("branch_id") == branch_id).select("offset", "rows")
        offset, rows = found.row(0) if found.height else (0, 0)
        inside = pl.int_range(pl.len()).is_between(offset, offset + rows - 1)
        blank = frame.select(pl.when(inside).then(pl.col(c)).otherwise(None).alias(c) for c in frame.columns)
        blank.write_parquet(copy_file, row_group_size=ROW_GROUP, statistics=False)
        (tables / copy_file.name).write_bytes(b"not parquet")  # the whole table: never read
    cut = branch_tables(folder, branch_id)
    for name in expected:
        assert_frame_equal(cut[name], expected[name], check_exact=True), name
    page = audit.load(folder, branch=branch_id)
    assert page.branch_charts(branch_id).keys() == audit.load(validated, branch=branch_id).branch_charts(branch_id).keys()


def test_a_folder_without_branch_copies_is_read_by_filtering(validated: Path, tmp_path: Path):
    """A folder written before the copies existed (or by `audit validate`) reads the same rows."""
    folder = tmp_path / "run"
    shutil.copytree(validated, folder)
    shutil.rmtree(folder / "tables" / BY_BRANCH)
    for branch_id in ("XH01", "XH03"):
        old, new = branch_tables(folder, branch_id), branch_tables(validated, branch_id)
        for name in new:
            assert_frame_equal(old[name], new[name], check_exact=True)


class _Watch:
    """A run's progress that looks into the run's temporary folder whenever a branch's notebook
    has finished: its page must already be written (by the worker), before step html begins."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.pages: dict[str, str] = {}
        self.steps: list[str] = []

    def begin(self, step: str) -> None:
        self.steps.append(step)

    def advance(self, step: str, done: int, total: int, detail: str) -> None:
        assert step == "notebooks" and "html" not in self.steps
        (partial,) = self.out.parent.glob(f".{self.out.name}.partial-*")
        page = partial / "branches" / branch_page_name(detail)
        self.pages[detail] = page.read_text(encoding="utf-8") if page.is_file() else ""

    def end(self, step: str, seconds: float) -> None:
        pass


def test_each_worker_writes_its_pages_while_the_notebooks_run(batch: Path, tmp_path: Path):
    """The pages are exported in the workers, in parallel: each branch page, and the failure page
    of a notebook that fails, is on disk as soon as its notebook is done, before step html; the
    run's html step only writes the overview (marking the failed page)."""
    notebooks = notebooks_failing_for(tmp_path / "notebooks", "XH02")
    out = tmp_path / "out"
    watch = _Watch(out)
    result = run_report(batch, Quarter.parse(QUARTER), out, jobs=2, notebooks_dir=notebooks, progress=watch)
    assert [s.name for s in result.failed] == ["XH02"]
    assert sorted(watch.pages) == ["XH01", "XH02", "XH03"]
    for branch_id, page in watch.pages.items():
        assert page == (out / "branches" / branch_page_name(branch_id)).read_text(encoding="utf-8")
    assert "plotly-graph-div" in watch.pages["XH01"] and "plotly-graph-div" in watch.pages["XH03"]
    assert "报告生成失败" in watch.pages["XH02"] and "ValueError: 模拟的失败" in watch.pages["XH02"]
    assert "报告生成失败：ValueError: 模拟的失败" in (out / "index.html").read_text(encoding="utf-8")
    assert {"notebooks", "html"} <= set(result.timings)
    assert (out / "tables" / BY_BRANCH / INDEX).is_file() and not (out / ".sources").exists()


def test_a_page_is_exported_as_nbconvert_exports_it_validating_the_notebook_once(
    validated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`pages.notebook_body` gives the HTML nbconvert's default basic-template exporter gives, and
    validates the notebook once: nbconvert validated it after each of its twelve preprocessors,
    a third of a page's export."""
    import nbformat
    from nbconvert import HTMLExporter

    from audit.paths import NOTEBOOKS
    from audit.report import pages
    from audit.report.kernel import execute, materialise

    source = materialise(NOTEBOOKS / "branch_report.py", tmp_path / "branch_report.ipynb")
    executed = tmp_path / "XH01.ipynb"
    status = execute(
        str(source), str(executed), {"processed": str(validated), "quarter": QUARTER, "branch_id": "XH01"}, str(tmp_path), "XH01"
    )
    assert status.status == "ok"
    notebook = nbformat.read(executed, as_version=4)
    for n, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{n}"
    default = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    expected, _ = default.from_notebook_node(notebook)
    calls: list[int] = []
    real = nbformat.validate
    monkeypatch.setattr(nbformat, "validate", lambda *a, **k: calls.append(1) or real(*a, **k))
    body = pages.notebook_body(executed)
    assert body == expected and "plotly-graph-div" in body
    assert len(calls) == 2  # once reading the file, once exporting
