"""The meeting types, defined once: the contract's enum for `meetings.meeting_type`, and a name for
each type a fact counts (a name the contract does not know fails at import, not as a silent zero)."""

from __future__ import annotations

from audit.contract import load_contract

MEETING_TYPES: tuple[str, ...] = tuple(load_contract().tables["meetings"].columns["meeting_type"].values or {})


def _meeting_type(name: str) -> str:
    if name not in MEETING_TYPES:
        raise ValueError(f"meeting type {name!r} is not in the contract's meeting_type values {MEETING_TYPES}")
    return name


ASSEMBLY = _meeting_type("支部党员大会")
COMMITTEE = _meeting_type("支部委员会")
GROUP_MEETING = _meeting_type("党小组会")
LECTURE = _meeting_type("党课")
THEME_DAY = _meeting_type("主题党日")
LIFE_MEETING = _meeting_type("组织生活会")
APPRAISAL = _meeting_type("民主评议")
STUDY = _meeting_type("集中学习")
# every type is organisational life: a member is expected at any of them (SM-8 absence)
LIFE_TYPES: list[str] = list(MEETING_TYPES)
