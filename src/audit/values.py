"""Parsers for every value form the export contract allows.

Each parser takes a raw cell (a string from CSV, or whatever openpyxl returns for an xlsx cell)
and returns a ``Parsed``: the typed value, or the reason it was refused. Parsers never raise on
user data.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from audit.privacy import holds_personal, mask_id, mask_personal
from audit.privacy import mask_phone as mask_phone  # re-exported: the phone column's mask
from audit.reasons import Reason

EXCEL_EPOCH = dt.date(1899, 12, 30)
# Excel serial numbers accepted as dates: 1920-01-01 .. 2099-12-31
SERIAL_MIN, SERIAL_MAX = 7306, 73050
MAX_TEXT = 2000

_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20  # ideographic space
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Parsed:
    value: Any = None
    reason: Reason | None = None
    context: tuple[tuple[str, object], ...] = ()
    precision: str = ""  # "month" when a date was given only to the month (`2005.07`)

    @property
    def ok(self) -> bool:
        return self.reason is None


def fail(reason: Reason, **context: object) -> Parsed:
    return Parsed(None, reason, tuple(context.items()))


def fold(text: str) -> str:
    """Full-width ASCII to half-width, trimmed, internal whitespace runs collapsed."""
    return _SPACES.sub(" ", text.translate(_FULLWIDTH)).strip()


def cell_text(raw: Any) -> str:
    """The text a user sees in a cell; numbers that are whole print without '.0'."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float):
        if math.isfinite(raw) and raw.is_integer() and abs(raw) < 1e15:
            return str(int(raw))
        return repr(raw)
    if isinstance(raw, dt.datetime):
        return raw.strftime("%Y-%m-%d %H:%M:%S") if raw.time() != dt.time() else raw.strftime("%Y-%m-%d")
    if isinstance(raw, dt.date):
        return raw.isoformat()
    return fold(str(raw))


def is_blank(raw: Any) -> bool:
    """None, or text of whitespace only (``fold(raw) == ""``, without the cost of folding)."""
    return raw is None or (isinstance(raw, str) and not raw.strip())


# What people write for "nothing here" (after folding: `／` is `/`, `－` is `-`); blank in any
# column but a yes/no one, where `无` means no.
PLACEHOLDERS = frozenset({"无", "暂无", "-", "--", "—", "——", "–", "―", "/", "//", "\\"})


def is_placeholder(raw: Any) -> bool:
    """A cell holding only a placeholder for blank (`无`, `—`, `-`, `/`, `／`)."""
    return isinstance(raw, str) and fold(raw) in PLACEHOLDERS


def scrub_personal(text: str) -> str:
    """ID and mobile numbers written into free text (a topic, a note, an unknown column) are masked
    as they are in their own columns, so no output ever carries them whole (see ``audit.privacy``)."""
    return mask_personal(text)


def parse_text(raw: Any) -> Parsed:
    text = cell_text(raw)
    if len(text) > MAX_TEXT:
        return fail(Reason.TOO_LONG, length=len(text), limit=MAX_TEXT)
    return Parsed(scrub_personal(text))


# A clock after the date (`2019/2/3  14:30`, `2019-02-03T14:30:00`, `2019年2月3日 14时30分`) is
# allowed and dropped: the day is what the records need.
_CLOCK = r"(?:\s*T?\s*\d{1,2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?|时(?:\d{1,2}分(?:\d{1,2}秒)?)?|点(?:\d{1,2}分?)?))?"
_YMD = re.compile(rf"^(\d{{4}})\s*[-/.]\s*(\d{{1,2}})\s*[-/.]\s*(\d{{1,2}}){_CLOCK}$")
_YMD_ZH = re.compile(rf"^(\d{{4}})\s*年\s*(\d{{1,2}})\s*月\s*(\d{{1,2}})\s*[日号]?{_CLOCK}$")
_YMD_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^\d{4,5}(?:\.\d+)?$")
_YM = re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})$")
_YM_ZH = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月?$")
_YM_COMPACT = re.compile(r"^(\d{4})(\d{2})$")


def _from_serial(serial: float) -> dt.date | None:
    """The day of an Excel serial; a fraction is the time of day, dropped (`43499.6` is 14:24)."""
    if SERIAL_MIN <= serial < SERIAL_MAX + 1:
        return EXCEL_EPOCH + dt.timedelta(days=math.floor(serial))
    return None


