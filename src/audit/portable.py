"""Operating-system calls that differ between Linux/macOS and Windows, each with a fallback.

The library calls these instead of POSIX-only functions (`fcntl`, `os.pread`, `O_NOFOLLOW`,
`os.geteuid`, `prctl(PR_SET_PDEATHSIG)`, `os.kill(pid, 0)`, …), so it runs on Windows (conda,
`environment.yml`) with the same guarantees where the system offers them and a safe substitute
where it does not. The fallbacks are also taken on POSIX when the environment variable
`AUDIT_FORCE_PORTABLE=1` is set (or `FORCE = True`), so the tests exercise them on Linux.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

FORCE_ENV = "AUDIT_FORCE_PORTABLE"
FORCE = False  # set by tests in-process; the environment variable reaches subprocesses
WINDOWS = os.name == "nt"
LOCK_OFFSET = 1 << 30  # the byte a range lock holds: far past the lock file's text, so readers are never blocked
PARENT_POLL = 0.5  # seconds between two looks at the parent process (the parent-death fallback)


def forced() -> bool:
    """True when the portable fallbacks must be used even where the POSIX calls exist."""
    return FORCE or os.environ.get(FORCE_ENV, "") not in ("", "0")


def _native(name: str, module: Any = os) -> Any:
    """A POSIX-only attribute (`os.pread`, `os.O_NOFOLLOW`, …) or None: missing, or fallbacks forced."""
    return None if forced() else getattr(module, name, None)


# --- opening files ---------------------------------------------------------------------------------------


def open_flags(flags: int) -> int:
    """`flags` plus what keeps a descriptor private to this process (`O_CLOEXEC`, or Windows'
    `O_NOINHERIT`) and binary (`O_BINARY`, Windows only)."""
    for name in ("O_CLOEXEC", "O_NOINHERIT", "O_BINARY"):
        value = getattr(os, name, None) if name != "O_CLOEXEC" else _native(name)
        if value is not None:
            flags |= value
    return flags


def open_nofollow(path: str | os.PathLike[str], flags: int, mode: int = 0o644, *, dir_fd: int | None = None) -> int:
    """`os.open` that never follows a symlink at the last component of `path` (`O_NOFOLLOW`).

    Without `O_NOFOLLOW` (Windows): the name is looked at first and refused when it is a link
    (ELOOP, as `O_NOFOLLOW` would), then opened, and the descriptor checked to be the file looked
    at, so a link swapped in between is refused too. `dir_fd` (relative to an `open_folder`
    descriptor) only where `open_folder` gave one, which it does only with `O_NOFOLLOW`."""
    nofollow = _native("O_NOFOLLOW")
    if nofollow is not None:
        return os.open(path, open_flags(flags) | nofollow, mode, dir_fd=dir_fd)
    if dir_fd is not None:
        raise ValueError("dir_fd needs O_NOFOLLOW (see open_folder)")
    before: os.stat_result | None = None
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
    if before is not None and stat.S_ISLNK(before.st_mode):
        raise OSError(errno.ELOOP, "is a symbolic link", os.fspath(path))
    fd = os.open(path, open_flags(flags), mode)
    try:
        after = os.lstat(path)
        opened = os.fstat(fd)
        same = (opened.st_dev, opened.st_ino) == (after.st_dev, after.st_ino)
        if (
            stat.S_ISLNK(after.st_mode)
            or not same
            or (before is not None and (before.st_dev, before.st_ino) != (after.st_dev, after.st_ino))
        ):
            raise OSError(errno.ELOOP, "replaced by a symbolic link while opening", os.fspath(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_at(fd: int, size: int, offset: int) -> bytes:
    """Up to `size` bytes at `offset` (`os.pread`; elsewhere a seek and a read)."""
    pread = _native("pread")
    if pread is not None:
        return pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def write_at(fd: int, data: bytes, offset: int) -> None:
    """Write all of `data` at `offset` (`os.pwrite`; elsewhere a seek and writes)."""
    pwrite = _native("pwrite")
    view = memoryview(data)
    if pwrite is None:
        os.lseek(fd, offset, os.SEEK_SET)
    while view:
        written = pwrite(fd, view, offset) if pwrite is not None else os.write(fd, view)
        view, offset = view[written:], offset + written


# --- locks -------------------------------------------------------------------------------------------------


def try_lock(fd: int) -> bool:
    """Take an exclusive lock on an open file without waiting; False when another process holds it.

    The system releases it when the holder dies, even when killed. POSIX: `flock` on the whole
    file. Windows: `msvcrt.locking` on one byte at `LOCK_OFFSET` (a range lock: the file's text
    stays readable); the fallback on POSIX locks the same byte with `fcntl.lockf`."""
    if WINDOWS:
        import msvcrt

        os.lseek(fd, LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    import fcntl

    try:
        if forced():
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, LOCK_OFFSET)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def unlock(fd: int) -> None:
    """Release `try_lock`'s lock (closing the file releases it too)."""
    if WINDOWS:
        import msvcrt

        os.lseek(fd, LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            pass
        return
    import fcntl

    if forced():
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, LOCK_OFFSET)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)


