"""Every workbook format branches and platforms produce, read by content whatever the extension:
a real BIFF .xls (xlwt), WPS .et in both flavours, .ods, .xlsb (pyxlsbwriter), HTML and
SpreadsheetML 2003 saved as .xls, encrypted workbooks; and each format's bombs refused against
the limits before calamine builds anything (run in a memory-capped child, as in
test_hostile_files)."""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audit.ingest import ingest
from audit.readers import RawSheet, read_batch
from conftest import BRANCHES, DUES, MEMBERS, write_csv, write_xlsx
from test_hostile_files import assert_rest_loads, batch_with, ingest_capped, refused

TITLE = "新华街道党员名册"
# A roster as a workbook holds it: a merged title, typed cells (dates, numbers), an unknown type.
ROSTER: list[list[Any]] = [
    [TITLE],
    MEMBERS[0],
    ["M001", "张伟", "11010519491231002X", "B01", "正式党员", dt.date(2005, 7, 1), "在职", 6500, "13812345678"],
    ["M002", "李娜", None, "B01", "预备党员", dt.date(2018, 11, 9), "在职", 3000.5, None],
    ["M003", "王强", None, "B02", "见习党员", dt.date(2001, 7, 1), "离退休", 4800, None],
]


def roster_batch(tmp_path: Path) -> Path:
    folder = tmp_path / "batch"
    write_csv(folder / "支部信息.csv", BRANCHES)
    return folder


def assert_roster_read(folder: Path, file: str, sheet: str) -> None:
    """Two members accepted with their typed values and Excel row numbers, the third quarantined."""
    result = ingest(folder)
    members = result.tables["members"]
    assert members["member_id"].to_list() == ["M001", "M002"]
    assert members["joined_on"].to_list() == [dt.date(2005, 7, 1), dt.date(2018, 11, 9)]
    assert members["income_base"].to_list() == [6500.0, 3000.5]
    assert members["_row"].to_list() == [3, 4] and set(members["_sheet"].to_list()) == {sheet}
    [problem] = [p for p in result.problems if (p.file, p.sheet) == (file, sheet)]
    assert (problem.row, problem.reason.name, problem.value) == (5, "UNKNOWN_ENUM", "见习党员")
    source = next(s for s in result.sources if s.file == file)
    assert (source.table, source.rows_read, source.rows_accepted, source.rows_quarantined) == ("members", 3, 2, 1)


def raw_sheets(folder: Path) -> dict[tuple[str, str], RawSheet]:
    return {(s.file, s.sheet): s for s in read_batch(folder) if isinstance(s, RawSheet)}


# --- writers -------------------------------------------------------------------------------------


def xls_bytes(
    sheets: dict[str, list[list[Any]]], hidden: tuple[str, ...] = (), errors: dict[tuple[int, int], int] | None = None
) -> bytes:
    """A real BIFF8 workbook written by xlwt; a one-cell first row becomes a title merged across."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    dates = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        width = max(len(row) for row in rows)
        for r, row in enumerate(rows):
            if r == 0 and len(row) == 1 and width > 1:
                sheet.write_merge(0, 0, 0, width - 1, row[0])
                continue
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write(r, c, value, dates if isinstance(value, dt.date) else xlwt.Style.default_style)
        for (r, c), code in (errors or {}).items():
            sheet.row(r).set_cell_error(c, code)
        if name in hidden:
            sheet.visibility = 1
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def biff_stream(data: bytes) -> bytes:
    """The Workbook stream of an xlwt file (one stream, in the regular sectors)."""
    import olefile

    return olefile.OleFileIO(io.BytesIO(data)).openstream("Workbook").read()


def ole_with(stream: bytes) -> bytes:
    """A compound file holding ``stream`` as its Workbook (xlwt's own writer)."""
    from xlwt.CompoundDoc import XlsDoc

    buffer = io.BytesIO()
    XlsDoc().save(buffer, stream)
    return buffer.getvalue()


def biff_records(stream: bytes) -> Iterator[tuple[int, int, int]]:
    at = 0
    while at + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, at)
        yield kind, at, size
        at += 4 + size


def patched_cell(stream: bytes, row: int, col: int) -> bytes:
    """The stream with its last LABELSST cell moved to (row, col) — beyond what xlwt writes."""
    *_, (_, at, _) = [r for r in biff_records(stream) if r[0] == 0x00FD]
    return stream[: at + 4] + struct.pack("<HH", row, col) + stream[at + 8 :]


