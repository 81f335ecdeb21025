"""Calendar periods the standard speaks of: months, quarters, half-years, years."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_QUARTER = re.compile(r"^(\d{4})\s*[Qq]([1-4])$")


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of every month from `first`'s month to `last`'s month, both included."""
    months, current = [], first.replace(day=1)
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return months


def month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)


def month_key(day: dt.date) -> str:
    return f"{day.year}-{day.month:02d}"


def month_zh(day: dt.date) -> str:
    return f"{day.year}年{day.month}月"


def date_zh(day: dt.date | None) -> str:
    return "（空）" if day is None else f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = _QUARTER.match(text.strip())
        if not match:
            raise ValueError(f"季度格式应为 2019Q1：{text}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.number * 3 - 2, 1)

    @property
    def end(self) -> dt.date:
        return month_end(dt.date(self.year, self.number * 3, 1))

    @property
    def months(self) -> list[dt.date]:
        return [add_months(self.start, i) for i in range(3)]

    @property
    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    @property
    def zh(self) -> str:
        return f"{self.year}年第{'一二三四'[self.number - 1]}季度"

    @property
    def half(self) -> str:
        return f"{self.year}H{1 if self.number <= 2 else 2}"

    @property
    def ends_half(self) -> bool:
        return self.number in (2, 4)

    @property
    def ends_year(self) -> bool:
        return self.number == 4


def half_bounds(label: str) -> tuple[dt.date, dt.date]:
    year, half = int(label[:4]), int(label[-1])
    return dt.date(year, 1 if half == 1 else 7, 1), dt.date(year, 6, 30) if half == 1 else dt.date(year, 12, 31)


def period_zh(period: str) -> str:
    """`2019-02` -> 2019年2月, `2019Q1` -> 2019年第一季度, `2019H1` -> 2019年上半年, `2019` -> 2019年."""
    if re.fullmatch(r"\d{4}-\d{2}", period):
        return f"{period[:4]}年{int(period[5:])}月"
    if re.fullmatch(r"\d{4}Q[1-4]", period):
        return Quarter.parse(period).zh
    if re.fullmatch(r"\d{4}H[12]", period):
        return f"{period[:4]}年{'上' if period[-1] == '1' else '下'}半年"
    return f"{period}年"
