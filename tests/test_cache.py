"""The ingestion cache (`audit.cache`, issue #16 "warm re-runs"): a warm ingest gives the same bytes
as a cold one and as one without the cache, re-reads only changed files, misses on any change of
what a file's result depends on, survives killed and concurrent writers and corrupt entries, stays
out of the batch, and never holds a whole ID number."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from audit import cache as cache_module
from audit.cache import ENTRY_SUFFIX, CacheLocationError, IngestCache, source_digest
from audit.contract import load_contract
from audit.ingest import BatchOutcome, FileOutcome, PseudonymKeyError, ingest
from audit.limits import Limits
from audit.mapping import load_mapping
from audit.privacy import SECRET_ENV, installation_secret, pseudonym
from audit.readers import Skipped
from conftest import SAMPLE, ingest_at_once, write_csv

AUDIT = [sys.executable, "-m", "audit.cli"]
ID_A, ID_B = "11010519491231002X", "37140219640810920X"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own cache folder (not yet made) and pseudonym secret (made: rosters carry ID
    numbers, and without a secret their files are read every time)."""
    folder = tmp_path / "cache" / "audit" / "ingest"
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(folder))
    monkeypatch.setenv(SECRET_ENV, str(tmp_path / "config" / "pseudonym.key"))
    installation_secret()
    return folder


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """The bundled sample batch, copied (31 files: CSVs and workbooks)."""
    return Path(shutil.copytree(SAMPLE, tmp_path / "xinhua"))


def written(result, out: Path) -> dict[str, bytes]:
    """Every file `Ingested.write` makes, by relative path: what must be byte-identical."""
    result.write(out)
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{ENTRY_SUFFIX}")) if folder.is_dir() else []


def file_entries(folder: Path) -> list[Path]:
    """The entries of single files (`FileOutcome`), without the whole batch's (`BatchOutcome`)."""
    store = IngestCache(None, folder)
    return [p for p in entries(folder) if isinstance(store.load(p.name[: -len(ENTRY_SUFFIX)]), FileOutcome)]


def drop_batch_entries(folder: Path) -> None:
    """Remove the whole batch's entries, so that the next ingestion reads each file's entry."""
    kept = set(file_entries(folder))
    for path in entries(folder):
        if path not in kept:
            path.unlink()


def env_with(cache_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AUDIT_CACHE_DIR": str(cache_dir),
        SECRET_ENV: str(tmp_path / "config" / "pseudonym.key"),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(Path(cache_module.__file__).parents[1]), os.environ.get("PYTHONPATH", "")) if p
        ),
    }


def test_warm_equals_cold_equals_no_cache_byte_for_byte(sample: Path, cache_dir: Path, tmp_path: Path):
    without = ingest(sample, cache=False)
    assert without.cache is None and not cache_dir.exists()  # bypassed: nothing written
    cold = ingest(sample)
    files = len(cold.files)
    assert (cold.cache.hits, cold.cache.misses, cold.cache.writes) == (0, files, files + 1)  # and the batch's
    warm = ingest(sample)  # the whole batch's entry
    assert (warm.cache.hits, warm.cache.misses, warm.cache.writes) == (files, 0, 0)
    drop_batch_entries(cache_dir)
    from_files = ingest(sample)  # each file's entry, the batch-wide stages run again (and the batch stored)
    assert (from_files.cache.hits, from_files.cache.misses, from_files.cache.writes) == (files, 0, 1)
    expected = written(without, tmp_path / "without")
    assert written(cold, tmp_path / "cold") == expected
    assert written(warm, tmp_path / "warm") == expected
    assert written(from_files, tmp_path / "from_files") == expected
    for result in (warm, from_files):
        assert (result.recognised, result.skipped, result.identities) == (without.recognised, without.skipped, without.identities)
        assert result.sources == without.sources and result.problems == without.problems
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in entries(cache_dir)} == {0o600}
    assert not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]