def ods_bytes(
    tables: list[tuple[str, list[list[Any]]]], hidden: tuple[str, ...] = (), raw_rows: str = "", encrypted: bool = False
) -> bytes:
    """An OpenDocument spreadsheet as LibreOffice writes one: a merged title spanning the table,
    typed cells, and the trailing block of a million repeated empty rows."""

    def cell(value: Any) -> str:
        if value is None:
            return "<table:table-cell/>"
        if isinstance(value, dt.date):
            return f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}"><text:p>{value}</text:p></table:table-cell>'
        if isinstance(value, (int, float)):
            return (
                f'<table:table-cell office:value-type="float" office:value="{value}"><text:p>{value}</text:p></table:table-cell>'
            )
        return f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'

    body = []
    for name, rows in tables:
        style = ' table:style-name="hidden"' if name in hidden else ""
        width = max(len(row) for row in rows)
        body.append(f'<table:table table:name="{name}"{style}>')
        for r, row in enumerate(rows):
            if r == 0 and len(row) == 1 and width > 1:
                body.append(
                    f'<table:table-row><table:table-cell table:number-columns-spanned="{width}" office:value-type="string">'
                    f'<text:p>{row[0]}</text:p></table:table-cell><table:covered-table-cell table:number-columns-repeated="{width - 1}"/>'
                    "</table:table-row>"
                )
                continue
            body.append(
                "<table:table-row>"
                + "".join(cell(v) for v in row)
                + '<table:table-cell table:number-columns-repeated="1015"/></table:table-row>'
            )
        body.append(raw_rows)
        body.append(
            '<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        )
        body.append("</table:table>")
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2">'
        '<office:automatic-styles><style:style style:name="hidden" style:family="table">'
        '<style:table-properties table:display="false"/></style:style></office:automatic-styles>'
        "<office:body><office:spreadsheet>" + "".join(body) + "</office:spreadsheet></office:body></office:document-content>"
    )
    encryption = '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>' if encrypted else ""
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{encryption}</manifest:file-entry>'
        "</manifest:manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def xlsb_file(path: Path, sheets: dict[str, list[list[Any]]], hidden: tuple[str, ...] = ()) -> Path:
    """A real .xlsb written by pyxlsbwriter (rows padded: it wants them rectangular)."""
    from pyxlsbwriter import XlsbWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    with XlsbWriter(str(path)) as writer:
        for name, rows in sheets.items():
            width = max(len(row) for row in rows)
            writer.add_sheet(name, hidden=name in hidden)
            writer.write_sheet([list(row) + [None] * (width - len(row)) for row in rows])
    return path


def html_roster(charset: str = "gb2312") -> str:
    """A roster as a platform's "export to Excel" writes it: an HTML table named .xls, the title a
    colspan, a header with line breaks and units, a branch cell merged down over two members."""
    header = "".join(f"<th>{h}</th>" for h in MEMBERS[0][:7]) + "<th>月收入基数<br>（元）</th><th>联系电话</th>"
    rows = [
        [
            "M001",
            "张伟",
            "11010519491231002X",
            '<td rowspan="2">B01</td>',
            "正式党员",
            "2005-07-01",
            "在职",
            "6,500",
            "13812345678",
        ],
        ["M002", "李娜", "&nbsp;", None, "预备党员", "2018/11/9", "在职", "3000.5", ""],
        ["M003", "王强", "", "B02", "见习党员", "2001年7月1日", "离退休", "4800", ""],
    ]
    body = "".join(
        "<tr>"
        + "".join(v if isinstance(v, str) and v.startswith("<td") else f"<td>{v}</td>" for v in row if v is not None)
        + "</tr>\n"
        for row in rows
    )
    return (
        f'<html xmlns:x="urn:schemas-microsoft-com:office:excel"><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">'
        f'</head><body><table border="1">\n<tr><td colspan="9">{TITLE}</td></tr>\n<tr>{header}</tr>\n{body}</table></body></html>'
    )


