"""What a user names — a quarter, a branch, a folder — checked against a batch's data in one place,
so the `audit` command and the notebook API (`audit.dataset`) accept the same spellings and refuse
the same mistakes with the same Chinese message (an `AuditError`, exit code 2 in the command).

A quarter is written `2019Q1` (any case, `Quarter.parse`) and must overlap the batch's data window.
A branch is its code in any case and width (`xh02`, `ＸＨ02`), or its name read the way ingestion
reads names (`audit.identity.branch_name`: `中共` prefix, 支部 ending, spaces and the parent
organisation's name optional), or a part of the name that only one branch has (`联兴`). A name two
branches share is refused listing both, never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from audit.errors import UsageError
from audit.facts.context import QuarterOutOfRangeError
from audit.identity import branch_name, same_branch
from audit.periods import Quarter
from audit.privacy import KEY_TAG, holds_personal, masked_key
from audit.values import fold

OPTIONS_SHOWN = 20  # branches an "unknown branch" message lists before "等 N 个"
MIN_PART = 2  # characters a partial branch name needs before it is matched at all


class BranchChoiceError(UsageError, ValueError):
    """A branch the user named is not in the data, is ambiguous, or is outside what was loaded."""


def parse_quarter(quarter: Quarter | str) -> Quarter:
    """The quarter as given (`2019Q1`, `2019q1`); a malformed one is a `UsageError`."""
    if isinstance(quarter, Quarter):
        return quarter
    try:
        return Quarter.parse(str(quarter))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_quarter(quarter: Quarter, window: tuple[dt.date, dt.date] | None) -> None:
    """Refuse a quarter that does not overlap the batch's data window (first to last month with
    dues, points or meetings: `audit.facts.data_window`)."""
    if window is None:
        raise QuarterOutOfRangeError("数据中没有任何党费、积分或会议记录，无法审核")
    if quarter.end < window[0] or quarter.start > window[1]:
        raise QuarterOutOfRangeError(f"{quarter} 不在数据范围内（数据覆盖 {window[0]:%Y-%m} 至 {window[1]:%Y-%m}）")


def _label(row: dict[str, object]) -> str:
    """A branch as a message lists it: code and name."""
    name = row.get("branch_name")
    return f"{row['branch_id']} {name}" if name else str(row["branch_id"])


def _options(rows: list[dict[str, object]]) -> str:
    """The branches a user may choose from, at most `OPTIONS_SHOWN` of them."""
    shown = "、".join(_label(r) for r in rows[:OPTIONS_SHOWN])
    return shown + (f" 等 {len(rows)} 个" if len(rows) > OPTIONS_SHOWN else "")


def resolve_branch(branches: pl.DataFrame, text: str) -> str:
    """The code of the branch `text` names in the branch list `branches` (columns `branch_id`,
    `branch_name`, and `parent_org` when known): its code exactly, its code ignoring case and
    width, its name, or a part of its name no other branch has."""
    if (branches["branch_id"] == text).any():  # the code as it is: the common case, without reading names
        return text
    rows = branches.sort("branch_id").to_dicts()
    wanted = fold(str(text)).casefold()
    by_code = [r for r in rows if fold(str(r["branch_id"])).casefold() == wanted]
    if not by_code and holds_personal(text):  # the reviewer's own code of a key kept masked and tagged
        masked = masked_key(text)
        by_code = [r for r in rows if str(r["branch_id"]).partition(KEY_TAG)[0] == masked and KEY_TAG in str(r["branch_id"])]
    if not by_code and wanted:
        asked = branch_name(str(text))
        named = [(r, branch_name(str(r.get("branch_name") or ""), r.get("parent_org"))) for r in rows if r.get("branch_name")]
        by_code = [r for r, name in named if same_branch(asked, name)]
        if not by_code and len(asked.core) >= MIN_PART:
            by_code = [r for r, name in named if asked.core in name.core]
    if len(by_code) == 1:
        return str(by_code[0]["branch_id"])
    if by_code:
        raise BranchChoiceError(f"「{text}」对应多个支部：{_options(by_code)}；请用支部编号指定")
    raise BranchChoiceError(f"数据中没有支部「{text}」（{'可选：' + _options(rows) if rows else '支部信息为空'}）")


def choose_branches(branches: pl.DataFrame, asked: Iterable[str] | None) -> list[str]:
    """The codes of the branches asked for, in code order (every branch when none is asked for);
    the first one not in the data stops with a `BranchChoiceError`."""
    known = branches["branch_id"].sort().to_list()
    if not asked:
        return known
    chosen = {resolve_branch(branches, text) for text in asked}
    return [b for b in known if b in chosen]


def existing_folder(path: Path | str, what: str) -> Path:
    """`path` when it is not a file: a file given where a folder is expected is refused naming it
    (a missing folder is left to the command, which says what it looked for)."""
    path = Path(path)
    if path.is_file():
        raise UsageError(f"{path} 是文件，不是文件夹：{what}应是一个文件夹（请给出文件所在的文件夹）")
    return path
