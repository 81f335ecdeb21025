"""`findings.xlsx`: the report's tables as a workbook a reviewer can filter on screen and print.

Every sheet: Chinese headers, frozen header row, filters; printed on A4 landscape, scaled to one
page wide, the header row repeated on every page, the sheet's name and page number in the header;
text wrapped, sentences broken where Chinese may break (no printed line starts with ，or ）), with
row heights that show whole messages; a sheet with no rows says so in one line under its header;
branch names beside branch ids;
severities, ratings, dimension results and follow-up statuses coloured. Text is always written as
text (a cell starting with `=`, `+`, `-`, `@` never becomes a formula) and the file is the same
byte for byte for the same inputs.

Sheets: 问题清单 (严重 first, then 错误, then 提示, then by branch; with follow-up status and the
reviewer's decision), 评定结果, 评估范围 (the rule parts the data did not allow to judge, by branch
and period, and what was missing: coverage.csv's 无法评估 rows), 整改台账 (`followup.csv`), 审核决定
(every decision and what became of it), 抽查样本, 数据问题 (rows quarantined at import and record-quality failures together, with the
table's Chinese name and the branch that must re-export).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from audit.coverage import not_evaluated
from audit.decisions import FALSE_ALARM, STALE
from audit.labels import (
    CONTINUING,
    DECISION_ROW,
    NEW,
    PENDING,
    RECTIFIED,
    SEVERITY_ZH,
    STATUS_FAIL,
    STATUS_NA,
    STATUS_PARTIAL,
    STATUS_PASS,
    SUPPLIED,
    UNEVALUABLE,
    headers,
)
from audit.reasons import Action
from audit.standard import Standard
from audit.views import SAMPLE_COLUMNS

SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2}
FINDINGS_ZH = headers(
    "finding_id",
    "severity",
    "branch_id",
    "branch_name",
    "rule_id",
    "dimension",
    "subject_id",
    "period",
    "clause",
    "message",
    "evidence",
    "status",
    "decision_text",
)
FOLLOWUP_ZH = headers(
    "branch_id",
    "branch_name",
    "status",
    "rule_id",
    "rule_title",
    "subject_id",
    "period_then",
    "period_now",
    "message",
    "finding_id",
    "decision_text",
)
DECISIONS_ZH = headers(
    "finding_id",
    "branch_id",
    "branch_name",
    "rule_id",
    "period",
    "decision",
    "note",
    "reviewer",
    "decided_on",
    "row",
    "state",
    row=DECISION_ROW,
)
# `reason` holds an import's reason or a quality check's message; `branch_name` is the branch to re-export
PROBLEMS_ZH = headers(
    "source",
    "table_zh",
    "file",
    "sheet",
    "row",
    "column",
    "value",
    "reason",
    "action",
    "branch_id",
    "branch_name",
    reason="问题",
    branch_name="需重新导出的支部",
)
# the rule parts the data did not allow to judge (coverage.csv's 无法评估 rows)
COVERAGE_ZH = headers(
    "branch_id",
    "branch_name",
    "rule_id",
    "rule_title",
    "part",
    "dimension",
    "period",
    "status",
    "reason",
    status="评估状态",
    reason="原因（缺少的数据）",
)
SAMPLE_ZH = headers("branch_id", "branch_name", *(c for c in SAMPLE_COLUMNS if c != "branch_id"))
# Widest a column may print (in Excel width units, a Chinese character counts 2); text wraps beyond
WIDTHS = {
    "finding_id": 15,
    "severity": 6,
    "branch_id": 9,
    "branch_name": 18,
    "rule_id": 8,
    "rule_title": 16,
    "dimension": 9,
    "subject_id": 10,
    "period": 9,
    "period_then": 16,
    "period_now": 9,
    "clause": 7,
    "message": 42,
    "evidence": 28,
    "status": 9,
    "decision_text": 22,
    "note": 30,
    "reason": 40,
    "value": 16,
    "file": 22,
    "topic": 24,
    "_file": 22,
}
DEFAULT_WIDTH = 16
# Columns of sentences, broken into lines where Chinese may break (`broken`); names, codes and file
# names stay whole (a filter or a search finds them as they are in the data)
SENTENCES = {"message", "evidence", "decision_text", "note", "reason"}
LINE_HEIGHT = 16  # points per wrapped line (11 pt text, CJK fallback fonts included)
# Cell colours by value (a value starting with the key: 「误报（不计入评定）：…」 too); a sheet may
# add its own (`Sheet.styles`)
STYLES: dict[str, dict[str, Any]] = {
    SEVERITY_ZH["critical"]: {"bg_color": "#C0392B", "font_color": "#FFFFFF", "bold": True},
    SEVERITY_ZH["error"]: {"bg_color": "#F5B7B1"},
    SEVERITY_ZH["warning"]: {"bg_color": "#FCF3CF"},
    STATUS_PASS: {"font_color": "#1E8449"},
    STATUS_FAIL: {"font_color": "#C0392B", "bold": True},
    STATUS_NA: {"font_color": "#7F8C8D"},
    STATUS_PARTIAL: {"font_color": "#B9770E", "bold": True},
    UNEVALUABLE: {"font_color": "#B9770E"},
    NEW: {"bg_color": "#FAD7A0"},
    CONTINUING: {"bg_color": "#F5B7B1", "bold": True},
    RECTIFIED: {"bg_color": "#ABEBC6"},
    SUPPLIED: {"bg_color": "#AED6F1"},
    PENDING: {"bg_color": "#E5E7E9"},
    FALSE_ALARM: {"font_color": "#7F8C8D", "italic": True},
    STALE: {"font_color": "#7F8C8D", "italic": True},
}
# A rating's cell colour by its code (`audit.standard.RATINGS`); the words are the run's standard's
RATING_STYLES: dict[str, dict[str, Any]] = {
    "best": {"bg_color": "#ABEBC6", "bold": True},
    "pass": {"bg_color": "#FCF3CF"},
    "fail": {"bg_color": "#F5B7B1", "bold": True},
}


def rating_styles(standard: Standard) -> dict[str, dict[str, Any]]:
    """The cell colour of each of the standard's rating words (`rating:` in the standard file)."""
    return {standard.ratings[code]: style for code, style in RATING_STYLES.items()}