def spreadsheetml_roster() -> str:
    """An Excel 2003 XML workbook: rows and cells placed by ss:Index, a MergeAcross title, typed
    Data, a formula saved without its value, and a hidden sheet."""

    def data(value: Any) -> str:
        if isinstance(value, dt.date):
            return f'<Data ss:Type="DateTime">{value.isoformat()}T00:00:00.000</Data>'
        if isinstance(value, (int, float)):
            return f'<Data ss:Type="Number">{value}</Data>'
        return f'<Data ss:Type="String">{value}</Data>'

    rows = [f'<Row><Cell ss:MergeAcross="8">{data(TITLE)}</Cell></Row>']
    for row in ROSTER[1:]:
        cells = "".join(f'<Cell ss:Index="{c + 1}">{data(v)}</Cell>' for c, v in enumerate(row) if v is not None)
        rows.append(f"<Row>{cells}</Row>")
    rows[3] = rows[3].replace(f'<Cell ss:Index="8">{data(3000.5)}</Cell>', '<Cell ss:Index="8" ss:Formula="=RC[-1]*2"/>')
    branches = "".join("<Row>" + "".join(f"<Cell>{data(v)}</Cell>" for v in row) + "</Row>" for row in BRANCHES)
    return (
        '<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
        '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel">\n'
        '<Worksheet ss:Name="党员名册"><Table>' + "".join(rows) + "</Table></Worksheet>\n"
        '<Worksheet ss:Name="支部信息"><Table>' + branches + "</Table>"
        '<WorksheetOptions xmlns="urn:schemas-microsoft-com:office:excel"><Visible>SheetHidden</Visible></WorksheetOptions></Worksheet>\n'
        "</Workbook>\n"
    )


# --- each format -----------------------------------------------------------------------------------


def test_a_real_biff_xls_is_read_with_types_row_numbers_merges_and_hidden_sheets(tmp_path: Path):
    folder = roster_batch(tmp_path)
    (folder / "支部信息.csv").unlink()
    data = xls_bytes({"党员名册": ROSTER, "支部信息": BRANCHES}, hidden=("支部信息",))
    (folder / "新华街道党员名册.xls").write_bytes(data)
    assert_roster_read(folder, "新华街道党员名册.xls", "党员名册")
    sheets = raw_sheets(folder)
    roster = sheets[("新华街道党员名册.xls", "党员名册")]
    assert roster.merged == [(0, 0, 0, 8)] and roster.encoding == "xls" and not roster.hidden
    assert roster.rows[0] == (1, [TITLE]) and roster.rows[2][1][5] == dt.date(2005, 7, 1)
    assert sheets[("新华街道党员名册.xls", "支部信息")].hidden
    assert ingest(folder).tables["branches"]["branch_id"].to_list() == ["B01", "B02"]


def test_wps_et_is_read_in_both_flavours(tmp_path: Path):
    """WPS saves .et as BIFF (OLE) or as a zip; the content decides the reader."""
    folder = roster_batch(tmp_path)
    (folder / "党员名册.et").write_bytes(xls_bytes({"党员名册": ROSTER}))
    assert_roster_read(folder, "党员名册.et", "党员名册")
    zipped = write_xlsx(tmp_path / "book.xlsx", {"党员名册": ROSTER})
    (folder / "党员名册.et").write_bytes(zipped.read_bytes())
    assert_roster_read(folder, "党员名册.et", "党员名册")


def test_ods_is_read_and_libreoffice_trailing_empty_rows_cost_nothing(tmp_path: Path):
    folder = roster_batch(tmp_path)
    (folder / "支部信息.csv").unlink()
    (folder / "党员名册.ods").write_bytes(ods_bytes([("党员名册", ROSTER), ("支部信息", BRANCHES)], hidden=("支部信息",)))
    assert_roster_read(folder, "党员名册.ods", "党员名册")
    sheets = raw_sheets(folder)
    roster = sheets[("党员名册.ods", "党员名册")]
    assert roster.merged == [(0, 0, 0, 8)] and roster.encoding == "ods"
    assert len(roster.rows) == 5  # the million repeated empty rows are not rows
    assert sheets[("党员名册.ods", "支部信息")].hidden


def test_xlsb_is_read(tmp_path: Path):
    folder = roster_batch(tmp_path)
    xlsb_file(folder / "党员名册.xlsb", {"党员名册": ROSTER, "说明": [["填表说明"]]}, hidden=("说明",))
    assert_roster_read(folder, "党员名册.xlsb", "党员名册")
    sheets = raw_sheets(folder)
    assert sheets[("党员名册.xlsb", "说明")].hidden and sheets[("党员名册.xlsb", "党员名册")].encoding == "xlsb"


