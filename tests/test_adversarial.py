"""A second adversarial pass over the README's guarantees, after issue 10 was addressed: each test
is an attack an attacker or a tired reviewer could make. The ones that broke a guarantee failed
before their fix (outputs, masking, Data Docs); the ones whose fix belongs to modules being
rewritten for another issue are strict xfails naming what is wrong; the rest record attacks the
toolkit withstood, so they cannot regress.

Commands run as a user runs them (`python -m audit.cli` in a subprocess, every file of the
temporary tree hashed before and after a refusal); bombs are ingested in a child process whose
address space is capped; one `audit validate` over a hostile batch is shared by the Data Docs and
masking checks."""

from __future__ import annotations

import html
import io
import json
import os
import re
import subprocess
import sys
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audit.outputs import MARKER, OutputError, check_output, replace_folder
from audit.privacy import mask_personal
from audit.sanitize import safe_css, sanitize_document
from conftest import ATTENDANCE, BRANCHES, DUES, MEETINGS, MEMBERS, write_csv, write_xlsx
from test_hostile_files import assert_rest_loads, batch_with
from test_outputs import snapshot

AUDIT = [sys.executable, "-m", "audit.cli"]
ENV = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "COLUMNS": "400"}
ID18, PHONE = "11010519491231002X", "13987654321"
BARE = [ID18[:17], PHONE]  # the check character follows from the first 17 digits: they are the ID


