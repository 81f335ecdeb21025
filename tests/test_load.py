"""`audit.load`: a run folder is read back with the standard that run used (recorded with its
SHA-256 in validation.json, refused once changed) and from its Parquet tables, never the CSVs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
import yaml

import audit
from audit.dataset import Dataset, StandardChangedError
from audit.paths import STANDARD_FILE
from audit.periods import Quarter
from audit.standard import load_standard
from audit.synth import write_world
from audit.validate import Validation, validate
from worlds import world

QUARTER = "2019Q1"


def _standard(folder: Path, min_meetings: int = 2, max_months: int = 4) -> Path:
    """The default standard with OL-2's monthly minimum and SM-8's months of arrears changed."""
    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    data["rules"]["OL-2"]["thresholds"]["min_meetings"] = min_meetings
    data["rules"]["SM-8"]["thresholds"]["max_months"] = max_months
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "standard-edited.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("load") / "batch"
    write_world(world(), folder)
    return folder


def _run(batch: Path, folder: Path, standard_file: Path | None = None) -> tuple[Validation, Path]:
    """`audit validate --out` on the batch, with the given standard file (default: the bundled one)."""
    out = folder / "run"
    standard = load_standard(standard_file) if standard_file is not None else None
    return validate(batch, QUARTER, standard, out=out, data_docs=False), out


def _required(ds: Dataset, branch: str, meeting_type: str) -> set[int]:
    """The minimum the branch page's meeting chart draws for one meeting type."""
    marks = [t for t in ds.branch_charts(branch)["meetings"].figure.data if t.hovertemplate.startswith(f"{meeting_type}最低要求")]
    return {y for t in marks for y in t.y}


def test_load_shows_the_thresholds_of_the_standard_the_run_used(batch: Path, tmp_path: Path):
    edited = _standard(tmp_path / "standards")
    validation, out = _run(batch, tmp_path, edited)
    assert validation.findings.filter(pl.col("rule_id") == "OL-2").height == 9  # judged by the edited minimum
    recorded = json.loads((out / "validation.json").read_text(encoding="utf-8"))["standard"]
    assert recorded["path"] == str(edited.absolute())
    assert recorded["sha256"] == hashlib.sha256(edited.read_bytes()).hexdigest()
    assert recorded["version"] == load_standard().version
    for ds in (audit.load(out), audit.load(out, branch="XH01")):
        assert ds.standard.path == edited.absolute()
        assert ds.standard.rule("OL-2").threshold("min_meetings") == 2
        assert ds.standard.rule("SM-8").threshold("max_months") == 4
        assert _required(ds, "XH01", "支部委员会") == {2}  # the page draws the minimum the findings used
    default = audit.load(_run(batch, tmp_path / "default")[1])
    assert default.standard.path == STANDARD_FILE
    assert _required(default, "XH01", "支部委员会") == {load_standard().rule("OL-2").threshold("min_meetings")}


def test_load_refuses_a_standard_changed_since_the_run(batch: Path, tmp_path: Path):
    edited = _standard(tmp_path / "standards")
    _, out = _run(batch, tmp_path, edited)
    audit.load(out, branch="XH01")  # read once before the change: a process keeps it only while unchanged
    before = hashlib.sha256(edited.read_bytes()).hexdigest()
    edited.write_text(edited.read_text(encoding="utf-8").replace("min_meetings: 2", "min_meetings: 3", 1), encoding="utf-8")
    after = hashlib.sha256(edited.read_bytes()).hexdigest()
    with pytest.raises(StandardChangedError) as refused:
        audit.load(out)
    message = str(refused.value)
    assert str(edited.absolute()) in message and before[:12] in message and after[:12] in message
    assert "修改" in message and "重新运行" in message


def test_load_refuses_when_the_standard_file_is_gone(batch: Path, tmp_path: Path):
    edited = _standard(tmp_path / "standards")
    _, out = _run(batch, tmp_path, edited)
    digest = hashlib.sha256(edited.read_bytes()).hexdigest()
    edited.unlink()
    with pytest.raises(StandardChangedError, match="找不到审核所用的标准文件") as refused:
        audit.load(out, branch="XH01")
    assert str(edited.absolute()) in str(refused.value) and digest[:12] in str(refused.value)


def test_a_folder_from_before_the_standard_was_recorded_gets_the_default_with_a_warning(batch: Path, tmp_path: Path):
    edited = _standard(tmp_path / "standards")
    _, out = _run(batch, tmp_path, edited)
    record = out / "validation.json"
    meta = json.loads(record.read_text(encoding="utf-8"))
    meta["standard"] = {"name": meta["standard"]["name"], "version": meta["standard"]["version"]}  # as older runs wrote it
    record.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    with pytest.warns(UserWarning, match="没有记录审核所用的标准文件") as warned:
        ds = audit.load(out)
    assert str(record) in str(warned[0].message) and str(STANDARD_FILE) in str(warned[0].message)
    assert ds.standard == load_standard()


