"""The `audit` command line. Exit codes (`audit.errors`): 0 ran, 1 findings at or above --fail-on
(verify-manifest: the report no longer matches), 2 bad usage or unusable input, 3 some branch pages
failed, 70 an internal error. A user's mistake is an `AuditError`, said in Chinese once, in `main`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import typer
from rich.console import Console
from rich.table import Table as RichTable

from audit.errors import (
    EXIT_BRANCH_FAILED,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_UNUSABLE,
    AuditError,
    UsageError,
)
from audit.labels import COLUMNS, SEVERITY_ZH
from audit.readers import printable

app = typer.Typer(
    help="党支部组织生活与党费、积分记录的审核工具。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, emoji=False)  # text from a batch is never turned into emoji
err = Console(stderr=True, highlight=False, emoji=False)


def _print_ingest_summary(result, out: Path | None) -> None:
    from audit.readers import printable
    from audit.reasons import Action

    summary = RichTable(title=f"导入结果：{printable(result.batch.name)}", show_lines=False)
    for header in ("表", "来源文件数", "读取行数", "导入行数", "隔离行数", "跳过行数"):
        summary.add_column(header, justify="right" if header != "表" else "left")
    by_table: dict[str, list] = {}
    for source in result.sources:
        if source.table:
            by_table.setdefault(source.table, []).append(source)
    for name, table in result_tables(result):
        sources = by_table.get(name, [])
        if not sources:
            continue
        summary.add_row(
            f"{table.title}（{name}）",
            str(len(sources)),
            str(sum(s.rows_read for s in sources)),
            str(sum(s.rows_accepted for s in sources)),
            str(sum(s.rows_quarantined for s in sources)),
            str(sum(s.rows_skipped for s in sources)),
        )
    console.print(summary)
    file_problems = [p for p in result.problems if p.action is Action.FILE]
    for problem in file_problems:
        where = printable(problem.file) + (f"［{printable(problem.sheet)}］" if problem.sheet else "")
        err.print(f"[red]未导入[/red] {where}：{printable(problem.message)}")
    row_problems = [p for p in result.problems if p.action not in (Action.FILE, Action.SKIP)]
    skipped_rows = sum(s.rows_skipped for s in result.sources)
    if skipped_rows:  # template instructions, footers, notes: listed in quarantine.csv, not data problems
        console.print(f"非数据行 {skipped_rows} 行（填写说明、合计/签字、注意事项）已跳过，见 quarantine.csv")
    if row_problems:
        console.print(f"数据问题 {len(row_problems)} 条（前 10 条）：")
        for problem in row_problems[:10]:
            where = printable(problem.file) + (f"［{printable(problem.sheet)}］" if problem.sheet else "")
            column, message = printable(problem.column), printable(problem.message)
            console.print(f"  {where} 第{problem.row}行 「{column}」：{message}（{problem.action.value}）")
    hidden = [s for s in result.sources if s.hidden]
    for source in hidden:
        console.print(f"[yellow]注意[/yellow] {printable(source.file)}［{printable(source.sheet)}］是隐藏工作表，已照常读取")
    for skip in result.skipped:
        sheet = f"［{printable(skip.sheet)}］" if skip.sheet else ""
        console.print(f"已跳过 {printable(skip.file)}{sheet}：{printable(skip.why)}")
    if out is not None:
        console.print(f"输出目录：{printable(out)}（ingest_report.csv、quarantine.csv、column_map.csv、tables/*.parquet）")


def _checked(quarter: str, fail_on: str | None = None, standard: Path | None = None):
    """Parse the options every auditing command shares (a bad value is a `UsageError`, a broken
    standard file a `StandardError`)."""
    from audit.standard import SEVERITIES, load_standard

    if fail_on is not None and fail_on not in SEVERITIES:
        raise UsageError(f"--fail-on 应为 {' / '.join(SEVERITIES)}，不是「{fail_on}」")
    return _quarter(quarter), load_standard(standard)


def _quarter(text: str):
    """The quarter given as --quarter; a malformed one is a `UsageError`."""
    from audit.periods import Quarter

    try:
        return Quarter.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


BatchArgument = Annotated[Path, typer.Argument(help="一个导出批次的文件夹")]
QuarterOption = Annotated[str, typer.Option("--quarter", help="审核的季度，如 2019Q1")]
StandardOption = Annotated[Path | None, typer.Option("--standard", help="标准文件（默认 expectations/standard.yaml）")]
LimitOption = Annotated[
    list[str] | None,
    typer.Option("--limit", help="放宽读取限制（可重复），如 rows=5000000、size=2G；名称和默认值见 README"),
]


def _limits(options: list[str] | None):
    """The reading limits with the reviewer's ``--limit name=value`` options; a bad one is a `UsageError`."""
    from audit.limits import Limits

    try:
        return Limits.parse(options or [])
    except ValueError as exc:
        raise UsageError(str(exc)) from None


