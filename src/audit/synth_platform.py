"""The platform style of the synthetic sub-district (``audit synth --style platform``).

The same world ``audit.synth`` generates — the same members, meetings, dues, points and planted
violations — written the way party-building platforms and hand-kept 台账 templates write it:

- BIFF ``.xls`` (xlwt: the branch list, points, dues, venues) and ``.xlsx`` workbooks, with
  merged title rows, notes blocks (填表说明) and footers (制表人, 合计);
- members keyed by 工作证号 with their 身份证号码, never a 党员编号; the evaluations name members only
  by 姓名 and 身份证号码; recruitment cases have no number at all (keyed by the ID number);
- branches by code (党支部编码, 支部编号) in some files and only by name in others, spelled
  ``中共新华街道联兴集团支部委员会``, ``联兴集团党支部 `` or ``新华街道联兴集团党支部``;
- for some branches (``COUNTS_ONLY``) meetings without a 会议编号, with 应到/实到/请假人数 and a
  ``缺席人员及原因`` text instead of an attendance list;
- dues as a wide sheet per year (a row per member, ``1月`` … ``12月``) whose year is only in the
  title, and members present for part of a year in a month-range sheet: amounts only, no collector;
  except for some branches (``COLLECTOR_LEDGERS``) that keep a hand-written 党费收缴登记表 of their
  own, one row per payment with its 缴费日期 and 经手人 (the only place a per-payment collector fits:
  a wide sheet has one cell per month and person), so SM-10 is judged there and 无法评估 elsewhere;
- the committee list (支部委员会成员, 任职时间 and 离任时间), so an organizer's change is dated;
- evaluations in sheets named by year (``2019年民主评议``) without a year column;
- no points export for one branch (``NO_POINTS``).

One function per file turns the canonical rows into that file's sheets (``Sheet``); ``write_platform``
renders them and writes the truth of what it wrote beside the batch: ``violations.csv`` (the planted
violations, each with the key its subject has in these exports and whether the exported data still
shows it), ``defects.csv`` (every planted defect and every row that is not data, with the reason code
ingestion must give it) and ``ingest_report.csv`` (the rows every sheet must read, accept, quarantine
and skip, and the attendance rows a counts-only meeting sheet's 缺席人员 text must give).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.synth import World, _id_number

COUNTS_ONLY = (4, 6, 10)  # positions of the branches whose meetings are counts and a 缺席人员 text
NO_POINTS = (13,)  # positions of the branches that export no points
# positions of the branches whose dues are their own per-payment ledger with 缴费日期 and 经手人 (the
# SM-10 plants' branches, XH15 and XH18); every other branch's dues are in the wide sheets, no collector
COLLECTOR_LEDGERS = (14, 17)
XLS_MAX_ROWS = 60_000  # data rows per .xls sheet (BIFF holds 65,536): a longer table goes on to a next sheet

# What each kind of data a planted violation `needs` is, and why it is absent from these exports.
ABSENT_REASONS = {
    "points": "该支部没有导出党员积分表",
    "attendance": "该支部的会议只有应到、实到、请假人数和缺席人员，没有逐人的参会名单",
    "collector": "党费收缴台账没有收缴人（经手人）",  # the wide ledgers record amounts only
}
# Reason codes of planted defects that remove their row (the others are notices: the row is kept).
QUARANTINING = frozenset(
    {
        "UNKNOWN_ENUM",
        "BAD_DATE",
        "REF_QUARANTINED",
        "DANGLING_REF",
        "REQUIRED_BLANK",
        "DUPLICATE",
        "NEGATIVE_AMOUNT",
        "NOT_A_NUMBER",
    }
)
TYPE_WORDS = {"支部委员会": "支委会", "支部党员大会": "党员大会", "民主评议": "民主评议党员", "集中学习": "理论学习"}
STATUS_WORDS = {"出席": "参加", "请假": "请假", "缺席": "缺勤"}
ETHNICITIES = ["汉族"] * 9 + ["回族"]
EDUCATIONS = ["大学本科", "大学专科", "研究生", "高中", "中专"]
VIOLATION_COLUMNS = [
    *("rule_id", "severity", "branch_id", "subject_id", "period", "note"),
    *("branch_name", "subject_key_kind", "subject_key", "evaluable", "reason"),
]
REPORT_COLUMNS = [
    *("file", "sheet", "table"),
    *("rows_read", "rows_accepted", "rows_quarantined", "rows_skipped", "rows_derived"),
]


@dataclass
class Row:
    """A data row as written, and the reason code ingestion must report on it (a planted defect)."""

    cells: list[Any]
    code: str | None = None
    derived: int = 0  # rows a correct ingest adds to other tables from this row (attendance from its 缺席人员)


@dataclass
class Sheet:
    """One worksheet: title rows above the header, the data, then a notes block and a footer."""

    name: str
    table: str
    header: list[str]
    rows: list[Row]
    titles: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the first line names the block (`填表说明：`)
    footer: list[Any] = field(default_factory=list)  # a 合计 or 制表人 row


def _core(name: str) -> str:
    """A branch name without its 党支部 ending (`联兴集团`)."""
    return name.removesuffix("党支部")


class _Platform:
    """The world's rows and the platform's own identifiers (工作证号, recruits' ID numbers, branch
    spellings), drawn from a generator of their own so the world itself is untouched."""

    def __init__(self, world: World):
        self.world, self.config, self.tables = world, world.config, world.tables
        self.rng = random.Random(f"platform-{self.config.seed}")
        self.branches = self.tables["branches"]
        self.position = {b["branch_id"]: n for n, b in enumerate(self.branches)}
        self.branch = {b["branch_id"]: b for b in self.branches}
        self.counts_only = {self.branches[n]["branch_id"] for n in COUNTS_ONLY if n < len(self.branches)}
        self.no_points = {self.branches[n]["branch_id"] for n in NO_POINTS if n < len(self.branches)}
        self.ledgers = {self.branches[n]["branch_id"] for n in COLLECTOR_LEDGERS if n < len(self.branches)}
        self.members = {m["member_id"]: m for m in self.tables["members"]}
        numbers = self.rng.sample(range(100_000, 990_000), len(self.members))
        self.personnel = {member_id: str(n) for member_id, n in zip(self.members, numbers, strict=True)}
        self.strangers: dict[str, str] = {}  # member ids the roster does not hold (planted dangling references)
        self.person_ids = {
            p["person_id"]: _id_number(self.rng, p["birth_date"] or dt.date(1995, 1, 1), self.rng.choice(["男", "女"]))
            for p in self.tables["development"]
        }
        self.attendance: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.tables["attendance"]:
            self.attendance[row["meeting_id"]].append(row)
        self.groups: dict[str, list[str]] = defaultdict(list)
        for m in self.tables["members"]:
            if m["group_name"] and m["group_name"] not in self.groups[m["branch_id"]]:
                self.groups[m["branch_id"]].append(m["group_name"])

    def number(self, member_id: str) -> str:
        """A member's 工作证号; for an id the roster does not hold (a planted dangling reference), a
        number it does not hold either."""
        if member_id in self.personnel:
            return self.personnel[member_id]
        return self.strangers.setdefault(member_id, str(990_000 + len(self.strangers)))

    def name(self, member_id: str | None) -> str | None:
        """A member's 姓名 (None for no member or one the roster does not hold)."""
        member = self.members.get(member_id or "")
        return member["name"] if member else None

    def spelled(self, branch_id: str, variant: int) -> str:
        """The branch's name as one file spells it: 中共…支部委员会, with a trailing space, with the
        parent organisation in front, or as the branch list has it."""
        name = self.branch[branch_id]["branch_name"]
        return [
            f"中共{self.config.subdistrict}{_core(name)}支部委员会",
            f"{name} ",
            f"{self.config.subdistrict}{name}",
            name,
        ][variant % 4]

    def branch_of(self, member_id: str) -> str:
        """The branch a member's rows are filed under (the first branch for a stranger)."""
        member = self.members.get(member_id)
        return member["branch_id"] if member else self.branches[0]["branch_id"]


