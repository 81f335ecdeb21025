"""Personal data (ID and mobile numbers) never leaves the toolkit whole: the masking function on
its own, at each boundary of ingestion, and a real `audit run` whose every output byte is scanned."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from audit.ingest import ingest, input_files
from audit.privacy import SECRET_ENV, holds_personal, mask_personal, mask_phone, pseudonym, shown, visible
from audit.reasons import Reason
from audit.synth import write_world
from audit.values import parse_integer, parse_number
from conftest import ATTENDANCE, BRANCHES, DUES, MEMBERS, write_csv, write_xlsx
from worlds import meetings, members, plain_member, world

ID18, ID15, PHONE = "11010519491231002X", "110105491231002", "13987654321"
ID18_MASKED, ID15_MASKED, PHONE_MASKED = "110105********002X", "110105*****1002", "139****4321"
ID_FORMS = [
    ID18,
    "11010519491231002x",
    "110105 19491231 002X",
    "110105-19491231-002X",
    "110105 1949 1231 002X",
    "1101 0519 4912 3100 2X",
    "１１０１０５１９４９１２３１００２Ｘ",
]
PHONE_FORMS = [
    PHONE,
    "+8613987654321",
    "008613987654321",
    "86-139-8765-4321",
    "+86 139 8765 4321",
    "139-8765-4321",
    "139 8765 4321",
    "1398 765 4321",
    "１３９８７６５４３２１",
]
FORMS = [*ID_FORMS, ID15, *PHONE_FORMS]
# the numbers themselves, whatever the writing: what must never appear once separators are removed
BARE = [ID18[:17], ID15, PHONE]


def _expected(form: str) -> str:
    if form in ID_FORMS:
        return ID18_MASKED
    return ID15_MASKED if form == ID15 else PHONE_MASKED


# --- the masking function -----------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("around", ["{}", "联系电话{}，请核实", "{}号", "第一行\n{}", "ID{}abc", "tel:{}", "（{}）"])
def test_every_form_is_masked_wherever_it_stands(form: str, around: str):
    masked = mask_personal(around.format(form))
    assert _expected(form) in masked
    assert not _leaks(masked), masked
    assert masked == around.format(mask_personal(form))  # the text around it is untouched


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"{ID18} {PHONE}", f"{ID18_MASKED} {PHONE_MASKED}"),
        (f"{ID18}{PHONE}", f"{ID18_MASKED}{PHONE_MASKED}"),
        ("证件110105 19491231 0021 13987654321", f"证件110105********0021 {PHONE_MASKED}"),
        (f"{PHONE}/{PHONE}", f"{PHONE_MASKED}/{PHONE_MASKED}"),
        (f"阵地建设_{ID18}_{PHONE}.csv", f"阵地建设_{ID18_MASKED}_{PHONE_MASKED}.csv"),
        ("+86 139 8765 4321", f"+86 {PHONE_MASKED}"),
        (f"{PHONE}x", f"{PHONE_MASKED}x"),
        ("１５８０１２３４５６７", "158****4567"),
    ],
)
def test_several_numbers_and_their_surroundings(text: str, masked: str):
    assert mask_personal(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("110105\u200b19491231\u200b002X", ID18_MASKED),  # zero-width spaces
        ("110105\u00a019491231\u00a0002X", ID18_MASKED),  # no-break spaces
        ("110105\u300019491231\u3000002X", ID18_MASKED),  # ideographic spaces
        ("139\u20138765\u20134321", PHONE_MASKED),  # en dashes
        ("139 - 8765 - 4321", PHONE_MASKED),
        ("139.8765.4321", PHONE_MASKED),
        ("\u0661\u0663\u0669\u0668\u0667\u0666\u0665\u0664\u0663\u0662\u0661", PHONE_MASKED),  # Arabic-Indic digits
        ("(+86) 139 8765 4321", f"(+86) {PHONE_MASKED}"),
        ("13987654321.00元", f"{PHONE_MASKED}.00元"),
        ("11010519491231002Xiao", f"{ID18_MASKED}iao"),
        ("110105194912310021x", "110105********0021x"),
    ],
)
def test_unusual_writings_are_masked(text: str, masked: str):
    assert mask_personal(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "M001",
        "XH01",
        "XH01M0001",
        "HD2019010501",
        "20190105",
        "2019-01-05",
        "2019/1/5",
        "2019-01-05 2019-02-05 2019-03-05",
        "2019-01-05 10:30:00",
        "20190105143000",
        "97.5",
        "1234567.89",
        "1,398,765,432.10",
        "金额 1234.56 元，共 12 人",
        "第13行",
        "第 1048576 行",
        "12345678",
        "123456789",
        "1234567890",
        "13345678 123",
        "100 200 300 400 500 600",
        "1-3 5-7 9-11 13-15",
        "2019 2020 2021 2022 2023",
        "0571-87654321",
        "1398765432",
        "139876543210",
        "1101051949123100",
        "1101051949123100211",
        "110105********002X",
        "139****4321",
        "联兴集团党支部_党员积分_2019.csv",
        "1.3987654321",
    ],
)
def test_legitimate_data_is_left_alone(text: str):
    assert mask_personal(text) == text
    assert not holds_personal(text)


@pytest.mark.parametrize("text", [*FORMS, f"备注{PHONE}", f"{ID18} {PHONE} {ID15}"])
def test_masking_is_idempotent(text: str):
    once = mask_personal(text)
    assert mask_personal(once) == once


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (PHONE, PHONE_MASKED),
        ("+86 139 8765 4321", PHONE_MASKED),
        ("008613987654321", PHONE_MASKED),
        ("139-8765-4321", PHONE_MASKED),
        ("１３９８７６５４３２１", PHONE_MASKED),
        ("010-65432100", "010****2100"),
        ("65432100", "****2100"),
        ("", ""),
    ],
)
def test_phone_column_mask(raw: str, masked: str):
    assert mask_phone(raw) == masked


def test_messages_show_control_characters_escaped_and_cut():
    assert visible("A\x1b[31mB\u202e") == "A\\x1b[31mB\\u202e"
    assert shown("长" * 500, 200) == "长" * 199 + "…"
    assert shown("x" * 190 + PHONE, 200) == "x" * 190 + "139****43…"  # a number across the cut is masked first


@pytest.mark.parametrize(
    "raw",
    [
        PHONE,
        "+8613987654321",
        "008613987654321",
        "139 8765 4321",
        "１３９８７６５４３２１",
        13987654321,
        13987654321.0,
        110105491231002,
    ],
)
def test_a_phone_or_id_in_a_number_column_is_refused(raw: Any):
    for parse in (parse_number, parse_integer):
        parsed = parse(raw)
        assert parsed.reason is Reason.PERSONAL_NUMBER
        message = parsed.reason.render(**dict(parsed.context))
        assert not _leaks(mask_personal(message))
    assert parse_number("13987654.5").value == 13987654.5 and parse_number(1e11).value == 1e11


# --- ingestion boundaries -----------------------------------------------------------------------


def test_reasons_and_values_of_every_problem_are_masked(batch: Path):
    write_csv(
        batch / "dues_more.csv",
        [
            ["党员编号", "所属月份", "应交金额", "实交金额", "交纳日期"],
            ["M001", "2019-02", "5", "139-8765-4321", ID18],
            ["M001", PHONE, "5", "5", ""],
            ["M002", "2019-02", "5", "+8613987654321", "110105 19491231 002X"],
        ],
    )
    write_csv(batch / "参会明细.csv", [ATTENDANCE[0], ["HD2", "M002", f"缺席{PHONE}"], ["HD3", "M001", "出席"]])
    write_csv(
        batch / "阵地建设.csv",
        [["支部编号", "检查日期", "有场所"], ["B01", "2019-03-01", f"是{PHONE}"], ["B01", ID15, "是"]],
    )
    result = ingest(batch)
    codes = {p.reason for p in result.problems}
    assert {
        Reason.PERSONAL_NUMBER,
        Reason.UNPARSED_DATE,
        Reason.UNPARSED_MONTH,
        Reason.UNKNOWN_ENUM,
        Reason.BAD_YESNO,
    } <= codes
    for problem in result.problems:
        row = problem.as_row()
        assert not any(_leaks(str(v)) for v in row.values()), row
    assert any(PHONE_MASKED in p.message for p in result.problems if p.reason is Reason.UNKNOWN_ENUM)
    assert any(ID18_MASKED in p.message for p in result.problems if p.reason is Reason.UNPARSED_DATE)


def test_file_sheet_and_header_names_are_masked_and_stay_distinct(batch: Path, tmp_path: Path):
    (batch / "dues.csv").unlink()
    write_csv(batch / f"党费收缴_{PHONE}.csv", DUES)
    write_csv(batch / "党费收缴_13912344321.csv", [DUES[0], ["M001", "2019-02", "5", "5", ""]])
    write_xlsx(
        batch / f"补充_{ID18}.xlsx",
        {
            f"党费收缴{PHONE}": [DUES[0], ["M001", "2019-03", "5", "5", ""]],
            "党费收缴13912344321": [DUES[0], ["M002", "2019-03", "5", "5", ""]],
        },
    )
    write_csv(batch / f"说明_{PHONE}.txt", [["x"]])
    write_csv(
        batch / "支部信息.csv",
        [[*BRANCHES[0], f"备注{PHONE}", "备注139 8765 4321", "_file"], *[[*r, f"电话{PHONE}", "", "x"] for r in BRANCHES[1:]]],
        "gb18030",
    )
    result = ingest(batch)
    out = tmp_path / "out"
    result.write(out)
    names = set(result.files)
    assert f"党费收缴_{PHONE_MASKED}.csv" in names and f"党费收缴_{PHONE_MASKED}~2.csv" in names
    assert f"补充_{ID18_MASKED}.xlsx" in names and f"说明_{PHONE_MASKED}.txt" in names
    assert len(names) == len(list(batch.iterdir()))  # none merged
    assert set(input_files(batch)) == names  # what verify-manifest re-hashes, by the same names
    sheets = {(s.file, s.sheet) for s in result.sources if s.file.startswith("补充")}
    assert sheets == {
        (f"补充_{ID18_MASKED}.xlsx", f"党费收缴{PHONE_MASKED}"),
        (f"补充_{ID18_MASKED}.xlsx", f"党费收缴{PHONE_MASKED}~2"),
    }
    dues = result.tables["dues"]
    assert dues.height == 3 + 1 + 2 and dues.select("_file", "_sheet").unique().height == 4
    branches = result.tables["branches"]
    assert {f"备注{PHONE_MASKED}", f"备注{PHONE_MASKED}_", "_file_"} <= set(branches.columns)
    assert branches[f"备注{PHONE_MASKED}"].to_list() == [f"电话{PHONE_MASKED}"] * 2
    assert set(branches["_file"]) == {"支部信息.csv"}  # an extra column named `_file` does not replace provenance
    [stats] = [s for s in result.sources if s.table == "branches"]
    assert not any(_leaks(h) for h in [*stats.headers, *stats.headers.values()])
    assert [s.file for s in result.skipped] == [f"说明_{PHONE_MASKED}.txt"]
    for path in out.rglob("*"):
        if path.is_file():
            assert not _scan_file(path), path


def test_masked_member_ids_still_join(tmp_path: Path):
    """Key columns are masked like any text, the same way in every table, and tagged
    (`privacy.tag_personal`), so references still resolve; a reference to a quarantined row finds
    it by its masked key."""
    write_csv(tmp_path / "branches.csv", BRANCHES)
    kept, dropped = "M139-8765-4321", "M158 0123 4567"
    write_csv(
        tmp_path / "members.csv",
        [*MEMBERS[:2], [kept, *MEMBERS[2][1:]], MEMBERS[3], [dropped, "王五", "", "B02", "正式党员", "不详"]],
    )
    write_csv(tmp_path / "dues.csv", [DUES[0], [kept, "2019-01", "5", "5", ""], [dropped, "2019-01", "5", "5", ""]])
    result = ingest(tmp_path)
    (key,) = result.tables["dues"]["member_id"].to_list()
    assert re.fullmatch(rf"M{re.escape(PHONE_MASKED)}#[A-Z]{{8}}", key)
    assert key in result.tables["members"]["member_id"].to_list()
    assert [(p.table, p.reason, p.value[:13]) for p in result.problems] == [
        ("dues", Reason.REF_QUARANTINED, "M158****4567#"),
        ("members", Reason.UNPARSED_DATE, "不详"),
    ]


def test_a_member_key_that_is_a_mobile_number_joins_however_it_is_written(tmp_path: Path):
    """A 党员编号 that is a mobile number, written in the dues with a country code, dashes, in
    scientific notation as a float column writes it, or as a float's text, is the roster's member;
    so is the 经手人 naming the member by that key (SM-10 compares it with the organizer's key).
    Before, a country code made another member and scientific notation another key."""
    write_csv(tmp_path / "branches.csv", BRANCHES)
    roster = [MEMBERS[0][:6], ["13987654321", "张三", "", "B01", "正式党员", "2005-07-01"]]
    write_csv(tmp_path / "members.csv", roster)
    forms = ["+86 139 8765 4321", "139-8765-4321", "1.3987654321E+10", "13987654321.0", "008613987654321"]
    months = [f"2019-0{i + 1}" for i in range(len(forms))]
    write_csv(
        tmp_path / "dues.csv",
        [
            [*DUES[0], "经手人"],
            *[[form, month, "5", "5", "", "+8613987654321"] for form, month in zip(forms, months, strict=True)],
        ],
    )
    result = ingest(tmp_path)
    (key,) = result.tables["members"]["member_id"].to_list()
    assert re.fullmatch(rf"{re.escape(PHONE_MASKED)}#[A-Z]{{8}}", key)
    dues = result.tables["dues"]
    assert dues["member_id"].to_list() == [key] * len(forms) and dues["collector"].to_list() == [key] * len(forms)
    assert not [p for p in result.problems if p.table == "dues"]


def test_a_mapping_file_naming_a_branch_by_a_mobile_number_leaks_nothing(tmp_path: Path):
    """A mapping file that gives a branch name the key 13800001111 (``branches``) or fixes a
    file's 支部编号 to it (``fixed``) names the branch list's branch, masked and tagged as its key
    is; the number stays in no table and no column map (both kept it whole)."""
    from audit.contract import load_contract
    from audit.mapping import load_mapping

    batch = tmp_path / "batch"
    write_csv(batch / "支部信息.csv", [BRANCHES[0][:4], ["13800001111", "物流公司党支部", "新华街道党工委", "两新组织"]])
    write_csv(batch / "阵地建设.csv", [["党支部", "检查日期", "有场所"], ["物流支部甲", "2019-03-01", "是"]])
    write_csv(batch / "阵地建设_联兴.csv", [["检查日期", "有场所"], ["2019-03-02", "是"]])
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        '{branches: {物流支部甲: "13800001111"}, tables: [{file: "阵地建设_联兴*", table: 阵地建设}],'
        ' fixed: [{file: "阵地建设_联兴*", values: {支部编号: 13800001111}}]}',
        encoding="utf-8",
    )
    result = ingest(batch, mapping=load_mapping(mapping, load_contract()))
    (key,) = result.tables["branches"]["branch_id"].to_list()
    assert key.startswith("138****1111#") and result.tables["venues"]["branch_id"].to_list() == [key, key]
    out = tmp_path / "out"
    result.write(out)
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace") + "".join(
                repr(pl.read_parquet(path).rows()) for _ in [0] if path.suffix == ".parquet"
            )
            assert "13800001111" not in text.replace("-", "").replace(" ", ""), path


# --- a real run, every output byte ------------------------------------------------------------------


def _fold(text: str) -> str:
    """Full-width to ASCII and every separator removed: a number re-formatted still shows."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s\-\u2010-\u2015\u2212_.]", "", text)


