"""整改通知书 and 补报数据通知: one Word document per branch that has something to do, for the
reviewer to edit and send.

A branch with findings to fix gets a 整改通知书; a branch with nothing to fix but rule parts that
could not be judged for want of data (无法评估) gets a 补报数据通知 asking for that data; a branch
with neither gets no notice (the run says how many). `notices/<branch>.docx` (named like the
branch's page, `audit.display.branch_page_name`): title,
branch and quarter, the rating per dimension (with, for a 部分评估, the rule parts that could not
be judged and the data they lacked, from coverage.csv), the findings to fix in a table (rule title, clause,
what was found, evidence, 整改期限), the follow-up of last quarter's findings and a 签收 block
(支部书记签字, 日期). A4 portrait, 10.5 pt text, fonts declared for Chinese (宋体 / 黑体 as the East
Asian font of every run, so WPS and Word render them; LibreOffice substitutes its CJK font).
Findings a reviewer judged 误报 or 已整改 are not asked to be fixed. The deadline comes from
``rectification`` in ``standard.yaml`` (days after the quarter's end, by severity) or one date given
with ``audit run --deadline``. ``notices/全部通知书.pdf`` (every notice, one per page or more) is made
with LibreOffice when `soffice` is installed. The documents are the same byte for byte for the
same inputs (fixed document dates and zip times).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from audit.errors import AuditError
from audit.periods import Quarter, period_zh
from audit.standard import SEVERITIES, Standard

NOTICES = "notices"
ALL_PDF = "全部通知书.pdf"
RECTIFY, SUPPLY = "整改通知书", "补报数据通知"
DEFAULT_DAYS = {"critical": 15, "error": 30, "warning": 60}
BODY_FONT, TITLE_FONT, LATIN_FONT = "宋体", "黑体", "Times New Roman"
FIXED_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
TO_FIX_COLUMNS = ["序号", "规则", "条款", "发现的问题", "证据", "整改期限"]
TO_FIX_WIDTHS_CM = [1.0, 2.8, 1.8, 5.6, 3.5, 2.7]
UNCHECKED_COLUMNS = ["未能评估的规则", "期间", "缺少的数据"]
UNCHECKED_WIDTHS_CM = [4.4, 3.6, 9.4]
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class NoticeError(AuditError):
    """Notices cannot be made as asked (a bad deadline or a bad `rectification` section)."""


def rectification_days(standard: Standard) -> dict[str, int]:
    """Days after the quarter's end to fix a finding, by severity: ``rectification.days`` in the
    standard file, each severity defaulting to `DEFAULT_DAYS`."""
    days = dict(DEFAULT_DAYS)
    if standard.path is None or not Path(standard.path).is_file():
        return days
    raw = yaml.safe_load(Path(standard.path).read_text(encoding="utf-8")) or {}
    section = raw.get("rectification") or {}
    given = section.get("days") or {} if isinstance(section, dict) else None
    if not isinstance(given, dict):
        raise NoticeError(f"标准文件 {standard.path} 的 rectification.days 应为各级别的天数，如 error: 30")
    for severity, value in given.items():
        if severity not in SEVERITIES:
            raise NoticeError(
                f"标准文件 {standard.path} 的 rectification.days 中「{severity}」不是级别（应为 {'/'.join(SEVERITIES)}）"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise NoticeError(f"标准文件 {standard.path} 的 rectification.days.{severity} 应为正整数天数，不是「{value}」")
        days[severity] = value
    return days


def deadlines(standard: Standard, quarter: Quarter, deadline: dt.date | None = None) -> dict[str, dt.date]:
    """整改期限 by severity: the one date given, or the quarter's end plus the standard's days."""
    if deadline is not None:
        if deadline <= quarter.end:
            raise NoticeError(f"整改期限 {deadline.isoformat()} 应晚于{quarter.zh}末（{quarter.end.isoformat()}）")
        return dict.fromkeys(SEVERITIES, deadline)
    return {severity: quarter.end + dt.timedelta(days=n) for severity, n in rectification_days(standard).items()}


def parse_deadline(text: str) -> dt.date:
    """A --deadline value: YYYY-MM-DD (or 2019/4/30, 2019年4月30日)."""
    match = re.fullmatch(r"\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?\s*", text)
    try:
        if match:
            return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        pass
    raise NoticeError(f"--deadline 应为日期，如 2019-04-30，不是「{text}」")


def _clean(value: Any) -> str:
    """Text as a document may hold it: characters XML cannot carry are shown escaped."""
    text = "" if value is None else str(value)
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _date_zh(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass
class Notice:
    """What one branch's notice says."""

    branch_id: str
    branch_name: str
    parent_org: str
    quarter: Quarter
    rating: dict[str, Any]
    to_fix: list[dict[str, Any]]  # rule_title, clause, message, evidence, deadline (date)
    followup: list[dict[str, Any]] = field(default_factory=list)  # status, message, period_then, period_now
    previous: str | None = None  # the quarter followed up against (its Chinese name), None without one
    unchecked: list[dict[str, str]] = field(default_factory=list)  # rule, periods, reason: what could not be judged
    supply_by: dt.date | None = None  # when the missing data is due (the 错误 deadline), None when nothing is missing

    @property
    def kind(self) -> str | None:
        """The notice's title: 整改通知书 with findings to fix, 补报数据通知 with only data missing,
        None when the branch has nothing to do (it gets no notice)."""
        if self.to_fix:
            return RECTIFY
        return SUPPLY if self.unchecked else None