# --- one function per file --------------------------------------------------------------------------


def branch_list(p: _Platform) -> list[Sheet]:
    """支部信息.xls: branches by code and name, the secretary by name and 工作证号."""
    rows = []
    for n, b in enumerate(p.branches, 1):
        rows.append(
            Row(
                [
                    n,
                    b["branch_id"],
                    b["branch_name"],
                    b["parent_org"],
                    b["org_type"],
                    p.name(b["secretary_id"]),
                    p.number(b["secretary_id"]) if b["secretary_id"] else None,
                    p.name(b["organizer_id"]),
                    b["founded_on"],
                ]
            )
        )
    header = ["序号", "党支部编码", "党支部名称", "上级党组织", "组织类别", "书记姓名", "书记工作证号", "组织委员", "成立日期"]
    title = f"{p.config.subdistrict}基层党组织基本信息"
    return [Sheet("支部信息", "branches", header, rows, titles=[title], footer=[f"制表人：{_clerk(p)}"])]


def roster(p: _Platform) -> list[Sheet]:
    """党员花名册.xlsx: members by 工作证号 with 身份证号码, their branch only by name."""
    committee_posts = {}
    for b in p.branches:
        committee_posts[b["secretary_id"]] = "支部书记"
        committee_posts[b["organizer_id"]] = "组织委员"
    rows = []
    for n, m in enumerate(p.tables["members"], 1):
        raw = m.get("_raw", {})
        rows.append(
            Row(
                [
                    n,
                    m["name"],
                    p.number(m["member_id"]),
                    m["gender"],
                    p.rng.choice(ETHNICITIES),
                    raw.get("id_number", m["id_number"]),
                    m["birth_date"],
                    p.rng.choice(EDUCATIONS),
                    p.spelled(m["branch_id"], p.position[m["branch_id"]]),
                    m["group_name"],
                    committee_posts.get(m["member_id"]),
                    m["member_type"],
                    m["joined_on"],
                    m["full_member_on"],
                    m["employment"],
                    m["income_base"],
                    m["transferred_in_on"],
                    m["transferred_out_on"],
                    m["phone"],
                ],
                m.get("_defect"),
            )
        )
    header = [
        *("序号", "姓名", "工作证号", "性别", "民族", "身份证号码", "出生日期", "学历", "所在党支部", "党小组"),
        *("党内职务", "党籍状态", "入党时间", "转正时间", "人员身份", "月收入基数（元）", "转入时间", "转出时间", "手机号码"),
    ]
    notes = ["填表说明：", "1．党籍状态填写正式党员或预备党员。", "2．所在党支部填写党组织全称，转出党员保留至年底。"]
    titles = [f"{p.config.subdistrict}党员花名册", f"（统计截至{p.config.end[:4]}年{int(p.config.end[5:])}月）"]
    return [Sheet("花名册", "members", header, rows, titles=titles, notes=notes, footer=[f"制表人：{_clerk(p)}"])]


