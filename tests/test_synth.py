"""The synthetic sub-district: deterministic, realistic forms, defects exactly as its truth says."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from audit.ingest import ingest
from audit.synth import SynthConfig, dues_for, generate, write_batch
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