@pytest.mark.parametrize("charset", ["gb2312", "utf-8"])
def test_an_html_table_saved_as_xls_is_read(tmp_path: Path, charset: str):
    folder = roster_batch(tmp_path)
    (folder / "党员名册.xls").write_bytes(html_roster(charset).encode("gb18030" if charset == "gb2312" else charset))
    result = ingest(folder)
    members = result.tables["members"]
    assert members["member_id"].to_list() == ["M001"]
    assert members["income_base"].to_list() == [6500.0] and members["joined_on"].to_list() == [dt.date(2005, 7, 1)]
    # M002's branch cell is covered by the rowspan above (blank, as Excel shows it); M003's type is unknown
    found = sorted((p.row, p.reason.name) for p in result.problems if p.file == "党员名册.xls")
    assert found == [(4, "REQUIRED_BLANK"), (5, "UNKNOWN_ENUM")]
    sheet = raw_sheets(folder)[("党员名册.xls", "")]
    assert sheet.encoding == "html"
    assert sheet.merged == [(0, 0, 0, 8), (2, 3, 3, 3)]
    assert sheet.rows[1][1][7] == "月收入基数\n（元）" and sheet.rows[3][1][2] is None and sheet.rows[3][1][3] is None


def test_spreadsheetml_2003_saved_as_xls_is_read(tmp_path: Path):
    folder = roster_batch(tmp_path)
    (folder / "支部信息.csv").unlink()
    (folder / "导出.xls").write_text(spreadsheetml_roster(), encoding="utf-8")
    result = ingest(folder)
    members = result.tables["members"]
    assert members["member_id"].to_list() == ["M001", "M002"] and members["_row"].to_list() == [3, 4]
    assert members["joined_on"].to_list() == [dt.date(2005, 7, 1), dt.date(2018, 11, 9)]
    assert members["income_base"].to_list() == [6500.0, None]  # the formula saved without its value
    found = sorted((p.row, p.reason.name) for p in result.problems if p.sheet == "党员名册")
    assert found == [(4, "FORMULA_NO_VALUE"), (5, "UNKNOWN_ENUM")]
    assert result.tables["branches"].height == 2
    sheets = raw_sheets(folder)
    assert sheets[("导出.xls", "支部信息")].hidden and sheets[("导出.xls", "党员名册")].merged == [(0, 0, 0, 8)]


def test_the_reader_is_chosen_by_content_not_by_extension(tmp_path: Path):
    folder = roster_batch(tmp_path)
    (folder / "党员名册.xls").write_bytes(write_xlsx(tmp_path / "x.xlsx", {"党员名册": ROSTER}).read_bytes())
    assert_roster_read(folder, "党员名册.xls", "党员名册")
    (folder / "党员名册.xls").unlink()
    (folder / "党员名册.xlsx").write_bytes(xls_bytes({"党员名册": ROSTER}))
    assert_roster_read(folder, "党员名册.xlsx", "党员名册")
    (folder / "党员名册.xlsx").unlink()
    # tab-separated text, as many systems' "export to Excel" writes it
    (folder / "党员名册.xls").write_text("\n".join("\t".join(row) for row in MEMBERS), encoding="gb18030")
    assert ingest(folder).tables["members"].height == 3


def test_files_that_only_look_like_spreadsheets_are_refused_clearly(tmp_path: Path):
    folder = batch_with(tmp_path)
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    (folder / "党费收缴.xlsx").write_bytes(docx.getvalue())
    word = ole_with(b"\x00" * 5000).replace("Workbook".encode("utf-16-le"), "WordDocu".encode("utf-16-le"))
    (folder / "发展党员.xls").write_bytes(word)
    (folder / "阵地建设.xls").write_text('<?xml version="1.0"?><rss><channel/></rss>', encoding="utf-8")
    result = ingest(folder)
    found = {p.file: (p.reason.name, p.message) for p in result.problems}
    assert found["党费收缴.xlsx"][0] == found["发展党员.xls"][0] == found["阵地建设.xls"][0] == "FILE_NOT_SPREADSHEET"
    assert "另存为 .xlsx" in found["党费收缴.xlsx"][1] and "Word" in found["发展党员.xls"][1]
    assert result.tables["members"].height == len(MEMBERS) - 1


