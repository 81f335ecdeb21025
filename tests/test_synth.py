"""The synthetic sub-district: deterministic, realistic forms, defects exactly as its truth says."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from audit import synth
from audit.cli import app
from audit.errors import UsageError
from audit.ingest import ingest
from audit.synth import SynthConfig, dues_for, generate, write_batch
from audit.validate import validate_tables
from conftest import SAMPLE


def truth(path: Path, name: str) -> list[dict[str, str]]:
    with (path.parent / f"{path.name}.truth" / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def sample_ingested():
    return ingest(SAMPLE)


def test_bundled_sample_quarantine_matches_truth(sample_ingested):
    expected = {(d["file"], d["sheet"], int(d["row"]), d["code"]) for d in truth(SAMPLE, "defects.csv")}
    found = {(p.file, p.sheet, p.row, p.reason.name) for p in sample_ingested.problems}
    assert found == expected


def test_bundled_sample_shape(sample_ingested):
    t = sample_ingested.tables
    assert t["branches"].height == 20
    assert 350 <= t["members"].height <= 450
    assert set(t["branches"]["org_type"]) >= {"两新组织", "社区", "机关"}
    months = t["dues"]["month"]
    assert str(months.min()) <= "2018-07-01" and str(months.max()) >= "2019-12-01"
    for source in sample_ingested.sources:
        assert source.rows_read == source.rows_accepted + source.rows_quarantined
    encodings = {s.encoding for s in sample_ingested.sources}
    assert {"utf-8", "utf-8-sig", "gb18030", "xlsx"} <= encodings
    assert [s.file for s in sample_ingested.skipped if not s.sheet] == ["说明.txt"]


def test_same_seed_same_data(tmp_path: Path):
    config = SynthConfig(seed=7, branches=6, members=80, start="2018-07", end="2019-12")
    write_batch(config, tmp_path / "a")
    write_batch(config, tmp_path / "b")
    first, second = ingest(tmp_path / "a"), ingest(tmp_path / "b")
    for name in first.tables:
        assert_frame_equal(first.tables[name], second.tables[name])
    assert (tmp_path / "a.truth" / "violations.csv").read_bytes() == (tmp_path / "b.truth" / "violations.csv").read_bytes()
    other = generate(SynthConfig(seed=8, branches=6, members=80))
    assert [m["name"] for m in other.tables["members"]] != [m["name"] for m in generate(config).tables["members"]]


def test_clean_world_has_no_planted_rows():
    world = generate(SynthConfig(seed=3, branches=4, members=40, plant=False))
    assert world.violations == []
    assert not any("_defect" in row for rows in world.tables.values() for row in rows)


def test_parquet_scale_writes_canonical_tables(tmp_path: Path):
    write_batch(SynthConfig(seed=1, branches=5, members=60, plant=False), tmp_path / "pq", parquet=True)
    members = pl.read_parquet(tmp_path / "pq" / "members.parquet")
    assert members.height >= 40 and members.schema["joined_on"] == pl.Date


def test_bad_window_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ValueError, match="早于"):
        write_batch(SynthConfig(start="2019-12", end="2019-01"), tmp_path / "x")


@pytest.mark.parametrize(
    ("employment", "income", "due"),
    [
        ("在职", 3000, 15.0),
        ("在职", 3001, 30.01),
        ("在职", 5000, 50.0),
        ("在职", 10000, 150.0),
        ("在职", 12000, 240.0),
        ("离退休", 5000, 25.0),
        ("离退休", 6000, 60.0),
        ("学生", None, 0.2),
        ("无固定收入", None, 0.2),
    ],
)
def test_national_dues_rates(employment, income, due):
    assert dues_for(employment, income) == due


def test_a_batch_in_parts_is_one_batch_with_its_truth(tmp_path: Path, monkeypatch):
    """Beyond `PART_BRANCHES` branches `audit synth` generates and writes one part (a district's
    worth) at a time, each in its own sub-district folder: identifiers stay distinct across parts,
    the batch's quarantine is its defects' truth and its findings are its violations' truth."""
    config = SynthConfig(seed=11, branches=60, members=1200)
    parts = config.parts(size=20)
    assert [(p.branches, p.part, p.branch_from, p.seed) for p in parts] == [(20, 1, 0, 11), (20, 2, 20, 12), (20, 3, 40, 13)]
    assert (
        sum(p.members for p in parts) == 1200 and parts[0].subdistrict == "新华街道" and len({p.subdistrict for p in parts}) == 3
    )
    assert SynthConfig(branches=1000).parts() == [SynthConfig(branches=1000)]  # up to a district: one part, as before
    assert [p.region for p in parts] == ["371402", "371403", "371404"] and SynthConfig(part=99).region == "371502"

    monkeypatch.setattr(synth, "PART_BRANCHES", 20)
    out = tmp_path / "city"
    args = ["synth", "--out", str(out), "--branches", "60", "--members", "1200", "--seed", "11"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "分为 3 个街道" in result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(p.subdistrict for p in parts)

    ingested = ingest(out)
    expected = {(d["file"], d["sheet"], int(d["row"]), d["code"]) for d in truth(out, "defects.csv")}
    assert {(p.file, p.sheet, p.row, p.reason.name) for p in ingested.problems} == expected
    assert {d["file"].split("/")[0] for d in truth(out, "defects.csv")} == {p.subdistrict for p in parts}
    members, branches = ingested.tables["members"], ingested.tables["branches"]
    assert members["member_id"].is_unique().all() and branches["branch_name"].is_unique().all()
    assert branches["branch_id"].sort().to_list() == [f"D{n:05d}" for n in range(1, 61)]
    assert members["member_id"].str.slice(0, 3).unique().sort().to_list() == ["M00", "Q02", "Q03"]
    assert ingested.tables["meetings"]["meeting_id"].is_unique().all()

    found = {
        (r["rule_id"], r["severity"], r["branch_id"], r["subject_id"], r["period"])
        for quarter in ("2018Q3", "2018Q4", "2019Q1", "2019Q2", "2019Q3", "2019Q4")
        for r in validate_tables(ingested.tables, quarter, record_quality=False).findings.iter_rows(named=True)
    }
    planted = {(r["rule_id"], r["severity"], r["branch_id"], r["subject_id"], r["period"]) for r in truth(out, "violations.csv")}
    assert found == planted
    assert {(int(v[2][1:]) - 1) // 20 for v in planted} == {0, 1, 2}  # each part has its plants

    # the same folder made again as one part: the parts' folders are removed with the rest of the earlier batch
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--branches", "20", "--members", "400", "--seed", "11"])
    assert result.exit_code == 0, result.output
    assert not [p for p in out.iterdir() if p.is_dir()]


def test_part_folders_are_distinct_and_a_name_cannot_leave_or_hide_in_the_batch(tmp_path: Path):
    """Each part's folder its own (a `--name` like 第14街道 does not meet a 第N街道 made up later),
    and a `--name` that would make a hidden folder or a path outside `--out` is refused in Chinese."""
    parts = SynthConfig(branches=42, members=420, subdistrict="第14街道").parts(size=3)
    assert len(parts) == 14 and len({p.subdistrict for p in parts}) == 14
    for name in (".x", "../x", "a/b", "a\\b", " "):
        result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "x"), "--name", name])
        assert isinstance(result.exception, UsageError) and "--name" in str(result.exception), (name, result.output)
    assert not (tmp_path / "x").exists()
