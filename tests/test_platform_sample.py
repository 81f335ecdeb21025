"""The platform-style sample (`data/raw/xinhua-2019-platform`, `audit synth --style platform`): the
sub-district of the contract-style sample, as platforms and hand-kept templates export it, checked
through its truth files — every row accounted for, every file recognised, and the planted violations
found with the same rule, branch and period where the exports still show them (nothing else found),
the others listed in coverage as 无法评估.

Meetings kept as counts and a 缺席人员及原因 text without a 活动编号 (three branches) are read with
derived ids, their texts giving attendance rows (the report's rows_derived), and are judged as
having no per-member list (coverage); OL-10's quorum uses their recorded 实到人数."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from python_calamine import CalamineWorkbook

import audit.synth_platform as synth_platform
from audit.contract import load_contract
from audit.ingest import Ingested, ingest
from audit.inspection import render_inspection
from audit.privacy import SECRET_ENV
from audit.reasons import Action
from audit.synth import SynthConfig, write_batch
from audit.synth_platform import ABSENT_REASONS, COLLECTOR_LEDGERS, COUNTS_ONLY, NO_POINTS
from audit.validate import Validation, validate_tables
from conftest import REPO, SAMPLE
from worlds import quarter_of

PLATFORM = REPO / "data" / "raw" / "xinhua-2019-platform"
TRUTH = PLATFORM.parent / f"{PLATFORM.name}.truth"
# the quarter of most plants, and the one that closes the year (OL-9 on evaluations linked by ID number)
QUARTERS = ["2019Q1", "2019Q4"]
ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")


def _truth(name: str, folder: Path = TRUTH) -> list[dict[str, str]]:
    with (folder / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _branch_list() -> list[tuple[str, str]]:
    """(code, name) of the sample's branches in the generator's order, from its 支部信息.xls."""
    rows = CalamineWorkbook.from_path(str(PLATFORM / "支部信息.xls")).get_sheet_by_name("支部信息").to_python()
    header = rows.index(next(row for row in rows if "党支部编码" in row))
    code, name = rows[header].index("党支部编码"), rows[header].index("党支部名称")
    return [(row[code], row[name]) for row in rows[header + 1 :] if str(row[code]).startswith("XH")]


REPORT = _truth("ingest_report.csv")
VIOLATIONS = _truth("violations.csv")
BRANCHES = _branch_list()
COUNTS_ONLY_BRANCHES = {BRANCHES[n][0] for n in COUNTS_ONLY}
COUNTS_ONLY_FILES = {f"{BRANCHES[n][1]}三会一课台账.xlsx" for n in COUNTS_ONLY}
NO_POINTS_BRANCHES = {BRANCHES[n][0] for n in NO_POINTS}
LEDGER_BRANCHES = {BRANCHES[n][0] for n in COLLECTOR_LEDGERS}


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory):
    """A pseudonym secret of this module's own (recruits are keyed by ID number), never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("config") / "pseudonym.key"
        patch.setenv(SECRET_ENV, str(path))
        yield path


@pytest.fixture(scope="module")
def ingested(secret: Path) -> Ingested:
    return ingest(PLATFORM)


@pytest.fixture(scope="module")
def validations(ingested: Ingested) -> dict[str, Validation]:
    return {quarter: validate_tables(ingested.tables, quarter) for quarter in QUARTERS}


# --- the batch is the generator's, and its truth the contract sample's ---------------------------------


def _cells(path: Path) -> dict[str, list[list[object]]]:
    """Every sheet's cells as calamine reads them."""
    book = CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def test_bundled_platform_sample_is_what_the_generator_writes(tmp_path: Path):
    """`make sample` output: .xls and truth files byte for byte, .xlsx cell for cell (their zip
    carries the time they were written)."""
    out = tmp_path / PLATFORM.name
    write_batch(SynthConfig(seed=2019), out, style="platform")
    bundled = sorted(p.name for p in PLATFORM.iterdir() if not p.name.startswith("."))
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == bundled
    for name in bundled:
        if name.endswith(".xlsx"):
            assert _cells(out / name) == _cells(PLATFORM / name), name
        else:
            assert (out / name).read_bytes() == (PLATFORM / name).read_bytes(), name
    for name in ("violations.csv", "defects.csv", "ingest_report.csv"):
        assert (tmp_path / f"{PLATFORM.name}.truth" / name).read_bytes() == (TRUTH / name).read_bytes(), name
    assert {p.suffix for p in out.iterdir()} == {".xls", ".xlsx"}