def _leaks(text: str) -> list[str]:
    found = [f for f in FORMS if f in text]
    folded = _fold(text)
    return found + [b for b in BARE if b in folded]


def _views(path: Path) -> list[str]:
    """The text a person or program could read out of a file, decoded per format."""
    data = path.read_bytes()
    views = [data.decode("latin-1"), data.decode("utf-16-le", "replace")]
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table = pq.read_table(path)
        views.append(" ".join(table.column_names))
        views += [repr(v) for column in table.columns for v in column.to_pylist()]
        for meta in (table.schema.metadata or {}, pq.read_metadata(path).metadata or {}):
            for key, value in meta.items():
                views += [key.decode("utf-8", "replace"), value.decode("utf-8", "replace")]
                if key == b"ARROW:schema":
                    views.append(base64.b64decode(value).decode("utf-8", "replace"))
        return views
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                text = archive.read(name).decode("utf-8", "replace")
                views += [name, text, html.unescape(text)]
        return views
    text = data.decode("utf-8-sig", "replace")
    views += [text, html.unescape(text), re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)]
    if suffix in (".json", ".ipynb"):
        views += list(_strings(json.loads(text)))
    return views


def _strings(value: Any):
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    else:
        yield str(value)
        if isinstance(value, str):
            yield html.unescape(value)