def cli(*args: object, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`audit …` as a user runs it, on a wide terminal (messages stay on one line)."""
    return subprocess.run([*AUDIT, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV, cwd=cwd)


def said(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def small_batch(folder: Path) -> Path:
    """The small valid batch of `conftest` (three encodings, a two-sheet workbook)."""
    write_csv(folder / "支部信息.csv", BRANCHES, "gb18030")
    write_csv(folder / "党员名册.csv", MEMBERS, "utf-8-sig")
    write_xlsx(folder / "三会一课台账.xlsx", {"会议活动": MEETINGS, "参会明细": ATTENDANCE})
    write_csv(folder / "dues.csv", DUES)
    return folder


COMMANDS: dict[str, Callable[[Path, Path], list[object]]] = {
    "ingest": lambda batch, out: ["ingest", batch, "--out", out],
    "validate": lambda batch, out: ["validate", batch, "--quarter", "2019Q1", "--out", out, "--no-data-docs"],
    "run": lambda batch, out: ["run", batch, "--quarter", "2019Q1", "--out", out, "--jobs", "1"],
    "sample": lambda batch, out: ["sample", batch, "--quarter", "2019Q1", "--out", out],
}


# --- `--out`: the batch under other names -------------------------------------------------------------


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_batch_named_through_a_symlink_and_dotdot_is_still_protected(tmp_path: Path, command: str):
    """`link/../batch` opens the folder beside the link's target, but the check resolved it as
    written (`os.path.abspath` drops `link/..` first) and compared the output with a folder that
    does not exist: `audit ingest link/../batch --out <real batch>/out` wrote into the raw batch."""
    real = tmp_path / "real"
    small_batch(real / "batch")
    (real / "deep").mkdir()
    (tmp_path / "link").symlink_to(real / "deep", target_is_directory=True)
    spelled = tmp_path / "link" / ".." / "batch"  # what the kernel opens: real/batch
    assert (spelled / "dues.csv").is_file() and not (tmp_path / "batch").exists()
    out = real / "batch" / ("sample.csv" if command == "sample" else "out")
    before = snapshot(tmp_path)
    proc = cli(*COMMANDS[command](spelled, out))
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "之内" in said(proc) and "Traceback" not in said(proc)
    assert snapshot(tmp_path) == before


SPELLINGS: dict[str, Callable[[Path, Path], tuple[str, Path]]] = {
    "trailing-slash": lambda tmp, batch: (f"{batch}/", tmp),
    "dot-segments": lambda tmp, batch: (f"{batch}/./.", tmp),
    "double-slashes": lambda tmp, batch: (f"/{batch}//", tmp),
    "dot-inside-the-batch": lambda tmp, batch: (".", batch),
    "dot-around-the-batch": lambda tmp, batch: (".", tmp),
    "proc-self-cwd": lambda tmp, batch: ("/proc/self/cwd/batch", tmp),
    "root": lambda tmp, batch: ("/", tmp),
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_the_batch_under_other_spellings_is_refused(tmp_path: Path, spelling: str):
    """Held: the batch, or a folder around it, written another way is still the batch."""
    batch = small_batch(tmp_path / "batch")
    out, cwd = SPELLINGS[spelling](tmp_path, batch)
    before = snapshot(tmp_path)
    for command in ("ingest", "run"):
        proc = cli(*COMMANDS[command](batch, out), cwd=cwd)
        assert proc.returncode == 2, (command, said(proc)[-2000:])
        assert "数据批次文件夹" in said(proc)
    assert snapshot(tmp_path) == before


def test_a_bind_mount_of_the_batch_is_the_batch(tmp_path: Path):
    """Held: a second mount of the batch folder is recognised by device and inode."""
    batch = small_batch(tmp_path / "batch")
    view = tmp_path / "view"
    view.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(batch), str(view)], capture_output=True).returncode:
        pytest.skip("needs root and mount --bind")
    try:
        before = snapshot(batch)
        for out, message in ((view, "就是正在读取"), (view / "report", "之内")):
            proc = cli("ingest", batch, "--out", out)
            assert proc.returncode == 2 and message in said(proc), said(proc)
        assert snapshot(batch) == before
    finally:
        subprocess.run(["umount", str(view)], check=True)


@pytest.mark.parametrize(
    ("command", "out"), [("ingest", "--out=~/reports/2019Q1"), ("sample", "--out=~/sample.csv"), ("ingest", "--out=~")]
)
def test_a_tilde_the_shell_did_not_expand_is_refused(tmp_path: Path, command: str, out: str):
    """`--out=~/reports` is not expanded by the shell (the `~` is not at the start of a word): it
    made a folder literally named `~` in the current folder, which a later `rm -rf ~` confuses with
    the home folder."""
    batch = small_batch(tmp_path / "batch")
    work = tmp_path / "work"
    work.mkdir()
    extra = ["--quarter", "2019Q1"] if command == "sample" else []
    proc = cli(command, batch, *extra, out, cwd=work)
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "主目录" in said(proc) and "Traceback" not in said(proc)
    assert list(work.iterdir()) == []


# --- `--out`: the marker and the lock ----------------------------------------------------------------------

FORGED_MARKERS = {
    "no-inventory": {},
    "inventory-not-a-list": {"inventory": "*"},
    "inventory-not-names": {"inventory": [1, 2]},
}


@pytest.mark.parametrize("forged", list(FORGED_MARKERS))
def test_a_run_marker_that_does_not_list_what_it_wrote_protects_nothing(tmp_path: Path, forged: str):
    """A `run` marker without its inventory (forged, hand-edited, written by a tool imitating
    audit) counted as listing everything: the folder and a thesis in it were replaced whole."""
    out = tmp_path / "2019Q1"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"tool": "audit", "kind": "run", **FORGED_MARKERS[forged]}), encoding="utf-8")
    (out / "论文.docx").write_bytes(b"someone's thesis")
    kept = snapshot(out)
    with pytest.raises(OutputError, match=r"论文\.docx"):
        check_output(out, kind="run", batch=None)
    new = tmp_path / ".2019Q1.partial-1"
    new.mkdir()
    (new / MARKER).write_text(json.dumps({"tool": "audit", "kind": "run", "state": "partial"}), encoding="utf-8")
    (new / "index.html").write_text("new report", encoding="utf-8")
    with pytest.raises(OutputError):
        replace_folder(new, out)
    assert snapshot(out) == kept
    assert not [p for p in tmp_path.iterdir() if ".old-" in p.name]


def test_audit_run_refuses_a_folder_whose_run_marker_lists_nothing(tmp_path: Path):
    """The same through the command: before, a whole run, then the thesis was gone (exit 0)."""
    batch = small_batch(tmp_path / "batch")
    out = tmp_path / "2019Q1"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"tool": "audit", "kind": "run"}), encoding="utf-8")
    (out / "论文.docx").write_bytes(b"someone's thesis")
    before = snapshot(tmp_path)
    proc = cli(*COMMANDS["run"](batch, out))
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "论文.docx" in said(proc)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("content", [b"", b"2019\r\n"], ids=["empty-export", "digits-only-export"])
def test_a_batch_file_hard_linked_at_the_lock_name_is_never_written(tmp_path: Path, content: bytes):
    """`.<out>.lock` was opened and written if empty or holding only digits (an old lock): a hard
    link there to a batch file (an empty export, a one-cell CSV) had the raw file overwritten with
    the lock's JSON."""
    batch = small_batch(tmp_path / "batch")
    (batch / "编号.csv").write_bytes(content)
    os.link(batch / "编号.csv", tmp_path / ".report.lock")
    before = snapshot(tmp_path)
    proc = cli("ingest", batch, "--out", tmp_path / "report")
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "不是 audit 的锁文件" in said(proc)
    assert snapshot(tmp_path) == before


def test_a_pipe_at_the_lock_name_is_refused_not_an_internal_error(tmp_path: Path):
    """Before: `Illegal seek` from reading the pipe, exit 70 and a log file."""
    batch = small_batch(tmp_path / "batch")
    os.mkfifo(tmp_path / ".report.lock")
    before = snapshot(tmp_path)
    proc = cli("ingest", batch, "--out", tmp_path / "report", timeout=120)
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "不是 audit 的锁文件" in said(proc)
    assert snapshot(tmp_path) == before


def test_refusals_print_names_terminal_safe_and_masked(tmp_path: Path):
    """Refusal messages name the batch and the output as given and the files found in a report
    folder: they reached the terminal with escape sequences working and phone numbers whole."""
    batch = small_batch(tmp_path / "批次13987654321\x1b]0;标题\x07[bold]")
    proc = cli("ingest", batch, "--out", batch / "out")
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "\x1b" not in said(proc) and PHONE not in said(proc)
    assert "批次139****4321\\x1b]0;标题\\x07[bold]" in said(proc)
    report = tmp_path / "report"
    report.mkdir()
    (report / MARKER).write_text(json.dumps({"tool": "audit", "kind": "run", "inventory": []}), encoding="utf-8")
    (report / "笔记\x1b[2J.txt").write_text("mine", encoding="utf-8")
    proc = cli(*COMMANDS["run"](small_batch(tmp_path / "b2"), report))
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "\x1b" not in said(proc) and "笔记\\x1b[2J.txt" in said(proc)


# --- masking -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("1.1010519491231002e+17", "110105********0020"),  # repr() of the ID in a float column
        ("身份证 1.10105194912310E+17。", "身份证 110105********0000。"),  # 15 significant digits, as Excel keeps
        ("1.3987654321E+10", "139****4321"),
        ("备用1.3987654321e10号", "备用139****4321号"),
        ("11010519491231002", "110105*******1002"),  # the final X lost: the rest is the whole ID
        ("缺X：110105 19491231 002", "缺X：110105*******1002"),
        ("11010519491231002×", "110105*******1002×"),
    ],
)
def test_ids_in_float_notation_or_without_their_check_character_are_masked(text: str, masked: str):
    assert mask_personal(text) == masked
    assert mask_personal(masked) == masked


