"""Property-based: mutated export files never crash ingestion and every row is accounted for:
accepted, quarantined, or skipped as not data (template instructions, footers, notes); every table
row is an accepted source row of its table or a row derived from another table's (a branch created
from a reference, attendance from a 缺席人员 text), counted in that source's rows_derived."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.contract import load_contract
from audit.ingest import ingest
from conftest import ATTENDANCE, BRANCHES, DUES, MEETINGS, MEMBERS, write_csv, write_xlsx

# a meeting without an attendance list whose 缺席人员 text names members: attendance rows derived from it
MEETINGS_WITH_ABSENTEES = [
    [*MEETINGS[0], "缺席人员"],
    *[[*row, ""] for row in MEETINGS[1:]],
    ["HD4", "B01", "党员大会", "2019-03-12", "学习党章", "2", "0", "是", "张伟（出差）、李娜（病假）"],
]
TABLES = {
    "支部信息": BRANCHES,
    "党员名册": MEMBERS,
    "会议活动": MEETINGS_WITH_ABSENTEES,
    "参会明细": ATTENDANCE,
    "党费收缴": DUES,
}
CELL = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "a\nb",
            "\t",
            "=1+1",
            "-5",
            "3.70102E+17",
            "2019年2月30日",
            "茶话会",
            "１２",
            "√",
            "M9999",
            "43413",
            "NaN",
            "1e308",
        ]
    ),
    st.integers(-(10**6), 10**6).map(str),
)
# rows that are not data, as templates and hand-kept sheets have them between and after the records
NON_DATA = [
    ["合计", "", "", "136.5"],
    ["制表人：张三", "", "审核人：李四"],
    ["填表日期：2019年1月1日"],
    ["注意事项：党员编号须与系统一致"],
    ["必填", "必填，与系统内保持一致", "选填"],
    ["", "请按实际填写"],
]


@st.composite
def mutated_batch(draw):
    contract = load_contract()
    files = {}
    for sheet, rows in TABLES.items():
        table = contract.tables[contract.table_for_name(sheet)]
        header = [draw(st.sampled_from([h, f" {h} ", h + "（元）"])) if table.column_for(h) else h for h in rows[0]]
        body = [list(r) for r in rows[1:]]
        for row in body:
            for index in range(len(row)):
                if draw(st.booleans()) and draw(st.booleans()):
                    row[index] = draw(CELL)
            if draw(st.integers(0, 9)) == 0:
                row.append(draw(CELL))  # ragged
        body = list(draw(st.permutations(body)))
        inserted = []
        for row in draw(st.lists(st.sampled_from(NON_DATA), max_size=3)):
            at = draw(st.integers(0, len(body)))
            body.insert(at, list(row))
            inserted = [i + 1 if i >= at else i for i in inserted] + [at]
        skipped_rows = {at + 2 for at in inserted}  # Excel row numbers: the header is row 1
        files[sheet] = (header, body, draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "xlsx"])), skipped_rows)
    return files


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_batch())
def test_mutated_files_never_crash_and_rows_are_conserved(files):
    folder = Path(tempfile.mkdtemp())
    try:
        inserted = {}
        for sheet, (header, body, encoding, skipped_rows) in files.items():
            if encoding == "xlsx":
                name = f"{sheet}.xlsx"
                write_xlsx(folder / name, {sheet: [header, *body]})
                inserted[(name, sheet)] = skipped_rows
            else:
                name = f"{sheet}.csv"
                write_csv(folder / name, [header, *body], encoding)
                inserted[(name, "")] = skipped_rows
        result = ingest(folder)
        for source in result.sources:
            assert source.rows_read == source.rows_accepted + source.rows_quarantined + source.rows_skipped
        _assert_table_rows_traced(result)
        for problem in result.problems:
            assert problem.file and problem.message
        whole_files = {(p.file, p.sheet) for p in result.problems if p.row is None}
        for source in result.sources:
            mine = [p for p in result.problems if (p.file, p.sheet) == (source.file, source.sheet)]
            skipped = {p.row for p in mine if p.action.value == "跳过（非数据行）"}
            assert len(skipped) == source.rows_skipped
            assert inserted[(source.file, source.sheet)] <= skipped  # every planted non-data row is skipped
            if (source.file, source.sheet) in whole_files:
                continue
            rows = {p.row for p in mine if p.action.value == "整行隔离"}
            assert len(rows) == source.rows_quarantined
            assert not rows & skipped
    finally:
        shutil.rmtree(folder)


def _assert_table_rows_traced(result) -> None:
    """Every table row names (_file, _sheet, _row) a source row: read from an accepted row of a sheet
    of its own table (each accepted row giving one table row: no layout here reads several from one),
    or derived from a data row — accepted or quarantined, never skipped — of a sheet of another
    table, counted in that source's rows_derived."""
    sources = {(s.file, s.sheet): s for s in result.sources}
    quarantined = {(p.file, p.sheet, p.row) for p in result.problems if p.action.value == "整行隔离"}
    read: dict[tuple[str, str], list[int]] = defaultdict(list)
    derived: Counter[tuple[str, str]] = Counter()
    provenance = {}
    for name, frame in result.tables.items():
        for file, sheet, row in frame.select("_file", "_sheet", "_row").iter_rows():
            source = sources[(file, sheet)]
            if source.table == name:
                read[(file, sheet)].append(row)
            else:
                derived[(file, sheet)] += 1
                provenance[(name, file, sheet, row)] = source.table
    for (file, sheet), rows in read.items():
        assert len(rows) == len(set(rows)) == sources[(file, sheet)].rows_accepted, (file, sheet)
        assert not {(file, sheet, r) for r in rows} & quarantined
    for source in result.sources:
        assert len(read.get((source.file, source.sheet), [])) == source.rows_accepted, source
        assert derived[(source.file, source.sheet)] == source.rows_derived, source
    for (name, file, sheet, row), table in provenance.items():
        accepted = row in read[(file, sheet)]
        assert accepted or (file, sheet, row) in quarantined, (name, file, sheet, row)
        assert (name, table) in {("branches", t) for t in result.tables} | {("attendance", "meetings")}
    heights = sum(t.height for t in result.tables.values())
    assert heights == sum(s.rows_accepted + s.rows_derived for s in result.sources)


