"""Where the toolkit may write: only folders and files it made itself, never the batch it reads.

Every output folder that `audit run`, `validate`, `ingest` and `synth` create carries a marker file,
`.audit-output.json` (tool, kind, created). Before writing into a folder or replacing it, the marker
is checked: a folder without it is the user's, and is written into only while it is empty. `--out`
is refused (`OutputError`, exit 2) when it is, contains or lies inside the batch being read
(compared after resolving symlinks and `..`, and by device and inode), when it is an existing file
or other non-folder, when a folder on its way is a file, or when it cannot be written. A run lock
(`RunLock`) keeps two commands from writing the same folder at once; `audit run` replaces its
folder with an atomic rename only after re-checking the marker, and clears away only leftovers it
can prove it made. Internal errors are logged to a private per-user file (`write_error_log`).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from audit import portable
from audit.errors import AuditError

MARKER = ".audit-output.json"
TOOL = "audit"
KINDS = ("run", "validate", "ingest", "synth")
REPLACED = ("run", "synth")  # kinds whose earlier output is replaced whole, so it must hold nothing foreign
IN_PLACE = ("validate", "ingest")  # kinds that write into their folder, so nothing there may lead elsewhere
MARKER_LIMIT = 64 << 20  # a report's inventory of file names; anything larger is not ours
LOCK_LIMIT = 4096


class OutputError(AuditError):
    """An output path the toolkit refuses to write; the message (Chinese) names it and what to do.

    Paths in the message are the user's and the batch's names: the message is made terminal-safe
    (control characters escaped) and ID and mobile numbers in it are masked, as for any batch text."""

    def __init__(self, message: str):
        from audit.privacy import shown

        super().__init__(shown(message))


# --- markers -------------------------------------------------------------------------------------------


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of a folder the toolkit made, or None (no marker, a symlink, not ours, unreadable)."""
    path = Path(folder) / MARKER
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MARKER_LIMIT:
            return None
        fd = portable.open_nofollow(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(MARKER_LIMIT + 1))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("tool") == TOOL and data.get("kind") in KINDS:
        return data
    return None


