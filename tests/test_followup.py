"""整改跟踪 over the sample's four 2019 quarters, checked against the sample's truth; finding ids."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from audit.findings import FINDING_COLUMNS, finding_id
from audit.followup import (
    CONTINUING,
    NEW,
    PENDING,
    RECTIFIED,
    SUPPLIED,
    UNTRACKED,
    FollowupError,
    PreviousReport,
    classify,
    find_previous,
    judged_in,
    read_previous,
)
from audit.ingest import ingest
from audit.io import write_table
from audit.periods import Quarter
from audit.standard import load_standard
from audit.validate import validate_tables
from conftest import SAMPLE
from worlds import quarter_of

QUARTERS = ["2019Q1", "2019Q2", "2019Q3", "2019Q4"]
SUPPLIED_MEMBER, SUPPLIED_MONTH = "M00255", "2019-02"  # XH14's member whose February points were missing


def _truth() -> list[dict[str, str]]:
    with (SAMPLE.parent / f"{SAMPLE.name}.truth" / "violations.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


TRUTH = {
    q: {(r["rule_id"], r["branch_id"], r["subject_id"], r["period"]) for r in _truth() if quarter_of(r["period"]) == q}
    for q in QUARTERS
}


def _supplied(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The next export: the branch has supplied the missing February points record (the member's
    January record, re-dated: base, bonus and penalty add up as the standard requires)."""
    points = tables["points"]
    january = points.filter((pl.col("member_id") == SUPPLIED_MEMBER) & (pl.col("month").dt.strftime("%Y-%m") == "2019-01"))
    assert january.height == 1
    record = january.with_columns(pl.col("month").dt.offset_by("1mo"), pl.col("_row") + 100_000)
    return {**tables, "points": pl.concat([points, record])}


@pytest.fixture(scope="module")
def chain() -> dict[str, object]:
    """The four quarters in order: Q1 read from the sample as exported; from Q2 on, the export
    carries the record the branch supplied. Each quarter is followed up against the previous one,
    the previous quarter re-checked on the new batch, as `audit run` does."""
    standard = load_standard()
    first = ingest(SAMPLE).tables
    later = _supplied(first)
    validations = {"2019Q1": validate_tables(first, "2019Q1", standard)}
    rechecked_q1 = validate_tables(later, "2019Q1", standard)
    for q in QUARTERS[1:]:
        validations[q] = validate_tables(later, q, standard)
    rechecks = {
        "2019Q2": rechecked_q1.findings,
        "2019Q3": validations["2019Q2"].findings,
        "2019Q4": validations["2019Q3"].findings,
    }
    followups, previous = {}, None
    for q in QUARTERS:
        quarter = Quarter.parse(q)
        findings = validations[q].findings
        followups[q] = classify(findings, previous, quarter, standard, rechecks.get(q))
        carried = (
            followups[q]
            .filter(pl.col("status") == PENDING)
            .select("finding_id", "rule_id", "branch_id", "subject_id", period="period_then", message="message")
        )
        previous = PreviousReport(Path(q), quarter, findings, carried, given=False)
    supplied = validations["2019Q1"].findings.filter((pl.col("rule_id") == "SM-1") & (pl.col("subject_id") == SUPPLIED_MEMBER))
    return {
        "standard": standard,
        "validations": validations,
        "followups": followups,
        "original_q1": validations["2019Q1"],
        "rechecked_q1": rechecked_q1.findings,
        "supplied_id": supplied["finding_id"].item(),
    }


def _keys(frame: pl.DataFrame, *statuses: str, period: str = "period_now") -> set[tuple[str, str, str, str]]:
    rows = frame.filter(pl.col("status").is_in(statuses))
    return {(r["rule_id"], r["branch_id"], r["subject_id"], r[period]) for r in rows.iter_rows(named=True)}


