"""Trying to break it: every table's bad files, personal data in every output byte, injection,
interrupted and concurrent runs, reproducibility, and findings that do not depend on row order."""

from __future__ import annotations

import ast
import csv
import io
import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import audit
from audit.contract import load_contract
from audit.dues import DERIVED_IF_ABSENT
from audit.ingest import ingest
from audit.periods import Quarter
from audit.report import run_report
from audit.synth import write_world
from audit.validate import validate
from worlds import meetings, plain_member, world

CONTRACT = load_contract()
TABLES = list(CONTRACT.tables)
ID_NUMBER, PHONE = "11010519491231002X", "13987654321"


def _header(table: str) -> list[str]:
    """The table's labels, the column the missing-column case drops first: the first required column
    nothing else can give — no other column stands in for it (a roster without 党员编号 is keyed by
    its 学工号, see test_identity.py), it is not derived, and it is not a year (from the title or
    file name) or a dues or points month (from a month range), and validation does not work it out
    when absent (a dues sheet's 应交金额, `audit.dues.DERIVED_IF_ABSENT`)."""
    columns = list(CONTRACT.tables[table].columns.values())
    implied = {"year", *(["month"] if table in ("dues", "points") else [])}
    implied |= {column for owner, column in DERIVED_IF_ABSENT if owner == table}
    first = next(c for c in columns if c.required and not c.stand_ins and not c.derive and c.name not in implied)
    return [first.label, *(c.label for c in columns if c is not first)]


FILE_CASES = {
    "empty": (lambda t: b"", "FILE_EMPTY", None),
    "binary": (lambda t: bytes(range(256)) * 8, "FILE_BINARY", None),
    "header_only": (lambda t: ",".join(_header(t)).encode("utf-8"), None, None),
    "missing_column": (
        lambda t: ",".join(_header(t)[1:]).encode() + b"\r\n" + b"x," * (len(_header(t)) - 2) + b"x\r\n",
        "FILE_MISSING_COLUMN",
        1,
    ),
    "duplicate_header": (
        lambda t: ",".join([*_header(t), _header(t)[0]]).encode() + b"\r\n" + b"x," * len(_header(t)) + b"x\r\n",
        "FILE_DUPLICATE_HEADER",
        1,
    ),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
@pytest.mark.parametrize("table", TABLES)
def test_every_table_bad_file_is_reported_by_file_table_and_column(tmp_path: Path, table: str, case: str):
    make, code, quarantined = FILE_CASES[case]
    (tmp_path / f"{table}.csv").write_bytes(make(table))
    result = ingest(tmp_path)
    [source] = result.sources
    assert source.rows_read == source.rows_accepted + source.rows_quarantined + source.rows_skipped
    if code is None:
        assert result.problems == [] and source.rows_read == 0
        return
    [problem] = result.problems
    assert (problem.file, problem.table, problem.reason.name) == (f"{table}.csv", table, code)
    if quarantined is not None:
        assert source.rows_quarantined == quarantined
        assert problem.column == _header(table)[0]


def test_excel_serial_dates_written_as_text_are_read(tmp_path: Path):
    (tmp_path / "branches.csv").write_text(
        "支部编号,支部名称,上级党组织,成立日期\nB1,一支部,街道党工委,43413\n", encoding="utf-8"
    )
    assert str(ingest(tmp_path).tables["branches"]["founded_on"][0]) == "2018-11-09"


# --- one run with hostile and personal values, shared by several tests ------------------------------
# (every output byte of a run is scanned for personal data in test_privacy.py)


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, Path]:
    w = world()
    member = plain_member(w, "XH01")
    member.update(id_number=ID_NUMBER, phone=PHONE, name="@cmd|' /C calc'!A0")  # "=..." in xlsx would be a formula cell
    meetings(w, "XH01", "主题党日", "2019-01")[0]["topic"] = f"<img src=x onerror=alert(1)> 联系 {PHONE}，证件 {ID_NUMBER}"
    meetings(w, "XH01", "支部委员会", "2019-02")[0]["has_minutes"] = False
    w.tables["dues"] = [
        d for d in w.tables["dues"] if not (d["member_id"] == member["member_id"] and str(d["month"]) == "2019-01-01")
    ]
    root = tmp_path_factory.mktemp("planted")
    batch = root / "batch"
    write_world(w, batch)
    # an unknown extra column carrying personal data as well
    path = batch / "支部信息.csv"
    text = path.read_bytes().decode("gb18030").splitlines()
    text = [f"{line},备注" if i == 0 else f"{line},书记电话{PHONE}" for i, line in enumerate(text)]
    path.write_bytes("\r\n".join(text).encode("gb18030"))
    out = root / "report"
    result = run_report(batch, Quarter.parse("2019Q1"), out, jobs=2)
    assert not result.failed
    return batch, out