def write_marker(folder: Path, kind: str, *, fields: dict[str, Any] | None = None, created: bool = True) -> None:
    """Write (or replace) a folder's marker atomically; a symlink planted at its name is replaced,
    never followed."""
    content: dict[str, Any] = {"tool": TOOL, "kind": kind}
    if created:
        content["created"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    content.update(fields or {})
    data = (json.dumps(content, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    folder = Path(folder)
    tmp = folder / f"{MARKER}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    fd = portable.open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, folder / MARKER)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def inventory(folder: Path) -> list[str]:
    """Every entry below a folder (files, folders, links; not followed), as sorted relative paths."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found.extend((rel / name).as_posix() for name in (*dirs, *files))
    return sorted(p for p in found if p != MARKER)


def _foreign_entries(folder: Path, marker: dict[str, Any]) -> list[str]:
    """Entries a complete report folder holds that the run did not write (a reviewer's notes).
    A marker without a list of what was written (forged, hand-edited, truncated) proves nothing:
    everything in the folder then counts as foreign."""
    recorded = marker.get("inventory")
    if not isinstance(recorded, list) or not all(isinstance(p, str) for p in recorded):
        return inventory(folder)
    return sorted(set(inventory(folder)) - set(recorded))


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_empty_dir(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def _own_partial(marker: dict[str, Any] | None) -> bool:
    """The temporary folder of the `audit run` in this process (its validation writes into it)."""
    return marker is not None and marker.get("state") == "partial" and marker.get("pid") == os.getpid()


# --- checks --------------------------------------------------------------------------------------------


def _resolve(path: Path) -> Path:
    """The physical path: symlinks resolved before `..` (as the kernel does when the path is opened;
    `os.path.abspath` would drop `link/..` lexically and name another folder)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise OutputError(f"无法解析路径 {path}：{_why(exc)}。请用 --out 指定一个普通的文件夹") from None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _check_batch(out: Path, given: Path, batch: Path | None) -> None:
    """Refuse an output that is, contains or lies inside the batch folder being read (by path and
    by device and inode, so neither symlinks, `..` nor a second mount of the batch get past)."""
    if batch is None:
        return
    real = _resolve(batch)
    batch_id = _identity(real)
    out_id = _identity(out)
    same = out == real or (batch_id is not None and out_id == batch_id)
    chain = [out, *out.parents]
    inside = real in chain or (batch_id is not None and any(_identity(p) == batch_id for p in chain))
    if same:
        raise OutputError(
            f"输出位置 {given} 就是正在读取的数据批次文件夹；原始数据只读，audit 不会写入、替换或删除它。"
            "请用 --out 指定批次文件夹以外的位置"
        )
    if inside:
        raise OutputError(
            f"输出位置 {given} 在正在读取的数据批次文件夹 {batch} 之内；原始数据只读，audit 不会在其中写入任何文件。"
            "请用 --out 指定批次文件夹以外的位置"
        )
    if out in real.parents or (out_id is not None and any(_identity(p) == out_id for p in real.parents)):
        raise OutputError(
            f"输出位置 {given} 包含正在读取的数据批次文件夹 {batch}；写入或替换它会损坏原始数据。"
            "请用 --out 指定批次文件夹以外的位置"
        )


def _check_chain(out: Path, given: Path) -> Path:
    """Every existing folder above `out` must be a folder; returns the nearest existing one."""
    for parent in out.parents:
        if os.path.lexists(parent):
            if not os.path.isdir(parent):
                raise OutputError(f"无法在 {given} 创建输出：上级路径 {parent} 是一个文件，不是文件夹。请用 --out 指定另一个位置")
            return parent
    return Path(out.anchor)


def _check_tilde(given: Path) -> None:
    """Refuse a path starting with a `~` the shell did not expand (`--out=~/reports`): it would make
    a folder literally named `~` here, which a later `rm -rf ~` would confuse with the home folder."""
    first = given.parts[0] if given.parts else ""
    if first.startswith("~") and os.path.expanduser(first) != first:
        raise OutputError(
            f"输出位置 {given} 以 {first} 开头，但它没有被展开为主目录（例如写成了 --out=~/…），"
            f"会在当前目录下建立一个名为「{first}」的文件夹。请写出完整路径，如 {os.path.expanduser(first)}/…"
        )


def _check_writable(folder: Path, given: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"没有写入 {folder} 的权限（--out {given}）。请换一个可以写入的位置，或修改该文件夹的权限")


def check_output(out: Path, *, kind: str, batch: Path | None) -> Path:
    """Resolve an output folder and refuse it unless the toolkit may write there; no side effects.

    Allowed: a folder that does not exist yet (its parent chain made of folders and writable), an
    empty folder, or a folder carrying this kind's marker (for `run`, holding nothing the run did
    not write, since re-running replaces it whole; likewise `synth`). Returns the resolved path."""
    given = Path(out)
    _check_tilde(given)
    if os.path.islink(given) and not os.path.exists(given):
        raise OutputError(f"输出位置 {given} 是一个指向不存在位置的符号链接。请用 --out 指定一个真实的文件夹")
    resolved = _resolve(given)
    _check_batch(resolved, given, batch)
    nearest = _check_chain(resolved, given)
    _check_writable(nearest, given)
    if not os.path.lexists(resolved):
        return resolved
    if not _is_real_dir(resolved):
        raise OutputError(f"输出位置 {given} 是一个已有的文件，不是文件夹；audit 不会覆盖它。请用 --out 指定一个新的或空的文件夹")
    marker = read_marker(resolved)
    if marker is None:
        if not _is_empty_dir(resolved):
            raise OutputError(
                f"输出位置 {given} 已有内容，但不是 audit 生成的输出文件夹（其中没有 {MARKER} 标记）；"
                "为免覆盖或删除其中的文件，audit 不会写入它。请用 --out 指定一个新的或空的文件夹"
            )
    elif marker["kind"] != kind and not _own_partial(marker):
        raise OutputError(
            f"输出位置 {given} 是 audit {marker['kind']} 生成的文件夹，不能存放 audit {kind} 的输出。请用 --out 指定另一个文件夹"
        )
    elif kind in REPLACED:
        foreign = _foreign_entries(resolved, marker)
        if foreign:
            shown = "、".join(foreign[:5]) + (f" 等 {len(foreign)} 项" if len(foreign) > 5 else "")
            raise OutputError(
                f"{given} 中有不是 audit {kind} 写入的内容（{shown}）；重新生成会替换其中 audit 写入的一切，"
                "为免误删，请先移走这些内容，或用 --out 指定另一个文件夹"
            )
    elif kind in IN_PLACE:
        leading = _leads_elsewhere(resolved)
        if leading:
            raise OutputError(
                f"{given} 中的 {leading} 是符号链接或另有硬链接的文件，写入它会改到输出文件夹以外的内容；"
                "请移走它，或用 --out 指定另一个文件夹"
            )
    _check_writable(resolved, given)
    return resolved


def _leads_elsewhere(folder: Path) -> str | None:
    """The first entry of a folder written in place that a write could follow out of it: a symlink,
    or a file with a second hard link (writing it in place would change the other name too)."""
    for root, dirs, files in os.walk(folder):
        for name in sorted([*dirs, *files]):
            path = os.path.join(root, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink > 1):
                return os.path.relpath(path, folder)
    return None


def make_parents(out: Path) -> list[Path]:
    """Create the folders above an already checked output path; returns those it created,
    deepest first."""
    missing = [p for p in out.parents if not os.path.lexists(p)]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"无法创建 {out.parent}：{_why(exc)}。请换一个 --out") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders this command created, deepest first, as long as they are still empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return


@contextmanager
def output_folder(out: Path, *, kind: str, batch: Path | None) -> Iterator[Path]:
    """Check an output folder, lock it, create it and mark it for a command that writes into it.

    If the command fails before writing anything there, the folder is left as it was (a folder this
    call made is removed again, a marker it added is taken away)."""
    resolved = check_output(out, kind=kind, batch=batch)
    own = _own_partial(read_marker(resolved)) if _is_real_dir(resolved) else False
    made_parents = make_parents(resolved)
    try:
        with RunLock(resolved, command=kind) if not own else _no_lock():
            resolved = check_output(out, kind=kind, batch=batch)  # again, now that no one else can write it
            made_folder = made_marker = False
            try:
                if not os.path.lexists(resolved):
                    os.mkdir(resolved)
                    made_folder = True
                if read_marker(resolved) is None:
                    write_marker(resolved, kind)
                    made_marker = True
            except OSError as exc:
                raise OutputError(f"无法写入输出文件夹 {out}：{_why(exc)}。请换一个可以写入的位置") from None
            try:
                yield resolved
            except BaseException:
                if made_marker and os.listdir(resolved) == [MARKER]:
                    (resolved / MARKER).unlink(missing_ok=True)
                    if made_folder:
                        _remove_empty([resolved])
                raise
    except BaseException:
        _remove_empty(made_parents)
        raise


@contextmanager
def _no_lock() -> Iterator[None]:
    yield


# --- `audit run`: a temporary folder moved into place ------------------------------------------------------


def partial_folder(out: Path) -> Path:
    """The run's temporary folder next to `out`, created empty and marked as this process's."""
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if os.path.lexists(tmp):
        marker = read_marker(tmp) if _is_real_dir(tmp) else None
        if marker is None or marker.get("state") != "partial":
            raise OutputError(f"{tmp} 已存在，但不是 audit 的临时文件夹；请先移走它再运行")
        shutil.rmtree(tmp)  # ours, left by an earlier process with the same id
    try:
        os.mkdir(tmp)
        write_marker(tmp, "run", fields={"state": "partial", "pid": os.getpid()})
    except OSError as exc:
        raise OutputError(f"无法在 {out.parent} 创建临时文件夹：{_why(exc)}。请换一个可以写入的位置") from None
    return tmp


def discard_partial(out: Path) -> None:
    """Remove this process's temporary folder for `out` (an interrupted or failed run), if it is there."""
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if not _is_real_dir(tmp):
        return
    if _own_partial(read_marker(tmp)):
        shutil.rmtree(tmp, ignore_errors=True)
    elif _is_empty_dir(tmp):  # interrupted between creating and marking it
        _remove_empty([tmp])


def replace_folder(new: Path, out: Path, *, kind: str = "run") -> None:
    """Move a complete output folder into place. The folder it replaces is re-checked right before
    the rename: it must carry this kind's marker (or be empty), else nothing is renamed or deleted."""
    write_marker(new, kind, fields={"state": "complete", "inventory": inventory(new)})
    try:
        if not os.path.lexists(out) or (_is_real_dir(out) and read_marker(out) is None and _is_empty_dir(out)):
            if portable.WINDOWS and os.path.lexists(out):
                os.rmdir(out)  # Windows' rename never replaces a folder, even an empty one; rmdir refuses a non-empty one
            os.rename(new, out)  # replaces only an empty folder; fails on anything else that appeared
            return
    except OSError as exc:
        raise OutputError(f"无法把新的输出移到 {out}：{_why(exc)}") from None
    check_output(out, kind=kind, batch=None)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if os.path.lexists(old):
        if read_marker(old) is None:
            raise OutputError(f"{old} 已存在，但不是 audit 留下的文件夹；请先移走它再运行")
        shutil.rmtree(old)
    os.rename(out, old)
    marker = read_marker(old)
    if marker is None or marker["kind"] != kind or _foreign_entries(old, marker):  # swapped since the check
        os.rename(old, out)
        raise OutputError(f"{out} 在运行期间被换成了不是 audit 生成的文件夹；它未被改动，本次输出未移入")
    try:
        os.rename(new, out)
    except OSError as exc:
        os.rename(old, out)
        raise OutputError(f"无法把新的输出移到 {out}：{_why(exc)}；原来的文件夹已放回原处") from None
    shutil.rmtree(old, ignore_errors=True)


def clean_stale(out: Path) -> None:
    """Remove what killed runs into `out` left behind, and only what they provably made: temporary
    folders of dead processes carrying the marker (or empty), previous reports moved aside (put back
    when the new one never arrived). Anything else with a matching name is left alone."""
    prefix_partial, prefix_old = f".{out.name}.partial-", f".{out.name}.old-"
    try:
        with os.scandir(out.parent) as entries:
            names = sorted(e.name for e in entries)
    except OSError:
        return
    for name in names:
        path = out.parent / name
        for prefix in (prefix_partial, prefix_old):
            pid = name[len(prefix) :] if name.startswith(prefix) else ""
            if not pid.isdigit() or portable.pid_alive(int(pid)) or not _is_real_dir(path):
                continue
            marker = read_marker(path)
            if marker is None:
                if _is_empty_dir(path):  # killed between creating the folder and marking it
                    os.rmdir(path)
                continue
            if prefix == prefix_old and not os.path.lexists(out) and marker.get("state") == "complete":
                os.rename(path, out)  # killed between moving the old report aside and the new one in
            else:
                shutil.rmtree(path, ignore_errors=True)


# --- the run lock ------------------------------------------------------------------------------------------

_HELD: set[Path] = set()


class RunLock:
    """One command at a time per output folder (`audit run`, `validate`, `ingest` alike).

    The lock is `.<name>.lock` next to the folder, held with `flock`: the kernel releases it when
    the holder dies (even by SIGKILL), so a killed run's lock is taken over without guessing from
    process ids. The file names the holder's process for the refusal message. A file of that name
    that is not an audit lock (or a symlink, or a folder) is never written or removed."""

    def __init__(self, out: Path, command: str = "run"):
        self.out = out
        self.path = out.parent / f".{out.name}.lock"
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        key = Path(os.path.abspath(self.path))
        if key in _HELD:
            raise OutputError(f"本进程已在写入 {self.out}")
        for _ in range(5):
            try:
                fd = portable.open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"无法锁定输出位置 {self.out}（锁文件 {self.path}）：{_why(exc)}") from None
            if not portable.try_lock(fd):
                os.close(fd)
                pid, command = _lock_holder(self.path)
                who = f"进程 {pid}" if pid is not None else "另一个进程"
                what = f"audit {command}" if command else "另一个审核任务"
                raise OutputError(f"另一个审核任务（{what}，{who}）正在写入 {self.out}，请等它结束后再运行") from None
            if not _same_file(fd, self.path):  # removed by its holder between our open and flock
                os.close(fd)
                continue
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:  # a pipe, or another file's second name
                os.close(fd)
                raise OutputError(
                    f"{self.path} 已存在，但不是 audit 的锁文件（它是命名管道、设备或另有硬链接的文件，"
                    "写入它会改动别的文件）；请检查后移走它再运行"
                )
            text = portable.read_at(fd, LOCK_LIMIT, 0)
            if text and _parse_lock(text) is None:
                os.close(fd)
                raise OutputError(f"{self.path} 已存在，但不是 audit 的锁文件；请检查后移走它再运行")
            content = json.dumps({"tool": TOOL, "pid": os.getpid(), "command": self.command, "out": str(self.out)})
            os.ftruncate(fd, 0)
            portable.write_at(fd, (content + "\n").encode("utf-8"), 0)
            self._fd = fd
            _HELD.add(key)
            return self
        raise OutputError(f"无法锁定输出位置 {self.out}，请稍后再试")

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        if portable.unlink_open_file_first():
            if _same_file(self._fd, self.path):
                self.path.unlink(missing_ok=True)
            os.close(self._fd)
        else:  # Windows: an open file cannot be removed; one another process has opened since stays
            ours = _same_file(self._fd, self.path)
            portable.unlock(self._fd)
            os.close(self._fd)
            if ours:
                try:
                    self.path.unlink(missing_ok=True)
                except OSError:
                    pass
        self._fd = None
        _HELD.discard(Path(os.path.abspath(self.path)))


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _parse_lock(data: bytes) -> tuple[int, str] | None:
    """(pid, command) of an audit lock file; earlier versions wrote the process id alone."""
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if text.isdigit():
        return int(text), ""
    try:
        content = json.loads(text)
    except ValueError:
        return None
    if isinstance(content, dict) and content.get("tool") == TOOL and isinstance(content.get("pid"), int):
        return content["pid"], str(content.get("command", ""))
    return None


def _lock_holder(path: Path) -> tuple[int | None, str]:
    """The process (and command) named by a lock file, for the refusal message."""
    try:
        fd = portable.open_nofollow(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            parsed = _parse_lock(handle.read(LOCK_LIMIT))
    except OSError:
        return None, ""
    return parsed if parsed is not None else (None, "")


# --- single files: `audit sample --out FILE` -------------------------------------------------------------


def check_new_file(out: Path, *, batch: Path | None) -> Path:
    """Refuse a file output that exists already (audit never overwrites a file) or would lie in
    the batch; returns the resolved path."""
    given = Path(out)
    _check_tilde(given)
    resolved = _resolve(given)
    _check_batch(resolved, given, batch)
    if os.path.lexists(given):
        raise OutputError(f"{given} 已存在；audit 不覆盖已有的文件。请换一个文件名，或先移走它")
    _check_writable(_check_chain(resolved, given), given)
    return resolved


@contextmanager
def new_file(out: Path) -> Iterator[Path]:
    """A temporary path next to `out` to write into; when the block ends without error it is
    linked into place as `out`, which must still not exist (nothing is followed or replaced)."""
    made_parents = make_parents(out)
    try:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    except OSError as exc:
        _remove_empty(made_parents)
        raise OutputError(f"无法写入 {out}：{_why(exc)}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _publish(tmp, out)
    except BaseException:
        _remove_empty(made_parents)
        raise
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".tmp").unlink(missing_ok=True)


def _publish(tmp: Path, out: Path) -> None:
    """Give a finished temporary file its final name without ever replacing an existing one."""
    exists = OutputError(f"{out} 已存在；audit 不覆盖已有的文件。请换一个文件名，或先移走它")
    try:
        os.link(tmp, out)
        return
    except FileExistsError:
        raise exists from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise OutputError(f"无法写入 {out}：{_why(exc)}") from None
    try:  # a file system without hard links: create the name exclusively and copy
        fd = portable.open_nofollow(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise exists from None
    except OSError as exc:
        raise OutputError(f"无法写入 {out}：{_why(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as target, tmp.open("rb") as source:
            shutil.copyfileobj(source, target)
    except BaseException:
        out.unlink(missing_ok=True)
        raise


# --- `audit synth --out DIR` -------------------------------------------------------------------------------


def check_synth_output(out: Path) -> Path:
    """A synthetic batch goes into a new or empty folder, or over an earlier synthetic batch (its
    marker says so); its `<name>.truth` folder likewise. Returns the resolved folder."""
    resolved = check_output(out, kind="synth", batch=None)
    truth = resolved.parent / f"{resolved.name}.truth"
    ours = read_marker(resolved) is not None
    if os.path.lexists(truth):
        if not _is_real_dir(truth):
            raise OutputError(f"{truth} 是一个已有的文件，不是文件夹；audit 不会覆盖它。请用 --out 指定另一个位置")
        if not ours and not _is_empty_dir(truth):
            raise OutputError(
                f"{truth} 已有内容，但 {out} 不是 audit synth 生成的批次；为免覆盖其中的文件，请用 --out 指定另一个位置"
            )
        leading = _leads_elsewhere(truth)
        if leading:
            raise OutputError(f"{truth} 中的 {leading} 是符号链接或另有硬链接的文件；请移走它，或用 --out 指定另一个位置")
        _check_writable(truth, Path(out))
    return resolved


@contextmanager
def synth_folder(out: Path, fields: dict[str, Any]) -> Iterator[Path]:
    """Lock, check again and prepare a synthetic batch folder (`begin_synth`); on success record
    what it holds (`finish_synth`)."""
    resolved = check_synth_output(out)
    make_parents(resolved)
    with RunLock(resolved, command="synth"):
        resolved = check_synth_output(out)
        begin_synth(resolved, fields)
        yield resolved
        finish_synth(resolved, fields)


def begin_synth(out: Path, fields: dict[str, Any]) -> None:
    """Mark a synthetic batch folder (created if needed) and remove the files an earlier synth
    wrote there (listed in its marker), so a smaller or different batch leaves no stale file."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        earlier = read_marker(out)
        listed = [str(p) for p in earlier.get("inventory", [])] if earlier else []
        write_marker(out, "synth", fields={**fields, "state": "writing", "inventory": listed}, created=False)
        for rel in sorted(listed, reverse=True):  # deepest first
            path = out / rel
            if not _plainly_inside(out, rel):
                continue
            if _is_real_dir(path):
                _remove_empty([path])
            elif os.path.lexists(path):
                path.unlink()
    except OSError as exc:
        raise OutputError(f"无法写入 {out}：{_why(exc)}") from None


def _plainly_inside(folder: Path, rel: str) -> bool:
    """A relative name that stays inside `folder` without `..` or following a symlink on the way."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        return False
    return os.path.realpath(folder.joinpath(*parts[:-1])) == os.path.join(os.path.realpath(folder), *parts[:-1])


def finish_synth(out: Path, fields: dict[str, Any]) -> None:
    """Record what the synthetic batch holds; deterministic (no time), so regenerating the bundled
    sample gives the same marker."""
    write_marker(out, "synth", fields={**fields, "state": "complete", "inventory": inventory(out)}, created=False)


# --- the internal-error log --------------------------------------------------------------------------------


def error_log_dir() -> Path:
    """Per-user log folder: `$XDG_STATE_HOME/audit/logs`, by default `~/.local/state/audit/logs`."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "audit" / "logs"


def write_error_log(text: str) -> Path | None:
    """Write an internal error's details to a new private file and return its path (None if no
    file could be written). Never follows or overwrites anything: the folder is the user's own
    (mode 0700, not a symlink), the file new (O_EXCL|O_NOFOLLOW, mode 0600); when that is not
    possible, a new file from `mkstemp` in the system temporary folder. Never raises."""
    try:
        from audit.privacy import mask_personal

        text = mask_personal(text)
    except Exception:  # the log must be written even when the library is what broke
        pass
    data = text.encode("utf-8", "replace")
    try:
        return _write_private(error_log_dir(), data)
    except Exception:
        pass
    try:
        fd, name = tempfile.mkstemp(prefix="audit-error-", suffix=".log")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return Path(name)
    except Exception:
        return None


def _private_dir(folder: Path) -> int | None:
    """Open (creating with mode 0700) a folder only this user can use; refuses symlinks and
    folders owned by someone else. Returns its descriptor, or None where folders cannot be opened
    (Windows; `audit.portable`): the folder is then used by its checked path."""
    missing = [p for p in (folder, *folder.parents) if not os.path.lexists(p)]
    for path in reversed(missing):
        os.mkdir(path, 0o700)
    fd = portable.open_folder(folder)
    info = os.fstat(fd) if fd is not None else os.lstat(folder)
    if fd is None and not stat.S_ISDIR(info.st_mode):  # a symlink or a file (open_folder refuses them itself)
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
    if not portable.owned_by_me(info):
        if fd is not None:
            os.close(fd)
        raise PermissionError(errno.EPERM, "not owned by this user", str(folder))
    if info.st_mode & 0o077:
        portable.make_private(folder, fd, 0o700)
    return fd


def _write_private(folder: Path, data: bytes) -> Path:
    dir_fd = _private_dir(folder)
    try:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        for _ in range(20):
            name = f"audit-error-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.log"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            try:
                if dir_fd is not None:
                    fd = portable.open_nofollow(name, flags, 0o600, dir_fd=dir_fd)
                else:
                    fd = portable.open_nofollow(folder / name, flags, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return folder / name
        raise FileExistsError(errno.EEXIST, "no free log file name", str(folder))
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def _why(exc: BaseException) -> str:
    """An OS error in Chinese where it is a common one."""
    if isinstance(exc, OSError):
        known = {
            errno.EACCES: "没有权限",
            errno.EPERM: "不允许的操作",
            errno.EROFS: "文件系统只读",
            errno.ENOSPC: "磁盘空间不足",
            errno.ENOTDIR: "路径中有一项不是文件夹",
            errno.EEXIST: "已存在",
            errno.ENOTEMPTY: "文件夹不是空的",
            errno.ELOOP: "符号链接循环或是符号链接",
            errno.EISDIR: "是一个文件夹",
            errno.ENAMETOOLONG: "路径太长",
        }
        return known.get(exc.errno or 0, exc.strerror or str(exc))
    return str(exc) or type(exc).__name__
