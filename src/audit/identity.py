"""Who a row is about when exports carry no 党员编号 or 支部编号: the contract's `identity` groups.

``resolve_identities`` runs inside ``audit.ingest.ingest`` after every sheet is parsed and before
duplicate keys and references are checked, so the canonical tables downstream have `branch_id`
and `member_id` exactly as when the exports carry our ids (and nothing downstream changes).

Branches first. A branch's key is its code (支部编号, 党支部编码, 组织编码) when a row gives one,
else its name read by ``branch_name``: full-width folded, spaces removed, the `中共` prefix and the
`支部委员会`/`党支部`/`支部` endings reconciled, and the parent organisation's name (`新华街道` of
`新华街道党工委`) optional in front. A name is matched to the branches known by code (the branch
list, and rows giving code and name together), then the reviewer's mapping file (``branches``)
decides; a name matching two codes, or only resembling a known name, is not guessed: its rows are
quarantined and `audit inspect` lists it. Branches named or coded in other tables but missing from
the branch list are created, with a notice. A name written with two different codes is an error.

Then members. A member's key is the first present of 党员编号, a personnel number (学号, 工号,
工作证号, 学工号, 人员编号), the ID number — as its pseudonym (``audit.privacy.pseudonym``: the
number itself never leaves ingestion) — and 姓名 within the branch (``<branch>/<姓名>``, with a
notice). A row of another table links to the roster by the first identifier kind it and the roster
share (a dues sheet with 姓名 | 身份证号 links to a roster keyed by 工作证号 that also has 身份证号码);
a link by name alone gets a notice, and a name two members of one branch share is ambiguous: the
row is quarantined naming both, never guessed. 发展党员 (not yet members) are keyed the same way.

Between the two, meetings (``audit.meetings``): a meeting without 活动编号 is keyed from its branch,
type, date and topic, and an attendance row without one finds its meeting by the parts it gives.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from audit.contract import Column, Contract, Table
from audit.mapping import ReviewerMapping
from audit.privacy import holds_personal, mask_id, mask_personal, pseudonym, shown, tag_personal, visible
from audit.reasons import Action, Reason
from audit.values import cell_text, fold, id_check_char

ID_COLUMN = "_id_full"  # private: a row's ID number, normalised; dropped before ingestion returns
MEMBER_KINDS = ("member_id", "personnel_no", "id_number", "name")  # a member's key: the first present
KIND_LABELS = {"member_id": "党员编号", "personnel_no": "学工号", "id_number": "身份证号", "name": "姓名"}
ROWS_SHOWN = 10  # row numbers a notice lists
MAX_KEY_LENGTH = 64  # an identifier longer than this is not an id (and would not fit a page name)
KEY_SHOWN = 24  # characters of a refused identifier a message shows
_CPC_PREFIXES = ("中国共产党", "中共")
_BRANCH_ENDINGS = ("党支部委员会", "支部委员会", "党支部", "支部")  # longest first
_PARENT_ENDINGS = tuple(
    sorted(
        ("党工作委员会", "工作委员会", "党工委", "工委", "党委员会", "委员会", "党委", "党总支部委员会", "总支部委员会",
         "党总支部", "党总支", "总支部", "总支"),
        key=len,
        reverse=True,
    )
)  # fmt: skip
_SPACES = re.compile(r"\s+")
_ID_NOISE = re.compile(r"[\s\-_.\u2010-\u2015\u2212]")
_SEAL = "#"  # between the masked form and the pseudonym of a sealed ID number (never in a normalised one)


# --- ID numbers ----------------------------------------------------------------------------------


def normalise_id_number(raw: Any) -> str | None:
    """The 18-character form of an ID number as a key: separators and full-width digits folded, a
    lower-case x upper-cased, a 15-digit number widened (`19` and its check character), a lost
    final check character restored; None when the cell cannot identify anyone (a number Excel
    rounded, a wrong length). A wrong check digit is kept as written: it still names one person."""
    if raw is None or isinstance(raw, bool) or isinstance(raw, float) or (isinstance(raw, int) and raw > 10**15):
        return None
    text = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in fold(cell_text(raw)))
    text = _ID_NOISE.sub("", text).upper()
    if re.fullmatch(r"[0-9]{17}[0-9X]", text):
        return text
    if re.fullmatch(r"[0-9]{17}", text):
        return text + id_check_char(text)
    if re.fullmatch(r"[0-9]{15}", text):
        widened = text[:6] + "19" + text[6:]
        return widened + id_check_char(widened)
    return None


def seal_id_number(number: str, secret: bytes) -> str:
    """What the ingestion cache keeps of an ID number (never the number itself): its masked form and
    its pseudonym, ``110105********002X#ID-…``. `resolve_identities` reads a sealed number as it reads
    the number (same pseudonym, same masked form; two sealed numbers equal when the numbers are)."""
    return f"{mask_id(number)}{_SEAL}{pseudonym(number, secret)}"


def _id_pseudonym(value: str, secret: Callable[[], bytes]) -> str:
    """The pseudonym of an ID number, or of a sealed one (`seal_id_number`: no secret needed)."""
    _, mark, sealed = value.partition(_SEAL)
    return sealed if mark else pseudonym(value, secret())


def _id_masked(value: str) -> str:
    """The masked form of an ID number, or of a sealed one."""
    masked, mark, _ = value.partition(_SEAL)
    return masked if mark else mask_id(value)


# --- branch names --------------------------------------------------------------------------------


def squeeze(text: str) -> str:
    """Full-width folded, every space removed: `联兴集团党支部 ` and `联兴集团 党支部` are one spelling."""
    return _SPACES.sub("", fold(text))


def _without(text: str, prefixes: Iterable[str], endings: Iterable[str]) -> tuple[str, bool]:
    """``text`` without one of ``prefixes`` and one of ``endings`` (never down to nothing), and
    whether an ending was removed."""
    for prefix in prefixes:
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
            break
    for ending in endings:
        if text.endswith(ending) and len(text) > len(ending):
            return text[: -len(ending)], True
    return text, False


@dataclass(frozen=True)
class BranchName:
    """A branch name read for matching: ``written`` as the cell holds it (trimmed), ``core``
    without spaces, `中共` and the 支部 ending, ``parent`` the core of its parent organisation's
    name (`新华街道` of `中共新华街道工作委员会`) or ""."""

    written: str
    core: str
    ending: bool
    parent: str

    @property
    def stripped(self) -> str:
        """The core without the parent's name in front (`新华街道联兴集团` under 新华街道: `联兴集团`)."""
        p = self.parent
        return self.core[len(p) :] if p and self.core.startswith(p) and len(self.core) > len(p) else self.core

    @property
    def forms(self) -> frozenset[str]:
        """The spellings this name stands for: with and without its parent's name in front."""
        return frozenset({self.stripped, self.parent + self.stripped}) if self.parent else frozenset({self.core})

    @property
    def key(self) -> str:
        """The branch's key when it has no code: the full normalised name, ending as `党支部`."""
        return (self.parent + self.stripped if self.parent else self.core) + ("党支部" if self.ending else "")