def test_encrypted_workbooks_get_a_clear_message(tmp_path: Path):
    from msoffcrypto.format.ooxml import OOXMLFile

    folder = batch_with(tmp_path)
    plain = io.BytesIO(write_xlsx(tmp_path / "plain.xlsx", {"党费收缴": DUES}).read_bytes())
    locked = io.BytesIO()
    OOXMLFile(plain).encrypt("123456", locked)
    (folder / "党费收缴.xlsx").write_bytes(locked.getvalue())
    # a BIFF workbook with an open password: FILEPASS right after the globals' BOF
    stream = biff_stream(xls_bytes({"阵地建设": [["支部编号"], ["B01"]]}))
    bof_end = 4 + struct.unpack_from("<H", stream, 2)[0]
    filepass = struct.pack("<HHH", 0x002F, 54, 1) + b"\x01\x00\x01\x00" + b"\x11" * 48
    shifted = bytearray(stream[:bof_end] + filepass + stream[bof_end:])
    for kind, at, _ in biff_records(bytes(shifted)):
        if kind == 0x0085:  # BOUNDSHEET positions move by the record inserted before them
            struct.pack_into("<L", shifted, at + 4, struct.unpack_from("<L", shifted, at + 4)[0] + len(filepass))
    (folder / "阵地建设.xls").write_bytes(ole_with(bytes(shifted)))
    (folder / "评议结果.ods").write_bytes(ods_bytes([("评议结果", [["年度"]])], encrypted=True))
    result = ingest(folder)
    found = {p.file: (p.reason.name, p.message) for p in result.problems}
    for name in ("党费收缴.xlsx", "阵地建设.xls", "评议结果.ods"):
        assert found[name][0] == "FILE_ENCRYPTED", found[name]
        assert "打开密码" in found[name][1] and "取消" in found[name][1]
    assert result.tables["members"].height == len(MEMBERS) - 1


def test_error_values_are_kept_never_read_as_blank(tmp_path: Path):
    """`#N/A` in 实交金额 is not an unpaid month: calamine reads error cells as blank, so the
    readers put the error back (BIFF records, openpyxl for .xlsx) and the row is quarantined."""
    folder = batch_with(tmp_path)
    rows = [DUES[0], ["M001", "2019-01", 97.5, 97.5, "2019-01-05"], ["M002", "2019-01", 15, None, None]]
    (folder / "党费收缴.xls").write_bytes(xls_bytes({"党费收缴": rows}, errors={(2, 3): 0x2A}))
    book = write_xlsx(tmp_path / "dues.xlsx", {"党费明细": [rows[0], *([row[0], "2019-02", *row[2:]] for row in rows[1:])]})
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(folder / "党费明细.xlsx", "w") as out:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":  # an error cached in D3, as Excel saves it
                end = part.index(b"</row>", part.index(b'<row r="3"'))
                part = part[:end] + b'<c r="D3" t="e"><v>#DIV/0!</v></c>' + part[end:]
            out.writestr(info, part)
    result = ingest(folder)
    found = sorted((p.file, p.row, p.reason.name, p.value) for p in result.problems)
    assert found == [("党费收缴.xls", 3, "NOT_A_NUMBER", "#N/A"), ("党费明细.xlsx", 3, "NOT_A_NUMBER", "#DIV/0!")]
    assert result.tables["dues"]["member_id"].to_list() == ["M001", "M001"]


def test_a_sheet_starting_below_and_right_keeps_excel_row_and_column_numbers(tmp_path: Path):
    folder = roster_batch(tmp_path)
    shifted = [[], [], *[[None, *row] for row in ROSTER[1:]]]
    write_xlsx(folder / "党员名册.xlsx", {"党员名册": shifted})
    [sheet] = [s for s in raw_sheets(folder).values() if s.file == "党员名册.xlsx"]
    assert [n for n, _ in sheet.rows] == [1, 2, 3, 4, 5, 6] and sheet.rows[2][1][:2] == [None, "党员编号"]
    result = ingest(folder)
    assert result.tables["members"]["_row"].to_list() == [4, 5]
    assert [(p.row, p.reason.name) for p in result.problems if p.file == "党员名册.xlsx"] == [(6, "UNKNOWN_ENUM")]


# --- which files are our tables --------------------------------------------------------------------


def test_a_statistics_sheet_that_resembles_a_table_is_skipped_with_the_reason(tmp_path: Path):
    folder = batch_with(tmp_path)
    stats = [
        ["所属党委", "党支部名称", "党员总数", "正式党员", "预备党员", "党费收缴率"],
        ["新华街道党工委", "联兴集团党支部", 12, 11, 1, "100%"],
    ]
    write_xlsx(folder / "党组织信息统计表.xlsx", {"Sheet1": stats})
    result = ingest(folder)
    [skip] = [s for s in result.skipped if s.file == "党组织信息统计表.xlsx"]
    assert skip.why.startswith("不是支部信息：表头没有「支部编号」，6 个列中只有 2 个是支部信息的列（所属党委、党支部名称）")
    assert [p for p in result.problems if p.file == "党组织信息统计表.xlsx"] == []
    assert all(s.file != "党组织信息统计表.xlsx" for s in result.sources)
    assert result.tables["branches"]["branch_id"].to_list() == ["B01", "B02"]


