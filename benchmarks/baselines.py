"""The facts behind three rules computed three ways, for the benchmark's side-by-side ratios:

- meeting frequency (OL-2, OL-5): committee meetings and theme days per branch and month;
- dues completeness (SM-5) and points coverage (SM-1): per member and month in the branch;
- the six-month arrears streak (SM-8): longest run of unpaid months ending in the quarter.

`polars_facts` is the project's own code (audit.facts); `pandas_facts` is idiomatic pandas;
`duckdb_facts` is hand-written SQL. All three start from the same canonical Parquet files
(`<folder>/tables/*.parquet`, reading is part of the time) and return the same three frames
(sorted, same dtypes), which the harness and a test assert equal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TypeVar

import pandas as pd
import polars as pl

from audit.facts import FactContext, data_window
from audit.facts.branch_month import branch_month
from audit.facts.member_month import member_month
from audit.facts.member_streak import member_streak
from audit.ingest import scan_tables
from audit.periods import Quarter, month_range
from audit.standard import load_standard

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)
MEETINGS = ["branch_id", "period", "committee_meetings", "theme_days"]
MEMBER_MONTH = ["member_id", "period", "has_points", "paid_in_full"]
STREAK = ["member_id", "unpaid_streak"]


def _normalise(frames: tuple[F, F, F]) -> tuple[F, ...]:
    meetings, member_month, streak = frames
    return (
        meetings.select(MEETINGS).cast({"committee_meetings": pl.Int64, "theme_days": pl.Int64}).sort("branch_id", "period"),
        member_month.select(MEMBER_MONTH)
        .cast({"has_points": pl.Boolean, "paid_in_full": pl.Boolean})
        .sort("member_id", "period"),
        streak.select(STREAK).cast({"unpaid_streak": pl.Int64}).sort("member_id"),
    )


def window(folder: Path) -> tuple[dt.date, dt.date]:
    """The batch's data window (an input of all three, computed once outside the timings)."""
    found = data_window(scan_tables(folder))
    assert found is not None
    return found


def polars_facts(folder: Path, quarter: Quarter, span: tuple[dt.date, dt.date]) -> tuple[pl.DataFrame, ...]:
    """The project's lazy fact queries over Parquet scans, asked for the compared columns only: the
    optimiser drops what they do not need (evidence texts, message context), as the SQL never
    computes it. The full build with every column is the harness's `facts` stage."""
    context = FactContext(scan_tables(folder), load_standard(), quarter, span)
    return tuple(pl.collect_all(_normalise((branch_month(context), member_month(context), member_streak(context)))))


def _months(quarter: Quarter, span: tuple[dt.date, dt.date]) -> tuple[list[dt.date], list[dt.date]]:
    start, end = span
    quarter_months = [m for m in quarter.months if start <= m <= end]
    return quarter_months, month_range(start, quarter_months[-1])


# --- pandas -------------------------------------------------------------------------------------------


def pandas_facts(folder: Path, quarter: Quarter, span: tuple[dt.date, dt.date]) -> tuple[pl.DataFrame, ...]:
    months, history = _months(quarter, span)
    frames = read_pandas(folder)
    branches, members, meetings = frames["branches"], frames["members"], frames["meetings"]
    dues, points = frames["dues"], frames["points"]
    q_months = pd.to_datetime(pd.Series(months))

    held = meetings.assign(month=meetings["held_on"].dt.to_period("M").dt.to_timestamp())
    held = held[held["month"].isin(q_months) & held["meeting_type"].isin(["支部委员会", "主题党日"])]
    counts = held.groupby(["branch_id", "month", "meeting_type"]).size().unstack("meeting_type", fill_value=0)
    grid = pd.MultiIndex.from_product([branches["branch_id"], q_months], names=["branch_id", "month"])
    counts = counts.reindex(grid, fill_value=0).reset_index()
    counts["period"] = counts["month"].dt.strftime("%Y-%m")
    meeting_facts = pd.DataFrame(
        {
            "branch_id": counts["branch_id"],
            "period": counts["period"],
            "committee_meetings": counts.get("支部委员会", 0),
            "theme_days": counts.get("主题党日", 0),
        }
    )

    start = members[["joined_on", "transferred_in_on"]].max(axis=1)
    people = members.assign(start=start)[["member_id", "branch_id", "start", "transferred_out_on"]]

    def member_months(month_list: list[dt.date]) -> pd.DataFrame:
        grid = pd.DataFrame({"month": pd.to_datetime(pd.Series(month_list))})
        grid["month_end"] = grid["month"] + pd.offsets.MonthEnd(0)
        both = people.merge(grid, how="cross")
        inside = (both["start"] <= both["month_end"]) & (
            both["transferred_out_on"].isna() | (both["transferred_out_on"] > both["month"])
        )
        return both.loc[inside, ["member_id", "month"]]

    mm = member_months(months)
    has_points = points[["member_id", "month"]].drop_duplicates().assign(has_points=True)
    paid = dues.groupby(["member_id", "month"], as_index=False).agg(due=("amount_due", "max"), paid=("amount_paid", "sum"))
    mm = mm.merge(has_points, on=["member_id", "month"], how="left").merge(paid, on=["member_id", "month"], how="left")
    mm["has_points"] = mm["has_points"].fillna(False).astype(bool)
    mm["paid_in_full"] = mm["paid"].notna() & (mm["paid"] >= mm["due"] - 1e-6)
    mm["period"] = mm["month"].dt.strftime("%Y-%m")

    hist = member_months(history).sort_values(["member_id", "month"])
    payers = dues.loc[dues["amount_paid"] > 0, ["member_id", "month"]].drop_duplicates().assign(paid=True)
    hist = hist.merge(payers, on=["member_id", "month"], how="left")
    hist["unpaid"] = hist["paid"].isna()
    index = hist["month"].dt.year * 12 + hist["month"].dt.month
    new_run = (hist["unpaid"] != hist.groupby("member_id")["unpaid"].shift()) | (
        index != index.groupby(hist["member_id"]).shift() + 1
    )
    run = new_run.astype(int).groupby(hist["member_id"]).cumsum()
    position = hist.groupby([hist["member_id"], run]).cumcount() + 1
    hist["streak"] = position.where(hist["unpaid"], 0)
    in_quarter = hist[hist["month"].isin(q_months)]
    streak = in_quarter.groupby("member_id", as_index=False)["streak"].max().rename(columns={"streak": "unpaid_streak"})
    return _normalise((pl.from_pandas(meeting_facts), pl.from_pandas(mm[MEMBER_MONTH]), pl.from_pandas(streak)))