def key_problem(text: str) -> str | None:
    """Why a (folded) text cannot serve as an identifier — a code as written, or the key a branch's
    name gives it — or None when it can."""
    if len(text) > MAX_KEY_LENGTH:
        return f"长度为 {len(text)} 个字符，超过上限 {MAX_KEY_LENGTH}"
    if not text.isprintable() and visible(text) != text:
        return "含有控制字符或不可见字符"
    return None


def branch_name(name: str, parent: str | None = None) -> BranchName:
    """Read a branch name (and its parent organisation's, when known) for matching."""
    core, ending = _without(squeeze(name), _CPC_PREFIXES, _BRANCH_ENDINGS)
    parent_core = _without(squeeze(parent), _CPC_PREFIXES, _PARENT_ENDINGS)[0] if parent else ""
    return BranchName(fold(name), core, ending, parent_core)


def same_branch(a: BranchName, b: BranchName) -> bool:
    """Whether two names denote one branch: equal once normalised, or equal but for the parent
    organisation's name in front; never when both give a parent and the parents differ."""
    if a.parent and b.parent and a.parent != b.parent:
        return False
    return bool(a.forms & b.forms)


def how_same(a: BranchName, b: BranchName) -> str:
    """Why ``a`` matched ``b``, in Chinese (for `audit inspect`)."""
    if a.written == b.written:
        return "名称相同"
    if a.core == b.core or squeeze(a.written) == squeeze(b.written):
        return "名称规范化后相同"
    return "去掉上级组织名后相同"


# --- what the resolution reports -------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """A problem the resolution found, in the terms of ``audit.ingest.Problem`` (which it becomes).
    An issue with ``Action.ROW`` stands for one quarantined source row, removed from its table."""

    table: str
    file: str
    sheet: str
    row: int | None
    column: str  # canonical column; ingestion shows the header as written
    value: str
    reason: Reason
    message: str
    action: Action


@dataclass
class Spelling:
    """One way the batch writes a branch: a code or a name (with its parent), and how it resolved."""

    text: str
    how: str  # 编号, 名称相同, 名称规范化后相同, 去掉上级组织名后相同, 映射文件第 N 行, 支部信息（无编号）, 新建
    rows: int
    where: str  # first place: file［sheet］第 n 行


@dataclass
class BranchEntry:
    """A branch as resolved: its key, the name it is shown with, and every spelling that named it."""

    key: str
    name: str | None
    listed: bool  # in the branch list (支部信息)
    created: bool = False  # not in the branch list: created from other tables' references (a notice)
    spellings: list[Spelling] = field(default_factory=list)


@dataclass
class UnresolvedBranch:
    """A branch name that was not guessed: its rows are quarantined until the mapping file says."""

    text: str
    candidates: list[str]  # keys it may mean, shown as `XH01（联兴集团党支部）`
    ambiguous: bool  # matches two or more branches (else: only resembles one)
    rows: int
    where: str


@dataclass
class IdentityReport:
    """What `audit inspect` shows of the resolution."""

    branches: list[BranchEntry] = field(default_factory=list)
    unresolved: list[UnresolvedBranch] = field(default_factory=list)
    keys: dict[str, dict[str, int]] = field(default_factory=dict)  # members/development -> key kind -> rows
    links: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> identifier kind -> rows it linked
    meetings: dict[str, int] = field(default_factory=dict)  # given / derived / matched ids, attendance rows linked
    attendance: dict[str, int] = field(default_factory=dict)  # attendance_source -> meetings; rows_from_text
    offices: dict[str, dict[str, int]] = field(default_factory=dict)  # office -> source (or "") -> branches


@dataclass(frozen=True)
class Derived:
    """A row a stage added to ``table`` that no sheet of that table holds: a branch created from the
    first reference to it, an attendance row from a meeting's 缺席人员 text. It keeps the
    ``_file``/``_sheet``/``_row`` of the source row it came from (a sheet of another table), so
    every table row stays traceable and the ingest report counts it in that source's ``rows_derived``."""

    table: str
    file: str
    sheet: str
    row: int | None


@dataclass
class Resolution:
    tables: dict[str, pl.DataFrame]
    issues: list[Issue]
    report: IdentityReport
    derived: list[Derived] = field(default_factory=list)  # the branches created


def where(file: str, sheet: str, row: int | None) -> str:
    place = f"{file}［{sheet}］" if sheet else file
    return f"{place} 第{row}行" if row is not None else place


def _rows_text(rows: list[int]) -> str:
    shown = "、".join(str(r) for r in rows[:ROWS_SHOWN])
    return f"第 {shown} 行" + ("等" if len(rows) > ROWS_SHOWN else "")


# --- the resolution ---------------------------------------------------------------------------------