def test_a_file_whose_names_say_nothing_is_recognised_by_its_header(tmp_path: Path):
    folder = tmp_path / "batch"
    write_csv(folder / "支部信息.csv", BRANCHES)
    write_xlsx(folder / "2019年导出数据.xlsx", {"Sheet1": MEMBERS, "Sheet2": [["备注"], ["无"]]})
    why: dict[tuple[str, str], str] = {}
    from audit.contract import load_contract
    from audit.ingest import _assign_tables

    assigned, skipped = _assign_tables(list(read_batch(folder)), load_contract(), None, why)
    assert [(s.file, s.sheet, t) for s, t in assigned if s.file.endswith(".xlsx")] == [
        ("2019年导出数据.xlsx", "Sheet1", "members")
    ]
    assert why[("2019年导出数据.xlsx", "Sheet1")] == "表头" and why[("支部信息.csv", "")] == "文件名"
    assert [(s.sheet, s.why) for s in skipped] == [("Sheet2", "文件名和工作表名称都不对应任何表，表头也不是任何表的表头")]
    assert ingest(folder).tables["members"].height == 3


# --- each format's bombs, refused before calamine builds anything ------------------------------------


def test_xls_cell_far_away_is_refused_before_calamine_builds_the_grid(tmp_path: Path):
    """BIFF cells carry 16-bit columns: one at column 60,000 would make calamine allocate a grid
    of 65,536 x 60,000 cells (126 GB) when the workbook is opened."""
    folder = batch_with(tmp_path)
    stream = biff_stream(xls_bytes({"党费收缴": [*DUES, ["far"]]}))
    (folder / "党费收缴.xls").write_bytes(ole_with(patched_cell(stream, 65535, 60000)))
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.xls")
    assert code == "FILE_TOO_MANY_COLUMNS" and "60,001" in message and "16,384" in message
    assert_rest_loads(outcome)
    # within BIFF8's own bounds the grid is 65,536 x 256 cells: over a lowered cells limit
    (folder / "党费收缴.xls").write_bytes(ole_with(patched_cell(stream, 65535, 255)))
    [(code, message)] = refused(ingest_capped(folder, "cells=1000000"), "党费收缴.xls")
    assert code == "FILE_TOO_MANY_CELLS" and "16,777,216" in message


def test_xls_dimensions_record_that_lies_is_refused(tmp_path: Path):
    """calamine reserves room for the range a DIMENSIONS record declares: 4 billion rows here."""
    folder = batch_with(tmp_path)
    stream = bytearray(biff_stream(xls_bytes({"党费收缴": DUES})))
    [at] = [at for kind, at, size in biff_records(bytes(stream)) if kind == 0x0200 and size == 14]
    struct.pack_into("<LL", stream, at + 4, 0, 0xFFFFFFFF)
    (folder / "党费收缴.xls").write_bytes(ole_with(bytes(stream)))
    outcome = ingest_capped(folder)
    [(code, _)] = refused(outcome, "党费收缴.xls")
    assert code == "FILE_TOO_MANY_CELLS"
    assert_rest_loads(outcome)


def test_xls_rows_columns_and_field_limits(tmp_path: Path):
    folder = batch_with(tmp_path)
    rows = [[*DUES[0], "备注"], *([*row, "无"] for row in DUES[1:]), ["M001", "2019-02", 1, 1, "2019-02-05", "长" * 1500]]
    (folder / "党费收缴.xls").write_bytes(xls_bytes({"党费收缴": rows}))
    assert refused(ingest_capped(folder), "党费收缴.xls") == []
    [(code, message)] = refused(ingest_capped(folder, "field=1000"), "党费收缴.xls")
    assert code == "FILE_FIELD_TOO_LONG" and "第 5 行" in message
    [(code, _)] = refused(ingest_capped(folder, "rows=4"), "党费收缴.xls")
    assert code == "FILE_TOO_MANY_ROWS"
    [(code, _)] = refused(ingest_capped(folder, "columns=4"), "党费收缴.xls")
    assert code == "FILE_TOO_MANY_COLUMNS"


