"""The ingestion cache attacked as a user and an adversary would (issue #16, "warm re-runs"): entries
swapped between names, cache folders in places a run writes to. Each test is a break found once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit import cache as cache_module
from audit import ingest as ingest_module
from audit.cache import ENTRY_SUFFIX, CacheLocationError, IngestCache
from audit.ingest import ingest
from audit.privacy import SECRET_ENV
from conftest import write_csv

AUDIT = [sys.executable, "-m", "audit.cli"]

HEADER = ["支部编号", "支部名称", "上级党组织", "组织类别"]


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own cache folder (not yet made)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(folder))
    return folder


def entry_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob(f"*{ENTRY_SUFFIX}")}


def test_an_entry_moved_under_another_key_is_not_served(tmp_path: Path, cache_dir: Path):
    """An entry is bound to its key: the whole, valid entry of the file's earlier bytes, put under the
    name of its current bytes' key (a swap, a restore from a backup, a sync tool), is a miss."""
    batch = tmp_path / "batch"
    write_csv(batch / "支部信息.csv", [HEADER, ["B01", "联兴集团党支部", "新华街道党工委", "两新组织"]])
    ingest(batch)
    earlier = entry_bytes(cache_dir)
    write_csv(batch / "支部信息.csv", [HEADER, ["B02", "红星社区党支部", "新华街道党工委", "社区"]])
    ingest(batch)
    store = IngestCache(None, cache_dir)

    def kind(name: str) -> str:  # the file's entry or the whole batch's
        return type(store.load(name.removesuffix(ENTRY_SUFFIX))).__name__

    before = {kind(name): data for name, data in earlier.items()}
    now = set(entry_bytes(cache_dir)) - set(earlier)
    assert sorted(map(kind, now)) == sorted(before) == ["BatchOutcome", "FileOutcome"]
    for name in now:  # each earlier entry under the current key of its kind
        (cache_dir / name).write_bytes(before[kind(name)])
    result = ingest(batch)
    assert result.tables["branches"]["branch_id"].to_list() == ["B02"]
    assert (result.cache.hits, result.cache.misses) == (0, 1)


def audit_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDIT, *args], capture_output=True, text=True, timeout=300, env=env)


def cli_env(cache: Path, tmp_path: Path) -> dict[str, str]:
    source = str(Path(cache_module.__file__).parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "AUDIT_CACHE_DIR": str(cache),
        SECRET_ENV: str(tmp_path / "config" / "pseudonym.key"),
        "PYTHONPATH": path,
    }


@pytest.fixture
def small_batch(tmp_path: Path) -> Path:
    batch = tmp_path / "batch"
    write_csv(batch / "支部信息.csv", [HEADER, ["B01", "联兴集团党支部", "新华街道党工委", "两新组织"]])
    return batch


