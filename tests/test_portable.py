"""Windows-safe system calls (`audit.portable`): the library uses no POSIX-only call without a
fallback, and with the fallbacks forced (`AUDIT_FORCE_PORTABLE=1`) the CLI writes the same outputs.

Windows itself is not available here; the fallbacks are what Windows takes, run on Linux with the
POSIX-only functions taken away from `os`, `fcntl` and `signal` (as Windows' Python lacks them)."""

from __future__ import annotations

import ast
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from audit import portable
from audit.outputs import OutputError, RunLock, read_marker, write_error_log, write_marker
from conftest import REPO

ENV = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}

# Run the CLI with what Windows' Python lacks removed: `fcntl.flock`, `os.pread`/`pwrite`, the
# `O_NOFOLLOW`/`O_CLOEXEC`/`O_DIRECTORY` flags, `os.fchmod`, user ids, process groups, SIGKILL; and
# `os.kill(pid, 0)`, which on Windows terminates the process instead of asking whether it lives.
WINDOWS_SHAPED = textwrap.dedent(
    """
    import fcntl, os, signal, sys
    del fcntl.flock
    for name in ("pread", "pwrite", "O_NOFOLLOW", "O_CLOEXEC", "O_DIRECTORY", "fchmod", "geteuid", "getuid",
                 "killpg", "setsid", "setpgrp"):
        if hasattr(os, name):
            delattr(os, name)
    del signal.SIGKILL
    _kill = os.kill
    def kill(pid, sig):
        if sig == 0:
            raise AssertionError("os.kill(pid, 0) would terminate the process on Windows")
        return _kill(pid, sig)
    os.kill = kill
    from audit.cli import main
    sys.argv = ["audit", *sys.argv[1:]]
    main()
    """
)

# Names that exist only on POSIX: library code reaches them through audit.portable alone.
POSIX_ONLY = {
    ("os", "pread"),
    ("os", "pwrite"),
    ("os", "O_NOFOLLOW"),
    ("os", "O_CLOEXEC"),
    ("os", "O_DIRECTORY"),
    ("os", "fchmod"),
    ("os", "geteuid"),
    ("os", "getuid"),
    ("os", "killpg"),
    ("os", "setsid"),
    ("os", "getpgid"),
    ("os", "kill"),  # os.kill(pid, 0) terminates the process on Windows
    ("signal", "SIGKILL"),
    ("signal", "SIGTERM"),
    ("signal", "SIGHUP"),
}


def _cli(args: list[str], cwd: Path, *, windows_shaped: bool) -> subprocess.CompletedProcess[str]:
    env = {**ENV, portable.FORCE_ENV: "1"} if windows_shaped else {**ENV, portable.FORCE_ENV: ""}
    command = [sys.executable, "-c", WINDOWS_SHAPED, *args] if windows_shaped else [sys.executable, "-m", "audit.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _contents(folder: Path, timed: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file below `folder` by relative path except those starting with one of `timed`; the
    marker without its creation time and without the timed entries of its inventory."""
    found: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == ".audit-output.json":
                marker = json.loads(data)
                marker.pop("created", None)
                if "inventory" in marker:
                    marker["inventory"] = [rel for rel in marker["inventory"] if not rel.startswith(timed)]
                data = json.dumps(marker, sort_keys=True).encode()
            rel = path.relative_to(folder).as_posix()
            if not timed or not rel.startswith(timed):
                found[rel] = data
    return found


def test_no_library_module_calls_a_posix_only_function_except_through_portable():
    found = []
    for path in sorted((REPO / "src" / "audit").rglob("*.py")):
        if path.name == "portable.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (node.value.id, node.attr) in POSIX_ONLY:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found.extend(
                    f"{path.relative_to(REPO)}:{node.lineno}: import {n}" for n in names if n in ("fcntl", "msvcrt", "pwd", "grp")
                )
            if isinstance(node, ast.Constant) and node.value in ("libc.so.6",):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value}")
    assert not found, "POSIX-only calls outside audit.portable:\n" + "\n".join(found)


def test_validate_with_the_windows_fallbacks_forced_writes_the_same_outputs(batch: Path, tmp_path: Path):
    args = ["validate", str(batch), "--quarter", "2019Q1", "--no-data-docs", "--out"]
    native = _cli([*args, str(tmp_path / "native")], tmp_path, windows_shaped=False)
    assert native.returncode == 0, native.stderr
    shaped = _cli([*args, str(tmp_path / "windows")], tmp_path, windows_shaped=True)
    assert shaped.returncode == 0, shaped.stdout + shaped.stderr
    assert "程序内部错误" not in shaped.stdout + shaped.stderr
    native_files, shaped_files = _contents(tmp_path / "native"), _contents(tmp_path / "windows")
    assert "findings.csv" in native_files and "quarantine.csv" in native_files
    assert shaped_files == native_files
    assert not list(tmp_path.glob(".*.lock"))  # the lock was released and removed

    # the same folder again: the marker is read (no O_NOFOLLOW) and the run lock taken (no flock)
    again = _cli([*args, str(tmp_path / "windows")], tmp_path, windows_shaped=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _contents(tmp_path / "windows") == native_files


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from audit.outputs import RunLock
    with RunLock(Path(sys.argv[1]), command="validate"):
        print("locked", flush=True)
        time.sleep(120)
    """
)