def test_ods_repeated_rows_and_columns_bomb_is_refused(tmp_path: Path):
    """One cell repeated 16,384 times in a row repeated a million times: 3 KB on disk."""
    folder = batch_with(tmp_path)
    bomb = (
        '<table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="16384" '
        'office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>'
    )
    (folder / "党费收缴.ods").write_bytes(ods_bytes([("党费收缴", DUES)], raw_rows=bomb))
    assert (folder / "党费收缴.ods").stat().st_size < 5000
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.ods")
    assert code == "FILE_TOO_MANY_CELLS" and "--limit cells=" in message
    assert_rest_loads(outcome)
    (folder / "党费收缴.ods").write_bytes(ods_bytes([("党费收缴", DUES)]))
    [(code, _)] = refused(ingest_capped(folder, "rows=3"), "党费收缴.ods")
    assert code == "FILE_TOO_MANY_ROWS"


def test_xlsx_cell_placed_far_below_its_row_counts_where_calamine_puts_it(tmp_path: Path):
    """calamine takes a cell's row from its own reference, not from the enclosing `<row>`."""
    from test_hostile_files import cell, sheet_xml, table_rows, write_workbook

    folder = batch_with(tmp_path)
    rows = list(table_rows(DUES))
    rows[1] = rows[1].replace(b"</row>", cell("F5000000", "x") + b"</row>")
    write_workbook(folder / "党费收缴.xlsx", sheet_xml(rows))
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.xlsx")
    assert code == "FILE_TOO_MANY_ROWS" and "5,000,000" in message
    assert_rest_loads(outcome)


def test_xlsb_cell_far_away_is_refused(tmp_path: Path):
    folder = batch_with(tmp_path)
    path = xlsb_file(tmp_path / "src.xlsb", {"党费收缴": DUES})
    _rewrite_xlsb_sheet(path, folder / "党费收缴.xlsb", lambda part: _xlsb_move_last_cell(part, 100_000))
    outcome = ingest_capped(folder)
    [(code, message)] = refused(outcome, "党费收缴.xlsb")
    assert code == "FILE_TOO_MANY_COLUMNS" and "100,001" in message
    assert_rest_loads(outcome)


def _xlsb_records(part: bytes) -> list[tuple[int, bytes]]:
    """The records of an .xlsb part: (type, body)."""
    records, at = [], 0
    while at < len(part):
        kind = part[at]
        at += 1
        if kind & 0x80:
            kind = kind & 0x7F | (part[at] & 0x7F) << 7
            at += 1
        size, shift = 0, 0
        while True:
            byte = part[at]
            at += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        records.append((kind, part[at : at + size]))
        at += size
    return records


def _xlsb_part(records: list[tuple[int, bytes]]) -> bytes:
    """Records written back as an .xlsb part (type and size as 7-bit varints)."""
    out = bytearray()
    for kind, body in records:
        out += bytes([kind & 0x7F | 0x80, kind >> 7]) if kind >= 0x80 else bytes([kind])
        size = len(body)
        while True:
            out.append(size & 0x7F | (0x80 if size > 0x7F else 0))
            size >>= 7
            if not size:
                break
        out += body
    return bytes(out)


def _xlsb_move_last_cell(part: bytes, column: int) -> bytes:
    """The sheet part with its last cell record's column set to ``column``."""
    records = _xlsb_records(part)
    last = max(i for i, (kind, _) in enumerate(records) if 0x0002 <= kind <= 0x0008)
    kind, body = records[last]
    records[last] = (kind, struct.pack("<L", column) + body[4:])
    return _xlsb_part(records)


def _rewrite_xlsb_sheet(source: Path, target: Path, change) -> None:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as out:
        for info in original.infolist():
            part = original.read(info)
            out.writestr(info, change(part) if info.filename == "xl/worksheets/sheet1.bin" else part)


