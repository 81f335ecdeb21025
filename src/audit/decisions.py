"""Reviewer decisions (审核决定): the reviewer-owned ``decisions.csv``, applied on every run.

The file is the reviewer's: the toolkit reads it and never writes it (``audit decisions template``
writes a new file, with Chinese headers, beside the report for the reviewer to fill in). Columns, in
any order, English or Chinese:
``finding_id`` (问题编号), ``decision`` (审核决定: 已核实 / 误报 / 已整改 / 限期整改), ``note`` (说明),
``reviewer`` (审核人), ``decided_on`` (决定日期); other columns (the template's context) are ignored,
except ``period`` (期间), which tells a decision about an earlier quarter from a stale one. A row
without a decision is skipped; a filled row needs a well-formed id, a known decision, the reviewer
and the date, and a 误报 also its reason. A finding's latest decision (by date, then row) is the one
applied: a ``误报`` finding stays listed but no longer counts for the rating; a decision whose
finding is neither in this quarter's findings nor in the follow-up is listed as stale (已失效).
Text from the file is masked like batch text (ID and mobile numbers never reach an output).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from audit.errors import AuditError
from audit.io import read_table
from audit.periods import Quarter
from audit.privacy import mask_personal, shown
from audit.readers import decode

VERIFIED, FALSE_ALARM, RECTIFIED, DEADLINE = "已核实", "误报", "已整改", "限期整改"
DECISIONS = (VERIFIED, FALSE_ALARM, RECTIFIED, DEADLINE)
DECISION_COLUMNS = ["finding_id", "decision", "note", "reviewer", "decided_on"]
HEADERS = {
    "finding_id": ("finding_id", "问题编号"),
    "decision": ("decision", "审核决定", "决定"),
    "note": ("note", "说明", "备注"),
    "reviewer": ("reviewer", "审核人"),
    "decided_on": ("decided_on", "决定日期", "日期"),
    "period": ("period", "期间"),
}
HEADER_ZH = {"finding_id": "问题编号", "decision": "审核决定", "note": "说明", "reviewer": "审核人", "decided_on": "决定日期"}
# What became of a decision in a run (`Applied.table["state"]`)
APPLIED, PREVIOUS, EARLIER, STALE = "已应用", "上季度问题", "更早季度", "已失效"
APPLIED_COLUMNS = ["finding_id", "branch_id", "rule_id", "period", "decision", "note", "reviewer", "decided_on", "row", "state"]
FILE_LIMIT = 20_000_000  # bytes: a decisions file is a few thousand rows at most
ID_FORM = re.compile(r"F-[0-9A-F]{12}")
_DATE_FORMS = (
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
_TABLE_SCHEMA = {
    "finding_id": pl.String,
    "decision": pl.String,
    "note": pl.String,
    "reviewer": pl.String,
    "decided_on": pl.Date,
    "period": pl.String,
    "row": pl.Int64,
}


class DecisionsError(AuditError):
    """The decisions file cannot be used; the message (Chinese) names the file, row and column."""


@dataclass
class Decisions:
    """The rows of a decisions file that carry a decision, and the file's identity."""

    path: Path | None = None
    sha256: str | None = None
    table: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_TABLE_SCHEMA))

    @property
    def latest(self) -> pl.DataFrame:
        """One row per finding: its latest decision (by date, then by row in the file)."""
        return self.table.sort("decided_on", "row").group_by("finding_id", maintain_order=True).last().sort("finding_id")

    def manifest(self) -> dict | None:
        """What `manifest.json` records: the file, its SHA-256 and how many decisions it holds."""
        if self.path is None:
            return None
        return {"file": str(self.path), "sha256": self.sha256, "rows": self.table.height}


def default_path(batch: Path) -> Path:
    """Where a batch's decisions are looked for: `decisions.csv` in the batch's parent folder."""
    return Path(batch).resolve().parent / "decisions.csv"


