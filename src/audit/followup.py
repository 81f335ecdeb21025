"""整改跟踪: this quarter's findings against the previous report's.

Findings are compared by rule, branch and subject (``rule_id, branch_id, subject_id``); each row of
``followup.csv`` has one status:

- ``新增``  a finding of this quarter whose rule, branch and subject the previous report did not have;
- ``持续``  a finding of this quarter whose rule, branch and subject failed in the previous report too
  (``period_then`` lists the earlier periods);
- ``已整改`` a finding of the previous report whose rule, branch and subject has no finding this quarter;
- ``已补正`` a finding of the previous report that no longer holds when its quarter is checked again on
  this batch: the branch supplied or corrected the record (the previous quarter is re-validated
  on the new batch; when the batch no longer holds that quarter, nothing can be ``已补正``);
- ``待复查`` a finding of the previous report whose rule is not judged this quarter (a half-year or
  yearly rule before its period ends, or a rule switched off): its absence proves nothing, so it is
  carried into this quarter's follow-up and judged when the rule is judged again;
- ``首次审核`` every finding of this quarter when no previous report was found (or it could not be
  used): nothing could be tracked, so no finding is called 新增 (arrears running for months are
  not new) and none 持续. The overview's 与上季度对比 chart counts the previous quarter from this
  batch's records instead, and says so.

A previous finding whose rule, branch and subject failed again is not listed a second time: the
``持续`` rows carry it. Items carried as ``待复查`` count as findings of the previous report for the
next quarter, so a branch's chain of quarters can be followed through their follow-up tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from audit.errors import AuditError
from audit.io import read_table
from audit.labels import CONTINUING, NEW, PENDING, RECTIFIED, SUPPLIED, UNTRACKED
from audit.labels import FOLLOWUP_STATUSES as STATUSES
from audit.periods import Quarter
from audit.standard import Standard

FOLLOWUP_COLUMNS = ["finding_id", "status", "rule_id", "branch_id", "subject_id", "period_then", "period_now", "message"]
FOLLOWUP_SCHEMA = dict.fromkeys(FOLLOWUP_COLUMNS, pl.String)
KEY = ["rule_id", "branch_id", "subject_id"]
FOLLOWUP_INFO = "followup.json"
ITEM_COLUMNS = ["finding_id", "rule_id", "branch_id", "subject_id", "period", "message"]


class FollowupError(AuditError):
    """The previous report cannot be used; the message (Chinese) names the folder and why."""


@dataclass
class PreviousReport:
    """The report a quarter is followed up against."""

    folder: Path
    quarter: Quarter
    findings: pl.DataFrame  # its findings (with finding_id)
    carried: pl.DataFrame  # its follow-up rows still 待复查, as findings (ITEM_COLUMNS)
    given: bool  # named with --previous (else found next to --out)

    @property
    def items(self) -> pl.DataFrame:
        """What this quarter is checked against: the previous findings and the items carried."""
        own = self.findings.select(ITEM_COLUMNS).with_columns(rechecked=pl.lit(True))
        carried = self.carried.select(ITEM_COLUMNS).with_columns(rechecked=pl.lit(False))
        return pl.concat([own, carried.filter(~pl.col("finding_id").is_in(own["finding_id"].implode()))])

    def describe(self) -> str:
        """Which report was used, for people (the folder as given, or its name beside --out: the
        sentence is shown on the overview, which must not depend on where the report was written)."""
        where = f"{self.folder}（--previous 指定）" if self.given else f"--out 旁的 {self.folder.name} 文件夹"
        return f"{self.quarter.zh}报告，{where}"

    def describe_for_page(self) -> str:
        """Which report was used, for a page's reader: no command-line options, only the folder's name."""
        return f"{self.quarter.zh}报告（{self.folder.name} 文件夹）"


def default_previous(out: Path, quarter: Quarter) -> Path:
    """Where the previous quarter's report is looked for: beside `out`, named by its quarter."""
    return Path(out).parent / str(quarter.previous)