def test_a_cache_folder_inside_a_new_output_folder_is_refused_before_reading(small_batch: Path, tmp_path: Path):
    """``--out R`` with the cache in ``R/cache``: said at once, in Chinese, naming the cache; before,
    the cache made R, and then R was refused as "not made by audit", on this run and every later one."""
    out = tmp_path / "report"
    proc = audit_cli("ingest", str(small_batch), "--out", str(out), env=cli_env(out / "cache", tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "导入缓存文件夹" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    proc = audit_cli("ingest", str(small_batch), "--out", str(out), "--no-cache", env=cli_env(out / "cache", tmp_path))
    assert proc.returncode == 0, proc.stderr  # --no-cache: the cache folder is not looked at


@pytest.mark.parametrize("entry", ["validate", "run_report"])
def test_the_api_refuses_a_cache_folder_inside_its_new_output_folder_before_reading(
    small_batch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
):
    """`audit.validate.validate(out=R)` and `audit.report.run_report(out=R)` with the cache in
    ``R/cache`` are refused before anything is read or made, as the CLI refuses them; before, the
    API read the batch, made R with the cache in it and then refused R as not its own."""
    from audit.report import run_report
    from audit.validate import validate

    out = tmp_path / "report"
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(out / "cache"))
    call = {"validate": validate, "run_report": run_report}[entry]
    with pytest.raises(CacheLocationError, match="导入缓存文件夹"):
        call(small_batch, "2019Q1", out=out)
    assert not out.exists()


def test_a_cache_folder_inside_an_audit_output_folder_is_refused(
    small_batch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A report folder is what a run writes and replaces, and what is sent on: the cache is not put
    there (as the pseudonym secret is not). Before, `audit ingest` wrote the entries into the report,
    and `audit run` read the whole batch, then refused its own report for holding "foreign" files."""
    out = tmp_path / "report"
    assert (
        audit_cli("ingest", str(small_batch), "--out", str(out), "--no-cache", env=cli_env(tmp_path / "c", tmp_path)).returncode
        == 0
    )
    inside = out / "tables" / "cache"
    proc = audit_cli("ingest", str(small_batch), "--out", str(tmp_path / "other"), env=cli_env(inside, tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "导入缓存文件夹" in proc.stderr and "Traceback" not in proc.stderr
    assert not inside.exists() and not (tmp_path / "other").exists()
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(out / "cache"))  # `audit.from_batch` and the API too
    with pytest.raises(CacheLocationError, match="报告或输出文件夹"):
        ingest(small_batch)
    assert not (out / "cache").exists()


@pytest.mark.parametrize("after_hash", [1, 2])  # after the whole batch's key is taken, after the file's
def test_a_file_rewritten_between_hashing_and_reading_is_not_stored(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, after_hash: int
):
    """A file rewritten in place after its hash and before its read, with the same size and (a coarse
    clock: FAT and network drives) the same modification time: what was read belongs to other bytes
    than the key's, so it is not stored. Before, it was kept under the earlier bytes' key and served
    when the file came back to them (a re-export of the same data): the tables of the other bytes."""
    batch = tmp_path / "batch"
    path = write_csv(batch / "支部信息.csv", [HEADER, ["B01", "联兴集团党支部", "新华街道党工委", "两新组织"]])
    original = path.read_bytes()
    rewritten = original.replace(b"B01", b"B02")
    real = ingest_module.sha256_file
    calls: list[Path] = []

    def hashed_then_rewritten(target: Path) -> str:
        """The real hash, then the file rewritten as a second export would be, its timestamps kept."""
        digest = real(target)
        if Path(target) == path:
            calls.append(path)
        if Path(target) == path and len(calls) == after_hash:
            info = os.stat(path)
            with open(path, "r+b") as handle:  # in place: the same inode, as an editor saving over it
                handle.write(rewritten)
            os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
        return digest

    monkeypatch.setattr(ingest_module, "sha256_file", hashed_then_rewritten)
    assert ingest(batch).tables["branches"]["branch_id"].to_list() == ["B02"]  # what was read
    monkeypatch.setattr(ingest_module, "sha256_file", real)
    path.write_bytes(original)  # the file back to the bytes first hashed
    result = ingest(batch)
    assert result.tables["branches"]["branch_id"].to_list() == ["B01"]
    assert result.cache.hits == 0
    path.write_bytes(rewritten)  # and under the other bytes, whichever of them was kept
    assert ingest(batch).tables["branches"]["branch_id"].to_list() == ["B02"]


def test_a_cache_folder_others_can_write_to_is_said_not_silently_skipped(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    """A folder the user made for the cache under the common umask 002 (0775) is not used (its entries
    would be loaded with pickle), and the run says so and how to correct it, in Chinese. Before, every
    run silently re-read the whole batch ("0 个未改变") with nothing telling why."""
    monkeypatch.setenv(SECRET_ENV, str(tmp_path / "config" / "pseudonym.key"))
    batch = tmp_path / "batch"
    write_csv(batch / "支部信息.csv", [HEADER, ["B01", "联兴集团党支部", "新华街道党工委", "两新组织"]])
    cache_dir.mkdir(mode=0o700)
    cache_dir.chmod(0o775)
    ingest(batch)
    result = ingest(batch)
    assert (result.cache.hits, result.cache.writes) == (0, 0)
    assert "其他用户" in result.cache.unused and "chmod 700" in result.cache.unused and str(cache_dir) in result.cache.unused
    cache_dir.chmod(0o700)
    assert ingest(batch).cache.unused == ""
    cache_dir.chmod(0o775)
    proc = audit_cli("ingest", str(batch), "--out", str(tmp_path / "out"), env=cli_env(cache_dir, tmp_path))
    assert proc.returncode == 0, proc.stderr
    said = " ".join((proc.stdout + proc.stderr).split())
    assert "导入缓存文件夹" in said and "chmod 700" in said


def _code_version(extra_path: Path | None) -> str:
    """`audit.cache.code_version` as a new process computes it, with `extra_path` first on its path."""
    source = str(Path(cache_module.__file__).parents[1])
    path = os.pathsep.join(str(p) for p in (extra_path, source) if p)
    proc = subprocess.run(
        [sys.executable, "-c", "from audit.cache import code_version; print(code_version())"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("distribution", ["great_expectations", "pandas"])
def test_the_code_version_names_the_engine_that_judges_record_quality(tmp_path: Path, distribution: str):
    """The record-quality result is kept under `code_version` (`quality_key`), and GX judges it on
    pandas frames: another installed GX or pandas (an upgrade, here its metadata first on the path)
    is other code, so a result kept by the earlier one is not served. Before, only the readers'
    libraries were named, and an upgraded GX was served the old GX's findings."""
    other = tmp_path / "site"
    info = other / f"{distribution}-999.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 999.0\n", encoding="utf-8")
    assert _code_version(other) != _code_version(None)
