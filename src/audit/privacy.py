"""Masking of ID numbers (身份证号) and mobile numbers in any text that comes from a batch.

``mask_personal`` is the one function applied wherever batch text enters the toolkit: cell text,
every message rendered from a raw value, file, sheet and header names. It finds the numbers as
people write them — 18- and 15-digit IDs (also with a lower-case ``x``, with spaces or dashes in
common groupings such as ``110105 19491231 002X`` or ``1101 0519 4912 3100 2X``), mobile numbers
(also ``+86``/``0086``/``86`` prefixed and ``139-8765-4321``/``139 8765 4321``), in full-width or
any other script's digits — and replaces each with its masked form (``110105********002X``,
``139****4321``): enough to tell two people apart, not enough to identify one. An ID that lost its
check character (17 digits with a real birth date: the check character follows from them) and a
number written in scientific notation with all its digits (``1.1010519491231002e+17``, what
Python, pandas or a tool's float column writes for an ID; ``1.3987654321E+10``) are masked too.

Legitimate data is left alone: a candidate must start and end on a digit group boundary (a digit
run inside a longer number is never cut out), and a number split by separators is masked only in a
writing people use for it (an ID whose birth date is a real date, a mobile number grouped 3-4-4,
4-3-4, 3-8 or 7-4), so dates, amounts, row numbers and short codes never match.

Pseudonyms: where an ID number is a member's only key, the key is ``pseudonym(number, secret)``,
an HMAC-SHA-256 of the number under a secret made once per installation (``installation_secret``:
32 random bytes, hex, in a 0600 file under ``$XDG_CONFIG_HOME/audit/`` or ``~/.config/audit/``,
``$AUDIT_PSEUDONYM_KEY`` naming another file for tests), so the same person has the same key in
every run and quarter, and no output holds the number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import stat
import tempfile
import unicodedata
from pathlib import Path

MIN_DIGITS = 11  # the shortest number masked (a mobile number)
_LONGEST = 18  # the longest (an ID); candidates never span more characters of digits
_GAP = re.compile(r"[\s\-_.\u00ad\u2010-\u2015\u2212\ufe58\ufe63\uff0d\u200b-\u200d\u2060\ufeff]{1,3}")
_GROUP = re.compile(r"[0-9]+[Xx]?")
_ID = re.compile(r"[1-9][0-9]{16}[0-9X]|[1-9][0-9]{14}")
_ID_LOST_CHECK = re.compile(r"[1-9][0-9]{16}")  # the check character follows from these 17 digits
# A float written in scientific notation with at least 11 significant digits: a whole number lost in
# a float column (repr of 110105194912310021.0 is 1.1010519491231002e+17).
_SCIENTIFIC = re.compile(r"(?<![0-9.])([1-9])\.([0-9]{10,17})[eE]\+?([0-9]{1,2})(?![0-9])")
_MOBILE = re.compile(r"(?:0086|86)?(1[3-9][0-9]{9})")
_MOBILE_GROUPINGS = {(11,), (3, 4, 4), (4, 3, 4), (3, 8), (7, 4)}
_INVISIBLE = {"Cc", "Cf", "Cs", "Co"}


class _Folding(dict[int, int]):
    """A ``str.translate`` table: every decimal digit (full-width, any script) to ASCII, full-width
    X and + to ASCII; one character for one, so positions in the folded text are the original's."""

    def __missing__(self, code: int) -> int:
        char = chr(code)
        value = ord(str(unicodedata.decimal(char))) if char.isdecimal() else code
        self[code] = value
        return value


_FOLD = _Folding({0xFF38: ord("X"), 0xFF58: ord("x"), 0xFF0B: ord("+")})


def mask_id(text: str) -> str:
    """371402********123X: the region and the last four characters, the rest starred."""
    if len(text) <= 10:
        return text[:2] + "*" * max(len(text) - 2, 0)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def mask_mobile(digits: str) -> str:
    """139****4321 for an 11-digit mobile number."""
    return digits[:3] + "****" + digits[-4:]


