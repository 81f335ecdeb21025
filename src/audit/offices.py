"""Who holds a branch's offices when the branch list does not say (docs/identity.md).

Run by ``audit.ingest`` after the cross-table checks, on the tables that passed them (so every
member key is the roster's and the transfer register has set the roster's transfer dates). A
branch's secretary (organizer) is the first present of:

1. the branch list's 书记编号 (or 支部书记 / 书记工号 …, resolved by ``audit.identity``): `branches`;
2. the committee list (支委名单): the member whose 职务 names the office and whose term has not
   ended (of several, the one appointed last; none open: the one who left last): `committee`;
3. the roster's 党内职务 (`支部书记`, `组织委员`) of a member not transferred out: `members`.

Where it came from is written to ``secretary_source`` (``organizer_source``); with none the office
stays empty — never guessed from the host or anyone else. Two candidates a source cannot tell
apart give that source no answer (a notice); a later source that disagrees with the one used gets
a notice too.

An office taken from the committee list is the current holder at ingestion; validation asks
``offices_for_period`` for the holder in the audited quarter (任职起止), so a secretary who took
office after the quarter is not asked for that quarter's lectures (``holders_during``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from audit.identity import Issue
from audit.reasons import Action, Reason
from audit.values import Parsed, fold, parse_history_date

# office -> (branch column, its source column, the office in messages)
OFFICES = {
    "secretary": ("secretary_id", "secretary_source", "书记"),
    "organizer": ("organizer_id", "organizer_source", "组织委员"),
}
# 职务 words, once the branch's own prefix is removed (`党支部书记` -> `书记`); `党委书记` is not a branch office
POSTS = {
    "书记": "secretary",
    "副书记": "deputy_secretary",
    "组织委员": "organizer",
    "宣传委员": "publicity",
    "纪检委员": "discipline",
    "纪律检查委员": "discipline",
    "青年委员": "youth",
    "统战委员": "united_front",
    "保密委员": "secrecy",
    "委员": "member",
}
_POST_PREFIXES = ("中国共产党", "中共", "党支部委员会", "支部委员会", "党支部", "支部", "支委会", "支委")
_POST_SEPARATORS = re.compile(r"[、，,;；/\s]+|兼任|兼|和|及")
_BRACKETS = re.compile(r"[（(\[【][^）)\]】]*[）)\]】]")
SOURCE_LABELS = {"branches": "支部信息", "committee": "支部委员会成员表", "members": "党员名册（党内职务）"}
_DATE = r"\d{4}(?:[.\-/年]\d{1,2}(?:[.\-/月]\d{1,2}日?)?月?)?"
_RANGE = re.compile(rf"^\s*({_DATE})\s*(?:至|到|~|～|—+|－|-{{1,2}})\s*({_DATE}|至今|今|现在|今日)?\s*$")
_OPEN_END = ("至今", "今", "现在", "今日")


def offices_in(text: str | None) -> frozenset[str]:
    """The branch offices a 职务 / 党内职务 cell names: `党支部书记兼组织委员` -> secretary and organizer;
    `副书记、纪检委员`; `党委书记`, `党小组长` name none."""
    if not text:
        return frozenset()
    found = set()
    for piece in _POST_SEPARATORS.split(_BRACKETS.sub("", fold(text))):
        for prefix in _POST_PREFIXES:
            if piece.startswith(prefix) and len(piece) > len(prefix):
                piece = piece[len(prefix) :]
                break
        if piece in POSTS:
            found.add(POSTS[piece])
    return frozenset(found)


def parse_term(text: str | None) -> tuple[Parsed, Parsed, bool]:
    """A 任职起止 cell (`2017.03-2020.03`, `2017年3月至今`) as (start, end, understood), each end
    parsed as a membership date (`2017.03` is 1 March 2017, precision `month`); an open end is blank."""
    blank = Parsed(None)
    if not text:
        return blank, blank, True
    match = _RANGE.match(fold(text))
    if match is None:
        return blank, blank, False
    start = parse_history_date(match.group(1))
    end_text = match.group(2)
    end = parse_history_date(end_text) if end_text and end_text not in _OPEN_END else blank
    if not start.ok or not end.ok:
        return blank, blank, False
    return start, end, True


@dataclass(frozen=True)
class _Holder:
    """One row naming a member in an office: the member, the term (committee list) and the place."""

    member: str
    start: dt.date | None
    end: dt.date | None
    file: str
    sheet: str
    row: int


def _current(holders: list[_Holder]) -> list[str]:
    """The members a committee list gives as the office's current holder: those whose term has not
    ended (of several, the one appointed last), else the one who left last; several when the dates
    cannot tell them apart."""
    if not holders:
        return []
    open_terms = [h for h in holders if h.end is None]
    pool = open_terms or holders

    def when(h: _Holder) -> dt.date | None:
        return h.start if open_terms else h.end

    members = {h.member for h in pool}
    if len(members) == 1:
        return list(members)
    dated = [h for h in pool if when(h) is not None]
    if len(dated) < len(pool):
        return sorted(members)
    latest = max(when(h) for h in dated)  # type: ignore[type-var]
    return sorted({h.member for h in dated if when(h) == latest})


def committee_terms(committee: pl.DataFrame) -> tuple[pl.DataFrame, list[Issue]]:
    """The committee list with 任职日期 / 离任日期 (and their precision) filled from 任职起止 where
    blank; a 任职起止 that cannot be read gets a notice."""
    if committee.is_empty() or "term" not in committee.columns or committee["term"].null_count() == committee.height:
        return committee, []
    filled: dict[str, list[Any]] = {c: [] for c in ("term_start", "term_start_precision", "term_end", "term_end_precision")}
    issues = []
    for row in committee.select(*filled, "term", "_file", "_sheet", "_row").iter_rows(named=True):
        start, end, understood = parse_term(row["term"])
        if not understood:
            message = Reason.TERM_UNPARSED.render(value=row["term"])
            place = (row["_file"], row["_sheet"], row["_row"])
            issues.append(Issue("committee", *place, "term", row["term"], Reason.TERM_UNPARSED, message, Action.NOTE))
        for column, parsed in (("term_start", start), ("term_end", end)):
            own = row[column] is not None
            filled[column].append(row[column] if own else parsed.value)
            filled[f"{column}_precision"].append(row[f"{column}_precision"] if own else parsed.precision or None)
    dtypes = {"term_start": pl.Date, "term_end": pl.Date}
    committee = committee.with_columns(pl.Series(c, v, dtype=dtypes.get(c, pl.String)) for c, v in filled.items())
    return committee, issues


def fill_offices(
    tables: dict[str, pl.DataFrame], shown_member: Callable[[str], str]
) -> tuple[dict[str, pl.DataFrame], list[Issue], dict[str, dict[str, int]]]:
    """Every branch's secretary and organizer from the first source that gives one, and where it
    came from (see the module); the notices; and per office how many branches each source filled."""
    branches = tables["branches"]
    tables = dict(tables)
    issues: list[Issue] = []
    if "committee" in tables:
        tables["committee"], issues = committee_terms(tables["committee"])
    report: dict[str, dict[str, int]] = {}
    if branches.is_empty():
        return tables, issues, report
    by_committee = _committee_holders(tables.get("committee"))
    by_roster = _roster_holders(tables.get("members"))
    columns: dict[str, list[Any]] = {}
    for office, (id_column, source_column, label) in OFFICES.items():
        counts: dict[str, int] = defaultdict(int)
        ids, sources = [], []
        for branch, given in branches.select("branch_id", id_column).iter_rows():
            answers: list[tuple[str, str | None, _Holder | None]] = []  # source, member (None: not told apart), place
            if given is not None:
                answers.append(("branches", given, None))
            holders = by_committee.get((branch, office), [])
            current = _current(holders)
            if current:
                place = next(h for h in holders if h.member in current)
                answers.append(("committee", current[0] if len(current) == 1 else None, place))
                if len(current) > 1:
                    issues.append(_ambiguous("committee", branch, label, current, place, shown_member))
            listed = by_roster.get((branch, office), [])
            if listed:
                members = sorted({h.member for h in listed})
                answers.append(("members", members[0] if len(members) == 1 else None, listed[0]))
                if len(members) > 1:
                    issues.append(_ambiguous("members", branch, label, members, listed[0], shown_member))
            chosen = next(((source, member) for source, member, _ in answers if member is not None), None)
            ids.append(chosen[1] if chosen else None)
            sources.append(chosen[0] if chosen else None)
            counts[chosen[0] if chosen else ""] += 1
            if chosen is not None:
                issues += _conflicts(answers, chosen, branch, label, shown_member)
        columns[id_column] = ids
        columns[source_column] = sources
        report[office] = dict(counts)
    tables["branches"] = branches.with_columns(pl.Series(name, values, dtype=pl.String) for name, values in columns.items())
    return tables, issues, report


def _where(source: str) -> tuple[str, str]:
    """The table and column a notice about a source's answer points at."""
    return ("committee", "post") if source == "committee" else ("members", "party_post")


