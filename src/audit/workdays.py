"""Working days by China's official calendar (holidays and 调休 make-up workdays).

`chinesecalendar` covers 2004-2026. Outside that range the count falls back to Monday-Friday and
says so, so findings that depend on it carry a visible warning instead of crashing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import chinese_calendar


@dataclass(frozen=True)
class WorkdayCount:
    days: int
    fallback_years: tuple[int, ...]  # years counted Monday-Friday because the calendar lacks them

    @property
    def note(self) -> str:
        if not self.fallback_years:
            return ""
        years = "、".join(str(y) for y in self.fallback_years)
        return f"（注意：{years}年不在官方节假日日历范围内，按周一至周五估算）"


def is_workday(day: dt.date) -> tuple[bool, bool]:
    """(is it a working day, was the official calendar available for it)."""
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:
        return day.weekday() < 5, False


def count_workdays(start: dt.date, end: dt.date) -> WorkdayCount:
    """Working days from start to end, both included."""
    days, fallback = 0, set()
    current = start
    while current <= end:
        workday, official = is_workday(current)
        days += workday
        if not official:
            fallback.add(current.year)
        current += dt.timedelta(days=1)
    return WorkdayCount(days, tuple(sorted(fallback)))


def count_weekdays(start: dt.date, end: dt.date) -> int:
    """The naive Monday-Friday count, kept only to show in tests and docs why it is wrong."""
    return sum(1 for i in range((end - start).days + 1) if (start + dt.timedelta(days=i)).weekday() < 5)