def parse_date(raw: Any) -> Parsed:
    if isinstance(raw, dt.datetime):
        return Parsed(raw.date())
    if isinstance(raw, dt.date):
        return Parsed(raw)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if isinstance(raw, float) and not math.isfinite(raw):
            return fail(Reason.UNPARSED_DATE, value=cell_text(raw))
        if 19000101 <= raw <= 21001231 and float(raw).is_integer():
            return parse_date(str(int(raw)))
        serial = _from_serial(float(raw))
        return Parsed(serial) if serial else fail(Reason.UNPARSED_DATE, value=cell_text(raw))
    text = cell_text(raw)
    match = _YMD.match(text) or _YMD_ZH.match(text) or _YMD_COMPACT.match(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
        try:
            return Parsed(dt.date(year, month, day))
        except ValueError:
            return fail(Reason.BAD_DATE, value=text)
    if _SERIAL.match(text):
        serial = _from_serial(float(text))
        if serial:
            return Parsed(serial)
    return fail(Reason.UNPARSED_DATE, value=text)


def parse_month(raw: Any) -> Parsed:
    """A month is stored as the first day of that month."""
    if isinstance(raw, (dt.date, int, float)) and not isinstance(raw, bool):
        if isinstance(raw, (int, float)) and 190001 <= raw <= 210012 and float(raw).is_integer():
            return parse_month(str(int(raw)))
        parsed = parse_date(raw)
        if parsed.ok:
            return Parsed(parsed.value.replace(day=1))
        return fail(Reason.UNPARSED_MONTH, value=cell_text(raw))
    text = cell_text(raw)
    match = _YM.match(text) or _YM_ZH.match(text) or _YM_COMPACT.match(text)
    if match:
        year, month = (int(part) for part in match.groups())
        if 1 <= month <= 12:
            return Parsed(dt.date(year, month, 1))
        return fail(Reason.BAD_MONTH, value=text)
    parsed = parse_date(text)
    if parsed.ok:
        return Parsed(parsed.value.replace(day=1))
    if parsed.reason is Reason.BAD_DATE:
        return fail(Reason.BAD_MONTH, value=text)
    return fail(Reason.UNPARSED_MONTH, value=text)


_FLOAT_YM = re.compile(r"^(\d{4})\.(\d{1,2})$")


def parse_history_date(raw: Any) -> Parsed:
    """A date of membership history (入党、转正、出生…): a full date, or a month alone (`2005.07`,
    `2005年7月`, `200507`, `2005-07`) read as the first of that month with precision `month`, so
    a rule that needs the day can tell it was not given. A numeric cell `2005.1` is refused: Excel
    stores `2005.10` the same way, so January and October cannot be told apart."""
    parsed = parse_date(raw)
    if parsed.ok or parsed.reason is Reason.BAD_DATE or isinstance(raw, (dt.date, bool)):
        return parsed
    if isinstance(raw, float) and math.isfinite(raw):
        match = _FLOAT_YM.match(repr(raw))
        if match and match.group(2) == "1":
            return fail(Reason.AMBIGUOUS_MONTH, value=repr(raw))
        text = repr(raw)
    else:
        text = cell_text(raw)
    match = _YM.match(text) or _YM_ZH.match(text) or _YM_COMPACT.match(text)
    if not match:
        return parsed
    year, month = (int(part) for part in match.groups())
    if not 1900 <= year <= 2100:
        return parsed
    if not 1 <= month <= 12:
        return fail(Reason.BAD_DATE, value=text)
    return Parsed(dt.date(year, month, 1), precision="month")


_RATE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([%‰])?$")


def parse_rate(raw: Any) -> Parsed:
    """A rate as a fraction: `1%` -> 0.01, `0.5%` -> 0.005, `5‰` -> 0.005, `0.01` (a cell Excel
    formats as a percentage) -> 0.01. A bare number of 1 or more is refused: `1` may mean 1 %."""
    if isinstance(raw, bool):
        return fail(Reason.NOT_A_RATE, value=cell_text(raw))
    text = cell_text(raw)
    match = _RATE.match(text.replace(" ", ""))
    if not match:
        return fail(Reason.NOT_A_RATE, value=text)
    number, unit = float(match.group(1)), match.group(2)
    if unit == "%":
        number /= 100
    elif unit == "‰":
        number /= 1000
    elif not 0 <= number < 1:
        return fail(Reason.NOT_A_RATE, value=text)
    if not 0 <= number <= 1:
        return fail(Reason.NOT_A_RATE, value=text)
    return Parsed(round(number, 10))


_NUMBER_NOISE = re.compile(r"[元¥￥,，\s]|RMB|CNY", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def parse_number(raw: Any) -> Parsed:
    """A number; one that is really an ID or mobile number (``13987654321``, ``+86…``) is refused,
    so it never travels on as an amount or a count."""
    if isinstance(raw, bool):
        return fail(Reason.NOT_A_NUMBER, value=cell_text(raw))
    if isinstance(raw, (int, float)):
        if isinstance(raw, float) and not math.isfinite(raw):
            return fail(Reason.NOT_A_NUMBER, value=cell_text(raw))
        if abs(raw) >= 1e10 and holds_personal(cell_text(raw)):
            return fail(Reason.PERSONAL_NUMBER, value=cell_text(raw))
        return Parsed(float(raw))
    text = cell_text(raw)
    if holds_personal(text):
        return fail(Reason.PERSONAL_NUMBER, value=text)
    cleaned = _NUMBER_NOISE.sub("", text)
    if not _NUMBER.match(cleaned):
        return fail(Reason.NOT_A_NUMBER, value=text)
    return Parsed(float(cleaned))


def parse_integer(raw: Any) -> Parsed:
    parsed = parse_number(raw)
    if not parsed.ok:
        return parsed
    if not float(parsed.value).is_integer():
        return fail(Reason.NOT_AN_INTEGER, value=cell_text(raw))
    return Parsed(int(parsed.value))


_YES = {"是", "有", "y", "yes", "1", "√", "✓", "✔", "true", "t", "对"}
_NO = {"否", "无", "n", "no", "0", "×", "✗", "✘", "x", "false", "f", "没有"}


def parse_yesno(raw: Any) -> Parsed:
    if isinstance(raw, bool):
        return Parsed(raw)
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return Parsed(bool(raw))
    text = cell_text(raw).lower()
    if text in _YES:
        return Parsed(True)
    if text in _NO:
        return Parsed(False)
    return fail(Reason.BAD_YESNO, value=cell_text(raw))


def enum_parser(label: str, values: dict[str, list[str]]):
    """A parser for an enumerated column: canonical values and their aliases, matched folded."""
    lookup: dict[str, str] = {}
    for canonical, aliases in values.items():
        for spelling in [canonical, *aliases]:
            lookup[fold(str(spelling)).lower()] = canonical
    allowed = "、".join(values)

    def parse_enum(raw: Any) -> Parsed:
        text = cell_text(raw)
        canonical = lookup.get(text.lower())
        if canonical is None:
            return fail(Reason.UNKNOWN_ENUM, label=label, value=text, allowed=allowed)
        return Parsed(canonical)

    return parse_enum


def enum_in_text_parser(label: str, values: dict[str, list[str]]):
    """A parser reading an enumerated value out of free text (`2019年3月主题党日活动` → 主题党日): the
    one canonical value whose spellings occur in the text; none or several is refused."""
    spellings = [(fold(str(s)).lower(), canonical) for canonical, aliases in values.items() for s in [canonical, *aliases]]
    allowed = "、".join(values)

    def parse_enum_in_text(raw: Any) -> Parsed:
        text = cell_text(raw)
        folded = text.lower()
        found = {canonical for spelling, canonical in spellings if spelling and spelling in folded}
        if len(found) != 1:
            return fail(Reason.UNKNOWN_ENUM, label=label, value=text, allowed=allowed)
        return Parsed(found.pop())

    return parse_enum_in_text


# --- personal data -------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?E\+?\d+$", re.IGNORECASE)
_ID_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]")  # 110105 19491231 002X, 110105-19491231-002X


def id_check_char(first17: str) -> str:
    """GB 11643 check character for the first 17 digits."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True, slots=True)
class IdCheck:
    masked: str
    status: str  # ok | mangled | lost_check | bad_length | bad_checksum | bad_birth | old15
    reason: Reason | None


def check_id_number(raw: Any) -> IdCheck:
    """Validate an ID number (GB 11643). Only the masked form ever leaves this function."""
    if isinstance(raw, float) or (isinstance(raw, int) and not isinstance(raw, bool) and raw > 10**15):
        # A numeric cell cannot hold 18 digits exactly: Excel has already rounded it.
        shown = f"{float(raw):.5E}".replace("E+", "E+")
        return IdCheck(shown, "mangled", Reason.ID_MANGLED)
    text = _ID_SEPARATORS.sub("", cell_text(raw).upper())
    if _SCIENTIFIC.match(text):
        return IdCheck(text, "mangled", Reason.ID_MANGLED)
    masked = mask_id(text)
    if len(text) == 17 and text.isdigit():
        return IdCheck(masked, "lost_check", Reason.ID_LOST_CHECK)
    if len(text) == 15 and text.isdigit():
        return IdCheck(masked, "old15", Reason.ID_OLD_15)
    if len(text) != 18 or not text[:17].isdigit() or text[17] not in "0123456789X":
        return IdCheck(masked, "bad_length", Reason.ID_BAD_LENGTH)
    try:
        dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return IdCheck(masked, "bad_birth", Reason.ID_BAD_BIRTH)
    if id_check_char(text[:17]) != text[17]:
        return IdCheck(masked, "bad_checksum", Reason.ID_BAD_CHECKSUM)
    return IdCheck(masked, "ok", None)
