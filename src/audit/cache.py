"""The ingestion cache: each input file's part of `audit.ingest.ingest`, kept between runs.

Reading, recognising and parsing a file is most of ingestion; the batch-wide stages after it
(identities, duplicate keys and references, attendance and offices) are not. So each file's result
(`audit.ingest.FileOutcome`) is kept under a key made of everything it depends on: the SHA-256 of
the file's bytes, the name the outputs give it, the effective contract, the mapping file, the
limits and the code (`code_version`). A re-run after one branch re-exports re-reads that file only.

Where: ``$AUDIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/audit/ingest``, else ``~/.cache/audit/ingest``;
never inside the batch (raw data stays immutable), nor inside an output folder (`--out`, or any folder
carrying an audit output marker: what a run writes, replaces and sends on). Folders 0700, entries 0600.

Safety: an entry is written to a temporary name in the cache folder (``.<key>.<pid>.<random>.tmp``)
and moved into place with ``os.replace``, so a reader sees a whole entry or none, and two runs
writing one entry at once both succeed. An entry carries the SHA-256 of its key and payload; one
that does not match (truncated, corrupt, moved under another key) or does not load (from another
version) is a miss, read again and rewritten. Temporary files left by killed runs are removed only when their process is gone.

Privacy: an entry never holds a whole ID number: `audit.ingest` seals the private ID column
(`audit.identity.seal_id_number`) before a file's result is stored.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import pickle
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from audit import portable
from audit.errors import AuditError

CACHE_ENV = "AUDIT_CACHE_DIR"
FORMAT = b"audit-ingest-cache 1\n"  # the first bytes of every entry; a new layout changes it
ENTRY_SUFFIX = ".entry"
MAX_AGE_DAYS = 60  # an entry no run has used for this long is removed
_KEY = re.compile(r"[0-9a-f]{64}")
_TEMP = re.compile(r"\.(?P<key>[0-9a-f]{64})\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\.tmp")
# the libraries that read and hold the data, and those that judge record quality (`quality_key`: GX on pandas)
_DEPENDENCIES = ("polars", "python-calamine", "openpyxl", "xlrd", "pyxlsb", "odfpy", "pyyaml", "great_expectations", "pandas")


class CacheLocationError(AuditError):
    """The cache folder is inside the batch being read (exit 2, a Chinese message)."""


def cache_dir() -> Path:
    """``$AUDIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/audit/ingest`` (an absolute XDG path only),
    else ``~/.cache/audit/ingest``."""
    override = os.environ.get(CACHE_ENV, "")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "audit" / "ingest"
    return Path.home() / ".cache" / "audit" / "ingest"


@functools.cache
def code_version() -> str:
    """The code an entry was made by (`source_digest` of this package, the Python version and the
    versions of the libraries that read and hold the data and judge it), computed once per process: any change
    of code gives new keys, so a result the new code would not give is never served."""
    digest = hashlib.sha256(source_digest(Path(__file__).resolve().parent).encode() + b"\0")
    digest.update(sys.version.encode() + b"\0")
    for name in _DEPENDENCIES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}={version}\0".encode())
    return digest.hexdigest()


def source_digest(package: Path) -> str:
    """SHA-256 of a package's source files (`.py`) and data files (`.yaml`: contract.yaml), by path."""
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file()):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def make_key(*parts: str) -> str:
    """The key of an entry: SHA-256 over the parts (each length-prefixed, so no two lists collide)."""
    digest = hashlib.sha256(FORMAT)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def tables_digest(tables: dict[str, pl.DataFrame]) -> str:
    """A digest of canonical tables' contents: names, schemas, heights and every row's hashes (polars'
    `hash_rows` with two fixed seeds; its algorithm belongs to the polars version, which `code_version`
    names). What a result computed from the tables alone is kept under (`quality_key`)."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        digest.update(f"{name}\0{frame.schema!r}\0{frame.height}\0".encode())
        if frame.height and frame.width:
            for seed in (0, 1):  # two 64-bit hashes of each row
                digest.update(frame.hash_rows(seed=seed).to_numpy().tobytes())
    return digest.hexdigest()


def quality_key(tables: dict[str, pl.DataFrame], parameters: dict[str, Any], suites: list[Path]) -> str:
    """The key of one record-quality result: the tables (`tables_digest`), the suites' parameters
    (window, today, the key sets) and the suite files' bytes, and the code."""
    files = "\0".join(f"{path.name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}" for path in sorted(suites))
    return make_key("record-quality", code_version(), tables_digest(tables), repr(sorted(parameters.items())), files)