def unlink_open_file_first() -> bool:
    """Whether a file can be removed while open (POSIX), so a lock file is removed before it is
    closed; Windows refuses that, so there it is closed first and then removed (which fails,
    harmlessly, when another process has opened it since)."""
    return not WINDOWS


# --- processes ---------------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs. POSIX: `os.kill(pid, 0)`. Windows: `OpenProcess` and its
    exit code (`os.kill` there would terminate the process). Where neither can be asked, the
    process counts as alive, so nothing it may still own is removed."""
    if pid <= 0:
        return False
    if WINDOWS:
        return _windows_pid_alive(pid)
    if forced():
        return _proc_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _proc_alive(pid: int) -> bool:
    """The fallback on POSIX: the process table as `/proc` shows it (unknown without `/proc`)."""
    if not os.path.isdir("/proc/self"):
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[-1].split()[:1]
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return state != [b"Z"]  # a zombie has exited


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # type: ignore[attr-defined] # ERROR_ACCESS_DENIED: it exists, it is someone else's
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def die_with_parent() -> None:
    """End this process when its parent ends, even when the parent is killed outright.

    Linux: the kernel's `PR_SET_PDEATHSIG` (SIGKILL). Elsewhere, or forced: a daemon thread that
    looks at the parent every `PARENT_POLL` seconds and exits when it is gone (re-parented, or no
    longer running)."""
    import multiprocessing

    spawner = multiprocessing.parent_process()  # a pool worker knows its parent even if already re-parented
    parent = spawner.pid if spawner is not None and spawner.pid else os.getppid()
    if sys.platform.startswith("linux") and not forced():
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # not glibc: the watchdog below instead
            pass
        else:
            if os.getppid() != parent:  # the parent died before the call above
                os._exit(1)
            return
    _watch_parent(parent)


def _watch_parent(parent: int) -> threading.Thread:
    """Start the parent-death fallback: a daemon thread that ends the process with its parent."""

    def watch() -> None:
        while True:
            if os.getppid() != parent or not pid_alive(parent):
                os._exit(1)
            time.sleep(PARENT_POLL)

    thread = threading.Thread(target=watch, name="audit-parent-watch", daemon=True)
    thread.start()
    return thread


def on_terminate(handler: Callable[[int, Any], None]) -> None:
    """Call `handler` when the process is asked to stop: SIGTERM, and on Windows also Ctrl-Break
    (SIGBREAK); Ctrl-C is Python's KeyboardInterrupt everywhere."""
    for name in ("SIGTERM", "SIGBREAK"):
        number = getattr(signal, name, None)
        if number is None:
            continue
        try:
            signal.signal(number, handler)
        except (ValueError, OSError):  # not the main thread, or not supported here
            pass


# --- owners and permissions ----------------------------------------------------------------------------------


def owned_by_me(info: os.stat_result) -> bool:
    """Whether a file (by its `stat`) belongs to this user: compared with `os.geteuid()` on POSIX;
    Windows has no user ids in `stat` (a folder under the user's profile is the user's)."""
    geteuid = _native("geteuid")
    if geteuid is None:
        return True
    return bool(info.st_uid == geteuid())


def make_private(path: str | os.PathLike[str], fd: int | None, mode: int) -> None:
    """Give a file or folder `mode` (0600, 0700): on its descriptor where the system allows it
    (`os.fchmod`), else by name; Windows keeps only the read-only bit (the user's profile folder
    is already private to the user), so nothing is changed there."""
    if WINDOWS:
        return
    fchmod = _native("fchmod")
    if fchmod is not None and fd is not None:
        fchmod(fd, mode)
    else:  # the caller has checked that `path` is no symlink
        os.chmod(path, mode)


def open_folder(path: str | os.PathLike[str]) -> int | None:
    """A descriptor on a folder (not followed if a symlink) for `*at` calls, or None where folders
    cannot be opened (Windows) or fallbacks are forced: callers then use full paths."""
    directory, nofollow = _native("O_DIRECTORY"), _native("O_NOFOLLOW")
    if directory is None or nofollow is None or os.open not in os.supports_dir_fd:
        return None
    return os.open(path, os.O_RDONLY | directory | nofollow | open_flags(0))