def _conflicts(
    answers: list[tuple[str, str | None, _Holder | None]],
    chosen: tuple[str, str],
    branch: str,
    label: str,
    shown: Callable[[str], str],
) -> list[Issue]:
    """A notice at each later source that names a different holder than the one used."""
    found = []
    for source, member, place in answers:
        if member is None or member == chosen[1] or place is None:
            continue
        message = Reason.OFFICE_CONFLICT.render(
            source=SOURCE_LABELS[source],
            branch=branch,
            office=label,
            found=shown(member),
            chosen_source=SOURCE_LABELS[chosen[0]],
            chosen=shown(chosen[1]),
        )
        table, column = _where(source)
        found.append(Issue(table, place.file, place.sheet, place.row, column, "", Reason.OFFICE_CONFLICT, message, Action.NOTE))
    return found


def _ambiguous(source: str, branch: str, label: str, members: list[str], place: _Holder, shown: Callable[[str], str]) -> Issue:
    """A notice that a source names several holders of one office it cannot tell apart."""
    keys = "、".join(shown(m) for m in members)
    message = Reason.OFFICE_AMBIGUOUS.render(
        source=SOURCE_LABELS[source], branch=branch, count=len(members), office=label, keys=keys
    )
    table, column = _where(source)
    return Issue(table, place.file, place.sheet, place.row, column, "", Reason.OFFICE_AMBIGUOUS, message, Action.NOTE)