def test_same_planted_violations_as_the_contract_sample():
    """The truth lists the contract sample's planted violations row for row; only those whose data
    these exports leave out are unevaluable, each in a branch that lacks it; members by 工作证号."""
    contract = _truth("violations.csv", SAMPLE.parent / f"{SAMPLE.name}.truth")
    columns = ["rule_id", "severity", "branch_id", "subject_id", "period", "note"]
    assert [{c: r[c] for c in columns} for r in VIOLATIONS] == contract
    unevaluable = [r for r in VIOLATIONS if r["evaluable"] == "false"]
    assert {(r["rule_id"], r["branch_id"]) for r in unevaluable} >= {("SM-1", "XH14"), ("OL-6", "XH05")}
    for r in unevaluable:
        if r["reason"] == ABSENT_REASONS["collector"]:
            assert r["rule_id"] == "SM-10" and r["branch_id"] not in LEDGER_BRANCHES, r
            continue
        lacking = NO_POINTS_BRANCHES if r["reason"] == ABSENT_REASONS["points"] else COUNTS_ONLY_BRANCHES
        assert r["branch_id"] in lacking, r
    evaluable = {(r["rule_id"], r["branch_id"], r["period"]) for r in VIOLATIONS if r["evaluable"] == "true"}
    assert {("OL-11", "XH16", "2019-03"), ("OL-11", "XH12", "2019-10"), ("OL-6", "XH20", "2019-01")} <= evaluable
    # the SM-10 plants' branches keep a per-payment ledger with 经手人 (and the committee list dates the change)
    assert {("SM-10", "XH18", "2019-01"), ("SM-10", "XH15", "2019-02")} <= evaluable
    assert all(r["evaluable"] == "true" and not r["reason"] for r in VIOLATIONS if r not in unevaluable)
    members = [r for r in VIOLATIONS if r["subject_key_kind"] == "工作证号"]
    assert members and all(re.fullmatch(r"[0-9]{6}", r["subject_key"]) for r in members)


# --- every row accounted for, every file recognised ---------------------------------------------------


@pytest.mark.parametrize(
    "expected",
    [pytest.param(r, id=f"{r['file']}[{r['sheet']}]") for r in REPORT],
)
def test_every_row_is_accepted_quarantined_or_skipped_as_written(ingested: Ingested, expected: dict[str, str]):
    """The ingest report of each sheet is what the generator wrote: data rows accepted, planted
    defects quarantined, notes blocks and footers skipped (titles above the header are not rows),
    and a counts-only meeting sheet's 缺席人员 text giving one attendance row per member it names."""
    found = [s for s in ingested.sources if (s.file, s.sheet) == (expected["file"], expected["sheet"])]
    assert len(found) == 1, f"{expected['file']}［{expected['sheet']}］ was not read as one source"
    source = found[0]
    counts = ("rows_read", "rows_accepted", "rows_quarantined", "rows_skipped", "rows_derived")
    assert (source.table, *(getattr(source, c) for c in counts)) == (expected["table"], *(int(expected[c]) for c in counts))