def mask_phone(text: str) -> str:
    """A phone column's value: a mobile number (country code dropped) as 139****4321, any other
    number with only its last four digits shown."""
    digits = "".join(ch for ch in text.translate(_FOLD) if "0" <= ch <= "9")
    mobile = _MOBILE.fullmatch(digits)
    if mobile:
        return mask_mobile(mobile.group(1))
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) > 4:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "*" * len(digits)


def mask_personal(text: str) -> str:
    """The text with every ID and mobile number in it masked; unchanged when it holds none.
    Idempotent: masking masked text changes nothing."""
    if sum(map(str.isdecimal, text)) < MIN_DIGITS:
        return text
    pieces: list[str] = []
    last = 0
    for start, end, masked, _ in _numbers(text.translate(_FOLD)):
        pieces += [text[last:start], masked]
        last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def holds_personal(text: str) -> bool:
    """Whether the text holds an ID or mobile number (an amount that is really a phone number)."""
    return mask_personal(text) != text


def visible(text: str) -> str:
    """Control and format characters (escape sequences, bidi overrides, zero-width characters)
    written as ``\\x1b``/``\\u202e``, so a message shows them instead of acting on a terminal or page."""
    if text.isprintable():
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in _INVISIBLE else ch for ch in text)


def shown(text: str, limit: int | None = None) -> str:
    """Batch text as a message may show it: masked, control characters escaped, cut to ``limit``
    characters (the last one an ellipsis when cut)."""
    if limit is None:
        return visible(mask_personal(text))
    text = visible(mask_personal(text[: limit + _LONGEST * 3]))  # a number across the cut is masked whole
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _numbers(folded: str) -> list[tuple[int, int, str, str]]:
    """(start, end, masked, digits) of every ID and mobile number in the folded text, left to
    right, its digits (and X) without spacing. A number in scientific notation that spells one
    once written out (its significant digits, then zeros) is found first, its digits not read
    again as groups."""
    found: list[tuple[int, int, str, str]] = []
    for match in _SCIENTIFIC.finditer(folded):
        significant = match.group(1) + match.group(2)
        length = int(match.group(3)) + 1
        if not MIN_DIGITS <= length <= _LONGEST or len(significant) < MIN_DIGITS:
            continue
        digits = significant[:length].ljust(length, "0")
        masked = _whole(digits)
        if masked is not None:
            found.append((match.start(), match.end(), masked, digits))
    for start, end, _, _ in found:
        folded = folded[:start] + "\x00" * (end - start) + folded[end:]
    for start, end, masked in _found(folded):
        found.append((start, end, masked, "".join(ch for ch in folded[start:end] if ch.isdigit() or ch in "Xx").upper()))
    return sorted(found)


def _whole(digits: str) -> str | None:
    """The masked form of a digit string that is, as a whole, an ID or a mobile number, else None."""
    if (_ID.fullmatch(digits) or _ID_LOST_CHECK.fullmatch(digits)) and _born(digits):
        return mask_id(digits)
    mobile = _MOBILE.fullmatch(digits)
    return mask_mobile(mobile.group(1)) if mobile is not None else None


def _found(folded: str):
    """(start, end, masked) of every ID and mobile number in the folded text, left to right."""
    for run in _runs(folded):
        i = 0
        while i < len(run):
            hit = _longest(run, i)
            if hit is None:
                i += 1
                continue
            start, end, masked, i = hit
            yield start, end, masked


def _runs(folded: str):
    """Digit groups joined by at most three separator characters (or directly after an X)."""
    run: list[re.Match[str]] = []
    for group in _GROUP.finditer(folded):
        if run and (group.start() == run[-1].end() or _GAP.fullmatch(folded, run[-1].end(), group.start())):
            run.append(group)
            continue
        if run:
            yield run
        run = [group]
    if run:
        yield run


