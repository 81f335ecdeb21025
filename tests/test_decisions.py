"""Reviewer decisions: the reviewer's decisions.csv read and checked, applied on a real `audit run`
(with the follow-up against the previous quarter, the workbook and the notices), the template."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from audit.decisions import (
    APPLIED,
    EARLIER,
    PREVIOUS,
    STALE,
    Decisions,
    DecisionsError,
    apply_decisions,
    load_decisions,
    parse_decisions,
)
from audit.findings import finding_id
from audit.periods import Quarter
from audit.validate import validate
from conftest import SAMPLE

HEADER = ["finding_id", "decision", "note", "reviewer", "decided_on"]
SM6 = [finding_id("SM-6", "main", "XH19", "M00349", f"2019-0{m}") for m in (4, 5, 6)]
BG1 = finding_id("BG-1", "main", "XH06", "", "2019Q2")
OL2_Q1 = finding_id("OL-2", "main", "XH01", "", "2019-02")
GONE = "F-000000000000"


def _csv(rows: list[list[str]], encoding: str = "utf-8-sig", delimiter: str = ",") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


# --- reading the file --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "delimiter"), [("utf-8-sig", ","), ("utf-8", ","), ("gb18030", ","), ("utf-16", "\t")])
def test_decisions_are_read_as_excel_and_wps_save_them(encoding: str, delimiter: str):
    rows = [
        ["问题编号", "审核决定", "说明", "审核人", "决定日期", "支部名称"],  # Chinese headers, a context column
        [BG1.lower(), "已核实", "现场查看，确缺党报党刊", "王审核", "2019/7/5"],
        [SM6[0], "误报", "收入基数导出有误，核对工资单后应交金额无误", "王审核", "2019年7月6日"],
        ["", "", "", "", ""],  # a blank line
        [SM6[1], "", "", "", ""],  # a template row nobody decided
    ]
    table = parse_decisions(_csv(rows, encoding, delimiter), Path("decisions.csv"))
    assert table["finding_id"].to_list() == [BG1, SM6[0]]
    assert table["decided_on"].to_list() == [dt.date(2019, 7, 5), dt.date(2019, 7, 6)]
    assert table["row"].to_list() == [2, 3]


def test_every_mistake_is_named_by_row_and_column():
    rows = [
        HEADER,
        ["F-12", "已核实", "", "王审核", "2019-07-05"],
        [BG1, "同意", "", "王审核", "2019-07-05"],
        [BG1, "已核实", "", "", "2019-07-05"],
        [BG1, "已核实", "", "王审核", "2019-02-30"],
        [BG1, "误报", "", "王审核", "2019-07-05"],
    ]
    with pytest.raises(DecisionsError) as caught:
        parse_decisions(_csv(rows), Path("/x/decisions.csv"))
    message = str(caught.value)
    assert "/x/decisions.csv" in message and "5 处" in message
    for expected in (
        "第 2 行「finding_id」（问题编号）「F-12」",
        "第 3 行「decision」（审核决定）「同意」：审核决定只能是 已核实 / 误报 / 已整改 / 限期整改",
        "第 4 行「reviewer」（审核人）",
        "第 5 行「decided_on」（决定日期）「2019-02-30」",
        "第 6 行「note」（说明）：判定为误报时请在说明中写明理由",
    ):
        assert expected in message
    with pytest.raises(DecisionsError, match=r"第 1 行（表头）缺少列：decided_on（决定日期）"):
        parse_decisions(_csv([HEADER[:4], [BG1, "已核实", "", "王"]]), Path("d.csv"))


def test_the_default_file_is_optional_a_named_one_is_not(tmp_path: Path):
    batch = tmp_path / "batch"
    batch.mkdir()
    assert load_decisions(None, batch, given=False).path is None
    with pytest.raises(DecisionsError, match="找不到审核决定文件"):
        load_decisions(tmp_path / "nope.csv", batch, given=True)
    (tmp_path / "decisions.csv").write_bytes(_csv([HEADER, [BG1, "已核实", "电话 13812345678 核实", "王审核", "2019-07-05"]]))
    found = load_decisions(None, batch, given=False)
    assert found.path == (tmp_path / "decisions.csv").resolve()
    assert found.sha256 == hashlib.sha256((tmp_path / "decisions.csv").read_bytes()).hexdigest()
    assert found.table["note"].item() == "电话 138****5678 核实"  # masked like batch text: never in an output


def test_the_latest_decision_counts_and_states_say_what_became_of_each():
    rows = [
        [*HEADER, "period"],
        [BG1, "已核实", "复查属实", "王审核", "2019-07-20", "2019Q2"],
        [BG1, "限期整改", "8月底前补订", "李审核", "2019-07-01", "2019Q2"],
        [OL2_Q1, "已整改", "已补开支委会", "王审核", "2019-04-10", "2019-02"],
        [GONE, "已核实", "", "王审核", "2019-07-05", "2019-05"],
        ["F-111111111111", "已核实", "", "王审核", "2018-11-05", "2018-10"],
    ]
    decisions = Decisions(Path("d.csv"), "x", parse_decisions(_csv(rows), Path("d.csv")))
    latest = decisions.latest
    assert latest.filter(pl.col("finding_id") == BG1)["decision"].item() == "已核实"  # by date, not by row
    findings = pl.DataFrame(
        {"finding_id": [BG1], "rule_id": ["BG-1"], "branch_id": ["XH06"], "period": ["2019Q2"], "severity": ["error"]}
    )
    followup = pl.DataFrame(
        {
            "finding_id": [BG1, OL2_Q1],
            "rule_id": ["BG-1", "OL-2"],
            "branch_id": ["XH06", "XH01"],
            "period_then": ["2019Q1", "2019-02"],
        }
    )
    applied = apply_decisions(findings, decisions, Quarter.parse("2019Q2"), followup)
    states = dict(applied.table.select("finding_id", "state").iter_rows())
    assert states == {BG1: APPLIED, OL2_Q1: PREVIOUS, GONE: STALE, "F-111111111111": EARLIER}
    assert applied.stale["finding_id"].to_list() == [GONE]
    assert applied.findings["counted"].to_list() == [True]


# --- a real run ---------------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit.cli", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "False"},
    )


DECISIONS = [
    [*HEADER, "period"],
    *[[i, "误报", "收入基数导出有误，核对工资单后应交金额无误", "王审核", "2019-07-08", ""] for i in SM6],
    [BG1, "限期整改", "8月底前补订党报党刊", "李审核", "2019-07-01", ""],
    [BG1, "已核实", "现场查看属实", "王审核", "2019-07-09", ""],
    [OL2_Q1, "已整改", "已补开支委会", "王审核", "2019-04-10", ""],
    [GONE, "已核实", "这一条的问题已不存在", "王审核", "2019-07-05", "2019-05"],
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, object]:
    """The sample's 2019Q2 reported with `audit run`, followed up against the 2019Q1 report beside
    it (made by `audit validate`), with the reviewer's decisions.csv beside the batch."""
    root = tmp_path_factory.mktemp("decided")
    batch = root / "raw" / SAMPLE.name
    shutil.copytree(SAMPLE, batch)
    (root / "raw" / "decisions.csv").write_bytes(_csv(DECISIONS))
    validate(batch, "2019Q1", out=root / "reports" / "2019Q1", data_docs=False)
    out = root / "reports" / "2019Q2"
    args = ["run", str(batch), "--quarter", "2019Q2", "--out", str(out), "--jobs", "2", "--deadline", "2019-08-15"]
    done = _cli(*args, "--branch", "XH06", "--branch", "XH14", "--branch", "XH19")
    assert done.returncode == 0, done.stderr[-3000:]
    plain = validate(batch, "2019Q2")  # the same quarter without decisions
    return {"root": root, "batch": batch, "out": out, "stdout": done.stdout, "plain": plain}