@dataclass
class Sheet:
    """One worksheet: its rows, the columns to show (in order, with Chinese headers), the columns
    whose values are coloured (`STYLES`, and this sheet's own `styles`) and the title printed in
    its footer."""

    name: str
    frame: pl.DataFrame
    headers: dict[str, str]
    coloured: tuple[str, ...] = ()
    title: str = ""
    widths: dict[str, int] = field(default_factory=dict)
    styles: dict[str, dict[str, Any]] = field(default_factory=dict)
    empty: str = ""  # the sentence under the header when there are no rows (a printed page says so)


def display_width(text: str) -> int:
    """Width in Excel units: a CJK (or full-width) character takes two."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _lines(text: str, width: int) -> int:
    """Lines a wrapped cell needs at a column width (each explicit line break starts a line)."""
    usable = max(width - 1, 1)
    return sum(max(1, math.ceil(display_width(part) / usable)) for part in text.split("\n"))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def broken(text: str, width: int) -> str:
    """`text` with line breaks where Chinese may break (`audit.linebreak`), for a cell of `width`
    that wraps it: LibreOffice (without a Chinese locale) wraps wherever a line is full, so a
    printed line could start with `，` or `）`; a line broken here is narrower than the cell (one
    unit to spare) and is not wrapped again. Text that fits is unchanged."""
    from audit.linebreak import NO_START, wrap

    usable = max(width - 1, 1)
    if all(display_width(part) <= usable for part in text.split("\n")):
        return text
    lines = wrap(text, max(usable - 1, 1))
    if any(line[:1] in NO_START for line in lines[1:]):
        return text  # a word longer than the cell was folded before a closing mark: left to the viewer
    return "\n".join(lines)


def write_workbook(path: Path, sheets: list[Sheet]) -> None:
    """Write the sheets (see the module docstring for what every sheet gets)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False})
    book.set_properties({"created": dt.datetime(2000, 1, 1)})  # fixed, so identical inputs give identical files
    base = {"text_wrap": True, "valign": "top", "border": 1, "border_color": "#BFBFBF"}
    header = book.add_format({**base, "bold": True, "bg_color": "#D6DBDF"})
    formats: dict[str, Any] = {"": book.add_format(base)}
    for key, style in STYLES.items():
        formats[key] = book.add_format({**base, **style})
    for spec in sheets:
        styled = {**formats, **{key: book.add_format({**base, **style}) for key, style in spec.styles.items()}}
        sheet = book.add_worksheet(spec.name)
        columns = [c for c in spec.headers if c in spec.frame.columns]
        frame = spec.frame.select(columns)
        widths = []
        for col, column in enumerate(columns):
            cap = spec.widths.get(column, WIDTHS.get(column, DEFAULT_WIDTH))
            values = frame.get_column(column).to_list()
            content = max([display_width(_text(v)) + 2 for v in values[:2000]] or [0])
            width = min(
                max(content, display_width(spec.headers[column]) + 2, 5), max(cap, display_width(spec.headers[column]) + 2)
            )
            widths.append(width)
            sheet.set_column(col, col, width)
        header_lines = max([_lines(spec.headers[c], w) for c, w in zip(columns, widths, strict=True)] or [1])
        sheet.set_row(0, header_lines * LINE_HEIGHT)
        for col, column in enumerate(columns):
            sheet.write_string(0, col, spec.headers[column], header)
        for row, record in enumerate(frame.iter_rows(), start=1):
            lines = 1
            for col, value in enumerate(record):
                fmt = styled[_style(value, styled) if columns[col] in spec.coloured else ""]
                if value is None:
                    sheet.write_blank(row, col, None, fmt)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    sheet.write_number(row, col, value, fmt)
                else:
                    text = broken(str(value), widths[col]) if columns[col] in SENTENCES else str(value)
                    sheet.write_string(row, col, text, fmt)  # a leading = + - @ stays text
                    lines = max(lines, _lines(text, widths[col]))
            sheet.set_row(row, lines * LINE_HEIGHT)
        if frame.is_empty() and spec.empty and columns:
            # one line under the header, across every column, so the printed page says there is nothing
            total = sum(widths)
            sheet.set_row(1, _lines(spec.empty, total) * LINE_HEIGHT)
            if len(columns) > 1:
                sheet.merge_range(1, 0, 1, len(columns) - 1, spec.empty, formats[""])
            else:
                sheet.write_string(1, 0, spec.empty, formats[""])
        sheet.freeze_panes(1, 0)
        if columns:
            sheet.autofilter(0, 0, max(frame.height, 1), len(columns) - 1)
        _print_setup(sheet, spec)
    book.close()