def load_decisions(path: Path | None, batch: Path, *, given: bool) -> Decisions:
    """Read the decisions file (`path`, or the default beside the batch). A file named with
    --decisions must exist; the default one is optional. A mistake names file, row and column."""
    from audit.readers import sha256_file

    path = Path(path) if path is not None else default_path(batch)
    if not path.exists():
        if given:
            raise DecisionsError(f"找不到审核决定文件 {path}")
        return Decisions()
    if not path.is_file():
        raise DecisionsError(f"审核决定文件 {path} 不是普通文件")
    if path.stat().st_size > FILE_LIMIT:
        raise DecisionsError(f"审核决定文件 {path} 超过 {FILE_LIMIT // 1_000_000} MB，不像是审核决定表")
    raw = path.read_bytes()
    table = parse_decisions(raw, path)
    return Decisions(path=path, sha256=sha256_file(path), table=table)


def _decode(raw: bytes, path: Path) -> str:
    """The text of a CSV as Excel and WPS save it, decoded as the exports are (`readers.decode`:
    UTF-8 with or without BOM, UTF-16, GB18030)."""
    decoded = decode(raw)
    if decoded is not None:
        return decoded[0]
    raise DecisionsError(f"审核决定文件 {path} 无法识别编码：请在 Excel 或 WPS 中另存为“CSV UTF-8”")


def parse_decisions(raw: bytes, path: Path) -> pl.DataFrame:
    """The decision rows of a decisions file (`_TABLE_SCHEMA`); every problem is collected and
    reported together, each naming the row (as Excel shows it) and the column."""
    text = _decode(raw, path)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not records:
        raise DecisionsError(f"审核决定文件 {path} 是空的：第一行应为表头 {', '.join(DECISION_COLUMNS)}")
    where = _header(records[0], path)
    problems: list[str] = []
    rows = []
    for number, record in enumerate(records[1:], start=2):
        value = {name: _cell(record, index) for name, index in where.items()}
        if not any(value.values()) or not value["decision"]:
            continue  # a blank line, or a template row the reviewer has not decided
        row_problems = []
        finding = value["finding_id"].upper()
        if not ID_FORM.fullmatch(finding):
            row_problems.append(
                _problem(
                    number,
                    "finding_id",
                    value["finding_id"],
                    "问题编号应为 F- 加 12 位十六进制数字（如 F-3B7C9A01D2E4），请从报告中复制",
                )
            )
        if value["decision"] not in DECISIONS:
            row_problems.append(_problem(number, "decision", value["decision"], f"审核决定只能是 {' / '.join(DECISIONS)}"))
        if not value["reviewer"]:
            row_problems.append(_problem(number, "reviewer", "", "请填写审核人"))
        decided = _date(value["decided_on"])
        if decided is None:
            row_problems.append(_problem(number, "decided_on", value["decided_on"], "请填写决定日期，如 2019-04-15"))
        if value["decision"] == FALSE_ALARM and not value["note"]:
            row_problems.append(_problem(number, "note", "", "判定为误报时请在说明中写明理由"))
        if row_problems:
            problems.extend(row_problems)
            continue
        rows.append(
            {
                "finding_id": finding,
                "decision": value["decision"],
                "note": mask_personal(value["note"]),
                "reviewer": mask_personal(value["reviewer"]),
                "decided_on": decided,
                "period": value.get("period") or None,
                "row": number,
            }
        )
    if problems:
        more = f"\n（另有 {len(problems) - 10} 处问题未列出）" if len(problems) > 10 else ""
        raise DecisionsError(f"审核决定文件 {path} 有 {len(problems)} 处需要更正：\n" + "\n".join(problems[:10]) + more)
    return pl.DataFrame(rows, schema=_TABLE_SCHEMA, orient="row")


def _header(header: list[str], path: Path) -> dict[str, int]:
    """Column positions by canonical name; the required columns must all be there, once."""
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
    where: dict[str, int] = {}
    for column, spellings in HEADERS.items():
        found = [n for n, name in enumerate(names) if name in {s.lower() for s in spellings}]
        if len(found) > 1:
            raise DecisionsError(f"审核决定文件 {path} 的表头中「{column}」（{'、'.join(spellings[1:])}）出现了 {len(found)} 次")
        if found:
            where[column] = found[0]
    missing = [c for c in DECISION_COLUMNS if c not in where]
    if missing:
        listed = "、".join(f"{c}（{HEADER_ZH[c]}）" for c in missing)
        raise DecisionsError(f"审核决定文件 {path} 第 1 行（表头）缺少列：{listed}；表头应为 {', '.join(DECISION_COLUMNS)}")
    return where


