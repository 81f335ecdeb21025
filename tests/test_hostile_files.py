"""Hostile files in a batch: bombs that would exhaust memory or time are refused against the
limits before the expensive step (and the rest of the batch still loads); links, pipes and devices
are listed as skipped, never followed or opened; names from the batch reach the terminal escaped.

Each bomb is built small on disk in a temporary folder (zip parts are streamed, row and column
bombs use a low limit where the real thing would be large) and ingested in a child process with
its address space capped, so a regression fails instead of swapping the machine."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from audit.limits import Limits
from audit.readers import discover, printable
from conftest import BRANCHES, DUES, MEMBERS, write_csv

AUDIT = [sys.executable, "-m", "audit.cli"]
MEMORY_CAP = 1536 << 20  # address space of the child process: the sample batch needs far less
PEAK_ALLOWED_MB = 450  # peak RSS of a child that refuses a bomb (ingesting the sample: about 160 MB)
MAIN_NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"

# Run in the child: ingest the batch under a memory cap and report what happened as JSON. The peak
# is the child image's own (VmHWM): Linux carries ru_maxrss over from the forking parent across
# exec, so under pytest-xdist it would report the worker's memory.
CHILD = """
import json, resource, sys
cap = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from audit.ingest import ingest
from audit.limits import Limits
result = ingest(sys.argv[1], limits=Limits.parse(json.loads(sys.argv[2])))
print(json.dumps({
    "problems": [[p.file, p.sheet, p.reason.name, p.message] for p in result.problems],
    "skipped": [[s.file, s.sheet, s.why] for s in result.skipped],
    "heights": {name: frame.height for name, frame in result.tables.items()},
    "files": sorted(result.files),
    "peak_mb": next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024,
}, ensure_ascii=False))
"""


def ingest_capped(batch: Path, *limits: str, timeout: float = 120) -> dict:
    """Ingest in a child process with its address space capped; the outcome as a dict."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(batch), json.dumps(list(limits)), str(MEMORY_CAP)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),  # a bomb that kills the child leaves no core
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def refused(outcome: dict, file: str) -> list[tuple[str, str]]:
    """(reason code, message) of every problem about ``file``."""
    return [(code, message) for name, _, code, message in outcome["problems"] if name == file]


def batch_with(tmp_path: Path) -> Path:
    """A batch folder holding good branches and members, which must load whatever else is there."""
    folder = tmp_path / "batch"
    write_csv(folder / "支部信息.csv", BRANCHES)
    write_csv(folder / "党员名册.csv", MEMBERS)
    return folder


