"""Vectorised generator of canonical tables at benchmark scale (district, province).

`audit synth` builds a realistic sub-district row by row, which is right for a sample with planted
cases but far too slow for 90 million rows. This writes the same canonical schema directly as
Parquet, month by month, with numpy: about 30 members a branch, one year, a few percent of
under-payments, missing points and off-date theme days, and some six-month arrears streaks.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from audit.contract import SOURCE_COLUMNS, load_contract

MEMBERS_PER_BRANCH = 30
YEAR = 2019


def _schema(table: str) -> dict[str, pl.DataType]:
    return load_contract().tables[table].schema()


def _frame(table: str, columns: dict[str, object], file: str) -> pl.DataFrame:
    schema = _schema(table)
    height = len(next(iter(columns.values())))
    full = {
        name: columns.get(name, pl.Series(name, [None] * height, dtype=dtype))
        for name, dtype in schema.items()
        if name not in SOURCE_COLUMNS
    }
    frame = pl.DataFrame(full).with_columns(
        _file=pl.lit(file), _sheet=pl.lit(""), _row=pl.int_range(2, height + 2, dtype=pl.Int64)
    )
    return frame.select([pl.col(n).cast(t) for n, t in schema.items()])


class _Writer:
    """Append month chunks to one Parquet file per table."""

    def __init__(self, folder: Path, table: str):
        self.path = folder / f"{table}.parquet"
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0
        self.table = table

    def write(self, frame: pl.DataFrame) -> None:
        arrow = frame.with_columns(pl.col("_row") + self.rows).to_arrow()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, arrow.schema)
        self.writer.write_table(arrow)
        self.rows += frame.height

    def close(self) -> None:
        if self.writer is None:
            pl.DataFrame(schema=_schema(self.table)).write_parquet(self.path)
        else:
            self.writer.close()


def generate(members: int, folder: Path, *, seed: int = 1, attendance: bool = True) -> dict[str, int]:
    """Write tables/<table>.parquet for `members` members over 2019; returns rows per table."""
    rng = np.random.default_rng(seed)
    folder = folder / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    n_branches = max(1, members // MEMBERS_PER_BRANCH)
    member_ids = np.char.add("M", np.char.zfill(np.arange(members).astype(str), 8))
    branch_of = np.minimum(np.arange(members) // MEMBERS_PER_BRANCH, n_branches - 1)
    branch_ids = np.char.add("B", np.char.zfill(np.arange(n_branches).astype(str), 6))
    group = np.where(np.arange(members) % 2 == 0, "第一党小组", "第二党小组")
    retired = rng.random(members) < 0.2
    income = rng.choice([2800.0, 4200.0, 6500.0, 12000.0], size=members)
    income = np.where(retired, rng.choice([3500.0, 6000.0], size=members), income)
    rate = np.where(
        retired,
        np.where(income <= 5000, 0.005, 0.01),
        np.select([income <= 3000, income <= 5000, income <= 10000], [0.005, 0.01, 0.015], 0.02),
    )
    due = np.round(income * rate + 1e-9, 2)
    out_month = np.where(rng.random(members) < 0.01, rng.integers(2, 13, size=members), 0)  # 1 % transfer out
    out_on = [dt.date(YEAR, int(m), 1) if m else None for m in out_month]
    first = np.arange(members) % MEMBERS_PER_BRANCH == 0
    rows: dict[str, int] = {}

    _frame(
        "branches",
        {
            "branch_id": branch_ids,
            "branch_name": np.char.add(branch_ids, "党支部"),
            "parent_org": np.full(n_branches, "某某街道党工委"),
            "org_type": np.full(n_branches, "社区"),
            "secretary_id": member_ids[first][:n_branches],
        },
        "branches.parquet",
    ).write_parquet(folder / "branches.parquet")
    rows["branches"] = n_branches
    _frame(
        "members",
        {
            "member_id": member_ids,
            "name": np.char.add("党员", member_ids),
            "branch_id": branch_ids[branch_of],
            "group_name": group,
            "member_type": np.full(members, "正式党员"),
            "joined_on": pl.Series([dt.date(2000, 7, 1)] * members, dtype=pl.Date),
            "employment": np.where(retired, "离退休", "在职"),
            "income_base": income,
            "transferred_out_on": pl.Series(out_on, dtype=pl.Date),
            "id_number_status": np.full(members, "missing"),
        },
        "members.parquet",
    ).write_parquet(folder / "members.parquet")
    rows["members"] = members

    streak = rng.random(members) < 0.001  # unpaid from March to August: a six-month streak
    writers = {t: _Writer(folder, t) for t in ("dues", "points", "meetings", "attendance")}
    meeting_seq = 0
    for month_no in range(1, 13):
        month = dt.date(YEAR, month_no, 1)
        active = (out_month == 0) | (out_month > month_no)
        ids, branches = member_ids[active], branch_of[active]
        n = int(active.sum())
        paid = due[active].copy()
        under = rng.random(n) < 0.02
        paid[under] = np.round(paid[under] / 2, 2)
        unpaid = (rng.random(n) < 0.005) | (streak[active] & (3 <= month_no <= 8))
        paid[unpaid] = 0.0
        writers["dues"].write(
            _frame(
                "dues",
                {
                    "member_id": ids,
                    "month": pl.Series([month] * n, dtype=pl.Date),
                    "amount_due": due[active],
                    "amount_paid": paid,
                    "paid_on": pl.Series([month.replace(day=5)] * n, dtype=pl.Date),
                },
                "dues.parquet",
            )
        )
        keep = rng.random(n) >= 0.01  # 1 % of points rows missing
        bonus = rng.choice([0.0, 2.0, 5.0], size=n)
        writers["points"].write(
            _frame(
                "points",
                {
                    "member_id": ids[keep],
                    "month": pl.Series([month] * int(keep.sum()), dtype=pl.Date),
                    "base_points": np.full(int(keep.sum()), 80.0),
                    "bonus_points": bonus[keep],
                    "penalty_points": np.zeros(int(keep.sum())),
                    "total_points": 80.0 + bonus[keep],
                    "published_on": pl.Series(
                        [dt.date(YEAR, ((month_no - 1) // 3 + 1) * 3, 25)] * int(keep.sum()), dtype=pl.Date
                    ),
                },
                "points.parquet",
            )
        )
        # per branch: a committee meeting (3 % missing), a theme day (2 % on the 16th), two group meetings
        kinds, days, groups, owners = [], [], [], []
        has_committee = rng.random(n_branches) >= 0.03
        kinds.append(np.full(int(has_committee.sum()), "支部委员会")), days.append(np.full(int(has_committee.sum()), 5))
        groups.append(np.full(int(has_committee.sum()), None)), owners.append(np.arange(n_branches)[has_committee])
        kinds.append(np.full(n_branches, "主题党日")), days.append(np.where(rng.random(n_branches) < 0.02, 16, 15))
        groups.append(np.full(n_branches, None)), owners.append(np.arange(n_branches))
        for name in ("第一党小组", "第二党小组"):
            kinds.append(np.full(n_branches, "党小组会")), days.append(np.full(n_branches, 10))
            groups.append(np.full(n_branches, name)), owners.append(np.arange(n_branches))
        if month_no % 3 == 2:
            kinds.append(np.full(n_branches, "支部党员大会")), days.append(np.full(n_branches, 20))
            groups.append(np.full(n_branches, None)), owners.append(np.arange(n_branches))
        kind, day, grp, owner = (np.concatenate(x) for x in (kinds, days, groups, owners))
        count = len(kind)
        meeting_ids = np.char.add("H", np.char.zfill(np.arange(meeting_seq, meeting_seq + count).astype(str), 10))
        meeting_seq += count
        writers["meetings"].write(
            _frame(
                "meetings",
                {
                    "meeting_id": meeting_ids,
                    "branch_id": branch_ids[owner],
                    "meeting_type": kind,
                    "held_on": pl.Series([month.replace(day=int(d)) for d in day], dtype=pl.Date),
                    "group_name": pl.Series(grp.tolist(), dtype=pl.String),
                    "topic": np.full(count, "学习"),
                    "has_minutes": np.ones(count, dtype=bool),
                },
                "meetings.parquet",
            )
        )
        if attendance:  # every member at the theme day
            theme = kind == "主题党日"
            theme_of_branch = dict(zip(owner[theme].tolist(), meeting_ids[theme].tolist(), strict=True))
            attendees = np.array([theme_of_branch[b] for b in branches.tolist()])
            writers["attendance"].write(
                _frame(
                    "attendance",
                    {
                        "meeting_id": attendees,
                        "member_id": ids,
                        "status": np.where(rng.random(n) < 0.92, "出席", "请假"),
                    },
                    "attendance.parquet",
                )
            )
    for writer in writers.values():
        writer.close()
        rows[writer.table] = writer.rows
    for table in load_contract().tables:  # the contract's other tables, empty (an ingest writes every one)
        if table not in rows:
            pl.DataFrame(schema=_schema(table)).write_parquet(folder / f"{table}.parquet")
            rows[table] = 0
    return rows