MappingOption = Annotated[
    Path | None,
    typer.Option("--mapping", help="审核人员的映射文件（YAML）：表名、表头别名、固定值、取值别名；格式见数据字典"),
]


def _mapping(path: Path | None):
    """The reviewer's mapping file, read and checked (a mistake in it is a `MappingError` naming the line)."""
    if path is None:
        return None
    from audit.contract import load_contract
    from audit.mapping import load_mapping

    return load_mapping(path, load_contract())


INSPECT_HINT = "可运行 audit inspect 数据批次 查看每个文件如何识别，并按提示编写映射文件（--mapping）。"


def _explain(exc: AuditError) -> None:
    """Say a user's mistake on stderr: its message (terminal-safe), then what to do next."""
    validate = sys.modules.get("audit.validate")  # a NothingUsableError exists only once it is imported
    if validate is not None and isinstance(exc, validate.NothingUsableError):
        _nothing_usable(exc)
        return
    err.print(f"[red]错误[/red] {printable(str(exc))}", soft_wrap=True)
    if exc.hint:
        err.print(printable(exc.hint), soft_wrap=True)


def _nothing_usable(exc) -> None:
    """Nothing to audit: the ingest summary, then where the report files are and what to do."""
    _print_ingest_summary(exc.ingested, None)
    err.print(f"[red]错误[/red] {printable(exc)}。")
    if exc.out is not None:
        files = "、".join(str(exc.out / name) for name in ("ingest_report.csv", "quarantine.csv", "column_map.csv"))
        err.print(f"导入报告、隔离清单和列对应表已写入：{printable(files)}", soft_wrap=True)
    err.print(INSPECT_HINT, soft_wrap=True)


def result_tables(result):
    from audit.contract import load_contract

    return load_contract().tables.items()


@app.command()
def ingest(
    batch: BatchArgument,
    out: Annotated[Path | None, typer.Option("--out", help="输出目录（默认 data/processed/<批次>/ingest）")] = None,
    limit: LimitOption = None,
    mapping: MappingOption = None,
) -> None:
    """读取一个导出批次，生成规范化数据表、导入报告和隔离清单。"""
    from audit.ingest import ingest as run_ingest
    from audit.outputs import check_output, output_folder

    out = out or Path("data/processed") / batch.resolve().name / "ingest"
    reviewer_mapping = _mapping(mapping)
    check_output(out, kind="ingest", batch=batch)  # refused before anything is read
    result = run_ingest(batch, limits=_limits(limit), mapping=reviewer_mapping)
    with output_folder(out, kind="ingest", batch=batch) as target:
        result.write(target)
    _print_ingest_summary(result, out)
    if not result.usable:
        err.print("[red]错误[/red] 没有任何可用的数据行，请检查上面列出的文件问题。")
        err.print(INSPECT_HINT, soft_wrap=True)
        raise typer.Exit(EXIT_UNUSABLE)


@app.command(name="inspect")
def inspect_batch(
    batch: BatchArgument,
    mapping: MappingOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="另把列对应表写成 CSV（不覆盖已有文件）")] = None,
    limit: LimitOption = None,
) -> None:
    """不审核，只显示每个文件和工作表如何识别：对应的表、表头行、每一列的对应关系、缺少的必填列、行数，以及映射文件该怎么写。"""
    from audit.contract import load_contract
    from audit.ingest import ingest as run_ingest
    from audit.inspection import render_inspection
    from audit.mapping import apply_mapping
    from audit.outputs import check_new_file

    reviewer_mapping = _mapping(mapping)
    target = check_new_file(out, batch=batch) if out is not None else None  # refused before anything is read
    result = run_ingest(batch, limits=_limits(limit), mapping=reviewer_mapping)
    for line in render_inspection(result, apply_mapping(load_contract(), reviewer_mapping)):
        console.print(printable(line), soft_wrap=True)
    if target is not None:
        _write_new_csv(result.column_map, target)
        console.print(f"列对应表已写入 {printable(out)}", soft_wrap=True)