def find_previous(out: Path, quarter: Quarter, given: Path | None = None) -> tuple[PreviousReport | None, str, str]:
    """The previous report to follow up against and two sentences saying which one (or why none):
    one for the terminal (naming --out and --previous) and one for the pages, whose readers run no
    commands. A folder named with --previous must be usable (`FollowupError` otherwise); the
    default one is used when it exists and is usable, else the quarter is followed up against nothing."""
    if given is not None:
        report = read_previous(Path(given), quarter, given=True)
        return report, f"整改跟踪对照：{report.describe()}", f"整改跟踪对照：{report.describe_for_page()}"
    folder = default_previous(out, quarter)
    untracked = f"无法跟踪整改情况，本季度问题均记为“{UNTRACKED}”（未跟踪，不等于新出现）"
    if not folder.exists():
        return (
            None,
            f"未找到上季度审核报告（--out 旁没有 {folder.name} 文件夹），{untracked}；可用 --previous 指定",
            f"没有上季度（{quarter.previous.zh}）审核报告可以对照，{untracked}",
        )
    try:
        report = read_previous(folder, quarter, given=False)
    except FollowupError as exc:
        return None, f"{exc}；{untracked}", f"上季度（{quarter.previous.zh}）审核报告无法读取，{untracked}"
    return report, f"整改跟踪对照：{report.describe()}", f"整改跟踪对照：{report.describe_for_page()}"


def read_previous(folder: Path, quarter: Quarter, *, given: bool) -> PreviousReport:
    """Read a report folder written by `audit run` or `audit validate` of an earlier quarter."""
    if not folder.is_dir():
        raise FollowupError(f"上季度报告 {folder} 不存在或不是文件夹")
    meta_path = folder / "validation.json"
    if not meta_path.is_file() or not (folder / "findings.parquet").is_file():
        raise FollowupError(
            f"{folder} 不是 audit run 或 audit validate 生成的报告目录（缺少 validation.json 或 findings.parquet）"
        )
    try:
        then = Quarter.parse(json.loads(meta_path.read_text(encoding="utf-8"))["quarter"])
        findings = pl.read_parquet(folder / "findings.parquet")
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError) as exc:
        raise FollowupError(f"无法读取上季度报告 {folder}：{exc}") from None
    if then >= quarter:
        raise FollowupError(f"{folder} 是{then.zh}的报告，不早于本次审核的{quarter.zh}，不能作为上季度报告")
    if "finding_id" not in findings.columns:
        raise FollowupError(f"{folder} 的问题清单没有问题编号（finding_id，由旧版本生成）；请用当前版本重新运行{then.zh}的报告")
    earlier = read_table(folder, "followup")
    if earlier is None or earlier.is_empty():
        carried = pl.DataFrame(schema=dict.fromkeys(ITEM_COLUMNS, pl.String))
    else:
        carried = earlier.filter(pl.col("status") == PENDING).select(*ITEM_COLUMNS[:4], period="period_then", message="message")
    return PreviousReport(folder, then, findings, carried, given)


def judged_in(standard: Standard, quarter: Quarter) -> set[str]:
    """The rules judged in a quarter: monthly and quarterly rules always, half-year rules in the
    quarter a half ends, yearly rules in the fourth; a rule switched off never."""
    due = {"month": True, "quarter": True, "half": quarter.ends_half, "year": quarter.ends_year}
    return {rule.id for rule in standard.rules.values() if rule.enabled and due[rule.period]}