def test_finding_ids_are_stable_short_and_unique(chain):
    for q, validation in chain["validations"].items():
        findings = validation.findings
        assert findings.columns == FINDING_COLUMNS
        assert findings["finding_id"].str.contains(r"^F-[0-9A-F]{12}$").all()
        assert findings["finding_id"].n_unique() == findings.height, q
    one = chain["validations"]["2019Q1"].findings.filter(pl.col("rule_id") == "OL-2").row(0, named=True)
    # the documented recipe: SHA-256 of rule, part, branch, subject, period joined by U+001F — nothing else
    digest = hashlib.sha256("\x1f".join(["OL-2", "main", "XH01", "", "2019-02"]).encode("utf-8")).hexdigest()
    assert one["finding_id"] == finding_id("OL-2", "main", "XH01", "", "2019-02") == "F-" + digest[:12].upper()
    assert one["finding_id"] == "F-DD2D117259B4"  # the same on every machine and in every release
    # the same violation found again on another batch (the re-check of Q1 on the Q2 export) keeps its id
    original = set(chain["original_q1"].findings["finding_id"])
    rechecked = set(chain["validations"]["2019Q2"].findings["finding_id"])
    assert not original & rechecked  # other periods, other ids
    assert set(chain["rechecked_q1"]["finding_id"]) == original - {chain["supplied_id"]}


def test_the_first_quarter_without_a_previous_report_is_untracked_not_new(chain):
    """Without a previous report nothing can be tracked: every finding is 首次审核, none 新增 or 持续
    (XH06's BG-1 or an arrears case running since last year are not claimed to be new)."""
    q1 = chain["followups"]["2019Q1"]
    assert UNTRACKED == "首次审核" and set(q1["status"]) == {UNTRACKED}
    assert _keys(q1, UNTRACKED) == TRUTH["2019Q1"]
    assert set(q1["finding_id"]) == set(chain["validations"]["2019Q1"].findings["finding_id"])


def test_second_quarter_new_continuing_rectified_and_supplied_match_the_truth(chain):
    q2 = chain["followups"]["2019Q2"]
    # what this quarter found is exactly the truth for the quarter, each either new or continuing
    assert _keys(q2, NEW, CONTINUING) == TRUTH["2019Q2"]
    assert {k[:3] for k in _keys(q2, CONTINUING)} == {("BG-1", "XH06", ""), ("SM-6", "XH19", "M00349")}
    assert {k[:3] for k in _keys(q2, NEW)} == {
        ("OL-1", "XH06", ""),
        ("OL-10", "XH08", ""),
        ("OL-7", "XH10", ""),
        ("SM-7", "XH10", ""),
    }
    continuing = q2.filter(pl.col("rule_id") == "SM-6")
    assert set(continuing["period_then"]) == {"2019-01、2019-02、2019-03"}
    # the record the branch supplied: Q1's SM-1 no longer holds when Q1 is checked on the new batch
    assert _keys(q2, SUPPLIED, period="period_then") == {("SM-1", "XH14", SUPPLIED_MEMBER, SUPPLIED_MONTH)}
    # every other Q1 finding whose rule, branch and subject did not fail again is rectified
    persisting = {k[:3] for k in _keys(q2, CONTINUING)}
    expected = {k for k in TRUTH["2019Q1"] if k[:3] not in persisting and k[:3] != ("SM-1", "XH14", SUPPLIED_MEMBER)}
    assert _keys(q2, RECTIFIED, period="period_then") == expected
    assert set(q2.filter(pl.col("status").is_in([RECTIFIED, SUPPLIED]))["period_now"]) == {"2019Q2"}
    # the previous findings keep their ids in the follow-up
    q1_ids = set(chain["validations"]["2019Q1"].findings["finding_id"])
    assert set(q2.filter(pl.col("status").is_in([RECTIFIED, SUPPLIED]))["finding_id"]) <= q1_ids