def _scan_file(path: Path) -> list[str]:
    return sorted({leak for view in _views(path) for leak in _leaks(view)})


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """Every form planted at every boundary, then `audit run` as a user runs it."""
    w = world()
    people = w.tables["members"]
    for person, id_form in zip(people, [*ID_FORMS, ID15], strict=False):
        person["id_number"] = id_form
    for person, phone_form in zip(people[10:], PHONE_FORMS, strict=False):
        person["phone"] = phone_form
    people[20]["name"] = f"张三{PHONE}"
    meetings(w, "XH01", "主题党日", "2019-01")[0]["topic"] = "；".join(f"联系人 {form}" for form in FORMS)
    next(b for b in w.tables["branches"] if b["branch_id"] == "XH02")["branch_name"] = "运河139 8765 4321党支部"
    root = tmp_path_factory.mktemp("privacy")
    batch = root / "batch"
    write_world(w, batch)
    # unknown extra columns: personal data in the header and in the values
    path = batch / "支部信息.csv"
    lines = path.read_bytes().decode("gb18030").splitlines()
    extra = [f"备注{form}" for form in FORMS]
    lines = [line + "," + ",".join(extra if i == 0 else [f"书记电话{f}" for f in FORMS]) for i, line in enumerate(lines)]
    path.write_bytes("\r\n".join(lines).encode("gb18030"))
    # file and folder names
    (batch / "阵地建设.csv").rename(batch / f"阵地建设_{ID18}_{PHONE}.csv")
    for form in FORMS:
        (batch / f"说明_{form}.txt").write_text("附件\n", encoding="utf-8")
    (batch / "附件139 8765 4321").mkdir()
    (batch / "附件139 8765 4321" / "照片.txt").write_text("照片\n", encoding="utf-8")
    (batch / f"党员名册_{ID_FORMS[3]}.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    # sheet names, and values quarantined with reasons that quote them
    member, meeting = members(w, "XH01")[3]["member_id"], meetings(w, "XH01", "主题党日")[0]["meeting_id"]
    dues_header = ["党员编号", "所属月份", "应交金额", "实交金额", "交纳日期", "收缴人"]
    write_xlsx(
        batch / f"补充_{ID_FORMS[1]}.xlsx",
        {
            f"参会明细{PHONE}": [["活动编号", "党员编号", "出勤情况"], *[[meeting, member, f"缺席{form}"] for form in FORMS]],
            "党费收缴+8613987654321": [
                dues_header,
                *[
                    [member, "2019-02", "10", phone, id_form, ""]
                    for phone, id_form in zip(PHONE_FORMS, [*ID_FORMS, ID15], strict=False)
                ],
                [member, "2019-02", "10", int(PHONE), "", ""],
                [member, PHONE, "10", "10", "", ""],
            ],
            "阵地建设110105 19491231 002X": [["支部编号", "检查日期", "有场所"], ["XH01", ID15, f"是{PHONE}"]],
        },
    )
    out = root / "report"
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "COLUMNS": "160"}
    command = [sys.executable, "-m", "audit.cli", "run", str(batch), "--quarter", "2019Q1", "--out", str(out), "--jobs", "2"]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return batch, out, proc