@pytest.mark.parametrize("force", [False, True], ids=["flock", "range-lock"])
def test_run_lock_refuses_a_second_command_and_is_released_when_its_holder_is_killed(tmp_path: Path, monkeypatch, force: bool):
    monkeypatch.setattr(portable, "FORCE", force)
    out = tmp_path / "out"
    env = {**ENV, portable.FORCE_ENV: "1" if force else ""}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError) as refused:
            with RunLock(out):
                pass
        assert f"进程 {holder.pid}" in str(refused.value) and "audit validate" in str(refused.value)
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up: the system must release the lock
        holder.wait(timeout=30)
        with RunLock(out) as lock:  # taken over, not refused
            assert json.loads(lock.path.read_text(encoding="utf-8"))["pid"] == os.getpid()
        assert not lock.path.exists()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_marker_and_lock_fallbacks_never_follow_a_symlink(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(portable, "FORCE", True)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"tool": "audit", "kind": "run"}), encoding="utf-8")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / ".audit-output.json").symlink_to(elsewhere)
    assert read_marker(folder) is None  # a planted link is not our marker
    write_marker(folder, "validate")  # replaces the link, never writes through it
    assert not (folder / ".audit-output.json").is_symlink()
    assert json.loads(elsewhere.read_text(encoding="utf-8")) == {"tool": "audit", "kind": "run"}
    out = tmp_path / "out"
    (tmp_path / ".out.lock").symlink_to(elsewhere)
    with pytest.raises(OutputError):
        with RunLock(out):
            pass
    assert json.loads(elsewhere.read_text(encoding="utf-8")) == {"tool": "audit", "kind": "run"}


def test_error_log_fallback_is_private_and_refuses_a_planted_folder(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(portable, "FORCE", True)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    logs = tmp_path / "state" / "audit" / "logs"
    logs.mkdir(parents=True, mode=0o755)
    os.chmod(logs, 0o755)
    path = write_error_log("Traceback: boom")
    assert path is not None and path.parent == logs and path.read_text(encoding="utf-8") == "Traceback: boom"
    assert stat.S_IMODE(os.stat(logs).st_mode) == 0o700 and stat.S_IMODE(os.stat(path).st_mode) == 0o600

    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "planted"))
    (tmp_path / "planted" / "audit").mkdir(parents=True)
    (tmp_path / "planted" / "audit" / "logs").symlink_to(other)
    path = write_error_log("Traceback: boom")
    assert path is not None and not list(other.iterdir())  # written to a new temporary file instead
    assert path.parent != other and path.read_text(encoding="utf-8") == "Traceback: boom"
    path.unlink()