def _change_one_cell(path: Path, row: int, column: int, value: str) -> None:
    """Rewrite one cell of a CSV file, keeping its encoding (UTF-8 with or without BOM, or GB18030)."""
    data = path.read_bytes()
    encoding = next(e for e in ("utf-8-sig", "gb18030") if _decodes(data, e))
    rows = list(csv.reader(io.StringIO(data.decode(encoding))))
    rows[row][column] = value
    write_csv(path, rows, encoding)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def test_only_the_changed_file_is_read_again(batch: Path, cache_dir: Path, tmp_path: Path):
    first = ingest(batch)
    _change_one_cell(batch / "dues.csv", 1, 3, "96")  # one branch re-exported its dues: one amount changed
    again = ingest(batch)
    assert (again.cache.hits, again.cache.misses, again.cache.writes) == (len(first.files) - 1, 1, 2)  # and the batch
    assert again.files != first.files
    assert again.tables["dues"]["amount_paid"].to_list()[0] == 96.0
    assert written(again, tmp_path / "again") == written(ingest(batch, cache=False), tmp_path / "fresh")


def test_a_changed_mapping_file_contract_or_code_misses(batch: Path, cache_dir: Path, tmp_path: Path, monkeypatch):
    contract = load_contract()
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text("headers:\n  dues:\n    缴费人编号: 党员编号\n", encoding="utf-8")
    files = len(ingest(batch, mapping=load_mapping(mapping_path, contract)).files)
    assert ingest(batch, mapping=load_mapping(mapping_path, contract)).cache.hits == files
    mapping_path.write_text("headers:\n  dues:\n    缴费人代码: 党员编号\n", encoding="utf-8")  # another spelling
    assert ingest(batch, mapping=load_mapping(mapping_path, contract)).cache.misses == files
    assert ingest(batch).cache.misses == files  # no mapping is another key again
    assert ingest(batch).cache.hits == files
    other = dataclasses.replace(contract, version=contract.version + "-next")
    assert ingest(batch, other).cache.misses == files  # the contract (its version, or any of its columns)
    assert ingest(batch, limits=dataclasses.replace(Limits(), rows=Limits().rows + 1)).cache.misses == files
    monkeypatch.setattr("audit.ingest.code_version", lambda: "another build")
    assert ingest(batch).cache.misses == files


def test_the_code_version_follows_every_source_file(tmp_path: Path):
    package = Path(
        shutil.copytree(Path(cache_module.__file__).parent, tmp_path / "audit", ignore=shutil.ignore_patterns("__pycache__"))
    )
    before = source_digest(package)
    assert source_digest(package) == before
    (package / "pycache.pyc").write_bytes(b"not source")  # only sources count
    assert source_digest(package) == before
    path = package / "report" / "run.py"
    path.write_text(path.read_text("utf-8") + "\n# changed\n", "utf-8")
    assert source_digest(package) != before
    path = package / "contract.yaml"
    path.write_text(path.read_text("utf-8") + "\n", "utf-8")
    assert len({before, source_digest(package)}) == 2


