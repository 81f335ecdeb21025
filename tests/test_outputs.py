"""Nothing the toolkit writes deletes or changes anything it did not create (issue 10, item 1, and
the error log and output-folder parts of item 8).

Every command runs as a user runs it (`python -m audit.cli` in a subprocess); every input file and
every file that was already there is hashed before and after, and a refused command must leave the
whole temporary tree byte-for-byte as it was."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from audit.periods import Quarter
from audit.synth import write_world
from worlds import world

AUDIT = [sys.executable, "-m", "audit.cli"]
MARKER = ".audit-output.json"
DEAD_PIDS = (999_999_997, 999_999_998, 999_999_999)  # above any pid_max: no such process


def cli(*args: object, env: dict[str, str] | None = None, unprivileged: bool = False, timeout: int = 900):
    """Run `audit` as a user would. `unprivileged`: file permissions apply even when the tests run
    as root (the child drops CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH from its bounding set before exec)."""
    preexec = _drop_dac_override if unprivileged and os.geteuid() == 0 else None
    return subprocess.run(
        [*AUDIT, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "False", **(env or {})},
        preexec_fn=preexec,
    )


def _drop_dac_override() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def said(proc: subprocess.CompletedProcess[str]) -> str:
    """Everything the command printed, with the terminal's line wrapping undone."""
    return (proc.stdout + proc.stderr).replace("\n", "")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below `root` (not following links): files by SHA-256 and link count (a new hard
    link to an input is a change too), folders by mode, links by target."""
    entries: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(info.st_mode):
                entries[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[rel] = ("dir", stat.S_IMODE(info.st_mode))
            elif stat.S_ISREG(info.st_mode):
                entries[rel] = ("file", hashlib.sha256(Path(path).read_bytes()).hexdigest(), info.st_nlink)
            else:
                entries[rel] = ("other", stat.S_IFMT(info.st_mode))
    return entries


def unchanged_within(before: dict[str, tuple], after: dict[str, tuple]) -> None:
    """Every entry that existed before is still there, with the same content."""
    for rel, entry in before.items():
        assert after.get(rel) == entry, rel


COMMANDS: dict[str, Callable[[Path, Path], list[object]]] = {
    "run": lambda batch, out: ["run", batch, "--quarter", "2019Q1", "--out", out, "--jobs", "1"],
    "validate": lambda batch, out: ["validate", batch, "--quarter", "2019Q1", "--out", out, "--no-data-docs"],
    "ingest": lambda batch, out: ["ingest", batch, "--out", out],
}


def _parent_of_batch(tmp: Path, batch: Path) -> Path:
    return tmp


def _the_batch(tmp: Path, batch: Path) -> Path:
    return batch


def _batch_via_symlink(tmp: Path, batch: Path) -> Path:
    (tmp / "link").symlink_to(batch, target_is_directory=True)
    return tmp / "link"


def _batch_via_dotdot(tmp: Path, batch: Path) -> Path:
    (tmp / "elsewhere").mkdir()
    return tmp / "elsewhere" / ".." / batch.name


def _inside_batch(tmp: Path, batch: Path) -> Path:
    return batch / "report"


def _existing_file(tmp: Path, batch: Path) -> Path:
    return tmp / "notes.txt"


def _foreign_folder(tmp: Path, batch: Path) -> Path:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "工作底稿.docx").write_bytes(b"reviewer's own file")
    return tmp / "mine"


def _under_a_file(tmp: Path, batch: Path) -> Path:
    return tmp / "notes.txt" / "report"


def _dangling_symlink(tmp: Path, batch: Path) -> Path:
    (tmp / "dangling").symlink_to(tmp / "nowhere")
    return tmp / "dangling"


REFUSALS = {
    "parent_of_batch": (_parent_of_batch, "包含正在读取的数据批次文件夹"),
    "the_batch": (_the_batch, "就是正在读取的数据批次文件夹"),
    "batch_via_symlink": (_batch_via_symlink, "就是正在读取的数据批次文件夹"),
    "batch_via_dotdot": (_batch_via_dotdot, "就是正在读取的数据批次文件夹"),
    "inside_batch": (_inside_batch, "之内"),
    "existing_file": (_existing_file, "是一个已有的文件"),
    "foreign_folder": (_foreign_folder, "不是 audit 生成的输出文件夹"),
    "under_a_file": (_under_a_file, "是一个文件，不是文件夹"),
    "dangling_symlink": (_dangling_symlink, "符号链接"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_out_that_is_not_ours_is_refused_and_nothing_changes(batch: Path, tmp_path: Path, command: str, case: str):
    (tmp_path / "notes.txt").write_text("审核笔记，与批次无关", encoding="utf-8")
    make, message = REFUSALS[case]
    out = make(tmp_path, batch)
    before = snapshot(tmp_path)
    proc = cli(*COMMANDS[command](batch, out))
    assert proc.returncode == 2, said(proc)
    assert message in said(proc) and str(out) in said(proc)
    assert "Traceback" not in said(proc)
    assert snapshot(tmp_path) == before  # not one byte written, renamed or removed, no lock left


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("existing", [False, True], ids=["new-out", "empty-out"])
def test_a_read_only_place_is_refused_with_a_message(batch: Path, tmp_path: Path, command: str, existing: bool):
    """Before: exit 70 and a traceback in the log. Testable as root: the child loses the
    capability that lets root ignore permissions."""
    locked = tmp_path / "只读"
    locked.mkdir()
    out = locked / "report"
    if existing:
        out.mkdir()
    (locked if not existing else out).chmod(0o555)
    try:
        before = snapshot(tmp_path)
        proc = cli(*COMMANDS[command](batch, out), unprivileged=True)
        assert proc.returncode == 2, said(proc)
        assert "没有写入" in said(proc) and "权限" in said(proc) and "Traceback" not in said(proc)
        assert snapshot(tmp_path) == before
    finally:
        locked.chmod(0o755)
        if out.exists():
            out.chmod(0o755)


def test_library_calls_refuse_the_batch_too(batch: Path, tmp_path: Path):
    from audit.outputs import OutputError
    from audit.report import run_report
    from audit.validate import validate

    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="就是正在读取的数据批次文件夹"):
        validate(batch, "2019Q1", out=batch, data_docs=False)
    with pytest.raises(OutputError, match="包含正在读取的数据批次文件夹"):
        run_report(batch, Quarter.parse("2019Q1"), tmp_path, jobs=1)
    assert snapshot(tmp_path) == before


def test_validate_and_ingest_write_only_into_their_own_folders(batch: Path, tmp_path: Path):
    inputs = snapshot(batch)
    out = tmp_path / "processed" / "2019Q1"
    first = cli("validate", batch, "--quarter", "2019Q1", "--out", out, "--no-data-docs")
    assert first.returncode == 0, said(first)
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert marker["tool"] == "audit" and marker["kind"] == "validate" and marker["created"]
    (out / "复核意见.txt").write_text("keep me", encoding="utf-8")
    again = cli("validate", batch, "--quarter", "2019Q1", "--out", out, "--no-data-docs")
    assert again.returncode == 0, said(again)  # its own folder: written into, the reviewer's file kept
    assert (out / "复核意见.txt").read_text(encoding="utf-8") == "keep me"
    other_kind = cli("ingest", batch, "--out", out)
    assert other_kind.returncode == 2 and "audit validate 生成的文件夹" in said(other_kind)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("ingest", batch, "--out", empty).returncode == 0  # an empty folder is fine, and gets the marker
    assert json.loads((empty / MARKER).read_text(encoding="utf-8"))["kind"] == "ingest"
    # its own folder, but with a way out planted inside: a symlinked subfolder, a hard-linked file
    shutil.rmtree(empty / "tables")
    (empty / "tables").symlink_to(batch, target_is_directory=True)
    linked = tmp_path / "linked"
    assert cli("ingest", batch, "--out", linked).returncode == 0
    (linked / "ingest_meta.json").unlink()
    os.link(batch / "dues.csv", linked / "ingest_meta.json")  # written in place: would rewrite the batch file
    for planted in (empty, linked):
        proc = cli("ingest", batch, "--out", planted)
        assert proc.returncode == 2 and "符号链接或另有硬链接" in said(proc), said(proc)
    (linked / "ingest_meta.json").unlink()  # the test's own hard link: the batch file's link count is back to 1
    assert snapshot(batch) == inputs


def test_ingest_default_out_is_a_folder_of_its_own(batch: Path, tmp_path: Path):
    """Before: `data/processed` itself, shared by every batch."""
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [*AUDIT, "ingest", str(batch)],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "False"},
        timeout=300,
    )
    assert proc.returncode == 0, said(proc)
    out = work / "data" / "processed" / batch.name / "ingest"
    assert (out / "ingest_report.csv").exists() and (out / MARKER).exists()
    assert sorted(p.name for p in (work / "data" / "processed").iterdir()) == [batch.name]


def test_sample_never_overwrites_a_file_nor_writes_in_the_batch(batch: Path, tmp_path: Path):
    notes = tmp_path / "notes.csv"
    notes.write_text("我自己的核对表", encoding="utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("not to be touched", encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(victim)
    before = snapshot(tmp_path)
    for out, message in [
        (notes, "已存在"),
        (tmp_path / "link.csv", "已存在"),
        (batch / "sample.csv", "之内"),
        (notes / "sample.csv", "是一个文件，不是文件夹"),
    ]:
        proc = cli("sample", batch, "--quarter", "2019Q1", "--out", out)
        assert proc.returncode == 2 and message in said(proc), (out, said(proc))
        assert snapshot(tmp_path) == before, out
    fresh = tmp_path / "抽查" / "sample.csv"
    made = cli("sample", batch, "--quarter", "2019Q1", "--out", fresh)
    assert made.returncode == 0, said(made)
    content = fresh.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    fresh.write_bytes(content + "核对：已看纸质记录\r\n".encode())
    edited = snapshot(tmp_path)
    again = cli("sample", batch, "--quarter", "2019Q1", "--out", fresh)
    assert again.returncode == 2 and "不覆盖已有的文件" in said(again)
    assert snapshot(tmp_path) == edited
    assert [p.name for p in fresh.parent.iterdir()] == ["sample.csv"]  # no temporary file left


SYNTH = ["--branches", "3", "--members", "36", "--seed", "7"]


def test_synth_writes_only_new_empty_or_its_own_folders(tmp_path: Path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "真实数据.xlsx").write_bytes(b"not synthetic")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    before = snapshot(tmp_path)
    for out, message in [(mine, "不是 audit 生成的输出文件夹"), (tmp_path / "notes.txt", "是一个已有的文件")]:
        proc = cli("synth", "--out", out, *SYNTH)
        assert proc.returncode == 2 and message in said(proc), said(proc)
        assert snapshot(tmp_path) == before
    out = tmp_path / "batch"
    assert cli("synth", "--out", out, *SYNTH).returncode == 0
    first = snapshot(out)
    assert json.loads((out / MARKER).read_text(encoding="utf-8"))["kind"] == "synth"
    again = cli("synth", "--out", out, *SYNTH)  # its own output: regenerated in place
    assert again.returncode == 0, said(again)
    assert snapshot(out).keys() == first.keys()  # the same files (workbooks carry their save time)
    (out / "复核说明.txt").write_text("mine", encoding="utf-8")
    refused = cli("synth", "--out", out, *SYNTH)
    assert refused.returncode == 2 and "复核说明.txt" in said(refused)
    assert (out / "复核说明.txt").read_text(encoding="utf-8") == "mine"
    (out / "复核说明.txt").unlink()
    truth = tmp_path / "batch.truth" / "violations.csv"
    truth.unlink()
    truth.symlink_to(tmp_path / "notes.txt")  # the truth is rewritten in place: a link would be followed
    linked = cli("synth", "--out", out, *SYNTH)
    assert linked.returncode == 2 and "符号链接" in said(linked)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "x"


def test_a_lock_file_that_is_not_ours_is_never_removed(tmp_path: Path):
    from audit.outputs import OutputError
    from audit.report import RunLock

    out = tmp_path / "2019Q1"
    lock = tmp_path / ".2019Q1.lock"
    lock.write_text("我的笔记，恰好叫这个名字", encoding="utf-8")
    with pytest.raises(OutputError, match="不是 audit 的锁文件"), RunLock(out):
        pass
    assert lock.read_text(encoding="utf-8") == "我的笔记，恰好叫这个名字"


def test_the_report_folder_is_replaced_only_after_its_marker_is_checked_again(tmp_path: Path):
    """A folder swapped in at `--out` after the checks (not made by audit) is never renamed or deleted."""
    from audit.outputs import OutputError
    from audit.report import _move_into_place

    new = tmp_path / ".out.partial-1"
    new.mkdir()
    (new / MARKER).write_text(json.dumps({"tool": "audit", "kind": "run", "state": "partial"}), encoding="utf-8")
    (new / "index.html").write_text("new", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "论文.docx").write_bytes(b"someone's thesis")
    before = snapshot(out)
    with pytest.raises(OutputError):
        _move_into_place(new, out)
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if ".old-" in p.name]


def test_stale_cleanup_removes_only_what_a_killed_run_provably_left(tmp_path: Path):
    from audit.report import _clean_stale_partials

    out = tmp_path / "2019Q1"
    ours = tmp_path / f".2019Q1.partial-{DEAD_PIDS[0]}"
    ours.mkdir()
    (ours / MARKER).write_text(
        json.dumps({"tool": "audit", "kind": "run", "state": "partial", "pid": DEAD_PIDS[0]}), encoding="utf-8"
    )
    (ours / "findings.csv").write_text("half", encoding="utf-8")
    theirs = [tmp_path / f".2019Q1.partial-{DEAD_PIDS[1]}", tmp_path / f".2019Q1.old-{DEAD_PIDS[2]}"]
    for folder in theirs:
        folder.mkdir()
        (folder / "私人文件.txt").write_text("keep", encoding="utf-8")
    before = snapshot(tmp_path)
    _clean_stale_partials(out)
    after = snapshot(tmp_path)
    assert not ours.exists()
    unchanged_within({k: v for k, v in before.items() if not k.startswith(ours.name)}, after)


def test_validate_into_a_folder_a_run_is_writing_is_refused(batch: Path, tmp_path: Path):
    """Before: exit 0, and its output was discarded when the run moved its report into place."""
    out = tmp_path / "2019Q1"
    inputs = snapshot(batch)
    run = subprocess.Popen(
        [*AUDIT, "run", str(batch), "--quarter", "2019Q1", "--out", str(out), "--jobs", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "False"},
    )
    try:
        deadline = time.time() + 300
        while not list(tmp_path.glob(".2019Q1.partial-*")):  # the lock is taken before the temporary folder
            assert run.poll() is None, run.stderr.read()
            assert time.time() < deadline
            time.sleep(0.05)
        run.send_signal(signal.SIGSTOP)  # hold it there, lock taken, while the others try
        try:
            for proc in (
                cli("validate", batch, "--quarter", "2019Q1", "--out", out, "--no-data-docs"),
                cli("ingest", batch, "--out", out),
                cli("run", batch, "--quarter", "2019Q1", "--out", out),
            ):
                assert proc.returncode == 2, said(proc)
                assert "正在写入" in said(proc) and str(run.pid) in said(proc) and "audit run" in said(proc)
        finally:
            run.send_signal(signal.SIGCONT)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=120)
    assert not out.exists()
    assert list(tmp_path.glob(".*")) == []  # the interrupted run removed its temporary folder and lock
    assert snapshot(batch) == inputs


def test_rerun_replaces_only_a_report_audit_made(tmp_path: Path):
    """Two full runs. Before: leftovers named like a killed run's were deleted whatever they held."""
    batch = tmp_path / "batch"
    write_world(world(), batch)
    parent = tmp_path / "reports"
    parent.mkdir()
    (parent / "notes.txt").write_text("审核笔记", encoding="utf-8")
    out = parent / "2019Q1"
    for folder in (parent / f".2019Q1.partial-{DEAD_PIDS[1]}", parent / f".2019Q1.old-{DEAD_PIDS[2]}"):
        folder.mkdir()
        (folder / "私人文件.txt").write_text("keep", encoding="utf-8")
    killed = parent / f".2019Q1.partial-{DEAD_PIDS[0]}"  # what a SIGKILLed run leaves: marked, removed
    killed.mkdir()
    (killed / MARKER).write_text(
        json.dumps({"tool": "audit", "kind": "run", "state": "partial", "pid": DEAD_PIDS[0]}), encoding="utf-8"
    )
    inputs, around = snapshot(batch), snapshot(parent)

    first = cli("run", batch, "--quarter", "2019Q1", "--out", out, "--jobs", "2")
    assert first.returncode == 0, said(first)
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert marker["kind"] == "run" and marker["state"] == "complete" and "index.html" in marker["inventory"]
    assert not killed.exists()
    unchanged_within({k: v for k, v in around.items() if not k.startswith(killed.name)}, snapshot(parent))
    inode = out.stat().st_ino

    second = cli("run", batch, "--quarter", "2019Q1", "--out", out, "--jobs", "2")
    assert second.returncode == 0, said(second)
    assert out.stat().st_ino != inode and (out / "index.html").exists()  # replaced whole
    assert sorted(p.name for p in parent.iterdir() if ".2019Q1." in p.name) == sorted(
        [f".2019Q1.partial-{DEAD_PIDS[1]}", f".2019Q1.old-{DEAD_PIDS[2]}"]
    )

    (out / "批注.txt").write_text("复核意见", encoding="utf-8")  # a reviewer's file inside the report
    report = snapshot(parent)
    third = cli("run", batch, "--quarter", "2019Q1", "--out", out, "--jobs", "2")
    assert third.returncode == 2 and "批注.txt" in said(third)
    other_kind = cli("validate", batch, "--quarter", "2019Q1", "--out", out, "--no-data-docs")
    assert other_kind.returncode == 2 and "audit run 生成的文件夹" in said(other_kind)
    assert snapshot(parent) == report
    assert snapshot(batch) == inputs


