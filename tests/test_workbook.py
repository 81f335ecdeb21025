"""findings.xlsx ready to print: A4 landscape, one page wide, header on every page, whole
messages, branch names, severity order, colours, data problems with the branch to re-export."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from audit.contract import load_contract
from audit.decisions import Decisions, apply_decisions, with_decision_text
from audit.followup import classify
from audit.ingest import ingest
from audit.notices import convert, find_soffice
from audit.periods import Quarter
from audit.standard import load_standard
from audit.validate import validate_tables
from audit.views import meeting_sample
from audit.workbook import SEVERITY_RANK, Sheet, broken, display_width, rating_styles, report_sheets, write_workbook
from conftest import SAMPLE

SHEETS = ["问题清单", "评定结果", "评估范围", "整改台账", "审核决定", "抽查样本", "数据问题"]


@pytest.fixture(scope="module")
def workbook(tmp_path_factory) -> dict[str, object]:
    """The sample's workbook for 2019Q1 and 2019Q2 listed together (a half-year review: enough
    findings for 问题清单 to take several printed pages)."""
    ingested = ingest(SAMPLE)
    tables = ingested.tables
    q1, q2 = (validate_tables(tables, q) for q in ("2019Q1", "2019Q2"))
    findings = pl.concat([q1.findings, q2.findings])
    followup = classify(findings, None, Quarter.parse("2019Q2"), q2.standard)
    applied = apply_decisions(findings, Decisions(), Quarter.parse("2019Q2"), followup)
    listed = with_decision_text(applied.findings).join(followup.select("finding_id", "status"), on="finding_id", how="left")
    sheets = report_sheets(
        quarter="2019H1",
        quarter_zh="2019年上半年",
        standard=q2.standard,
        findings=listed,
        scorecard=q1.scorecard,
        followup=with_decision_text(followup),
        decisions=applied.table,
        sample=meeting_sample(tables, Quarter.parse("2019Q1"), 2019, 3),
        quarantine=ingested.quarantine,
        quality=q1.quality,
        tables=tables,
        titles={name: t.title for name, t in load_contract().tables.items()},
    )
    path = tmp_path_factory.mktemp("book") / "findings.xlsx"
    write_workbook(path, sheets)
    return {"path": path, "findings": findings, "book": openpyxl.load_workbook(path)}


def _rows(sheet) -> list[list[object]]:
    return [[c.value for c in row] for row in sheet.iter_rows()]


def test_every_sheet_prints_on_a4_landscape_one_page_wide_with_its_header(workbook):
    book = workbook["book"]
    assert book.sheetnames == SHEETS
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert setup.orientation == "landscape" and int(setup.paperSize) == 9, sheet.title
        # fit to pages: 1 wide (the file format's default, so not written) and as many long as needed
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth in (None, 1) and setup.fitToHeight == 0, (
            sheet.title
        )
        assert sheet.print_title_rows == "$1:$1", sheet.title
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref, sheet.title
        assert "&A" in sheet.oddHeader.left.text and "&P" in sheet.oddHeader.right.text


def test_rows_are_tall_enough_for_whole_messages(workbook):
    sheet = workbook["book"]["问题清单"]
    header = [c.value for c in sheet[1]]
    message = header.index("问题") + 1
    width = sheet.column_dimensions[openpyxl.utils.get_column_letter(message)].width
    long_rows = 0
    for row in range(2, sheet.max_row + 1):
        text = sheet.cell(row, message).value
        lines = math.ceil(display_width(text) / (width - 1))
        assert sheet.row_dimensions[row].height >= lines * 15, (row, text)
        assert sheet.cell(row, message).alignment.wrap_text
        long_rows += lines > 1
    assert long_rows > 5  # the sample's messages do wrap: the check is not vacuous


def test_an_empty_sheet_says_there_is_nothing_under_its_header(workbook):
    """Before: 评估范围 and 审核决定 (nothing to list) printed as a page with only the header row;
    now one sentence under the header, across every column."""
    book = workbook["book"]
    for name, sentence in (("评估范围", "本季度各项规则所需的数据齐全，均已评估。"), ("审核决定", "本季度没有审核决定。")):
        sheet = book[name]
        assert sheet.max_row == 2 and sheet.cell(2, 1).value == sentence, name
        assert [str(r) for r in sheet.merged_cells.ranges] == [f"A2:{openpyxl.utils.get_column_letter(sheet.max_column)}2"]
    assert book["问题清单"].cell(2, 1).value.startswith("F-")  # a sheet with rows has no such sentence
    assert all(c.value != "本季度没有发现问题。" for row in book["问题清单"].iter_rows() for c in row)


def test_long_text_is_broken_where_chinese_may_break_and_fits_its_cell():
    """A cell's text is broken before it is full and never before ，or ）: LibreOffice, which
    wraps wherever a line is full, printed lines starting with ，实交0.00元） and a lone ）."""
    from audit.linebreak import NO_START

    text = "彭华杰（M00006）2019年1月党费未交纳（应交240.00元，实交0.00元）"
    assert broken(text, display_width(text) + 1) == text  # it fits: unchanged
    for width in range(12, display_width(text) + 1):
        lines = broken(text, width).split("\n")
        assert len(lines) > 1 and "".join(lines) == text, width
        assert all(display_width(line) <= width - 2 for line in lines), (width, lines)
        assert not [line for line in lines[1:] if line[0] in NO_START], (width, lines)


def test_findings_are_listed_critical_first_then_by_branch_with_names(workbook):
    rows = _rows(workbook["book"]["问题清单"])
    header, body = rows[0], rows[1:]
    assert header[:4] == ["问题编号", "级别", "支部编号", "支部名称"]
    assert len(body) == workbook["findings"].height
    zh_rank = {"严重": 0, "错误": 1, "提示": 2}
    keys = [(zh_rank[r[1]], r[2]) for r in body]
    assert keys == sorted(keys) and {k[0] for k in keys} == set(SEVERITY_RANK.values())
    assert all(r[3] for r in body)  # a branch name beside every id
    names = dict(ingest(SAMPLE).tables["branches"].select("branch_id", "branch_name").iter_rows())
    assert all(r[3] == names[r[2]] for r in body)


def test_severities_and_ratings_are_coloured(workbook):
    book = workbook["book"]
    fills = {}
    for row in book["问题清单"].iter_rows(min_row=2):
        fills.setdefault(row[1].value, row[1].fill.fgColor.rgb)
    assert fills["严重"].endswith("C0392B") and fills["错误"].endswith("F5B7B1") and fills["提示"].endswith("FCF3CF")
    ratings = {}
    header = [c.value for c in book["评定结果"][1]]
    for row in book["评定结果"].iter_rows(min_row=2):
        cell = row[header.index("评定")]
        ratings.setdefault(cell.value, cell.fill.fgColor.rgb)
    assert ratings["未达标"].endswith("F5B7B1") and ratings["过硬"].endswith("ABEBC6")


def test_ratings_are_coloured_in_the_standards_own_words(tmp_path: Path):
    """A standard that calls its ratings 优秀 / 合格 / 不合格 (`rating:`) has them coloured as the
    default standard's 过硬 / 达标 / 未达标 are: the colour goes with the rating, not the word."""
    words = {"best": "优秀", "pass": "合格", "fail": "不合格", "dimension_fails_at": "error"}
    standard = dataclasses.replace(load_standard(), rating=words)
    card = pl.DataFrame({"branch_id": ["B1", "B2", "B3"], "rating": ["优秀", "合格", "不合格"]})
    path = tmp_path / "card.xlsx"
    sheet = Sheet("评定结果", card, {"branch_id": "支部编号", "rating": "评定"}, ("rating",), styles=rating_styles(standard))
    write_workbook(path, [sheet])
    fills = {row[1].value: row[1].fill.fgColor.rgb for row in openpyxl.load_workbook(path)["评定结果"].iter_rows(min_row=2)}
    assert fills["优秀"].endswith("ABEBC6") and fills["合格"].endswith("FCF3CF") and fills["不合格"].endswith("F5B7B1")