def _meeting_time(p: _Platform, meeting: dict[str, Any]) -> Any:
    """When a meeting began: committees and party groups in the morning (each group of a branch at
    its own hour), the rest in the afternoon; a planted bad date as written."""
    raw = meeting.get("_raw", {})
    if "held_on" in raw:
        return raw["held_on"]
    hour = 14
    if meeting["meeting_type"] == "支部委员会":
        hour = 8
    elif meeting["meeting_type"] == "党小组会":
        groups = p.groups.get(meeting["branch_id"], [])
        hour = 9 + 2 * (groups.index(meeting["group_name"]) if meeting["group_name"] in groups else 0)
    return dt.datetime.combine(meeting["held_on"], dt.time(hour, 30))


def meetings_with_lists(p: _Platform) -> list[Sheet]:
    """三会一课记录.xlsx: the meetings of the branches that keep attendance lists (by 会议编号 and
    党支部编码) and the lists (members by 工作证号)."""
    meetings = [m for m in p.tables["meetings"] if m["branch_id"] not in p.counts_only]
    kept = {m["meeting_id"] for m in meetings}
    rows = []
    for n, m in enumerate(meetings, 1):
        rows.append(
            Row(
                [
                    n,
                    m["meeting_id"],
                    m["branch_id"],
                    TYPE_WORDS.get(m["meeting_type"], m["meeting_type"]),
                    _meeting_time(p, m),
                    m["group_name"],
                    m["topic"],
                    m.get("content"),
                    m["host"],
                    p.name(m["lecturer_id"]),
                    m["expected_count"],
                    m["present_count"],
                    m["leave_count"],
                    "是" if m["has_minutes"] else "否",
                    m["recorder"],
                ],
                m.get("_defect"),
            )
        )
    header = [
        *("序号", "会议编号", "党支部编码", "会议类型", "会议时间", "党小组", "会议主题", "主要内容及特色", "主持人", "主讲人"),
        *("应到人数", "实到人数", "请假人数", "是否有会议记录", "记录人"),
    ]
    notes = ["注意事项：", "1．会议时间填写实际召开时间。", "2．党小组会须注明党小组。"]
    attendance = []
    for a in p.tables["attendance"]:
        if a["meeting_id"] not in kept:
            if a.get("_defect"):
                raise ValueError(f"平台样式：只有人数的支部的会议不能带参会明细缺陷（{a['meeting_id']}）")
            continue
        status = a["status"]
        attendance.append(
            Row(
                [
                    a["meeting_id"],
                    p.name(a["member_id"]),
                    p.number(a["member_id"]),
                    STATUS_WORDS[status] if status else None,
                    a["reason"],
                ],
                a.get("_defect"),
            )
        )
    title = f"{p.config.subdistrict}“三会一课”及主题党日活动记录"
    return [
        Sheet("会议记录", "meetings", header, rows, titles=[title], notes=notes),
        Sheet("参会人员", "attendance", ["会议编号", "姓名", "工作证号", "出勤情况", "请假事由"], attendance),
    ]


def _absentees(p: _Platform, meeting_id: str) -> str:
    """The 缺席人员及原因 text of a meeting: who was on leave (and why) or absent, 、-separated."""
    parts = []
    for a in p.attendance.get(meeting_id, []):
        if a["status"] == "请假":
            parts.append(f"{p.name(a['member_id'])}（{a['reason'] or '请假'}）")
        elif a["status"] == "缺席":
            parts.append(f"{p.name(a['member_id'])}（未请假）")
    return "、".join(parts) or "无"


def _absentee_rows(p: _Platform, meeting: dict[str, Any], named: Counter[tuple[str, str | None]]) -> int:
    """The attendance rows a correct ingest reads from a meeting's 缺席人员及原因 text: one per name
    it lists that exactly one member of the meeting's branch (whose roster row is kept) bears."""
    names = {p.name(a["member_id"]) for a in p.attendance.get(meeting["meeting_id"], []) if a["status"] in ("请假", "缺席")}
    return sum(1 for name in names if named[(meeting["branch_id"], name)] == 1)