@pytest.mark.parametrize(
    "text", ["1.5e+10", "3.70102E+17", "1.2345678901e+10", "9.87654321012e+10", "12345678901234567", "20190105143000123"]
)
def test_other_numbers_in_float_notation_or_of_17_digits_are_left_alone(text: str):
    """An Excel-mangled `3.70102E+17` keeps too few digits to identify anyone; 17 digits without
    a real birth date are not an ID."""
    assert mask_personal(text) == text


def _folded(text: str) -> str:
    return re.sub(r"[\s\-\u2010-\u2015\u2212_.]", "", unicodedata.normalize("NFKC", text))


def _views(path: Path) -> Iterator[str]:
    """What a person or program could read out of a file: its text (JSON and HTML escapes undone),
    Parquet values, column names and metadata, the parts of a zip."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        yield " ".join(table.column_names)
        yield from (repr(v) for column in table.columns for v in column.to_pylist())
        yield repr(table.schema.metadata)
        return
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            yield from (archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
        return
    text = data.decode("utf-8-sig", "replace")
    yield text
    yield html.unescape(text)
    yield re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def _leaks(text: str) -> list[str]:
    return [bare for bare in BARE if bare in _folded(text)]


# A branch id GX renders into its Data Docs as markup: its style attribute loads a remote image
# without `url(` (an escape, `image-set`), which the sanitiser's `url\s*\(` pattern let through.
CSS_IDS = [
    "<b style=background:u\\72l(http://127.0.0.1:9/a)>",
    "<i style='background:image-set(\"http://127.0.0.1:9/b\" 1x)'>",
]


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """`audit validate` (with Data Docs) over a batch whose branch ids carry CSS payloads and whose
    free text carries an ID in float notation, an ID without its X and a phone in float notation."""
    root = tmp_path_factory.mktemp("validated")
    batch = root / "batch"
    ids = {"B01": CSS_IDS[0], "B02": CSS_IDS[1]}
    write_csv(batch / "支部信息.csv", [BRANCHES[0], *[[ids[r[0]], *r[1:]] for r in BRANCHES[1:]]], "gb18030")
    members = [[*MEMBERS[0], "备注"], *[[*r[:3], ids[r[3]], *r[4:], ""] for r in MEMBERS[1:]]]
    members[1][-1] = "1.1010519491231002e+17"  # what pandas writes for an ID in a float column
    write_csv(batch / "党员名册.csv", members, "utf-8-sig")
    meetings = [MEETINGS[0], *[[r[0], ids[r[1]], *r[2:]] for r in MEETINGS[1:]]]
    meetings[1][4] = f"联系人身份证{ID18[:17]}（末位X缺失），备用1.3987654321E+10"
    write_xlsx(batch / "三会一课台账.xlsx", {"会议活动": meetings, "参会明细": ATTENDANCE})
    write_csv(batch / "dues.csv", DUES)
    out = root / "validated"
    proc = cli("validate", batch, "--quarter", "2019Q1", "--out", out)
    assert proc.returncode == 0, said(proc)[-3000:]
    return batch, out, proc


def test_an_id_in_float_notation_or_without_its_x_reaches_no_output_whole(validated):
    _, out, proc = validated
    written = [p for p in out.rglob("*") if p.is_file() and p.suffix in {".csv", ".parquet", ".json", ".html", ".xlsx"}]
    assert any(p.name == "members.parquet" for p in written) and any("data-docs" in p.parts for p in written)
    leaks = {str(p.relative_to(out)): found for p in written if (found := sorted({x for v in _views(p) for x in _leaks(v)}))}
    leaks.update({"terminal": found} if (found := _leaks(said(proc))) else {})
    assert leaks == {}


def _requests_from(pages: list[Path]) -> list[str]:
    """Every request that leaves the file system while Chromium opens the pages."""
    from test_report import CHROMIUM, _browser

    requests: list[str] = []
    with _browser() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()

        def route(r):
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                requests.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        for path in pages:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(100)
        browser.close()
    return requests


CSS_PAYLOADS = [
    """<div style='background-image:image-set("http://127.0.0.1:9/1.png" 1x);width:9px;height:9px'>a</div>""",
    """<div style='background-image:-webkit-image-set("http://127.0.0.1:9/2.png" 1x);width:9px;height:9px'>b</div>""",
    """<div style='background-image:u\\72l(http://127.0.0.1:9/3.png);width:9px;height:9px'>c</div>""",
    """<div style='background-image:ur\\l(http://127.0.0.1:9/4.png);width:9px;height:9px'>d</div>""",
    """<style>@\\69mport 'http://127.0.0.1:9/5.css';</style>""",
    """<style>p.x{background-image:image-set("http://127.0.0.1:9/6.png" 1x)}</style><p class=x>e</p>""",
    """<style>p.y{background:\\75rl(http://127.0.0.1:9/7.png)}</style><p class=y>f</p>""",
    """<style>p.z{background:u/**/rl(http://127.0.0.1:9/8.png);background:url/**/(http://127.0.0.1:9/9.png)}</style>""",
]


def test_css_that_loads_without_writing_url_is_dropped(tmp_path: Path):
    page = tmp_path / "page.html"
    body = "".join(CSS_PAYLOADS)
    page.write_text(
        sanitize_document(f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"), encoding="utf-8"
    )
    assert _requests_from([page]) == []
    kept = 'color: rgb(1, 2, 3); width: calc(100% - 2px); content: "\\201C"'
    assert safe_css(kept) == kept  # what cannot load anything is kept


def test_data_docs_with_css_in_branch_ids_load_nothing(validated, tmp_path: Path):
    """Branch ids carrying CSS payloads: the Data Docs of `audit validate` no longer show them at
    all (the reference checks' keys are held by the run, not listed in the expectations:
    `audit.keysets`), and load nothing. GX still renders the values it finds unexpected, so Data
    Docs whose unexpected values are those payloads, made safe as `audit validate` makes them
    (`offline_data_docs`), load nothing either."""
    import json

    import polars as pl

    from audit import keysets
    from audit.suites import Validator, offline_data_docs
    from conftest import reference_suite

    _, out, _ = validated
    written = sorted((out / "data-docs").rglob("*.html"))
    assert written and not [p for p in written if "127.0.0.1" in p.read_text(encoding="utf-8")]
    assert _requests_from(written[:12]) == []
    suite = reference_suite("quality.members", "branch_id", "keys__branches__branch_id")
    frame = pl.DataFrame({"branch_id": CSS_IDS, "_file": ["a.csv"] * len(CSS_IDS), "_row": list(range(2, 2 + len(CSS_IDS)))})
    docs = tmp_path / "docs"
    with keysets.held({"keys__branches__branch_id": ["B01"]}, ["keys__branches__branch_id"]) as own:
        Validator(data_docs=docs).run(json.loads(json.dumps(suite)), frame, ["_file", "_row"], own)
    pages = sorted(p for p in docs.rglob("*.html") if "127.0.0.1" in p.read_text(encoding="utf-8"))
    assert pages, "GX should render the hostile values it found unexpected (as markup)"
    offline_data_docs(docs)
    assert _requests_from(pages[:12]) == []


def test_ids_that_mask_alike_stay_distinct(tmp_path: Path):
    from audit.ingest import ingest

    write_csv(
        tmp_path / "支部信息.csv",
        [
            BRANCHES[0],
            ["13987654321", "甲支部", "新华街道党工委", "社区", ""],
            ["13911114321", "乙支部", "新华街道党工委", "社区", ""],
        ],
    )
    person = ["正式党员", "2005-07-01", "在职", "1000", ""]
    write_csv(
        tmp_path / "党员名册.csv",
        [MEMBERS[0], ["M13987654321", "张三", "", "13987654321", *person], ["M13900004321", "李四", "", "13911114321", *person]],
    )
    write_csv(tmp_path / "dues.csv", [DUES[0], ["M13900004321", "2019-01", "5", "5", "2019-01-05"]])
    result = ingest(tmp_path)
    assert [p.reason.name for p in result.problems if p.reason.name == "DUPLICATE"] == []
    members = result.tables["members"]
    zhang = members.filter(members["name"] == "张三")["member_id"].to_list()
    assert members.height == 2 and result.tables["branches"].height == 2
    assert not set(result.tables["dues"]["member_id"]) & set(zhang), "李四's dues joined to 张三"


def test_a_phone_number_in_the_batch_folder_name_is_masked(tmp_path: Path):
    batch = small_batch(tmp_path / f"批次_{PHONE}")
    out = tmp_path / "out"
    proc = cli("ingest", batch, "--out", out)
    assert proc.returncode == 0, said(proc)[-2000:]
    leaks = {
        str(p.relative_to(out)): found
        for p in out.rglob("*")
        if p.is_file() and (found := [x for v in _views(p) for x in _leaks(v)])
    }
    assert leaks == {} and PHONE not in said(proc)


# --- input limits --------------------------------------------------------------------------------------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def ingest_capped(batch: Path, *limits: str) -> dict:
    """The hostile-files suite's capped child ingest, with room for the slower bombs here."""
    from test_hostile_files import ingest_capped as capped

    return capped(batch, *limits, timeout=300)


def write_raw_workbook(path: Path, sheets: dict[str, Callable[[], Iterator[bytes]]]) -> Path:
    """A workbook written part by part, each sheet's XML streamed from its generator."""
    names = list(sheets)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{k}.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for k in range(1, len(names) + 1)
            )
            + "</Types>",
        )
        book.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        book.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
            + "".join(f'<sheet name="{n}" sheetId="{k}" r:id="rId{k}"/>' for k, n in enumerate(names, 1))
            + "</sheets></workbook>",
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{k}" Type="{RELS}/worksheet" Target="worksheets/sheet{k}.xml"/>'
                for k in range(1, len(names) + 1)
            )
            + "</Relationships>",
        )
        for k, name in enumerate(names, 1):
            with book.open(f"xl/worksheets/sheet{k}.xml", "w", force_zip64=True) as part:
                part.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>'.encode())
                for chunk in sheets[name]():
                    part.write(chunk)
                part.write(b"</sheetData></worksheet>")
    return path