def test_attendance_rows_derived_from_absentee_texts_are_the_absentees_of_counts_only_meetings(ingested: Ingested):
    """The attendance rows a counts-only sheet's 缺席人员 texts give keep that sheet's row (so the
    report counts them there): each a 缺席 or 请假 of a meeting of that row's branch, never 出席."""
    meetings = ingested.tables["meetings"].select("meeting_id", "branch_id", "_file", "_row", "attendance_source")
    derived = ingested.tables["attendance"].filter(pl.col("_file").is_in(sorted(COUNTS_ONLY_FILES)))
    assert derived.height == sum(int(r["rows_derived"]) for r in REPORT) > 0
    joined = derived.join(meetings, on=["meeting_id", "_file", "_row"], how="left")
    assert joined["branch_id"].null_count() == 0, "a derived row names another meeting than its source row's"
    assert set(joined["branch_id"]) == COUNTS_ONLY_BRANCHES and set(joined["attendance_source"]) == {"absentees"}
    assert set(derived["status"]) == {"缺席", "请假"}
    members = ingested.tables["members"].select("member_id", member_branch="branch_id")
    assert joined.join(members, on="member_id").filter(pl.col("member_branch") != pl.col("branch_id")).is_empty()


def test_nothing_else_is_read_or_skipped(ingested: Ingested):
    """Every file is read, as the sheets the truth lists, and no file or sheet is skipped."""
    assert {(s.file, s.sheet) for s in ingested.sources} == {(r["file"], r["sheet"]) for r in REPORT}
    assert ingested.skipped == []
    assert {r["file"] for r in REPORT} == {p.name for p in PLATFORM.iterdir() if not p.name.startswith(".")}


def test_planted_defects_and_non_data_rows_are_reported_and_nothing_else(ingested: Ingested):
    """Every planted defect and non-data row is reported with its reason code; no other row is
    quarantined, blanked or skipped (the counts-only meeting files: see the report test above)."""
    expected = {(d["file"], d["sheet"], int(d["row"]), d["code"]) for d in _truth("defects.csv")}
    found = {(p.file, p.sheet, p.row, p.reason.name) for p in ingested.problems}
    assert sorted(expected - found) == []
    unplanted = {(p.file, p.sheet, p.row, p.reason.name) for p in ingested.problems if p.action is not Action.NOTE}
    assert sorted(unplanted - expected) == []
    assert {d[3] for d in expected} >= {"SKIP_NOTES", "SKIP_MERGED", "SKIP_FOOTER", "DUPLICATE", "DANGLING_REF", "ID_MANGLED"}


def test_inspect_recognises_every_file(ingested: Ingested):
    """`audit inspect` names each file and sheet with the table the generator wrote into it."""
    contract = load_contract()
    lines = render_inspection(ingested, contract)
    blocks: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("■ "):
            current = blocks.setdefault(line[2:], [])
        elif line.startswith("  ") and blocks:
            current.append(line.strip())
    for r in REPORT:
        block = blocks[f"{r['file']}［{r['sheet']}］"]
        assert block[0].startswith(f"表：{contract.tables[r['table']].title}（{r['table']}）"), (r, block[:2])
    assert not [line for line in lines if "已跳过" in line]


# --- identities: 工作证号 and ID numbers, never a whole ID number in an output ------------------------


def _column(path: Path, sheet: str, header: str) -> list[str]:
    """A column of a sheet the generator wrote, found by its header (below the title rows)."""
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    index = next(i for i, row in enumerate(rows) if header in row)
    position = rows[index].index(header)
    return [str(row[position]) for row in rows[index + 1 :] if str(row[position]).strip()]