def test_the_run_says_which_previous_report_and_decisions_it_used(run):
    out, stdout = run["out"], run["stdout"]
    assert "2019年第一季度报告，--out 旁的 2019Q1 文件夹" in stdout.replace("\n", "")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    decisions = run["root"] / "raw" / "decisions.csv"
    assert manifest["decisions"]["sha256"] == hashlib.sha256(decisions.read_bytes()).hexdigest()
    assert manifest["decisions"]["file"] == str(decisions.resolve())
    assert manifest["previous_report"] == {"folder": str(run["root"] / "reports" / "2019Q1"), "quarter": "2019Q1", "given": False}
    assert manifest["parameters"]["deadline"] == "2019-08-15"


def test_decisions_change_the_rating_and_nothing_else(run):
    out, plain = run["out"], run["plain"]
    findings = pl.read_parquet(out / "findings.parquet")
    assert findings.equals(plain.findings)  # every finding stays listed, 误报 included
    assert pl.read_csv(out / "findings.csv").columns[0] == "finding_id"
    card = pl.read_parquet(out / "scorecard.parquet")
    before, after = (c.filter(pl.col("branch_id") == "XH19").row(0, named=True) for c in (plain.scorecard, card))
    assert before["rating"] == "未达标" and before["制度机制"] == "未通过" and before["errors"] == 3
    assert after["rating"] == "过硬" and after["制度机制"] == "通过" and after["errors"] == 0
    assert card.filter(pl.col("branch_id") != "XH19").equals(plain.scorecard.filter(pl.col("branch_id") != "XH19"))
    applied = pl.read_parquet(out / "decisions_applied.parquet")
    states = dict(applied.select("finding_id", "state").iter_rows())
    assert states == {**dict.fromkeys(SM6, APPLIED), BG1: APPLIED, OL2_Q1: PREVIOUS, GONE: STALE}
    assert applied.filter(pl.col("finding_id") == BG1)["decision"].item() == "已核实"  # the latest