def meetings_counts_only(p: _Platform, branch_id: str) -> list[Sheet]:
    """<支部>三会一课台账.xlsx: one branch's meetings as a hand-kept 台账 — no 会议编号, the branch by
    its full name, 应到/实到/请假人数 and a 缺席人员及原因 text instead of an attendance list."""
    name = p.spelled(branch_id, 0)
    rows = []
    meetings = [m for m in p.tables["meetings"] if m["branch_id"] == branch_id]
    kept = [m for m in p.tables["members"] if m.get("_defect") not in QUARANTINING]
    named = Counter((m["branch_id"], m["name"]) for m in kept)
    for n, m in enumerate(meetings, 1):
        if m.get("_defect"):
            raise ValueError(f"平台样式：只有人数的支部的会议不能带缺陷（{m['meeting_id']}）")
        rows.append(
            Row(
                [
                    n,
                    name,
                    TYPE_WORDS.get(m["meeting_type"], m["meeting_type"]),
                    _meeting_time(p, m),
                    m["group_name"],
                    m["topic"],
                    m.get("content"),
                    m["host"],
                    p.name(m["lecturer_id"]),
                    m["expected_count"],
                    m["present_count"],
                    m["leave_count"],
                    _absentees(p, m["meeting_id"]),
                    "有" if m["has_minutes"] else "无",
                    m["recorder"],
                ],
                derived=_absentee_rows(p, m, named),
            )
        )
    header = [
        *("序号", "所在党支部", "会议类型", "会议时间", "党小组", "会议主题", "会议内容", "主持人", "主讲人"),
        *("应到人数", "实到人数", "请假人数", "缺席人员及原因", "有无记录", "记录人"),
    ]
    recorder = p.name(p.branch[branch_id]["organizer_id"])
    return [Sheet("会议记录", "meetings", header, rows, titles=[f"{name}“三会一课”记录台账"], footer=[f"填表人：{recorder}"])]


def points_of_branch(p: _Platform, branch_id: str, rows_in: list[dict[str, Any]]) -> list[Sheet]:
    """<支部>党员积分.xls: one branch's monthly points, members by 姓名 and 工作证号."""
    position = p.position[branch_id]
    month_text: Callable[[dt.date], str] = (
        (lambda d: f"{d.year}年{d.month}月") if position % 2 else (lambda d: f"{d.year}-{d.month:02d}")
    )
    rows = []
    for n, r in enumerate(rows_in, 1):
        raw = r.get("_raw", {})
        rows.append(
            Row(
                [
                    n,
                    p.name(r["member_id"]),
                    p.number(r["member_id"]),
                    month_text(r["month"]),
                    r["base_points"],
                    r["bonus_points"],
                    r["penalty_points"],
                    raw.get("total_points", r["total_points"]),
                    r["published_on"],
                ],
                r.get("_defect"),
            )
        )
    header = ["序号", "姓名", "工作证号", "积分月份", "基础分", "加分", "扣分", "月度积分", "公示日期"]
    name = p.branch[branch_id]["branch_name"]
    notes = ["说明：", "1．月度积分＝基础分＋加分－扣分。", "2．积分每季度末公示。"] if position % 3 == 0 else []
    return [Sheet("积分明细", "points", header, rows, titles=[f"{name}党员积分管理台账"], notes=notes)]


@dataclass
class _DuesLine:
    """A member's dues for a run of months, as one wide-sheet or month-range row."""

    member_id: str
    months: list[dt.date]
    due: float
    paid: list[float]
    defect: str | None = None
    raw_paid: Any = None


def _dues_lines(p: _Platform) -> tuple[dict[int, list[_DuesLine]], list[_DuesLine]]:
    """The dues as wide rows per year (members with exactly one payment in every month of the
    year's span and one amount due) and month-range rows (the rest: members present for part of
    a year, runs of equal months), each planted defect beside the row it concerns; the dues of
    branches with a ledger of their own (`dues_ledger`) left out."""
    clean = [r for r in p.tables["dues"] if not r.get("_defect") and p.branch_of(r["member_id"]) not in p.ledgers]
    spans: dict[int, list[dt.date]] = defaultdict(list)
    for month in p.config.months():
        spans[month.year].append(month)
    by_member_year: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in clean:
        by_member_year[(r["member_id"], r["month"].year)].append(r)
    wide: dict[int, list[_DuesLine]] = defaultdict(list)
    ranged: list[_DuesLine] = []
    for (member_id, year), rows in by_member_year.items():
        months = [r["month"] for r in rows]
        dues = {r["amount_due"] for r in rows}
        if sorted(months) == spans[year] and len(dues) == 1:
            ordered = sorted(rows, key=lambda r: r["month"])
            wide[year].append(_DuesLine(member_id, spans[year], dues.pop(), [r["amount_paid"] for r in ordered]))
            continue
        run: list[dict[str, Any]] = []
        for r in sorted(rows, key=lambda r: r["month"]):
            same = run and (r["amount_due"], r["amount_paid"]) == (run[-1]["amount_due"], run[-1]["amount_paid"])
            if run and not (same and r["month"] == _next(run[-1]["month"])):
                ranged.append(_range_line(member_id, run))
                run = []
            run.append(r)
        if run:
            ranged.append(_range_line(member_id, run))
    for r in (r for r in p.tables["dues"] if r.get("_defect")):
        raw = r.get("_raw", {})
        if r["_defect"] == "DUPLICATE" and p.branch_of(r["member_id"]) in p.ledgers:
            continue  # written by `dues_ledger` beside the payment it repeats
        if r["_defect"] == "DUPLICATE":
            _duplicate(wide, ranged, r)
        else:
            ranged.append(
                _DuesLine(r["member_id"], [r["month"]], r["amount_due"], [r["amount_paid"]], r["_defect"], raw.get("amount_paid"))
            )
    return wide, ranged