def classify(
    current: pl.DataFrame,
    previous: PreviousReport | None,
    quarter: Quarter,
    standard: Standard,
    recheck: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The follow-up table (`FOLLOWUP_COLUMNS`) of this quarter's findings against the previous
    report. `recheck`: the findings of the previous report's quarter validated again on this
    batch (None when the batch no longer holds that quarter: nothing is then 已补正). Without a
    previous report every finding is 首次审核 (untracked), never 新增."""
    now = str(quarter)
    if previous is None:
        items = pl.DataFrame(schema={**dict.fromkeys(ITEM_COLUMNS, pl.String), "rechecked": pl.Boolean})
    else:
        items = previous.items
    earlier = items.group_by(KEY).agg(period_then=pl.col("period").unique().sort().str.join("、"))
    rows = (
        current.join(earlier, on=KEY, how="left")
        .select(
            "finding_id",
            status=pl.when(pl.lit(previous is None))
            .then(pl.lit(UNTRACKED))
            .when(pl.col("period_then").is_null())
            .then(pl.lit(NEW))
            .otherwise(pl.lit(CONTINUING)),
            rule_id="rule_id",
            branch_id="branch_id",
            subject_id="subject_id",
            period_then=pl.col("period_then").fill_null(""),
            period_now="period",
            message="message",
        )
        .to_dicts()
    )
    still = set(current.select(KEY).iter_rows())
    holds = None if recheck is None else set(recheck["finding_id"].to_list())
    judged = judged_in(standard, quarter)
    for item in items.iter_rows(named=True):
        if holds is not None and item["rechecked"] and item["finding_id"] not in holds:
            status = SUPPLIED
        elif (item["rule_id"], item["branch_id"], item["subject_id"]) in still:
            continue  # carried by this quarter's 持续 rows
        elif item["rule_id"] not in judged:
            status = PENDING
        else:
            status = RECTIFIED
        rows.append(
            {
                "finding_id": item["finding_id"],
                "status": status,
                "rule_id": item["rule_id"],
                "branch_id": item["branch_id"],
                "subject_id": item["subject_id"],
                "period_then": item["period"],
                "period_now": now,
                "message": item["message"],
            }
        )
    if not rows:
        return pl.DataFrame(schema=FOLLOWUP_SCHEMA)
    order = {status: n for n, status in enumerate(STATUSES)}
    rules = {rule_id: n for n, rule_id in enumerate(standard.rules)}
    return (
        pl.DataFrame(rows, schema=FOLLOWUP_SCHEMA, orient="row")
        .with_columns(
            _s=pl.col("status").replace_strict(order, return_dtype=pl.Int64),
            _r=pl.col("rule_id").replace_strict(rules, default=len(rules), return_dtype=pl.Int64),
        )
        .sort("branch_id", "_s", "_r", "subject_id", "period_then", "period_now", "finding_id")
        .drop("_s", "_r")
    )


def read_followup_info(folder: Path | str) -> dict[str, Any]:
    """Which previous report a run followed up against (`followup.json`), for the pages."""
    path = Path(folder) / FOLLOWUP_INFO
    if not path.is_file():
        return {"previous_report": None, "said": "本报告没有整改跟踪（由 audit validate 生成）", "rechecked": False}
    return json.loads(path.read_text(encoding="utf-8"))


def read_followup(folder: Path | str) -> pl.DataFrame | None:
    """The follow-up table a run wrote (its Parquet copy), or None when the run wrote none."""
    return read_table(Path(folder), "followup")


# --- in `audit run` ----------------------------------------------------------------------------------


@dataclass
class FollowUpRun:
    """What the follow-up part of a run used and said."""

    previous: PreviousReport | None
    decisions: Any  # audit.decisions.Decisions
    deadlines: dict[str, Any]
    notes: list[str]

    def manifest(self) -> dict[str, Any]:
        """The manifest's record of the previous report and the decisions file used."""
        previous = None
        if self.previous is not None:
            previous = {"folder": str(self.previous.folder), "quarter": str(self.previous.quarter), "given": self.previous.given}
        return {
            "previous_report": previous,
            "decisions": self.decisions.manifest(),
            "deadlines": {k: v.isoformat() for k, v in self.deadlines.items()},
            "notes": self.notes,
        }


def write_follow_up(
    tmp: Path,
    out: Path,
    batch: Path,
    quarter: Quarter,
    standard: Standard,
    result: Any,
    selected: list[str],
    seed: int,
    sample_size: int,
    previous: Path | None,
    decisions: Path | None,
    deadline: Any,
) -> FollowUpRun:
    """What `audit run` writes after validating, into its temporary folder `tmp`: the follow-up
    against the previous report (`followup.csv`), the reviewer's decisions applied
    (`decisions_applied.csv`, the scorecard re-rated without 误报 findings), the previous quarter's
    scorecard, the on-site sample, `findings.xlsx` and the notices. `result`: the quarter's
    `Validation`; its scorecard is replaced by the re-rated one. A mistake in what the reviewer
    gave (--previous, --decisions, --deadline, the standard's deadlines) is a `FollowupError`."""
    from audit import views
    from audit.contract import load_contract
    from audit.decisions import DecisionsError, apply_decisions, load_decisions, with_decision_text
    from audit.findings import rescore
    from audit.io import write_table
    from audit.notices import NoticeError, deadlines, notices_for, notices_said, write_notices
    from audit.validate import validate_tables
    from audit.workbook import report_sheets, write_workbook

    try:
        earlier, said, said_on_page = find_previous(out, quarter, previous)
        reviewed = load_decisions(decisions, batch, given=decisions is not None)
        due = deadlines(standard, quarter, deadline)
    except (DecisionsError, NoticeError) as exc:
        raise FollowupError(str(exc)) from None
    notes = [said]
    tables = result.ingested.tables
    window = result.facts.window
    before = quarter.previous
    # the previous quarter's findings from the same tables (their record quality is this run's)
    checked = validate_tables(tables, before, standard, record_quality=False) if before.end >= window[0] else None
    recheck = None
    if earlier is not None and earlier.quarter.end >= window[0]:
        same = checked is not None and earlier.quarter == before
        recheck = (checked if same else validate_tables(tables, earlier.quarter, standard, record_quality=False)).findings
    elif earlier is not None:
        notes.append(f"本批次不含{earlier.quarter.zh}的数据，无法复查上季度问题是否已补正")
    followup = classify(result.findings, earlier, quarter, standard, recheck)
    write_table(followup, tmp, "followup")

    applied = apply_decisions(result.findings, reviewed, quarter, followup)
    write_table(applied.table, tmp, "decisions_applied")
    if not applied.findings["counted"].all():
        result.scorecard = rescore(result.scorecard, applied.counted, standard, result.coverage)
        write_table(result.scorecard, tmp, "scorecard")
    if checked is not None:
        then = apply_decisions(checked.findings, reviewed, before)
        write_table(rescore(checked.scorecard, then.counted, standard, checked.coverage), tmp, "previous_scorecard")
    if reviewed.path is not None:
        counted = applied.findings.height - applied.counted.height
        notes.append(f"审核决定：{reviewed.path}（{reviewed.table.height} 条；{counted} 条误报不计入评定）")
    if applied.stale.height:
        notes.append(f"{applied.stale.height} 条审核决定对应的问题已不存在（已失效），见 findings.xlsx 的“审核决定”工作表")

    sample = views.meeting_sample(tables, quarter, seed, sample_size)
    write_table(sample, tmp, "sample")
    decided = applied.table.select("finding_id", "decision", "note", "reviewer", "decided_on")
    listed = with_decision_text(applied.findings).join(followup.select("finding_id", "status"), on="finding_id", how="left")
    ledger = with_decision_text(followup.join(decided, on="finding_id", how="left"))
    titles = {name: table.title for name, table in load_contract().tables.items()}
    sheets = report_sheets(
        quarter=str(quarter),
        quarter_zh=quarter.zh,
        standard=standard,
        findings=listed,
        scorecard=result.scorecard,
        followup=ledger,
        decisions=applied.table,
        sample=sample,
        quarantine=result.ingested.quarantine,
        quality=result.quality,
        tables=tables,
        titles=titles,
        coverage=result.coverage,
    )
    write_workbook(tmp / "findings.xlsx", sheets)

    branches = {b["branch_id"]: b for b in tables["branches"].to_dicts()}
    ratings = {r["branch_id"]: r for r in result.scorecard.to_dicts()}
    notices = notices_for(
        [branches[b] for b in selected],
        quarter,
        standard,
        ratings,
        applied.findings,
        followup,
        due,
        earlier.quarter if earlier is not None else None,
        result.coverage,
    )
    run = FollowUpRun(earlier, reviewed, due, notes)
    info = {"previous_report": run.manifest()["previous_report"], "said": said_on_page, "rechecked": recheck is not None}
    (tmp / FOLLOWUP_INFO).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    notes.append(notices_said(notices))
    notes += write_notices(tmp / "notices", notices, standard)
    return run