def test_pid_alive_fallback_tells_a_live_process_from_an_ended_one(monkeypatch):
    monkeypatch.setattr(portable, "FORCE", True)
    assert portable.pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not portable.pid_alive(child.pid)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and portable.pid_alive(zombie.pid):  # exited, not yet reaped
        time.sleep(0.05)
    assert not portable.pid_alive(zombie.pid)
    zombie.wait()


PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
    print(child.pid, flush=True)
    time.sleep(120)
    """
)
CHILD = "from audit.portable import die_with_parent; import time; die_with_parent(); time.sleep(120)"


def _ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0]
    except FileNotFoundError:
        return True
    return state == b"Z"


@pytest.mark.parametrize("force", [False, True], ids=["prctl", "watchdog"])
def test_a_worker_ends_when_its_parent_is_killed(force: bool):
    env = {**ENV, portable.FORCE_ENV: "1" if force else ""}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD], env=env, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        time.sleep(3)  # the child has imported audit.portable and armed its fallback
        assert not _ended(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _ended(child):
            time.sleep(0.1)
        assert _ended(child), "the child outlived its killed parent"
    finally:
        if not _ended(child):
            os.kill(child, signal.SIGKILL)


# Files of a report that carry the time they were made (GX run times, papermill durations,
# LibreOffice's PDF date, the manifest's timings); every other file must be byte-identical. The
# output marker (`.audit-output.json`) is compared without its `created` time (`_contents`).
TIMED = ("data-docs/", "notebooks/", "manifest.json", "run_status.json", "notices/全部通知书.pdf")
# What a run reads from the checkout besides the batch (`audit.paths`: the package, the standard
# and quality suites, the report notebooks)
TREE = ("src", "expectations", "notebooks")


def _frozen_tree(folder: Path) -> Path:
    """A copy of the checkout's code, standard and notebooks: both runs read the same copy, so an
    edit to the working tree while the test runs (others at work in it) cannot tell them apart."""
    import shutil

    for name in TREE:
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


@pytest.mark.slow
def test_audit_run_with_the_fallbacks_forced_writes_the_same_report(batch: Path, tmp_path: Path):
    """Pool workers arm the parent-death watchdog, the run lock is a range lock, leftovers are
    judged by the fallback process check: the report is the same as with the POSIX calls."""
    tree = _frozen_tree(tmp_path / "tree")
    path = os.pathsep.join([str(tree / "src"), *filter(None, [ENV.get("PYTHONPATH")])])
    reports = {}
    for name, force in (("native", ""), ("portable", "1")):
        out = tmp_path / name / "2019Q1"
        done = subprocess.run(
            [sys.executable, "-m", "audit.cli", "run", str(batch), "--quarter", "2019Q1", "--out", str(out), "--jobs", "2"],
            cwd=tmp_path,
            env={**ENV, portable.FORCE_ENV: force, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        reports[name] = _contents(out, TIMED)
    assert "index.html" in reports["native"] and "findings.xlsx" in reports["native"]
    assert sorted(reports["portable"]) == sorted(reports["native"])
    changed = [rel for rel in reports["native"] if reports["portable"][rel] != reports["native"][rel]]
    assert not changed, changed


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_bytes().rsplit(b")", 1)[-1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("force", ["", "1"], ids=["prctl", "watchdog"])
def test_page_workers_end_when_audit_run_is_killed(batch: Path, tmp_path: Path, force: str):
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audit.cli",
            "run",
            str(batch),
            "--quarter",
            "2019Q1",
            "--out",
            str(tmp_path / "out"),
            "--jobs",
            "2",
        ],
        cwd=tmp_path,
        env={**ENV, portable.FORCE_ENV: force},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(workers) < 2 and run.poll() is None:
            workers = _children(run.pid)  # the pool starts its workers while the run validates
            time.sleep(0.2)
        assert len(workers) >= 2, "the run started no page workers"
        time.sleep(2)  # each worker has run its initializer (_warm_up arms the parent-death handling first)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(_ended(pid) for pid in workers):
            time.sleep(0.2)
        assert all(_ended(pid) for pid in workers), "a page worker outlived the killed run"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in workers:
            if not _ended(pid):
                os.kill(pid, signal.SIGKILL)