def test_pages_show_decisions_and_the_follow_up(run):
    out = run["out"]
    page = (out / "branches" / "XH19.html").read_text(encoding="utf-8")
    assert "误报（不计入评定）：收入基数导出有误，核对工资单后应交金额无误 — 王审核 2019-07-08" in page
    assert "另有 3 条经审核判定为误报，不计入评定" in page and "过硬" in page
    assert "整改情况" in page and "持续" in page and "2019-01、2019-02、2019-03" in page
    xh06 = (out / "branches" / "XH06.html").read_text(encoding="utf-8")
    assert "已核实：现场查看属实 — 王审核 2019-07-09" in xh06
    index = (out / "index.html").read_text(encoding="utf-8")
    assert (
        "整改跟踪" in index
        and "整改跟踪对照：2019年第一季度报告（2019Q1 文件夹）" in index
        and "--previous" not in index
        and "--out" not in index
    )
    assert GONE in index and "已失效" in index
    followup = pl.read_csv(out / "followup.csv")
    assert followup.columns == [
        "finding_id",
        "status",
        "rule_id",
        "branch_id",
        "subject_id",
        "period_then",
        "period_now",
        "message",
    ]
    assert set(followup["status"]) == {"新增", "持续", "已整改"}


def test_the_workbook_lists_follow_up_and_decisions(run):
    book = openpyxl.load_workbook(run["out"] / "findings.xlsx")
    assert book.sheetnames == ["问题清单", "评定结果", "评估范围", "整改台账", "审核决定", "抽查样本", "数据问题"]
    # sentences are broken into printed lines (`audit.workbook.broken`): read them without the breaks
    listed = [
        [c.value.replace("\n", "") if isinstance(c.value, str) else c.value for c in row] for row in book["问题清单"].iter_rows()
    ]
    header = listed[0]
    assert header[:4] == ["问题编号", "级别", "支部编号", "支部名称"] and header[-2:] == ["整改情况", "审核决定"]
    sm6 = [r for r in listed[1:] if r[0] in SM6]
    assert len(sm6) == 3 and all(r[-1].startswith("误报（不计入评定）") and "王审核" in r[-1] for r in sm6)
    ledger = [
        [c.value.replace("\n", "") if isinstance(c.value, str) else c.value for c in row] for row in book["整改台账"].iter_rows()
    ]
    assert ledger[0][:3] == ["支部编号", "支部名称", "整改情况"]
    ol2 = [r for r in ledger if OL2_Q1 in r]
    assert len(ol2) == 1 and ol2[0][2] == "已整改" and "已补开支委会" in ol2[0][-1]
    judged = [[c.value for c in row] for row in book["审核决定"].iter_rows()]
    assert [r[-1] for r in judged if r[0] == GONE] == ["已失效"]
    rating = {r[0].value: r[-1].value for r in book["评定结果"].iter_rows(min_row=2)}
    assert rating["XH19"] == "过硬"


