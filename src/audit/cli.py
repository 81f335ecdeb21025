"""The `audit` command line. Exit codes: 0 ran, 2 bad usage or unusable input."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import typer
from rich.console import Console
from rich.table import Table as RichTable

app = typer.Typer(
    help="党支部组织生活与党费、积分记录的审核工具。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_FINDINGS, EXIT_UNUSABLE = 0, 1, 2


def _print_ingest_summary(result, out: Path | None) -> None:
    from audit.reasons import Action

    summary = RichTable(title=f"导入结果：{result.batch.name}", show_lines=False)
    for header in ("表", "来源文件数", "读取行数", "导入行数", "隔离行数"):
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
        )
    console.print(summary)
    file_problems = [p for p in result.problems if p.action is Action.FILE]
    for problem in file_problems:
        where = f"{problem.file}" + (f"［{problem.sheet}］" if problem.sheet else "")
        err.print(f"[red]未导入[/red] {where}：{problem.message}")
    row_problems = [p for p in result.problems if p.action is not Action.FILE]
    if row_problems:
        console.print(f"数据问题 {len(row_problems)} 条（前 10 条）：")
        for problem in row_problems[:10]:
            where = f"{problem.file}" + (f"［{problem.sheet}］" if problem.sheet else "")
            console.print(f"  {where} 第{problem.row}行 「{problem.column}」：{problem.message}（{problem.action.value}）")
    hidden = [s for s in result.sources if s.hidden]
    for source in hidden:
        console.print(f"[yellow]注意[/yellow] {source.file}［{source.sheet}］是隐藏工作表，已照常读取")
    for skip in result.skipped:
        console.print(f"已跳过 {skip.file}" + (f"［{skip.sheet}］" if skip.sheet else "") + f"：{skip.why}")
    if out is not None:
        console.print(f"输出目录：{out}（ingest_report.csv、quarantine.csv、tables/*.parquet）")


def result_tables(result):
    from audit.contract import load_contract

    return load_contract().tables.items()


@app.command()
def ingest(
    batch: Annotated[Path, typer.Argument(help="一个导出批次的文件夹")],
    out: Annotated[Path, typer.Option("--out", help="输出目录")] = Path("data/processed"),
) -> None:
    """读取一个导出批次，生成规范化数据表、导入报告和隔离清单。"""
    from audit.ingest import BatchNotFoundError
    from audit.ingest import ingest as run_ingest

    try:
        result = run_ingest(batch)
    except BatchNotFoundError as exc:
        err.print(f"[red]错误[/red] {exc}")
        raise typer.Exit(EXIT_UNUSABLE) from None
    result.write(out)
    _print_ingest_summary(result, out)
    if not result.usable:
        err.print("[red]错误[/red] 没有任何可用的数据行，请检查上面列出的文件问题。")
        raise typer.Exit(EXIT_UNUSABLE)


@app.command()
def validate(
    batch: Annotated[Path, typer.Argument(help="一个导出批次的文件夹")],
    quarter: Annotated[str, typer.Option("--quarter", help="审核的季度，如 2019Q1")],
    out: Annotated[Path | None, typer.Option("--out", help="输出目录（默认 data/processed/<批次>/<季度>）")] = None,
    standard: Annotated[Path | None, typer.Option("--standard", help="标准文件（默认 expectations/standard.yaml）")] = None,
    fail_on: Annotated[
        str | None, typer.Option("--fail-on", help="有该级别及以上的问题时退出码为 1：warning / error / critical")
    ] = None,
    data_docs: Annotated[bool, typer.Option("--data-docs/--no-data-docs", help="生成 GX Data Docs")] = True,
) -> None:
    """导入一个批次，按标准审核一个季度：问题清单、五个过硬评定、数据质量检查和 GX Data Docs。"""
    from audit.facts import QuarterOutOfRangeError
    from audit.ingest import BatchNotFoundError
    from audit.periods import Quarter
    from audit.standard import SEVERITIES, StandardError, load_standard
    from audit.validate import validate as run_validate

    if fail_on is not None and fail_on not in SEVERITIES:
        err.print(f"[red]错误[/red] --fail-on 应为 {' / '.join(SEVERITIES)}，不是「{fail_on}」")
        raise typer.Exit(EXIT_UNUSABLE)
    try:
        period = Quarter.parse(quarter)
        rules = load_standard(standard)
    except (ValueError, StandardError) as exc:
        err.print(f"[red]错误[/red] {exc}")
        raise typer.Exit(EXIT_UNUSABLE) from None
    out = out or Path("data/processed") / batch.name / str(period)
    try:
        with console.status(f"正在审核 {period.zh}……"):
            result = run_validate(batch, period, rules, out=out, data_docs=data_docs)
    except BatchNotFoundError as exc:
        err.print(f"[red]错误[/red] {exc}")
        raise typer.Exit(EXIT_UNUSABLE) from None
    except QuarterOutOfRangeError as exc:
        err.print(f"[red]错误[/red] {exc}")
        raise typer.Exit(EXIT_UNUSABLE) from None
    _print_ingest_summary(result.ingested, None)
    _print_validation_summary(result, out)
    if fail_on is not None and result.at_or_above(fail_on):
        raise typer.Exit(EXIT_FINDINGS)


def _print_validation_summary(result, out: Path) -> None:
    import polars as pl

    findings = result.findings
    by_severity = {s: findings.filter(pl.col("severity") == s).height for s in ("critical", "error", "warning")}
    console.print(
        f"\n{result.quarter.zh}审核完成（标准版本 {result.standard.version}）：发现问题 {findings.height} 条"
        f"（严重 {by_severity['critical']}，错误 {by_severity['error']}，提示 {by_severity['warning']}）；"
        f"数据质量问题 {result.quality.height} 条"
    )
    ratings = result.scorecard.group_by("rating").len().sort("rating")
    console.print("评定结果：" + "，".join(f"{r['rating']} {r['len']} 个支部" for r in ratings.iter_rows(named=True)))
    table = RichTable(title="各支部问题数", show_lines=False)
    for header in ("支部", "名称", *result.standard.dimensions, "评定"):
        table.add_column(header)
    for row in result.scorecard.iter_rows(named=True):
        table.add_row(row["branch_id"], row["branch_name"], *(row[d] for d in result.standard.dimensions), row["rating"])
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]注意[/yellow] {warning}")
    console.print(f"输出目录：{out}（findings.csv、scorecard.csv、data_quality.csv、data-docs/index.html）")


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
) -> None:
    """生成一个逼真的模拟街道数据批次（含植入的违规和数据缺陷，以及真值清单）。"""
    from audit.synth import SynthConfig, write_batch

    config = SynthConfig(seed=seed, branches=branches, members=members, start=start, end=end, subdistrict=name, plant=not clean)
    try:
        written = write_batch(config, out, parquet=parquet)
    except ValueError as exc:
        err.print(f"[red]错误[/red] {exc}")
        raise typer.Exit(EXIT_UNUSABLE) from None
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
    """根据导出约定重新生成数据质量期望套件（expectations/quality.*.json）。"""
    from audit.quality import write_quality_suites

    for path in write_quality_suites():
        console.print(f"已写入 {path}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("已中断")
        sys.exit(130)
    except Exception as exc:  # a bug, not the user's mistake: say so plainly, keep the details
        if os.environ.get("AUDIT_DEBUG"):
            raise
        import tempfile
        import traceback

        log = Path(tempfile.gettempdir()) / "audit-error.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        err.print(f"[red]程序内部错误[/red]：{type(exc).__name__}: {exc}。详细信息已写入 {log}，请反馈给开发人员。")
        sys.exit(70)


if __name__ == "__main__":
    main()
