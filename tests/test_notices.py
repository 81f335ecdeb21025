"""整改通知书: Word documents per branch with Chinese fonts, deadlines, follow-up and 签收 block;
one A4 page for a typical branch when LibreOffice prints it."""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest

from audit.decisions import Decisions, apply_decisions, parse_decisions
from audit.followup import PreviousReport, classify
from audit.ingest import ingest
from audit.notices import (
    ALL_PDF,
    NoticeError,
    convert,
    deadlines,
    find_soffice,
    notice_for,
    notice_name,
    notices_for,
    parse_deadline,
    rectification_days,
    write_notices,
)
from audit.periods import Quarter
from audit.standard import load_standard
from audit.validate import validate_tables
from conftest import REPO, SAMPLE

Q1, Q2 = Quarter.parse("2019Q1"), Quarter.parse("2019Q2")


@pytest.fixture(scope="module")
def sample() -> dict[str, object]:
    """The sample's 2019Q1 and 2019Q2 and the follow-up of the second against the first."""
    tables = ingest(SAMPLE).tables
    standard = load_standard()
    first, second = validate_tables(tables, Q1, standard), validate_tables(tables, Q2, standard)
    items = first.findings.head(0).select("finding_id", "rule_id", "branch_id", "subject_id", "period", "message")
    previous = PreviousReport(Path("2019Q1"), Q1, first.findings, items, False)
    followup = classify(second.findings, previous, Q2, standard, first.findings)
    branches = {b["branch_id"]: b for b in tables["branches"].to_dicts()}
    return {"standard": standard, "first": first, "second": second, "followup": followup, "branches": branches}


def _notice(sample, branch: str, quarter: Quarter = Q1, decisions: Decisions | None = None, deadline: dt.date | None = None):
    standard = sample["standard"]
    validation = sample["first"] if quarter == Q1 else sample["second"]
    followup = None if quarter == Q1 else sample["followup"]
    findings = validation.findings.filter(pl.col("branch_id") == branch)
    findings = apply_decisions(findings, decisions or Decisions(), quarter).findings
    rating = validation.scorecard.filter(pl.col("branch_id") == branch).row(0, named=True)
    previous = None if quarter == Q1 else Q1
    return notice_for(
        sample["branches"][branch],
        quarter,
        standard,
        rating,
        findings,
        followup,
        deadlines(standard, quarter, deadline),
        previous,
    )