def test_export_text_is_never_markup_or_a_formula(planted):
    _, out = planted
    page = (out / "branches" / "XH01.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page
    findings = (out / "findings.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(findings)))
    hostile = [r for r in rows if "cmd|" in r["message"]]
    assert hostile and all(r["message"].startswith("'@") for r in hostile)
    quarantine_and_more = [out / "quarantine.csv", out / "scorecard.csv", out / "data_quality.csv", out / "sample.csv"]
    for path in quarantine_and_more:
        for line in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            assert not any(cell.startswith(("=", "+", "@")) for cell in line), (path, line)


def test_same_inputs_same_outputs(planted, tmp_path: Path):
    batch, first = planted
    second = tmp_path / "again"
    run_report(batch, Quarter.parse("2019Q1"), second, jobs=2)
    for name in [
        "findings.csv",
        "findings.parquet",
        "scorecard.csv",
        "quarantine.csv",
        "data_quality.csv",
        "sample.csv",
        "findings.xlsx",
        "index.html",
        "branches/XH01.html",
        "branches/XH02.html",
        "branches/XH03.html",
    ]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    a, b = (json.loads((d / "manifest.json").read_text(encoding="utf-8")) for d in (first, second))
    for volatile in ("created", "timings_seconds"):
        a.pop(volatile), b.pop(volatile)
    assert a == b


def run_cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_verify_manifest(planted, tmp_path: Path):
    import shutil

    batch, out = planted
    ok = run_cli("verify-manifest", str(out))
    assert ok.returncode == 0 and "一致" in ok.stdout
    copy = tmp_path / "batch"
    shutil.copytree(batch, copy)
    (copy / "阵地建设.csv").write_bytes((copy / "阵地建设.csv").read_bytes() + b"\r\n")
    (copy / "新文件.csv").write_text("x", encoding="utf-8")
    changed = run_cli("verify-manifest", str(out), "--batch", str(copy))
    assert changed.returncode == 1
    assert "内容已改变 阵地建设.csv" in changed.stdout and "报告之后新增 新文件.csv" in changed.stdout
    assert run_cli("verify-manifest", str(tmp_path)).returncode == 2


# --- interrupted and concurrent runs ------------------------------------------------------------------


def _start(batch: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "audit.cli", "run", str(batch), "--quarter", "2019Q1", "--out", str(out), "--jobs", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_notebooks(out: Path, proc: subprocess.Popen, limit: float = 300) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        if list(out.parent.glob(f".{out.name}.partial-*/notebooks/*.ipynb")):
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    raise AssertionError("the run never reached the notebooks")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_leaves_the_previous_report_then_reruns(planted, tmp_path: Path, sig):
    import shutil

    batch, complete = planted
    out = tmp_path / "2019Q1"
    shutil.copytree(complete, out)
    before = (out / "manifest.json").read_bytes()
    proc = _start(batch, out)
    _wait_for_notebooks(out, proc)
    family = _descendants(proc.pid)  # page workers and their kernels
    assert family
    proc.send_signal(sig)
    proc.wait(timeout=120)
    assert proc.returncode != 0
    deadline = time.time() + 30  # none outlives the run, also when it was killed
    while [p for p in family if _running(p)] and time.time() < deadline:
        time.sleep(0.2)
    assert [p for p in family if _running(p)] == []
    assert (out / "manifest.json").read_bytes() == before  # the previous complete report, untouched
    assert (out / "index.html").exists()
    visible = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert visible == ["2019Q1"]
    if sig == signal.SIGTERM:  # a clean shutdown leaves no temporary folder or lock behind
        assert list(tmp_path.glob(".*")) == []
    again = run_cli("run", str(batch), "--quarter", "2019Q1", "--out", str(out), "--jobs", "2")
    assert again.returncode == 0, again.stderr
    assert list(tmp_path.glob(".*")) == []  # a killed run's leftovers are cleaned by the next one
    assert (out / "manifest.json").read_bytes() != before


def test_interrupted_first_run_leaves_nothing_that_looks_finished(planted, tmp_path: Path):
    batch, _ = planted
    out = tmp_path / "2019Q1"
    proc = _start(batch, out)
    _wait_for_notebooks(out, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not out.exists()


def test_concurrent_runs_into_one_folder_are_refused(planted, tmp_path: Path):
    batch, _ = planted
    out = tmp_path / "2019Q1"
    first = _start(batch, out)
    _wait_for_notebooks(out, first)
    second = run_cli("run", str(batch), "--quarter", "2019Q1", "--out", str(out))
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=120)
    assert second.returncode == 2
    assert "正在写入" in second.stderr and str(first.pid) in second.stderr


# --- findings do not depend on row order or on how rows are split into files ---------------------------


def _shuffle_and_split(batch: Path, seed: int) -> None:
    rng = random.Random(seed)
    for path in sorted(batch.glob("*.csv")):
        raw = path.read_bytes()
        encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else ("utf-8" if _utf8(raw) else "gb18030")
        rows = list(csv.reader(io.StringIO(raw.decode(encoding), newline="")))
        header, body = rows[0], rows[1:]
        rng.shuffle(body)
        parts = [body[i::2] for i in range(2)]
        path.unlink()
        for n, part in enumerate(parts):
            buffer = io.StringIO(newline="")
            csv.writer(buffer, lineterminator="\r\n").writerows([header, *part])
            (batch / f"{path.stem}_第{n + 1}部分.csv").write_bytes(buffer.getvalue().encode(encoding))


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_row_order_and_file_splitting_do_not_change_findings(tmp_path: Path):
    w = world()
    meetings(w, "XH02", "支部委员会", "2019-03")[0]["held_on"] = meetings(w, "XH02", "支部委员会", "2019-02")[0]["held_on"]
    member = plain_member(w, "XH03")
    for d in w.tables["dues"]:
        if d["member_id"] == member["member_id"]:
            d["amount_paid"] = 0.0
    plain, shuffled = tmp_path / "plain", tmp_path / "shuffled"
    write_world(w, plain)
    write_world(w, shuffled)
    _shuffle_and_split(shuffled, seed=5)
    columns = ["rule_id", "severity", "branch_id", "subject_id", "period", "message"]  # evidence cites file rows
    first = validate(plain, "2019Q1", data_docs=False).findings.select(columns)
    second = validate(shuffled, "2019Q1", data_docs=False).findings.select(columns)
    assert first.height >= 4 and first.equals(second)


def _exit_codes_used() -> dict[int, list[str]]:
    """Every exit code the package can end with, and where: the arguments of `typer.Exit`,
    `sys.exit` and `SystemExit`, and `exit_code` class attributes (an error carrying its code),
    with names resolved through the package's module constants. An argument that is neither a
    number, a constant nor an error's `exit_code` cannot be checked, so it fails the test."""
    src = Path(audit.__file__).parent
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(src.rglob("*.py"))}
    constants: dict[str, int] = {}
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
                pairs = (
                    zip(target.elts, value.elts, strict=True)
                    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                    else [(target, value)]
                )
                for name, number in pairs:
                    if isinstance(name, ast.Name) and isinstance(number, ast.Constant) and type(number.value) is int:
                        constants[name.id] = number.value
    used: dict[int, list[str]] = {0: ["a command that ran"]}
    unknown = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            where = f"{path.relative_to(src)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ClassDef):
                values = [
                    item.value
                    for item in node.body
                    if isinstance(item, ast.Assign | ast.AnnAssign)
                    and item.value is not None
                    and any(
                        isinstance(t, ast.Name) and t.id == "exit_code"
                        for t in (item.targets if isinstance(item, ast.Assign) else [item.target])
                    )
                ]
            elif isinstance(node, ast.Call) and ast.unparse(node.func) in {"typer.Exit", "Exit", "sys.exit", "SystemExit"}:
                values = [
                    node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), ast.Constant(0))
                ]
            else:
                continue
            for value in values:
                name = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else None
                if isinstance(value, ast.Constant) and type(value.value) is int:
                    used.setdefault(value.value, []).append(where)
                elif name in constants:
                    used.setdefault(constants[name], []).append(where)
                elif name != "exit_code":  # `sys.exit(exc.exit_code)`: the classes' values are collected above
                    unknown.append(f"{where}: {ast.unparse(value)}")
    assert not unknown, f"exit codes the test cannot resolve: {unknown}"
    return used


def test_every_exit_code_the_cli_uses_is_documented_with_its_meaning():
    readme = (Path(__file__).resolve().parents[1] / "docs" / "development.md").read_text(encoding="utf-8")
    section = readme.split("Exit codes:", 1)[1].split("\n\n", 2)[1]  # the table right after the heading line
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    documented = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 2 and re.fullmatch(r"`\d+`", cells[0]), row
        documented[int(cells[0].strip("`"))] = cells[1]
    used = _exit_codes_used()
    assert {1, 2, 70} <= used.keys()  # the scan finds the codes: a scan that found none would prove nothing
    missing = {code: places for code, places in used.items() if code not in documented}
    assert not missing, f"exit codes used but not in docs/development.md's table: {missing}"
    assert not documented.keys() - used.keys(), f"documented but never used: {sorted(documented.keys() - used.keys())}"
    assert all(len(meaning) >= 5 for meaning in documented.values()), documented