def test_no_output_byte_holds_a_full_id_or_phone_number(planted_run):
    batch, out, proc = planted_run
    written = [
        p for p in out.parent.rglob("*") if p.is_file() and batch not in p.parents and f"{batch.name}.truth" not in p.parts
    ]
    assert len(written) > 50 and any(p.suffix == ".ipynb" for p in written) and any("data-docs" in p.parts for p in written)
    leaks = {str(p.relative_to(out.parent)): found for p in written if (found := _scan_file(p))}
    leaks.update(
        {stream: found for stream, text in (("stdout", proc.stdout), ("stderr", proc.stderr)) if (found := _leaks(text))}
    )
    assert not leaks, leaks
    # the planted data did travel: masked, it is where it belongs
    tables = out / "tables"
    people = pl.read_parquet(tables / "members.parquet")
    assert {ID18_MASKED, ID15_MASKED} <= set(people["id_number"]) and PHONE_MASKED in set(people["phone"])
    assert f"张三{PHONE_MASKED}" in set(people["name"])
    assert {f"备注{PHONE_MASKED}", f"备注{ID18_MASKED}", f"备注{PHONE_MASKED}_"} <= set(
        pl.read_parquet(tables / "branches.parquet").columns
    )
    quarantine = pl.read_csv(out / "quarantine.csv", infer_schema=False)
    planted = quarantine.filter(pl.col("file") == f"补充_{ID18_MASKED}.xlsx")
    assert {"UNKNOWN_ENUM", "PERSONAL_NUMBER", "UNPARSED_DATE", "UNPARSED_MONTH", "BAD_YESNO"} <= set(planted["code"])
    assert {f"参会明细{PHONE_MASKED}", f"党费收缴+86{PHONE_MASKED}", f"阵地建设{ID18_MASKED}"} <= set(planted["sheet"])
    assert f"阵地建设_{ID18_MASKED}_{PHONE_MASKED}.csv" in set(pl.read_csv(out / "ingest_report.csv", infer_schema=False)["file"])
    assert f"党员名册_{ID18_MASKED}.xlsx" in set(quarantine["file"])
    meta = json.loads((out / "ingest_meta.json").read_text(encoding="utf-8"))
    skipped = [s["file"] for s in meta["skipped"]]
    assert len([s for s in skipped if s.startswith("说明_")]) == len(FORMS)  # distinct though masked alike
    assert f"附件{PHONE_MASKED}/照片.txt" in skipped and f"说明_{PHONE_MASKED}.txt" in proc.stdout
    assert set(json.loads((out / "manifest.json").read_text(encoding="utf-8"))["inputs"]) == set(meta["files"])


