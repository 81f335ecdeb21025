"""Branch and month: committee meetings (OL-2), theme days (OL-5, OL-6) and their study (OL-11), dues
disclosure and its timeliness (SM-7), dues collected by the 组织委员 (SM-10)."""

from __future__ import annotations

import polars as pl

from audit.facts.context import FactContext
from audit.facts.expressions import date_zh, format_text, month_zh, source_ref, with_month_period
from audit.facts.meeting_types import COMMITTEE, THEME_DAY
from audit.facts.registry import fact
from audit.facts.study import StudyTerms, normalised
from audit.offices import last_day_of_term, offices_in

QUOTED_CHARS = 40  # a judged text is quoted in a message up to this many characters
LISTED_PAYMENTS = 5  # payments named in an SM-10 message; more are counted


def quoted(column: str) -> pl.Expr:
    """A text cell as a message quotes it: “…”, control characters as spaces, cut at QUOTED_CHARS
    characters (…); `（未填）` when blank."""
    text = pl.col(column).fill_null("").str.replace_all(r"[\x00-\x1f\x7f]+", " ").str.strip_chars()
    cut = pl.when(text.str.len_chars() > QUOTED_CHARS).then(text.str.slice(0, QUOTED_CHARS) + "…").otherwise(text)
    return pl.when(text == "").then(pl.lit("（未填）")).otherwise(pl.lit("“") + cut + pl.lit("”"))


def theme_day_study(ctx: FactContext, theme: pl.LazyFrame) -> pl.LazyFrame:
    """OL-11 per theme day: `has_text` (a topic or content is recorded; without both the day is
    OL-6's, not judged here), `studied` (the topic or content names a study term of the standard,
    `audit.facts.study`) and `study_gap` (the day and the texts judged, quoted)."""
    terms = StudyTerms.of(ctx.standard.rule("OL-11"))
    names = ctx.all_members.group_by("branch_id").agg(_names=pl.col("name").drop_nulls().unique().sort())
    has_value = lambda c: pl.col(c).fill_null("").str.strip_chars() != ""  # noqa: E731
    return (
        theme.join(names, on="branch_id", how="left")
        .with_columns(
            has_text=has_value("topic") | has_value("content"),
            studied=pl.struct("topic", "content", "_names").map_elements(
                lambda r: terms.named((r["topic"], r["content"]), r["_names"] or ()) is not None,
                return_dtype=pl.Boolean,
            ),
            study_gap=format_text(
                "{}（{}）主题{}，内容{}", pl.col("meeting_id"), date_zh("held_on"), quoted("topic"), quoted("content")
            ),
        )
        .drop("_names")
    )