def _next(month: dt.date) -> dt.date:
    """The first day of the month after ``month``'s."""
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _range_line(member_id: str, run: list[dict[str, Any]]) -> _DuesLine:
    """One month-range row for a run of consecutive months with the same amounts due and paid."""
    return _DuesLine(member_id, [r["month"] for r in run], run[0]["amount_due"], [r["amount_paid"] for r in run])


def _duplicate(wide: dict[int, list[_DuesLine]], ranged: list[_DuesLine], row: dict[str, Any]) -> None:
    """A planted duplicate: the source row holding the member's month, written twice."""
    for lines in [*wide.values(), ranged]:
        for index, line in enumerate(lines):
            if line.member_id == row["member_id"] and row["month"] in line.months:
                lines.insert(index + 1, _DuesLine(line.member_id, line.months, line.due, line.paid, "DUPLICATE"))
                return
    raise ValueError(f"平台样式：找不到重复党费记录所在的行（{row['member_id']}）")


def dues_wide(p: _Platform, year: int, lines: list[_DuesLine]) -> list[Sheet]:
    """党费收缴台账.xls: a year's dues, a row per member and a column per month; the year is only in
    the title, the branch only by name, a 合计 row under the data."""
    months = sorted({m for line in lines for m in line.months})
    lines = sorted(lines, key=lambda line: (p.position[p.branch_of(line.member_id)], line.member_id))
    rows = []
    for n, line in enumerate(lines, 1):
        paid = {m: amount for m, amount in zip(line.months, line.paid, strict=True)}
        branch_id = p.branch_of(line.member_id)
        cells = [n, p.spelled(branch_id, p.position[branch_id] + 1), p.name(line.member_id), p.number(line.member_id), line.due]
        cells += [paid[m] if paid.get(m) else None for m in months]  # unpaid months left blank
        cells += [round(sum(line.paid), 2), None]
        rows.append(Row(cells, line.defect))
    total = ["合计", None, None, None, None, *([None] * len(months)), round(sum(sum(r.paid) for r in lines), 2), None]
    header = ["序号", "所属党支部", "姓名", "工作证号", "月缴党费（元）", *(f"{m.month}月" for m in months), "全年合计", "备注"]
    titles = [f"{p.config.subdistrict}{year}年党费收缴台账", "单位：元"]
    return [Sheet("党费收缴", "dues", header, rows, titles=titles, footer=total)]


def dues_ranges(p: _Platform, lines: list[_DuesLine]) -> list[Sheet]:
    """转接党员党费.xlsx: dues of members present for part of a year, one row per run of months
    (`缴费起止月份` 2019.01-2019.03) with the monthly amount due and the total paid."""
    rows = []
    for n, line in enumerate(lines, 1):
        first, last = line.months[0], line.months[-1]
        span = f"{first.year}.{first.month:02d}" + ("" if first == last else f"-{last.year}.{last.month:02d}")
        branch_id = p.branch_of(line.member_id)
        paid = line.raw_paid if line.raw_paid is not None else round(sum(line.paid), 2)
        rows.append(
            Row(
                [n, p.branch[branch_id]["branch_name"], p.name(line.member_id), p.number(line.member_id), span, line.due, paid],
                line.defect,
            )
        )
    header = ["序号", "所属党支部", "姓名", "工作证号", "缴费起止月份", "月缴党费（元）", "实交金额（元）"]
    notes = ["填表说明：", "1．组织关系转入、转出的党员按在本支部的月份登记。", "2．实交金额为起止月份内合计。"]
    return [Sheet("Sheet1", "dues", header, rows, titles=["组织关系转接党员党费交纳情况"], notes=notes)]


def dues_ledger(p: _Platform, branch_id: str) -> list[Sheet]:
    """{支部}党费收缴登记表.xlsx: a branch's own ledger, one row per payment (its members' months in
    order of payment) with the 缴费日期 and the 经手人 by name; the branch only in the title; a
    planted duplicate written again under the payment it repeats."""
    members = {m["member_id"] for m in p.tables["members"] if m["branch_id"] == branch_id}
    order = {m["member_id"]: n for n, m in enumerate(p.tables["members"])}
    dues = [r for r in p.tables["dues"] if r["member_id"] in members]
    payments = sorted(
        (r for r in dues if not r.get("_defect")),
        key=lambda r: (r["month"], r["paid_on"] or r["month"], order[r["member_id"]]),
    )
    repeated = [r for r in dues if r.get("_defect") == "DUPLICATE"]
    rows: list[Row] = []
    for r in payments:
        cells = [p.name(r["member_id"]), p.number(r["member_id"]), f"{r['month'].year}年{r['month'].month}月"]
        cells += [r["amount_due"], r["amount_paid"], r["paid_on"], r["collector"]]
        rows.append(Row([len(rows) + 1, *cells]))
        if any(all(d[c] == r[c] for c in ("member_id", "month", "amount_paid", "paid_on", "collector")) for d in repeated):
            rows.append(Row([len(rows) + 1, *cells], "DUPLICATE"))
    header = ["序号", "姓名", "工作证号", "缴费月份", "月缴党费（元）", "实交金额（元）", "缴费日期", "经手人"]
    notes = ["填表说明：", "1．每交纳一次登记一行，经手人签名。", "2．未交纳的月份实交金额填0。"]
    title = f"{p.branch[branch_id]['branch_name']}党费收缴登记表"
    return [Sheet("收缴登记", "dues", header, rows, titles=[title], notes=notes)]