def resolve_identities(
    contract: Contract,
    tables: dict[str, pl.DataFrame],
    *,
    quarantined_keys: dict[str, set[str]] | None = None,
    mapping: ReviewerMapping | None = None,
    secret: Callable[[], bytes],
) -> Resolution:
    """Fill every branch and member key and reference a sheet left to its `identity` columns, and
    drop the private ID column. ``secret`` is called (once) only when some member's only key is an
    ID number. Rows that cannot be resolved without guessing are removed, each with an ``Issue``."""
    resolver = _Resolver(contract, dict(tables), quarantined_keys or {}, mapping, secret)
    resolver.branches()
    resolver.meetings()
    resolver.members()
    for table, column in resolver.member_columns():
        resolver.reference(table, column)
    resolver.development()
    out = {name: frame.drop(ID_COLUMN, strict=False) for name, frame in resolver.tables.items()}
    return Resolution(out, resolver.issues, resolver.report, resolver.derived)


@dataclass
class _Branch:
    key: str
    names: list[BranchName]
    entry: BranchEntry


@dataclass(frozen=True)
class _Spot:
    """Where a branch spelling first appears, and how many rows write it."""

    table: str
    file: str
    sheet: str
    row: int | None
    rows: int
    name: str | None
    parent: str | None
    name_column: str = ""  # the column holding the name (where a notice about the name points)

    @property
    def place(self) -> str:
        return where(self.file, self.sheet, self.row)


@dataclass(frozen=True)
class _Record:
    """A row of the roster (or of 发展党员) as the key rules read it."""

    file: str
    sheet: str
    row: int
    name: str | None
    branch: str | None


# how a name written beside its code is listed (its rows are counted with the code's)
_BESIDE_CODE = ("支部信息中的名称", "与编号同行")
# who the key notices and homonym reasons speak of, per table, and the ids they lack
_WHO = {"members": ("党员", "党员编号、学工号或身份证号"), "development": ("发展对象", "人员编号、学工号或身份证号")}


