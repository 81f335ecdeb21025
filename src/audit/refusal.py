"""A file (or sheet) refused while it is read: the reason and the context its message needs.

Shared by every reader (``audit.readers`` and the format scanners it calls), so a limit passed in
any format turns into the same ``FileProblem`` with the same Chinese message.
"""

from __future__ import annotations

from audit.reasons import Reason


class Refused(Exception):
    """A file (or sheet) over a limit, encrypted or not a table; carries the reason and its context."""

    def __init__(self, reason: Reason, **context: object):
        super().__init__(reason.name)
        self.reason, self.context = reason, context


def over(reason: Reason, found: int | str, limit: int, **context: object) -> Refused:
    """A limit passed: the value found and the limit, formatted as the messages show them."""
    shown = f"{found:,}" if isinstance(found, int) else found
    return Refused(reason, found=shown, limit=f"{limit:,}", **context)


def where(row: int | None) -> str:
    """The row a message names (1-based, as Excel/WPS shows it), or a vague 'one row'."""
    return f"第 {row:,} 行" if row else "有一行"