def test_without_the_supplied_record_the_same_finding_is_rectified(chain):
    """The same quarter against an unchanged batch: nothing is 已补正."""
    standard = chain["standard"]
    q1 = chain["original_q1"].findings
    previous = PreviousReport(
        Path("2019Q1"),
        Quarter.parse("2019Q1"),
        q1,
        q1.head(0).select("finding_id", "rule_id", "branch_id", "subject_id", "period", "message"),
        False,
    )
    unchanged = classify(chain["validations"]["2019Q2"].findings, previous, Quarter.parse("2019Q2"), standard, recheck=q1)
    assert SUPPLIED not in set(unchanged["status"])
    assert ("SM-1", "XH14", SUPPLIED_MEMBER, SUPPLIED_MONTH) in _keys(unchanged, RECTIFIED, period="period_then")
    # when the batch no longer holds the previous quarter, nothing can be found 已补正 either
    blind = classify(chain["validations"]["2019Q2"].findings, previous, Quarter.parse("2019Q2"), standard, recheck=None)
    assert SUPPLIED not in set(blind["status"])


def test_a_half_year_finding_waits_for_its_rule_and_is_then_rectified(chain):
    q3, q4 = chain["followups"]["2019Q3"], chain["followups"]["2019Q4"]
    # OL-7 (half-year) is not judged in Q3: its 2019H1 finding is carried, not called rectified
    assert _keys(q3, PENDING, period="period_then") == {("OL-7", "XH10", "", "2019H1")}
    assert _keys(q3, NEW, CONTINUING) == TRUTH["2019Q3"]
    # new in Q3 too: two recruitment steps that fell due in Q3 (an approval after a Q2 vote, a talk
    # after a Q2 application)
    assert {k[:3] for k in _keys(q3, NEW)} == {("TM-1", "XH13", ""), ("SM-9", "XH19", "P9003"), ("SM-9", "XH19", "P9005")}
    assert _keys(q3, RECTIFIED, period="period_then") == {
        ("OL-1", "XH06", "", "2019Q2"),
        ("OL-10", "XH08", "", "2019-05"),
        ("SM-7", "XH10", "", "2019-04"),
    }
    # judged again in Q4 (2019H2) without a finding: rectified, still naming the 2019H1 finding
    assert _keys(q4, NEW, CONTINUING) == TRUTH["2019Q4"]
    # and OL-11's October theme day whose topic names 党章 only inside a member's name
    assert {k[:3] for k in _keys(q4, NEW)} == {("OL-9", "XH12", ""), ("SM-9", "XH19", "P9004"), ("OL-11", "XH12", "")}
    assert _keys(q4, RECTIFIED, period="period_then") == {
        ("OL-7", "XH10", "", "2019H1"),
        ("TM-1", "XH13", "", "2019Q3"),
        ("SM-9", "XH19", "P9003", "2019-09"),
        ("SM-9", "XH19", "P9005", "2019-07"),
    }
    assert PENDING not in set(q4["status"])
    # a branch's chain over the year: BG-1 at XH06 new in Q1, then continuing every quarter
    chain_xh06 = [
        chain["followups"][q].filter((pl.col("branch_id") == "XH06") & (pl.col("rule_id") == "BG-1"))["status"].to_list()
        for q in QUARTERS
    ]
    assert chain_xh06 == [[UNTRACKED], [CONTINUING], [CONTINUING], [CONTINUING]]


def test_every_status_was_exercised(chain):
    seen = set().union(*(set(f["status"]) for f in chain["followups"].values()))
    assert seen == {UNTRACKED, NEW, CONTINUING, RECTIFIED, SUPPLIED, PENDING}


def test_rules_judged_per_quarter():
    standard = load_standard()
    assert "OL-7" not in judged_in(standard, Quarter.parse("2019Q3")) and "OL-7" in judged_in(standard, Quarter.parse("2019Q4"))
    assert "OL-8" in judged_in(standard, Quarter.parse("2019Q4")) and "OL-8" not in judged_in(standard, Quarter.parse("2019Q2"))
    assert "OL-2" in judged_in(standard, Quarter.parse("2019Q3"))