def _write_new_csv(frame, target: Path) -> None:
    """Write a CSV file the command was asked to create (never over an existing file: `audit.outputs`)."""
    from audit.io import write_csv
    from audit.outputs import new_file

    with new_file(target) as tmp:
        write_csv(frame, tmp)


@app.command()
def validate(
    batch: BatchArgument,
    quarter: QuarterOption,
    out: Annotated[Path | None, typer.Option("--out", help="输出目录（默认 data/processed/<批次>/<季度>）")] = None,
    standard: StandardOption = None,
    fail_on: Annotated[
        str | None, typer.Option("--fail-on", help="有该级别及以上的问题时退出码为 1：warning / error / critical")
    ] = None,
    data_docs: Annotated[bool, typer.Option("--data-docs/--no-data-docs", help="生成 GX Data Docs")] = True,
    limit: LimitOption = None,
    mapping: MappingOption = None,
) -> None:
    """导入一个批次，按标准审核一个季度：问题清单、五个过硬评定、数据质量检查和 GX Data Docs。"""
    from audit.validate import validate as run_validate

    period, rules = _checked(quarter, fail_on, standard)
    reviewer_mapping = _mapping(mapping)
    out = out or Path("data/processed") / batch.resolve().name / str(period)
    with console.status(f"正在审核 {period.zh}……"):
        result = run_validate(batch, period, rules, out=out, data_docs=data_docs, limits=_limits(limit), mapping=reviewer_mapping)
    _print_ingest_summary(result.ingested, None)
    _print_validation_summary(result, out)
    if fail_on is not None and result.at_or_above(fail_on):
        raise typer.Exit(EXIT_FINDINGS)


def _print_validation_summary(result, out: Path) -> None:
    import polars as pl

    from audit.coverage import unevaluable
    from audit.readers import printable

    findings = result.findings
    by_severity = {s: findings.filter(pl.col("severity") == s).height for s in ("critical", "error", "warning")}
    counts = "，".join(f"{SEVERITY_ZH[s]} {by_severity[s]}" for s in ("critical", "error", "warning"))
    console.print(
        f"\n{result.quarter.zh}审核完成（标准版本 {result.standard.version}）：发现问题 {findings.height} 条"
        f"（{counts}）；数据质量问题 {result.quality.height} 条"
    )
    ratings = result.scorecard.group_by("rating").len().sort("rating")
    console.print("评定结果：" + "，".join(f"{r['rating']} {r['len']} 个支部" for r in ratings.iter_rows(named=True)))
    table = RichTable(title="各支部问题数", show_lines=False)
    for header in (COLUMNS["branch_id"], COLUMNS["branch_name"], *result.standard.dimensions, COLUMNS["rating"]):
        table.add_column(header)
    for row in result.scorecard.iter_rows(named=True):
        cells = (row["branch_id"], row["branch_name"], *(row[d] for d in result.standard.dimensions), row["rating"])
        table.add_row(*(printable(c) for c in cells))
    console.print(table)
    missing = unevaluable(result.coverage)
    if missing.height:
        console.print(
            f"[yellow]无法评估[/yellow] {missing.select('branch_id').n_unique()} 个支部共 {missing.height} 项"
            "（缺少规则所需的数据，既不算通过也不算问题），明细见 coverage.csv"
        )
    for warning in result.warnings:
        console.print(f"[yellow]注意[/yellow] {printable(warning)}")
    console.print(
        f"输出目录：{printable(out)}（findings.csv、scorecard.csv、coverage.csv、data_quality.csv、data-docs/index.html）"
    )