def _style(value: Any, styles: dict[str, Any]) -> str:
    """The first key of `styles` the value starts with ("": none)."""
    text = _text(value)
    for key in styles:
        if key and text.startswith(key):
            return key
    return ""


def _print_setup(sheet: Any, spec: Sheet) -> None:
    """A4 landscape, one page wide, header row on every page, sheet name and page numbers."""
    sheet.set_paper(9)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0)
    sheet.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
    sheet.set_header("&L&A&R第 &P 页，共 &N 页", {"margin": 0.3})
    if spec.title:
        sheet.set_footer("&C" + spec.title.replace("&", "&&"), {"margin": 0.3})
    sheet.center_horizontally()


# --- the report's sheets -------------------------------------------------------------------------------


def by_severity(findings: pl.DataFrame) -> pl.DataFrame:
    """严重 first, then 错误, then 提示; within each, by branch (the findings' order otherwise kept)."""
    rank = pl.col("severity").replace_strict(SEVERITY_RANK, default=len(SEVERITY_RANK), return_dtype=pl.Int64)
    return findings.with_columns(_rank=rank).sort("_rank", "branch_id", maintain_order=True).drop("_rank")


def branch_names(tables: dict[str, pl.DataFrame]) -> dict[str, str]:
    return dict(tables["branches"].select("branch_id", "branch_name").iter_rows())