def _docx_text(path: Path) -> str:
    from docx import Document

    doc = Document(str(path))
    cells = [cell.text for table in doc.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def test_notices_ask_only_for_what_is_to_fix(run):
    notices = run["out"] / "notices"
    # XH19's one finding (SM-6, persisting) is judged 误报 and XH14 fixed last quarter's: nothing to
    # fix, no data missing, so no notice; the run says so
    assert {p.name for p in notices.glob("*.docx")} == {"XH06.docx"}
    said = re.sub(r"\s+", "", run["stdout"])
    assert "通知书：整改通知书1份（notices/）；2个支部没有需要整改的问题、数据齐全，不发通知" in said
    xh06 = _docx_text(notices / "XH06.docx")
    assert "2019年8月15日" in xh06 and "支部党员大会" in xh06 and "党员活动室" in xh06
    assert "持续" in xh06.split("三、上季度问题整改情况")[1] and "支部书记签字" in xh06
    if shutil.which("soffice") or os.environ.get("CI"):
        assert (notices / "全部通知书.pdf").is_file()
    else:
        assert "未生成 notices/全部通知书.pdf" in run["stdout"].replace("\n", "")


def test_the_template_is_a_new_file_prefilled_and_never_overwrites(run, tmp_path: Path):
    out, decisions = run["out"], run["root"] / "raw" / "decisions.csv"
    before = decisions.read_bytes()
    # by default beside the report folder, named after it: not beside the batch, which other
    # batches share, and not inside the report, which a re-run replaces; the reviewer is told where
    made = _cli("decisions", "template", str(out))
    beside = out.parent / "审核决定-2019Q2.csv"
    assert made.returncode == 0, made.stderr
    assert beside.is_file() and str(beside) in re.sub(r"\s*\n\s*", "", made.stdout) and "--decisions" in made.stdout
    assert decisions.read_bytes() == before and not (run["root"] / "raw" / "审核决定-2019Q2.csv").exists()
    raw = beside.read_bytes()
    refused = _cli("decisions", "template", str(out))
    assert refused.returncode == 2 and "已存在" in refused.stderr and "--out" in refused.stderr
    assert beside.read_bytes() == raw  # an existing file is never written over
    fresh = tmp_path / "新的决定表.csv"
    made = _cli("decisions", "template", str(out), "--out", str(fresh))
    assert made.returncode == 0, made.stderr
    raw = fresh.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel and WPS open it directly
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    # the columns the reviewer fills in are headed in Chinese, and so is the context
    context = ["支部编号", "支部名称", "规则编号", "级别", "期间", "整改情况", "问题"]
    assert list(rows[0]) == ["问题编号", "审核决定", "说明", "审核人", "决定日期", *context]
    assert len(rows) == pl.read_parquet(out / "findings.parquet").height
    assert {r["审核决定"] for r in rows if r["问题编号"] in SM6} == {"误报"}  # decisions already taken, pre-filled
    assert all(r["支部名称"] and r["问题"] for r in rows)
    # the filled-in template is a valid decisions file as it stands (Chinese headers read back)
    assert parse_decisions(raw, fresh).height == 4
    again = _cli("decisions", "template", str(out), "--out", str(fresh))
    assert again.returncode == 2 and fresh.read_bytes() == raw
    inside = _cli("decisions", "template", str(out), "--out", str(run["batch"] / "d.csv"))
    assert inside.returncode == 2 and not (run["batch"] / "d.csv").exists()


def test_bad_options_stop_the_run_before_it_starts(run, tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_csv([HEADER, [BG1, "同意", "", "王审核", "2019-07-05"]]))
    common = ["run", str(run["batch"]), "--quarter", "2019Q3", "--out", str(tmp_path / "2019Q3")]
    for extra, expected in (
        (["--decisions", str(bad)], "第 2 行「decision」"),
        (["--decisions", str(tmp_path / "none.csv")], "找不到审核决定文件"),
        (["--previous", str(tmp_path)], "不是 audit run"),
        (["--deadline", "2019-02-30"], "--deadline 应为日期"),
        (["--deadline", "2019-09-01"], "应晚于2019年第三季度末"),
    ):
        done = _cli(*common, *extra)
        assert done.returncode == 2, (extra, done.stderr)
        assert expected in done.stderr.replace("\n", ""), (extra, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "2019Q3").exists()


def test_docx_files_are_reproducible(run):
    """Notices carry fixed dates and zip times: the same inputs give the same bytes."""
    with zipfile.ZipFile(run["out"] / "notices" / "XH06.docx") as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = archive.read("docProps/core.xml").decode("utf-8")
    assert "2000-01-01" in core