def test_members_are_keyed_by_work_number_and_no_output_holds_a_whole_id_number(ingested: Ingested, tmp_path: Path):
    """Members are keyed by their 工作证号 in every table (evaluations linked to them by ID number),
    recruits by pseudonyms; no ID number of the batch is whole in the ingest outputs or messages."""
    roster = PLATFORM / "新华街道党员花名册.xlsx"
    numbers = set(_column(roster, "花名册", "工作证号"))
    ids = {i for i in _column(roster, "花名册", "身份证号码") if ID_NUMBER.fullmatch(i)}
    ids |= set(_column(PLATFORM / "发展党员工作台账.xlsx", "发展党员", "身份证号码"))
    assert len(ids) > 390
    assert set(ingested.tables["members"]["member_id"]) == numbers
    assert set(ingested.tables["points"]["member_id"]) <= numbers and set(ingested.tables["dues"]["member_id"]) <= numbers
    assert set(ingested.tables["evaluations"]["member_id"]) <= numbers  # linked by ID number to the roster's 工作证号
    assert all(key.startswith("ID-") for key in ingested.tables["development"]["person_id"])
    ingested.write(tmp_path)
    leaked: set[str] = set()
    for path in tmp_path.rglob("*"):
        if path.suffix in (".csv", ".json"):
            leaked |= set(ID_NUMBER.findall(path.read_text(encoding="utf-8-sig"))) & ids
        elif path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            text = "\n".join(str(v) for column in frame.columns for v in frame[column].cast(pl.String).to_list())
            leaked |= set(ID_NUMBER.findall(text)) & ids
    assert leaked == set()
    problems = "\n".join(f"{p.value} {p.message}" for p in ingested.problems)
    assert set(ID_NUMBER.findall(problems)) & ids == set()


# --- the planted violations, through the truth ---------------------------------------------------------


def _found(validation: Validation, ingested: Ingested, branches: set[str]) -> set[tuple[str, ...]]:
    """(rule, severity, branch, subject as the truth keys it, period) of the findings in `branches`:
    a recruit keyed by an ID number's pseudonym by his 姓名."""
    names = dict(ingested.tables["development"].select("person_id", "name").iter_rows())
    return {
        (r["rule_id"], r["severity"], r["branch_id"], names.get(r["subject_id"], r["subject_id"]) or "", r["period"])
        for r in validation.findings.iter_rows(named=True)
        if r["branch_id"] in branches
    }


def _planted(quarter: str, branches: set[str]) -> set[tuple[str, ...]]:
    """The truth's evaluable violations in `branches` that the audit of `quarter` reports."""
    return {
        (r["rule_id"], r["severity"], r["branch_id"], r["subject_key"], r["period"])
        for r in VIOLATIONS
        if r["evaluable"] == "true" and quarter_of(r["period"]) == quarter and r["branch_id"] in branches
    }


@pytest.mark.parametrize("quarter", QUARTERS)
def test_planted_violations_found_where_the_data_is_present_and_nothing_else(
    validations: dict[str, Validation], ingested: Ingested, quarter: str
):
    """Branches exported with attendance lists (one of them without points): exactly the planted
    violations the exports still show, with the contract sample's rule, branch and period."""
    branches = {code for code, _ in BRANCHES} - COUNTS_ONLY_BRANCHES
    planted = _planted(quarter, branches)
    assert planted, quarter
    found = _found(validations[quarter], ingested, branches)
    assert sorted(planted - found) == [], "planted but not found"
    assert sorted(found - planted) == [], "found but not planted"


@pytest.mark.parametrize("quarter", QUARTERS)
def test_planted_violations_found_in_branches_with_counts_only_meetings(
    validations: dict[str, Validation], ingested: Ingested, quarter: str
):
    """Branches whose meetings are counts and a 缺席人员 text: the same (OL-10 judged by the counts)."""
    planted = _planted(quarter, COUNTS_ONLY_BRANCHES)
    found = _found(validations[quarter], ingested, COUNTS_ONLY_BRANCHES)
    assert sorted(planted - found) == [], "planted but not found"
    assert sorted(found - planted) == [], "found but not planted"