@app.command()
def run(
    batch: BatchArgument,
    quarter: QuarterOption,
    out: Annotated[Path | None, typer.Option("--out", help="报告目录（默认 reports/<季度>）")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", help="并行生成支部报告的进程数（默认 CPU 核数）")] = None,
    branch: Annotated[list[str] | None, typer.Option("--branch", help="只生成这些支部的报告（可重复）")] = None,
    self_contained: Annotated[bool, typer.Option("--self-contained", help="每个页面内嵌 plotly.js，便于单独发送")] = False,
    seed: Annotated[int, typer.Option(help="抽查样本的随机种子")] = 2019,
    sample_size: Annotated[int, typer.Option(help="每个支部抽查的会议记录数")] = 3,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="有该级别及以上的问题时退出码为 1")] = None,
    standard: StandardOption = None,
    limit: LimitOption = None,
    mapping: MappingOption = None,
    previous: Annotated[
        Path | None, typer.Option("--previous", help="对照的上季度报告目录（默认 --out 旁以上季度命名的目录，存在时）")
    ] = None,
    decisions: Annotated[
        Path | None, typer.Option("--decisions", help="审核决定表（默认数据批次所在文件夹中的 decisions.csv，存在时）")
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", help="整改通知书中的整改期限，如 2019-04-30（默认按标准文件的 rectification 天数）"),
    ] = None,
) -> None:
    """导入、审核并生成离线 HTML 报告：总览 index.html、各支部页面、findings.xlsx、整改跟踪、整改通知书和 manifest.json。"""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from audit.outputs import check_output
    from audit.report import run_report

    period, rules = _checked(quarter, fail_on, standard)
    reviewer_mapping = _mapping(mapping)
    due = _follow_up_options(batch, out or Path("reports") / str(period), period, rules, previous, decisions, deadline)
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs 至少为 1")
    out = out or Path("reports") / str(period)
    check_output(out, kind="run", batch=batch)  # refused before anything starts (checked again under the lock)
    console.print(f"随机抽查种子：{seed}")
    with Progress(  # an error leaves the block first, so `main` says it once the progress bar is gone
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("审核并生成支部报告", total=None)

        def tick(name: str, done: int, total: int) -> None:
            bar.update(task, total=total, completed=done, description=f"支部报告 {printable(name)}")

        result = run_report(
            batch,
            period,
            out,
            jobs=jobs,
            branches=branch or None,
            self_contained=self_contained,
            seed=seed,
            sample_size=sample_size,
            standard=rules,
            progress=tick,
            limits=_limits(limit),
            mapping=reviewer_mapping,
            previous=previous,
            decisions=decisions,
            deadline=due,
        )
    _print_ingest_summary(result.validation.ingested, None)
    _print_validation_summary(result.validation, out)
    timings = "，".join(f"{k} {v:.1f} 秒" for k, v in result.timings.items())
    console.print(f"用时：{timings}；报告目录大小 {result.size_bytes / 1e6:.1f} MB")
    for failed in result.failed:
        err.print(f"[red]报告生成失败[/red] {printable(failed.name)}：{failed.where}出错：{failed.error}")
    for note in result.notes:
        console.print(f"[yellow]注意[/yellow] {printable(note)}", soft_wrap=True)
    console.print(f"打开 {printable(str(out / 'index.html'))} 查看报告（离线可用）", soft_wrap=True)
    if result.failed:
        raise typer.Exit(EXIT_BRANCH_FAILED)
    if fail_on is not None and result.validation.at_or_above(fail_on):
        raise typer.Exit(EXIT_FINDINGS)


def _follow_up_options(
    batch: Path, out: Path, period, rules, previous: Path | None, decisions: Path | None, deadline: str | None
):
    """Check --previous, --decisions and --deadline (and the standard's deadlines) before the run
    starts; a mistake (`NoticeError`, `FollowupError`, `DecisionsError`) names the folder, or the
    file, row and column. Returns the deadline."""
    from audit.decisions import load_decisions
    from audit.followup import find_previous
    from audit.notices import deadlines, parse_deadline

    due = parse_deadline(deadline) if deadline is not None else None
    deadlines(rules, period, due)
    find_previous(out, period, previous)
    load_decisions(decisions, batch, given=decisions is not None)
    return due


decisions_app = typer.Typer(help="审核决定表（decisions.csv）：审核人员登记核实结果、误报和整改期限。", no_args_is_help=True)
app.add_typer(decisions_app, name="decisions")


@decisions_app.command(name="template")
def decisions_template(
    report: Annotated[Path, typer.Argument(help="audit run 生成的报告目录")],
    out: Annotated[
        Path | None, typer.Option("--out", help="写出的新文件（默认数据批次所在文件夹中的 decisions.csv；不覆盖已有文件）")
    ] = None,
) -> None:
    """为报告中的每条问题写出一行待填写的审核决定表（UTF-8 带 BOM 的 CSV，Excel 和 WPS 可直接打开）。"""
    import json

    from audit.decisions import DECISIONS, default_path, template
    from audit.outputs import OutputError, check_new_file

    if not (report / "findings.parquet").is_file() or not (report / "validation.json").is_file():
        raise UsageError(f"{report} 不是 audit run 生成的报告目录（缺少 findings.parquet 或 validation.json）")
    batch = None
    manifest = report / "manifest.json"
    if manifest.is_file():
        batch = Path(json.loads(manifest.read_text(encoding="utf-8")).get("batch") or "") or None
    if out is None and batch is None:
        raise UsageError("报告中没有记录数据批次（manifest.json），请用 --out 指定要写出的文件")
    out = out or default_path(batch)
    try:
        target = check_new_file(out, batch=batch)
        rows = template(report)
        _write_new_csv(rows, target)
    except OutputError as exc:
        if out.exists():
            exc.hint = "已有的审核决定表不会被覆盖：可用 --out 另存新表，再把需要的行复制进去。"
        raise
    console.print(
        f"已写出 {printable(out)}：{rows.height} 条问题。请在 decision 列填写 {' / '.join(DECISIONS)}，"
        "并填写 note（说明；误报须写明理由）、reviewer（审核人）和 decided_on（决定日期，如 2019-04-15）；"
        "未填写决定的行不生效。",
        soft_wrap=True,
    )


@app.command(name="verify-manifest")
def verify_manifest(
    report: Annotated[Path, typer.Argument(help="audit run 生成的报告目录")],
    batch: Annotated[Path | None, typer.Option("--batch", help="数据批次文件夹（默认用 manifest 中记录的路径）")] = None,
) -> None:
    """重新计算输入文件的 SHA-256，检查报告是否仍与数据一致。一致退出码 0，不一致 1。"""
    from audit.readers import discover
    from audit.report import verify_manifest as verify

    result = verify(report, batch)
    for label, names in (("内容已改变", result.changed), ("已不存在", result.missing), ("报告之后新增", result.added)):
        for name in names:
            console.print(f"[red]{label}[/red] {printable(name)}")
    if result.matches:
        console.print(
            f"一致：{printable(str(report))} 与 {printable(str(result.batch))} 中的 {len(discover(result.batch))} 个文件相符",
            soft_wrap=True,
        )
        return
    console.print(f"不一致：报告生成后数据批次 {printable(str(result.batch))} 已改变，需要重新运行 audit run", soft_wrap=True)
    raise typer.Exit(EXIT_FINDINGS)


@app.command()
def sample(
    batch: BatchArgument,
    quarter: Annotated[str, typer.Option("--quarter", help="季度，如 2019Q1")],
    seed: Annotated[int, typer.Option(help="随机种子：同一种子总是抽到相同的记录")] = 2019,
    per_branch: Annotated[int, typer.Option(help="每个支部抽取的会议记录数")] = 3,
    out: Annotated[Path | None, typer.Option("--out", help="写出 CSV（默认只打印；不覆盖已有文件）")] = None,
    limit: LimitOption = None,
) -> None:
    """按固定随机种子从每个支部本季度的会议记录中抽取样本，供现场核对纸质记录。"""
    from audit.ingest import ingest
    from audit.outputs import check_new_file
    from audit.views import meeting_sample

    period = _quarter(quarter)
    target = check_new_file(out, batch=batch) if out is not None else None  # refused before anything is read
    tables = ingest(batch, limits=_limits(limit)).tables
    picked = meeting_sample(tables, period, seed, per_branch)
    console.print(f"随机种子：{seed}；{period.zh}共抽取 {picked.height} 条会议记录")
    table = RichTable()
    for column in ("branch_id", "meeting_id", "meeting_type", "held_on", "topic", "source"):
        table.add_column(COLUMNS[column])
    for r in picked.iter_rows(named=True):
        source = f"{r['_file']}" + (f"［{r['_sheet']}］" if r["_sheet"] else "") + f" 第{r['_row']}行"
        cells = (r["branch_id"], r["meeting_id"], r["meeting_type"], str(r["held_on"]), r["topic"] or "", source)
        table.add_row(*(printable(c) for c in cells))
    console.print(table)
    if target is not None:
        _write_new_csv(picked, target)
        console.print(f"已写入 {printable(str(out))}", soft_wrap=True)


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="输出的批次文件夹")] = Path("data/raw/sample"),
    seed: Annotated[int, typer.Option(help="随机种子：相同种子生成完全相同的数据")] = 2019,
    branches: Annotated[int, typer.Option(help="支部数")] = 20,
    members: Annotated[int, typer.Option(help="党员总数")] = 400,
    start: Annotated[str, typer.Option(help="起始月份")] = "2018-07",
    end: Annotated[str, typer.Option(help="结束月份")] = "2019-12",
    name: Annotated[str, typer.Option(help="街道名称")] = "新华街道",
    parquet: Annotated[bool, typer.Option("--parquet", help="直接写规范化 Parquet（省级规模用）")] = False,
    clean: Annotated[bool, typer.Option("--clean", help="不植入违规和数据缺陷")] = False,
    style: Annotated[
        str, typer.Option("--style", help="导出样式：contract（导出约定的各种写法）或 platform（平台和手工台账的写法）")
    ] = "contract",
) -> None:
    """生成一个逼真的模拟街道数据批次（含植入的违规和数据缺陷，以及真值清单）。"""
    from audit.outputs import check_synth_output, synth_folder
    from audit.synth import STYLES, SynthConfig, generate, write_world

    if style not in STYLES:
        raise UsageError(f"未知的导出样式「{style}」（--style 可选：{'、'.join(STYLES)}）")
    if style == "platform" and parquet:
        raise UsageError("--parquet 只写规范化表，不能与 --style platform 同时使用")
    config = SynthConfig(seed=seed, branches=branches, members=members, start=start, end=end, subdistrict=name, plant=not clean)
    fields = {"seed": seed, "branches": branches, "members": members, "start": start, "end": end}
    fields |= {"subdistrict": name, "planted": not clean, "parquet": parquet, "style": style}
    check_synth_output(out)  # a new or empty folder, or an earlier synthetic batch: refused before any work
    try:
        world = generate(config)
    except ValueError as exc:  # a setting the generator cannot use (months, counts)
        raise UsageError(str(exc)) from None
    with synth_folder(out, fields) as target:
        written = write_world(world, target, parquet=parquet, style=style)
    console.print(
        f"已生成 {written.files} 个文件到 {out}：{written.branches} 个支部、{written.members} 名党员；真值清单 {written.truth}"
    )