@settings(max_examples=15, deadline=None)
@given(st.permutations(list(range(1, len(DUES)))), st.integers(1, 3))
def test_row_order_and_file_splitting_do_not_change_tables(order, parts):
    reference = Path(tempfile.mkdtemp())
    shuffled = Path(tempfile.mkdtemp())
    try:
        for folder in (reference, shuffled):
            write_csv(folder / "branches.csv", BRANCHES)
            write_csv(folder / "members.csv", MEMBERS)
        write_csv(reference / "dues.csv", DUES)
        rows = [DUES[i] for i in order]
        for part in range(parts):
            write_csv(shuffled / f"part{part}_党费收缴.csv", [DUES[0], *rows[part::parts]])
        columns = [c for c in load_contract().tables["dues"].columns]
        first = ingest(reference).tables["dues"].select(columns).sort(["member_id", "month"])
        second = ingest(shuffled).tables["dues"].select(columns).sort(["member_id", "month"])
        assert first.equals(second)
        assert isinstance(first, pl.DataFrame)
    finally:
        shutil.rmtree(reference)
        shutil.rmtree(shuffled)


# --- validation under mutation: the compliant world's exports, mutated, through the real suites -------

_WORLD_BATCH: dict[str, Path] = {}


def _world_batch() -> Path:
    """The 3-branch world with a few violations, written once as exports (shared by the examples)."""
    if "path" not in _WORLD_BATCH:
        from audit.synth import write_world
        from worlds import drop_meeting, meetings, plain_member, row, world

        w = world()
        drop_meeting(w, meetings(w, "XH01", "支部委员会", "2019-02")[0])
        meetings(w, "XH02", "主题党日", "2019-03")[0]["has_minutes"] = False
        member = plain_member(w, "XH03")
        row(w, "dues", member["member_id"], "2019-01")["amount_paid"] = 0.0
        w.tables["points"].remove(row(w, "points", member["member_id"], "2019-02"))
        folder = Path(tempfile.mkdtemp()) / "batch"
        write_world(w, folder)
        _WORLD_BATCH["path"] = folder
    return _WORLD_BATCH["path"]


def _csv_rows(path: Path) -> tuple[str, list[list[str]]]:
    import csv
    import io

    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "utf-8", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    return encoding, list(csv.reader(io.StringIO(text, newline="")))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_validation_never_crashes_on_mutated_exports(data):
    from audit.facts import QuarterOutOfRangeError
    from audit.findings import FINDING_COLUMNS
    from audit.validate import validate_tables

    folder = Path(tempfile.mkdtemp()) / "batch"
    shutil.copytree(_world_batch(), folder)
    try:
        csvs = sorted(folder.glob("*.csv"))
        for path in data.draw(st.lists(st.sampled_from(csvs), min_size=1, max_size=4, unique=True)):
            encoding, rows = _csv_rows(path)
            for _ in range(data.draw(st.integers(1, 20))):
                r = data.draw(st.integers(1, max(1, len(rows) - 1)))
                if r < len(rows) and rows[r]:
                    c = data.draw(st.integers(0, len(rows[r]) - 1))
                    rows[r][c] = data.draw(CELL)
            write_csv(path, rows, data.draw(st.sampled_from([encoding, "utf-8", "gb18030"])))
        result = ingest(folder)
        for source in result.sources:
            assert source.rows_read == source.rows_accepted + source.rows_quarantined + source.rows_skipped
        try:
            validation = validate_tables(result.tables, "2019Q1")
        except QuarterOutOfRangeError:
            return  # every monthly record was mutated away: a clear message, not a crash
        assert validation.findings.columns == FINDING_COLUMNS
    finally:
        shutil.rmtree(folder.parent)


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3))
def test_findings_do_not_depend_on_row_order_or_file_splitting(seed, parts):
    import random

    from audit.validate import validate_tables

    columns = ["rule_id", "severity", "branch_id", "subject_id", "period", "message"]
    reference = validate_tables(ingest(_world_batch()).tables, "2019Q1").findings.select(columns)
    assert reference.height == 4  # OL-2, OL-6, SM-5, SM-1
    folder = Path(tempfile.mkdtemp()) / "batch"
    shutil.copytree(_world_batch(), folder)
    try:
        rng = random.Random(seed)
        for path in sorted(folder.glob("*.csv")):
            encoding, rows = _csv_rows(path)
            header, body = rows[0], rows[1:]
            rng.shuffle(body)
            path.unlink()
            for n in range(parts):
                write_csv(folder / f"{path.stem}_{n}.csv", [header, *body[n::parts]], encoding)
        assert validate_tables(ingest(folder).tables, "2019Q1").findings.select(columns).equals(reference)
    finally:
        shutil.rmtree(folder.parent)
