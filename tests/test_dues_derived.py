"""The amount due derived from the income base: a dues sheet that lists only what was paid (a wide
sheet of months, as platforms export it) beside each member's 核算基数 gets its 应交金额 from the
national rate table where the rule leaves one amount, marked 推算; SM-5 (paid in full) and SM-6
(the right rate) are then judged there, and where nothing can be derived they stay 无法评估.

Small real workbooks and CSV files, the real ingestion and validation."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from audit.dues import DUE_DECLARED, DUE_DERIVED
from audit.validate import Validation, validate
from conftest import DUES, write_csv, write_xlsx

BRANCHES = [
    ["支部编号", "支部名称", "上级党组织", "书记编号"],
    ["B01", "联兴集团党支部", "新华街道党工委", "M001"],
    ["B02", "运河社区党支部", "新华街道党工委", "M005"],
]
ROSTER = [
    ["党员编号", "姓名", "所在支部编号", "党员类别", "入党日期", "工作状态", "月收入基数（元）"],
    ["M001", "张伟", "B01", "正式党员", "2005-07-01", "在职", "6500"],
    ["M002", "李娜", "B01", "正式党员", "2010-07-01", "离退休", "4800"],
    ["M003", "赵敏", "B01", "预备党员", "2018-11-09", "学生", ""],
    ["M004", "孙力", "B01", "正式党员", "2001-07-01", "农民", ""],
    ["M005", "王强", "B02", "正式党员", "2001-07-01", "在职", "3000"],
]
# 2019 dues as a platform writes them: paid amounts per month, the base beside them, no 应交
WIDE = [
    ["新华街道2019年党费收缴台账"],
    ["序号", "党员编号", "姓名", "核算基数（元）", "1月", "2月", "3月", "全年合计"],
    [1, "M001", "张伟", 6500, 97.5, 97.5, 90, 285],  # 在职 6500 → 1.5 % = 97.50: March is short
    [2, "M002", "李娜", 4800, 24, 24, 24, 72],  # 离退休 4800 → 0.5 % = 24.00
    [3, "M003", "赵敏", None, 0.2, 0.2, 0.2, 0.6],  # 学生: 0.20 a month whatever the income
    [4, "M004", "孙力", None, 0.5, 0.5, 0.5, 1.5],  # 农民: 0.2 to 1 元, the branch decides: not derived
]
WIDE_B02 = [
    ["2019年党费"],
    ["党员编号", "姓名", "1月", "2月", "3月"],
    ["M005", "王强", 15, 15, 15],  # no base on the sheet: the roster's 3000 is not used
]
Q1 = ["2019-01", "2019-02", "2019-03"]


def write_batch(folder: Path, dues: dict[str, list[list]] | None = None) -> Path:
    write_csv(folder / "支部信息.csv", BRANCHES)
    write_csv(folder / "党员名册.csv", ROSTER)
    for name, rows in (dues if dues is not None else {"党费收缴台账.xlsx": WIDE, "运河社区党费.xlsx": WIDE_B02}).items():
        write_xlsx(folder / name, {"党费收缴": rows})
    return folder


@pytest.fixture(scope="module")
def derived(tmp_path_factory) -> tuple[Validation, Path]:
    root = tmp_path_factory.mktemp("derived")
    out = root / "out"
    return validate(write_batch(root / "batch"), "2019Q1", out=out), out


def dues_of(v: Validation, member: str) -> list[tuple[str, float | None, str | None]]:
    rows = v.ingested.tables["dues"].filter(pl.col("member_id") == member).sort("month")
    return [(m.strftime("%Y-%m"), due, source) for m, due, source in rows.select("month", "amount_due", "due_source").iter_rows()]


def status(v: Validation, rule: str, branch: str) -> set[str]:
    rows = v.coverage.filter((pl.col("rule_id") == rule) & (pl.col("branch_id") == branch))
    return set(rows["status"])


def test_a_sheet_without_amount_due_is_read_and_says_how_the_due_is_known(derived):
    v, out = derived
    report = v.ingested.report.filter(pl.col("table") == "dues")
    assert report["rows_read"].sum() == report["rows_accepted"].sum() == 5  # not FILE_MISSING_COLUMN
    assert v.ingested.quarantine.filter(pl.col("table") == "dues").is_empty()
    column_map = pl.read_csv(out / "column_map.csv").filter((pl.col("table") == "dues") & (pl.col("column") == "amount_due"))
    assert column_map["how"].to_list() == ["表中没有，按核算基数和党费标准推算（无法推算的留空）"] * 2


def test_the_due_is_derived_from_the_base_and_the_national_rate_where_it_is_one_amount(derived):
    v, out = derived
    assert dues_of(v, "M001") == [(m, 97.5, DUE_DERIVED) for m in Q1]  # 6500 × 1.5 %
    assert dues_of(v, "M002") == [(m, 24.0, DUE_DERIVED) for m in Q1]  # retired: 4800 × 0.5 %
    assert dues_of(v, "M003") == [(m, 0.2, DUE_DERIVED) for m in Q1]  # 学生: flat 0.20
    assert dues_of(v, "M004") == [(m, None, None) for m in Q1]  # 农民: 0.2–1 元, not guessed
    assert dues_of(v, "M005") == [(m, None, None) for m in Q1]  # no base on the sheet
    written = pl.read_parquet(out / "tables" / "dues.parquet")
    assert written.filter(pl.col("due_source") == DUE_DERIVED).height == 9  # the tables written say so too


def test_sm5_is_judged_on_the_derived_due_and_sm6_against_the_roster(derived):
    v, _ = derived
    sm5 = v.findings.filter(pl.col("rule_id") == "SM-5")
    assert sm5.select("branch_id", "subject_id", "period").rows() == [("B01", "M001", "2019-03")]
    assert "党费未足额交纳（应交97.50元（按核算基数推算），实交90.00元）" in sm5["message"][0]
    month = v.facts.tables["member_month"].filter((pl.col("member_id") == "M001") & (pl.col("period") == "2019-03"))
    assert month["due_source"].to_list() == [DUE_DERIVED]
    assert v.findings.filter(pl.col("rule_id") == "SM-6").is_empty()  # the sheet's base agrees with the roster's


def test_a_member_whose_due_cannot_be_derived_leaves_the_branch_partly_evaluated(derived):
    """B01's 农民 孙力 has no derivable due: SM-5 and SM-6 are 无法评估 in B01 for each month, the
    reason naming his records — yet the other members' months are judged (张伟's March is found),
    so the branch is not 过硬 but its findings stand."""
    v, _ = derived
    assert status(v, "SM-5", "B01") == status(v, "SM-6", "B01") == {"无法评估"}
    rows = v.coverage.filter((pl.col("rule_id") == "SM-5") & (pl.col("branch_id") == "B01")).sort("period")
    assert rows["reason"].to_list() == [
        f"“党费收缴”中本支部以下记录没有“应交金额”，也无法按核算基数推算：M004（2019年{m}月）；这些记录未核对，本支部其余记录已核对"
        for m in (1, 2, 3)
    ]
    facts = v.facts.tables["member_month"].filter(pl.col("branch_id") == "B01")
    judged = facts.filter(pl.col("paid_in_full").is_not_null())
    assert set(judged["member_id"]) == {"M001", "M002", "M003"}  # not withheld for want of M004's due
    card = v.scorecard.filter(pl.col("branch_id") == "B01").row(0, named=True)
    assert card["制度机制"] == "未通过" and card["rating"] != "过硬"


def test_a_branch_whose_dues_cannot_be_derived_stays_unevaluable(derived):
    v, _ = derived
    assert status(v, "SM-5", "B02") == status(v, "SM-6", "B02") == {"无法评估"}
    reasons = set(v.coverage.filter((pl.col("rule_id") == "SM-5") & (pl.col("branch_id") == "B02"))["reason"])
    assert reasons == {"“党费收缴”中本支部的记录都没有“应交金额”，也无法按核算基数推算"}
    assert v.findings.filter(pl.col("branch_id") == "B02").filter(pl.col("rule_id").is_in(["SM-5", "SM-6"])).is_empty()


def test_data_quality_counts_derived_rows_and_says_why_others_have_no_due(derived):
    _, out = derived
    quality = pl.read_csv(out / "data_quality.csv").filter(pl.col("table") == "dues")
    assert "必填" not in set(quality["check"])  # no row is reported blank for a column its sheet never had
    notes = {(r["file"], r["check"]): r["message"] for r in quality.iter_rows(named=True)}
    assert notes[("党费收缴台账.xlsx", "应交金额推算")].startswith(
        "本表没有应交金额，3 行按核算基数和党费标准推算（第 3、4、5 行）"
    )
    assert "农民党员的党费在0.2元至1元之间由支部确定；第 6 行" in notes[("党费收缴台账.xlsx", "应交金额未知")]
    assert "没有核算基数；第 3 行" in notes[("运河社区党费.xlsx", "应交金额未知")]


def test_a_wrong_base_on_the_sheet_is_an_sm6_finding(tmp_path: Path):
    """The sheet's base is not the roster's: the due derived from it is not the standard's."""
    wide = [list(r) for r in WIDE]
    wide[2][3] = 2000  # 2000 × 0.5 % = 10.00 against the roster's 6500 → 97.50
    wide[2][4:7] = [10, 10, 10]
    v = validate(write_batch(tmp_path / "batch", {"党费收缴台账.xlsx": wide, "运河社区党费.xlsx": WIDE_B02}), "2019Q1")
    sm6 = v.findings.filter(pl.col("rule_id") == "SM-6")
    assert sm6.select("subject_id", "period").rows() == [("M001", m) for m in Q1]
    assert v.findings.filter(pl.col("rule_id") == "SM-5").is_empty()  # paid what the sheet's base asks


