"""`audit inspect`: how every file and sheet of a batch was read, and what to write in the mapping
file to fix what was not.

Runs ingestion (no rules) and renders, per file and sheet: the table recognised and why, the header
row, each source column and the canonical column it became (and how) or 未使用, required columns
missing, rows read / accepted / quarantined / skipped, and values taken from titles, names or the
mapping file. Then the identities resolved (``audit.identity``): the branch table — every code and
name spelling the batch uses and the branch key it became, the branches created because the
branch list lacks them, the names not guessed — and how members were keyed and linked. Then one
mapping-file fragment covering everything that could not be read, so a reviewer fixes an
unreadable file in one step. Lines are plain text (batch text included as is):
print them through ``audit.readers.printable``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from rich.cells import cell_len

from audit.contract import Contract, Table
from audit.identity import KIND_LABELS, IdentityReport
from audit.ingest import Ingested, Problem, SourceStats
from audit.privacy import visible
from audit.reasons import Action, Reason

MAX_PAD = 16  # headers are padded to a common width up to this many terminal cells
SKIPPED_TABLE_WHY = ("不对应任何表",)  # a Skipped.why meaning "which table is this?"


@dataclass
class Suggestions:
    """What the reviewer should write in the mapping file, collected while rendering."""

    tables: list[str] = field(default_factory=list)
    headers: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    fixed: list[str] = field(default_factory=list)
    values: dict[str, dict[str, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    branches: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.tables or self.headers or self.fixed or self.values or self.branches)

    def yaml(self) -> list[str]:
        lines: list[str] = []
        if self.tables:
            lines += ["tables:", *self.tables]
        if self.headers:
            lines.append("headers:")
            for table, entries in self.headers.items():
                lines += [f"  {table}:", *dict.fromkeys(entries)]
        if self.fixed:
            lines += ["fixed:", *dict.fromkeys(self.fixed)]
        if self.values:
            lines.append("values:")
            for table, columns in self.values.items():
                lines.append(f"  {table}:")
                for column, entries in columns.items():
                    lines += [f"    {column}:", *dict.fromkeys(entries)]
        if self.branches:
            lines += ["branches:", *dict.fromkeys(self.branches)]
        return lines


def quoted(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(name: str) -> str:
    """A file or sheet name as a pattern matching only itself."""
    return name.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")


def where(file: str, sheet: str) -> str:
    return f"{file}［{sheet}］" if sheet else file


def table_reason(source: SourceStats, ingested: Ingested) -> str:
    """Why a source was read as its table: the mapping file (and which line), its sheet name, its
    file name, or its header (as ``_assign_tables`` decided)."""
    how = ingested.recognised.get((source.file, source.sheet), "")
    mapping = ingested.mapping
    if mapping is not None and how in ("映射文件", ""):
        rule = mapping.table_rule(source.file, source.sheet, sheet_only=bool(source.sheet)) or mapping.file_rule(source.file)
        if rule is not None and rule.table == source.table:
            return f"映射文件第 {rule.pattern.line} 行（{rule.pattern.describe()}）"
    if how == "工作表名称":
        return f"工作表名「{source.sheet}」"
    if how == "文件名":
        return f"文件名「{PurePosixPath(source.file).stem}」"
    if how == "表头":
        return "表头中的列（文件名和工作表名都不对应任何表）"
    return f"文件名「{PurePosixPath(source.file).stem}」"  # a file that could not be read: named by its stem


def render_inspection(ingested: Ingested, contract: Contract) -> list[str]:
    """The whole `audit inspect` report, as lines."""
    mapping = ingested.mapping
    lines = [f"数据批次：{ingested.batch.name}"]
    if mapping is not None:
        lines.append(f"映射文件：{mapping.path}（SHA-256 {mapping.sha256[:12]}…）")
    suggestions = Suggestions()
    by_source: dict[tuple[str, str], list[Problem]] = defaultdict(list)
    for problem in ingested.problems:
        by_source[(problem.file, problem.sheet)].append(problem)
    entries: list[tuple[str, str, list[str]]] = []
    for source in ingested.sources:
        block = _source_block(source, ingested, contract, by_source[(source.file, source.sheet)], suggestions)
        entries.append((source.file, source.sheet, block))
    read_files = {s.file for s in ingested.sources if s.table}
    for skipped in ingested.skipped:
        block = [f"■ {where(skipped.file, skipped.sheet)}", f"  已跳过：{skipped.why}"]
        if any(w in skipped.why for w in SKIPPED_TABLE_WHY) and skipped.file in read_files:
            block.append("  如果它也是一张表：在映射文件 tables 中写明它是哪张表，如 - {file: …, sheet: …, table: 表名}")
        elif any(w in skipped.why for w in SKIPPED_TABLE_WHY):
            block.append("  如果它是一张表：在映射文件 tables 中写明它是哪张表（见文末）")
            sheet = f", sheet: {quoted(literal(skipped.sheet))}" if skipped.sheet else ""
            names = "、".join(f"{t.name}（{t.title}）" for t in contract.tables.values())
            suggestions.tables.append(f"  - {{file: {quoted(literal(skipped.file))}{sheet}, table: 表名}}  # 表名可选：{names}")
        entries.append((skipped.file, skipped.sheet, block))
    for _, _, block in sorted(entries, key=lambda e: (e[0], e[1])):
        lines += ["", *block]
    lines += ["", *_identity_block(ingested.identities, contract, suggestions)]
    lines.append("")
    if suggestions:
        lines.append("建议写入映射文件的内容（把「表名」「四位年份」「？」等处改成实际内容，保存为 mapping.yaml，")
        lines.append("再用 --mapping mapping.yaml 运行 inspect、ingest、validate 或 run；已有映射文件的，合并到其中）：")
        lines += ["", *suggestions.yaml()]
    else:
        lines.append("所有文件都已识别，没有需要写入映射文件的内容。")
    return lines


KEY_KINDS = {
    "member_id": "党员编号",
    "personnel_no": "学工号（学号、工号、工作证号、人员编号）",
    "id_number": "身份证号（以假名为键，显示为脱敏号码）",
    "name": "所在支部+姓名",
}


def _identity_block(report: IdentityReport, contract: Contract, suggestions: Suggestions) -> list[str]:
    """The branch table (spellings → key), names not guessed, and how members were keyed and linked."""
    lines = ["支部（各表中的编号和名称写法 → 支部键）："]
    if not report.branches:
        lines.append("  （批次中没有支部）")
    for entry in report.branches:
        title = f"{entry.key}（{entry.name}）" if entry.name and entry.name != entry.key else entry.key
        status = "［支部信息中没有，已新建］" if entry.created else ""
        spelled = "、".join(f"{s.text if s.how == '编号' else f'「{s.text}」'}（{s.how}，{s.rows} 行）" for s in entry.spellings)
        lines.append(f"  {title}{status} ← {spelled}")
    if report.unresolved:
        lines += ["", "未能确定的支部名称（未猜测，相关行已隔离；请在映射文件 branches 中写明它对应的支部编号，见文末）："]
        for unresolved in report.unresolved:
            which = "同时对应" if unresolved.ambiguous else "与以下支部相近"
            candidates = "、".join(unresolved.candidates)
            lines.append(f"  「{unresolved.text}」：{which} {candidates}；首次出现在 {unresolved.where}，共 {unresolved.rows} 行")
            suggestions.branches.append(f"  {quoted(unresolved.text)}: ？  # 可选：{candidates}")
    keyed = [(table, kinds) for table, kinds in report.keys.items() if any(kinds.values())]
    if keyed or report.links:
        lines += ["", "党员识别（党员编号，或学工号、身份证号、所在支部+姓名中最先有的一项）："]
    for table, kinds in keyed:
        counts = "，".join(
            f"{n} 人按{'人员编号' if table == 'development' and k == 'member_id' else KEY_KINDS[k]}"
            for k, n in kinds.items()
            if n
        )
        lines.append(f"  {contract.tables[table].title}：{counts}")
    for where_to, kinds in report.links.items():
        table, column = where_to.split(".")
        counts = "，".join(f"{n} 行按{KIND_LABELS[k]}" for k, n in kinds.items() if n)
        if counts:
            label = contract.tables[table].columns[column].label
            lines.append(f"  {contract.tables[table].title}的{label}由其他列关联到党员名册：{counts}")
    return lines + _meetings_and_offices(report)


ATTENDANCE_SOURCES = {"list": "有参会明细", "absentees": "按缺席、请假人员名单", "counts": "只有人数", "none": "没有出勤记录"}
OFFICE_SOURCES = {
    "branches": "支部信息",
    "committee": "支部委员会成员表",
    "members": "党员名册的党内职务",
    "": "没有（无法评估）",
}


def _meetings_and_offices(report: IdentityReport) -> list[str]:
    """How meetings were keyed, how their attendance is known, where each office came from."""
    lines: list[str] = []
    meetings, attendance = report.meetings, report.attendance
    if meetings.get("derived") or meetings.get("matched") or meetings.get("attendance_linked"):
        lines += ["", "会议编号（没有活动编号的按支部、活动类型、活动日期和主题生成，见 docs/identity.md）："]
        said = [f"{meetings.get('given', 0)} 条有活动编号", f"{meetings.get('derived', 0)} 条生成编号"]
        said += [f"{meetings['matched']} 条与写有编号的会议相同、采用其编号"] if meetings.get("matched") else []
        said += [f"参会明细 {meetings['attendance_linked']} 行按日期等对应到会议"] if meetings.get("attendance_linked") else []
        lines.append("  " + "，".join(said))
    if meetings.get("hosts"):
        resolved = meetings.get("hosts_resolved", 0)
        lines += ["", "主持人（host_id，目前没有规则读取）："]
        lines.append(
            f"  {meetings['hosts']} 条会议写有主持人，{resolved} 条对应到本支部党员，{meetings['hosts'] - resolved} 条未对应（未猜测）"
        )
    if any(attendance.get(k) for k in ATTENDANCE_SOURCES if k != "list"):
        lines += ["", "会议出勤从哪里得知（attendance_source）："]
        said = [f"{label} {attendance[k]} 条" for k, label in ATTENDANCE_SOURCES.items() if attendance.get(k)]
        rows = attendance.get("rows_from_text", 0)
        lines.append("  " + "，".join(said) + (f"；从名单读出参会明细 {rows} 行" if rows else ""))
    offices = {office: counts for office, counts in report.offices.items() if set(counts) - {"branches"}}
    if offices:
        lines += ["", "书记、组织委员取自（secretary_source、organizer_source）："]
        for office, counts in offices.items():
            sources = "，".join(f"{label} {counts[k]} 个支部" for k, label in OFFICE_SOURCES.items() if counts.get(k))
            lines.append(f"  {'书记' if office == 'secretary' else '组织委员'}：{sources}")
    return lines


def _source_block(
    source: SourceStats,
    ingested: Ingested,
    contract: Contract,
    problems: list[Problem],
    suggestions: Suggestions,
) -> list[str]:
    table = contract.tables.get(source.table) if source.table else None
    lines = [f"■ {where(source.file, source.sheet)}"]
    if table is None:
        lines.append("  表：未识别")
    else:
        lines.append(f"  表：{table.title}（{table.name}），依据{table_reason(source, ingested)}")
    if source.hidden:
        lines.append("  注意：这是隐藏工作表，已照常读取")
    header_row = getattr(source, "header_row", None)
    columns = list(getattr(source, "columns", []))
    file_problems = [p for p in problems if p.action is Action.FILE]
    if header_row is not None:
        lines.append(f"  表头：第 {header_row} 行")
    elif table is not None and not file_problems:
        lines.append("  表头：未找到")
    if columns:
        lines.append("  列：")
        width = min(MAX_PAD, max(cell_len(_shown_header(c)) for c in columns))
        for column in columns:
            lines.append("    " + _column_line(column, table, width))
    if table is not None:
        mapped = {c.column for c in columns if c.column}
        mapped |= table.stood_in(mapped)  # 学工号, 身份证号 or 姓名 in place of 党员编号 (identities)
        missing = [c for c in table.required if c.name not in mapped]
        if header_row is not None or columns:
            lines.append("  缺少的必填列：" + ("、".join(f"{c.label}（{c.name}）" for c in missing) if missing else "无"))
        if missing and header_row is not None:
            unused = [c.source_header for c in columns if c.column is None and c.source_header]
            present = [c.source_header for c in columns if c.source_header]
            hint = f"  # 表中未使用的列：{'、'.join(unused)}" if unused else f"  # 表中的列：{'、'.join(present)}"
            for column in missing:
                suggestions.headers[table.name].append(f"    {quoted('表中对应的列名')}: {column.name}  # {column.label}{hint}")
    for problem in file_problems:
        lines.append(f"  未导入：{problem.message}")
        if table is not None and problem.reason is Reason.FILE_NO_HEADER:
            lines.append("  修改办法：在映射文件 headers 中把表头里的列名对应到上面的必填列（见文末）")
            for column in table.required:
                suggestions.headers[table.name].append(f"    {quoted('表中对应的列名')}: {column.name}  # {column.label}")
        elif problem.reason is Reason.FILE_MISSING_COLUMN:
            lines.append("  修改办法：在映射文件 headers 中写出表中哪一列是它（见文末）")
    if table is not None:
        skipped = getattr(source, "rows_skipped", 0)
        derived = getattr(source, "rows_derived", 0)  # rows other tables gained from this sheet's rows
        lines.append(
            f"  行数：读取 {source.rows_read}，导入 {source.rows_accepted}，隔离 {source.rows_quarantined}，跳过 {skipped}"
            + (f"；另由本表的行生成其他表的记录 {derived} 行（如缺席人员名单、支部信息中没有的支部）" if derived else "")
        )
        _row_problem_notes(source, table, problems, lines, suggestions)
    return lines


def _shown_header(column) -> str:
    """The header as the terminal will show it (control characters escaped), for padding."""
    return visible(column.source_header) or "（无）"


def _column_line(column, table: Table | None, width: int) -> str:
    source = column.source_header or "（无）"
    pad = " " * max(0, width - cell_len(_shown_header(column)))
    if column.column is None:
        return f"{source}{pad} → 未使用"
    label = table.columns[column.column].label if table is not None and column.column in table.columns else ""
    target = f"{column.column}（{label}）" if label and label != column.column else column.column
    return f"{source}{pad} → {target}：{column.how}"


def _row_problem_notes(
    source: SourceStats, table: Table, problems: list[Problem], lines: list[str], suggestions: Suggestions
) -> None:
    """Problems that one mapping-file line fixes for the whole sheet: a missing year, unknown values."""
    rows = [p for p in problems if p.action is not Action.FILE]
    if any(p.reason is Reason.YEAR_NOT_FOUND for p in rows):
        lines.append("  找不到年份：表中没有年度列，标题、工作表名和文件名中也没有年份；请在映射文件 fixed 中写明（见文末）")
        sheet = f", sheet: {quoted(literal(source.sheet))}" if source.sheet else ""
        suggestions.fixed.append(f"  - {{file: {quoted(literal(source.file))}{sheet}, values: {{year: 四位年份}}}}")
    unknown: dict[str, list[str]] = defaultdict(list)
    for problem in rows:
        if problem.reason is Reason.UNKNOWN_ENUM:
            unknown[problem.column].append(problem.value)
    for header, values in unknown.items():
        column = _column_named(source, table, header)
        if column is None:
            continue
        allowed = "、".join(table.columns[column].values or {})
        distinct = list(dict.fromkeys(values))
        lines.append(
            f"  「{header}」中有 {len(values)} 个未知取值：{'、'.join(distinct[:10])}；可在映射文件 values 中对应到标准取值（见文末）"
        )
        for value in distinct[:50]:
            suggestions.values[table.name][column].append(f"      {quoted(value)}: ？  # 可选：{allowed}")


def _column_named(source: SourceStats, table: Table, header: str) -> str | None:
    for column in getattr(source, "columns", []):
        if column.source_header == header and column.column:
            return column.column
    for name, written in source.headers.items():
        if written == header and name in table.columns:
            return name
    return table.column_for(header)
