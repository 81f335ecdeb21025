"""`ingest(jobs=N)`: the files shared among helper processes give the same outcome as one process,
a helper that fails leaves its share to the caller, and a script without a main guard is safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import audit.ingest as ingest_module
from audit.helpers import Helper
from audit.ingest import Ingested, ingest
from conftest import REPO, SAMPLE, write_csv


def _same(a: Ingested, b: Ingested) -> None:
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
    assert a.report.equals(b.report) and a.quarantine.equals(b.quarantine) and a.column_map.equals(b.column_map)
    assert [vars(s) for s in a.skipped] == [vars(s) for s in b.skipped]
    assert a.recognised == b.recognised and a.files == b.files


@pytest.fixture(scope="module")
def alone() -> Ingested:
    return ingest(SAMPLE, cache=False)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every batch counts as large enough to share; the shares each helper was given, by name."""
    monkeypatch.setattr(ingest_module, "PARALLEL_READ_COST", 0)
    given: list[list[str]] = []
    tell = Helper.tell

    def recording(self, entries, *args):
        given.append([e.rel for e in entries])
        return tell(self, entries, *args)

    monkeypatch.setattr(Helper, "tell", recording)
    return given


def test_files_read_by_two_processes_give_the_same_outcome(alone, shared):
    _same(ingest(SAMPLE, cache=False, jobs=2), alone)
    # one helper, given the files after the costliest (the meetings workbook, read here)
    assert len(shared) == 1 and "三会一课台账.xlsx" not in shared[0] and 0 < len(shared[0]) < len(list(SAMPLE.iterdir()))


def test_three_processes_and_the_cache_give_the_same_outcome(alone, shared, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    cold = ingest(SAMPLE, jobs=3)
    _same(cold, alone)
    assert len(shared) == 2 and cold.cache is not None and cold.cache.writes > 0 and cold.cache.hits == 0
    warm = ingest(SAMPLE, jobs=3)
    _same(warm, alone)
    assert warm.cache is not None and warm.cache.misses == 0 and len(shared) == 2  # nothing left to read


@pytest.mark.parametrize("python", ["/nonexistent/python3", "/bin/false"])
def test_a_helper_that_cannot_start_or_answer_leaves_its_share_to_the_caller(alone, shared, monkeypatch, python):
    started: list[object] = []
    start = Helper.start.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Helper, "start", classmethod(lambda cls, *a: started.append(start(cls, *a)) or started[-1]))
    monkeypatch.setattr(sys, "executable", python)
    _same(ingest(SAMPLE, cache=False, jobs=2), alone)
    assert len(started) == 1  # one helper was tried


def _env(tmp_path: Path) -> dict[str, str]:
    """A reviewer's script's environment: this tree's sources, its own cache."""
    return {
        "PYTHONPATH": str(REPO / "src"),
        "PATH": "/usr/bin:/bin",
        "GX_ANALYTICS_ENABLED": "False",
        "AUDIT_CACHE_DIR": str(tmp_path / "c"),
    }


def _caller_script(path: Path, batch: Path, then: str = "") -> Path:
    """A script without a main guard that ingests `batch` with a helper (any batch large enough),
    then runs `then`."""
    path.write_text(
        f"import audit.ingest as i\ni.PARALLEL_READ_COST = 0\nresult = i.ingest({str(batch)!r}, cache=False, jobs=2)\n{then}",
        encoding="utf-8",
    )
    return path


def test_a_script_without_a_main_guard_reads_with_helpers(tmp_path: Path):
    """A helper is a new Python told what to read: the caller's script is not run again in it (as
    multiprocessing's spawn would, starting helpers without end or failing)."""
    script = _caller_script(tmp_path / "reviewer.py", SAMPLE, "print('ROWS', result.rows_accepted)\n")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_env(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ROWS") == 1


def test_a_helper_does_not_import_modules_from_the_working_folder(tmp_path: Path):
    """`python -c` puts the working folder first on sys.path: a `pickle.py` there (a batch folder
    someone runs the toolkit from) must not be run by a helper."""
    work, scripts = tmp_path / "work", tmp_path / "scripts"
    work.mkdir()
    scripts.mkdir()
    marker = tmp_path / "ran"
    (work / "pickle.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nraise SystemExit(3)\n", encoding="utf-8")
    script = _caller_script(scripts / "reviewer.py", SAMPLE)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=work, env=_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert not marker.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_a_helper_ends_with_its_caller_killed_outright(tmp_path: Path):
    """SIGKILL or the OOM killer gives the caller no chance to stop its helpers: they end with it
    (`portable.die_with_parent`) instead of reading their share for nothing."""
    batch = tmp_path / "batch"
    header = ["党员编号", "所属月份", "应交金额", "实交金额(元)", "交纳日期"]
    for n in range(2):  # one file for the caller, one for the helper, each seconds to read
        write_csv(batch / f"党费{n}.csv", [header] + [[f"M{i:06d}", "2019-01", "5", "5", "2019-01-05"] for i in range(200_000)])
    script = _caller_script(tmp_path / "caller.py", batch)
    caller = subprocess.Popen([sys.executable, str(script)], env=_env(tmp_path))
    try:
        children = Path(f"/proc/{caller.pid}/task/{caller.pid}/children")
        helper = None
        for _ in range(600):
            pids = children.read_text().split() if children.exists() else []
            if pids:
                helper = int(pids[0])
                break
            time.sleep(0.05)
        assert helper is not None, "no helper started"
        time.sleep(1.5)  # the helper has started on its share
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait()

        def alive() -> bool:
            try:
                return Path(f"/proc/{helper}/stat").read_text().split()[2] != "Z"
            except OSError:
                return False

        deadline = time.monotonic() + 3
        while alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        still = alive()
        if still:
            os.kill(helper, signal.SIGKILL)
        assert not still, "the read helper outlived its caller"
    finally:
        if caller.poll() is None:
            caller.kill()