def committee(p: _Platform) -> list[Sheet]:
    """支部委员会成员.xlsx: every branch's committee, the branch by name, members by 姓名 and 工作证号,
    the 职务 and the term as two dates (an open term has no 离任时间)."""
    rows = []
    for n, c in enumerate(p.tables["committee"], 1):
        branch_id = c["branch_id"]
        cells = [n, p.spelled(branch_id, p.position[branch_id] + 3), p.name(c["member_id"]), p.number(c["member_id"])]
        rows.append(Row([*cells, c["post"], c["term_start"], c["term_end"]]))
    header = ["序号", "党支部名称", "姓名", "工作证号", "职务", "任职时间", "离任时间"]
    return [Sheet("支委名单", "committee", header, rows, titles=[f"{p.config.subdistrict}党支部委员会成员名单"])]


def evaluations(p: _Platform) -> list[Sheet]:
    """民主评议党员结果.xlsx: a sheet per year named by it, no year column; members by 姓名 and
    身份证号码 only (a member whose roster ID number is broken cannot be linked)."""
    broken = {m["member_id"] for m in p.tables["members"] if "id_number" in m.get("_raw", {})}
    by_year: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in p.tables["evaluations"]:
        by_year[e["year"]].append(e)
    sheets = []
    for year, rows_in in sorted(by_year.items()):
        rows = []
        for n, e in enumerate(rows_in, 1):
            member = p.members[e["member_id"]]
            branch_id = member["branch_id"]
            cells = [n, p.spelled(branch_id, p.position[branch_id] + 2), member["name"], member["id_number"], e["grade"]]
            rows.append(Row(cells, "DANGLING_REF" if e["member_id"] in broken else None))
        header = ["序号", "所在党支部", "姓名", "身份证号码", "评定等次"]
        sheets.append(Sheet(f"{year}年民主评议", "evaluations", header, rows, titles=["民主评议党员情况汇总表"]))
    return sheets


def disclosures(p: _Platform) -> list[Sheet]:
    """党费公开报备情况.xlsx: the monthly dues disclosures, branches only by name."""
    rows = []
    for n, d in enumerate(p.tables["dues_disclosures"], 1):
        branch_id = d["branch_id"]
        month = f"{d['month'].year}年{d['month'].month}月"
        rows.append(Row([n, p.spelled(branch_id, p.position[branch_id] + 3), month, d["published_on"], d["reported_on"]]))
    header = ["序号", "党支部名称", "月份", "公开日期", "报备日期"]
    return [Sheet("Sheet1", "dues_disclosures", header, rows, titles=["党费收缴情况公开、报备登记表"])]


def venues(p: _Platform) -> list[Sheet]:
    """阵地建设检查.xls: venue checks by 支部编号, ticks and crosses."""
    checks = ["has_space", "has_facilities", "has_signage", "has_flags", "has_publications", "has_rules"]
    rows = [Row([v["branch_id"], v["checked_on"], *("√" if v[c] else "×" for c in checks)]) for v in p.tables["venues"]]
    header = ["支部编号", "检查日期", "有场所", "有设施", "有标志", "有党旗国旗", "有党报党刊", "有制度"]
    notes = ["注：", "√ 表示符合，× 表示不符合。"]
    return [Sheet("检查记录", "venues", header, rows, titles=["党员活动阵地建设检查记录"], notes=notes)]


def development(p: _Platform) -> list[Sheet]:
    """发展党员工作台账.xlsx: recruitment cases without a number, keyed by 身份证号码, the branch by name."""
    rows = []
    for n, d in enumerate(p.tables["development"], 1):
        branch_id = d["branch_id"]
        rows.append(
            Row(
                [
                    n,
                    d["name"],
                    p.person_ids[d["person_id"]],
                    d["birth_date"],
                    p.spelled(branch_id, p.position[branch_id]),
                    *(d[c] for c in ("applied_on", "talked_on", "activist_on", "candidate_on")),
                    *(d[c] for c in ("publicity_start", "publicity_end", "admitted_on")),
                    *(d[c] for c in ("voters_expected", "voters_present", "votes_for", "approved_on", "full_member_on")),
                ]
            )
        )
    header = [
        *("序号", "姓名", "身份证号码", "出生日期", "联系党支部", "提交书面申请书时间", "谈话时间", "确定为入党积极分子时间"),
        *("确定为发展对象时间", "公示开始日期", "公示结束日期", "支部大会讨论日期", "应到有表决权人数", "实到有表决权人数"),
        *("赞成票", "上级党委审批时间", "转为正式党员日期"),
    ]
    notes = ["填写注意事项：", "1．日期按“年-月-日”填写。", "2．尚未进行的步骤空白。"]
    title = f"{p.config.subdistrict}发展党员工作台账"
    return [Sheet("发展党员", "development", header, rows, titles=[title], notes=notes, footer=[f"审核人：{_clerk(p)}"])]