def _longest(run: list[re.Match[str]], i: int):
    """The longest number starting at group ``i``: (start, end, masked, next group) or None."""
    ends: list[int] = []
    total = 0
    for j in range(i, len(run)):
        total += len(run[j].group())
        if total > _LONGEST + 1:  # an 18-digit number may be followed by an x that is not its own
            break
        ends.append(j)
    for j in reversed(ends):
        found = _classify(run[i : j + 1])
        if found is not None:
            return (*found, j + 1)
    return None


def _classify(groups: list[re.Match[str]]) -> tuple[int, int, str] | None:
    """(start, end, masked) when the groups spell an ID or a mobile number, else None. A trailing x
    may be an ID's check character or a letter after the number: both readings are tried."""
    texts = [g.group().upper() for g in groups]
    positions = [g.start() + k for g in groups for k in range(len(g.group()))]
    single = len(groups) == 1
    while True:
        digits = "".join(texts)
        if _ID.fullmatch(digits) and (single or _born(digits)):
            return positions[0], positions[-1] + 1, mask_id(digits)
        if _ID_LOST_CHECK.fullmatch(digits) and _born(digits):  # an ID that lost its final X
            return positions[0], positions[-1] + 1, mask_id(digits)
        mobile = _MOBILE.fullmatch(digits)
        if mobile is not None and (single or _grouped_like_a_mobile([len(t) for t in texts], mobile.start(1))):
            return positions[mobile.start(1)], positions[mobile.end(1) - 1] + 1, mask_mobile(mobile.group(1))
        if not digits.endswith("X"):
            return None
        texts[-1], positions = texts[-1][:-1], positions[:-1]


def _grouped_like_a_mobile(lengths: list[int], prefix: int) -> bool:
    """3-4-4 and the other usual groupings, a country code (86, 0086) standing as its own group."""
    if prefix:
        if lengths[0] != prefix:
            return False
        lengths = lengths[1:]
    return tuple(lengths) in _MOBILE_GROUPINGS


def _born(digits: str) -> bool:
    """Whether the ID's birth date (YYYYMMDD, or YYMMDD in a 15-digit ID) is a real date."""
    year, month, day = (
        (int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
        if len(digits) >= 17
        else (1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))
    )
    if not 1900 <= year <= 2099:
        return False
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


# --- pseudonyms ------------------------------------------------------------------------------------

SECRET_ENV = "AUDIT_PSEUDONYM_KEY"  # a path: another secret file (tests); never inside a batch or report
SECRET_NAME = "pseudonym.key"
PSEUDONYM_PREFIX = "ID-"
_SECRET_HEX = re.compile(r"[0-9a-f]{64}")


class SecretError(Exception):
    """The pseudonym secret cannot be read or made; the message says where and why (in Chinese)."""


def secret_path() -> Path:
    """Where the installation's pseudonym secret lives: ``$AUDIT_PSEUDONYM_KEY``, else
    ``$XDG_CONFIG_HOME/audit/pseudonym.key`` (an absolute XDG path only), else ``~/.config/audit/``."""
    override = os.environ.get(SECRET_ENV)
    if override:
        return Path(override)
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and Path(config).is_absolute() else Path.home() / ".config"
    return base / "audit" / SECRET_NAME


def installation_secret(batch: Path | None = None) -> bytes:
    """The installation's pseudonym secret, made on first use: written to a private temporary file
    and hard-linked into place, so two processes starting at once agree on one secret and no reader
    ever sees half a file. Refused (``SecretError``) inside the batch being read or inside a folder
    an audit command wrote (a report must never carry the key to its own pseudonyms)."""
    path = secret_path()
    _check_place(path, batch)
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".pseudonym-", suffix=".tmp", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)  # fails when another process made it first: theirs is used
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
        return _read_secret(path)
    except OSError as exc:
        raise SecretError(
            f"无法创建假名密钥文件 {path}：{exc.strerror or exc}（可设置环境变量 {SECRET_ENV} 指定其他位置）"
        ) from None