def test_no_cache_neither_reads_nor_writes(batch: Path, cache_dir: Path, tmp_path: Path):
    files = len(ingest(batch).files)
    # an entry altered in place (a valid entry, another message): what a read of the cache would show
    store = IngestCache(batch, cache_dir)
    marker = "（取自缓存）"
    drop_batch_entries(cache_dir)
    for path in entries(cache_dir):
        key = path.name[: -len(ENTRY_SUFFIX)]
        outcome = store.load(key)
        assert isinstance(outcome, FileOutcome)
        outcome.read_skipped.append(Skipped(outcome.file, "", marker))
        store.store(key, outcome)
    assert marker in str(ingest(batch).skipped)  # the cache is read ...
    drop_batch_entries(cache_dir)
    before = {p.name: p.read_bytes() for p in entries(cache_dir)}
    result = ingest(batch, cache=False)  # ... but not with cache=False, nor written
    assert marker not in str(result.skipped) and result.cache is None
    assert {p.name: p.read_bytes() for p in entries(cache_dir)} == before and len(before) == files
    inside = batch / "cache"  # not even looked at: a folder the cache refuses is not refused
    proc = subprocess.run(
        [*AUDIT, "ingest", str(batch), "--out", str(tmp_path / "out"), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env_with(inside, tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert not inside.exists() and marker not in (tmp_path / "out" / "ingest_meta.json").read_text("utf-8")


KILLER = """
import os, signal, sys
import audit.cache

def half_then_killed(handle, head, payload):
    handle.write(head)
    handle.write(payload[: len(payload) // 2])
    handle.flush()
    os.fsync(handle.fileno())
    os.kill(os.getpid(), signal.SIGKILL)

audit.cache._write_entry = half_then_killed
from audit.ingest import ingest
ingest(sys.argv[1])
"""


def test_a_run_killed_while_writing_an_entry_leaves_nothing_used(batch: Path, cache_dir: Path, tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLER), str(batch)],
        capture_output=True,
        timeout=300,
        env=env_with(cache_dir, tmp_path),
    )
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in cache_dir.iterdir()]
    assert len(left) == 1 and left[0].endswith(".tmp") and not entries(cache_dir)  # half an entry, under a temporary name
    alive = cache_dir / f".{'0' * 64}.{os.getppid()}.0badcafe.tmp"  # another run's, still running
    alive.write_bytes(b"half")
    (cache_dir / "notes.txt").write_text("not ours", "utf-8")
    result = ingest(batch)
    assert result.cache.hits == 0 and result.cache.misses == len(result.files)
    assert written(result, tmp_path / "after") == written(ingest(batch, cache=False), tmp_path / "cold")
    assert [p.name for p in cache_dir.iterdir() if p.name.endswith(".tmp")] == [alive.name]  # the killed one's: removed
    assert (cache_dir / "notes.txt").read_text("utf-8") == "not ours"
    assert ingest(batch).cache.hits == len(result.files)