def _named(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """The frame with `branch_name` beside `branch_id`."""
    if "branch_id" not in frame.columns:
        return frame
    return frame.with_columns(branch_name=pl.col("branch_id").replace_strict(names, default=None, return_dtype=pl.String))


def _located_rows(tables: dict[str, pl.DataFrame], sheets: pl.DataFrame) -> Iterator[tuple[str, str, pl.DataFrame, pl.DataFrame]]:
    """Per table: its name, the column that leads to a row's branch (``branch_id``, else
    ``meeting_id`` or ``member_id``), the rows of `sheets` (file, sheet; a missing sheet is "")
    whose branch is known (``_file``, ``_sheet``, ``_row`` and that column, in the table's order),
    and that column's branch (the column and ``_branch``). Rows are not joined to their branch
    here: a city's attendance sheet alone has 18 million rows."""
    owners = {
        "branch_id": None,
        "meeting_id": tables["meetings"].select("meeting_id", _branch="branch_id").filter(pl.col("_branch").is_not_null()),
        "member_id": tables["members"].select("member_id", _branch="branch_id").filter(pl.col("_branch").is_not_null()),
    }
    for name, frame in tables.items():
        link = next((c for c in owners if c in frame.columns), None)
        if link is None or not {"_file", "_sheet", "_row"} <= set(frame.columns):
            continue
        rows = frame.select("_file", pl.col("_sheet").fill_null(""), pl.col("_row").cast(pl.Int64), link).join(
            sheets.select(_file="file", _sheet="sheet"), on=["_file", "_sheet"], how="semi", maintain_order="left"
        )
        owner = owners[link]
        if owner is None:
            rows = rows.filter(pl.col(link).is_not_null())
            owner = rows.select(link, _branch=pl.col(link)).unique()
        else:
            rows = rows.join(owner, on=link, how="semi", maintain_order="left")
        yield name, link, rows, owner


def _problem_branches(problems: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per problem (``_n``; columns table, file, sheet, row): the branch of its own row when the row
    was kept (``exact``), the one branch of its file and sheet (``only``), and the branches of the
    nearest kept rows above and below it in that sheet (``near``, ``after``)."""
    sheets = problems.select("file", "sheet").unique()
    keyed = problems.select("_n", "table", "file", "sheet", "row", _r=pl.col("row").fill_null(-1)).sort("_r")
    exact: list[pl.DataFrame] = []
    owners: list[pl.DataFrame] = []
    above: list[pl.DataFrame] = []
    below: list[pl.DataFrame] = []
    for name, link, rows, owner in _located_rows(tables, sheets):
        mine = keyed.filter(pl.col("table") == name).select(_file="file", _sheet="sheet", _row="row").unique()
        exact.append(
            rows.join(mine, on=["_file", "_sheet", "_row"], how="semi", maintain_order="left")
            .join(owner, on=link, how="left", maintain_order="left")
            .select(table=pl.lit(name), file="_file", sheet="_sheet", row="_row", exact="_branch")
        )
        owners.append(
            rows.select("_file", "_sheet", link)
            .unique()
            .join(owner, on=link)
            .select(file="_file", sheet="_sheet", branch="_branch")
        )
        ordered = rows.select(file="_file", sheet="_sheet", _r="_row", _at="_row", _link=link).sort("_r")
        for side, strategy, found in ((above, "backward", "near"), (below, "forward", "after")):
            side.append(
                keyed.join_asof(
                    ordered,
                    on="_r",
                    by=["file", "sheet"],
                    strategy=strategy,
                    allow_exact_matches=False,
                    check_sortedness=False,
                )
                .filter(pl.col("_at").is_not_null())
                .join(owner.rename({link: "_link"}), on="_link", how="left")
                .select("_n", "_at", pl.col("_branch").alias(found))
            )
    located = problems.select("_n", "table", "file", "sheet", "row")
    if exact:
        first = pl.concat(exact).unique(["table", "file", "sheet", "row"], keep="first", maintain_order=True)
        located = located.join(first, on=["table", "file", "sheet", "row"], how="left", maintain_order="left")
        only = (
            pl.concat(owners)
            .group_by("file", "sheet")
            .agg(pl.col("branch").unique())
            .select("file", "sheet", only=pl.when(pl.col("branch").list.len() == 1).then(pl.col("branch").list.first()))
        )
        located = located.join(only, on=["file", "sheet"], how="left", maintain_order="left")
        # the nearest of every table's nearest (a row of two tables, the same source row: one branch)
        near = pl.concat(above).sort("_n", "_at", maintain_order=True).group_by("_n").agg(pl.col("near").last())
        after = pl.concat(below).sort("_n", "_at", maintain_order=True).group_by("_n").agg(pl.col("after").first())
        located = located.join(near, on="_n", how="left").join(after, on="_n", how="left")
    else:
        located = located.with_columns(pl.lit(None, pl.String).alias(c) for c in ("exact", "only", "near", "after"))
    return located.select("_n", "exact", "only", "near", "after")


def data_problems(
    quarantine: pl.DataFrame, quality: pl.DataFrame, tables: dict[str, pl.DataFrame], titles: dict[str, str]
) -> pl.DataFrame:
    """Rows quarantined at import and record-quality failures in one table, each with the table's
    Chinese name and the branch that must re-export it: the row's own branch when the row was
    kept; else the one branch of its file and sheet; else the branch of the rows right above and
    below it when they agree (said so); else a note that the file holds several branches."""
    columns = ["source", "table", "file", "sheet", "row", "column", "value", "reason", "action"]
    schema = {c: pl.Int64 if c == "row" else pl.String for c in columns}
    frames = []
    # rows skipped as not data (instructions, footers, notes) are listed in quarantine.csv and by
    # `audit inspect`; they are nothing a branch must correct
    quarantine = quarantine.filter(pl.col("action") != Action.SKIP.value) if "action" in quarantine.columns else quarantine
    if not quarantine.is_empty():
        frames.append(
            quarantine.select(
                source=pl.lit("导入隔离"),
                table=pl.col("table"),
                file="file",
                sheet="sheet",
                row=pl.col("row").cast(pl.Int64),
                column="column",
                value="value",
                reason="reason",
                action="action",
            )
        )
    if not quality.is_empty():
        frames.append(
            quality.select(
                source=pl.lit("质量检查"),
                table="table",
                file="file",
                sheet="sheet",
                row=pl.col("row").cast(pl.Int64),
                column="column",
                value=pl.col("value").cast(pl.String),
                reason="message",
                action=pl.lit("记录已导入，需核对更正"),
            )
        )
    problems = pl.concat([f.cast(schema) for f in frames]) if frames else pl.DataFrame(schema=schema)
    problems = problems.with_columns(pl.col("sheet").fill_null(""), _n=pl.int_range(pl.len()))
    joined = problems.join(_problem_branches(problems, tables), on="_n", how="left").sort("_n")
    names = branch_names(tables)
    guessed = (
        pl.col("exact").is_null() & pl.col("only").is_null() & pl.col("row").is_not_null() & (pl.col("near") == pl.col("after"))
    )
    branch = pl.coalesce("exact", "only", pl.when(guessed).then(pl.col("near")))
    return (
        joined.with_columns(branch_id=branch, _guessed=guessed)
        .with_columns(
            table_zh=pl.col("table").replace_strict(titles, default=pl.col("table")),
            branch_name=pl.when(pl.col("branch_id").is_null())
            .then(pl.lit("（文件含多个支部，请按行号核对）"))
            .otherwise(
                pl.col("branch_id").replace_strict(names, default=pl.col("branch_id"), return_dtype=pl.String)
                + pl.when(pl.col("_guessed")).then(pl.lit("（按相邻行推断）")).otherwise(pl.lit(""))
            ),
        )
        .sort(pl.col("branch_id").is_null(), "branch_id", "file", "sheet", "row", "_n", nulls_last=True)
        .select(*PROBLEMS_ZH, "table")
    )


def report_sheets(
    *,
    quarter: str,
    quarter_zh: str,
    standard: Standard,
    findings: pl.DataFrame,
    scorecard: pl.DataFrame,
    followup: pl.DataFrame,
    decisions: pl.DataFrame,
    sample: pl.DataFrame,
    quarantine: pl.DataFrame,
    quality: pl.DataFrame,
    tables: dict[str, pl.DataFrame],
    titles: dict[str, str],
    coverage: pl.DataFrame | None = None,
) -> list[Sheet]:
    """The report's sheets. `findings`: annotated with `status` (follow-up) and `decision_text`;
    `coverage` (`audit.coverage`): its 无法评估 rows make the sheet 评估范围."""
    names = branch_names(tables)
    severity_zh = pl.col("severity").replace_strict(SEVERITY_ZH, default=pl.col("severity"))
    listed = _named(by_severity(findings), names).with_columns(severity_zh)
    titles_of = {rule_id: rule.title for rule_id, rule in standard.rules.items()}
    false_alarms = (
        findings.filter(~pl.col("counted")).group_by("branch_id").agg(false_alarms=pl.len().cast(pl.Int64))
        if "counted" in findings.columns
        else pl.DataFrame(schema={"branch_id": pl.String, "false_alarms": pl.Int64})
    )
    card = scorecard.join(false_alarms, on="branch_id", how="left").with_columns(pl.col("false_alarms").fill_null(0))
    card_headers = (
        headers("branch_id", "branch_name", "quarter")
        | {d: d for d in standard.dimensions}
        | headers("critical", "errors", "warnings", "false_alarms", "rating")
    )
    ledger = _named(followup, names).with_columns(
        rule_title=pl.col("rule_id").replace_strict(titles_of, default="", return_dtype=pl.String)
    )
    judged = _named(decisions, names)
    return [
        Sheet(
            "问题清单",
            listed,
            FINDINGS_ZH,
            ("severity", "status", "decision_text"),
            f"{quarter_zh}审核问题清单",
            empty="本季度没有发现问题。",
        ),
        Sheet(
            "评定结果",
            card,
            card_headers,
            ("rating", *standard.dimensions),
            f"{quarter_zh}五个过硬评定结果",
            styles=rating_styles(standard),
        ),
        Sheet(
            "评估范围",
            not_evaluated(coverage, standard, names),
            COVERAGE_ZH,
            ("status",),
            f"{quarter_zh}评估范围：因缺少数据无法评估的规则",
            empty="本季度各项规则所需的数据齐全，均已评估。",
        ),
        Sheet(
            "整改台账", ledger, FOLLOWUP_ZH, ("status", "decision_text"), f"{quarter_zh}整改台账", empty="没有需要跟踪的问题。"
        ),
        Sheet("审核决定", judged, DECISIONS_ZH, ("decision", "state"), f"{quarter_zh}审核决定", empty="本季度没有审核决定。"),
        Sheet("抽查样本", _named(sample, names), SAMPLE_ZH, (), f"{quarter_zh}现场抽查样本", empty="本季度没有会议记录可抽查。"),
        Sheet(
            "数据问题",
            data_problems(quarantine, quality, tables, titles),
            PROBLEMS_ZH,
            (),
            f"{quarter_zh}数据问题（需支部更正后重新导出）",
            empty="导入和数据质量检查没有发现问题。",
        ),
    ]
