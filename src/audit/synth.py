"""Deterministic synthetic sub-district: records that follow the standard, planted violations and
data defects on top, written as exports in the contract's varied forms, with a ground-truth file.

``generate`` builds canonical rows; ``write_batch`` renders them as CSV/XLSX exports (or Parquet
for benchmark scales) and writes ``truth/violations.csv`` and ``truth/defects.csv`` beside them;
``style="platform"`` writes the same rows the way platforms and templates export them
(``audit.synth_platform``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from audit.periods import Quarter, add_months, month_key, month_range
from audit.standard import dues_range, load_standard
from audit.values import id_check_char

# --- configuration and helpers ---------------------------------------------------------------------

# Branches of one part of a synthetic batch: a district's worth (`SynthConfig.parts`), which keeps
# `audit synth` of a city (10,000 branches) within the memory of one district.
PART_BRANCHES = 1000
# The months planted violations need, and what is said when they are missing.
PLANT_MONTHS = {"2019-01", "2019-02", "2019-03", "2019-05", "2019-06", "2019-08", "2018-10", "2018-12"}
PLANT_NEEDS = "植入违规需要覆盖 2018-10 至 2019-08 的月份和至少 3 个支部；可用 --clean 生成不含违规的数据"
# Sub-district names of the parts after the first (Dezhou's), then "第N街道".
SUBDISTRICTS = [
    "新华街道",
    "天衢街道",
    "运河街道",
    "新湖街道",
    "广川街道",
    "长河街道",
    "宋官屯街道",
    "二屯镇",
    "黄河涯镇",
    "赵虎镇",
    "抬头寺镇",
    "袁桥镇",
]


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 2019
    branches: int = 20
    members: int = 400
    start: str = "2018-07"
    end: str = "2019-12"
    subdistrict: str = "新华街道"
    plant: bool = True
    # One part of a batch written in parts (`parts`): its number from 1 (0: a batch in one part)
    # and the branches of the parts before it, so names and identifiers stay distinct in the batch.
    part: int = 0
    branch_from: int = 0

    @property
    def prefix(self) -> str:
        """Put before the member, meeting and applicant identifiers of a part after the first."""
        return f"Q{self.part:02d}" if self.part > 1 else ""

    @property
    def region(self) -> str:
        """The first six digits of the part's ID numbers: a district code of Dezhou (371402, 371403,
        …), one per part, running on into the next prefecture's codes after 99."""
        number = max(self.part, 1) - 1
        return f"37{14 + number // 98:02d}{2 + number % 98:02d}"

    def check(self) -> None:
        """The ValueError (in Chinese) generating this batch would raise, before any is generated."""
        months = {month_key(m) for m in self.months()}
        if self.plant and (not PLANT_MONTHS <= months or min(p.branches for p in self.parts()) < 3):
            raise ValueError(PLANT_NEEDS)

    def parts(self, size: int | None = None) -> list[SynthConfig]:
        """The batch as parts of at most ``size`` branches, each generated and written alone (a
        city receives each district's exports in its own folder): one part up to ``size``
        branches, otherwise branches and members shared out evenly, each part with its own seed
        and sub-district name."""
        count = -(-self.branches // (size or PART_BRANCHES))
        if count <= 1:
            return [self]
        branch_share, branch_rest = divmod(self.branches, count)
        member_share, member_rest = divmod(self.members, count)
        names = [self.subdistrict, *(name for name in SUBDISTRICTS if name != self.subdistrict)]
        number = len(names)
        while len(names) < count:  # then 第N街道, each folder's name its own
            number += 1
            if f"第{number}街道" not in names:
                names.append(f"第{number}街道")
        parts, start = [], 0
        for k in range(count):
            branches = branch_share + (k < branch_rest)
            name = names[k]
            members = member_share + (k < member_rest)
            parts.append(
                replace(
                    self, seed=self.seed + k, branches=branches, members=members, subdistrict=name, part=k + 1, branch_from=start
                )
            )
            start += branches
        return parts

    def months(self) -> list[dt.date]:
        first, last = _month(self.start), _month(self.end)
        if last < first:
            raise ValueError(f"结束月份 {self.end} 早于起始月份 {self.start}")
        return month_range(first, last)


def _month(text: str) -> dt.date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return dt.date(year, month, 1)
    except ValueError:
        raise ValueError(f"月份格式应为 YYYY-MM：{text}") from None


def _quarter(day: dt.date) -> str:
    return str(Quarter.of(day))


@cache
def _dues_rule():
    return load_standard().rule("SM-6")


def dues_for(employment: str, income: float | None) -> float:
    """Monthly dues under the rate table of the standard file (rule SM-6); the lowest of a range."""
    due = dues_range(_dues_rule(), employment, income)
    return due[0] if due else 0.0


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华文辉玉兰鹏飞红梅志强海燕晓东春梅国庆德胜立新淑珍宏伟丽华永明"
BRANCH_KINDS = [
    ("两新组织", ["联兴集团党支部", "鑫源科技有限公司党支部", "德润物流党支部", "华泰商贸党支部", "恒通建材党支部"]),
    ("社区", ["新华社区第一党支部", "新华社区第二党支部", "运河社区党支部", "天衢社区党支部", "红星社区党支部"]),
    ("机关", ["街道机关第一党支部", "街道机关第二党支部", "街道综合执法党支部"]),
    ("事业单位", ["新华卫生院党支部", "街道文化站党支部"]),
    ("国有企业", ["德州供水公司新华党支部", "城投置业党支部"]),
    ("学校", ["新华小学党支部", "运河中学党支部"]),
    ("其他", ["离退休干部党支部", "新华市场党支部", "物业协会联合党支部"]),
]
TOPICS = [
    "学习党章党规",
    "学习习近平新时代中国特色社会主义思想",
    "重温入党誓词",
    "学习党的十九大精神",
    "志愿服务进社区",
    "观看警示教育片",
    "学习《中国共产党支部工作条例》",
    "红色教育基地参观",
    "结对帮扶困难群众",
    "环境整治志愿活动",
]
# What a 主题党日's content says it studied (OL-11), in turn by meeting number: deterministic, so
# the generator's random draws, and with them the rest of the sample, are those of before OL-11.
STUDIES = [
    "党章党规",
    "习近平新时代中国特色社会主义思想",
    "党的十九大精神",
    "《中国共产党支部工作条例（试行）》",
    "习近平总书记在庆祝改革开放40周年大会上的重要讲话",
]
# The committee's posts in order (the first is the secretary, the second the organizer, as the
# branch list has them); every term began this many months before the window.
POSTS = ["书记", "组织委员", "宣传委员", "纪检委员", "青年委员"]
TERM_BEFORE_MONTHS = 16


@dataclass
class World:
    """Canonical rows per table, the planted violations and the planted defects."""

    config: SynthConfig
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    violations: list[dict[str, str]] = field(default_factory=list)
    # Data defects: rows whose raw cell is replaced when written; row dicts carry `_raw` and `_defect`.

    def expect(self, rule: str, severity: str, branch: str, subject: str, period: str, note: str, needs: str = "") -> None:
        """Record a planted violation; ``needs`` names the data only some exports carry that the
        violation can be seen in (``attendance``: a per-member attendance list, ``points``: the
        points table), so a style that leaves it out marks the violation unevaluable."""
        self.violations.append(
            {
                "rule_id": rule,
                "severity": severity,
                "branch_id": branch,
                "subject_id": subject,
                "period": period,
                "note": note,
                "needs": needs,
            }
        )


# --- generation ----------------------------------------------------------------------------------


def _id_number(rng: random.Random, birth: dt.date, gender: str, region: str = "371402") -> str:
    seq = rng.randrange(0, 50) * 2 + (1 if gender == "男" else 0)
    first17 = f"{region}{birth:%Y%m%d}{rng.randrange(0, 10)}{seq:02d}"
    return first17 + id_check_char(first17)


def _in_branch(member: dict[str, Any], day: dt.date) -> bool:
    start = member["transferred_in_on"] or member["joined_on"]
    out = member["transferred_out_on"]
    return start <= day and (out is None or day < out)


def _in_month(member: dict[str, Any], month: dt.date) -> bool:
    last = add_months(month, 1) - dt.timedelta(days=1)
    start = member["transferred_in_on"] or member["joined_on"]
    out = member["transferred_out_on"]
    return start <= last and (out is None or out > month)


class _Generator:
    def __init__(self, config: SynthConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self.world = World(config)
        self.months = config.months()
        self.meeting_seq = 0
        self.branches: list[dict[str, Any]] = []
        self.members_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.groups_of: dict[str, list[str]] = {}
        self.committee_of: dict[str, list[dict[str, Any]]] = {}

    # -- people
    def make_branches(self) -> None:
        rng, config = self.rng, self.config
        names = [(kind, name) for kind, pool in BRANCH_KINDS for name in pool]
        for index in range(config.branch_from, config.branch_from + config.branches):
            kind, name = names[index % len(names)]
            if index >= len(names):
                name = name.replace("党支部", f"第{index // len(names) + 1}党支部")
            branch_id = f"XH{index + 1:02d}" if config.branches < 100 and not config.part else f"D{index + 1:05d}"
            self.branches.append(
                {
                    "branch_id": branch_id,
                    "branch_name": name,
                    "parent_org": f"{config.subdistrict}党工委",
                    "org_type": kind,
                    "secretary_id": None,
                    "organizer_id": None,
                    "founded_on": dt.date(rng.randrange(1985, 2016), rng.randrange(1, 13), rng.randrange(1, 28)),
                }
            )

    def make_members(self) -> None:
        rng, config = self.rng, self.config
        first_month = self.months[0]
        sizes = [max(8, round(config.members / config.branches * rng.uniform(0.7, 1.3))) for _ in self.branches]
        seq = 0
        for branch, size in zip(self.branches, sizes, strict=True):
            groups = [f"第{'一二三'[i]}党小组" for i in range(2 if size < 22 else 3)]
            self.groups_of[branch["branch_id"]] = groups
            retired_branch = branch["branch_name"].startswith("离退休")
            for i in range(size):
                seq += 1
                gender = "男" if rng.random() < 0.55 else "女"
                birth = dt.date(
                    rng.randrange(1948 if retired_branch else 1958, 1960 if retired_branch else 1997),
                    rng.randrange(1, 13),
                    rng.randrange(1, 29),
                )
                probationary = i >= 3 and rng.random() < 0.08
                joined = (
                    dt.date(first_month.year - 1, rng.randrange(1, 7), rng.randrange(1, 28))
                    if probationary
                    else dt.date(
                        rng.randrange(max(birth.year + 19, 1975), first_month.year - 1),
                        rng.randrange(1, 13),
                        rng.randrange(1, 28),
                    )
                )
                employment = (
                    "离退休"
                    if retired_branch or birth.year < 1960
                    else rng.choices(["在职", "无固定收入", "学生", "农民"], [0.9, 0.05, 0.02, 0.03])[0]
                )
                income = {
                    "在职": rng.choice([2800, 3000, 4200, 5000, 6500, 8000, 12000]),
                    "离退休": rng.choice([3500, 4800, 5200, 6000]),
                }.get(employment)
                member = {
                    "member_id": f"{config.prefix}M{seq:05d}",
                    "name": rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice([1, 2]))),
                    "id_number": None,
                    "gender": gender,
                    "birth_date": birth,
                    "branch_id": branch["branch_id"],
                    "group_name": groups[i % len(groups)],
                    "member_type": "预备党员" if probationary else "正式党员",
                    "joined_on": joined,
                    "full_member_on": None
                    if probationary
                    else add_months(joined.replace(day=1), 12) + dt.timedelta(days=joined.day - 1),
                    "employment": employment,
                    "income_base": income,
                    "transferred_in_on": None,
                    "transferred_out_on": None,
                    "phone": f"1{rng.choice([3, 5, 8])}{rng.randrange(0, 10)}{rng.randrange(10**7, 10**8)}",
                }
                if probationary and add_months(joined.replace(day=1), 12) <= self.months[-1]:
                    # became a full member one year after joining, inside the window
                    member["member_type"], member["full_member_on"] = "正式党员", joined.replace(year=joined.year + 1)
                member["id_number"] = _id_number(rng, birth, gender, config.region)
                self.members_of[branch["branch_id"]].append(member)
            committee = self.members_of[branch["branch_id"]][: 4 if size < 22 else 5]
            for person in committee:  # the committee are full members, present throughout
                person.update(member_type="正式党员", full_member_on=person["full_member_on"] or person["joined_on"])
            self.committee_of[branch["branch_id"]] = committee
            branch["secretary_id"], branch["organizer_id"] = committee[0]["member_id"], committee[1]["member_id"]
        # membership changes on the first of a month (transfers between branches of the sub-district)
        if len(self.branches) >= 2 and len(self.months) > 4:
            for n, branch in enumerate(self.branches[: max(1, len(self.branches) // 5)]):
                people = self.members_of[branch["branch_id"]]
                leaver = people[-1]
                leaver["transferred_out_on"] = self.months[3 + n % max(1, len(self.months) - 4)]
                newcomer = dict(
                    people[-2],
                    member_id=f"{config.prefix}M{seq + n + 1:05d}",
                    name=self.rng.choice(SURNAMES) + self.rng.choice(GIVEN) + self.rng.choice(GIVEN),
                )
                newcomer.update(transferred_in_on=self.months[4 + n % max(1, len(self.months) - 5)], member_type="正式党员")
                newcomer["id_number"] = _id_number(self.rng, newcomer["birth_date"], newcomer["gender"], config.region)
                people.append(newcomer)
        for people in self.members_of.values():
            self.world.tables["members"].extend(people)
        self.world.tables["branches"].extend(self.branches)

    # -- meetings
    def meeting(
        self, branch: dict[str, Any], kind: str, day: dt.date, attendees: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        self.meeting_seq += 1
        rng = self.rng
        present = [m for m in attendees if _in_branch(m, day)]
        statuses = ["出席" if rng.random() < 0.92 else "请假" for _ in present]
        meeting = {
            "meeting_id": f"{self.config.prefix}HD{self.meeting_seq:06d}",
            "branch_id": branch["branch_id"],
            "meeting_type": kind,
            "held_on": day,
            "group_name": extra.pop("group_name", None),
            "topic": extra.pop("topic", None) or rng.choice(TOPICS),
            "content": None,
            "host": self.committee_of[branch["branch_id"]][0]["name"],
            "lecturer_id": extra.pop("lecturer_id", None),
            "expected_count": len(present),
            "present_count": statuses.count("出席"),
            "leave_count": statuses.count("请假"),
            "has_minutes": True,
            "recorder": self.committee_of[branch["branch_id"]][1]["name"],
        }
        self.world.tables["meetings"].append(meeting)
        for person, status in zip(present, statuses, strict=True):
            self.world.tables["attendance"].append(
                {
                    "meeting_id": meeting["meeting_id"],
                    "member_id": person["member_id"],
                    "status": status,
                    "reason": rng.choice(["出差", "病假", "家中有事", "外出学习"]) if status == "请假" else None,
                }
            )
        return meeting

    def make_meetings(self) -> None:
        rng = self.rng
        for branch in self.branches:
            bid = branch["branch_id"]
            people, committee = self.members_of[bid], self.committee_of[bid]
            secretary = committee[0]
            for month in self.months:
                self.meeting(branch, "支部委员会", month.replace(day=rng.randrange(3, 9)), committee)
                for group in self.groups_of[bid]:
                    self.meeting(
                        branch,
                        "党小组会",
                        month.replace(day=rng.randrange(8, 13)),
                        [m for m in people if m["group_name"] == group],
                        group_name=group,
                    )
                theme = self.meeting(branch, "主题党日", month.replace(day=15), people)
                study = STUDIES[int(theme["meeting_id"].removeprefix(self.config.prefix)[2:]) % len(STUDIES)]
                theme["content"] = f"集中学习{study}，围绕“{theme['topic']}”交流研讨"
                if month.month % 3 == 2:
                    assembly = self.meeting(branch, "支部党员大会", month.replace(day=rng.randrange(18, 23)), people)
                    assembly["present_count"] = max(assembly["present_count"], 0)
                    self.meeting(
                        branch,
                        "党课",
                        month.replace(day=rng.randrange(24, 28)),
                        people,
                        lecturer_id=secretary["member_id"],
                        topic="书记讲党课：" + rng.choice(TOPICS),
                    )
                if month.month in (6, 12):
                    day = month.replace(day=rng.randrange(26, 29))
                    self.meeting(
                        branch,
                        "组织生活会",
                        day,
                        people,
                        topic=f"{month.year}年度{'上' if month.month == 6 else '下'}半年组织生活会",
                    )
                    if month.month == 12:
                        self.meeting(branch, "民主评议", day, people, topic=f"{month.year}年度民主评议党员")
                if rng.random() < 0.25:
                    self.meeting(
                        branch, "集中学习", month.replace(day=rng.randrange(20, 24)), people, lecturer_id=secretary["member_id"]
                    )
        self._ensure_quorum()

    def _ensure_quorum(self) -> None:
        """A 党员大会 needs more than half present; nudge random leave back to attendance."""
        by_meeting = defaultdict(list)
        for row in self.world.tables["attendance"]:
            by_meeting[row["meeting_id"]].append(row)
        for meeting in self.world.tables["meetings"]:
            if meeting["meeting_type"] != "支部党员大会":
                continue
            rows = by_meeting[meeting["meeting_id"]]
            for row in rows:
                if meeting["present_count"] * 2 > meeting["expected_count"]:
                    break
                if row["status"] == "请假":
                    row.update(status="出席", reason=None)
                    meeting["present_count"] += 1
                    meeting["leave_count"] -= 1

    # -- monthly records
    def make_monthly(self) -> None:
        rng = self.rng
        for branch in self.branches:
            bid = branch["branch_id"]
            organizer = self.committee_of[bid][1]
            for month in self.months:
                for person in self.members_of[bid]:
                    if not _in_month(person, month):
                        continue
                    base, bonus, penalty = 80.0, float(rng.choice([0, 0, 2, 5, 10])), float(rng.choice([0, 0, 0, 1, 2]))
                    quarter_end = add_months(month, 2 - (month.month - 1) % 3)
                    self.world.tables["points"].append(
                        {
                            "member_id": person["member_id"],
                            "month": month,
                            "base_points": base,
                            "bonus_points": bonus,
                            "penalty_points": penalty,
                            "total_points": base + bonus - penalty,
                            "published_on": quarter_end.replace(day=25),
                        }
                    )
                    due = dues_for(person["employment"], person["income_base"])
                    self.world.tables["dues"].append(
                        {
                            "member_id": person["member_id"],
                            "month": month,
                            "amount_due": due,
                            "amount_paid": due,
                            "paid_on": month.replace(day=rng.randrange(1, 11)),
                            "collector": organizer["name"],
                        }
                    )
                self.world.tables["dues_disclosures"].append(
                    {
                        "branch_id": bid,
                        "month": month,
                        "published_on": month.replace(day=26),
                        "reported_on": month.replace(day=28),
                    }
                )
            for year in sorted({m.year for m in self.months if m.month == 12}):
                assessed_on = dt.date(year, 12, 31)
                people = [m for m in self.members_of[bid] if _in_branch(m, assessed_on)]
                full = [
                    m
                    for m in people
                    if (m["full_member_on"] or m["joined_on"]) <= assessed_on and not (m["member_type"] == "预备党员")
                ]
                excellent = set(id(m) for m in rng.sample(full, len(full) // 5))
                for person in people:
                    grade = "不评等次" if person not in full else ("优秀" if id(person) in excellent else "合格")
                    self.world.tables["evaluations"].append({"year": year, "member_id": person["member_id"], "grade": grade})
            for index in sorted({min(2, len(self.months) - 1), min(8, len(self.months) - 1)}):  # autumn and spring checks
                self.world.tables["venues"].append(
                    {
                        "branch_id": bid,
                        "checked_on": self.months[index].replace(day=10),
                        **dict.fromkeys(
                            ["has_space", "has_facilities", "has_signage", "has_flags", "has_publications", "has_rules"], True
                        ),
                    }
                )

    def make_committee(self) -> None:
        """The committee list (支委名单): each branch's committee with their posts, terms open since
        before the window (no random draws: the rest of the sample stays as it was)."""
        start = add_months(self.months[0], -TERM_BEFORE_MONTHS)
        for branch in self.branches:
            for person, post in zip(self.committee_of[branch["branch_id"]], POSTS, strict=False):
                self.world.tables["committee"].append(
                    {
                        "branch_id": branch["branch_id"],
                        "member_id": person["member_id"],
                        "post": post,
                        "term_start": start,
                        "term_end": None,
                    }
                )

    def make_development(self) -> None:
        """One recruitment case for every third branch, every step on time."""
        rng = self.rng
        for n, branch in enumerate(self.branches[::3]):
            assemblies = [
                m
                for m in self.world.tables["meetings"]
                if m["branch_id"] == branch["branch_id"]
                and m["meeting_type"] == "支部党员大会"
                and m["held_on"].year >= self.months[-1].year
            ]
            if not assemblies:
                continue
            admitted = assemblies[min(1, len(assemblies) - 1)]["held_on"]
            publicity_end = admitted - dt.timedelta(days=5)
            publicity_start = publicity_end - dt.timedelta(days=11)
            candidate = publicity_start - dt.timedelta(days=30)
            activist = candidate - dt.timedelta(days=400)
            applied = activist - dt.timedelta(days=60)
            voters = sum(
                1 for m in self.members_of[branch["branch_id"]] if _in_branch(m, admitted) and m["member_type"] == "正式党员"
            )
            self.world.tables["development"].append(
                {
                    "person_id": f"{self.config.prefix}P{n + 1:04d}",
                    "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                    "branch_id": branch["branch_id"],
                    "birth_date": dt.date(rng.randrange(1985, 1998), rng.randrange(1, 13), rng.randrange(1, 28)),
                    "applied_on": applied,
                    "talked_on": applied + dt.timedelta(days=20),
                    "activist_on": activist,
                    "candidate_on": candidate,
                    "publicity_start": publicity_start,
                    "publicity_end": publicity_end,
                    "admitted_on": admitted,
                    "voters_expected": voters,
                    "voters_present": voters - 1,
                    "votes_for": voters - 1,
                    "approved_on": admitted + dt.timedelta(days=40),
                    "full_member_on": None,
                }
            )

    def generate(self) -> World:
        self.make_branches()
        self.make_members()
        self.make_meetings()
        self.make_monthly()
        self.make_development()
        self.make_committee()
        if self.config.plant:
            _Planter(self).plant()
        return self.world


# --- planted violations and defects --------------------------------------------------------------


class _Planter:
    """Each plant breaks one rule in one branch and records exactly the findings it must cause."""

    def __init__(self, gen: _Generator):
        self.gen, self.world, self.rng = gen, gen.world, random.Random(gen.config.seed + 1)
        self.branches = gen.branches
        self.months = {month_key(m): m for m in gen.months}

    def id(self, text: str) -> str:
        """A planted row's identifier, distinct in each part of a batch (`SynthConfig.prefix`)."""
        return self.gen.config.prefix + text

    def branch(self, n: int) -> dict[str, Any]:
        return self.branches[n % len(self.branches)]

    def meetings(self, branch: dict[str, Any], kind: str, month: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.world.tables["meetings"]
            if m["branch_id"] == branch["branch_id"]
            and m["meeting_type"] == kind
            and (month is None or month_key(m["held_on"]) == month)
        ]

    def drop_meeting(self, meeting: dict[str, Any]) -> None:
        self.world.tables["meetings"].remove(meeting)
        self.world.tables["attendance"] = [a for a in self.world.tables["attendance"] if a["meeting_id"] != meeting["meeting_id"]]

    def regular(self, branch: dict[str, Any]) -> list[dict[str, Any]]:
        """Members present in the branch for the whole window, not on the committee."""
        committee = {m["member_id"] for m in self.gen.committee_of[branch["branch_id"]]}
        return [
            m
            for m in self.gen.members_of[branch["branch_id"]]
            if m["member_id"] not in committee
            and m["transferred_in_on"] is None
            and m["transferred_out_on"] is None
            and m["joined_on"] < min(self.months.values())
        ]

    def plant(self) -> None:
        if not PLANT_MONTHS <= set(self.months) or len(self.branches) < 3:
            raise ValueError(PLANT_NEEDS)
        for plant in (
            self.ol2,
            self.ol5,
            self.ol6,
            self.ol1,
            self.ol10,
            self.ol3,
            self.ol7,
            self.ol8,
            self.ol9,
            self.tm1,
            self.sm1,
            self.sm2,
            self.sm3,
            self.sm4,
            self.sm5,
            self.sm6,
            self.sm7,
            self.sm8,
            self.sm9,
            self.bg1,
            self.ol11,
            self.sm10,
            self.defects,  # last: it copies rows the plants above may have changed
        ):
            plant()

    def ol2(self) -> None:
        b = self.branch(0)
        self.drop_meeting(self.meetings(b, "支部委员会", "2019-02")[0])
        self.world.expect("OL-2", "error", b["branch_id"], "", "2019-02", "2019年2月未召开支部委员会")

    def ol5(self) -> None:
        b = self.branch(1)
        self.drop_meeting(self.meetings(b, "主题党日", "2019-03")[0])
        self.world.expect("OL-5", "error", b["branch_id"], "", "2019-03", "2019年3月没有主题党日")
        b = self.branch(2)
        self.meetings(b, "主题党日", "2019-01")[0]["held_on"] = dt.date(2019, 1, 16)
        self.world.expect("OL-5", "warning", b["branch_id"], "", "2019-01", "主题党日在16日而不是15日")

    def ol6(self) -> None:
        b = self.branch(3)
        self.meetings(b, "主题党日", "2019-02")[0]["has_minutes"] = False
        self.world.expect("OL-6", "error", b["branch_id"], "", "2019-02", "主题党日没有会议记录")
        b = self.branch(4)
        meeting = self.meetings(b, "主题党日", "2019-01")[0]
        person = self.regular(b)[0]
        self.world.tables["attendance"] = [
            a
            for a in self.world.tables["attendance"]
            if not (a["meeting_id"] == meeting["meeting_id"] and a["member_id"] == person["member_id"])
        ]
        self.world.expect(
            "OL-6", "error", b["branch_id"], "", "2019-01", f"主题党日参会名单缺少 {person['member_id']}", needs="attendance"
        )

    def ol1(self) -> None:
        b = self.branch(5)
        self.drop_meeting(self.meetings(b, "支部党员大会", "2019-05")[0])
        self.world.expect("OL-1", "error", b["branch_id"], "", "2019Q2", "2019年第二季度未召开支部党员大会")

    def ol10(self) -> None:
        b = self.branch(6)
        meeting = self.meetings(b, "支部党员大会", "2019-02")[0]
        rows = [a for a in self.world.tables["attendance"] if a["meeting_id"] == meeting["meeting_id"]]
        for row in rows[: len(rows) // 2 + 1]:
            row.update(status="缺席", reason=None)
        meeting["present_count"] = sum(1 for a in rows if a["status"] == "出席")
        meeting["leave_count"] = sum(1 for a in rows if a["status"] == "请假")
        self.world.expect("OL-10", "error", b["branch_id"], "", "2019-02", "支部党员大会实到人数未过半")
        b = self.branch(7)
        meeting = self.meetings(b, "支部党员大会", "2019-05")[0]
        meeting["present_count"] += 3
        self.world.expect("OL-10", "error", b["branch_id"], "", "2019-05", "实到人数与参会名单不一致", needs="attendance")

    def ol3(self) -> None:
        b = self.branch(8)
        group = self.gen.groups_of[b["branch_id"]][1]
        self.drop_meeting(next(m for m in self.meetings(b, "党小组会", "2019-01") if m["group_name"] == group))
        self.world.expect("OL-3", "error", b["branch_id"], group, "2019-01", f"{group}2019年1月未召开党小组会")

    def ol7(self) -> None:
        b = self.branch(9)
        self.drop_meeting(self.meetings(b, "组织生活会", "2019-06")[0])
        self.world.expect("OL-7", "error", b["branch_id"], "", "2019H1", "2019年上半年未召开组织生活会")

    def ol8(self) -> None:
        b = self.branch(10)
        self.drop_meeting(self.meetings(b, "民主评议", "2018-12")[0])
        self.world.expect("OL-8", "error", b["branch_id"], "", "2018", "2018年未开展民主评议")

    def ol9(self) -> None:
        """优秀 exactly a third of everyone assessed, but more than a third of the 正式党员."""
        b = self.branch(11)
        rows = [
            e
            for e in self.world.tables["evaluations"]
            if e["year"] == 2019 and e["member_id"] in {m["member_id"] for m in self.gen.members_of[b["branch_id"]]}
        ]
        formal = [e for e in rows if e["grade"] != "不评等次"]
        need = len(formal) // 3 + 1
        for e in formal[:need]:
            e["grade"] = "优秀"
        for e in formal[need:]:
            e["grade"] = "合格"
        self.world.expect(
            "OL-9", "error", b["branch_id"], "", "2019", f"2019年优秀{need}人，超过正式党员{len(formal)}人的三分之一"
        )

    def tm1(self) -> None:
        b = self.branch(12)
        lecture = self.meetings(b, "党课", "2019-08")[0]
        lecture["lecturer_id"] = self.gen.committee_of[b["branch_id"]][2]["member_id"]
        lecture["topic"] = "党课：" + self.rng.choice(TOPICS)
        for study in [m for m in self.meetings(b, "集中学习") if _quarter(m["held_on"]) == "2019Q3"]:
            self.drop_meeting(study)
        self.world.expect("TM-1", "error", b["branch_id"], "", "2019Q3", "2019年第三季度书记未带头讲党课或领学")

    def _row(self, table: str, member: str, month: str) -> dict[str, Any]:
        return next(r for r in self.world.tables[table] if r["member_id"] == member and month_key(r["month"]) == month)

    def sm1(self) -> None:
        b = self.branch(13)
        person = self.regular(b)[0]
        self.world.tables["points"].remove(self._row("points", person["member_id"], "2019-02"))
        self.world.expect(
            "SM-1", "error", b["branch_id"], person["member_id"], "2019-02", "缺少2019年2月积分记录", needs="points"
        )

    def sm2(self) -> None:
        b = self.branch(14)
        ids = {m["member_id"] for m in self.gen.members_of[b["branch_id"]]}
        for row in self.world.tables["points"]:
            if row["member_id"] in ids and _quarter(row["month"]) == "2019Q1":
                row["published_on"] = None
        self.world.expect("SM-2", "error", b["branch_id"], "", "2019Q1", "2019年第一季度积分未公示", needs="points")

    def sm3(self) -> None:
        b = self.branch(15)
        person = self.regular(b)[1]
        self._row("points", person["member_id"], "2019-03")["total_points"] += 5
        self.world.expect(
            "SM-3", "error", b["branch_id"], person["member_id"], "2019-03", "月度积分不等于基础分+加分-扣分", needs="points"
        )

    def sm4(self) -> None:
        b = self.branch(16)
        person = self.regular(b)[1]
        person["transferred_out_on"] = dt.date(2019, 2, 1)
        ids = {person["member_id"]}
        late = [r for r in self.world.tables["points"] if r["member_id"] in ids and r["month"] >= dt.date(2019, 4, 1)]
        for row in late:
            self.world.tables["points"].remove(row)
        self.world.tables["dues"] = [
            r for r in self.world.tables["dues"] if not (r["member_id"] in ids and r["month"] >= dt.date(2019, 4, 1))
        ]
        self.world.tables["attendance"] = [
            a
            for a in self.world.tables["attendance"]
            if not (a["member_id"] in ids and self._meeting_day(a["meeting_id"]) >= dt.date(2019, 2, 1))
        ]
        self.world.tables["evaluations"] = [
            e for e in self.world.tables["evaluations"] if not (e["member_id"] in ids and e["year"] >= 2019)
        ]
        self.recount(
            {
                m["meeting_id"]
                for m in self.world.tables["meetings"]
                if m["branch_id"] == b["branch_id"] and m["held_on"] >= dt.date(2019, 2, 1)
            }
        )
        for month in ("2019-02", "2019-03"):
            self.world.expect("SM-4", "error", b["branch_id"], person["member_id"], month, f"转出后仍有{month}的党费和积分记录")

    def recount(self, meeting_ids: set[str]) -> None:
        """Keep these meetings' counts in step with their attendance lists after a plant edits them."""
        rows = defaultdict(list)
        for a in self.world.tables["attendance"]:
            rows[a["meeting_id"]].append(a["status"])
        for m in self.world.tables["meetings"]:
            if m["meeting_id"] not in meeting_ids:
                continue
            statuses = rows[m["meeting_id"]]
            m.update(expected_count=len(statuses), present_count=statuses.count("出席"), leave_count=statuses.count("请假"))

    def _meeting_day(self, meeting_id: str) -> dt.date:
        if not hasattr(self, "_days"):
            self._days = {m["meeting_id"]: m["held_on"] for m in self.world.tables["meetings"]}
        return self._days[meeting_id]

    def sm5(self) -> None:
        b = self.branch(17)
        person = self.regular(b)[2]
        self._employ(person)
        row = self._row("dues", person["member_id"], "2019-01")
        row["amount_paid"] = round(row["amount_due"] / 2, 2)
        self.world.expect("SM-5", "error", b["branch_id"], person["member_id"], "2019-01", "2019年1月党费未足额交纳")

    def sm6(self) -> None:
        b = self.branch(18)
        person = self.regular(b)[0]
        self._employ(person)
        for row in self.world.tables["dues"]:
            if row["member_id"] == person["member_id"]:
                row["amount_due"] = row["amount_paid"] = round(person["income_base"] * 0.005, 2)
                self.world.expect(
                    "SM-6",
                    "error",
                    b["branch_id"],
                    person["member_id"],
                    month_key(row["month"]),
                    "应交金额低于按收入基数计算的标准",
                )

    def _employ(self, person: dict[str, Any]) -> None:
        """Make a member an employee on 6500 a month, with dues to match, so a plant is unambiguous."""
        person.update(employment="在职", income_base=6500)
        for row in self.world.tables["dues"]:
            if row["member_id"] == person["member_id"]:
                row["amount_due"] = row["amount_paid"] = dues_for("在职", 6500)

    def sm7(self) -> None:
        b = self.branch(19)
        self.world.tables["dues_disclosures"] = [
            d
            for d in self.world.tables["dues_disclosures"]
            if not (d["branch_id"] == b["branch_id"] and month_key(d["month"]) == "2019-02")
        ]
        self.world.expect("SM-7", "error", b["branch_id"], "", "2019-02", "2019年2月党费收缴情况未公开、未报备")
        self.sm7_timely()

    def sm7_timely(self) -> None:
        """Disclosures published after their deadline (10 days after the month ends), each a warning
        in the month the deadline falls in: January's in February, March's in April (so a quarter's
        last month is reported by the next quarter's audit); April's, published on the 10th day, is
        on time. Fixed dates on existing rows (no random draws), in branches already 未达标 in that
        quarter and in no other test's story, so the rest of the sample and every rating are unchanged."""
        cases: list[tuple[int, str, dt.date, str | None, str]] = [
            (16, "2019-01", dt.date(2019, 2, 18), "2019-02", "2019年1月党费收缴情况月末后18天才公开（期限为月末后10天）"),
            (9, "2019-03", dt.date(2019, 4, 22), "2019-04", "2019年3月党费收缴情况月末后22天才公开（期限4月10日，在下一季度）"),
            (9, "2019-04", dt.date(2019, 5, 10), None, "月末后第10天公开：按时"),
        ]
        for n, month, published_on, due, note in cases:
            if month not in self.months or (due is not None and due not in self.months):
                continue
            b = self.branch(n)
            disclosure = next(
                d
                for d in self.world.tables["dues_disclosures"]
                if d["branch_id"] == b["branch_id"] and month_key(d["month"]) == month
            )
            disclosure["published_on"], disclosure["reported_on"] = published_on, published_on + dt.timedelta(days=2)
            if due is not None:
                self.world.expect("SM-7", "warning", b["branch_id"], "", due, note)

    def sm8(self) -> None:
        b = self.branch(0)
        person = self.regular(b)[1]
        for month in ("2018-10", "2018-11", "2018-12", "2019-01", "2019-02", "2019-03"):
            row = self._row("dues", person["member_id"], month)
            row["amount_paid"], row["paid_on"] = 0.0, None
            self.world.expect("SM-5", "error", b["branch_id"], person["member_id"], month, f"{month}党费未交纳")
        self.world.expect(
            "SM-8", "critical", b["branch_id"], person["member_id"], "2019-03", "连续6个月未交纳党费（自行脱党风险）"
        )

    def sm9(self) -> None:
        """Two recruitment traps: 公示 over Spring Festival counted in official working days, and a
        vote that carries among those present but not among those expected."""
        b = self.branch(2)
        voters = sum(1 for m in self.gen.members_of[b["branch_id"]] if m["member_type"] == "正式党员")
        base = {
            "name": "赵春生",
            "branch_id": b["branch_id"],
            "birth_date": dt.date(1992, 4, 3),
            "applied_on": dt.date(2017, 9, 1),
            "talked_on": dt.date(2017, 9, 20),
            "activist_on": dt.date(2017, 10, 15),
            "candidate_on": dt.date(2018, 12, 20),
            "voters_expected": voters,
            "voters_present": voters,
            "votes_for": voters,
            "full_member_on": None,
        }
        self.world.tables["development"].append(
            {
                **base,
                "person_id": self.id("P9001"),
                "publicity_start": dt.date(2019, 2, 1),
                "publicity_end": dt.date(2019, 2, 11),
                "admitted_on": dt.date(2019, 2, 20),
                "approved_on": dt.date(2019, 3, 25),
            }
        )
        self.world.expect(
            "SM-9", "error", b["branch_id"], self.id("P9001"), "2019-02", "公示期不足5个工作日（春节假期不计，调休上班日计入）"
        )
        # the same span a year later holds 5 official working days only with the 调休 Saturday: compliant trap
        present = max(3, voters * 3 // 4)
        votes = voters // 2  # more than half of those present, not more than half of those expected
        self.world.tables["development"].append(
            {
                **base,
                "person_id": self.id("P9002"),
                "name": "钱秋实",
                "publicity_start": dt.date(2019, 1, 31),
                "publicity_end": dt.date(2019, 2, 11),
                "admitted_on": dt.date(2019, 2, 20),
                "approved_on": dt.date(2019, 3, 25),
                "voters_present": present,
                "votes_for": max(votes, present // 2 + 1),
            }
        )
        self.world.expect("SM-9", "error", b["branch_id"], self.id("P9002"), "2019-02", "赞成票未超过应到有表决权党员的半数")
        self.sm9_across_quarters()

    def sm9_across_quarters(self) -> None:
        """Recruitment breaches that become visible in a later quarter than the step that opens them,
        each judged in the month it falls due: a vote in 2019Q2 whose approval, recorded late in Q4,
        was due in Q3; a 转正 in Q4 before a year of probation from a vote in Q1; an application in
        Q2 with no talk by its deadline in Q3. Fixed values and appended rows (no random draws), in
        a branch that already fails 制度机制 every quarter (SM-6), so the rest of the sample is
        unchanged; a case is planted only when the month it falls due is in the generated months."""
        b = self.branch(18)
        voters = sum(1 for m in self.gen.members_of[b["branch_id"]] if m["member_type"] == "正式党员")
        steps = {
            "birth_date": dt.date(1990, 8, 12),
            "applied_on": dt.date(2017, 3, 6),
            "talked_on": dt.date(2017, 3, 28),
            "activist_on": dt.date(2017, 5, 10),
            "candidate_on": dt.date(2018, 6, 15),
            "voters_expected": voters,
            "voters_present": voters,
            "votes_for": voters,
            "full_member_on": None,
        }
        blank = dict.fromkeys([*steps, "publicity_start", "publicity_end", "admitted_on", "approved_on"])  # every step
        cases: list[tuple[str, str, dict[str, Any]]] = [
            (
                "2019-09",  # the vote on 2019-06-12 + 3 months
                "上级党委审批超过支部大会后3个月（支部大会在第二季度，期限在第三季度，第四季度才审批）",
                {
                    **steps,
                    "person_id": self.id("P9003"),
                    "name": "周立夏",
                    "publicity_start": dt.date(2019, 5, 27),
                    "publicity_end": dt.date(2019, 6, 4),
                    "admitted_on": dt.date(2019, 6, 12),
                    "approved_on": dt.date(2019, 10, 15),
                },
            ),
            (
                "2019-12",  # the 转正, 8 months after the vote in 2019Q1
                "预备期不满一年即转正（支部大会在第一季度，转正在第四季度）",
                {
                    **steps,
                    "person_id": self.id("P9004"),
                    "name": "吴冬青",
                    "publicity_start": dt.date(2019, 3, 4),
                    "publicity_end": dt.date(2019, 3, 11),
                    "admitted_on": dt.date(2019, 3, 18),
                    "approved_on": dt.date(2019, 4, 22),
                    "full_member_on": dt.date(2019, 12, 16),
                },
            ),
            (
                "2019-07",  # the application on 2019-06-17 + 1 month
                "递交申请后1个月内未谈话（申请在第二季度，期限在第三季度）",
                {
                    **blank,  # applied, nothing since
                    "person_id": self.id("P9005"),
                    "name": "郑春和",
                    "birth_date": dt.date(1996, 2, 9),
                    "applied_on": dt.date(2019, 6, 17),
                },
            ),
        ]
        for due, note, case in cases:
            if due in self.months:
                self.world.tables["development"].append({"branch_id": b["branch_id"], **case})
                self.world.expect("SM-9", "error", b["branch_id"], case["person_id"], due, note)

    def bg1(self) -> None:
        b = self.branch(5)
        venue = [v for v in self.world.tables["venues"] if v["branch_id"] == b["branch_id"]][-1]
        venue["has_publications"] = False
        # the finding stands in every later quarter until a new check shows the room complete
        for quarter in sorted({_quarter(m) for m in self.gen.months if m >= venue["checked_on"].replace(day=1)}):
            self.world.expect("BG-1", "error", b["branch_id"], "", quarter, "党员活动室缺少党报党刊（此后未再检查）")

    def ol11(self) -> None:
        """Theme days whose topic and content name no study of 党章党规 or 习近平新时代中国特色社会主义思想
        (warnings), and the traps around them, with fixed texts (no random draws), in branches
        already 未达标 in those quarters: a generic topic whose content names the study passes;
        a topic naming 党章 only inside a member's name (党 is a surname) does not count; a theme
        day with neither topic nor content is OL-6's (not recorded), not OL-11's."""
        b = self.branch(15)  # XH16, 未达标 in 2019Q1 (SM-3)
        day = self.meetings(b, "主题党日", "2019-03")[0]
        day["topic"], day["content"] = "环境整治志愿活动", "组织党员清理小区楼道杂物、张贴文明标语"
        self.world.expect("OL-11", "warning", b["branch_id"], "", "2019-03", "主题党日只开展环境整治，未学习党章党规等内容")
        day = self.meetings(b, "主题党日", "2019-02")[0]  # generic topic, the content names the study: passes
        day["topic"], day["content"] = "志愿服务进社区", "学习《中国共产党纪律处分条例》后到社区开展志愿服务"
        b = self.branch(11)  # XH12, 未达标 in 2019Q4 (OL-9)
        person = self.regular(b)[3]
        person["name"] = "党章海"
        day = self.meetings(b, "主题党日", "2019-10")[0]
        day["topic"], day["content"] = f"走访慰问老党员{person['name']}", "为生活困难的老党员送去米面油"
        self.world.expect("OL-11", "warning", b["branch_id"], "", "2019-10", "主题中的“党章”只是党员姓名的一部分")
        b = self.branch(19)  # XH20, 未达标 in 2019Q1 (SM-7)
        day = self.meetings(b, "主题党日", "2019-01")[0]
        day["topic"] = day["content"] = None
        self.world.expect(
            "OL-6", "error", b["branch_id"], "", "2019-01", "主题党日没有主题和内容（OL-6，不是 OL-11）", needs="attendance"
        )

    def sm10(self) -> None:
        """Dues collected by someone other than the branch's 组织委员 on the payment's date (errors),
        with fixed values in branches already 未达标 in 2019Q1: the secretary collecting January's
        dues on the organizer's behalf (专人: a breach), and a branch whose organizer changes on
        6 February — the committee list gives both terms, payments before the day collected by the
        old organizer and from it by the new one pass, one payment of 8 February collected by the
        old organizer does not. Export styles without a collector column cannot show them."""
        b = self.branch(17)  # XH18, 未达标 in 2019Q1 (SM-5)
        secretary = self.gen.committee_of[b["branch_id"]][0]
        for person in self.regular(b)[3:6]:
            self._row("dues", person["member_id"], "2019-01")["collector"] = secretary["name"]
        self.world.expect("SM-10", "error", b["branch_id"], "", "2019-01", "书记代组织委员收取党费", needs="collector")
        b = self.branch(14)  # XH15, 未达标 in 2019Q1 (SM-2)
        bid, change = b["branch_id"], dt.date(2019, 2, 6)
        old, new = self.gen.committee_of[bid][1], self.gen.committee_of[bid][2]
        rows = {(c["member_id"], c["post"]): c for c in self.world.tables["committee"] if c["branch_id"] == bid}
        rows[(old["member_id"], "组织委员")]["term_end"] = change - dt.timedelta(days=1)
        rows[(new["member_id"], "宣传委员")]["term_end"] = change - dt.timedelta(days=1)
        self.world.tables["committee"] += [
            {"branch_id": bid, "member_id": new["member_id"], "post": "组织委员", "term_start": change, "term_end": None},
            {"branch_id": bid, "member_id": old["member_id"], "post": "宣传委员", "term_start": change, "term_end": None},
        ]
        b["organizer_id"] = new["member_id"]
        ids = {m["member_id"] for m in self.gen.members_of[bid]}
        for row in self.world.tables["dues"]:
            if row["member_id"] in ids and row["paid_on"] is not None and row["paid_on"] >= change:
                row["collector"] = new["name"]
        late = self._row("dues", self.regular(b)[0]["member_id"], "2019-02")
        late["paid_on"], late["collector"] = dt.date(2019, 2, 8), old["name"]
        self.world.expect("SM-10", "error", bid, "", "2019-02", "组织委员2月6日更换后，原组织委员仍收取党费", needs="collector")

    def defects(self) -> None:
        """Data defects on extra rows, so they change what is quarantined but not the findings."""
        tables, rng = self.world.tables, self.rng
        b0, b1 = self.branch(0), self.branch(1)
        tea = {
            "meeting_id": self.id("HD900001"),
            "branch_id": b0["branch_id"],
            "meeting_type": "茶话会",
            "held_on": dt.date(2019, 1, 25),
            "group_name": None,
            "topic": "新春茶话会",
            "host": None,
            "lecturer_id": None,
            "expected_count": 2,
            "present_count": 2,
            "leave_count": 0,
            "has_minutes": True,
            "recorder": None,
            "_defect": "UNKNOWN_ENUM",
        }
        tables["meetings"].append(tea)
        for person in self.gen.members_of[b0["branch_id"]][:2]:
            tables["attendance"].append(
                {
                    "meeting_id": self.id("HD900001"),
                    "member_id": person["member_id"],
                    "status": "出席",
                    "reason": None,
                    "_defect": "REF_QUARANTINED",
                }
            )
        tables["meetings"].append(
            {
                **tea,
                "meeting_id": self.id("HD900002"),
                "branch_id": b1["branch_id"],
                "meeting_type": "集中学习",
                "topic": "补录学习",
                "_raw": {"held_on": "2019年2月30日"},
                "_defect": "BAD_DATE",
            }
        )
        first_meeting = tables["meetings"][0]
        tables["attendance"].append(
            {
                "meeting_id": first_meeting["meeting_id"],
                "member_id": self.id("M99999"),
                "status": "出席",
                "reason": None,
                "_defect": "DANGLING_REF",
            }
        )
        stranger = self.gen.members_of[b1["branch_id"]][0]
        tables["attendance"].append(
            {
                "meeting_id": first_meeting["meeting_id"],
                "member_id": stranger["member_id"],
                "status": None,
                "reason": None,
                "_defect": "REQUIRED_BLANK",
            }
        )
        dues_row = rng.choice(tables["dues"])
        tables["dues"].insert(tables["dues"].index(dues_row) + 1, {**dues_row, "_defect": "DUPLICATE"})
        tables["dues"].append(
            {
                "member_id": self.id("M99998"),
                "month": dt.date(2019, 1, 1),
                "amount_due": 5.0,
                "amount_paid": 5.0,
                "paid_on": None,
                "collector": None,
                "_raw": {"amount_paid": "-5"},
                "_defect": "NEGATIVE_AMOUNT",
            }
        )
        points_row = next(r for r in tables["points"] if month_key(r["month"]) == "2019-01")
        tables["points"].append({**points_row, "_raw": {"total_points": "九十"}, "_defect": "NOT_A_NUMBER"})
        members = tables["members"]
        members[5]["_raw"], members[5]["_defect"] = {"id_number": "3.70102E+17"}, "ID_MANGLED"
        bad = members[9]["id_number"]
        members[9]["_raw"] = {"id_number": bad[:17] + ("0" if bad[17] != "0" else "1")}
        members[9]["_defect"] = "ID_BAD_CHECKSUM"


def generate(config: SynthConfig) -> World:
    """The canonical rows of a synthetic sub-district, with planted violations when configured."""
    return _Generator(config).generate()


# --- writing exports -----------------------------------------------------------------------------

DateFormat = Callable[[dt.date], Any]
DATE_FORMS: dict[str, DateFormat] = {
    "iso": lambda d: d.isoformat(),
    "slash": lambda d: f"{d.year}/{d.month}/{d.day}",
    "dot": lambda d: f"{d.year}.{d.month}.{d.day}",
    "zh": lambda d: f"{d.year}年{d.month}月{d.day}日",
    "compact": lambda d: f"{d:%Y%m%d}",
    "cell": lambda d: d,  # a real Excel date cell (xlsx only)
}
MONTH_FORMS: dict[str, DateFormat] = {
    "iso": lambda d: f"{d.year}-{d.month:02d}",
    "slash": lambda d: f"{d.year}/{d.month}",
    "zh": lambda d: f"{d.year}年{d.month}月",
    "compact": lambda d: f"{d:%Y%m}",
}
_FULLWIDTH_DIGITS = str.maketrans("0123456789.", "０１２３４５６７８９．")


def _money(value: float, form: str) -> Any:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return {
        "plain": text,
        "yuan": f"{text}元",
        "fullwidth": text.translate(_FULLWIDTH_DIGITS),
        "cell": value,
        "thousands": f"{value:,.2f}",
    }[form]


@dataclass(frozen=True)
class ExportStyle:
    """How one export file spells its headers and values."""

    headers: dict[str, str]  # canonical column -> header text
    date: str = "iso"
    month: str = "iso"
    money: str = "plain"
    yesno: tuple[str, str] = ("是", "否")


def _render(row: dict[str, Any], columns: list[str], types: dict[str, str], style: ExportStyle) -> list[Any]:
    raw = row.get("_raw", {})
    cells = []
    for column in columns:
        if column in raw:
            cells.append(raw[column])
            continue
        value = row.get(column)
        kind = types[column]
        if value is None:
            cells.append("")
        elif kind == "date":
            cells.append(DATE_FORMS[style.date](value))
        elif kind == "month":
            cells.append(MONTH_FORMS[style.month](value))
        elif kind == "number" and column.startswith(("amount", "income")):
            cells.append(_money(value, style.money))
        elif kind == "number":
            cells.append(f"{value:g}" if style.money != "cell" else value)
        elif kind == "yesno":
            cells.append(style.yesno[0] if value else style.yesno[1])
        else:
            cells.append(value if style.money == "cell" and isinstance(value, int) else str(value))
    return cells


@dataclass
class Written:
    files: int
    branches: int
    members: int
    truth: Path


class _Exporter:
    def __init__(self, world: World, out: Path):
        from audit.contract import load_contract

        self.world, self.out = world, out
        self.contract = load_contract()
        self.defects: list[dict[str, Any]] = []
        self.files = 0

    def columns(self, table: str) -> list[str]:
        """The columns an export of ``table`` has: the contract's, without those only real exports
        carry (``info``: kept when present, read by no rule), so the sample stays as it was."""
        return [name for name, column in self.contract.tables[table].columns.items() if not column.info]

    def types(self, table: str) -> dict[str, str]:
        return {name: col.type for name, col in self.contract.tables[table].columns.items()}

    def headers(self, table: str, pick: Callable[[Any], str]) -> dict[str, str]:
        return {name: pick(col) for name, col in self.contract.tables[table].columns.items()}

    def grid(
        self, table: str, rows: list[dict[str, Any]], style: ExportStyle, file: str, sheet: str, first_row: int
    ) -> list[list[Any]]:
        columns = self.columns(table)
        grid = [[style.headers[c] for c in columns]]
        for offset, row in enumerate(rows):
            grid.append(_render(row, columns, self.types(table), style))
            if "_defect" in row:
                self.defects.append(
                    {"file": file, "sheet": sheet, "row": first_row + 1 + offset, "table": table, "code": row["_defect"]}
                )
        return grid

    def csv(self, name: str, table: str, rows: list[dict[str, Any]], style: ExportStyle, encoding: str) -> None:
        grid = self.grid(table, rows, style, name, "", 1)
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\r\n").writerows(grid)
        (self.out / name).write_bytes(buffer.getvalue().encode(encoding))
        self.files += 1

    def xlsx(self, name: str, sheets: list[tuple[str, str, list[dict[str, Any]], ExportStyle, str | None]]) -> None:
        """sheets: (sheet name, table, rows, style, title row or None)."""
        import openpyxl
        from openpyxl.styles import Alignment, Font

        book = openpyxl.Workbook()
        book.remove(book.active)
        for sheet_name, table, rows, style, title in sheets:
            sheet = book.create_sheet(sheet_name)
            offset = 0
            if title:
                sheet.append([title])
                sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(self.columns(table)))
                sheet["A1"].font, sheet["A1"].alignment = Font(bold=True, size=14), Alignment(horizontal="center")
                sheet.append([f"导出时间：{self.world.config.end}（数据由支部填报）"])
                offset = 2
            for line in self.grid(table, rows, style, name, sheet_name, offset + 1):
                sheet.append(line)
        book.save(self.out / name)
        self.files += 1


def _by_branch(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    yield from groups.items()


STYLES = ("contract", "platform")  # how `write_world` writes the exports (`audit synth --style`)


def write_batch(config: SynthConfig, out: Path, *, parquet: bool = False, style: str = "contract") -> Written:
    """Write the synthetic batch as exports (or canonical Parquet) plus the ground truth; a batch
    of more than `PART_BRANCHES` branches as the contract's exports in parts (`write_parts`)."""
    parts = parts_to_write(config, parquet=parquet, style=style)
    if len(parts) > 1:
        return write_parts(parts, out)
    return write_world(generate(config), out, parquet=parquet, style=style)


def parts_to_write(config: SynthConfig, *, parquet: bool = False, style: str = "contract") -> list[SynthConfig]:
    """The parts `write_batch` writes the batch in: only the contract's exports are written in
    parts (`SynthConfig.parts`); Parquet and the platform style in one."""
    return config.parts() if style == "contract" and not parquet else [config]


def write_parts(parts: list[SynthConfig], out: Path) -> Written:
    """A batch in parts (`SynthConfig.parts`), each generated and written as the contract's exports
    alone, into a folder named after its sub-district, so only one part's rows are ever in memory;
    one ground truth for the batch, the defects' files named from the batch folder."""
    out.mkdir(parents=True, exist_ok=True)
    violations: list[dict[str, str]] = []
    defects: list[dict[str, Any]] = []
    files = branches = members = 0
    for part in parts:
        world = generate(part)
        exporter = _Exporter(world, out / part.subdistrict)
        exporter.out.mkdir(exist_ok=True)
        _write_exports(world, exporter)
        violations += world.violations
        defects += [{**d, "file": f"{part.subdistrict}/{d['file']}"} for d in exporter.defects]
        files, branches = files + exporter.files, branches + len(world.tables["branches"])
        members += len(world.tables["members"])
        del world, exporter  # the next part is generated in the memory this one held
    truth_dir = _truth_dir(out)
    _write_truth(truth_dir, violations, defects)
    return Written(files, branches, members, truth_dir)


def write_world(world: World, out: Path, *, parquet: bool = False, style: str = "contract") -> Written:
    """Write a world (generated, perhaps edited by a test) as exports plus its ground truth:
    ``contract`` in the contract's varied forms, ``platform`` the way platforms and hand-kept
    templates write it (``audit.synth_platform``)."""
    if style not in STYLES:
        raise ValueError(f"未知的导出样式「{style}」（可选：{'、'.join(STYLES)}）")
    if style == "platform" and parquet:
        raise ValueError("--parquet 只写规范化表，不能与 --style platform 同时使用")
    out.mkdir(parents=True, exist_ok=True)
    truth_dir = _truth_dir(out)
    if style == "platform":
        from audit.synth_platform import write_platform

        files = write_platform(world, out, truth_dir)
        return Written(files, len(world.tables["branches"]), len(world.tables["members"]), truth_dir)
    exporter = _Exporter(world, out)
    if parquet:
        _write_parquet(world, out, exporter)
    else:
        _write_exports(world, exporter)
    _write_truth(truth_dir, world.violations, exporter.defects)
    return Written(exporter.files, len(world.tables["branches"]), len(world.tables["members"]), truth_dir)


def _truth_dir(out: Path) -> Path:
    """The ground truth's folder beside the batch folder, `<name>.truth` (made)."""
    truth_dir = out.parent / f"{out.name}.truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    return truth_dir


def _write_truth(truth_dir: Path, violations: list[dict[str, str]], defects: list[dict[str, Any]]) -> None:
    """The ground truth: `violations.csv` and `defects.csv` (defects in file, sheet, row order)."""
    _write_truth_csv(
        truth_dir / "violations.csv", violations, ["rule_id", "severity", "branch_id", "subject_id", "period", "note"]
    )
    _write_truth_csv(
        truth_dir / "defects.csv",
        sorted(defects, key=lambda d: (d["file"], d["sheet"], d["row"])),
        ["file", "sheet", "row", "table", "code"],
    )


def _write_truth_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A truth file: ``columns`` of ``rows`` (other keys, such as a violation's ``needs``, left out)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _write_parquet(world: World, out: Path, exporter: _Exporter) -> None:
    import polars as pl

    for name, table in exporter.contract.tables.items():
        rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in world.tables.get(name, []) if "_defect" not in r]
        schema = {c.name: c.dtype for c in table.columns.values()}
        pl.DataFrame(rows, schema=schema, orient="row").write_parquet(out / f"{name}.parquet")
        exporter.files += 1


def _write_exports(world: World, ex: _Exporter) -> None:
    """The sample's files deliberately vary the way real exports do (see export-contract.md)."""
    t, config = world.tables, world.config
    label = lambda col: col.label  # noqa: E731
    alias = lambda n: lambda col: col.aliases[min(n, len(col.aliases) - 1)] if col.aliases else col.label  # noqa: E731
    english = lambda col: col.name  # noqa: E731
    names = {b["branch_id"]: b["branch_name"] for b in t["branches"]}

    ex.csv("支部信息.csv", "branches", t["branches"], ExportStyle(ex.headers("branches", alias(1)), date="slash"), "gb18030")
    member_headers = ex.headers("members", label) | {
        "income_base": "月收入基数（元）",
        "id_number": "公民身份号码",
        "phone": " 联系电话 ",
    }
    ex.xlsx(
        f"{config.subdistrict}党员名册.xlsx",
        [
            (
                "党员名册",
                "members",
                t["members"],
                ExportStyle(member_headers, date="cell", money="cell"),
                f"{config.subdistrict}党员名册",
            )
        ],
    )
    ex.xlsx(
        "三会一课台账.xlsx",
        [
            (
                "会议活动",
                "meetings",
                t["meetings"],
                ExportStyle(ex.headers("meetings", alias(0)), date="zh", yesno=("有", "无")),
                f"{config.subdistrict}三会一课台账",
            ),
            ("参会明细", "attendance", t["attendance"], ExportStyle(ex.headers("attendance", alias(0))), None),
            ("填表说明", "attendance", [], ExportStyle(ex.headers("attendance", alias(0))), None),
        ],
    )
    member_branch = {m["member_id"]: m["branch_id"] for m in t["members"]}
    point_styles = [
        ("utf-8-sig", ExportStyle(ex.headers("points", alias(0)), date="iso", month="iso")),
        ("gb18030", ExportStyle(ex.headers("points", alias(1)), date="dot", month="zh")),
        ("utf-8", ExportStyle(ex.headers("points", label), date="compact", month="compact")),
    ]
    for n, (branch_id, rows) in enumerate(
        sorted(_by_branch(t["points"], lambda r: member_branch.get(r["member_id"], t["branches"][0]["branch_id"])))
    ):
        encoding, style = point_styles[n % len(point_styles)]
        ex.csv(f"{names[branch_id]}_党员积分_{config.end[:4]}.csv", "points", rows, style, encoding)
    dues_headers = ex.headers("dues", alias(1)) | {"amount_paid": "实交金额（元）", "amount_due": "应交金额(元)"}
    half = len(t["dues"]) // 2
    ex.xlsx(
        "党费收缴.xlsx",
        [("Sheet1", "dues", t["dues"][:half], ExportStyle(dues_headers, month="slash", money="yuan"), "党费收缴明细表")],
    )
    ex.csv(
        "党费收缴_补充.csv",
        "dues",
        t["dues"][half:],
        ExportStyle(ex.headers("dues", label), month="zh", money="fullwidth"),
        "gb18030",
    )
    ex.csv(
        "dues_disclosures.csv",
        "dues_disclosures",
        t["dues_disclosures"],
        ExportStyle(ex.headers("dues_disclosures", english)),
        "utf-8",
    )
    ex.xlsx(
        "民主评议结果.xlsx", [("评议结果", "evaluations", t["evaluations"], ExportStyle(ex.headers("evaluations", label)), None)]
    )
    ex.csv(
        "发展党员台账.csv", "development", t["development"], ExportStyle(ex.headers("development", label), date="zh"), "utf-8-sig"
    )
    ex.csv("支委名单.csv", "committee", t["committee"], ExportStyle(ex.headers("committee", label)), "utf-8-sig")
    ex.csv("阵地建设.csv", "venues", t["venues"], ExportStyle(ex.headers("venues", label), yesno=("√", "×")), "gb18030")
    (ex.out / "说明.txt").write_text(
        f"{config.subdistrict}各党支部 {config.start} 至 {config.end} 的组织生活、积分和党费记录导出。\n", encoding="utf-8"
    )