def test_xlsb_error_cells_and_merged_ranges_are_kept(tmp_path: Path):
    """calamine reads an .xlsb error cell as blank and does not report .xlsb merged ranges: the
    record scan supplies both (a title merged over A1:E1, `#N/A` in 实交金额 of row 3)."""
    folder = batch_with(tmp_path)
    path = xlsb_file(tmp_path / "src.xlsb", {"党费收缴": [["党费收缴明细"], *DUES]})

    def change(part: bytes) -> bytes:
        records = _xlsb_records(part)
        rows = [i for i, (kind, _) in enumerate(records) if kind == 0x0000]
        third = rows[2]  # row 3: M001's payment
        paid = next(
            i for i in range(third + 1, len(records)) if records[i][0] in (0x0006, 0x0007) and records[i][1][:4] == b"\x03\0\0\0"
        )
        records[paid] = (0x0003, struct.pack("<LL", 3, 0) + b"\x2a")  # BrtCellError #N/A in column D
        end = next(i for i, (kind, _) in enumerate(records) if kind == 0x0092)
        merge = [(0x00B1, struct.pack("<L", 1)), (0x00B0, struct.pack("<4L", 0, 0, 0, 4)), (0x00B2, b"")]
        return _xlsb_part(records[: end + 1] + merge + records[end + 1 :])

    _rewrite_xlsb_sheet(path, folder / "党费收缴.xlsb", change)
    sheet = raw_sheets(folder)[("党费收缴.xlsb", "党费收缴")]
    assert sheet.merged == [(0, 0, 0, 4)] and sheet.rows[2][1][3] == "#N/A"
    result = ingest(folder)
    assert [(p.row, p.reason.name, p.value) for p in result.problems if p.file == "党费收缴.xlsb"] == [
        (3, "NOT_A_NUMBER", "#N/A")
    ]
    assert result.tables["dues"]["member_id"].to_list() == ["M002", "M003"]


def test_html_and_spreadsheetml_bombs_are_refused(tmp_path: Path):
    folder = batch_with(tmp_path)
    (folder / "党费收缴.xls").write_text(f'<table><tr><td colspan="1000000000">x</td></tr>{"<tr><td>1</td></tr>" * 5}</table>')
    outcome = ingest_capped(folder)
    [(code, _)] = refused(outcome, "党费收缴.xls")
    assert code == "FILE_TOO_MANY_COLUMNS"
    assert_rest_loads(outcome)
    (folder / "党费收缴.xls").write_text("<table>" + "<tr><td>1</td><td>2</td></tr>" * 50 + "</table>")
    assert [code for code, _ in refused(ingest_capped(folder, "rows=40"), "党费收缴.xls")] == ["FILE_TOO_MANY_ROWS"]
    assert [code for code, _ in refused(ingest_capped(folder, "cells=60"), "党费收缴.xls")] == ["FILE_TOO_MANY_CELLS"]
    xml = spreadsheetml_roster().replace("<Row><Cell ss:Index", '<Row ss:Index="5000000"><Cell ss:Index', 1)
    (folder / "党费收缴.xls").write_text(xml, encoding="utf-8")
    [(code, message)] = refused(ingest_capped(folder), "党费收缴.xls")
    assert code == "FILE_TOO_MANY_ROWS" and "5,000,000" in message
    entity = '<?xml version="1.0"?><!DOCTYPE Workbook [<!ENTITY a "aaaaaaaaaa">]><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>'
    (folder / "党费收缴.xls").write_text(entity, encoding="utf-8")
    [(code, message)] = refused(ingest_capped(folder), "党费收缴.xls")
    assert code == "FILE_BROKEN_XLSX" and "实体" in message


def test_only_the_sheets_that_need_openpyxl_go_through_it(tmp_path: Path):
    """A sheet with one cell at XFD1048576 (its grid from A1 would be 17 billion cells) is read
    cell by cell through openpyxl, which returns date cells as datetimes; the workbook's other
    sheet stays with calamine (dates as dates), so a stray cell does not slow the whole file."""
    folder = batch_with(tmp_path)
    both = write_xlsx(tmp_path / "both.xlsx", {"党费收缴": DUES, "日期": [["交纳日期"], [dt.date(2019, 1, 5)]]})
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    with zipfile.ZipFile(both) as source, zipfile.ZipFile(folder / "党费收缴.xlsx", "w") as out:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = part.replace(b"</sheetData>", far + b"</sheetData>")
            out.writestr(info, part)
    sheets = raw_sheets(folder)
    sparse, dated = sheets[("党费收缴.xlsx", "党费收缴")], sheets[("党费收缴.xlsx", "日期")]
    assert len(sparse.rows) == 1_048_576 and sparse.rows[-1][1][-1] == "x" and len(sparse.rows[-1][1]) == 16_384
    assert type(sparse.rows[1][1][0]) is str and dated.rows[1][1] == [dt.date(2019, 1, 5)]
    assert type(dated.rows[1][1][0]) is dt.date
