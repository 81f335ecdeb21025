"""Recruitment cases: each step of 发展党员 (SM-9) judged in the month its breach becomes visible.

The parts of a case fall due at different times, often in different quarters, so each part has its
own period column (`<part>_period`, `2019-07`, named by its check's `period_column`) and is judged
only by the audit of the quarter holding that month. Outside those months the period and the
value the part's check reads are null, so GX skips the part: every breach is reported in exactly
one quarter, whatever quarter the case's vote was in.

=============  =======================================================  ==========================
part           judged in the month of                                   value GX judges
=============  =======================================================  ==========================
age            the application (`applied_on`)                           `age_at_application`
talk           the talk deadline (`applied_on` + talk_within_months)    `talk_months_taken`
activist       `candidate_on` (发展对象 determined)                      `activist_months`
publicity      `publicity_end`                                          `publicity_workdays`
quorum, votes  the branch vote (`admitted_on`)                          `present_share`, `for_share`
approval       the approval deadline (vote + approval_within_months)    `approval_months_taken`
probation      转正 (`full_member_on`)                                   `probation_months_served`
=============  =======================================================  ==========================

A deadline part is judged in its deadline's month whether the step was on time, late or is still
missing: a step recorded late was already overdue in that month. `*_months_taken` is the smallest
whole n with the step's date <= start + n months (on time exactly when n <= the threshold); with
no date recorded it is the same count up to the day after the audited months, which lie past the
deadline, so the value fails the threshold. A part whose month lies outside the batch's data
window is never judged, as for every monthly rule. The row's own `period` is the audited quarter;
findings take their month from the part's period column.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import date_zh, format_text, month_key, months_between, source_ref
from audit.facts.registry import fact
from audit.periods import month_end
from audit.workdays import count_workdays

STEP_DATES = [
    "applied_on",
    "talked_on",
    "activist_on",
    "candidate_on",
    "publicity_start",
    "publicity_end",
    "admitted_on",
    "approved_on",
    "full_member_on",
]
# The period column of each part (quorum and votes share the vote's)
PERIOD_COLUMNS = [
    "age_period",
    "talk_period",
    "activist_period",
    "publicity_period",
    "vote_period",
    "approval_period",
    "probation_period",
]


def months_taken(start: str, end: pl.Expr) -> pl.Expr:
    """The smallest whole n with end <= start + n months (a month end is clamped: 1-31 + 1 month is
    2-28, as polars' `offset_by` does); null when either date is missing."""
    first = pl.col(start)
    months = (end.dt.year() - first.dt.year()) * 12 + end.dt.month().cast(pl.Int32) - first.dt.month().cast(pl.Int32)
    return (months + (end.dt.day() > first.dt.day()).cast(pl.Int32)).cast(pl.Int64)


def _due_months(ctx: FactContext) -> dict[str, pl.Expr]:
    """Each part's period column: the month its breach becomes visible, when it is an audited month."""
    rule = ctx.standard.rule("SM-9")
    talk_months = int(rule.threshold("talk_within_months"))
    approval_months = int(rule.threshold("approval_within_months"))
    due = {
        "age_period": pl.col("applied_on"),
        "talk_period": pl.col("applied_on").dt.offset_by(f"{talk_months}mo"),
        "activist_period": pl.col("candidate_on"),
        "publicity_period": pl.col("publicity_end"),
        "vote_period": pl.col("admitted_on"),
        "approval_period": pl.col("admitted_on").dt.offset_by(f"{approval_months}mo"),
        "probation_period": pl.col("full_member_on"),
    }
    return {name: pl.when(day.dt.truncate("1mo").is_in(ctx.months)).then(month_key(day)) for name, day in due.items()}


def _judged(period: str, value: pl.Expr) -> pl.Expr:
    """`value` where the part is judged this quarter (its period column is set), else null."""
    return pl.when(pl.col(period).is_not_null()).then(value)


def _share_of_voters(column: str) -> pl.Expr:
    """`column` as a share of the voting members expected (null when none are expected)."""
    return pl.when(pl.col("voters_expected") > 0).then(pl.col(column) / pl.col("voters_expected"))


@fact("recruitment", ["person_id"], title="发展对象（各环节在其到期所在月审核）")
def recruitment(ctx: FactContext) -> pl.LazyFrame:
    """One row per case with some part judged in the audited months (see the module docstring)."""
    cases = (
        ctx.tables["development"]
        .with_columns(**_due_months(ctx))
        .filter(pl.any_horizontal(pl.col(c).is_not_null() for c in PERIOD_COLUMNS))
        .collect()  # small: the publicity period's working days are counted per case
    )
    if cases.is_empty():
        return _empty_recruitment().lazy()
    counts = [
        count_workdays(start, end) if judged is not None and start is not None and end is not None and start <= end else None
        for judged, start, end in zip(cases["publicity_period"], cases["publicity_start"], cases["publicity_end"], strict=True)
    ]
    for count in counts:
        if count is not None and count.fallback_years:
            ctx.warnings.append(f"发展党员公示期涉及{count.note.strip('（）注意：')}")
    # a step still missing is counted up to the day after the audited months (past its deadline)
    last_day = month_end(ctx.months[-1])
    after = pl.lit(last_day + dt.timedelta(days=1))
    as_of = f"{last_day.year}年{last_day.month}月{last_day.day}日"
    out = cases.with_columns(
        publicity_workdays=pl.Series([c.days if c else None for c in counts], dtype=pl.Int64),
        calendar_note=pl.Series([c.note if c else "" for c in counts], dtype=pl.String),
        age_at_application=_judged("age_period", months_between("birth_date", "applied_on") // 12),
        talk_months_taken=_judged("talk_period", months_taken("applied_on", pl.coalesce("talked_on", after))),
        talk_state=pl.when(pl.col("talked_on").is_null())
        .then(pl.lit(f"截至{as_of}仍无谈话记录"))
        .otherwise(format_text("{}才谈话", date_zh("talked_on"))),
        activist_months=_judged("activist_period", months_between("activist_on", "candidate_on")),
        present_share=_judged("vote_period", _share_of_voters("voters_present")),
        for_share=_judged("vote_period", _share_of_voters("votes_for")),
        approval_months_taken=_judged("approval_period", months_taken("admitted_on", pl.coalesce("approved_on", after))),
        approval_state=pl.when(pl.col("approved_on").is_null())
        .then(pl.lit(f"截至{as_of}上级党委仍未审批"))
        .otherwise(format_text("上级党委{}才审批", date_zh("approved_on"))),
        probation_months_served=_judged("probation_period", months_between("admitted_on", "full_member_on")),
        subject_id=pl.col("person_id"),
        period=pl.lit(str(ctx.quarter)),
        period_zh=pl.lit(ctx.quarter.zh),
        ev_case=source_ref(),
        **{f"{d}_zh": date_zh(d) for d in STEP_DATES},
    )
    return out.sort("person_id").lazy()


def _empty_recruitment() -> pl.DataFrame:
    """The recruitment fact's columns the suite reads, for a quarter without cases."""
    return pl.DataFrame(
        schema={
            "person_id": pl.String,
            "branch_id": pl.String,
            "subject_id": pl.String,
            "period": pl.String,
            **dict.fromkeys(PERIOD_COLUMNS, pl.String),
            "age_at_application": pl.Int64,
            "talk_months_taken": pl.Int64,
            "activist_months": pl.Int64,
            "publicity_workdays": pl.Int64,
            "present_share": pl.Float64,
            "for_share": pl.Float64,
            "approval_months_taken": pl.Int64,
            "probation_months_served": pl.Int64,
        }
    )