def notice_for(
    branch: dict[str, Any],
    quarter: Quarter,
    standard: Standard,
    rating: dict[str, Any],
    findings: pl.DataFrame,
    followup: pl.DataFrame | None,
    due: dict[str, dt.date],
    previous: Quarter | None,
    coverage: pl.DataFrame | None = None,
) -> Notice:
    """One branch's notice. `findings`: the branch's findings, annotated with decisions;
    `coverage` (coverage.csv, any branches): what the data let each rule part judge, so the notice
    names the rule parts the branch's 部分评估 comes from and the data they lacked."""
    [notice] = notices_for(
        [branch], quarter, standard, {branch["branch_id"]: rating}, findings, followup, due, previous, coverage
    )
    return notice


def notices_for(
    branches: list[dict[str, Any]],
    quarter: Quarter,
    standard: Standard,
    ratings: dict[str, dict[str, Any]],
    findings: pl.DataFrame,
    followup: pl.DataFrame | None,
    due: dict[str, dt.date],
    previous: Quarter | None,
    coverage: pl.DataFrame | None = None,
) -> list[Notice]:
    """The notice of each of `branches`, in their order (`notice_for` of each): `findings` (any
    branches, annotated with decisions), the follow-up and the coverage are ordered and split by
    branch once, not filtered and sorted for each branch."""
    from audit.coverage import not_evaluated
    from audit.followup import NEW
    from audit.workbook import by_severity

    ids = {branch["branch_id"] for branch in branches}

    def by_branch(frame: pl.DataFrame | None) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        if frame is not None:
            for row in frame.filter(pl.col("branch_id").is_in(list(ids))).iter_rows(named=True):
                grouped.setdefault(row["branch_id"], []).append(row)
        return grouped

    # the previous quarter's findings still open, when there is a previous quarter to follow up
    still_open = followup.filter(pl.col("status") != NEW) if followup is not None and previous is not None else None
    followed = still_open is not None
    ranked = by_branch(by_severity(findings))  # a branch's rows in by_severity's order (a stable sort)
    earlier = by_branch(still_open)
    missing = by_branch(not_evaluated(coverage, standard) if coverage is not None and not coverage.is_empty() else None)
    return [
        _notice(
            branch,
            quarter,
            standard,
            ratings[branch["branch_id"]],
            ranked.get(branch["branch_id"], []),
            earlier.get(branch["branch_id"], []) if followed else None,
            due,
            previous,
            _unchecked_lines(missing.get(branch["branch_id"], [])),
        )
        for branch in branches
    ]


def _notice(
    branch: dict[str, Any],
    quarter: Quarter,
    standard: Standard,
    rating: dict[str, Any],
    rows: list[dict[str, Any]],
    mine: list[dict[str, Any]] | None,
    due: dict[str, dt.date],
    previous: Quarter | None,
    unchecked: list[dict[str, str]],
) -> Notice:
    """A branch's notice from its findings (by severity), its follow-up rows other than 新发现
    (None without a follow-up) and its 无法评估 lines."""
    from audit.decisions import FALSE_ALARM, RECTIFIED
    from audit.followup import CONTINUING

    settled = {FALSE_ALARM, RECTIFIED}
    to_fix = [
        {
            "rule_title": f"{r['rule_id']} {standard.rule(r['rule_id']).title}"
            if r["rule_id"] in standard.rules
            else r["rule_id"],
            "clause": r["clause"],
            "message": r["message"],
            "evidence": r["evidence"],
            "deadline": due.get(r["severity"], due["error"]),
        }
        for r in rows
        if (r.get("decision") or "") not in settled
    ]
    earlier = []
    if mine is not None:
        false_alarms = {r["finding_id"] for r in rows if r.get("decision") == FALSE_ALARM}
        persisting = set()
        for r in mine:
            if r["status"] == CONTINUING:  # one line per rule and subject that failed again
                if (r["rule_id"], r["subject_id"]) in persisting:
                    continue
                persisting.add((r["rule_id"], r["subject_id"]))
            judged = "（经核实为误报）" if r["finding_id"] in false_alarms else ""
            earlier.append({**r, "status": r["status"] + judged})
    return Notice(
        branch_id=branch["branch_id"],
        branch_name=branch.get("branch_name") or branch["branch_id"],
        parent_org=branch.get("parent_org") or "",
        quarter=quarter,
        rating=rating,
        to_fix=to_fix,
        followup=earlier,
        previous=previous.zh if previous is not None else None,
        unchecked=unchecked,
        supply_by=due["error"] if unchecked else None,
    )