def test_verify_manifest_matches_by_masked_names(planted_run, tmp_path: Path):
    batch, out, _ = planted_run
    command = [sys.executable, "-m", "audit.cli", "verify-manifest", str(out)]
    same = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert same.returncode == 0, same.stdout + same.stderr
    copy = tmp_path / "batch"
    shutil.copytree(batch, copy)
    with (copy / f"阵地建设_{ID18}_{PHONE}.csv").open("ab") as handle:
        handle.write(b"\r\n")
    changed = subprocess.run([*command, "--batch", str(copy)], capture_output=True, text=True, timeout=300)
    assert changed.returncode == 1
    assert f"阵地建设_{ID18_MASKED}_{PHONE_MASKED}.csv" in changed.stdout + changed.stderr
    assert not _leaks(changed.stdout + changed.stderr)


# --- a batch keyed by ID numbers (Real exports II): pseudonyms, and still no number in any output -----


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _write_id_keyed(w, folder: Path) -> None:
    """The world as a platform exports it: a roster keyed by 身份证号码 alone (no 党员编号), every
    table that names members doing so by 身份证号 and 姓名, the branch's offices and a 党课's
    lecturer by name."""
    people = {m["member_id"]: m for m in w.tables["members"]}
    swaps = {
        "members": {"member_id": None},
        "branches": {"secretary_id": "secretary_name", "organizer_id": "organizer_name"},
        "meetings": {"lecturer_id": "lecturer"},
        **{t: {"member_id": "id_number"} for t in ("attendance", "points", "dues", "evaluations")},
    }
    for table, rows in w.tables.items():
        if not rows:
            continue
        columns = [c for c in rows[0] if not c.startswith("_")]
        swap = swaps.get(table, {})
        header = [swap.get(c, c) for c in columns if swap.get(c, c) is not None]
        names = ["member_name"] if swap.get("member_id") == "id_number" else []
        body = []
        for row in rows:
            cells = []
            for column in columns:
                target = swap.get(column, column)
                if target is None:
                    continue
                value = row[column]
                if column == "member_id":
                    value = people[value]["id_number"]
                elif target != column and value is not None:
                    value = people[value]["name"]
                cells.append(_cell(value))
            body.append(cells + ([people[row["member_id"]]["name"]] if names else []))
        write_csv(folder / f"{table}.csv", [header + names, *body])


