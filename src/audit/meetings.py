"""Meetings without ids, and attendance in the shapes real exports give it (docs/identity.md).

Keys — run inside ``audit.identity.resolve_identities``, once branches are resolved and before
members are linked, so the duplicate check and the references see them as if written:

- A meeting row without 活动编号 gets ``<branch>-<yyyymmdd>-<type code>-<6 hex>``: its branch key,
  its date, the code of its type (contract.yaml ``codes``: 党课 `DK`, 主题党日 `ZTDR`, …) and the
  first six hex digits of the SHA-256 of its normalised topic (or, without one, its 会议名称), date
  and — for a 党小组会 — its 党小组. The same meeting recorded in two files gets the same key, so
  the second record is a duplicate, as with written ids; a row whose parts equal those of exactly
  one meeting that has a written id takes that id instead.
- An attendance row without 活动编号 names its meeting by its date and whichever of type, topic,
  会议名称 and branch it gives; it is linked when they fit exactly one meeting, and quarantined
  (not found, or which of several) otherwise.

Attendance — run by ``audit.ingest`` after the cross-table checks, on the tables that passed them:
each meeting gets ``attendance_source`` (`list`, `absentees`, `counts`, `none`) and
``absentees_complete``; the names in a meeting's 缺席人员 / 请假人员 text become attendance rows
(缺席 / 请假) of the members of its branch with that name. Nobody is ever marked 出席 from a text:
who else was expected (the whole branch, the committee, a 党小组) is the rules' question. Each
meeting's 主持人 is resolved to a member of its branch where it names one (``host_id``; recorded,
read by no rule yet).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import polars as pl

from audit.contract import Table
from audit.identity import Derived, Issue
from audit.reasons import Action, Reason
from audit.values import fold

GROUP_MEETING = "党小组会"  # the one type whose key includes its 党小组
SOURCE_LIST, SOURCE_ABSENTEES, SOURCE_COUNTS, SOURCE_NONE = "list", "absentees", "counts", "none"
NAME_TEXTS = (("absentees", "缺席"), ("leave_names", "请假"))  # meeting columns listing names, and their status
COUNT_COLUMNS = ("expected_count", "present_count", "leave_count", "attendee_count")
_ROWS = ("_file", "_sheet", "_row")
ROWS_SHOWN = 10  # row numbers a notice lists


@lru_cache(maxsize=1 << 16)
def topic_key(text: str | None) -> str:
    """A topic as a key compares it: full-width folded, lower case, without spaces, punctuation or
    symbols (`学习《党章》 ` and `学习党章` are one topic). Memoised: a district's meetings repeat
    a few thousand topics over a million rows."""
    folded = fold(text or "").lower()
    return "".join(c for c in folded if not c.isspace() and unicodedata.category(c)[0] not in "PSZ")


def meeting_key(branch: str, held_on: dt.date, code: str, topic: str | None, group: str | None = None) -> str:
    """The derived key of a meeting: `<branch>-<yyyymmdd>-<type code>-<6 hex>` (see the module)."""
    text = f"{topic_key(topic)}|{held_on.isoformat()}|{topic_key(group)}"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]
    return f"{branch}-{held_on:%Y%m%d}-{code}-{digest}"


def _parts(table: Table) -> dict[str, str]:
    """The columns a table's meeting key is made from or found by (`key_from`), by part."""
    column = table.columns["meeting_id"]
    assert column.key_from is not None
    return column.key_from


def _pick(frame: pl.DataFrame, columns: dict[str, str | None]) -> list[dict[str, Any]]:
    """Rows of ``frame`` as dicts of the given aliases (a column the frame lacks reads as None)."""
    exprs = [
        (pl.col(source) if source and source in frame.columns else pl.lit(None)).alias(alias) for alias, source in columns.items()
    ]
    return frame.select(*exprs, *_ROWS).to_dicts()


