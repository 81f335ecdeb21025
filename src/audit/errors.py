"""The mistakes a user can correct, and the exit codes of the `audit` command (README, "Exit codes").

Every such error derives from `AuditError`: its text (``str(exc)``) is the Chinese message naming
the file, folder, option, row or column and what to do, and its class says the exit code.
`audit.cli.main` catches them in one place and prints the message; anything else is a bug (exit 70,
details in a private log file, never a traceback on screen).
"""

from __future__ import annotations

EXIT_OK = 0  # ran: findings are results, not failures
EXIT_FINDINGS = 1  # findings at or above --fail-on; verify-manifest: the report no longer matches its data
EXIT_UNUSABLE = 2  # bad usage or unusable input
EXIT_BRANCH_FAILED = 3  # audit run: some branch pages failed, the others are complete
EXIT_INTERNAL = 70  # a bug
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM


class AuditError(Exception):
    """A mistake the user can correct; ``str(exc)`` is its Chinese message, `exit_code` what
    `audit` exits with, and `hint` (when not empty) what to do next, printed on its own line."""

    exit_code: int = EXIT_UNUSABLE
    hint: str = ""


class UsageError(AuditError):
    """A command was given something it cannot use: an option's value, or a folder that is not what
    the command reads."""