def pseudonym(number: str, secret: bytes) -> str:
    """The key of a member known only by an ID number: ``ID-`` and 16 hex digits (upper case) of
    HMAC-SHA-256(secret, number); the same number and secret always give the same pseudonym."""
    digest = hmac.new(secret, number.encode("ascii"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:16].upper()


# Between an identifier's masked text and its tag (`tag_personal`)
KEY_TAG = "#"


def tag_personal(text: str, secret: bytes) -> str:
    """An identifier holding an ID or mobile number (a 党员编号 that is a phone number) as the
    outputs keep it: masked as everywhere, then `#` and eight capital letters of an HMAC of its
    numbers, so two identifiers that mask alike (M13987654321 and M13911114321, both M139****4321)
    stay two, and the same numbers, however spaced, give the same identifier. Letters only, so the
    tag never joins the masked digits into a number. Unchanged when the text holds none."""
    if mask_personal(text) == text:
        return text
    canonical = _canonical(text)
    digest = hmac.new(secret, f"key\x1f{canonical}".encode(), hashlib.sha256).digest()
    return mask_personal(canonical) + KEY_TAG + "".join(chr(ord("A") + byte % 26) for byte in digest[:8])


def masked_key(text: str) -> str:
    """What `tag_personal` writes of an identifier before its tag (`13987654321`, `+86 139-8765-4321`:
    `139****4321`): how a reviewer's own code finds its tagged key without the secret."""
    return mask_personal(_canonical(text))


_COUNTRY_CODE = re.compile(r"\s*(?:(?:\+|00)?86[\s\-]*)?")
_FLOAT_END = re.compile(r"(?:\.0+)?\s*")


def _canonical(text: str) -> str:
    """An identifier with each ID and mobile number in it written as its bare digits: spacing
    dropped, a lower-case x upper-cased, a number in scientific notation written out, and a
    mobile number's country code (`+86 `, `0086`) or a float's `.0` dropped when the number is the
    whole identifier — so every way of writing one number is one identifier."""
    spans = _numbers(text.translate(_FOLD))
    pieces, last = [], 0
    for start, end, _, digits in spans:
        mobile = _MOBILE.fullmatch(digits)
        pieces += [text[last:start], mobile.group(1) if mobile else digits]
        last = end
    pieces.append(text[last:])
    if len(spans) == 1 and _COUNTRY_CODE.fullmatch(pieces[0]) and _FLOAT_END.fullmatch(pieces[2]):  # alone
        return pieces[1]
    return "".join(pieces)


def _read_secret(path: Path) -> bytes:
    """The secret in ``path`` (never through a symlink); FileNotFoundError when there is none yet."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise SecretError(f"无法读取假名密钥文件 {path}：{exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise SecretError(f"假名密钥文件 {path} 不是普通文件")
        text = handle.read(200).decode("ascii", "replace").strip()
    if not _SECRET_HEX.fullmatch(text):
        raise SecretError(f"假名密钥文件 {path} 内容不是工具生成的密钥；请勿修改它（删除后会生成新密钥，已有假名将全部改变）")
    return bytes.fromhex(text)


def _check_place(path: Path, batch: Path | None) -> None:
    """Refuse a secret inside the batch being read or inside an audit output folder (its marker)."""
    where = path.absolute().parent
    if batch is not None:
        inside = batch.absolute()
        if where == inside or inside in where.parents:
            raise SecretError(f"假名密钥文件 {path} 不能放在数据批次文件夹中（请设置 {SECRET_ENV} 指向其他位置）")
    for folder in (where, *where.parents):
        if (folder / ".audit-output.json").is_file():
            raise SecretError(f"假名密钥文件 {path} 不能放在报告或输出文件夹 {folder} 中（请设置 {SECRET_ENV} 指向其他位置）")