class _Resolver:
    def __init__(self, contract, tables, quarantined_keys, mapping, secret):
        self.contract: Contract = contract
        self.tables: dict[str, pl.DataFrame] = tables
        self.quarantined: dict[str, set[str]] = quarantined_keys
        self.mapping: ReviewerMapping | None = mapping
        self._secret_source: Callable[[], bytes] = secret
        self._secret: bytes | None = None
        self.issues: list[Issue] = []
        self.derived: list[Derived] = []  # rows added to a table from another table's row
        self.report = IdentityReport()
        # branches
        self.registry: dict[str, _Branch] = {}
        self.by_form: dict[str, set[str]] = defaultdict(set)  # a name form -> keys of branches written so
        self.resolved_names: dict[tuple[str, str | None], str | None] = {}  # (name, parent) -> key, None: not guessed
        self.resolved_how: dict[tuple[str, str | None], str] = {}  # (name, parent) -> how it resolved
        self.unresolved_reason: dict[tuple[str, str | None], tuple[Reason, str]] = {}
        self.created: list[tuple[str, str, _Spot, bool]] = []  # key, what the notice names, first reference, by name
        self.context_names: dict[str, str | None] = {}
        # members: identifier kind -> value -> roster keys; (branch, name) for names
        self.roster: dict[str, dict[Any, list[str]]] = {k: defaultdict(list) for k in MEMBER_KINDS}
        self.by_name: dict[str, list[str]] = defaultdict(list)  # a name across the batch -> keys
        self.members_shown: dict[str, tuple[str, str]] = {}  # key -> (kind, value as shown)

    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = self._secret_source()
        return self._secret

    # --- branches ---------------------------------------------------------------------------------

    def branch_columns(self) -> list[tuple[Table, Column]]:
        """The branch list's own key first, then every reference to a branch, in contract order."""
        found: list[tuple[Table, Column]] = []
        for table in self.contract.tables.values():
            for column in table.columns.values():
                own = table.name == "branches" and column.name == "branch_id"
                if own or column.ref == "branches.branch_id":
                    found.append((table, column))
        found.sort(key=lambda tc: tc[0].name != "branches")
        return found

    def spots(self, table: Table, column: Column) -> list[tuple[str | None, _Spot]]:
        """Distinct (code, name, parent) of a branch column and its identity columns, in order of
        first appearance, each with its first place and number of rows."""
        frame = self.tables[table.name]
        if frame.is_empty():
            return []
        identity = column.identity or {}
        pick = {"code": column.name, "name": identity.get("name"), "parent": identity.get("parent")}
        exprs = [
            (pl.col(source) if source and source in frame.columns else pl.lit(None, pl.String)).alias(alias)
            for alias, source in pick.items()
        ]
        distinct = (
            frame.select(*exprs, "_file", "_sheet", "_row")
            .group_by("code", "name", "parent", maintain_order=True)
            .agg(pl.first("_file"), pl.first("_sheet"), pl.first("_row"), rows=pl.len())
        )
        name_column = identity.get("name", "")
        return [
            (code, _Spot(table.name, file, sheet, row, rows, name, parent, name_column))
            for code, name, parent, file, sheet, row, rows in distinct.iter_rows()
        ]

    def register(self, key: str, name: BranchName | None, *, listed: bool, title: str | None) -> _Branch:
        """The known branch ``key`` (made when new), with ``name`` as one more of its spellings."""
        branch = self.registry.get(key)
        if branch is None:
            branch = _Branch(key, [], BranchEntry(key, title, listed))
            self.registry[key] = branch
            self.report.branches.append(branch.entry)
        if name is not None and name not in branch.names:
            branch.names.append(name)
            for form in name.forms:
                self.by_form[form].add(key)
        if branch.entry.name is None and title:
            branch.entry.name = title
        return branch

    def candidates(self, name: BranchName) -> list[str]:
        """Keys of the known branches ``name`` denotes, in order of registration."""
        keys = set().union(*(self.by_form.get(f, set()) for f in name.forms))
        hits = {k for k in keys if any(same_branch(name, n) for n in self.registry[k].names)}
        return [k for k in self.registry if k in hits]

    def resembling(self, name: BranchName) -> list[str]:
        """Keys of known branches whose name merely resembles ``name``: one core inside the other."""
        found = []
        for key, branch in self.registry.items():
            for other in branch.names:
                a, b = name.stripped, other.stripped
                if min(len(a), len(b)) >= 2 and a != b and (a in b or b in a):
                    found.append(key)
                    break
        return found

    def mapped(self, name: BranchName) -> tuple[str, int] | None:
        """The reviewer's key for a name (mapping file ``branches``) and its line; a key holding an
        ID or mobile number masked and tagged as the exports' keys are (`privacy.tag_personal`)."""
        for alias in self.mapping.branches if self.mapping else ():
            written = branch_name(alias.spelling)
            if squeeze(written.written) == squeeze(name.written) or (written.core == name.core and written.ending == name.ending):
                key = tag_personal(alias.key, self.secret()) if holds_personal(alias.key) else alias.key
                return key, alias.line
        return None

    def shown_branch(self, key: str | None) -> str:
        """A branch key as messages show it: `XH01（联兴集团党支部）`."""
        if key is None:
            return "未知支部"
        branch = self.registry.get(key)
        name = branch.entry.name if branch else None
        return f"{key}（{name}）" if name and squeeze(name) != key else key

    def branches(self) -> None:
        """Resolve every branch code and name of the batch, then write the keys into the tables."""
        columns = self.branch_columns()
        coded: list[tuple[str, BranchName, _Spot]] = []
        named: list[_Spot] = []
        for table, column in columns:
            listed = table.name == "branches"
            for code, spot in self.spots(table, column):
                name = branch_name(spot.name, spot.parent) if spot.name else None
                if code is None:
                    if name is not None:
                        named.append(spot)
                    continue
                known = code in self.registry
                if not listed and not known and code in self.quarantined.get("branches", set()):
                    continue  # the branch list's row was quarantined: the reference check says so
                branch = self.register(code, name, listed=listed, title=spot.name if listed or not known else None)
                if not listed and not known:
                    branch.entry.created = True
                    self.created.append((code, f"支部编号 {code}", spot, False))
                self.spell(code, code, "编号", spot)
                if name is not None and spot.name is not None:
                    self.spell(code, spot.name, _BESIDE_CODE[0] if listed else _BESIDE_CODE[1], spot)
                    coded.append((code, name, spot))
        self.conflicts(coded)
        for spot in named:
            self.resolve_name(spot)
        self.apply_branches(columns)

    def spell(self, key: str, text: str, how: str, spot: _Spot) -> None:
        """Record one more spelling of branch ``key`` (rows add up per spelling and how)."""
        entry = self.registry[key].entry
        for known in entry.spellings:
            if known.text == text and known.how == how:
                known.rows += spot.rows
                return
        entry.spellings.append(Spelling(text, how, spot.rows, spot.place))

    def conflicts(self, coded: list[tuple[str, BranchName, _Spot]]) -> None:
        """A name written with two different codes: an error at the later place, naming both."""
        by_form: dict[str, list[int]] = defaultdict(list)
        for index, (_, name, _) in enumerate(coded):
            for form in name.forms:
                by_form[form].append(index)
        reported: set[tuple[str, ...]] = set()
        for indices in by_form.values():
            for i in indices:
                for j in indices:
                    code_i, name_i, spot_i = coded[i]
                    code_j, name_j, spot_j = coded[j]
                    if i >= j or code_i == code_j or not same_branch(name_i, name_j):
                        continue
                    pair = (squeeze(name_j.written), *sorted((code_i, code_j)))
                    if pair in reported:
                        continue
                    reported.add(pair)
                    codes = "、".join(sorted((code_i, code_j)))
                    reason = Reason.BRANCH_NAME_CONFLICT
                    message = reason.render(value=name_j.written, codes=codes, where=spot_i.place, code=code_j)
                    self.issues.append(
                        Issue(
                            spot_j.table,
                            spot_j.file,
                            spot_j.sheet,
                            spot_j.row,
                            "branch_name",
                            name_j.written,
                            reason,
                            message,
                            Action.NOTE,
                        )
                    )

    def resolve_name(self, spot: _Spot) -> None:
        """A name without a code: the mapping file, else the one branch it denotes, else (branch
        list) a branch of its own, else created — or not guessed (ambiguous, or only resembling)."""
        assert spot.name is not None
        key_of = (spot.name, spot.parent)
        if key_of in self.resolved_names:
            key = self.resolved_names[key_of]
            if key is not None:
                self.spell(key, spot.name, self.resolved_how[key_of], spot)
            else:  # not guessed (listed by `audit inspect`), or no usable key (quarantined only)
                for entry in self.report.unresolved:
                    if entry.text == spot.name:
                        entry.rows += spot.rows
                        break
            return
        name = branch_name(spot.name, spot.parent)
        listed = spot.table == "branches"
        mapped = self.mapped(name)
        if mapped is not None:
            key, line = mapped
            if key not in self.registry:
                self.register(key, name, listed=listed, title=spot.name).entry.created = not listed
                if not listed:
                    self.created.append((key, f"映射文件第 {line} 行指定的支部 {key}", spot, True))
            self.register(key, name, listed=listed, title=None)
            self.resolved(key_of, key, f"映射文件第 {line} 行", spot)
            return
        found = self.candidates(name)
        if len(found) == 1:
            best = next(n for n in self.registry[found[0]].names if same_branch(name, n))
            self.register(found[0], name, listed=listed, title=None)
            self.resolved(key_of, found[0], how_same(name, best), spot)
            return
        if len(found) > 1:
            self.not_guessed(key_of, spot, found, Reason.BRANCH_AMBIGUOUS)
            return
        similar = [] if listed else self.resembling(name)
        if similar:
            self.not_guessed(key_of, spot, similar, Reason.BRANCH_UNRESOLVED)
            return
        key = name.key
        why = key_problem(key)
        if why is not None:  # a hostile or garbled name is no key: its rows are quarantined
            self.resolved_names[key_of] = None
            message = Reason.BAD_KEY.render(label="按支部名称生成的编号", value=shown(key, KEY_SHOWN), why=why)
            self.unresolved_reason[key_of] = (Reason.BAD_KEY, message)
            return
        branch = self.register(key, name, listed=listed, title=spot.name)
        if listed:
            self.resolved(key_of, key, "支部信息（无编号，按名称）", spot)
        else:
            branch.entry.created = True
            self.resolved(key_of, key, "按名称", spot)
            self.created.append((key, f"支部「{squeeze(spot.name)}」", spot, True))

    def resolved(self, key_of: tuple[str, str | None], key: str, how: str, spot: _Spot) -> None:
        self.resolved_names[key_of] = key
        self.resolved_how[key_of] = how
        assert spot.name is not None
        self.spell(key, spot.name, how, spot)

    def not_guessed(self, key_of: tuple[str, str | None], spot: _Spot, keys: list[str], reason: Reason) -> None:
        """A name left unresolved: its rows are quarantined and `audit inspect` lists it."""
        assert spot.name is not None
        self.resolved_names[key_of] = None
        shown = [self.shown_branch(k) for k in keys]
        ambiguous = reason is Reason.BRANCH_AMBIGUOUS
        self.report.unresolved.append(UnresolvedBranch(spot.name, shown, ambiguous, spot.rows, spot.place))
        self.unresolved_reason[key_of] = (reason, reason.render(value=squeeze(spot.name), keys="、".join(shown)))

    def apply_branches(self, columns: list[tuple[Table, Column]]) -> None:
        """Write the resolved keys into every branch column; quarantine the rows of names not
        resolved; add the created branches to the branch list, each with a notice."""
        for table, column in columns:
            frame = self.tables[table.name]
            identity = column.identity or {}
            name_col, parent_col = identity.get("name"), identity.get("parent")
            if frame.is_empty() or name_col not in frame.columns or frame[column.name].null_count() == 0:
                continue
            parent = pl.col(parent_col) if parent_col in frame.columns else pl.lit(None, pl.String)
            pairs = frame.select(pl.col(name_col).alias("_name"), parent.alias("_parent")).unique(maintain_order=True)
            keys = [self.resolved_names.get((n, p)) if n is not None else None for n, p in pairs.iter_rows()]
            lookup = pairs.with_columns(pl.Series("_key", keys, dtype=pl.String))
            frame = frame.with_columns(pl.col(name_col).alias("_name"), parent.alias("_parent")).join(
                lookup, on=["_name", "_parent"], how="left", nulls_equal=True, maintain_order="left"
            )
            bad = frame.filter(pl.col(column.name).is_null() & pl.col("_key").is_null() & pl.col("_name").is_not_null())
            for row in _source_rows(bad):
                reason, message = self.unresolved_reason[(row["_name"], row["_parent"])]
                self.issues.append(
                    Issue(
                        table.name, row["_file"], row["_sheet"], row["_row"], name_col, row["_name"], reason, message, Action.ROW
                    )
                )
            frame = frame.with_columns(pl.coalesce(column.name, "_key").alias(column.name))
            self.tables[table.name] = _without_rows(frame, bad).drop("_key", "_name", "_parent")
        rows = []
        for key, what, spot, by_name in self.created:
            entry = self.registry[key].entry
            total = sum(s.rows for s in entry.spellings if s.how not in _BESIDE_CODE)  # a row counted once
            message = Reason.BRANCH_CREATED.render(what=what, key=key, where=spot.place, rows=total)
            where, value = (spot.name_column, spot.name or key) if by_name else ("branch_id", key)
            self.issues.append(
                Issue(spot.table, spot.file, spot.sheet, spot.row, where, value, Reason.BRANCH_CREATED, message, Action.NOTE)
            )
            rows.append(
                {
                    "branch_id": key,
                    "branch_name": spot.name,
                    "parent_org": spot.parent,
                    "_file": spot.file,
                    "_sheet": spot.sheet,
                    "_row": spot.row,
                }
            )
            self.derived.append(Derived("branches", spot.file, spot.sheet, spot.row))
        if rows:
            branches = self.tables["branches"]
            added = pl.DataFrame(rows, schema={c: branches.schema[c] for c in rows[0]})
            self.tables["branches"] = pl.concat([branches, added], how="diagonal_relaxed").select(branches.columns)

    def branch_of_name(self, name: str | None) -> str | None:
        """The key of a branch a context column names (dues' 所属党支部), without creating any."""
        if not name:
            return None
        if name not in self.context_names:
            key = next((k for (n, _), k in self.resolved_names.items() if n == name and k is not None), None)
            if key is None:
                written = branch_name(name)
                mapped = self.mapped(written)
                found = [mapped[0]] if mapped is not None else self.candidates(written)
                key = found[0] if len(found) == 1 and found[0] in self.registry else None
            self.context_names[name] = key
        return self.context_names[name]

    # --- meetings ---------------------------------------------------------------------------------

    def meetings(self) -> None:
        """Meeting rows without 活动编号 keyed from branch, type, date and topic; attendance rows
        without one linked to the meeting they name (``audit.meetings``)."""
        from audit.meetings import derive_meeting_ids, link_attendance  # audit.meetings builds on this module

        if "meetings" not in self.tables:
            return
        meetings, issues, counts = derive_meeting_ids(self.contract.tables["meetings"], self.tables["meetings"])
        self.tables["meetings"] = meetings
        self.issues += issues
        if "attendance" in self.tables:
            table = self.contract.tables["attendance"]
            attendance, found, linked = link_attendance(table, self.tables["attendance"], meetings, self.branch_of_name)
            gone = [(i.file, i.sheet, i.row) for i in found if i.action is Action.ROW]
            if gone:
                rows = pl.DataFrame(gone, schema={"_file": pl.String, "_sheet": pl.String, "_row": pl.Int64}, orient="row")
                attendance = _without_rows(attendance, rows)
            self.tables["attendance"] = attendance
            self.issues += found
            counts["attendance_linked"] = linked
        self.report.meetings = {k: v for k, v in counts.items() if v}

    # --- members ----------------------------------------------------------------------------------

    def members(self) -> None:
        """Each roster row's key (the first present of 党员编号, personnel number, ID number as its
        pseudonym, 姓名 in the branch); rows keyed by a name their branch shares are quarantined."""
        frame = self.tables["members"]
        kinds: dict[str, int] = defaultdict(int)
        self.report.keys["members"] = kinds
        if frame.is_empty():
            return
        cols = ["member_id", "personnel_no", ID_COLUMN, "name", "branch_id", "id_number", "_file", "_sheet", "_row"]
        rows = frame.select([pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in cols]).rows()
        keyed: list[tuple[str, str, str]] = []
        for member_id, personnel, full_id, name, branch, masked, _file, _sheet, _number in rows:
            if member_id is not None:
                keyed.append((member_id, "member_id", member_id))
            elif personnel is not None:
                keyed.append((personnel, "personnel_no", personnel))
            elif full_id is not None:
                keyed.append((_id_pseudonym(full_id, self.secret), "id_number", masked or _id_masked(full_id)))
            else:
                keyed.append((f"{branch}/{name}", "name", f"{name}（{self.shown_branch(branch)}）"))
        refused = self.refused_keys("members", keyed, [(r[6], r[7], r[8]) for r in rows])
        keys: list[str] = []
        records: list[_Record] = []
        for index, (member_id, personnel, full_id, name, branch, _masked, file, sheet, number) in enumerate(rows):
            if index in refused:
                keys.append(keyed[index][0])
                records.append(_Record(file, sheet, number, None, None))
                continue
            key, kind, shown = keyed[index]
            kinds[kind] += 1
            keys.append(key)
            records.append(
                _Record(file, sheet, number, name, branch) if kind == "name" else _Record(file, sheet, number, None, None)
            )
            self.members_shown.setdefault(key, (kind, mask_personal(shown)))
            for k, value in (("member_id", member_id), ("personnel_no", personnel), ("id_number", full_id)):
                if value is not None and key not in self.roster[k][value]:
                    self.roster[k][value].append(key)
            if name is not None:
                if key not in self.roster["name"][(branch, name)]:
                    self.roster["name"][(branch, name)].append(key)
                if key not in self.by_name[name]:
                    self.by_name[name].append(key)
        frame = frame.with_columns(pl.Series("member_id", keys, dtype=pl.String))
        if refused:
            frame = frame.filter(~pl.int_range(pl.len()).is_in(sorted(refused)))
            records = [r for i, r in enumerate(records) if i not in refused]
        self.tables["members"] = self.named_keys("members", frame, records)

    def refused_keys(self, table: str, keyed: list[tuple[str, str, str]], places: list[tuple[str, str, int]]) -> set[int]:
        """The rows (indices) whose key cannot be used, each with an issue quarantining it: a key
        made of 姓名 and branch that is too long or holds control characters (BAD_KEY, as a code
        would be), and a key that another row gets from an identifier of a stronger kind (党员编号
        1001 and 工号 1001 in one roster: the 工号 row would take the other member's records). The
        row keyed by the weaker kind is refused, naming the other; equal kinds are duplicates, which
        the duplicate check reports."""
        refused: set[int] = set()
        strongest: dict[str, tuple[int, int]] = {}  # key -> (rank of the strongest kind giving it, its row)
        for index, (key, kind, _) in enumerate(keyed):
            rank = MEMBER_KINDS.index(kind)
            if key not in strongest or rank < strongest[key][0]:
                strongest[key] = (rank, index)
        for index, (key, kind, shown_key) in enumerate(keyed):
            file, sheet, number = places[index]
            why = key_problem(key) if kind == "name" else None
            if why is not None:
                message = Reason.BAD_KEY.render(label="按支部和姓名生成的编号", value=shown(key, KEY_SHOWN), why=why)
                self.issues.append(
                    Issue(table, file, sheet, number, "name", shown(key, KEY_SHOWN), Reason.BAD_KEY, message, Action.ROW)
                )
                refused.add(index)
                continue
            rank, other = strongest[key]
            if rank < MEMBER_KINDS.index(kind):
                other_kind = keyed[other][1]
                message = Reason.MEMBER_KEY_COLLISION.render(
                    kind=KIND_LABELS[kind],
                    value=shown_key,
                    other_kind=KIND_LABELS[other_kind],
                    where=where(*places[other]),
                )
                column = {"personnel_no": "personnel_no", "id_number": "id_number", "name": "name"}[kind]
                self.issues.append(
                    Issue(table, file, sheet, number, column, shown_key, Reason.MEMBER_KEY_COLLISION, message, Action.ROW)
                )
                refused.add(index)
        return refused

    def named_keys(self, table: str, frame: pl.DataFrame, records: list[_Record]) -> pl.DataFrame:
        """Rows keyed by 姓名 in their branch: one notice per sheet; two such rows with one name in
        one branch cannot be told apart — both quarantined, each naming the other."""
        who, ids = _WHO[table]
        groups: dict[tuple[str | None, str], list[int]] = defaultdict(list)
        for index, record in enumerate(records):
            if record.name is not None:
                groups[(record.branch, record.name)].append(index)
        removed: set[int] = set()
        for (branch, name), indices in groups.items():
            if len(indices) < 2:
                continue
            places = "、".join(where(records[i].file, records[i].sheet, records[i].row) for i in indices)
            shown = self.shown_branch(branch)
            message = Reason.MEMBER_HOMONYM.render(branch=shown, count=len(indices), who=who, value=name, where=places, ids=ids)
            for i in indices:
                r = records[i]
                self.issues.append(Issue(table, r.file, r.sheet, r.row, "name", name, Reason.MEMBER_HOMONYM, message, Action.ROW))
                removed.add(i)
        by_sheet: dict[tuple[str, str], set[int]] = defaultdict(set)
        for indices in groups.values():
            for i in indices:
                if i not in removed:
                    by_sheet[(records[i].file, records[i].sheet)].add(records[i].row)
        for (file, sheet), numbers in sorted(by_sheet.items()):
            ordered = sorted(numbers)
            message = Reason.MEMBER_NAME_KEY.render(count=len(ordered), who=who, ids=ids, rows=_rows_text(ordered))
            self.issues.append(Issue(table, file, sheet, ordered[0], "name", "", Reason.MEMBER_NAME_KEY, message, Action.NOTE))
        if not removed:
            return frame
        return frame.filter(~pl.int_range(pl.len()).is_in(sorted(removed)))

    # --- references to members --------------------------------------------------------------------

    def member_columns(self) -> list[tuple[Table, Column]]:
        """Every reference to a member that may be given by another identifier, in contract order."""
        return [
            (table, column)
            for table in self.contract.tables.values()
            for column in table.columns.values()
            if column.ref == "members.member_id" and column.identity
        ]

    def row_branches(self, table: Table, column: Column, frame: pl.DataFrame) -> list[str | None]:
        """The branch each row is about, where the table says: its own branch column, the branch
        its context column names, or (attendance) its meeting's branch."""
        context = (column.identity or {}).get("branch")
        if "branch_id" in table.columns and "branch_id" in frame.columns:
            return frame["branch_id"].to_list()
        if context and context in frame.columns:
            return [self.branch_of_name(v) for v in frame[context].to_list()]
        meetings = self.tables.get("meetings")
        if "meeting_id" in frame.columns and meetings is not None and not meetings.is_empty():
            branch_of = meetings.select("meeting_id", pl.col("branch_id").alias("_branch")).unique("meeting_id", keep="first")
            return (
                frame.select("meeting_id")
                .join(branch_of, on="meeting_id", how="left", maintain_order="left")["_branch"]
                .to_list()
            )
        return [None] * frame.height

    def reference(self, table: Table, column: Column) -> None:
        """Link the rows of one member reference that a 党员编号 the roster uses does not already:
        by the first identifier kind the row and the roster share."""
        frame = self.tables[table.name]
        identity = column.identity or {}
        sources = {
            "member_id": column.name,
            "personnel_no": identity.get("personnel_no"),
            "id_number": ID_COLUMN if identity.get("id_number") else None,
            "name": identity.get("name"),
        }
        present = {kind: c for kind, c in sources.items() if c and c in frame.columns}
        alternatives = [c for kind, c in present.items() if kind != "member_id"]
        blame = {**present, "id_number": identity.get("id_number", "")}  # the column an issue points at
        if frame.is_empty() or not alternatives:
            return
        roster_kinds = [k for k in MEMBER_KINDS if self.roster[k]]
        todo = pl.col(column.name).is_null() if "member_id" in roster_kinds else pl.lit(True)
        todo = todo & pl.any_horizontal([pl.col(c).is_not_null() for c in alternatives])
        flags = frame.select(todo.alias("todo"))["todo"].to_list()
        if not any(flags):
            return
        values = frame.select([pl.col(c) for c in present.values()]).rows()
        places = frame.select("_file", "_sheet", "_row").rows()
        branches = self.row_branches(table, column, frame)
        out = frame[column.name].to_list()
        removed: set[tuple[str, str, int]] = set()
        blamed: set[tuple[str, str, int]] = set()
        links: dict[str, int] = self.report.links.setdefault(f"{table.name}.{column.name}", defaultdict(int))
        by_name: dict[tuple[str, str], set[int]] = defaultdict(set)
        kinds = list(present)
        for index, flag in enumerate(flags):
            if not flag:
                continue
            row = dict(zip(kinds, values[index], strict=True))
            file, sheet, number = places[index]
            kind, key, problem = self.link(row, branches[index], roster_kinds)
            if kind is None:
                continue  # a 党员编号 the roster does not carry: the reference check reports it
            if key is not None:
                out[index] = key
                links[kind] += 1
                if kind == "name":
                    by_name[(file, sheet)].add(number)
                continue
            if problem is None or (file, sheet, number) in blamed:
                continue
            blamed.add((file, sheet, number))
            reason, value, message = problem
            action = Action.ROW if column.required else Action.VALUE
            self.issues.append(Issue(table.name, file, sheet, number, blame[kind], value, reason, message, action))
            if column.required:
                removed.add((file, sheet, number))
        scoped = any(b is not None for b in branches)
        for (file, sheet), numbers in sorted(by_name.items()):
            ordered = sorted(numbers)
            message = Reason.MEMBER_NAME_LINK.render(
                count=len(ordered), label=column.label, scope="（在所属支部中）" if scoped else "", rows=_rows_text(ordered)
            )
            self.issues.append(
                Issue(table.name, file, sheet, ordered[0], present["name"], "", Reason.MEMBER_NAME_LINK, message, Action.NOTE)
            )
        frame = frame.with_columns(pl.Series(column.name, out, dtype=pl.String))
        if removed:
            gone = pl.DataFrame(list(removed), schema={"_file": pl.String, "_sheet": pl.String, "_row": pl.Int64}, orient="row")
            frame = _without_rows(frame, gone)
        self.tables[table.name] = frame

    def link(
        self, row: dict[str, Any], branch: str | None, roster_kinds: list[str]
    ) -> tuple[str | None, str | None, tuple[Reason, str, str] | None]:
        """(kind, roster key, None) for a row linked by the first identifier kind it shares with
        the roster; (kind, None, (reason, value, message)) when that kind finds no one or several;
        (None, None, None) for a 党员编号 left to the reference check."""
        given = [k for k in MEMBER_KINDS if row.get(k) is not None]
        shared = [k for k in given if k in roster_kinds]
        if not shared:
            if "member_id" in given:
                return None, None, None
            have = "、".join(KIND_LABELS[k] for k in given)
            roster = "、".join(KIND_LABELS[k] for k in roster_kinds) or "批次中没有可用的党员名册"
            message = Reason.MEMBER_NO_SHARED_KEY.render(have=have, roster=roster)
            return given[0], None, (Reason.MEMBER_NO_SHARED_KEY, _shown_value(given[0], row), message)
        kind = shared[0]
        value = row[kind]
        if kind == "name" and branch is not None:
            keys = self.roster["name"].get((branch, value), [])
        elif kind == "name":
            keys = self.by_name.get(value, [])
        else:
            keys = self.roster[kind].get(value, [])
        if not keys and kind == "name":  # a number in a name column (`授课人` 20010001)
            for other in ("member_id", "personnel_no"):
                if len(found := self.roster[other].get(value, [])) == 1:
                    return other, found[0], None
        if len(keys) == 1:
            return kind, keys[0], None
        shown = _shown_value(kind, row)
        if not keys:
            if kind == "member_id":
                return None, None, None
            text = f"{shown}（{self.shown_branch(branch)}）" if kind == "name" and branch is not None else shown
            return kind, None, (Reason.DANGLING_REF, shown, Reason.DANGLING_REF.render(label=KIND_LABELS[kind], value=text))
        scope = f"在支部 {self.shown_branch(branch)} " if kind == "name" and branch is not None else ""
        named = "、".join(self.shown_member(k) for k in keys)
        message = Reason.MEMBER_AMBIGUOUS.render(kind=KIND_LABELS[kind], value=shown, scope=scope, count=len(keys), keys=named)
        return kind, None, (Reason.MEMBER_AMBIGUOUS, shown, message)

    def shown_member(self, key: str) -> str:
        """A roster key as messages show it: `学工号 20010001`, `身份证号 110105********002X`, …"""
        kind, shown = self.members_shown.get(key, ("member_id", key))
        return f"{KIND_LABELS[kind]} {shown}"

    # --- development: people who are not members yet -----------------------------------------------

    def development(self) -> None:
        """发展党员 keyed like members: 人员编号 (or a personnel number), ID number, 姓名 in the branch."""
        frame = self.tables.get("development")
        kinds: dict[str, int] = defaultdict(int)
        self.report.keys["development"] = kinds
        if frame is None or frame.is_empty():
            return
        cols = ["person_id", ID_COLUMN, "name", "branch_id", "_file", "_sheet", "_row"]
        rows = frame.select([pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in cols]).rows()
        keys: list[str] = []
        records: list[_Record] = []
        keyed: list[tuple[str, str, str]] = []
        for person, full_id, name, branch, _file, _sheet, _number in rows:
            if person is not None:
                keyed.append((person, "member_id", person))
            elif full_id is not None:
                keyed.append((_id_pseudonym(full_id, self.secret), "id_number", _id_masked(full_id)))
            else:
                keyed.append((f"{branch}/{name}", "name", f"{name}（{self.shown_branch(branch)}）"))
        refused = self.refused_keys("development", keyed, [(r[4], r[5], r[6]) for r in rows])
        for index, (_person, _full_id, name, branch, file, sheet, number) in enumerate(rows):
            key, kind, _ = keyed[index]
            if index not in refused:
                kinds[kind] += 1
            keys.append(key)
            records.append(_Record(file, sheet, number, name if kind == "name" and index not in refused else None, branch))
        if kinds["member_id"] == frame.height:
            return
        frame = frame.with_columns(pl.Series("person_id", keys, dtype=pl.String))
        if refused:
            frame = frame.filter(~pl.int_range(pl.len()).is_in(sorted(refused)))
            records = [r for i, r in enumerate(records) if i not in refused]
        self.tables["development"] = self.named_keys("development", frame, records)