def read_pandas(folder: Path) -> dict[str, pd.DataFrame]:
    """The columns the pandas side needs, read with pandas (pyarrow) from the canonical Parquet."""
    wanted = {
        "branches": ["branch_id"],
        "members": ["member_id", "branch_id", "joined_on", "transferred_in_on", "transferred_out_on"],
        "meetings": ["branch_id", "meeting_type", "held_on"],
        "dues": ["member_id", "month", "amount_due", "amount_paid"],
        "points": ["member_id", "month"],
    }
    out = {}
    for name, columns in wanted.items():
        frame = pd.read_parquet(folder / "tables" / f"{name}.parquet", columns=columns)
        for column in ("joined_on", "transferred_in_on", "transferred_out_on", "held_on", "month"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column])
        out[name] = frame
    return out


# --- DuckDB -------------------------------------------------------------------------------------------

SQL = """
WITH qm AS (SELECT unnest($quarter_months::DATE[]) AS month),
hm AS (SELECT unnest($history_months::DATE[]) AS month),
people AS (
  SELECT member_id, branch_id, greatest(joined_on, coalesce(transferred_in_on, joined_on)) AS start, transferred_out_on AS out_on FROM members
),
meeting_facts AS (
  SELECT b.branch_id, strftime(qm.month, '%Y-%m') AS period,
         count(m.branch_id) FILTER (WHERE m.meeting_type = '支部委员会') AS committee_meetings,
         count(m.branch_id) FILTER (WHERE m.meeting_type = '主题党日') AS theme_days
  FROM branches b CROSS JOIN qm
  LEFT JOIN meetings m ON m.branch_id = b.branch_id AND date_trunc('month', m.held_on) = qm.month
  GROUP BY ALL
),
member_month AS (
  SELECT p.member_id, qm.month FROM people p CROSS JOIN qm
  WHERE p.start <= last_day(qm.month) AND (p.out_on IS NULL OR p.out_on > qm.month)
),
dues_month AS (SELECT member_id, month, max(amount_due) AS due, sum(amount_paid) AS paid FROM dues GROUP BY ALL),
member_facts AS (
  SELECT mm.member_id, strftime(mm.month, '%Y-%m') AS period,
         EXISTS (SELECT 1 FROM points pt WHERE pt.member_id = mm.member_id AND pt.month = mm.month) AS has_points,
         coalesce(d.paid >= d.due - 1e-6, false) AS paid_in_full
  FROM member_month mm LEFT JOIN dues_month d ON d.member_id = mm.member_id AND d.month = mm.month
),
history AS (
  SELECT p.member_id, hm.month,
         NOT EXISTS (SELECT 1 FROM dues d WHERE d.member_id = p.member_id AND d.month = hm.month AND d.amount_paid > 0) AS unpaid,
         year(hm.month) * 12 + month(hm.month) AS idx
  FROM people p CROSS JOIN hm
  WHERE p.start <= last_day(hm.month) AND (p.out_on IS NULL OR p.out_on > hm.month)
),
marked AS (
  SELECT *, CASE WHEN unpaid IS DISTINCT FROM lag(unpaid) OVER w OR idx <> lag(idx) OVER w + 1 THEN 1 ELSE 0 END AS brk
  FROM history WINDOW w AS (PARTITION BY member_id ORDER BY month)
),
runs AS (SELECT *, sum(brk) OVER (PARTITION BY member_id ORDER BY month) AS run FROM marked),
streaks AS (
  SELECT member_id, month, CASE WHEN unpaid THEN row_number() OVER (PARTITION BY member_id, run ORDER BY month) ELSE 0 END AS streak FROM runs
)
SELECT 'meetings' AS part, * FROM meeting_facts
"""


def duckdb_facts(folder: Path, quarter: Quarter, span: tuple[dt.date, dt.date]) -> tuple[pl.DataFrame, ...]:
    import duckdb

    months, history = _months(quarter, span)
    con = duckdb.connect()
    for name in ("branches", "members", "meetings", "dues", "points"):
        path = str(folder / "tables" / f"{name}.parquet").replace("'", "''")
        con.sql(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    params = {"quarter_months": months, "history_months": history}
    prefix = SQL.rsplit("SELECT 'meetings'", 1)[0]

    def query(sql: str) -> pl.DataFrame:
        return pl.from_arrow(con.sql(prefix + sql, params=params).to_arrow_table())

    meetings = query("SELECT * FROM meeting_facts")
    member = query("SELECT * FROM member_facts")
    streak = query(
        "SELECT member_id, max(streak) AS unpaid_streak FROM streaks WHERE month IN (SELECT month FROM qm) GROUP BY member_id"
    )
    con.close()
    return _normalise((meetings, member, streak))