def _cell(record: list[str], index: int) -> str:
    """A cell's text, trimmed; the apostrophe the toolkit puts before formula-like text is dropped."""
    text = record[index].strip() if index < len(record) else ""
    return text[1:] if text.startswith("'") and text[1:2] in ("=", "+", "-", "@") else text


def _problem(row: int, column: str, value: str, what: str) -> str:
    shown_value = f"「{shown(value, 40)}」" if value else ""
    return f"第 {row} 行「{column}」（{HEADER_ZH.get(column, column)}）{shown_value}：{what}"


def _date(text: str) -> dt.date | None:
    """A date as reviewers type it (2019-04-15, 2019/4/15, 2019.4.15, 2019年4月15日, 20190415)."""
    text = text.strip().split(" ")[0]  # Excel may add a time: 2019/4/15 0:00
    for form in _DATE_FORMS:
        match = form.fullmatch(text)
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                return None
    return None


@dataclass
class Applied:
    """Decisions applied to one quarter's findings."""

    findings: pl.DataFrame  # the findings with decision, note, reviewer, decided_on, counted
    table: pl.DataFrame  # every finding's latest decision and what became of it (APPLIED_COLUMNS)

    @property
    def counted(self) -> pl.DataFrame:
        """The findings that count for the rating: all but those judged 误报."""
        return self.findings.filter(pl.col("counted")).drop("decision", "note", "reviewer", "decided_on", "counted")

    @property
    def stale(self) -> pl.DataFrame:
        return self.table.filter(pl.col("state") == STALE)


def apply_decisions(
    findings: pl.DataFrame, decisions: Decisions, quarter: Quarter, followup: pl.DataFrame | None = None
) -> Applied:
    """Each finding with its latest decision; each decision with what became of it: applied to a
    finding of this quarter, about a finding of the previous report (in the follow-up), about an
    earlier quarter (its `period` column says so), or stale (its finding no longer exists)."""
    latest = decisions.latest
    annotated = findings.join(latest.drop("period", "row"), on="finding_id", how="left").with_columns(
        pl.col("decided_on").cast(pl.String),
        counted=pl.col("decision").fill_null("") != FALSE_ALARM,
    )
    known = findings.select("finding_id", "branch_id", "rule_id", "period", state=pl.lit(APPLIED))
    if followup is not None and not followup.is_empty():
        earlier = followup.filter(~pl.col("finding_id").is_in(known["finding_id"].implode())).select(
            "finding_id", "branch_id", "rule_id", period="period_then", state=pl.lit(PREVIOUS)
        )
        known = pl.concat([known, earlier]).unique("finding_id", keep="first", maintain_order=True)
    table = latest.rename({"period": "file_period"}).join(known, on="finding_id", how="left")
    earlier_ids = [
        r["finding_id"] for r in table.iter_rows(named=True) if r["state"] is None and _before(r["file_period"], quarter)
    ]
    table = table.with_columns(
        state=pl.when(pl.col("state").is_not_null())
        .then(pl.col("state"))
        .when(pl.col("finding_id").is_in(earlier_ids))
        .then(pl.lit(EARLIER))
        .otherwise(pl.lit(STALE)),
        period=pl.coalesce("period", "file_period"),
        decided_on=pl.col("decided_on").cast(pl.String),
    ).select(APPLIED_COLUMNS)
    return Applied(annotated, table.sort("state", "finding_id"))


def _before(period: str | None, quarter: Quarter) -> bool:
    """Whether a period (2019-02, 2019Q1, 2019H1, 2019) ended before the previous quarter began:
    a decision about it concerns a report older than the one this run follows up."""
    if not period:
        return False
    text = period.strip()
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})|Q([1-4])|H([12]))?", text)
    if not match:
        return False
    year = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
    elif match.group(3):
        month = int(match.group(3)) * 3
    elif match.group(4):
        month = 6 if match.group(4) == "1" else 12
    else:
        month = 12
    return dt.date(year, month, 1) < quarter.previous.start