def assert_rest_loads(outcome: dict) -> None:
    assert outcome["heights"]["branches"] == len(BRANCHES) - 1 and outcome["heights"]["members"] == len(MEMBERS) - 1
    assert outcome["peak_mb"] < PEAK_ALLOWED_MB, outcome["peak_mb"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The `audit` command as a user runs it, on a wide terminal (messages stay on one line)."""
    env = {**os.environ, "COLUMNS": "400", "GX_ANALYTICS_ENABLED": "False"}
    return subprocess.run([*AUDIT, *args], capture_output=True, text=True, timeout=timeout, env=env)


def all_output_bytes(folder: Path) -> bytes:
    """Every byte of every file below ``folder``."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def dues_rows(count: int) -> list[list[str]]:
    """A dues header and ``count`` distinct payments (5 cells each)."""
    return [DUES[0], *(["M001", "2019-01", str(i), str(i), "2019-01-05"] for i in range(1, count + 1))]


# --- building workbooks part by part ------------------------------------------------------------


def _template(title: str) -> bytes:
    """A one-sheet workbook written by openpyxl, whose parts the bombs reuse."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = title
    book.active.append(["x"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_workbook(path: Path, sheet: Iterable[bytes], title: str = "党费收缴", extra: dict[str, bytes] | None = None) -> Path:
    """A real workbook (openpyxl's parts) whose first sheet's XML is streamed from ``sheet``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(_template(title))) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with out.open(info.filename, "w", force_zip64=True) as part:
                    for chunk in sheet:
                        part.write(chunk)
            else:
                out.writestr(info.filename, source.read(info))
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return path


def cell(ref: str, text: str) -> bytes:
    """One inline-string cell."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def table_rows(rows: list[list[str]], first: int = 1) -> Iterator[bytes]:
    """Rows of inline-string cells, numbered from ``first``."""
    for number, values in enumerate(rows, start=first):
        cells = b"".join(cell(f"{chr(65 + i)}{number}", v) for i, v in enumerate(values))
        yield f'<row r="{number}">'.encode() + cells + b"</row>"


def sheet_xml(body: Iterable[bytes], before: bytes = b"") -> Iterator[bytes]:
    """A worksheet part around ``body`` (its rows), with ``before`` ahead of the sheet data."""
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="' + MAIN_NS + b'">' + before + b"<sheetData>"
    yield from body
    yield b"</sheetData></worksheet>"


def prefixed(xml: bytes) -> bytes:
    """The same sheet with every element in an `x:` namespace prefix (valid XML, read alike)."""
    xml = xml.replace(b"<worksheet xmlns=", b"<x:worksheet xmlns:x=").replace(b"</worksheet>", b"</x:worksheet>")
    for tag in (b"sheetData", b"row", b"c", b"is", b"t", b"f", b"v"):
        xml = xml.replace(b"<" + tag + b">", b"<x:" + tag + b">").replace(b"<" + tag + b" ", b"<x:" + tag + b" ")
        xml = xml.replace(b"</" + tag + b">", b"</x:" + tag + b">")
    return xml


# --- workbooks ----------------------------------------------------------------------------------


def test_declared_dimension_is_ignored_only_cells_present_are_read(tmp_path: Path):
    """A 2 KB workbook declaring A1:XFD1048576 with a cell in its last row: every row up to it used
    to be padded to 16,384 cells (7.9 GB, then a traceback). Now each row is as wide as its cells."""
    folder = batch_with(tmp_path)
    dimension = b'<dimension ref="A1:XFD1048576"/>'
    last = b'<row r="1048576">' + cell("XFD1048576", "x") + b"</row>"
    path = write_workbook(folder / "党费收缴.xlsx", sheet_xml([*table_rows(DUES), last], before=dimension))
    assert path.stat().st_size < 8000
    outcome = ingest_capped(folder)
    assert [code for code, _ in refused(outcome, "党费收缴.xlsx") if code.startswith("FILE_")] == []
    assert outcome["heights"]["dues"] == len(DUES) - 1
    assert_rest_loads(outcome)


def test_zip_bomb_is_refused_from_the_directory(tmp_path: Path):
    """20 MB of white space deflates to about 20 KB: refused before anything is inflated."""
    folder = batch_with(tmp_path)
    padding = (b" " * (1 << 20) for _ in range(20))
    write_workbook(folder / "党费收缴.xlsx", sheet_xml([*table_rows(DUES), *padding]))
    assert (folder / "党费收缴.xlsx").stat().st_size < 200_000
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_ZIP_RATIO"
    assert "超过上限 200 倍" in message and "--limit ratio=" in message
    assert_rest_loads(outcome)


def test_white_space_bomb_with_the_ratio_raised_stops_at_the_field_limit(tmp_path: Path):
    """The streaming pass refuses a 20 MB run of text without ever holding it (the old check read
    each sheet whole, twice: 3.8 GB for a 1.2 GB sheet)."""
    folder = batch_with(tmp_path)
    padding = (b" " * (1 << 20) for _ in range(20))
    write_workbook(folder / "党费收缴.xlsx", sheet_xml([*table_rows(DUES), *padding]))
    outcome = ingest_capped(folder, "ratio=1000000")
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_FIELD_TOO_LONG" and "1,000,000" in message and "--limit field=" in message
    assert_rest_loads(outcome)


def test_inflated_size_over_the_limit(tmp_path: Path):
    folder = batch_with(tmp_path)
    write_workbook(folder / "党费收缴.xlsx", sheet_xml(table_rows(DUES)))
    outcome = ingest_capped(folder, "unzipped=2000")
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_UNZIPPED_TOO_LARGE" and "超过上限 2,000 字节" in message and "--limit unzipped=" in message
    assert_rest_loads(outcome)


def test_workbook_with_too_many_parts(tmp_path: Path):
    folder = batch_with(tmp_path)
    extra = {f"xl/media/blank{i}.txt": b"" for i in range(40)}
    write_workbook(folder / "党费收缴.xlsx", sheet_xml(table_rows(DUES)), extra=extra)
    outcome = ingest_capped(folder, "parts=30")
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_TOO_MANY_PARTS" and "超过上限 30 个" in message
    assert_rest_loads(outcome)
    # few entries, but a directory far larger than they need (long names): refused as well
    extra = {f"xl/media/{'n' * 3000}{i}.txt": b"" for i in range(5)}
    write_workbook(folder / "党费收缴.xlsx", sheet_xml(table_rows(DUES)), extra=extra)
    [(code, message)] = refused(ingest_capped(folder, "parts=14"), "党费收缴.xlsx")
    assert code == "FILE_TOO_MANY_PARTS" and "约" in message


def test_sparse_row_number_is_refused_at_the_default_rows_limit(tmp_path: Path):
    """One cell in row 5,000,000: openpyxl would build five million empty rows before it."""
    folder = batch_with(tmp_path)
    write_workbook(
        folder / "党费收缴.xlsx", sheet_xml([*table_rows(DUES), b'<row r="5000000">' + cell("A5000000", "x") + b"</row>"])
    )
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_TOO_MANY_ROWS" and "5,000,000" in message and "4,000,000" in message
    assert_rest_loads(outcome)


def test_cells_over_the_limit_are_counted_before_openpyxl_reads(tmp_path: Path):
    folder = batch_with(tmp_path)
    rows = dues_rows(400)  # 2,005 cells
    write_workbook(folder / "党费收缴.xlsx", sheet_xml(table_rows(rows)))
    assert refused(ingest_capped(folder, "cells=2100"), "党费收缴.xlsx") == []
    outcome = ingest_capped(folder, "cells=2000")
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_TOO_MANY_CELLS" and "超过上限 2,000" in message and "--limit cells=" in message
    assert_rest_loads(outcome)


@pytest.mark.parametrize("encoding", ["prefixed", "utf-16"])
def test_cells_are_counted_whatever_the_prefix_or_encoding(tmp_path: Path, encoding: str):
    """The byte-level count cannot be dodged with a namespace prefix or a UTF-16 part."""
    folder = batch_with(tmp_path)
    xml = b"".join(sheet_xml(table_rows(dues_rows(400))))
    if encoding == "prefixed":
        xml = prefixed(xml)
    else:
        xml = xml.replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode().encode("utf-16")
    write_workbook(folder / "党费收缴.xlsx", [xml])
    assert ingest_capped(folder)["heights"]["dues"] == 400  # a well-formed workbook: read as usual
    [(code, _)] = refused(ingest_capped(folder, "cells=2000"), "党费收缴.xlsx")
    assert code == "FILE_TOO_MANY_CELLS"


def test_many_cells_in_one_row_are_refused_before_openpyxl_builds_the_row(tmp_path: Path):
    folder = batch_with(tmp_path)
    crowded = b'<row r="4">' + b'<c r="A4"/>' * 20_000 + b"</row>"
    write_workbook(folder / "党费收缴.xlsx", sheet_xml([*table_rows(DUES), crowded]))
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_TOO_MANY_COLUMNS" and "第 4 行" in message and "16,384" in message
    assert_rest_loads(outcome)


def test_rows_padded_to_a_far_column_stop_at_the_cells_limit(tmp_path: Path):
    """One cell in column XFD per row: few cells present, 16,384 per row once read. Reading
    stops as soon as the cells built pass the limit; the other sheets still load."""
    folder = batch_with(tmp_path)
    far = (f'<row r="{n}">'.encode() + cell(f"XFD{n}", "x") + b"</row>" for n in range(1, 2001))
    write_workbook(folder / "党费收缴.xlsx", sheet_xml(far))
    outcome = ingest_capped(folder, "cells=100000")
    [(code, _)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_TOO_MANY_CELLS"
    assert_rest_loads(outcome)


def test_entity_declarations_are_refused(tmp_path: Path):
    """An entity could expand past any count made on the bytes."""
    folder = batch_with(tmp_path)
    doctype = b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "<c/><c/><c/><c/>">]>'
    body = b'<worksheet xmlns="' + MAIN_NS + b'"><sheetData><row r="1">&a;&a;</row></sheetData></worksheet>'
    write_workbook(folder / "党费收缴.xlsx", [doctype + body])
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_BROKEN_XLSX" and "实体" in message
    assert_rest_loads(outcome)


def test_formula_without_value_is_found_whatever_the_prefix(tmp_path: Path):
    """The streaming pass replaced a check that read each sheet whole and missed `<x:f>`."""
    folder = batch_with(tmp_path)
    rows = list(table_rows(DUES))
    rows[1] = rows[1].replace(cell("C2", "97.5"), b'<c r="C2"><f>1+1</f></c>')
    write_workbook(folder / "党费收缴.xlsx", [prefixed(b"".join(sheet_xml(rows)))])
    outcome = ingest_capped(folder)
    assert [code for _, _, code, _ in outcome["problems"]] == ["FORMULA_NO_VALUE"]
    assert_rest_loads(outcome)


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_header_of_five_million_columns_is_refused_before_decoding(tmp_path: Path):
    """10 MB on disk; parsed, it aborted in Rust after 6.8 GB."""
    folder = batch_with(tmp_path)
    (folder / "党费收缴.csv").write_bytes(b"a," * 5_000_000 + b"a\r\n1\r\n")
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.csv")
    assert code == "FILE_TOO_MANY_COLUMNS"
    assert "第 1 行有 5,000,001 列" in message and "16,384" in message and "--limit columns=" in message
    assert_rest_loads(outcome)


def test_csv_rows_over_the_default_limit_are_counted_before_decoding(tmp_path: Path):
    """Four million and one short lines (8 MB): refused after counting newlines, nothing parsed."""
    folder = batch_with(tmp_path)
    with (folder / "党费收缴.csv").open("wb") as handle:
        handle.write(",".join(DUES[0]).encode() + b"\n")
        for _ in range(40):
            handle.write(b"1\n" * 100_000)
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.csv")
    assert code == "FILE_TOO_MANY_ROWS" and "行数 4,000,001" in message and "上限 4,000,000" in message
    assert_rest_loads(outcome)


def test_csv_rows_limit_can_be_raised(tmp_path: Path):
    folder = batch_with(tmp_path)
    write_csv(folder / "党费收缴.csv", dues_rows(30))
    [(code, message)] = refused(ingest_capped(folder, "rows=20"), "党费收缴.csv")
    assert code == "FILE_TOO_MANY_ROWS" and "行数 31，超过上限 20" in message and "--limit rows=" in message
    assert refused(ingest_capped(folder, "rows=31"), "党费收缴.csv") == []


def test_csv_rows_ended_by_carriage_returns_alone_are_counted(tmp_path: Path):
    """Old Mac line ends: no line feed to count, yet every CR ends a row."""
    folder = batch_with(tmp_path)
    text = "\r".join(",".join(row) for row in dues_rows(5000)) + "\r"  # 20,004 commas in all
    (folder / "党费收缴.csv").write_text(text, encoding="utf-8")
    assert refused(ingest_capped(folder), "党费收缴.csv") == []
    [(code, message)] = refused(ingest_capped(folder, "rows=5000"), "党费收缴.csv")
    assert code == "FILE_TOO_MANY_ROWS" and "行数 5,001" in message


def test_csv_wide_row_after_the_header_is_refused_before_it_is_parsed(tmp_path: Path):
    folder = batch_with(tmp_path)
    rows = [DUES[0], DUES[1], DUES[2], ["x"] * 20_000]
    write_csv(folder / "党费收缴.csv", rows)
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.csv")
    assert code == "FILE_TOO_MANY_COLUMNS" and "第 4 行" in message
    assert_rest_loads(outcome)


def test_csv_record_spread_over_quoted_line_breaks_counts_all_its_columns(tmp_path: Path):
    """Each physical line is narrow; the record they make is not."""
    folder = batch_with(tmp_path)
    record = 'a,b,c,d,e,"x\ny",f,g,h,i,j'
    (folder / "党费收缴.csv").write_text(",".join(DUES[0]) + "\n" + record + "\n", encoding="utf-8")
    [(code, message)] = refused(ingest_capped(folder, "columns=10"), "党费收缴.csv")
    assert code == "FILE_TOO_MANY_COLUMNS" and "第 3 行" in message


def test_csv_field_over_the_default_limit(tmp_path: Path):
    folder = batch_with(tmp_path)
    write_csv(folder / "党费收缴.csv", [DUES[0], ["M001", "2019-01", "1", "1", "x" * 1_500_000]])
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.csv")
    assert code == "FILE_FIELD_TOO_LONG" and "1,000,000" in message and "字符" in message
    assert_rest_loads(outcome)


def test_csv_cells_and_size_limits(tmp_path: Path):
    folder = batch_with(tmp_path)
    path = write_csv(folder / "党费收缴.csv", dues_rows(30))
    [(code, _)] = refused(ingest_capped(folder, "cells=100"), "党费收缴.csv")
    assert code == "FILE_TOO_MANY_CELLS"
    [(code, message)] = refused(ingest_capped(folder, "size=500"), "党费收缴.csv")
    assert code == "FILE_TOO_LARGE" and f"文件大小 {path.stat().st_size:,} 字节" in message and "--limit size=" in message


def test_limits_parse_names_suffixes_and_refuse_nonsense():
    limits = Limits.parse(["rows=8000000", "size=2G", "cells=1_000_000", "Field=64k", "columns=20,000"])
    assert (limits.rows, limits.size, limits.cells, limits.field, limits.columns) == (8_000_000, 2 * 10**9, 10**6, 64_000, 20_000)
    assert limits.ratio == Limits().ratio
    for bad in ("rows", "rows=", "rows=0", "rows=-5", "rows=1.5", "speed=3", "rows=many"):
        with pytest.raises(ValueError, match="--limit"):
            Limits.parse([bad])


def test_the_cli_refuses_then_reads_with_a_raised_limit(tmp_path: Path):
    folder = batch_with(tmp_path)
    write_csv(folder / "党费收缴.csv", dues_rows(30))
    proc = run_cli("ingest", str(folder), "--out", str(tmp_path / "a"), "--limit", "rows=20", "--limit", "cells=1M")
    assert proc.returncode == 0, proc.stderr
    assert "未导入 党费收缴.csv：行数 31，超过上限 20；如确属正常导出，可加参数 --limit rows=更大的值 重新运行" in proc.stderr
    proc = run_cli("ingest", str(folder), "--out", str(tmp_path / "b"), "--limit", "rows=31")
    assert proc.returncode == 0 and "未导入" not in proc.stderr, proc.stderr
    proc = run_cli("ingest", str(folder), "--out", str(tmp_path / "c"), "--limit", "speed=3")
    assert proc.returncode == 2 and "--limit 应写成 名称=数值" in proc.stderr and "Traceback" not in proc.stderr


# --- links, pipes, devices ----------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_links_out_of_the_batch_are_listed_not_followed(tmp_path: Path):
    secret_dir = tmp_path / "elsewhere"
    secret_dir.mkdir()
    secret = "机密内容ZX81-" + "7" * 12
    write_csv(secret_dir / "党费收缴.csv", [DUES[0], ["M001", "2019-01", "1", "1", secret]])
    folder = batch_with(tmp_path)
    (folder / "党费收缴.csv").symlink_to(secret_dir / "党费收缴.csv")
    (folder / "台账").symlink_to(secret_dir, target_is_directory=True)
    out = tmp_path / "out"
    proc = run_cli("ingest", str(folder), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for text in (proc.stdout, proc.stderr, all_output_bytes(out).decode("utf-8", "replace")):
        assert secret not in text and "ZX81" not in text
    meta = json.loads((out / "ingest_meta.json").read_text(encoding="utf-8"))
    assert sorted(meta["files"]) == ["党员名册.csv", "支部信息.csv"]  # a link is neither read nor hashed
    skipped = {s["file"]: s["why"] for s in meta["skipped"]}
    assert "符号链接" in skipped["党费收缴.csv"] and "符号链接" in skipped["台账"]
    assert "已跳过 党费收缴.csv：符号链接" in proc.stdout
    assert discover(folder) == [folder / "党员名册.csv", folder / "支部信息.csv"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_listed_and_never_opened(tmp_path: Path):
    """Opening a FIFO for reading blocks until someone writes: the ingest must not hang."""
    folder = batch_with(tmp_path)
    os.mkfifo(folder / "党费收缴.csv")
    outcome = ingest_capped(folder, timeout=60)
    assert outcome["skipped"] == [["党费收缴.csv", "", "命名管道（FIFO），不是普通文件，未打开"]]
    assert outcome["files"] == ["党员名册.csv", "支部信息.csv"]
    assert_rest_loads(outcome)


def test_a_socket_is_listed_and_never_opened(tmp_path: Path):
    import socket

    folder = batch_with(tmp_path)
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(folder / "会议.csv"))
    except OSError as exc:  # a path too long for a socket name
        pytest.skip(str(exc))
    with server:
        outcome = ingest_capped(folder, timeout=60)
    assert outcome["skipped"] == [["会议.csv", "", "套接字，不是普通文件，未打开"]]
    assert_rest_loads(outcome)


# --- the terminal -------------------------------------------------------------------------------


def test_names_from_the_batch_reach_the_terminal_escaped(tmp_path: Path):
    folder = batch_with(tmp_path)
    name = "说明\x1b[31m[red]红色[bold]\x1b]0;标题\x07.txt"
    (folder / name).write_text("x", encoding="utf-8")
    (folder / "党费收缴[bold]\x1b[2J.csv").write_bytes(bytes(range(256)) * 8)  # unreadable: reported on stderr
    proc = run_cli("ingest", str(folder), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert "\x1b" not in stream and "\x07" not in stream
    assert "已跳过 说明\\x1b[31m[red]红色[bold]\\x1b]0;标题\\x07.txt" in proc.stdout
    assert "未导入 党费收缴[bold]\\x1b[2J.csv" in proc.stderr


def test_printable_escapes_controls_and_markup():
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("[red]x[/red] \u202egnp.exe") == "\\[red]x\\[/red] \\u202egnp.exe"
    assert printable("党支部 B01") == "党支部 B01"