def _unchecked_lines(rows: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """A branch's 无法评估 rule parts from its `coverage.not_evaluated` rows: one line per rule part
    and reason, in coverage's order (the standard's): the rule (a part other than `main` named
    after it), its periods in words and the data that was missing (coverage's reason)."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    for r in rows:
        rule = f"{r['rule_id']} {r['rule_title']}" + (f"（{r['part']}）" if r["part"] else "")
        periods = lines.setdefault((r["rule_id"], rule, r["reason"]), [])
        if r["period"] not in periods:
            periods.append(r["period"])
    return [
        {"rule": rule, "periods": "、".join(period_zh(p) for p in periods), "reason": reason}
        for (_, rule, reason), periods in lines.items()
    ]


# --- documents -------------------------------------------------------------------------------------------


def _fonts(run_or_style: Any, east_asian: str = BODY_FONT) -> None:
    """Declare the Latin and the East Asian font (python-docx sets only the Latin one)."""
    from docx.oxml.ns import qn

    run_or_style.font.name = LATIN_FONT
    rpr = run_or_style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attribute in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attribute), LATIN_FONT)
    fonts.set(qn("w:eastAsia"), east_asian)


def new_document(title: str) -> Any:
    """An empty A4 document with the notices' styles and fixed properties."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.left_margin = section.right_margin = Cm(1.8)
    section.top_margin, section.bottom_margin = Cm(1.6), Cm(1.5)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(10.5)
    _fonts(normal)
    normal.paragraph_format.space_after = Pt(2)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.line_spacing = 1.15
    lang = normal.element.get_or_add_rPr().makeelement(qn("w:lang"), {qn("w:val"): "zh-CN", qn("w:eastAsia"): "zh-CN"})
    normal.element.get_or_add_rPr().append(lang)
    properties = doc.core_properties
    properties.title = title
    properties.author = properties.last_modified_by = "audit"
    properties.created = properties.modified = FIXED_TIME.replace(tzinfo=None)
    properties.revision = 1
    properties.comments = ""
    return doc


def _paragraph(
    doc_or_cell: Any,
    text: str = "",
    *,
    size: float | None = None,
    bold: bool = False,
    font: str = BODY_FONT,
    align: str | None = None,
    space_before: float | None = None,
) -> Any:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    paragraph = doc_or_cell.add_paragraph()
    if align:
        paragraph.alignment = {"center": WD_ALIGN_PARAGRAPH.CENTER, "right": WD_ALIGN_PARAGRAPH.RIGHT}[align]
    if space_before is not None:
        paragraph.paragraph_format.space_before = Pt(space_before)
    if text:
        _run(paragraph, text, size=size, bold=bold, font=font)
    return paragraph


def _run(paragraph: Any, text: str, *, size: float | None = None, bold: bool = False, font: str = BODY_FONT) -> Any:
    from docx.shared import Pt

    run = paragraph.add_run(_clean(text))
    run.bold = bold
    if size:
        run.font.size = Pt(size)
    _fonts(run, font)
    return run


def _cell_text(cell: Any, text: str, *, bold: bool = False, size: float = 9, align: str | None = None) -> None:
    """Replace a table cell's text (the cell's first paragraph), small print."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.space_after = 0
    if align == "center":
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(paragraph, text, size=size, bold=bold)


def _table(doc: Any, header: list[str], rows: list[list[str]], widths_cm: list[float]) -> Any:
    from docx.oxml.ns import qn
    from docx.shared import Cm

    table = doc.add_table(rows=1 + len(rows), cols=len(header))
    table.style = doc.styles["Table Grid"]
    table.autofit = False
    for n, text in enumerate(header):
        _cell_text(table.rows[0].cells[n], text, bold=True, align="center")
    repeat = table.rows[0]._tr.get_or_add_trPr().makeelement(qn("w:tblHeader"), {qn("w:val"): "true"})
    table.rows[0]._tr.get_or_add_trPr().append(repeat)  # the header row repeats if a table crosses a page
    for r, values in enumerate(rows, start=1):
        for n, text in enumerate(values):
            _cell_text(table.rows[r].cells[n], text)
    for n, width in enumerate(widths_cm):  # the grid (LibreOffice and WPS read it) and every cell (Word)
        table.columns[n].width = Cm(width)
        for cell in table.columns[n].cells:
            cell.width = Cm(width)
    return table


def add_notice(doc: Any, notice: Notice, standard: Standard) -> None:
    """Append one branch's notice to a document: a 整改通知书, or a 补报数据通知 when only data is
    missing (`Notice.kind`; a branch with nothing to do has no notice)."""
    q = notice.quarter
    kind = notice.kind
    if kind is None:
        raise ValueError(f"branch {notice.branch_id} has nothing to fix and no missing data: it gets no notice")
    parent = notice.parent_org or "上级党组织"
    supply_by = _date_zh(notice.supply_by) if notice.supply_by else "整改期限"
    _paragraph(doc, kind, size=18, bold=True, font=TITLE_FONT, align="center")
    _paragraph(doc, f"（{q.zh}）", size=11, align="center")
    _paragraph(doc, f"{notice.branch_name}（支部编号 {notice.branch_id}）：", bold=True, space_before=6)
    fix = (
        f"发现需要整改的问题 {len(notice.to_fix)} 条，请于整改期限前完成整改，并将整改情况书面报告{parent}。"
        if notice.to_fix
        else f"未发现需要整改的问题；但报送的数据不全，部分规则未能评估，请于{supply_by}前将所缺数据补报{parent}。"
    )
    _paragraph(
        doc,
        f"　　根据《{standard.name}》（版本 {standard.version}），对你支部{q.zh}的组织生活、党费收缴、党员积分等记录进行了审核，{fix}",
    )

    _paragraph(doc, "一、评定结果", bold=True, font=TITLE_FONT, space_before=6)
    dims = list(standard.dimensions)
    _table(
        doc,
        [*dims, "评定"],
        [[str(notice.rating.get(d, "")) for d in dims] + [str(notice.rating.get("rating", ""))]],
        [2.9] * (len(dims) + 1),
    )

    if notice.unchecked and notice.to_fix:
        _paragraph(
            doc,
            "　　下列规则因报送的数据不全未能评估（既不算通过，也不算问题）；相应维度没有问题时评定为“部分评估”，"
            f"本季度不能评为过硬。请于{supply_by}前补充所缺数据：",
            space_before=4,
        )
        rows = [[u["rule"], u["periods"], u["reason"]] for u in notice.unchecked]
        _table(doc, UNCHECKED_COLUMNS, rows, UNCHECKED_WIDTHS_CM)

    if notice.to_fix:
        _paragraph(doc, "二、需要整改的问题", bold=True, font=TITLE_FONT, space_before=6)
        rows = [
            [str(n), f["rule_title"], f["clause"], f["message"], f["evidence"], _date_zh(f["deadline"])]
            for n, f in enumerate(notice.to_fix, start=1)
        ]
        _table(doc, TO_FIX_COLUMNS, rows, TO_FIX_WIDTHS_CM)
    else:
        _paragraph(doc, "二、需要补报的数据", bold=True, font=TITLE_FONT, space_before=6)
        _paragraph(
            doc,
            "　　下列规则因报送的数据不全未能评估（既不算通过，也不算问题）；相应维度没有问题时评定为“部分评估”，"
            "本季度不能评为过硬：",
        )
        rows = [[u["rule"], u["periods"], u["reason"]] for u in notice.unchecked]
        _table(doc, UNCHECKED_COLUMNS, rows, UNCHECKED_WIDTHS_CM)

    _paragraph(doc, "三、上季度问题整改情况", bold=True, font=TITLE_FONT, space_before=6)
    if notice.previous is None:
        _paragraph(doc, "　　未找到上季度审核报告，无法跟踪上季度问题的整改情况。")
    elif not notice.followup:
        _paragraph(doc, f"　　{notice.previous}审核未发现你支部的问题。")
    else:
        rows = [
            [r["status"], "、".join(period_zh(p) for p in r["period_then"].split("、") if p), r["message"]]
            for r in notice.followup
        ]
        _table(doc, ["整改情况", "原问题期间", "问题"], rows, [2.0, 3.0, 12.4])

    _paragraph(doc, "四、签收", bold=True, font=TITLE_FONT, space_before=6)
    promise = "将按期完成整改" if notice.to_fix else "将按期补报所缺数据"
    _paragraph(doc, f"　　本通知已收到，{promise}。", space_before=2)
    _paragraph(doc, "支部书记签字：＿＿＿＿＿＿＿＿＿　　　　日期：　　　年　　月　　日", space_before=10)
    _paragraph(doc, f"{notice.parent_org}（盖章）" if notice.parent_org else "（盖章）", align="right", space_before=14)
    _paragraph(doc, "　　　　年　　月　　日", align="right")


def _save(doc: Any, path: Path) -> None:
    """Save with fixed zip entry times, so the same notice is the same file byte for byte."""
    buffer = io.BytesIO()
    doc.save(buffer)
    buffer.seek(0)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            entry = zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, source.read(item.filename))
    tmp.replace(path)


def notice_name(branch_id: str) -> str:
    """The notice's file name: the branch page's name with `.docx` (no id text reaches a path)."""
    from audit.display import branch_page_name

    return branch_page_name(branch_id).removesuffix(".html") + ".docx"


def notices_said(notices: list[Notice]) -> str:
    """One sentence for people: how many notices of each kind were written and how many branches
    needed none."""
    kinds = [notice.kind for notice in notices]
    made = "、".join(f"{kind} {kinds.count(kind)} 份" for kind in (RECTIFY, SUPPLY) if kinds.count(kind))
    none = kinds.count(None)
    quiet = f"{none} 个支部没有需要整改的问题、数据齐全，不发通知" if none else ""
    if not made:
        return f"通知书：未生成（{quiet}）" if quiet else "通知书：未生成（没有支部）"
    return f"通知书：{made}（{NOTICES}/）" + (f"；{quiet}" if quiet else "")


def write_notices(folder: Path, notices: list[Notice], standard: Standard, *, pdf: bool = True) -> list[str]:
    """Write the notice of every branch that has something to do (`Notice.kind`) into `folder`, and
    the PDF of them all when LibreOffice is installed; a branch with nothing to do gets no notice
    (and no page). Returns notes for people (what was skipped or failed)."""
    from docx.enum.text import WD_BREAK

    notices = [notice for notice in notices if notice.kind is not None]
    if notices:
        folder.mkdir(parents=True, exist_ok=True)
    for notice in notices:
        doc = new_document(f"{notice.branch_name}{notice.quarter.zh}{notice.kind}")
        add_notice(doc, notice, standard)
        _save(doc, folder / notice_name(notice.branch_id))
    if not pdf or not notices:
        return []
    soffice = find_soffice()
    if soffice is None:
        return [f"未安装 LibreOffice（soffice），未生成 {NOTICES}/{ALL_PDF}；各支部的 Word 通知书已生成"]
    combined = new_document(f"{notices[0].quarter.zh}通知书")
    for n, notice in enumerate(notices):
        if n:
            combined.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        add_notice(combined, notice, standard)
    work = Path(tempfile.mkdtemp(prefix="audit-notices-"))
    try:
        source = work / "全部通知书.docx"
        _save(combined, source)
        made, why = convert(source, "pdf", work / "pdf", soffice=soffice)
        if made is None:
            return [f"{NOTICES}/{ALL_PDF} 未生成：{why}"]
        shutil.move(str(made), folder / ALL_PDF)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return []


def find_soffice() -> str | None:
    """LibreOffice's command, when installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(
    source: Path, target: str, outdir: Path, *, soffice: str | None = None, timeout: int = 300
) -> tuple[Path | None, str]:
    """Convert a document with LibreOffice (`soffice --headless --convert-to`), in a private
    profile so runs at the same time do not collide. Returns the converted file, or None and why."""
    soffice = soffice or find_soffice()
    if soffice is None:
        return None, "未安装 LibreOffice（soffice）"
    outdir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="audit-soffice-"))
    try:
        command = [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nologo",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            str(source),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env={**os.environ, "HOME": str(profile)}
            )
        except subprocess.TimeoutExpired:
            return None, f"LibreOffice 转换超过 {timeout} 秒"
        made = outdir / f"{source.stem}.{target.split(':')[0]}"
        if done.returncode != 0 or not made.is_file():
            return None, f"LibreOffice 转换失败（退出码 {done.returncode}）：{(done.stderr or done.stdout).strip()[:300]}"
        return made, ""
    finally:
        shutil.rmtree(profile, ignore_errors=True)
