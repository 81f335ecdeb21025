"""The notebook API refuses what `audit run` refuses — a quarter outside the data, a branch not in
it — with the same Chinese message (one check, `audit.arguments`), and accepts the same spellings
(`xh02`, a branch's name). Before: `branch_charts("XH01", "2021Q1")` drew charts of an empty
quarter, `branch_charts("XH99")` reported a missing 主题党日, `findings_for("XH1")` an empty table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import audit
from audit.arguments import BranchChoiceError
from audit.dataset import Dataset
from audit.errors import AuditError
from audit.facts import QuarterOutOfRangeError
from audit.synth import write_world
from audit.validate import validate
from worlds import drop_meeting, meetings, world

QUARTER = "2019Q1"


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world (XH01 联兴集团党支部, XH02 鑫源科技有限公司党支部, XH03 德润物流党支部;
    2018-07 to 2019-12), with XH01 breaking one rule so it has findings; XH03 renamed 联兴物流党支部
    so that 联兴 names two branches."""
    w = world()
    for branch in w.tables["branches"]:
        if branch["branch_id"] == "XH03":
            branch["branch_name"] = "联兴物流党支部"
    for theme in meetings(w, "XH01", "主题党日", "2019-02"):
        drop_meeting(w, theme)
    folder = tmp_path_factory.mktemp("refusals") / "batch"
    write_world(w, folder)
    return folder


@pytest.fixture(scope="module")
def report(batch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("refusals-run") / QUARTER
    validate(batch, QUARTER, out=out, data_docs=False)
    return out


@pytest.fixture(scope="module")
def ds(report: Path) -> Dataset:
    return audit.load(report)


def cli_error(*args: str) -> str:
    """What `audit` says on stderr for a refused command line (exit 2, no traceback)."""
    proc = subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_a_quarter_outside_the_data_is_refused_as_the_command_refuses_it(ds: Dataset, batch: Path, tmp_path: Path):
    with pytest.raises(QuarterOutOfRangeError) as refused:
        ds.branch_charts("XH01", "2021Q1")
    message = str(refused.value)
    assert message == "2021Q1 不在数据范围内（数据覆盖 2018-07 至 2019-12）"
    assert isinstance(refused.value, AuditError)
    assert f"错误 {message}" in cli_error("run", str(batch), "--quarter", "2021Q1", "--out", str(tmp_path / "out"))
    with pytest.raises(AuditError, match="季度格式应为 2019Q1：2019Q9"):
        ds.branch_charts("XH01", "2019Q9")
    assert set(ds.branch_charts("XH01", "2019q4")) >= {"meetings", "dues"}  # another quarter of the data: drawn


def test_a_branch_not_in_the_data_is_refused_by_every_branch_question(ds: Dataset, batch: Path, tmp_path: Path):
    asks = [
        lambda: ds.branch_charts("XH99"),
        lambda: ds.findings_for("XH99"),
        lambda: ds.rating("XH99"),
        lambda: ds.branch("XH99"),
        lambda: ds.arrears("XH99"),
        lambda: ds.points_missing("XH99"),
        lambda: ds.unevaluable_for("XH99"),
    ]
    messages = set()
    for ask in asks:
        with pytest.raises(BranchChoiceError) as refused:
            ask()
        messages.add(str(refused.value))
    assert messages == {"数据中没有支部「XH99」（可选：XH01 联兴集团党支部、XH02 鑫源科技有限公司党支部、XH03 联兴物流党支部）"}
    said = cli_error("run", str(batch), "--quarter", QUARTER, "--branch", "XH99", "--out", str(tmp_path / "out"))
    assert f"错误 {messages.pop()}" in said
    with pytest.raises(BranchChoiceError, match="数据中没有支部「XH1」"):
        ds.findings_for("XH1")  # before: an empty table, as if XH1 had no problems


def test_the_api_accepts_the_spellings_the_command_accepts(ds: Dataset, report: Path):
    expected = ds.findings_for("XH01")
    assert expected.height > 0
    for spelling in ("xh01", "ＸＨ01", "联兴集团党支部", "联兴集团", "中共新华街道联兴集团党支部"):
        assert ds.findings_for(spelling).equals(expected), spelling
    assert ds.rating("xh02")["branch_id"] == "XH02"
    assert ds.branch("鑫源科技")["branch_id"] == "XH02"  # a part of one branch's name
    charts = ds.branch_charts("xh02")
    assert charts["meetings"].figure.to_dict() == ds.branch_charts("XH02")["meetings"].figure.to_dict()
    one = audit.load(report, branch="xh02")
    assert one.scope == "XH02" and one.findings_for("鑫源科技有限公司党支部").equals(ds.findings_for("XH02"))


def test_a_name_two_branches_share_is_not_guessed(ds: Dataset):
    with pytest.raises(BranchChoiceError) as refused:
        ds.findings_for("联兴")
    assert str(refused.value) == "「联兴」对应多个支部：XH01 联兴集团党支部、XH03 联兴物流党支部；请用支部编号指定"


def test_a_dataset_cut_to_one_branch_refuses_the_others(report: Path):
    one = audit.load(report, branch="XH01")
    with pytest.raises(BranchChoiceError, match="只载入了支部 XH01 的记录，不能用于 XH02"):
        one.branch_charts("xh02")
    with pytest.raises(BranchChoiceError, match="只载入了支部 XH01 的记录，不能用于全街道"):
        one.arrears()
    assert one.findings_for("联兴集团").height == audit.load(report).findings_for("XH01").height


def test_from_batch_refuses_a_quarter_outside_the_data_and_a_file_for_the_batch(batch: Path):
    with pytest.raises(QuarterOutOfRangeError, match="2021Q1 不在数据范围内"):
        audit.from_batch(batch, "2021Q1")
    with pytest.raises(AuditError, match="是文件，不是文件夹"):
        audit.from_batch(next(batch.glob("*.csv")), QUARTER)
    ds = audit.from_batch(batch, "2019q1")
    assert ds.findings_for("xh01").equals(ds.findings.filter(pl.col("branch_id") == "XH01"))


def test_a_branch_kept_masked_and_tagged_is_found_by_the_reviewers_own_code():
    """A 支部编号 that is a mobile number is kept as `138****1111#…` (`privacy.tag_personal`): the
    reviewer's own code, however written, still chooses it; two such branches masking alike are
    named, not guessed between."""
    from audit.arguments import choose_branches
    from audit.privacy import tag_personal

    secret = b"s" * 32
    one, other = tag_personal("13800001111", secret), tag_personal("13822221111", secret)
    branches = pl.DataFrame({"branch_id": [one, "XH02"], "branch_name": ["物流公司党支部", "运河社区党支部"]})
    assert choose_branches(branches, ["13800001111"]) == [one] == choose_branches(branches, ["+86 138-0000-1111"])
    both = pl.concat([branches, pl.DataFrame({"branch_id": [other], "branch_name": ["商贸党支部"]})])
    with pytest.raises(BranchChoiceError, match="对应多个支部"):
        choose_branches(both, ["13800001111"])