def _clerk(p: _Platform) -> str:
    """The sub-district's clerk who signs the templates (the first branch's organiser)."""
    return p.name(p.branches[0]["organizer_id"]) or "王芳"


def platform_files(p: _Platform) -> dict[str, list[Sheet]]:
    """Every file of the platform-style batch (name -> sheets), in writing order."""
    files: dict[str, list[Sheet]] = {
        "支部信息.xls": branch_list(p),
        f"{p.config.subdistrict}党员花名册.xlsx": roster(p),
        "三会一课记录.xlsx": meetings_with_lists(p),
    }
    for branch in p.branches:
        if branch["branch_id"] in p.counts_only:
            files[f"{branch['branch_name']}三会一课台账.xlsx"] = meetings_counts_only(p, branch["branch_id"])
    points: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in p.tables["points"]:
        points[p.branch_of(r["member_id"])].append(r)
    for branch in p.branches:
        if branch["branch_id"] in points and branch["branch_id"] not in p.no_points:
            files[f"{branch['branch_name']}党员积分.xls"] = points_of_branch(p, branch["branch_id"], points[branch["branch_id"]])
    wide, ranged = _dues_lines(p)
    for n, year in enumerate(sorted(wide, reverse=True)):  # the latest year first; the next download gets " (1)"
        files["党费收缴台账.xls" if n == 0 else f"党费收缴台账 ({n}).xls"] = dues_wide(p, year, wide[year])
    if ranged:
        files["转接党员党费.xlsx"] = dues_ranges(p, ranged)
    for branch in p.branches:
        if branch["branch_id"] in p.ledgers:
            files[f"{branch['branch_name']}党费收缴登记表.xlsx"] = dues_ledger(p, branch["branch_id"])
    if p.tables["committee"]:
        files["支部委员会成员.xlsx"] = committee(p)
    files["民主评议党员结果.xlsx"] = evaluations(p)
    files["党费公开报备情况.xlsx"] = disclosures(p)
    files["阵地建设检查.xls"] = venues(p)
    if p.tables["development"]:
        files["发展党员工作台账.xlsx"] = development(p)
    return files


# --- writing ------------------------------------------------------------------------------------------


def _split_for_xls(sheets: list[Sheet]) -> list[Sheet]:
    """Sheets longer than an .xls sheet holds, continued on sheets named `名称(2)`, `名称(3)`, …"""
    out = []
    for sheet in sheets:
        if len(sheet.rows) <= XLS_MAX_ROWS:
            out.append(sheet)
            continue
        parts = [sheet.rows[i : i + XLS_MAX_ROWS] for i in range(0, len(sheet.rows), XLS_MAX_ROWS)]
        for k, rows in enumerate(parts):
            last = k == len(parts) - 1
            out.append(
                Sheet(
                    sheet.name if k == 0 else f"{sheet.name}({k + 1})",
                    sheet.table,
                    sheet.header,
                    rows,
                    titles=sheet.titles,
                    notes=sheet.notes if last else [],
                    footer=sheet.footer if last else [],
                )
            )
    return out


def _lines(sheet: Sheet, merged_notes: bool) -> Iterable[tuple[str, list[Any], str | None]]:
    """(kind, cells, code) of every row below the titles — `header`, `data`, `notes`, `footer` —
    with the reason code ingestion must report on it: a planted defect's, or why the row is not
    data. A notes block's first line names it (注意事项); a later line is skipped as a merged cell
    across the table when the notes are merged (.xlsx), else as part of the block above it."""
    yield "header", sheet.header, None
    for row in sheet.rows:
        yield "data", row.cells, row.code
    for k, line in enumerate(sheet.notes):
        yield "notes", [line], "SKIP_NOTES" if k == 0 or not merged_notes else "SKIP_MERGED"
    if sheet.footer:
        yield "footer", sheet.footer, "SKIP_FOOTER"