@dataclass
class CacheUse:
    """What one ingestion took from the cache (`hits`), read again (`misses`: files read) and wrote,
    and why the folder could not be used (`unused`, Chinese, said on the terminal; "": it could)."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    unused: str = ""


class IngestCache:
    """The cache folder as one ingestion uses it: `load` and `store` entries by key, counting each."""

    def __init__(self, batch: Path | None, folder: Path | None = None):
        self.folder = (folder or cache_dir()).absolute()
        self.use = CacheUse()
        _refuse_inside(self.folder, batch)  # batch None: a result made from tables already read (`audit.validate`)
        self._cleaned = False
        self._private: bool | None = None

    def private(self) -> bool:
        """Whether the folder is ours alone (POSIX: owned by this user, not writable by others): an
        entry is loaded with pickle, so one that someone else could have put there is never read."""
        if self._private is None:
            try:
                info = os.stat(self.folder)
            except FileNotFoundError:
                return True  # made by `_prepare`, 0700
            except OSError:
                self._private = False
                self.use.unused = f"导入缓存文件夹 {self.folder} 无法访问，未使用；请把环境变量 {CACHE_ENV} 指向本人的文件夹"
                return False
            getuid = getattr(os, "getuid", None)
            self._private = getuid is None or (info.st_uid == getuid() and not info.st_mode & 0o022)
            if not self._private:
                self.use.unused = (
                    f"导入缓存文件夹 {self.folder} 不是只有本人可写（其他用户可以放入文件），未使用；"
                    f"请用 chmod 700 {self.folder} 使它只有本人可写，或把环境变量 {CACHE_ENV} 指向其他文件夹"
                )
        return self._private

    def load(self, key: str) -> Any | None:
        """The entry stored under `key`, or None: absent, incomplete, corrupt or unreadable (a miss)."""
        path = self.folder / f"{key}{ENTRY_SUFFIX}"
        if not self.private():
            return None
        try:
            fd = portable.open_nofollow(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        head = len(FORMAT) + 32
        if len(data) < head or not data.startswith(FORMAT) or _digest(key, data[head:]) != data[len(FORMAT) : head]:
            return None
        try:
            value = pickle.loads(data[head:])
        except Exception:  # written by an older layout of the same code version: a miss
            return None
        self.touch(key)  # used: kept by `_clean`
        return value

    def touch(self, key: str) -> None:
        """Mark the entry under `key` used, so `_clean` keeps it (nothing when it is not there):
        the file entries behind a whole batch's entry are kept while that entry is served."""
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r}")
        try:
            os.utime(self.folder / f"{key}{ENTRY_SUFFIX}", follow_symlinks=False)
        except OSError:
            pass

    def store(self, key: str, value: Any) -> None:
        """Keep `value` under `key`: written whole to a temporary name, then moved into place. A
        cache that cannot be written (a full disk, no permission) is skipped: ingestion goes on."""
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r}")
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            self._prepare()
            if not self.private():
                return
            temporary = self.folder / f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            fd = portable.open_nofollow(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as handle:
                    _write_entry(handle, FORMAT + _digest(key, payload), payload)
                os.replace(temporary, self.folder / f"{key}{ENTRY_SUFFIX}")
            finally:
                if os.path.lexists(temporary):
                    os.unlink(temporary)
        except OSError:
            self.use.unused = self.use.unused or (
                f"导入缓存文件夹 {self.folder} 无法写入（不是文件夹、没有写入权限或磁盘已满），本次读取的结果未保存"
            )
            return
        except pickle.PicklingError:
            return
        self.use.writes += 1

    def _prepare(self) -> None:
        """Make the folder (0700) and, once per ingestion, remove what killed runs left and old entries."""
        if self._cleaned:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._cleaned = True
        _clean(self.folder)


def _digest(key: str, payload: bytes) -> bytes:
    """An entry's check: SHA-256 of its key and payload, so a whole entry under another key is a miss."""
    return hashlib.sha256(key.encode("ascii") + b"\0" + payload).digest()


def _write_entry(handle: Any, head: bytes, payload: bytes) -> None:
    """Write an entry's head and payload and flush them to disk (the step a killed run interrupts)."""
    handle.write(head)
    handle.write(payload)
    handle.flush()
    os.fsync(handle.fileno())


def _clean(folder: Path) -> None:
    """Remove temporary files whose process is gone (ours by name: `.<key>.<pid>.<random>.tmp`) and
    entries unused for `MAX_AGE_DAYS`. Anything else in the folder is left alone."""
    oldest = time.time() - MAX_AGE_DAYS * 86400
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = folder / name
        try:
            if (found := _TEMP.fullmatch(name)) is not None:
                pid = int(found["pid"])
                if pid != os.getpid() and not portable.pid_alive(pid):
                    os.unlink(path)
            elif name.endswith(ENTRY_SUFFIX) and _KEY.fullmatch(name[: -len(ENTRY_SUFFIX)]):
                if os.lstat(path).st_mtime < oldest:
                    os.unlink(path)
        except OSError:
            continue


def refuse_inside_output(out: Path) -> None:
    """A cache folder that is `out` or inside it (`--out`, checked before anything is read): the run
    would make `out` and then refuse it as not its own, or replace it with the cache in it: refused."""
    folder = cache_dir().absolute()
    where, report = folder.resolve(), Path(out).absolute().resolve()
    if where == report or report in where.parents:
        raise CacheLocationError(
            f"导入缓存文件夹 {folder} 在输出文件夹 {out} 之中；输出文件夹只放 audit 生成的结果。"
            f"请把环境变量 {CACHE_ENV} 指向其他文件夹，或加 --no-cache 不使用缓存"
        )


def _refuse_inside(folder: Path, batch: Path | None) -> None:
    """A cache folder inside the batch (or the batch itself) would change the raw data, and one inside
    an audit output folder (its marker, `audit.outputs.MARKER`) would be replaced or sent on: refused."""
    from audit.outputs import MARKER

    where = folder.resolve()
    if batch is not None:
        inside = batch.resolve()
        if where == inside or inside in where.parents:
            raise CacheLocationError(
                f"导入缓存文件夹 {folder} 在数据批次文件夹 {batch} 之中；数据批次不能写入。"
                f"请把环境变量 {CACHE_ENV} 指向批次之外的文件夹，或加 --no-cache 不使用缓存"
            )
    for report in (where, *where.parents):
        if (report / MARKER).is_file():
            raise CacheLocationError(
                f"导入缓存文件夹 {folder} 在报告或输出文件夹 {report} 之中；输出文件夹只放 audit 生成的结果。"
                f"请把环境变量 {CACHE_ENV} 指向其他文件夹，或加 --no-cache 不使用缓存"
            )