def organizers_on(ctx: FactContext) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Who was a branch's 组织委员 when: the committee list's terms where it names one
    (branch_id, organizer_id, term_start, term_end; an open end is null), and for branches it
    names none the organizer ingestion resolved (branch list, else roster: branch_id, organizer_id)."""
    committee = ctx.tables["committee"].collect() if "committee" in ctx.tables else pl.DataFrame()
    rows = [r for r in committee.iter_rows(named=True) if "organizer" in offices_in(r["post"])]
    terms = pl.LazyFrame(
        {
            "branch_id": [r["branch_id"] for r in rows],
            "organizer_id": [r["member_id"] for r in rows],
            "term_start": [r["term_start"] for r in rows],
            # a month-precision end (`2019.06`) lasts to the month's end, as `holders_during` reads it
            "term_end": [last_day_of_term(r["term_end"], r.get("term_end_precision")) for r in rows],
        },
        schema={"branch_id": pl.String, "organizer_id": pl.String, "term_start": pl.Date, "term_end": pl.Date},
    )
    listed = ctx.branches.select("branch_id", "organizer_id").filter(pl.col("organizer_id").is_not_null())
    return terms, listed.join(terms.select("branch_id").unique(), on="branch_id", how="anti")


def _payments(ctx: FactContext) -> pl.LazyFrame:
    """The audited months' dues payments SM-10 may judge: more than nothing paid, a collector
    recorded, the payer on the roster; each with its row number (`_payment`), the day judged
    (`day`: 交纳日期, else the month's first day), the folded collector and the source (`ref`)."""
    members = ctx.all_members.select("member_id", "branch_id", "name")
    return (
        ctx.tables["dues"]
        .filter(
            pl.col("month").is_in(ctx.months)
            & (pl.col("amount_paid").fill_null(0) > 0)
            & (pl.col("collector").fill_null("").str.strip_chars() != "")
        )
        .join(members, on="member_id", how="inner")
        .with_row_index("_payment")
        .with_columns(day=pl.coalesce("paid_on", "month"), _collector=normalised(pl.col("collector")), ref=source_ref())
    )


def _on_duty(ctx: FactContext, payments: pl.LazyFrame) -> pl.LazyFrame:
    """Each payment with every organizer known for its branch on its day (`_payment`, `_collector`,
    `organizer_id`): the committee list's terms covering the day, or, for a branch the list gives
    no organizer's term for, the resolved organizer. A payment of a branch with terms none of which
    covers its day has no row (`payments_without_organizer`)."""
    terms, listed = organizers_on(ctx)
    return pl.concat(
        [
            payments.join(terms, on="branch_id")
            .filter(
                (pl.col("term_start").is_null() | (pl.col("term_start") <= pl.col("day")))
                & (pl.col("term_end").is_null() | (pl.col("day") <= pl.col("term_end")))
            )
            .select("_payment", "_collector", "organizer_id"),
            payments.join(listed, on="branch_id").select("_payment", "_collector", "organizer_id"),
        ]
    )


def payments_without_organizer(ctx: FactContext) -> pl.LazyFrame:
    """SM-10's payments not judged for want of an organizer on their day: the committee list gives
    the branch's 组织委员 with terms and none covers the payment's day (a gap between terms, or a
    day before the first). Neither judged against the branch list's organizer (the list says who
    held the office when; the branch list's name is undated) nor skipped silently: coverage makes
    the branch-month 无法评估, naming them (`audit.coverage.ROW_GAPS`). Columns: branch_id, month,
    member_id, name, paid_on, day."""
    payments = _payments(ctx)
    terms, _ = organizers_on(ctx)
    with_terms = payments.join(terms.select("branch_id").unique(), on="branch_id", how="semi")
    return (
        with_terms.join(_on_duty(ctx, payments).select("_payment").unique(), on="_payment", how="anti")
        .select("branch_id", "month", "member_id", "name", "paid_on", "day")
        .sort("branch_id", "day", "member_id")
    )


def dues_collection(ctx: FactContext) -> pl.LazyFrame:
    """SM-10 per branch and month (the dues' 所属月份): `dues_collected_by_others`, how many payments
    the recorded collector (收缴人) took who was not the branch's 组织委员 on the payment's date
    (交纳日期, else the month's first day), matched by member key or by the organizer's name; with
    `dues_collections` (the payments, the first LISTED_PAYMENTS named) and `ev_dues_collection`.

    Judged: payments of more than nothing with a collector recorded, on a date some organizer is
    known for (the committee list's term covering it; a branch it gives no term for: the resolved
    organizer); null where no payment of the month is judged. A payment on a day no term covers is
    not judged here: coverage names it (`payments_without_organizer`). A secretary collecting on
    the organizer's behalf is someone else: the text says 专人."""
    members = ctx.all_members.select("member_id", "branch_id", "name")
    payments = _payments(ctx)
    named = members.select(organizer_id="member_id", _organizer_name="name")
    on_duty = _on_duty(ctx, payments).join(named, on="organizer_id", how="left")
    judged = on_duty.group_by("_payment").agg(
        collected=(
            (pl.col("_collector") == normalised(pl.col("organizer_id")))
            | (pl.col("_collector") == normalised(pl.col("_organizer_name")))
        ).any(),
        organizers=format_text("{}（{}）", pl.col("_organizer_name").fill_null("？"), pl.col("organizer_id"))
        .unique()
        .sort()
        .str.join("、"),
    )
    return (
        payments.join(judged, on="_payment", how="inner")
        .with_columns(
            text=format_text(
                "{}（{}）{}党费（{}交纳）由{}收取，当时的组织委员是{}",
                pl.col("name"),
                pl.col("member_id"),
                month_zh("month"),
                date_zh("paid_on"),
                quoted("collector"),
                pl.col("organizers"),
            )
        )
        .group_by("branch_id", "month")
        .agg(
            dues_collected_by_others=(~pl.col("collected")).sum().cast(pl.Int64),
            _texts=pl.col("text").filter(~pl.col("collected")).sort(),
            ev_dues_collection=pl.col("ref").filter(~pl.col("collected")).sort().str.join("；"),
        )
        .with_columns(
            dues_collections=pl.col("_texts").list.head(LISTED_PAYMENTS).list.join("；")
            + pl.when(pl.col("_texts").list.len() > LISTED_PAYMENTS)
            .then(format_text("等{}笔", pl.col("_texts").list.len()))
            .otherwise(pl.lit(""))
        )
        .drop("_texts")
    )


@fact("branch_month", ["branch_id", "period"], title="支部×月")
def branch_month(ctx: FactContext) -> pl.LazyFrame:
    """One row per branch and audited month."""
    base = ctx.branches.select("branch_id", "secretary_id").join(
        pl.LazyFrame({"month": ctx.months}, schema={"month": pl.Date}), how="cross"
    )
    committee = ctx.count_meetings(COMMITTEE, ["branch_id", "month"], "committee_meetings")
    day = ctx.standard.rule("OL-5").threshold("day_of_month")
    theme = ctx.meetings.filter((pl.col("meeting_type") == THEME_DAY) & pl.col("month").is_in(ctx.months))
    expected = ctx.members_on_meeting_dates(theme)
    listed = ctx.tables["attendance"].select("meeting_id", "member_id")
    missing = (
        expected.join(listed, on=["meeting_id", "member_id"], how="anti")
        .group_by("meeting_id")
        .agg(pl.col("member_id").sort().str.join("、").alias("missing_attendees"))
    )
    theme = theme_day_study(ctx, theme.join(missing, on="meeting_id", how="left")).with_columns(
        on_day=pl.col("held_on").dt.day() == day,
        gap=pl.concat_str(
            [
                pl.when(pl.col("topic").fill_null("") == "").then(
                    format_text("{}（{}）未记录主题", pl.col("meeting_id"), date_zh("held_on"))
                ),
                pl.when(pl.col("has_minutes").fill_null(False).not_()).then(
                    format_text("{}（{}）无会议记录", pl.col("meeting_id"), date_zh("held_on"))
                ),
                pl.when(pl.col("missing_attendees").is_not_null()).then(
                    format_text(
                        "{}（{}）参会名单缺少党员 {}", pl.col("meeting_id"), date_zh("held_on"), pl.col("missing_attendees")
                    )
                ),
            ],
            separator="；",
            ignore_nulls=True,
        ),
    )
    theme_by_month = theme.group_by("branch_id", "month").agg(
        theme_days=pl.len(),
        theme_day_on_day=pl.col("on_day").any(),
        theme_day_recorded=(pl.col("gap") == "").all(),
        theme_day_dates=format_text("{}月{}日", pl.col("held_on").dt.month(), pl.col("held_on").dt.day()).sort().str.join("、"),
        theme_day_gaps=pl.col("gap").filter(pl.col("gap") != "").sort().str.join("；"),
        # OL-11: every theme day with a topic or content names the study; null when none has either
        theme_day_study=pl.when(pl.col("has_text").any()).then(pl.col("studied").filter(pl.col("has_text")).all()),
        theme_day_study_gaps=pl.col("study_gap").filter(pl.col("has_text") & ~pl.col("studied")).sort().str.join("；"),
        ev_theme=pl.col("ref").sort().str.join("；"),
    )
    disclosures = (
        ctx.tables["dues_disclosures"]
        .with_columns(
            disclosure_complete=pl.col("published_on").is_not_null() & pl.col("reported_on").is_not_null(),
            disclosure_gaps=pl.concat_str(
                [
                    pl.when(pl.col("published_on").is_null()).then(pl.lit("未向党员公开")),
                    pl.when(pl.col("reported_on").is_null()).then(pl.lit("未报街道党工委备案")),
                ],
                separator="、",
                ignore_nulls=True,
            ),
            ev_disclosure=source_ref(),
        )
        .select("branch_id", "month", "disclosure_complete", "disclosure_gaps", "ev_disclosure")
    )
    # SM-7 timely: a month's disclosure is due `publish_within_days` after the month ends, so it is
    # judged in the row of the month holding that deadline (the next quarter's first month for a
    # quarter's last month): a late disclosure is reported once, by the audit of the quarter in
    # which it became late. An unpublished month has no delay: SM-7's main part reports it.
    within = ctx.standard.rule("SM-7").threshold("publish_within_days")
    delay = (pl.col("published_on") - pl.col("month").dt.month_end()).dt.total_days()
    timeliness = (
        ctx.tables["dues_disclosures"]
        .filter(pl.col("published_on").is_not_null())
        .with_columns(
            due_month=(pl.col("month").dt.month_end() + pl.duration(days=within)).dt.truncate("1mo"),
            delay=delay,
            text=format_text("{}党费收缴情况于{}向党员公开（月末后{}天）", month_zh("month"), date_zh("published_on"), delay),
            ref=source_ref(),
        )
        .filter(pl.col("due_month").is_in(ctx.months))
        .group_by("branch_id", "due_month")
        .agg(
            disclosure_delay_days=pl.col("delay").max(),
            disclosures_due=pl.col("text").sort_by("month").str.join("；"),
            ev_disclosures_due=pl.col("ref").sort_by("month").str.join("；"),
        )
        .rename({"due_month": "month"})
    )
    out = (
        base.join(committee, on=["branch_id", "month"], how="left")
        .join(theme_by_month, on=["branch_id", "month"], how="left")
        .join(disclosures, on=["branch_id", "month"], how="left")
        .join(timeliness, on=["branch_id", "month"], how="left")
        .join(dues_collection(ctx), on=["branch_id", "month"], how="left")
        .with_columns(
            pl.col("committee_meetings", "theme_days").fill_null(0),
            disclosure_complete=pl.col("disclosure_complete").fill_null(False),
            disclosure_gaps=pl.col("disclosure_gaps").fill_null("未向党员公开、未报街道党工委备案（党费公开表中无该月记录）"),
            ev_disclosure=pl.col("ev_disclosure").fill_null("党费公开表中无该月记录"),
            ev_committee_meetings=pl.col("ev_committee_meetings").fill_null("会议记录中无该月支部委员会"),
            ev_theme=pl.col("ev_theme").fill_null("会议记录中无该月主题党日"),
        )
    )
    return with_month_period(out)