def members_by_name(members: pl.DataFrame) -> dict[tuple[str | None, str], list[str]]:
    """The roster's member keys by (branch, 姓名): how names in free text (缺席人员) are matched
    within a branch once the tables are final; several keys for one pair are homonyms."""
    found: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    if members.is_empty():
        return found
    for key, branch, name in members.select("member_id", "branch_id", "name").iter_rows():
        if name is not None and key not in found[(branch, name)]:
            found[(branch, name)].append(key)
    return found


def member_labels(members: pl.DataFrame) -> Callable[[str], str]:
    """How messages show a roster key once the tables are final: `学工号 20010001`,
    `身份证号 110105********002X` (the pseudonym never), `张伟（XH01）`, `党员编号 M001`."""
    shown: dict[str, str] = {}
    if not members.is_empty():
        cols = [c for c in ("member_id", "personnel_no", "id_number", "name", "branch_id") if c in members.columns]
        for row in members.select(cols).iter_rows(named=True):
            key = row["member_id"]
            if key == row.get("personnel_no"):
                shown[key] = f"{KIND_LABELS['personnel_no']} {key}"
            elif key.startswith("ID-") and row.get("id_number"):
                shown[key] = f"{KIND_LABELS['id_number']} {row['id_number']}"
            elif key == f"{row.get('branch_id')}/{row.get('name')}":
                shown[key] = f"{row['name']}（{row['branch_id']}）"
            else:
                shown[key] = f"{KIND_LABELS['member_id']} {key}"

    def label(key: str) -> str:
        return shown.get(key, mask_personal(key))

    return label


def _shown_value(kind: str, row: dict[str, Any]) -> str:
    """An identifier as a message may show it (an ID number masked)."""
    value = row[kind]
    return _id_masked(value) if kind == "id_number" else mask_personal(str(value))


def _source_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The first row of each source row (file, sheet, row) of ``frame``, in order."""
    if frame.is_empty():
        return []
    return frame.unique(["_file", "_sheet", "_row"], keep="first", maintain_order=True).to_dicts()


def _without_rows(frame: pl.DataFrame, bad: pl.DataFrame) -> pl.DataFrame:
    """``frame`` without every row read from a source row of ``bad``."""
    if bad.is_empty():
        return frame
    gone = bad.select("_file", "_sheet", "_row").unique()
    return frame.join(gone, on=["_file", "_sheet", "_row"], how="anti", nulls_equal=True, maintain_order="left")