def _text(path: Path) -> str:
    from docx import Document

    doc = Document(str(path))
    cells = [cell.text for table in doc.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def _tables(path: Path) -> list[str]:
    """The text of each table of a document: rating, findings to fix (when any), follow-up (when any)."""
    from docx import Document

    return ["\n".join(cell.text for row in table.rows for cell in row.cells) for table in Document(str(path)).tables]


def test_a_notice_holds_what_the_branch_must_fix_by_when(sample, tmp_path: Path):
    notice = _notice(sample, "XH01")
    assert write_notices(tmp_path, [notice], sample["standard"], pdf=False) == []
    text = _text(tmp_path / "XH01.docx")
    assert "整改通知书" in text and "联兴集团党支部（支部编号 XH01）" in text and "2019年第一季度" in text
    for finding in sample["first"].findings.filter(pl.col("branch_id") == "XH01").iter_rows(named=True):
        assert finding["message"] in text and finding["evidence"] in text
    # 整改期限 from standard.yaml: 15 days after the quarter for 严重, 30 for 错误
    assert "2019年4月15日" in text and "2019年4月30日" in text
    assert "支部书记签字" in text and "新华街道党工委（盖章）" in text
    assert "未找到上季度审核报告，无法跟踪上季度问题的整改情况" in text
    for dimension in sample["standard"].dimensions:
        assert dimension in text


def test_fonts_are_declared_for_chinese_and_the_page_is_a4(sample, tmp_path: Path):
    write_notices(tmp_path, [_notice(sample, "XH01")], sample["standard"], pdf=False)
    with zipfile.ZipFile(tmp_path / "XH01.docx") as archive:
        document = archive.read("word/document.xml").decode("utf-8")
        styles = archive.read("word/styles.xml").decode("utf-8")
    fonts = re.findall(r"<w:rFonts [^>]*>", document)
    assert fonts and all('w:eastAsia="' in f for f in fonts)
    assert {re.search(r'w:eastAsia="([^"]+)"', f).group(1) for f in fonts} == {"宋体", "黑体"}
    assert 'w:eastAsia="宋体"' in styles and 'w:eastAsia="zh-CN"' in styles
    assert '<w:pgSz w:w="11906" w:h="16838"' in document  # A4 portrait


def test_the_follow_up_and_decisions_shape_the_next_notice(sample, tmp_path: Path):
    xh06 = sample["second"].findings.filter(pl.col("branch_id") == "XH06")
    bg1 = xh06.filter(pl.col("rule_id") == "BG-1")["finding_id"].item()
    ol1 = xh06.filter(pl.col("rule_id") == "OL-1")["finding_id"].item()
    raw = "\r\n".join(
        [
            "finding_id,decision,note,reviewer,decided_on",
            f"{bg1},误报,活动室已订党报党刊，检查人员漏看,王审核,2019-07-08",
            f"{ol1},限期整改,8月底前召开,王审核,2019-07-08",
        ]
    ).encode("utf-8")
    decisions = Decisions(Path("d.csv"), "x", parse_decisions(raw, Path("d.csv")))
    notice = _notice(sample, "XH06", Q2, decisions, dt.date(2019, 8, 31))
    assert [f["rule_title"] for f in notice.to_fix] == ["OL-1 支部党员大会每季度至少1次"]  # the 误报 is not asked for
    assert [f["deadline"] for f in notice.to_fix] == [dt.date(2019, 8, 31)]
    xh14 = _notice(sample, "XH14", Q2)
    assert [r["status"] for r in xh14.followup] == ["已整改"] and "M00255" in xh14.followup[0]["message"]
    write_notices(tmp_path, [notice, xh14], sample["standard"], pdf=False)
    to_fix, followup = _tables(tmp_path / "XH06.docx")[1:]
    assert "2019年8月31日" in to_fix and "支部党员大会" in to_fix and "党报党刊" not in to_fix
    assert "持续（经核实为误报）" in followup and "党报党刊" in followup  # BG-1 failed in Q1 too, judged 误报 now
    # XH14 fixed last quarter's problem and has nothing to fix now: no notice to sign
    assert xh14.kind is None and sorted(p.name for p in tmp_path.iterdir()) == ["XH06.docx"]


def test_the_notices_of_all_branches_at_once_are_each_branchs_notice(sample):
    """`notices_for` splits the findings, follow-up and coverage by branch once: each notice is the
    one `notice_for` makes from that branch's findings alone (order, decisions, follow-up, unchecked)."""
    second, standard = sample["second"], sample["standard"]
    xh06 = second.findings.filter(pl.col("branch_id") == "XH06")
    bg1 = xh06.filter(pl.col("rule_id") == "BG-1")["finding_id"].item()
    raw = f"finding_id,decision,note,reviewer,decided_on\r\n{bg1},误报,漏看,王审核,2019-07-08".encode()
    applied = apply_decisions(second.findings, Decisions(Path("d.csv"), "x", parse_decisions(raw, Path("d.csv"))), Q2)
    ratings = {r["branch_id"]: r for r in second.scorecard.to_dicts()}
    branches = [sample["branches"][b] for b in sorted(sample["branches"], reverse=True)]  # any order is kept
    due = deadlines(standard, Q2)
    coverage = second.coverage.with_columns(
        status=pl.when(pl.col("branch_id") == "XH03").then(pl.lit("无法评估")).otherwise("status")
    )  # a branch with parts that could not be judged
    together = notices_for(branches, Q2, standard, ratings, applied.findings, sample["followup"], due, Q1, coverage)
    alone = [
        notice_for(
            b,
            Q2,
            standard,
            ratings[b["branch_id"]],
            applied.findings.filter(pl.col("branch_id") == b["branch_id"]),
            sample["followup"],
            due,
            Q1,
            coverage.filter(pl.col("branch_id") == b["branch_id"]),
        )
        for b in branches
    ]
    assert together == alone
    assert [n.branch_id for n in together] == [b["branch_id"] for b in branches]
    assert sum(bool(n.to_fix) for n in together) > 3 and sum(bool(n.followup) for n in together) > 1
    assert [n.branch_id for n in together if n.unchecked] == ["XH03"]


def test_deadlines_come_from_the_standard_or_one_date(sample, tmp_path: Path):
    standard = sample["standard"]
    assert rectification_days(standard) == {"critical": 15, "error": 30, "warning": 60}
    assert deadlines(standard, Q1)["warning"] == dt.date(2019, 5, 30)
    assert set(deadlines(standard, Q1, dt.date(2019, 6, 1)).values()) == {dt.date(2019, 6, 1)}
    with pytest.raises(NoticeError, match="应晚于2019年第一季度末"):
        deadlines(standard, Q1, dt.date(2019, 3, 31))
    assert parse_deadline("2019年6月1日") == parse_deadline("2019-06-01") == dt.date(2019, 6, 1)
    with pytest.raises(NoticeError, match="--deadline 应为日期"):
        parse_deadline("六月")
    edited = tmp_path / "standard.yaml"
    text = (REPO / "expectations" / "standard.yaml").read_text(encoding="utf-8")
    edited.write_text(text.replace("    error: 30\n", "    error: 45\n"), encoding="utf-8")
    assert deadlines(load_standard(edited), Q1)["error"] == dt.date(2019, 5, 15)
    edited.write_text(text.replace("    error: 30\n", "    error: 三十\n"), encoding="utf-8")
    with pytest.raises(NoticeError, match=r"rectification\.days\.error 应为正整数天数"):
        rectification_days(load_standard(edited))


def test_text_no_document_can_hold_is_shown_escaped(sample, tmp_path: Path):
    notice = _notice(sample, "XH01")
    notice.to_fix[0]["message"] = "响铃\x07与转义\x1b[31m"
    write_notices(tmp_path, [notice], sample["standard"], pdf=False)
    assert "响铃\\x07与转义\\x1b[31m" in _text(tmp_path / "XH01.docx")
    assert notice_name("../x/../XH01").endswith(".docx") and "/" not in notice_name("../x/../XH01")


def test_the_same_notice_is_the_same_file(sample, tmp_path: Path):
    for folder in ("a", "b"):
        write_notices(tmp_path / folder, [_notice(sample, "XH01")], sample["standard"], pdf=False)
    assert (tmp_path / "a" / "XH01.docx").read_bytes() == (tmp_path / "b" / "XH01.docx").read_bytes()


def test_without_libreoffice_the_pdf_is_skipped_with_a_notice(sample, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    notes = write_notices(tmp_path / "n", [_notice(sample, "XH01")], sample["standard"])
    assert notes == ["未安装 LibreOffice（soffice），未生成 notices/全部通知书.pdf；各支部的 Word 通知书已生成"]
    assert (tmp_path / "n" / "XH01.docx").is_file() and not (tmp_path / "n" / ALL_PDF).exists()


def _soffice() -> str:
    found = find_soffice()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice is not installed: .ci/run must install libreoffice-writer")
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-writer)")
    return found


def test_libreoffice_prints_a_typical_notice_on_one_a4_page(sample, tmp_path: Path):
    from pypdf import PdfReader

    soffice = _soffice()
    notice = _notice(sample, "XH01")  # five findings to fix: more than most branches have
    write_notices(tmp_path, [notice], sample["standard"], pdf=False)
    pdf, why = convert(tmp_path / "XH01.docx", "pdf", tmp_path / "pdf", soffice=soffice)
    assert pdf is not None, why
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert abs(width - 595) < 2 and abs(height - 842) < 2  # A4 in points
    text = re.sub(r"\s+", "", reader.pages[0].extract_text())
    for expected in ("整改通知书", "联兴集团党支部", "2019年第一季度", "支部书记签字", "2019年4月15日", "M00006"):
        assert expected in text


def test_all_notices_go_into_one_pdf_a_branch_to_a_page(sample, tmp_path: Path):
    from pypdf import PdfReader

    _soffice()
    notices = [_notice(sample, b) for b in ("XH01", "XH06", "XH08", "XH14")]  # XH08: nothing to do, no page
    assert write_notices(tmp_path, notices, sample["standard"]) == []
    pages = [re.sub(r"\s+", "", p.extract_text()) for p in PdfReader(tmp_path / ALL_PDF).pages]
    assert len(pages) == 3
    assert ["联兴集团党支部" in pages[0], "新华社区第一党支部" in pages[1], "新华卫生院党支部" in pages[2]] == [True] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["XH01.docx", "XH06.docx", "XH14.docx", ALL_PDF]


def test_a_partly_assessed_branch_is_told_what_was_not_checked_and_what_data_was_missing(tmp_path: Path):
    """XH01 exports no points: its notice says 制度机制 is 部分评估 because SM-1..SM-3 could not be
    judged, in which months, and that the points table was missing; a branch judged on everything
    gets no such paragraph."""
    from worlds import audit as audit_world
    from worlds import members, world

    w = world()
    ids = {m["member_id"] for m in members(w, "XH01")}
    w.tables["points"] = [p for p in w.tables["points"] if p["member_id"] not in ids]
    v = audit_world(w, tmp_path, "2019Q1")
    standard = v.standard
    branches = {b["branch_id"]: b for b in v.ingested.tables["branches"].to_dicts()}
    notices = []
    for branch in ("XH01", "XH02"):
        rating = v.scorecard.filter(pl.col("branch_id") == branch).row(0, named=True)
        findings = apply_decisions(v.findings.filter(pl.col("branch_id") == branch), Decisions(), Q1).findings
        notices.append(
            notice_for(branches[branch], Q1, standard, rating, findings, None, deadlines(standard, Q1), None, v.coverage)
        )
    assert [u["rule"] for u in notices[0].unchecked] == [f"{r} {standard.rule(r).title}" for r in ("SM-1", "SM-2", "SM-3")]
    assert notices[1].unchecked == []
    write_notices(tmp_path / "notices", notices, standard, pdf=False)
    text = _text(tmp_path / "notices" / "XH01.docx")
    assert (
        "相应维度没有问题时评定为“部分评估”，本季度不能评为过硬" in text
        and "部分评估" in _tables(tmp_path / "notices" / "XH01.docx")[0]
    )
    unchecked = _tables(tmp_path / "notices" / "XH01.docx")[1]
    assert "SM-1" in unchecked and "2019年1月、2019年2月、2019年3月" in unchecked and "2019年第一季度" in unchecked
    assert "“党员积分”中没有本支部的记录" in unchecked
    # nothing to fix, only data missing: a 补报数据通知 by the 错误 deadline, signed for the data;
    # XH02 has nothing to fix and nothing missing: no notice
    assert notices[0].to_fix == [] and notices[0].kind == "补报数据通知" and notices[1].kind is None
    assert text.startswith("补报数据通知") and "整改通知书" not in text and "整改" not in text.split("签收")[1]
    assert "请于2019年4月30日前将所缺数据补报新华街道党工委" in text and "将按期补报所缺数据" in text
    assert sorted(p.name for p in (tmp_path / "notices").iterdir()) == ["XH01.docx"]


def test_a_branch_with_nothing_to_do_gets_no_notice_and_no_page(sample, tmp_path: Path, monkeypatch):
    """A branch without findings to fix or missing data (XH08 in the sample's Q1) is left out of
    the notices and of 全部通知书.pdf; the run's note counts it."""
    from audit.notices import notices_said

    clean = _notice(sample, "XH08")
    assert clean.to_fix == [] and clean.unchecked == [] and clean.kind is None
    notices = [_notice(sample, "XH01"), clean]
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))  # the PDF's page list is tested below
    write_notices(tmp_path / "n", notices, sample["standard"])
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["XH01.docx"]
    assert notices_said(notices) == "通知书：整改通知书 1 份（notices/）；1 个支部没有需要整改的问题、数据齐全，不发通知"
    assert write_notices(tmp_path / "none", [clean], sample["standard"]) == [] and not (tmp_path / "none").exists()