def test_data_problems_name_the_table_in_chinese_and_the_branch_to_re_export(workbook):
    rows = _rows(workbook["book"]["数据问题"])
    header, body = rows[0], rows[1:]
    assert header == ["来源", "表", "文件", "工作表", "行号", "列", "原值", "问题", "处理", "支部编号", "需重新导出的支部"]
    assert {r[0] for r in body} == {"导入隔离", "质量检查"}
    assert {r[1] for r in body} <= {t.title for t in load_contract().tables.values()}
    row = {(r[2], r[4]): r for r in body}
    points = row[("联兴集团党支部_党员积分_2019.csv", 379)]  # a branch's own file: its branch
    assert points[0] == "导入隔离" and points[9:] == ["XH01", "联兴集团党支部"]
    quality = [r for r in body if r[0] == "质量检查"]
    assert quality and all(r[9] for r in quality)  # a kept row: its own branch
    meeting = row[("三会一课台账.xlsx", 744)]
    assert meeting[9] == "XH08"
    unknown = [r for r in body if r[9] is None]
    assert unknown and all("文件含多个支部" in r[10] for r in unknown)


def _soffice() -> str:
    found = find_soffice()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice is not installed: .ci/run must install libreoffice-calc")
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc)")
    return found


def test_libreoffice_prints_findings_never_split_by_column(workbook, tmp_path: Path):
    from pypdf import PdfReader

    soffice = _soffice()
    pdf, why = convert(workbook["path"], "pdf", tmp_path, soffice=soffice)
    assert pdf is not None, why
    pages = [re.sub(r"\s+", "", page.extract_text()) for page in PdfReader(pdf).pages]
    listing = [p for p in pages if p.startswith("问题清单")]  # the page header names the sheet
    assert len(listing) >= 2  # several printed pages, each with every column
    for text in listing:
        assert "问题编号" in text and "审核决定" in text and "2019年上半年审核问题清单" in text
    found = "".join(listing)
    for finding in workbook["findings"]["finding_id"]:
        assert finding in found
    assert len([p for p in pages if p.startswith("数据问题")]) >= 1


