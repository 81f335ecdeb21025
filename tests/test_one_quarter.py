"""Every breach in exactly one quarter: auditing the sample's four quarters of 2019 in turn reports
each planted violation of 2019 once, in the quarter holding its period, and no finding twice.

The sample plants breaches that become visible after the quarter of the step that opens them
(SM-9: an approval due in the quarter after the vote, a 转正 quarters after it, a talk deadline
in the quarter after the application), so a rule judged in the wrong quarter misses them or
reports them twice."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict

import polars as pl
import pytest

from audit.ingest import ingest
from audit.validate import validate_tables
from conftest import SAMPLE
from worlds import quarter_of

QUARTERS = ["2019Q1", "2019Q2", "2019Q3", "2019Q4"]
Key = tuple[str, str, str, str]  # rule, branch, subject, period


def _truth_2019() -> set[Key]:
    """The planted violations whose period falls in 2019."""
    with (SAMPLE.parent / f"{SAMPLE.name}.truth" / "violations.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {(r["rule_id"], r["branch_id"], r["subject_id"], r["period"]) for r in rows if r["period"].startswith("2019")}


@pytest.fixture(scope="module")
def findings() -> dict[str, pl.DataFrame]:
    """The findings of each quarter of 2019, from one ingest of the sample."""
    tables = ingest(SAMPLE).tables
    return {quarter: validate_tables(tables, quarter).findings for quarter in QUARTERS}


def test_every_planted_violation_of_2019_is_reported_once_in_the_quarter_of_its_period(findings):
    truth = _truth_2019()
    assert {quarter_of(period) for *_, period in truth} == set(QUARTERS)  # every quarter has planted breaches
    # OL-11 and SM-10 with their traps: a 党章 only inside a member's name (Q4), the secretary collecting
    # for the organizer and a payment after the organizer changed mid-quarter (Q1); a theme day with
    # neither topic nor content is OL-6's
    assert {("OL-11", "XH16", "", "2019-03"), ("OL-11", "XH12", "", "2019-10"), ("OL-6", "XH20", "", "2019-01")} <= truth
    assert {("SM-10", "XH18", "", "2019-01"), ("SM-10", "XH15", "", "2019-02")} <= truth
    reported: dict[Key, set[str]] = defaultdict(set)
    for quarter, frame in findings.items():
        for r in frame.iter_rows(named=True):
            reported[(r["rule_id"], r["branch_id"], r["subject_id"], r["period"])].add(quarter)
    assert sorted(truth - reported.keys()) == [], "planted but never reported"
    assert {k: q for k, q in reported.items() if len(q) > 1} == {}, "reported in more than one quarter"
    assert {k: q for k, q in reported.items() if q != {quarter_of(k[3])}} == {}, "reported outside its period's quarter"
    assert sorted(reported.keys() - truth) == [], "reported but not planted"
    ids = Counter(i for frame in findings.values() for i in frame["finding_id"])
    assert {i: n for i, n in ids.items() if n > 1} == {}, "the same finding id in two quarters"
