"""Helper processes: one function of the toolkit run in a new Python beside this process.

Used where a second core would otherwise idle: reading a share of a batch (`audit.ingest`) and
running the record-quality suites while the facts and the standard's checks are computed
(`audit.quality.QualityJob`). Not multiprocessing: a fork of a process whose polars threads run
can deadlock, and spawn re-runs the caller's main module (a reviewer's script without a main guard
failed with BrokenProcessPool).

A helper is ``sys.executable -P -c CODE``: told this process's ``sys.path`` first, it imports the
modules it is to preload (while this process goes on), reads all its arguments (pickled) from its
standard input, then imports and calls its function and answers with the pickled result on its
standard output. It imports nothing of the working folder (``-P``) nor of the caller's script, and
ends with its caller, also when the caller is killed outright (`portable.die_with_parent`). A
helper that cannot be started, told or answer gives None: the caller then does the work itself.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import subprocess
import sys
from typing import Any

# Told sys.path first (a small pickle); `serve` does the rest.
CODE = "import pickle, sys; sys.path[:0] = pickle.load(sys.stdin.buffer); from audit.helpers import serve; serve()"


class Helper:
    """One helper process running ``function`` (``"module:name"``) once."""

    def __init__(self, process: subprocess.Popen[bytes]):
        self.process = process

    @classmethod
    def start(cls, function: str, preload: tuple[str, ...] = ()) -> Helper | None:
        """A helper started, or None when it could not be. It imports each module of ``preload`` at
        once (``"module:function"``: then calls that function of it)."""
        try:
            process = subprocess.Popen(
                [sys.executable, "-P", "-c", CODE, str(os.getpid()), function, *preload],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, ValueError):
            return None
        helper = cls(process)
        try:
            assert process.stdin is not None
            pickle.dump([p for p in sys.path if p], process.stdin)
            process.stdin.flush()
        except (OSError, ValueError):
            helper.stop()
            return None
        return helper

    def tell(self, *arguments: Any) -> bool:
        """Give the helper its function's arguments; False (and the helper stopped) when it cannot
        be told. Writing waits until the helper reads, which it does once its preload is imported:
        a preloading helper is best told little (a path) and the rest through a file."""
        try:
            assert self.process.stdin is not None
            pickle.dump(arguments, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.close()
        except (OSError, pickle.PicklingError, ValueError):
            self.stop()
            return False
        return True

    def result(self) -> Any | None:
        """The function's result, or None when the helper failed (the caller checks its type)."""
        try:
            assert self.process.stdout is not None
            answer = pickle.load(self.process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, TypeError, ValueError):
            return None
        return answer if self.process.wait() == 0 else None

    def stop(self) -> None:
        """Stop the helper (if still running) and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def serve() -> None:
    """A helper's side (`CODE`): ``argv`` holds the caller's pid, the function and what to preload."""
    from audit.portable import die_with_parent

    caller, function, *preload = sys.argv[1:]
    die_with_parent()
    if os.getppid() != int(caller):  # the caller was gone before the call above
        os._exit(1)
    for name in preload:  # a module, or "module:function" called once imported
        module, _, call = name.partition(":")
        imported = importlib.import_module(module)
        if call:
            getattr(imported, call)()
    told = io.BytesIO(sys.stdin.buffer.read())  # all of it, so the caller's write never waits on an import
    module, name = function.split(":")
    run = getattr(importlib.import_module(module), name)
    answer = run(*pickle.load(told))
    pickle.dump(answer, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