def _report(folder: Path, quarter: str, findings: pl.DataFrame) -> Path:
    folder.mkdir(parents=True)
    write_table(findings, folder, "findings")
    (folder / "validation.json").write_text(json.dumps({"quarter": quarter}), encoding="utf-8")
    return folder


def test_the_previous_report_is_found_beside_out_or_named_and_checked(chain, tmp_path: Path):
    q1 = chain["validations"]["2019Q1"].findings
    quarter = Quarter.parse("2019Q2")
    none, said, _ = find_previous(tmp_path / "2019Q2", quarter)
    assert none is None and "2019Q1" in said and "未找到上季度审核报告" in said and "首次审核" in said and "新增" not in said
    _report(tmp_path / "2019Q1", "2019Q1", q1)
    found, said, _ = find_previous(tmp_path / "2019Q2", quarter)
    assert found is not None and found.quarter == Quarter.parse("2019Q1") and not found.given
    assert "2019年第一季度报告" in said and "--out 旁的 2019Q1 文件夹" in said
    named, said, _ = find_previous(tmp_path / "elsewhere", quarter, tmp_path / "2019Q1")
    assert named is not None and named.given and "--previous" in said
    with pytest.raises(FollowupError, match="不早于"):
        read_previous(tmp_path / "2019Q1", Quarter.parse("2019Q1"), given=True)
    _report(tmp_path / "old", "2018Q4", q1.drop("finding_id"))
    with pytest.raises(FollowupError, match="没有问题编号"):
        find_previous(tmp_path / "x", quarter, tmp_path / "old")
    with pytest.raises(FollowupError, match="不是 audit run"):
        find_previous(tmp_path / "x", quarter, tmp_path)
    with pytest.raises(FollowupError, match="不存在"):
        find_previous(tmp_path / "x", quarter, tmp_path / "missing")


def test_the_sentence_for_pages_names_no_command_line_options(chain, tmp_path: Path):
    """The pages say which report the follow-up used without --out or --previous (their readers
    run no commands); the terminal's sentence keeps them."""
    quarter = Quarter.parse("2019Q2")
    none, terminal, page = find_previous(tmp_path / "2019Q2", quarter)
    assert none is None and "--previous" in terminal
    assert "--" not in page and "2019年第一季度" in page and "首次审核" in page
    _report(tmp_path / "2019Q1", "2019Q1", chain["validations"]["2019Q1"].findings)
    for given in (None, tmp_path / "2019Q1"):
        found, terminal, page = find_previous(tmp_path / "2019Q2", quarter, given)
        assert found is not None and "--" in terminal
        assert page == "整改跟踪对照：2019年第一季度报告（2019Q1 文件夹）"
    (tmp_path / "2019Q1" / "validation.json").unlink()
    none, terminal, page = find_previous(tmp_path / "2019Q2", quarter)
    assert none is None and str(tmp_path) in terminal and str(tmp_path) not in page and "--" not in page


def test_the_overview_counts_say_untracked_without_a_previous_report(chain):
    """The overview's 整改跟踪 counts: the first quarter shows only 首次审核 (no 新增 or 持续 column
    claiming anything was compared), a followed-up quarter only the tracked statuses."""
    from audit import display
    from audit.views import followup_counts

    branches = pl.DataFrame({"branch_id": ["XH06", "XH14"], "branch_name": ["一支部", "卫生院"]})
    first = display.followup_counts_html(followup_counts(chain["followups"]["2019Q1"], branches))
    assert "<th>首次审核</th>" in first and "<th>新增</th>" not in first and "<th>持续</th>" not in first
    second = display.followup_counts_html(followup_counts(chain["followups"]["2019Q2"], branches))
    assert "<th>首次审核</th>" not in second and "<th>新增</th>" in second and "<th>持续</th>" in second