def test_a_rate_on_the_sheet_is_used_with_its_base(tmp_path: Path):
    rows = [["党员编号", "姓名", "所属月份", "核算基数", "交纳党费比例", "实交金额"], ["M001", "张伟", "2019-01", 6500, "1%", 65]]
    v = validate(write_batch(tmp_path / "batch", {"党费.xlsx": rows}), "2019Q1")
    assert dues_of(v, "M001") == [("2019-01", 65.0, DUE_DERIVED)]  # 6500 × the sheet's 1 %, not the standard's 1.5 %
    assert v.findings.filter((pl.col("rule_id") == "SM-6") & (pl.col("period") == "2019-01")).height == 1


def test_a_declared_due_is_kept_and_marked_declared(tmp_path: Path):
    folder = write_batch(tmp_path / "batch", {})
    write_csv(folder / "dues.csv", [*DUES[:1], ["M001", "2019-01", "97.5", "97.5", "2019-01-05"]])
    v = validate(folder, "2019Q1")
    assert dues_of(v, "M001") == [("2019-01", 97.5, DUE_DECLARED)]


def test_an_sm5_finding_on_a_declared_due_does_not_say_derived(tmp_path: Path):
    """A short payment against a declared 应交金额: the message gives the due without the note."""
    folder = write_batch(tmp_path / "batch", {})
    write_csv(folder / "dues.csv", [*DUES[:1], ["M001", "2019-01", "97.5", "90", "2019-01-05"]])
    v = validate(folder, "2019Q1")
    sm5 = v.findings.filter((pl.col("rule_id") == "SM-5") & (pl.col("subject_id") == "M001"))
    assert sm5["message"].to_list() == ["张伟（M001）2019年1月党费未足额交纳（应交97.50元，实交90.00元）"]
    month = v.facts.tables["member_month"].filter((pl.col("member_id") == "M001") & (pl.col("period") == "2019-01"))
    assert month["due_source"].to_list() == [DUE_DECLARED]