def _committee_holders(committee: pl.DataFrame | None) -> dict[tuple[str, str], list[_Holder]]:
    """(branch, office) -> the committee rows naming it."""
    found: dict[tuple[str, str], list[_Holder]] = defaultdict(list)
    if committee is None or committee.is_empty():
        return found
    rows = committee.select("branch_id", "member_id", "post", "term_start", "term_end", "_file", "_sheet", "_row").iter_rows()
    for branch, member, post, start, end, file, sheet, row in rows:
        for office in offices_in(post):
            found[(branch, office)].append(_Holder(member, start, end, file, sheet, row))
    return found


def _roster_holders(members: pl.DataFrame | None) -> dict[tuple[str, str], list[_Holder]]:
    """(branch, office) -> the roster rows whose 党内职务 names it, members transferred out left out."""
    found: dict[tuple[str, str], list[_Holder]] = defaultdict(list)
    if members is None or members.is_empty() or members["party_post"].null_count() == members.height:
        return found
    rows = members.select("branch_id", "member_id", "party_post", "transferred_out_on", "_file", "_sheet", "_row").iter_rows()
    for branch, member, post, out, file, sheet, row in rows:
        if out is not None:
            continue
        for office in offices_in(post):
            found[(branch, office)].append(_Holder(member, None, None, file, sheet, row))
    return found


def last_day_of_term(end: dt.date | None, precision: str | None) -> dt.date | None:
    """The last day of a term: a month-precision end (`2019.06`) lasts to the month's end."""
    if end is None or precision != "month":
        return end
    following = dt.date(end.year + (end.month == 12), end.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def holders_during(committee: pl.DataFrame | None, start: dt.date, end: dt.date) -> dict[tuple[str, str], list[str]]:
    """(branch, office) -> who held it from `start` to `end` by the committee list's terms: of the
    rows naming the office whose term overlaps the period (an undated term overlaps every period),
    the members serving the most days of it (several when that does not tell them apart; the one
    appointed last breaks a tie of days). A branch and office without such a row are absent."""
    found: dict[tuple[str, str], list[str]] = {}
    if committee is None or committee.is_empty():
        return found
    precision = "term_end_precision" if "term_end_precision" in committee.columns else None
    columns = ["branch_id", "member_id", "post", "term_start", "term_end", precision or "term_end"]
    days: dict[tuple[str, str], dict[str, tuple[int, dt.date]]] = defaultdict(dict)
    for branch, member, post, first, last, exact in committee.select(columns).iter_rows():
        last = last_day_of_term(last, exact if precision else None)
        begin, finish = max(first or start, start), min(last or end, end)
        if finish < begin:
            continue
        served = ((finish - begin).days + 1, first or dt.date.min)
        for office in offices_in(post):
            best = days[(branch, office)].get(member)
            days[(branch, office)][member] = max(best, served) if best else served
    for key, by_member in days.items():
        most = max(by_member.values())
        found[key] = sorted(m for m, served in by_member.items() if served == most)
    return found


def offices_for_period(tables: dict[str, pl.DataFrame], start: dt.date, end: dt.date) -> dict[str, pl.DataFrame]:
    """The tables with each branch's secretary and organizer as they were from `start` to `end`
    where they came from the committee list (`*_source` = committee): the one member `holders_during`
    gives for the period (the list's current holder, `fill_offices`, may have taken office later);
    none when nobody held it then by the list, the current holder kept when several did. Offices
    from the branch list or the roster carry no dates and are left as they are."""
    branches = tables.get("branches")
    if branches is None or branches.is_empty() or "committee" not in tables:
        return dict(tables)
    during = holders_during(tables["committee"], start, end)
    updates = []
    for office, (id_column, source_column, _) in OFFICES.items():
        if source_column not in branches.columns:
            continue
        values = []
        for branch, current, source in branches.select("branch_id", id_column, source_column).iter_rows():
            held = during.get((branch, office))
            if source != "committee" or (held is not None and len(held) > 1):
                values.append(current)
            else:
                values.append(held[0] if held else None)
        updates.append(pl.Series(id_column, values, dtype=pl.String))
    return {**tables, "branches": branches.with_columns(updates)}