def test_sm10_is_judged_where_a_ledger_names_the_collector_and_unevaluable_elsewhere(validations: dict[str, Validation]):
    """The two branches whose dues are a per-payment 党费收缴登记表 with 经手人: the secretary
    collecting for the organizer (XH18, January) and the old organizer collecting two days after the
    committee list's change of 6 February (XH15) are found, and nothing else of SM-10 in 2019Q1 (the
    payments of 1–5 February by the old organizer and later ones by the new pass). Every branch of
    the wide ledgers, amounts only, is 无法评估 for want of a collector, named in the reason."""
    v = validations["2019Q1"]
    sm10 = v.findings.filter(pl.col("rule_id") == "SM-10")
    assert sorted(sm10.select("branch_id", "period").rows()) == [("XH15", "2019-02"), ("XH18", "2019-01")]
    assert "有3笔党费不是由组织委员收取" in sm10.filter(pl.col("branch_id") == "XH18")["message"][0]
    assert "有1笔" in sm10.filter(pl.col("branch_id") == "XH15")["message"][0]
    assert "2019年2月8日交纳" in sm10.filter(pl.col("branch_id") == "XH15")["message"][0]
    coverage = v.coverage.filter(pl.col("rule_id") == "SM-10")
    unjudged = coverage.filter(pl.col("status") == "无法评估")
    assert set(unjudged["branch_id"]) == {code for code, _ in BRANCHES} - LEDGER_BRANCHES
    assert all("收缴人" in reason for reason in unjudged["reason"])
    assert set(coverage.filter(pl.col("branch_id").is_in(list(LEDGER_BRANCHES)))["status"]) == {"已评估"}


@pytest.mark.parametrize(
    "violation",
    [pytest.param(r, id=f"{r['rule_id']}-{r['branch_id']}-{r['period']}") for r in VIOLATIONS if r["evaluable"] == "false"],
)
def test_violations_whose_data_is_absent_are_unevaluable_in_coverage(
    validations: dict[str, Validation], violation: dict[str, str], tmp_path: Path
):
    """A planted violation the exports no longer show is neither found nor passed: its rule,
    branch and period are 无法评估 in the coverage.csv validate writes."""
    quarter = quarter_of(violation["period"])
    assert quarter in validations, "plant an unevaluable violation in an audited quarter"
    validations[quarter].write(tmp_path)
    with (tmp_path / "coverage.csv").open(encoding="utf-8-sig") as handle:
        coverage = list(csv.DictReader(handle))
    key = (violation["rule_id"], violation["branch_id"], violation["period"])
    statuses = {r["status"] for r in coverage if (r["rule_id"], r["branch_id"], r["period"]) == key}
    assert "无法评估" in statuses, key
    findings = validations[quarter].findings
    assert not [r for r in findings.iter_rows(named=True) if (r["rule_id"], r["branch_id"], r["period"]) == key]


# --- the generator at other sizes, and its command ------------------------------------------------------


def test_a_small_platform_batch_long_sheets_continued_reads_as_its_truth_says(
    tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
):
    """Another seed and size, with .xls sheets continued on a next sheet past a (lowered) row limit:
    every sheet's report is the truth's, the counts-only meeting files' derived attendance included."""
    monkeypatch.setattr(synth_platform, "XLS_MAX_ROWS", 40)
    out = tmp_path / "small"
    write_batch(SynthConfig(seed=7, branches=6, members=80), out, style="platform")
    report = _truth("ingest_report.csv", tmp_path / "small.truth")
    assert any(r["sheet"] == "党费收缴(2)" for r in report)
    result = ingest(out)
    assert any("三会一课台账" in r["file"] and int(r["rows_derived"]) for r in report)
    counts = ("rows_read", "rows_accepted", "rows_quarantined", "rows_skipped", "rows_derived")
    expected = {(r["file"], r["sheet"]): tuple(int(r[c]) for c in counts) for r in report}
    got = {(s.file, s.sheet): tuple(getattr(s, c) for c in counts) for s in result.sources}
    assert got == expected
    assert result.skipped == []


def test_synth_style_is_checked_before_anything_is_written(tmp_path: Path):
    """An unknown --style, or --style platform with --parquet: exit 2 with a Chinese message, no folder."""
    out = tmp_path / "batch"
    bad = subprocess.run(
        [sys.executable, "-m", "audit.cli", "synth", "--out", str(out), "--style", "网页"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "未知的导出样式" in bad.stderr and "Traceback" not in bad.stderr
    both = subprocess.run(
        [sys.executable, "-m", "audit.cli", "synth", "--out", str(out), "--style", "platform", "--parquet"],
        capture_output=True,
        text=True,
    )
    assert both.returncode == 2 and "--parquet" in both.stderr
    assert not out.exists()