def decision_text(row: dict) -> str:
    """A finding's decision for people: 「误报（不计入评定）：理由 — 审核人 2019-04-15」."""
    decision = row.get("decision")
    if not decision:
        return ""
    label = f"{decision}（不计入评定）" if decision == FALSE_ALARM else decision
    note = f"：{row['note']}" if row.get("note") else ""
    return f"{label}{note} — {row.get('reviewer') or ''} {row.get('decided_on') or ''}".rstrip()


def with_decision_text(findings: pl.DataFrame) -> pl.DataFrame:
    """Findings annotated by `apply_decisions` with one `decision_text` column for tables."""
    if "decision" not in findings.columns:
        return findings.with_columns(decision_text=pl.lit("", pl.String))
    texts = [decision_text(r) for r in findings.select("decision", "note", "reviewer", "decided_on").iter_rows(named=True)]
    return findings.with_columns(decision_text=pl.Series(texts, dtype=pl.String))


def read_applied(folder: Path | str) -> pl.DataFrame | None:
    """The decisions a run applied (its Parquet copy), or None when the run had none."""
    return read_table(Path(folder), "decisions_applied")


def annotate(findings: pl.DataFrame, applied: pl.DataFrame | None) -> pl.DataFrame:
    """Findings read back from a report with the decisions that run applied (for the pages)."""
    columns = ["finding_id", "decision", "note", "reviewer", "decided_on"]
    if applied is None or applied.is_empty():
        empty = [pl.lit(None, pl.String).alias(c) for c in columns[1:]]
        return findings.with_columns(*empty, counted=pl.lit(True))
    mine = applied.filter(pl.col("state") == APPLIED).select(columns)
    return findings.join(mine, on="finding_id", how="left").with_columns(counted=pl.col("decision").fill_null("") != FALSE_ALARM)


TEMPLATE_COLUMNS = [*DECISION_COLUMNS, "branch_id", "branch_name", "rule_id", "severity", "period", "status", "message"]
TEMPLATE_FILE = "审核决定-{report}.csv"  # beside the report folder (a re-run replaces the folder itself)


def template_path(report: Path) -> Path:
    """Where `audit decisions template` writes by default: beside the report folder, named after it
    (not inside it, which a re-run replaces; not beside the batch, which other batches share)."""
    report = Path(report).resolve()
    return report.parent / TEMPLATE_FILE.format(report=report.name)


def template(report: Path) -> pl.DataFrame:
    """The pre-filled decisions table for a report: one row per finding with its context (branch,
    rule, severity, period, follow-up status, message) and the decision it has, if any; headed in
    Chinese (问题编号, 审核决定, 说明, 审核人, 决定日期, …), which `parse_decisions` reads back."""
    from audit.followup import read_followup
    from audit.labels import COLUMNS, SEVERITY_ZH

    findings = pl.read_parquet(report / "findings.parquet")
    names = read_table(report, "scorecard")
    name_of = dict(names.select("branch_id", "branch_name").iter_rows()) if names is not None else {}
    followup = read_followup(report)
    status_of = dict(followup.select("finding_id", "status").iter_rows()) if followup is not None else {}
    annotated = annotate(findings, read_applied(report))
    rank = {"critical": 0, "error": 1, "warning": 2}
    return (
        annotated.with_columns(
            branch_name=pl.col("branch_id").replace_strict(name_of, default="", return_dtype=pl.String),
            status=pl.col("finding_id").replace_strict(status_of, default="", return_dtype=pl.String),
            _rank=pl.col("severity").replace_strict(rank, default=3, return_dtype=pl.Int64),
            severity=pl.col("severity").replace_strict(SEVERITY_ZH, default=pl.col("severity")),
        )
        .with_columns(pl.col("decision", "note", "reviewer", "decided_on").fill_null(""))
        .sort("_rank", "branch_id", maintain_order=True)
        .select(TEMPLATE_COLUMNS)
        .rename({column: COLUMNS[column] for column in TEMPLATE_COLUMNS})
    )