def test_writing_refuses_a_standard_edited_while_the_audit_ran(batch: Path, tmp_path: Path):
    edited = _standard(tmp_path / "standards")
    validation = validate(batch, QUARTER, load_standard(edited), data_docs=False)
    edited.write_text(edited.read_text(encoding="utf-8").replace("min_meetings: 2", "min_meetings: 1", 1), encoding="utf-8")
    with pytest.raises(StandardChangedError, match="审核过程中被修改"):
        validation.write(tmp_path / "out")
    assert not (tmp_path / "out" / "validation.json").exists()


def test_load_reads_the_parquet_tables_not_the_csvs(batch: Path, tmp_path: Path):
    validation, out = _run(batch, tmp_path)
    expected = audit.load(out)
    assert not expected.progress.is_empty() and not expected.scorecard.is_empty()
    csvs = sorted(out.glob("*.csv"))
    assert {"scorecard.csv", "progress.csv", "data_quality.csv", "findings.csv", "quarantine.csv"} <= {p.name for p in csvs}
    for path in csvs:  # garbage first: a loader that parsed them would fail or differ
        path.write_text("支部编号,评定\n=1+1,未达标\n", encoding="utf-8")
    garbled = audit.load(out)
    for path in csvs:
        path.unlink()
    gone = audit.load(out)
    for ds in (garbled, gone):
        assert ds.scorecard.equals(expected.scorecard) and ds.scorecard.schema == expected.scorecard.schema
        assert ds.progress.equals(validation.facts.progress) and ds.progress.schema == validation.facts.progress.schema
        assert ds.quality.equals(validation.quality) and ds.quality.schema == validation.quality.schema
        assert ds.findings.equals(validation.findings)
        assert ds.quarantine.equals(expected.quarantine)
    assert expected.scorecard.equals(validation.scorecard.with_columns(pl.col("warnings", "errors", "critical").cast(pl.Int64)))


def test_load_says_in_chinese_when_a_folder_is_not_an_audit_report(batch: Path, tmp_path: Path):
    """Before: `FileNotFoundError: … reports/2019Q9/validation.json` (English, naming an internal file)."""
    from audit.dataset import ReportFolderError

    reports = tmp_path / "reports"
    validate(batch, QUARTER, out=reports / QUARTER, data_docs=False)
    (reports / "notes").mkdir()
    (reports / "readme.txt").write_text("x", encoding="utf-8")
    cases = {
        reports / "2019Q9": [f"找不到报告文件夹 {reports / '2019Q9'}", "「2019Q9」不是有效的季度", f"已有的报告：{QUARTER}"],
        reports / "2019Q2": [f"找不到报告文件夹 {reports / '2019Q2'}", f"已有的报告：{QUARTER}", "audit run"],
        reports / "notes": [f"{reports / 'notes'} 不是审核报告文件夹"],
        reports / "readme.txt": [f"{reports / 'readme.txt'} 是文件，不是文件夹"],
    }
    for folder, parts in cases.items():
        with pytest.raises(ReportFolderError) as refused:
            audit.load(folder)
        message = str(refused.value)
        assert all(part in message for part in parts), message
        assert "validation.json" not in message and "Errno" not in message
    with pytest.raises(ReportFolderError) as valid_quarter:
        audit.load(reports / "2019Q2")
    assert "不是有效的季度" not in str(valid_quarter.value)
    assert audit.load(str(reports / QUARTER)).quarter == Quarter.parse(QUARTER)


def test_load_says_when_the_run_stopped_before_auditing(tmp_path: Path):
    """A run with nothing to audit leaves the ingest report and a manifest saying why, no findings."""
    from audit.dataset import ReportFolderError

    folder = tmp_path / "2019Q1"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"outcome": "没有任何可用的数据行，无法审核"}), encoding="utf-8")
    with pytest.raises(ReportFolderError, match="中的审核没有完成：没有任何可用的数据行，无法审核"):
        audit.load(folder)


def test_a_report_folders_tables_are_read_when_first_used(batch: Path, tmp_path: Path):
    """`audit.load` of a whole report reads a table when it is first used (the overview then never
    reads the attendance: 4.4 GB at city scale), and what it reads is each table's Parquet file."""
    from polars.testing import assert_frame_equal

    from audit.ingest import TableFiles

    out = _run(batch, tmp_path)[1]
    ds = audit.load(out)
    assert isinstance(ds.tables, TableFiles) and ds.tables.loaded == []
    whole = {path.stem: pl.read_parquet(path) for path in sorted((out / "tables").glob("*.parquet"))}
    assert list(ds.tables) == list(whole) and len(ds.tables) == len(whole) and "attendance" in ds.tables
    ds.overview_charts()  # the overview's data: branches, findings, scorecard, coverage, arrears
    ds.arrears()
    assert ds.tables.loaded and "attendance" not in ds.tables.loaded
    for name, frame in whole.items():
        assert_frame_equal(ds.tables[name], frame)
    assert ds.tables["dues"] is ds.tables["dues"]  # read once
    with pytest.raises(KeyError):
        ds.tables["no_such_table"]