@pytest.fixture(scope="module")
def printed(workbook, tmp_path_factory) -> list[str]:
    """The text of each page LibreOffice prints of the workbook."""
    from pypdf import PdfReader

    pdf, why = convert(workbook["path"], "pdf", tmp_path_factory.mktemp("printed"), soffice=_soffice())
    assert pdf is not None, why
    return [page.extract_text() for page in PdfReader(pdf).pages]


def test_libreoffice_prints_an_empty_sheet_with_its_sentence(printed):
    """Before: 评估范围 and 审核决定 printed as pages with only a header row."""
    flat = [re.sub(r"\s+", "", text) for text in printed]
    assert any(p.startswith("评估范围") and "本季度各项规则所需的数据齐全，均已评估。" in p for p in flat)
    assert any(p.startswith("审核决定") and "本季度没有审核决定。" in p for p in flat)


def test_libreoffice_prints_no_line_starting_with_a_closing_mark(printed):
    """Before: lines of 问题 started with ，实交0.00元） or were a lone ）."""
    from audit.linebreak import NO_START

    lines = [line.strip() for text in printed for line in text.splitlines() if line.strip()]
    assert len(lines) > 200  # the listing's lines are there to look at
    assert not [line for line in lines if line[0] in NO_START], [line for line in lines if line[0] in NO_START][:5]


def test_a_problem_row_not_kept_is_located_by_the_kept_rows_around_it():
    """A row that was not kept (quarantined) in a sheet of several branches: the branch of the
    nearest kept rows above and below it when they agree (按相邻行推断), else 文件含多个支部; a kept
    row: its own branch. The expectation is worked out here row by row, from every table's kept
    rows of that sheet."""
    from audit.workbook import data_problems

    ingested = ingest(SAMPLE)
    tables = dict(ingested.tables)
    attendance = tables["attendance"]
    file, sheet = attendance["_file"][0], attendance["_sheet"][0]
    rows = attendance.filter((pl.col("_file") == file) & (pl.col("_sheet") == sheet))["_row"].unique().sort().to_list()
    gone, kept_problem = set(rows[5::40]), rows[7]
    tables["attendance"] = attendance.filter(~((pl.col("_file") == file) & pl.col("_row").is_in(sorted(gone))))
    owner = {
        "meeting_id": dict(tables["meetings"].select("meeting_id", "branch_id").iter_rows()),
        "member_id": dict(tables["members"].select("member_id", "branch_id").iter_rows()),
    }
    branch_at: dict[int, str] = {}  # every kept row of the sheet, in any table, by its branch
    for frame in tables.values():
        if "_file" not in frame.columns:
            continue
        link = next((c for c in ("branch_id", "meeting_id", "member_id") if c in frame.columns), None)
        here = frame.filter((pl.col("_file") == file) & (pl.col("_sheet") == sheet)) if link else frame.head(0)
        for row, key in here.select("_row", link).iter_rows() if link else []:
            branch = key if link == "branch_id" else owner[link].get(key)
            if branch is not None:
                branch_at[row] = branch
    names = dict(tables["branches"].select("branch_id", "branch_name").iter_rows())
    expected = {}
    for row in sorted(gone):
        above = max((r for r in branch_at if r < row), default=None)
        below = min((r for r in branch_at if r > row), default=None)
        same = above is not None and below is not None and branch_at[above] == branch_at[below]
        expected[row] = names[branch_at[above]] + "（按相邻行推断）" if same else "（文件含多个支部，请按行号核对）"
    expected[kept_problem] = names[branch_at[kept_problem]]
    quality = pl.DataFrame(
        [
            {
                "table": "attendance",
                "file": file,
                "sheet": sheet,
                "row": r,
                "column": "x",
                "value": "",
                "check": "c",
                "message": "m",
            }
            for r in expected
        ],
        schema={
            c: pl.Int64 if c == "row" else pl.String
            for c in ("table", "file", "sheet", "row", "column", "value", "check", "message")
        },
    )
    titles = {name: t.title for name, t in load_contract().tables.items()}
    found = data_problems(ingested.quarantine.head(0), quality, tables, titles)
    said = {row: name for row, name in found.select(found.columns[4], found.columns[10]).iter_rows()}
    assert said == expected
    assert sum("按相邻行推断" in v for v in said.values()) > 3 and sum("多个支部" in v for v in said.values()) >= 1