@app.command()
def docs(
    out: Annotated[Path, typer.Option("--out", help="文档目录")] = Path("docs"),
) -> None:
    """根据导出约定和标准生成数据字典（data-dictionary.md）和规则目录（rules.md）。"""
    from audit.catalogue import render_catalogue
    from audit.dictionary import render_dictionary

    out.mkdir(parents=True, exist_ok=True)
    (out / "data-dictionary.md").write_text(render_dictionary(), encoding="utf-8")
    (out / "rules.md").write_text(render_catalogue(), encoding="utf-8")
    console.print(f"数据字典：{out / 'data-dictionary.md'}；规则目录：{out / 'rules.md'}")


@app.command()
def suites() -> None:
    """根据导出约定和默认标准重新生成期望套件（expectations/quality.*.json 和 standard.*.json）。"""
    from audit.quality import write_quality_suites
    from audit.standard import load_standard
    from audit.suites import write_standard_suites

    for path in [*write_quality_suites(), *write_standard_suites(load_standard())]:
        console.print(f"已写入 {printable(str(path))}", soft_wrap=True)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)  # clean up temporary output and locks, as on Ctrl-C
    try:
        app()
    except KeyboardInterrupt:
        err.print("已中断")
        sys.exit(EXIT_INTERRUPTED)
    except AuditError as exc:  # the user's mistake: said in Chinese, naming what to correct
        _explain(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, not the user's mistake: say so plainly, keep the details
        if os.environ.get("AUDIT_DEBUG"):
            raise
        log = None
        try:  # a private, newly created file per error, never a fixed shared path; never raises
            import traceback

            from audit.outputs import write_error_log

            log = write_error_log(traceback.format_exc())
        except Exception:
            pass
        where = f"详细信息已写入 {log}，请反馈给开发人员。" if log else "详细信息无法写入日志文件。"
        try:
            from rich.markup import escape

            from audit.privacy import mask_personal, visible

            message = escape(visible(mask_personal(str(exc))))
            err.print(f"[red]程序内部错误[/red]：{type(exc).__name__}: {message}。{escape(where)}", soft_wrap=True)
        except Exception:  # a closed terminal, or the library itself is what broke
            print(f"程序内部错误：{type(exc).__name__}。{where}", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