def test_two_runs_at_once_both_succeed_with_the_same_outputs(batch: Path, cache_dir: Path, tmp_path: Path):
    assert ingest_at_once(batch, [tmp_path / "race1", tmp_path / "race2"], env_with(cache_dir, tmp_path)) == [0, 0]
    expected = written(ingest(batch, cache=False), tmp_path / "alone")
    for n in (1, 2):
        out = tmp_path / f"race{n}"
        got = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        assert {k: v for k, v in got.items() if k in expected} == expected
    warm = ingest(batch)
    assert warm.cache.hits == len(warm.files) and not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_corrupt_entry_is_a_miss_and_is_rewritten(batch: Path, cache_dir: Path, tmp_path: Path):
    files = len(ingest(batch).files)
    drop_batch_entries(cache_dir)  # each file's entry is read, the damaged ones among them
    damaged = entries(cache_dir)
    damaged[0].write_bytes(damaged[0].read_bytes()[: damaged[0].stat().st_size // 2])  # truncated
    damaged[1].write_bytes(b"\0" * 100)  # garbage
    data = bytearray(damaged[2].read_bytes())
    data[-10] ^= 0xFF  # one byte flipped: the payload no longer matches its checksum
    damaged[2].write_bytes(bytes(data))
    result = ingest(batch)
    assert (result.cache.hits, result.cache.misses, result.cache.writes) == (files - 3, 3, 4)  # and the batch's
    assert written(result, tmp_path / "after") == written(ingest(batch, cache=False), tmp_path / "cold")
    assert ingest(batch).cache.hits == files
    drop_batch_entries(cache_dir)
    damaged[0].write_bytes(b"")  # the command line: no traceback, the same outputs
    proc = subprocess.run(
        [*AUDIT, "ingest", str(batch), "--out", str(tmp_path / "cli")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env_with(cache_dir, tmp_path),
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr
    assert (tmp_path / "cli" / "quarantine.csv").read_bytes() == (tmp_path / "cold" / "quarantine.csv").read_bytes()


def test_a_cache_folder_inside_the_batch_is_refused(batch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    inside = batch / "sub" / "cache"
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(inside))
    with pytest.raises(CacheLocationError, match="在数据批次文件夹"):
        ingest(batch)
    proc = subprocess.run(
        [*AUDIT, "validate", str(batch), "--quarter", "2019Q1", "--out", str(tmp_path / "v")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env_with(inside, tmp_path),
    )
    assert proc.returncode == 2 and "导入缓存文件夹" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(batch))  # the batch itself
    with pytest.raises(CacheLocationError):
        ingest(batch)
    assert not (batch / "sub").exists() and sorted(p.name for p in batch.iterdir()) == sorted(
        ["支部信息.csv", "联兴集团党支部_党员名册_2019.csv", "三会一课台账.xlsx", "dues.csv"]
    )


def id_keyed_batch(tmp_path: Path) -> Path:
    """Members known only by ID numbers (roster and dues), in a CSV and a workbook."""
    from conftest import write_xlsx

    folder = tmp_path / "ids"
    write_csv(
        folder / "支部信息.csv",
        [["支部编号", "支部名称", "上级党组织", "组织类别"], ["B01", "联兴集团党支部", "新华街道党工委", "两新组织"]],
    )
    write_csv(
        folder / "党员名册.csv",
        [
            ["身份证号码", "姓名", "所在支部编号", "党籍状态", "入党时间"],
            [ID_A, "张伟", "B01", "正式", "2005-07-01"],
            [ID_B.lower(), "李娜", "B01", "正式", "2010-07-01"],
        ],
    )
    write_xlsx(
        folder / "党费.xlsx",
        {
            "党费收缴": [
                ["身份证号", "所属月份", "应交金额", "实交金额"],
                [ID_A, "2019-01", 5, 5],
                [ID_B[:6] + " " + ID_B[6:], "2019-01", 3, 3],
            ]
        },
    )
    return folder


def test_the_cache_never_holds_a_whole_id_number(tmp_path: Path, cache_dir: Path):
    folder = id_keyed_batch(tmp_path)
    without = ingest(folder, cache=False)
    cold = ingest(folder)
    warm = ingest(folder)
    assert warm.cache.hits == len(warm.files) == 3
    expected = written(without, tmp_path / "without")
    assert written(cold, tmp_path / "cold") == expected and written(warm, tmp_path / "warm") == expected
    secret = installation_secret()
    members = warm.tables["members"].sort("name")
    assert members["member_id"].to_list() == [pseudonym(ID_A, secret), pseudonym(ID_B, secret)]  # 张伟, 李娜
    assert warm.tables["dues"].sort("amount_paid")["member_id"].to_list() == [pseudonym(ID_B, secret), pseudonym(ID_A, secret)]
    # every byte of every entry, and every value of every loaded entry: no whole number, any form
    store = IngestCache(folder, cache_dir)
    texts = [p.read_bytes().decode("latin-1") for p in cache_dir.iterdir()]
    kinds = []
    for path in entries(cache_dir):
        outcome = store.load(path.name[: -len(ENTRY_SUFFIX)])
        kinds.append(type(outcome))
        if isinstance(outcome, FileOutcome):
            texts.append(repr(dataclasses.asdict(outcome)))
            texts += [repr(frame.rows()) + repr(frame.columns) for _, frame in outcome.frames]
        else:  # the whole batch's, after identities were resolved: its tables, messages and report
            assert isinstance(outcome, BatchOutcome)
            texts += [repr(outcome.sources), repr(outcome.problems), repr(outcome.skipped), repr(outcome.identities)]
            texts += [repr(frame.rows()) + repr(frame.columns) for frame in outcome.tables.values()]
    assert sorted(map(str, kinds)) == sorted(map(str, [FileOutcome] * 3 + [BatchOutcome]))
    flat = "".join(texts).replace(" ", "")
    for number in (ID_A, ID_B):
        for form in (number, number.lower(), number[:17], number[:6] + number[8:17]):
            assert form not in flat
        assert number.encode("utf-16-le").decode("latin-1") not in "".join(texts)
    assert secret.hex() not in flat


def test_without_a_pseudonym_secret_id_numbers_are_not_stored(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch):
    folder = id_keyed_batch(tmp_path)
    monkeypatch.setenv(SECRET_ENV, str(folder / "keys" / "pseudonym.key"))  # refused: inside the batch
    with pytest.raises(PseudonymKeyError, match="不能放在数据批次文件夹中"):  # as without the cache
        ingest(folder)
    with pytest.raises(PseudonymKeyError):
        ingest(folder, cache=False)
    store = IngestCache(folder, cache_dir)
    stored = [store.load(p.name[: -len(ENTRY_SUFFIX)]) for p in entries(cache_dir)]
    assert [o.file for o in stored] == ["支部信息.csv"]  # the branch list, which holds no ID number


def test_the_cache_makes_no_pseudonym_secret(batch: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A batch keyed by 党员编号 that also carries ID numbers needs no secret: the cache makes none,
    so the files holding ID numbers are read every time until one exists, then kept sealed."""
    secret_file = tmp_path / "another" / "pseudonym.key"
    monkeypatch.setenv(SECRET_ENV, str(secret_file))
    first = ingest(batch)  # the roster carries 身份证号 beside 党员编号
    assert not secret_file.exists()
    assert (first.cache.misses, first.cache.writes) == (4, 3)
    again = ingest(batch)
    assert (again.cache.hits, again.cache.misses, again.cache.writes) == (3, 1, 0)  # nor the batch's: a file was not stored
    installation_secret()  # made by a batch that needed it
    sealed = ingest(batch)
    assert (sealed.cache.hits, sealed.cache.misses, sealed.cache.writes) == (3, 1, 2)  # the roster's and the batch's
    warm = ingest(batch)
    assert warm.cache.hits == 4
    expected = written(ingest(batch, cache=False), tmp_path / "without")
    assert written(first, tmp_path / "first") == expected and written(warm, tmp_path / "warm") == expected


def test_a_folder_others_can_write_to_is_not_used(batch: Path, cache_dir: Path):
    """Entries are loaded with pickle: one that another user could have planted is never read."""
    files = len(ingest(batch).files)
    assert ingest(batch).cache.hits == files
    cache_dir.chmod(0o777)
    shared = ingest(batch)
    assert (shared.cache.hits, shared.cache.misses, shared.cache.writes) == (0, files, 0)
    cache_dir.chmod(0o700)
    assert ingest(batch).cache.hits == files


def test_an_unchanged_batch_is_one_entry_read_without_the_batch_wide_stages(
    sample: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Every file unchanged: the whole batch's entry is served — no file read, no file entry read,
    identities, cross-table checks and attendance not worked out again (a district: 5 s of a 15 s
    warm validate). One file changed: its entry missed, the stages run again on the files' entries."""
    import audit.ingest as ingest_module

    calls: dict[str, int] = {"read": 0, "identities": 0, "loads": 0}

    def counted(name: str, real):
        def call(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(ingest_module, "_read_file", counted("read", ingest_module._read_file))
    monkeypatch.setattr(ingest_module, "_resolve_identities", counted("identities", ingest_module._resolve_identities))
    monkeypatch.setattr(IngestCache, "load", counted("loads", IngestCache.load))
    cold = ingest(sample)
    assert calls["read"] == len(cold.files) and calls["identities"] == 1
    calls.update(read=0, identities=0, loads=0)
    warm = ingest(sample)
    assert calls == {"read": 0, "identities": 0, "loads": 1}
    assert written(warm, tmp_path / "warm") == written(cold, tmp_path / "cold")
    _change_one_cell(sample / "支部信息.csv", 1, 1, "联兴集团第一党支部")
    calls.update(read=0, identities=0, loads=0)
    changed = ingest(sample)
    assert calls["read"] == 1 and calls["identities"] == 1 and calls["loads"] == len(cold.files) + 1
    assert written(changed, tmp_path / "changed") == written(ingest(sample, cache=False), tmp_path / "fresh")


def test_the_files_entries_stay_while_the_batch_entry_is_served(
    sample: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Entries unused for 60 days are removed; an unchanged batch is served from its own entry, so
    its files' entries were never used and went: the first re-export after two months re-read
    every file. A served batch entry now marks its files' entries used."""
    from audit.readers import entries as listed

    cold = ingest(sample)
    files = len(cold.files)
    batch_entry = set(entries(cache_dir)) - set(file_entries(cache_dir))
    old = time.time() - (cache_module.MAX_AGE_DAYS + 1) * 86400
    for path in file_entries(cache_dir):
        os.utime(path, (old, old))
    assert ingest(sample).cache.hits == files  # the batch's entry
    first = next(e.path for e in listed(sample) if e.path.suffix == ".csv" and not e.why)
    _change_one_cell(first, 1, 1, "改过的值")  # the file read first: its entry is stored before the others are read
    again = ingest(sample)
    assert (again.cache.hits, again.cache.misses, again.cache.writes) == (files - 1, 1, 2)
    assert batch_entry <= set(entries(cache_dir))  # the earlier batch's entry, still within its 60 days


def test_keys_holding_phone_numbers_are_kept_tagged_and_follow_the_secret(tmp_path: Path, cache_dir: Path, monkeypatch):
    """党员编号 that are mobile numbers masking alike (139****4321) stay two members through the
    cache: entries hold them masked and tagged (`privacy.tag_personal`), never whole; a warm ingest
    writes what a cold one and one without the cache write; another pseudonym secret gives other
    tags, never a stored outcome tagged with the old one."""
    folder = tmp_path / "phones"
    write_csv(
        folder / "支部信息.csv",
        [["支部编号", "支部名称", "上级党组织", "组织类别"], ["B01", "联兴集团党支部", "新华街道党工委", "两新组织"]],
    )
    person = ["B01", "正式党员", "2005-07-01"]
    roster = [
        ["党员编号", "姓名", "所在支部编号", "党员类别", "入党日期"],
        ["M13987654321", "张三", *person],
        ["M13911114321", "李四", *person],
    ]
    write_csv(folder / "党员名册.csv", roster)
    write_csv(folder / "党费.csv", [["党员编号", "所属月份", "应交金额", "实交金额"], ["M139 1111 4321", "2019-01", "5", "5"]])
    first = ingest(folder)
    keys = first.tables["members"]["member_id"].to_list()
    assert len(set(keys)) == 2 and all(k.startswith("M139****4321#") for k in keys), keys
    assert first.tables["dues"]["member_id"].to_list() == [keys[1]]  # 李四's, written with spaces
    assert not [p for p in first.problems if p.table == "members"]
    warm = ingest(folder)
    assert warm.cache.hits == 3 and warm.tables["members"]["member_id"].to_list() == keys  # the batch's outcome
    expected = written(ingest(folder, cache=False), tmp_path / "without")
    assert written(first, tmp_path / "first") == expected and written(warm, tmp_path / "warm") == expected
    stored = b"".join(p.read_bytes() for p in entries(cache_dir)).decode("latin-1")
    assert "13987654321" not in stored and "13911114321" not in stored and "M139****4321#" in stored
    monkeypatch.setenv(SECRET_ENV, str(tmp_path / "other" / "pseudonym.key"))
    other = ingest(folder)
    moved = other.tables["members"]["member_id"].to_list()
    assert set(moved).isdisjoint(keys) and other.tables["dues"]["member_id"].to_list() == [moved[1]]
    assert other.cache.hits == 1  # the branch list, which holds no such number
    assert written(other, tmp_path / "other-out") == written(ingest(folder, cache=False), tmp_path / "other-without")