# --- the internal-error log --------------------------------------------------------------------------


CRASH = """
import sys
import audit.ingest
def broken(*args, **kwargs):
    raise RuntimeError("planted internal failure")
audit.ingest.ingest = broken
sys.argv = ["audit", "ingest", sys.argv[1], "--out", sys.argv[2]]
import audit.cli
audit.cli.main()
"""


def _crash(
    batch: Path, out: Path, env: dict[str, str], *, unprivileged: bool = False
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """An internal error (a library function that raises), as a bug would cause one."""
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, str(batch), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "False", **env},
        preexec_fn=_drop_dac_override if unprivileged and os.geteuid() == 0 else None,
    )
    assert proc.returncode == 70, said(proc)
    assert "程序内部错误" in said(proc) and "Traceback" not in said(proc)
    found = re.search(r"详细信息已写入 (\S+?\.log)", said(proc))
    assert found, said(proc)
    return proc, Path(found.group(1))


def test_error_log_is_private_and_never_follows_a_planted_link(batch: Path, tmp_path: Path):
    """Before: a fixed `/tmp/audit-error.log` (the system temporary folder), followed if a symlink."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    victim = tmp_path / "victim.conf"
    victim.write_text("important", encoding="utf-8")
    (temp / "audit-error.log").symlink_to(victim)  # the old fixed location
    state = tmp_path / "state"
    (state / "audit").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state / "audit" / "logs").symlink_to(elsewhere, target_is_directory=True)  # the new folder, planted
    _, log = _crash(batch, tmp_path / "out", {"TMPDIR": str(temp), "XDG_STATE_HOME": str(state)})
    assert victim.read_text(encoding="utf-8") == "important"
    assert list(elsewhere.iterdir()) == []
    info = os.lstat(log)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid()
    assert log.parent == temp and log.name.startswith("audit-error-")  # the fallback: a new mkstemp file
    assert "planted internal failure" in log.read_text(encoding="utf-8")
    assert not (tmp_path / "out").exists()


def test_error_log_goes_to_a_private_folder_per_user(batch: Path, tmp_path: Path):
    state = tmp_path / "state"
    env = {"TMPDIR": str(tmp_path), "XDG_STATE_HOME": str(state)}
    _, first = _crash(batch, tmp_path / "out", env)
    _, second = _crash(batch, tmp_path / "out", env)
    assert first.parent == second.parent == state / "audit" / "logs" and first != second  # a new file each time
    assert stat.S_IMODE(os.stat(first.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    assert "RuntimeError: planted internal failure" in first.read_text(encoding="utf-8")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")
def test_error_log_files_of_another_user_do_not_break_the_error_path(batch: Path, tmp_path: Path):
    """Before: a log file owned by another user at the fixed path made the error path itself crash
    (a traceback, exit 1). Now neither that file nor a log folder of another user is used."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    theirs = temp / "audit-error.log"
    theirs.write_text("another user's log", encoding="utf-8")
    os.chown(theirs, 65534, 65534)
    theirs.chmod(0o644)
    state = tmp_path / "state"
    logs = state / "audit" / "logs"
    logs.mkdir(parents=True)
    os.chown(logs, 65534, 65534)
    logs.chmod(0o777)
    env = {"TMPDIR": str(temp), "XDG_STATE_HOME": str(state)}
    _, log = _crash(batch, tmp_path / "out", env, unprivileged=True)
    assert log.parent == temp and log != theirs and list(logs.iterdir()) == []
    assert theirs.read_text(encoding="utf-8") == "another user's log"
    assert "planted internal failure" in log.read_text(encoding="utf-8")