def rows_xml(rows: list[list[str]]) -> bytes:
    cells = (
        "".join(f'<c r="{chr(65 + i)}{n}" t="inlineStr"><is><t>{v}</t></is></c>' for i, v in enumerate(row))
        for n, row in enumerate(rows, 1)
    )
    return "".join(f'<row r="{n}">{c}</row>' for n, c in enumerate(cells, 1)).encode()


def test_unknown_elements_in_a_sheet_cannot_exhaust_memory(tmp_path: Path):
    folder = batch_with(tmp_path)

    def sheet() -> Iterator[bytes]:
        yield rows_xml([DUES[0], DUES[1]])
        yield b'<row r="3"><c r="A3"><f>1+1</f></c></row>'  # saved without its value: read by openpyxl
        noise = os.urandom(2_000_000 // 8)  # a little entropy keeps the part under the ratio limit
        elements = [b"".join(b"<x/>" if byte >> k & 1 else b"<y/>" for k in range(8)) for byte in range(256)]
        for start in range(0, len(noise), 8192):
            yield b"".join(elements[byte] for byte in noise[start : start + 8192])

    write_raw_workbook(folder / "党费收缴.xlsx", {"党费收缴": sheet})
    outcome = ingest_capped(folder, "cells=100000")
    assert_rest_loads(outcome)
    assert outcome["peak_mb"] < 200, outcome["peak_mb"]  # refusing or reading it: the elements are not built
    # refused before openpyxl reads it (readers.OPENPYXL_UNKNOWN_TAGS), the sheet named
    assert [(p[1], p[2]) for p in outcome["problems"] if p[0] == "党费收缴.xlsx"] == [("党费收缴", "FILE_BROKEN_XLSX")]


def test_many_small_sheets_count_toward_one_file(tmp_path: Path):
    folder = batch_with(tmp_path)
    sheets = {
        f"附{k}": (lambda k=k: iter([rows_xml([[str(k * j + i) for i in range(10)] for j in range(90)])])) for k in range(60)
    }
    write_raw_workbook(folder / "附表.xlsx", sheets)
    outcome = ingest_capped(folder, "cells=1000")
    assert [code for name, _, code, _ in outcome["problems"] if name == "附表.xlsx" and code.startswith("FILE_TOO")], outcome[
        "problems"
    ]
    assert_rest_loads(outcome)


def test_a_quoted_field_spread_over_many_lines_is_refused_at_the_field_limit(tmp_path: Path):
    """Held: one quoted field of 1.4 million characters over 200,000 short lines, and a quote
    never closed, are refused (FILE_FIELD_TOO_LONG) without reading the rest of the file into a row."""
    folder = batch_with(tmp_path)
    field = "\n".join(["一二三四五六"] * 200_000)
    (folder / "党费收缴.csv").write_text(f'{",".join(DUES[0])}\r\nM001,2019-01,1,1,"{field}"\r\n', encoding="utf-8")
    (folder / "参会明细.csv").write_text(f'{",".join(ATTENDANCE[0])}\r\nHD1,M001,"' + "x" * 1_500_000 + "\r\n", encoding="utf-8")
    outcome = ingest_capped(folder)
    codes = {name: code for name, _, code, _ in outcome["problems"]}
    assert codes == {"党费收缴.csv": "FILE_FIELD_TOO_LONG", "参会明细.csv": "FILE_FIELD_TOO_LONG"}
    assert_rest_loads(outcome)


# --- the terminal ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", [["--quarter", "[/red]"], ["--quarter", "2019Q1", "--fail-on", "[/b]\x1b[2J"]])
def test_bad_options_with_markup_are_bad_usage(tmp_path: Path, option: list[str]):
    batch = small_batch(tmp_path / "batch")
    proc = cli("validate", batch, *option, "--out", tmp_path / "out", "--no-data-docs")
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "\x1b" not in said(proc) and "程序内部错误" not in said(proc)


@pytest.mark.parametrize(
    "manifest",
    [
        json.dumps({"batch": "/nowhere/\x1b]0;标题\x07[/x]", "inputs": {}}),
        json.dumps({"inputs": {}}),
        '{"batch": "/tmp", "inputs": {"a.csv": 1}}',
        "not json",
    ],
    ids=["hostile-batch-path", "no-batch", "input-without-hash", "not-json"],
)
def test_verify_manifest_of_a_forged_report_is_refused_safely(tmp_path: Path, manifest: str):
    report = tmp_path / "report"
    report.mkdir()
    (report / "manifest.json").write_text(manifest, encoding="utf-8")
    proc = cli("verify-manifest", report)
    assert proc.returncode == 2, said(proc)[-2000:]
    assert "\x1b" not in said(proc) and "程序内部错误" not in said(proc)


@pytest.mark.parametrize("name", ["抽查[v2].csv", "抽查[/v2].csv"])
def test_output_paths_are_printed_as_written(tmp_path: Path, name: str):
    batch = small_batch(tmp_path / "batch")
    out = tmp_path / name
    proc = cli("sample", batch, "--quarter", "2019Q1", "--out", out)
    assert proc.returncode == 0, said(proc)[-2000:]
    assert out.is_file() and str(out) in proc.stdout