@pytest.fixture(scope="module")
def id_keyed_run(tmp_path_factory):
    """`audit run` on a batch keyed by ID numbers, one member's first-quarter dues missing."""
    w = world()
    victim = plain_member(w, "XH01")
    w.tables["dues"] = [
        d
        for d in w.tables["dues"]
        if not (d["member_id"] == victim["member_id"] and f"{d['month']:%Y-%m}" < "2019-04" and d["month"].year == 2019)
    ]
    root = tmp_path_factory.mktemp("id-keyed")
    batch = root / "batch"
    _write_id_keyed(w, batch)
    secret = root / "config" / "pseudonym.key"
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "COLUMNS": "160", SECRET_ENV: str(secret)}
    out = root / "report"
    command = [sys.executable, "-m", "audit.cli", "run", str(batch), "--quarter", "2019Q1", "--out", str(out), "--jobs", "2"]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    again = root / "validated"
    command = [
        sys.executable,
        "-m",
        "audit.cli",
        "validate",
        str(batch),
        "--quarter",
        "2019Q1",
        "--out",
        str(again),
        "--no-data-docs",
    ]
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return w, victim, secret, out, again, proc.stdout + proc.stderr + second.stdout + second.stderr


def test_a_batch_keyed_by_id_numbers_holds_no_number_in_any_output(id_keyed_run):
    w, victim, secret, out, again, terminal = id_keyed_run
    numbers = [m["id_number"] for m in w.tables["members"]]
    prefixes = {n[:17] for n in numbers}  # the digits that identify, whatever the check character

    def leaks(text: str) -> set[str]:
        folded = _fold(text)
        return {p for p in prefixes if p in folded}

    written = [p for p in out.rglob("*") if p.is_file()] + [p for p in again.rglob("*") if p.is_file()]
    assert len(written) > 50 and any(p.suffix == ".html" for p in written)
    found = {str(p): hits for p in written for view in _views(p) if (hits := leaks(view))}
    assert not found, found
    assert not leaks(terminal)
    # keyed by pseudonyms that the secret, not the batch, determines; shown with the masked number
    roster = pl.read_parquet(out / "tables" / "members.parquet")
    key = pseudonym(victim["id_number"], bytes.fromhex(secret.read_text().strip()))
    assert all(k.startswith("ID-") for k in roster["member_id"]) and key in set(roster["member_id"])
    assert set(roster["id_number"]) >= {mask_personal(n) for n in numbers[:3]}
    findings = pl.read_csv(out / "findings.csv", infer_schema=False)
    assert key in set(findings["subject_id"])
    # the same findings, byte for byte, from another process (stable run to run)
    assert (out / "findings.csv").read_bytes() == (again / "findings.csv").read_bytes()
    assert (out / "scorecard.csv").read_bytes() == (again / "scorecard.csv").read_bytes()
    assert not any(p.name == secret.name for p in written)