class _Writer:
    """Renders sheets as .xls or .xlsx and keeps the truth of what it wrote."""

    def __init__(self, out: Path):
        self.out = out
        self.defects: list[dict[str, Any]] = []
        self.report: list[dict[str, Any]] = []
        self.files = 0

    def write(self, name: str, sheets: list[Sheet]) -> None:
        xls = name.endswith(".xls")
        if xls:
            sheets = _split_for_xls(sheets)
        for sheet in sheets:
            self.account(name, sheet, merged_notes=not xls)
        (self._xls if xls else self._xlsx)(self.out / name, sheets)
        self.files += 1

    def account(self, file: str, sheet: Sheet, *, merged_notes: bool) -> None:
        """The sheet's defects and non-data rows at the row numbers Excel shows, and its counts."""
        number = len(sheet.titles)
        read = quarantined = skipped = 0
        derived = sum(row.derived for row in sheet.rows)
        for kind, _cells, code in _lines(sheet, merged_notes):
            number += 1
            if kind == "header":
                continue
            read += 1
            skipped += kind in ("notes", "footer")
            quarantined += code in QUARANTINING
            if code:
                self.defects.append({"file": file, "sheet": sheet.name, "row": number, "table": sheet.table, "code": code})
        self.report.append(
            {
                "file": file,
                "sheet": sheet.name,
                "table": sheet.table,
                "rows_read": read,
                "rows_accepted": read - quarantined - skipped,
                "rows_quarantined": quarantined,
                "rows_skipped": skipped,
                "rows_derived": derived,
            }
        )

    @staticmethod
    def _xls(path: Path, sheets: list[Sheet]) -> None:
        import xlwt

        book = xlwt.Workbook(encoding="utf-8")
        styles = {
            "title": xlwt.easyxf("font: bold on, height 280; align: horiz center"),
            "header": xlwt.easyxf("font: bold on; align: horiz center, wrap on"),
            "date": xlwt.easyxf(num_format_str="YYYY-MM-DD"),
            "datetime": xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM"),
            "plain": xlwt.Style.default_style,
        }
        for sheet in sheets:
            ws = book.add_sheet(sheet.name)
            width = len(sheet.header)
            for r, title in enumerate(sheet.titles):
                ws.write_merge(r, r, 0, width - 1, title, styles["title"])
            r = len(sheet.titles)
            for kind, cells, _code in _lines(sheet, merged_notes=False):
                for c, value in enumerate(cells):
                    if value is None or value == "":
                        continue
                    if isinstance(value, dt.datetime):
                        ws.write(r, c, value, styles["datetime"])
                    elif isinstance(value, dt.date):
                        ws.write(r, c, value, styles["date"])
                    else:
                        ws.write(r, c, value, styles["header" if kind == "header" else "plain"])
                r += 1
            for c in range(width):
                ws.col(c).width = 256 * 12
        book.save(str(path))

    @staticmethod
    def _xlsx(path: Path, sheets: list[Sheet]) -> None:
        import openpyxl
        from openpyxl.styles import Alignment, Font

        book = openpyxl.Workbook()
        book.remove(book.active)
        for sheet in sheets:
            ws = book.create_sheet(sheet.name)
            width = len(sheet.header)
            for r, title in enumerate(sheet.titles, 1):
                ws.cell(r, 1, title).font = Font(bold=True, size=14 if r == 1 else 11)
                ws.cell(r, 1).alignment = Alignment(horizontal="center")
                ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
            r = len(sheet.titles)
            for kind, cells, _code in _lines(sheet, merged_notes=True):
                r += 1
                for c, value in enumerate(cells, 1):
                    if value is None or value == "":
                        continue
                    cell = ws.cell(r, c, value)
                    if isinstance(value, dt.datetime):
                        cell.number_format = "yyyy-mm-dd hh:mm"
                    elif isinstance(value, dt.date):
                        cell.number_format = "yyyy-mm-dd"
                    elif kind == "header":
                        cell.font = Font(bold=True)
                if kind == "notes":
                    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
        book.save(path)


def platform_violations(p: _Platform) -> list[dict[str, Any]]:
    """The world's planted violations, each with its branch's name, the key its subject has in the
    platform exports (工作证号 for a member, 姓名 for a recruit keyed by an ID number, the 党小组),
    and whether these exports still show it (`evaluable`, and why not)."""
    world = p.world
    recruits = {d["person_id"]: d["name"] for d in world.tables["development"]}
    groups = {g for m in world.tables["members"] for g in [m["group_name"]] if g}
    out = []
    for v in world.violations:
        subject = v["subject_id"]
        if subject in p.members:
            kind, key = "工作证号", p.number(subject)
        elif subject in recruits:
            kind, key = "姓名", recruits[subject]
        elif subject in groups:
            kind, key = "党小组", subject
        else:
            kind, key = "", subject
        needs = v.get("needs", "")
        absent = (
            (needs == "points" and v["branch_id"] in p.no_points)
            or (needs == "attendance" and v["branch_id"] in p.counts_only)
            or (needs == "collector" and v["branch_id"] not in p.ledgers)
        )
        out.append(
            {
                **{c: v[c] for c in VIOLATION_COLUMNS[:6]},
                "branch_name": p.branch[v["branch_id"]]["branch_name"],
                "subject_key_kind": kind,
                "subject_key": key,
                "evaluable": "false" if absent else "true",
                "reason": ABSENT_REASONS[needs] if absent else "",
            }
        )
    return out


def write_platform(world: World, out: Path, truth: Path) -> int:
    """Write the platform-style batch into ``out`` and its truth into ``truth``; the number of files."""
    platform = _Platform(world)
    writer = _Writer(out)
    for name, sheets in platform_files(platform).items():
        writer.write(name, sheets)
    _write_csv(truth / "violations.csv", platform_violations(platform), VIOLATION_COLUMNS)
    defects = sorted(writer.defects, key=lambda d: (d["file"], d["sheet"], d["row"]))
    _write_csv(truth / "defects.csv", defects, ["file", "sheet", "row", "table", "code"])
    _write_csv(truth / "ingest_report.csv", sorted(writer.report, key=lambda r: (r["file"], r["sheet"])), REPORT_COLUMNS)
    return writer.files


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