def _signature(row: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two meeting records one meeting: branch, date, type, topic (or 会议名称), and the
    党小组 of a 党小组会."""
    group = topic_key(row["group"]) if row["type"] == GROUP_MEETING else ""
    return row["branch"], row["date"], row["type"], topic_key(row["topic"] or row["title"]), group


def _rows_text(rows: list[int]) -> str:
    shown = "、".join(str(r) for r in rows[:ROWS_SHOWN])
    return f"第 {shown} 行" + ("等" if len(rows) > ROWS_SHOWN else "")


def derive_meeting_ids(table: Table, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[Issue], dict[str, int]]:
    """Every meeting row without 活动编号 keyed (see the module), one notice per sheet; and how many
    rows had an id, were given a derived one, or took the id of the same meeting written elsewhere."""
    counts = {"given": 0, "derived": 0, "matched": 0}
    if frame.is_empty():
        return frame, [], counts
    parts = _parts(table)
    codes = table.columns[parts["type"]].codes or {}
    rows = _pick(frame, {"id": "meeting_id", **{p: parts.get(p) for p in ("branch", "date", "type", "topic", "title", "group")}})
    written: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for row in rows:
        if row["id"] is not None:
            written[_signature(row)].add(row["id"])
    keys: list[str | None] = []
    by_sheet: dict[tuple[str, str], list[tuple[int, str, bool]]] = defaultdict(list)
    for row in rows:
        if row["id"] is not None:
            counts["given"] += 1
            keys.append(row["id"])
            continue
        if row["branch"] is None or row["date"] is None or row["type"] is None:
            keys.append(None)  # cannot happen for a row that passed parsing and branch resolution
            continue
        same = written.get(_signature(row), set())
        if len(same) == 1:
            key, matched = next(iter(same)), True
        else:
            group = row["group"] if row["type"] == GROUP_MEETING else None
            key = meeting_key(row["branch"], row["date"], codes[row["type"]], row["topic"] or row["title"], group)
            matched = False
        counts["matched" if matched else "derived"] += 1
        keys.append(key)
        by_sheet[(row["_file"], row["_sheet"])].append((row["_row"], key, matched))
    issues = []
    for (file, sheet), found in by_sheet.items():
        numbers = sorted({n for n, _, _ in found})
        matched_rows = sum(1 for _, _, m in found if m)
        derived = next((k for _, k, m in found if not m), None)
        example = f"，如 {derived}" if derived else ""
        also = f"；其中 {matched_rows} 条与写有活动编号的会议相同，采用其编号" if matched_rows else ""
        message = Reason.MEETING_ID_DERIVED.render(count=len(found), example=example, matched=also, rows=_rows_text(numbers))
        issues.append(
            Issue(table.name, file, sheet, numbers[0], "meeting_id", "", Reason.MEETING_ID_DERIVED, message, Action.NOTE)
        )
    return frame.with_columns(pl.Series("meeting_id", keys, dtype=pl.String)), issues, counts


def link_attendance(
    table: Table, frame: pl.DataFrame, meetings: pl.DataFrame, branch_of_name: Callable[[str | None], str | None]
) -> tuple[pl.DataFrame, list[Issue], int]:
    """Attendance rows without 活动编号 linked to the one meeting their date, type, topic, 会议名称 and
    branch (those they give) fit; rows fitting none or several get a row issue (the caller removes
    them). Returns the table, the issues and how many rows were linked."""
    parts = _parts(table)
    if frame.is_empty() or parts["date"] not in frame.columns or frame["meeting_id"].null_count() == 0:
        return frame, [], 0
    index: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    columns = {"id": "meeting_id", "branch": "branch_id", "date": "held_on", "type": "meeting_type", "topic": "topic"}
    for meeting in _pick(meetings, {**columns, "title": "title"}) if not meetings.is_empty() else []:
        if meeting["id"] is not None and meeting["date"] is not None:
            index[meeting["date"]].append(meeting)
    rows = _pick(frame, {"id": "meeting_id", **{p: parts.get(p) for p in ("date", "type", "topic", "title", "branch")}})
    keys: list[str | None] = []
    issues: list[Issue] = []
    linked = 0
    for row in rows:
        if row["id"] is not None or row["date"] is None:
            keys.append(row["id"])
            continue
        branch = branch_of_name(row["branch"]) if row["branch"] else None
        found = {
            m["id"]
            for m in index.get(row["date"], [])
            if (row["type"] is None or m["type"] == row["type"])
            and (row["topic"] is None or topic_key(row["topic"]) in (topic_key(m["topic"]), topic_key(m["title"])))
            and (row["title"] is None or topic_key(row["title"]) in (topic_key(m["title"]), topic_key(m["topic"])))
            and (row["branch"] is None or m["branch"] == branch)
        }
        if len(found) == 1:
            keys.append(found.pop())
            linked += 1
            continue
        keys.append(None)
        described = _described(row)
        if found:
            shown = "、".join(sorted(found))
            reason = Reason.MEETING_AMBIGUOUS
            message = reason.render(parts=described, count=len(found), ids=shown)
        else:
            reason = Reason.MEETING_NOT_FOUND
            message = reason.render(parts=described)
        place = (row["_file"], row["_sheet"], row["_row"])
        issues.append(Issue(table.name, *place, parts["date"], row["date"].isoformat(), reason, message, Action.ROW))
    return frame.with_columns(pl.Series("meeting_id", keys, dtype=pl.String)), issues, linked


def _described(row: dict[str, Any]) -> str:
    """An attendance row's meeting as the row names it: `2019-01-15、党课、主题「…」`."""
    bits = [row["date"].isoformat()]
    bits += [row["type"]] if row["type"] else []
    bits += [f"主题「{row['topic']}」"] if row["topic"] else []
    bits += [f"会议名称「{row['title']}」"] if row["title"] else []
    bits += [f"支部「{row['branch']}」"] if row["branch"] else []
    return "、".join(bits)


# --- attendance from counts and names ----------------------------------------------------------------

# separators between names (at bracket depth 0); brackets hold a reason: `张三（病假）`
_SEPARATORS = frozenset("、，,;；/ \t\n\r\u3000")
_OPEN, _CLOSE = "（([【〔<《", "）)]】〕>》"
_REASON = re.compile(rf"[{re.escape(_OPEN)}]([^{re.escape(_CLOSE)}]*)[{re.escape(_CLOSE)}]?")
_LABEL = re.compile(r"^([^:：、，,;；\s]{1,10})[:：]\s*(.*)$", re.S)
_ABSENT_WORDS = ("缺席", "未到", "缺勤", "未参加", "未参会")
_COUNT_TAIL = re.compile(r"(?:等|共|计)?\s*[0-9一二三四五六七八九十两]+\s*(?:人|名|位)$")
_NOBODY = frozenset(
    {"无", "没有", "暂无", "全到", "全部到会", "全员到会", "全体到会", "全员出席", "全部出席", "全体出席", "无缺席", "无人缺席",
     "无请假", "无人请假", "应到全到"}
)  # fmt: skip


def split_names(text: str | None, status: str) -> list[tuple[str, str, str | None]]:
    """The (name, status, reason) a 缺席人员 / 请假人员 cell lists: names split on 、，,;； and spaces
    (not inside brackets); a reason in brackets (`张三（病假）`) or after a colon (`张三：出差`) kept;
    a label before a colon (`请假：李四`) sets the status of the names after it; a reason naming
    leave (any word with 假: 病假, 事假, 请假 …) makes an absentee 请假. `无`, `全部到会`, counts
    (`等2人`) name no one."""
    if not text:
        return []
    found: list[tuple[str, str, str | None]] = []
    current = status
    for piece in _pieces(fold(text)):
        label = _LABEL.match(piece)
        if label and _status_word(label.group(1)):
            current = _status_word(label.group(1)) or current
            piece = label.group(2)
        elif label:  # `张三：出差`
            piece = f"{label.group(1)}（{label.group(2)}）" if label.group(2) else label.group(1)
        name, reason = _name_and_reason(piece)
        name = _COUNT_TAIL.sub("", name).strip()
        if not name or name in _NOBODY or _status_word(name):
            continue
        said = _status_word(reason) if reason else None
        found.append((name, "请假" if said == "请假" else current, reason))
    return found


def _status_word(text: str | None) -> str | None:
    """请假 or 缺席 when ``text`` is a label or reason saying so, else None."""
    if not text:
        return None
    if "假" in text:  # 请假, 病假, 事假, 探亲假, …
        return "请假"
    if any(w in text for w in _ABSENT_WORDS):
        return "缺席"
    return None


def _pieces(text: str) -> list[str]:
    """``text`` split at separators outside brackets."""
    pieces: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(0, depth - 1)
        if depth == 0 and char in _SEPARATORS:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return [p.strip() for p in pieces if p.strip()]


def _name_and_reason(piece: str) -> tuple[str, str | None]:
    """`张三（病假）` -> (`张三`, `病假`)."""
    reasons = [r.strip() for r in _REASON.findall(piece) if r.strip()]
    return _REASON.sub("", piece).strip(), "；".join(reasons) or None


def _source(row: dict[str, Any], listed: set[str], texts: list[tuple[str, str]]) -> str:
    """How a meeting's attendance is known (`attendance_source`)."""
    if row["id"] in listed:
        return SOURCE_LIST
    if texts:
        return SOURCE_ABSENTEES
    if any(row[c] is not None for c in COUNT_COLUMNS):
        return SOURCE_COUNTS
    return SOURCE_NONE


def attendance_shapes(
    tables: dict[str, pl.DataFrame],
    columns_of: dict[tuple[str, str], set[str]],
    members_named: dict[tuple[str | None, str], list[str]],
    shown_member: Callable[[str], str],
) -> tuple[dict[str, pl.DataFrame], list[Issue], dict[str, int], list[Derived]]:
    """Each meeting's ``attendance_source`` and ``absentees_complete``, and attendance rows read
    from the names in its 缺席人员 / 请假人员 text when it has no list (see the module), each
    returned as ``Derived`` from its meeting's source row (which it keeps as its ``_row``).
    ``columns_of`` gives the canonical columns of each meetings sheet (a sheet with a 缺席人员
    column whose cell is blank lists no one); ``members_named`` the members by (branch, name)."""
    meetings, attendance = tables["meetings"], tables["attendance"]
    sources: dict[str, int] = defaultdict(int)
    if meetings.is_empty():
        return tables, [], dict(sources), []
    listed = set(attendance["meeting_id"].to_list()) if not attendance.is_empty() else set()
    columns: dict[str, str | None] = {
        "id": "meeting_id",
        "branch": "branch_id",
        **{c: c for c in (*COUNT_COLUMNS, *(n for n, _ in NAME_TEXTS))},
    }
    source_of: list[str] = []
    complete_of: list[bool | None] = []
    added: list[dict[str, Any]] = []
    issues: list[Issue] = []
    for row in _pick(meetings, columns):
        written = columns_of.get((row["_file"], row["_sheet"]), set())
        texts = [(column, status) for column, status in NAME_TEXTS if column in written]
        source = _source(row, listed, texts)
        sources[source] += 1
        source_of.append(source)
        if source != SOURCE_ABSENTEES:
            complete_of.append(None)
            continue
        names: dict[str, tuple[str, str | None, str]] = {}  # name -> (status, reason, column)
        for column, status in texts:
            for name, said, reason in split_names(row[column], status):
                names.setdefault(name, (said, reason, column))
        expected, present = row["expected_count"], row["present_count"]
        complete_of.append(None if expected is None or present is None else expected - present == len(names))
        taken: set[str] = set()
        for name, (status, reason, column) in names.items():
            keys = members_named.get((row["branch"], name), [])
            if len(keys) == 1:
                if keys[0] not in taken:  # (the same member written twice counts once)
                    taken.add(keys[0])
                    added.append(
                        {"meeting_id": row["id"], "member_id": keys[0], "status": status, "reason": reason, "member_name": name}
                        | {c: row[c] for c in _ROWS}
                    )
                continue
            if keys:
                code = Reason.ABSENTEE_AMBIGUOUS
                named = "、".join(shown_member(k) for k in keys)
                message = code.render(value=name, branch=row["branch"], count=len(keys), keys=named, status=status)
            else:
                code = Reason.ABSENTEE_UNMATCHED
                message = code.render(value=name, branch=row["branch"], status=status)
            issues.append(Issue("meetings", row["_file"], row["_sheet"], row["_row"], column, name, code, message, Action.NOTE))
    meetings = meetings.with_columns(
        pl.Series("attendance_source", source_of, dtype=pl.String),
        pl.Series("absentees_complete", complete_of, dtype=pl.Boolean),
    )
    tables = {**tables, "meetings": meetings}
    if added:
        extra = pl.DataFrame(added, schema={c: attendance.schema[c] for c in added[0]}, orient="row")
        tables["attendance"] = pl.concat([attendance, extra], how="diagonal_relaxed").select(attendance.columns)
    sources["rows_from_text"] = len(added)
    derived = [Derived("attendance", r["_file"], r["_sheet"], r["_row"]) for r in added]
    return tables, issues, dict(sources), derived


def resolve_hosts(meetings: pl.DataFrame, members: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """Each meeting's ``host_id``: the member its 主持人 names — a 党员编号 or personnel number of a
    member of the meeting's branch, else the one member of that branch with that name (`张三（书记）`
    read as 张三) — or null when none is given, no one or several fit (not guessed; no quarantine:
    no rule reads the host, it is recorded for the reviewer). Counts: hosts given, resolved."""
    counts = {"hosts": 0, "hosts_resolved": 0}
    if meetings.is_empty() or "host" not in meetings.columns:
        return meetings.with_columns(host_id=pl.lit(None, dtype=pl.String)), counts
    by_code: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    by_name: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    if not members.is_empty():
        cols = [c for c in ("member_id", "personnel_no", "name", "branch_id") if c in members.columns]
        for row in members.select(cols).iter_rows(named=True):
            for code in (row["member_id"], row.get("personnel_no")):
                if code is not None:
                    by_code[(row["branch_id"], str(code))].add(row["member_id"])
            if row.get("name"):
                by_name[(row["branch_id"], row["name"])].add(row["member_id"])
    found: list[str | None] = []
    for branch, host in meetings.select("branch_id", "host").iter_rows():
        text = fold(host).strip() if host is not None else ""
        if not text:
            found.append(None)
            continue
        counts["hosts"] += 1
        name = _name_and_reason(text)[0]
        keys = by_code.get((branch, text)) or by_code.get((branch, name)) or by_name.get((branch, name), set())
        found.append(next(iter(keys)) if len(keys) == 1 else None)
        counts["hosts_resolved"] += len(keys) == 1
    return meetings.with_columns(pl.Series("host_id", found, dtype=pl.String)), counts
