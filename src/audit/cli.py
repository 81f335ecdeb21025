"""The `audit` command line. Exit codes (`audit.errors`): 0 ran (or showed the help asked for,
also by a bare `audit`), 1 findings at or above --fail-on (verify-manifest: the report no longer
matches), 2 bad usage or unusable input, 3 some branch pages failed, 70 an internal error. A user's mistake is an `AuditError`, said in Chinese once, in `main`;
so is a mistake in the command line itself (a missing option, an unknown command), and the help
is Chinese too (`AuditCommand`, `AuditGroup`): click's own English never reaches the user.
Developer commands (`synth`, `docs`, `suites`) run as before but are not listed."""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import typer
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from audit.errors import (
    EXIT_BRANCH_FAILED,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNUSABLE,
    AuditError,
    UsageError,
)
from audit.labels import COLUMNS, SEVERITY_ZH, STATUS_FAIL, STEP_ZH
from audit.linebreak import Wrapped
from audit.readers import printable

console = Console(highlight=False, emoji=False)  # text from a batch is never turned into emoji
err = Console(stderr=True, highlight=False, emoji=False)

# --- Chinese help, usage and command-line mistakes -------------------------------------------------

TYPE_WORDS = {"int": "整数", "float": "数", "Path": "路径", "str": "文本", "list[str]": "文本"}
HELP_TEXT = "显示本说明"
FIRST_COMMANDS = ("run", "validate", "inspect")  # what a reviewer needs, listed first


def _type_word(param: Any) -> str:
    """A parameter's type in Chinese (整数, 路径, 文本)."""
    bare = param.bare_type() if hasattr(param, "bare_type") else ""
    return TYPE_WORDS.get(bare, "值")


def _metavar(param: Any) -> str:
    """What a parameter's value is called in help and usage: its metavar, else its type in Chinese."""
    return str(param.metavar) if param.metavar else _type_word(param)


def _option_names(param: Any) -> str:
    """An option as help lists it: its names, then what its value is (a flag has none)."""
    names = "、".join(param.opts) + ("、" + "、".join(param.secondary_opts) if param.secondary_opts else "")
    return names if getattr(param, "is_flag", False) else f"{names} {_metavar(param)}"


def _option_help(param: Any) -> str:
    """An option's or argument's help, with 必填 or its default."""
    text = param.help or ""
    if param.name == "help":
        text = HELP_TEXT
    if param.required:
        return f"{text}（必填）"
    default = param.default
    if not getattr(param, "is_flag", False) and default not in (None, "", [], ()) and not callable(default):
        return f"{text}（默认 {default}）"
    return text


class _ChineseHelp:
    """Help and usage lines in Chinese for a command or group (click's are English); used through
    `AuditCommand` and `AuditGroup`."""

    def get_usage(self, ctx: Any) -> str:
        """The usage line: `用法：audit run [选项] 数据批次`."""
        command: Any = self
        pieces = ["[选项]"] if any(p.param_type_name == "option" for p in command.get_params(ctx)) else []
        for param in command.params:
            if param.param_type_name == "argument":
                pieces.append(_metavar(param) if param.required else f"[{_metavar(param)}]")
        if isinstance(self, TyperGroup):
            pieces.append("命令 [参数]…")
        return "用法：" + " ".join([ctx.command_path, *pieces])

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Print the help (to stdout, wrapped as Chinese wraps, `audit.linebreak`, not cut):
        usage, what the command does, its arguments, options and (for a group) its commands,
        listed ones only."""
        command: Any = self
        console.print(command.get_usage(ctx), soft_wrap=True, markup=False)
        if command.help:
            console.print()
            console.print(Wrapped(inspect.cleandoc(command.help)))
        params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
        arguments = [(_metavar(p), _option_help(p)) for p in params if p.param_type_name == "argument"]
        options = [(_option_names(p), _option_help(p)) for p in params if p.param_type_name == "option"]
        sections = [("参数", arguments), ("选项", options)]
        if isinstance(self, TyperGroup):
            listed = [command.get_command(ctx, name) for name in command.list_commands(ctx)]
            commands = [(c.name, inspect.cleandoc(c.help or "").split("\n\n")[0]) for c in listed if c and not c.hidden]
            sections.append(("命令", commands))
        for title, rows in sections:
            if not rows:
                continue
            table = RichTable(box=None, show_header=False, padding=(0, 1, 0, 2), title=f"{title}：", title_justify="left")
            table.add_column(no_wrap=True)
            table.add_column()
            for name, text in rows:
                table.add_row(Text(name), Wrapped(text))  # as written: no rich markup in help texts
            console.print()
            console.print(table)
        if isinstance(self, TyperGroup):
            console.print()
            first = command.list_commands(ctx)[0]
            console.print(Wrapped(f"每个命令的说明：{ctx.command_path} 命令 --help，如 {ctx.command_path} {first} --help"))


class AuditCommand(_ChineseHelp, TyperCommand):
    """A command whose help and usage are Chinese."""


class AuditGroup(_ChineseHelp, TyperGroup):
    """The `audit` group: Chinese help, the reviewer's commands first, and an unknown command said in Chinese."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: FIRST_COMMANDS.index(n) if n in FIRST_COMMANDS else len(FIRST_COMMANDS))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None and not ctx.resilient_parsing:
            listed = [n for n in self.list_commands(ctx) if not self.commands[n].hidden]
            close = get_close_matches(name, listed, n=1)
            error = UsageError(f"没有命令「{name}」" + (f"，是否想用 {close[0]}？" if close else ""))
            error.hint = f"可用的命令：{'、'.join(listed)}；说明见 {ctx.command_path} --help"
            raise error
        return super().resolve_command(ctx, args)


def _click_usage_message(exc: Exception) -> str:
    """A click usage error (raised while the command line is parsed) said in Chinese."""
    kind = type(exc).__name__
    param: Any = getattr(exc, "param", None)
    message = str(getattr(exc, "message", "") or "")
    if kind == "MissingParameter" and param is not None:
        if param.param_type_name == "argument":
            return f"缺少{_metavar(param)}：{param.help or ''}".rstrip("：")
        return f"缺少选项 {'、'.join(param.opts)}：{param.help or ''}".rstrip("：")
    if kind == "BadParameter" and param is not None:
        name = "、".join(param.opts) if param.param_type_name == "option" else _metavar(param)
        return f"{name} 的值不对：应为{_type_word(param)}"
    if kind == "NoSuchOption":
        option, possible = getattr(exc, "option_name", ""), sorted(getattr(exc, "possibilities", None) or [])
        return f"没有选项 {option}" + (f"，是否想用 {'、'.join(possible)}？" if possible else "")
    if kind == "BadOptionUsage":
        option = getattr(exc, "option_name", "")
        if "does not take" in message:
            return f"选项 {option} 不带值（只写 {option} 即可）"
        return f"选项 {option} 后面要写一个值"
    extra = re.search(r"unexpected extra argument\S* \((.*)\)", message)
    if extra:
        return f"多余的参数：{extra.group(1)}（路径中有空格时请加引号）"
    return "命令行写法有误"


def _is_click_usage_error(exc: BaseException) -> bool:
    """Whether `exc` is click's UsageError (or a subclass), as typer raises it outside standalone mode."""
    return any(c.__name__ == "UsageError" and "click" in c.__module__ for c in type(exc).__mro__)


def _asks_for_help(exc: Exception) -> bool:
    """Whether the command line was a bare group (`audit`, `audit decisions`): click (8.2 on)
    treats it as a usage error, exit 2, but a reviewer typing `audit` asks what it can do, as
    with --help; its help is on stdout already (click asked for it when it made the error). A
    command lacking its arguments (`audit run`) is a mistake, exit 2."""
    return type(exc).__name__ == "NoArgsIsHelpError"


def _say_usage_error(exc: Exception) -> None:
    """Say a command-line mistake in Chinese with the command's usage line (exit code 2)."""
    ctx: Any = getattr(exc, "ctx", None)
    err.print(f"[red]错误[/red] {printable(_click_usage_message(exc))}", soft_wrap=True)
    if ctx is not None:
        err.print(printable(ctx.command.get_usage(ctx)), soft_wrap=True)
        err.print(f"说明：{printable(ctx.command_path)} --help", soft_wrap=True)


app = typer.Typer(
    cls=AuditGroup,
    help="党支部组织生活与党费、积分记录的审核工具：读取一个街道的导出文件，按标准审核一个季度，生成离线报告和问题清单。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_ingest_summary(result, out: Path | None, written: bool = True) -> None:
    """The ingest table, the data problems (the first 10, and where the rest are when the run
    `written` quarantine.csv) and the outputs list when `out` is given."""
    from audit.readers import printable
    from audit.reasons import Action

    derived = any(s.rows_derived for s in result.sources)  # rows other tables gained (branches created, attendance)
    summary = _table(f"导入结果：{printable(result.batch.name)}（除文件数外均为行数）")
    headers = ("表", "文件数", "读取", "导入", "隔离", "跳过", *(("派生",) if derived else ()))
    counts = ("rows_read", "rows_accepted", "rows_quarantined", "rows_skipped", *(("rows_derived",) if derived else ()))
    by_table: dict[str, list] = {}
    for source in result.sources:
        if source.table:
            by_table.setdefault(source.table, []).append(source)
    rows = [
        [f"{table.title}（{name}）", str(len(sources)), *(str(sum(getattr(s, c) for s in sources)) for c in counts)]
        for name, table in result_tables(result)
        if (sources := by_table.get(name))
    ]
    widths = [max(_cells(h), *(_cells(r[i]) for r in rows)) for i, h in enumerate(headers) if i]
    summary.add_column(headers[0], overflow="fold", min_width=_name_width([r[0] for r in rows], widths))
    for header in headers[1:]:
        summary.add_column(header, justify="right", overflow="fold")
    for row in rows:
        summary.add_row(*row)
    console.print(summary)
    if derived:
        console.print(
            "派生：由这些行推出的其他表的行（如按引用新建的支部、由缺席名单生成的出勤记录），不计入读取行数", soft_wrap=True
        )
    file_problems = [p for p in result.problems if p.action is Action.FILE]
    for problem in file_problems:
        where = printable(problem.file) + (f"［{printable(problem.sheet)}］" if problem.sheet else "")
        err.print(f"[red]未导入[/red] {where}：{printable(problem.message)}")
    row_problems = [p for p in result.problems if p.action not in (Action.FILE, Action.SKIP)]
    skipped_rows = sum(s.rows_skipped for s in result.sources)
    if skipped_rows:  # template instructions, footers, notes: listed in quarantine.csv, not data problems
        console.print(f"非数据行 {skipped_rows} 行（填写说明、合计/签字、注意事项）已跳过，见 quarantine.csv")
    if row_problems:
        rest = len(row_problems) - 10  # every one is in quarantine.csv, with its file, row and column
        where = f"下列前 10 条，其余 {rest} 条见 quarantine.csv" if rest > 0 else "均已记入 quarantine.csv"
        if not written:
            where = "前 10 条" if rest > 0 else "全部列出"
        console.print(f"数据问题 {len(row_problems)} 条（{where}）：")
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
        _print_outputs(out)


def _table(title: str | None = None) -> RichTable:
    """A terminal table; its columns are added with overflow="fold": a long cell wraps, never cut."""
    return RichTable(title=title, show_lines=False, expand=False)


def _cells(text: str) -> int:
    """The terminal width of a text (a Chinese character takes two cells)."""
    from rich.cells import cell_len

    return cell_len(text)


def _name_width(names: list[str], others: list[int]) -> int:
    """The width of a table's name column: its widest name, as far as the terminal leaves room
    beside the other columns (`others`: their widths) and the borders; a longer name wraps."""
    room = console.width - sum(others) - 3 * (len(others) + 1) - 1
    return max(4, min(max((_cells(n) for n in names), default=0), room))


# What each output is, for the list printed after a command (the folder's own entries, in this order).
OUTPUT_LABELS = {
    "index.html": "总览页面（用浏览器打开，离线可用）",
    "findings.xlsx": "问题清单工作簿（Excel、WPS 可打开）",
    "branches": "各支部页面",
    "notices": "整改通知书、补报数据通知",
    "findings.csv": "问题清单",
    "scorecard.csv": "五个过硬评定",
    "followup.csv": "整改跟踪（与上季度对照）",
    "decisions_applied.csv": "审核决定的应用结果",
    "sample.csv": "现场抽查样本",
    "previous_scorecard.csv": "上季度评定",
    "coverage.csv": "无法评估的规则明细",
    "data_quality.csv": "数据质量问题",
    "progress.csv": "年度进度",
    "quarantine.csv": "隔离清单（未导入的行和值）",
    "ingest_report.csv": "导入报告（每个文件读取、导入、隔离的行数）",
    "column_map.csv": "列对应表（每一列如何识别）",
    "data-docs": "数据校验明细（技术）",
    "manifest.json": "来源文件与校验值（audit verify-manifest 用）",
}


def _print_outputs(out: Path) -> None:
    """The folder a command wrote, once, and what is in it: every entry of the folder, the ones a
    reviewer opens first with what each is, then the files the toolkit reads back."""
    entries = sorted(p for p in out.iterdir() if not p.name.startswith(".")) if out.is_dir() else []
    known = {p.name: p for p in entries}
    listing = _table()
    listing.add_column("文件", no_wrap=True)
    listing.add_column("内容", overflow="fold")
    for name, label in OUTPUT_LABELS.items():
        if name in known:
            listing.add_row(name + ("/" if known[name].is_dir() else ""), label)
    copies = [p for p in entries if p.name not in OUTPUT_LABELS and p.suffix == ".parquet"]
    rest = [p.name + ("/" if p.is_dir() else "") for p in entries if p.name not in OUTPUT_LABELS and p not in copies]
    if copies:
        listing.add_row("*.parquet", f"各表的 Parquet 副本（{len(copies)} 个，程序读取用）")
    if rest:
        listing.add_row("其余", Wrapped("程序使用的记录：" + "、".join(rest)))  # broken after a 、, not inside a name
    console.print(f"输出目录：{printable(str(out))}", soft_wrap=True)
    console.print(listing)


FAIL_ON_HELP = "有该级别及以上的问题时退出码为 1，可填 warning（提示）、error（错误）或 critical（严重）"


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


def _folder(what: str) -> Any:
    """The check of an argument or option naming a folder (`what`): a file given instead of a
    folder is refused naming it (`audit.arguments.existing_folder`), before anything is read."""

    def check(value: Path | None) -> Path | None:
        from audit.arguments import existing_folder

        return None if value is None else existing_folder(value, what)

    return check


BatchArgument = Annotated[Path, typer.Argument(help="一个导出批次的文件夹", metavar="数据批次", callback=_folder("数据批次"))]
ReportArgument = Annotated[
    Path, typer.Argument(help="audit run 生成的报告目录", metavar="报告目录", callback=_folder("报告目录"))
]
QuarterOption = Annotated[str, typer.Option("--quarter", help="审核的季度，如 2019Q1", metavar="季度")]
StandardOption = Annotated[
    Path | None, typer.Option("--standard", help="标准文件（默认 expectations/standard.yaml）", metavar="文件")
]
LimitOption = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        help="放宽读取限制（可重复），如 rows=5000000、size=2G；名称和默认值见 docs/data-dictionary.md「文件的读取限制」",
        metavar="名称=数值",
    ),
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
    typer.Option(
        "--mapping", help="审核人员的映射文件（YAML）：表名、表头别名、固定值、取值别名；格式见数据字典", metavar="文件"
    ),
]


def _mapping(path: Path | None):
    """The reviewer's mapping file, read and checked (a mistake in it is a `MappingError` naming the line)."""
    if path is None:
        return None
    from audit.contract import load_contract
    from audit.mapping import load_mapping

    return load_mapping(path, load_contract())


NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="不使用导入缓存：每个文件都重新读取，也不写入缓存（缓存文件夹默认 ~/.cache/audit/ingest，可用环境变量 AUDIT_CACHE_DIR 指定）",
    ),
]


def _print_cache_use(ingested) -> None:
    """How many input files the ingestion cache gave and how many were read (when it was used)."""
    use = ingested.cache
    if use is not None and use.unused:
        console.print(f"[yellow]注意[/yellow] {printable(use.unused)}", soft_wrap=True)
    if use is None or not use.hits + use.misses:
        return
    console.print(
        f"导入缓存：{use.hits + use.misses} 个文件中 {use.hits} 个未改变，取自缓存；{use.misses} 个已读取", soft_wrap=True
    )


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
    _print_ingest_summary(exc.ingested, None, written=exc.out is not None)
    err.print(f"[red]错误[/red] {printable(exc)}。")
    if exc.out is not None:
        files = "、".join(str(exc.out / name) for name in ("ingest_report.csv", "quarantine.csv", "column_map.csv"))
        err.print(f"导入报告、隔离清单和列对应表已写入：{printable(files)}", soft_wrap=True)
    err.print(INSPECT_HINT, soft_wrap=True)


def result_tables(result):
    from audit.contract import load_contract

    return load_contract().tables.items()


@app.command(cls=AuditCommand)
def ingest(
    batch: BatchArgument,
    out: Annotated[Path | None, typer.Option("--out", help="输出目录（默认 data/processed/<批次>/ingest）")] = None,
    limit: LimitOption = None,
    mapping: MappingOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """读取一个导出批次，生成规范化数据表、导入报告和隔离清单。"""
    from audit.cache import refuse_inside_output
    from audit.ingest import ingest as run_ingest
    from audit.outputs import check_output, output_folder

    out = out or Path("data/processed") / batch.resolve().name / "ingest"
    reviewer_mapping = _mapping(mapping)
    check_output(out, kind="ingest", batch=batch)  # refused before anything is read
    if not no_cache:
        refuse_inside_output(out)
    result = run_ingest(batch, limits=_limits(limit), mapping=reviewer_mapping, cache=not no_cache)
    with output_folder(out, kind="ingest", batch=batch) as target:
        result.write(target)
    _print_ingest_summary(result, out)
    _print_cache_use(result)
    if not result.usable:
        err.print("[red]错误[/red] 没有任何可用的数据行，请检查上面列出的文件问题。")
        err.print(INSPECT_HINT, soft_wrap=True)
        raise typer.Exit(EXIT_UNUSABLE)


@app.command(name="inspect", cls=AuditCommand)
def inspect_batch(
    batch: BatchArgument,
    mapping: MappingOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="另把列对应表写成 CSV（不覆盖已有文件）")] = None,
    limit: LimitOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """不审核，只显示每个文件和工作表如何识别：对应的表、表头行、每一列的对应关系、缺少的必填列、行数，以及映射文件该怎么写。"""
    from audit.contract import load_contract
    from audit.ingest import ingest as run_ingest
    from audit.inspection import render_inspection
    from audit.mapping import apply_mapping
    from audit.outputs import check_new_file

    reviewer_mapping = _mapping(mapping)
    target = check_new_file(out, batch=batch) if out is not None else None  # refused before anything is read
    result = run_ingest(batch, limits=_limits(limit), mapping=reviewer_mapping, cache=not no_cache)
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


@app.command(cls=AuditCommand)
def validate(
    batch: BatchArgument,
    quarter: QuarterOption,
    out: Annotated[Path | None, typer.Option("--out", help="输出目录（默认 data/processed/<批次>/<季度>）")] = None,
    standard: StandardOption = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help=FAIL_ON_HELP)] = None,
    data_docs: Annotated[bool, typer.Option("--data-docs/--no-data-docs", help="生成数据校验明细（技术）页面")] = True,
    limit: LimitOption = None,
    mapping: MappingOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """导入一个批次，按标准审核一个季度：问题清单、五个过硬评定、数据质量检查和数据校验明细（技术）。"""
    from audit.arguments import check_quarter
    from audit.cache import refuse_inside_output
    from audit.facts import data_window
    from audit.ingest import ingest as run_ingest
    from audit.outputs import check_output
    from audit.validate import nothing_usable
    from audit.validate import validate as run_validate

    period, rules = _checked(quarter, fail_on, standard)
    reviewer_mapping = _mapping(mapping)
    limits = _limits(limit)
    out = out or Path("data/processed") / batch.resolve().name / str(period)
    check_output(out, kind="validate", batch=batch)  # refused before anything is read (checked again under the lock)
    if not no_cache:
        refuse_inside_output(out)
    with _steps_shown() as steps:
        steps.begin("read")
        ingested = run_ingest(batch, limits=limits, mapping=reviewer_mapping, cache=not no_cache)
        if nothing_usable(ingested) is None:  # the quarter checked before the (slow) validation
            check_quarter(period, data_window(ingested.tables))
        result = run_validate(
            batch,
            period,
            rules,
            out=out,
            data_docs=data_docs,
            limits=limits,
            mapping=reviewer_mapping,
            ingested=ingested,
            step=steps.begin,
            cache=not no_cache,
        )
    _print_ingest_summary(result.ingested, None)
    _print_cache_use(result.ingested)
    _print_validation_summary(result)
    _print_outputs(out)
    if fail_on is not None and result.at_or_above(fail_on):
        raise typer.Exit(EXIT_FINDINGS)


BRANCHES_LISTED = 30  # a terminal lists every branch up to this many; beyond, the ones to look at


def _listed_branches(card, standard) -> tuple[Any, int]:
    """The scorecard rows the terminal lists, and how many it leaves out: every branch of a
    sub-district; of a larger batch (a district's 1,000 branches filled the terminal with over a
    thousand lines, and took a second to draw) only the branches with a finding or without the
    best rating, all of them, in branch order; the clean ones are counted in one line."""
    import polars as pl

    if card.height <= BRANCHES_LISTED:
        return card, 0
    clean = (pl.col("rating") == standard.rating["best"]) & (pl.sum_horizontal("critical", "errors", "warnings") == 0)
    return card.filter(~clean), card.filter(clean).height


def _print_validation_summary(result) -> None:
    """What the audit found: counts by severity, ratings, each branch's counts and rating."""
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
    table = _table("各支部问题数（按级别）与评定")
    columns = ("branch_id", "branch_name", "critical", "errors", "warnings")
    names = [printable(n or "") for n in result.scorecard["branch_name"].to_list()] if result.scorecard.height else []
    ids = [_cells(printable(b)) for b in result.scorecard["branch_id"].to_list()] if result.scorecard.height else []
    ratings_width = max((_cells(r) for r in result.scorecard["rating"].to_list()), default=0) if result.scorecard.height else 0
    dimensions = max((_cells(d) for d in result.standard.dimensions), default=0)
    others = [max(8, *ids), 4, 4, 4, max(6, dimensions), max(4, ratings_width)]
    for column in columns:
        numeric = column in ("critical", "errors", "warnings")
        width = _name_width(names, others) if column == "branch_name" else None
        table.add_column(COLUMNS[column], overflow="fold", justify="right" if numeric else "left", min_width=width)
    table.add_column("未通过", overflow="fold")
    table.add_column(COLUMNS["rating"], overflow="fold")
    listed, left = _listed_branches(result.scorecard, result.standard)
    for row in listed.iter_rows(named=True):
        failed = "\n".join(d for d in result.standard.dimensions if row.get(d) == STATUS_FAIL)  # one a line
        table.add_row(*(printable(row[c] if row[c] is not None else "") for c in columns), failed, printable(row["rating"]))
    console.print(table)
    if left:
        console.print(f"其余 {left} 个支部均为{result.standard.rating['best']}、没有问题，未逐一列出；全部支部见 scorecard.csv")
    missing = unevaluable(result.coverage)
    if missing.height:
        console.print(
            f"[yellow]无法评估[/yellow] {missing.select('branch_id').n_unique()} 个支部共 {missing.height} 项"
            "（缺少规则所需的数据，既不算通过也不算问题），明细见 coverage.csv"
        )
    for warning in result.warnings:
        console.print(f"[yellow]注意[/yellow] {printable(warning)}", soft_wrap=True)


@app.command(cls=AuditCommand)
def run(
    batch: BatchArgument,
    quarter: QuarterOption,
    out: Annotated[Path | None, typer.Option("--out", help="报告目录（默认 reports/<季度>）")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", help="并行生成支部报告的进程数（默认 CPU 核数）")] = None,
    branch: Annotated[
        list[str] | None,
        typer.Option("--branch", help="只生成这些支部的报告（可重复）：支部编号（不分大小写）或支部名称", metavar="支部"),
    ] = None,
    self_contained: Annotated[bool, typer.Option("--self-contained", help="每个页面内嵌 plotly.js，便于单独发送")] = False,
    seed: Annotated[int, typer.Option(help="抽查样本的随机种子")] = 2019,
    sample_size: Annotated[int, typer.Option(help="每个支部抽查的会议记录数")] = 3,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help=FAIL_ON_HELP)] = None,
    standard: StandardOption = None,
    limit: LimitOption = None,
    mapping: MappingOption = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="对照的上季度报告目录（默认 --out 旁以上季度命名的目录，存在时）",
            metavar="报告目录",
            callback=_folder("上季度报告目录"),
        ),
    ] = None,
    decisions: Annotated[
        Path | None, typer.Option("--decisions", help="审核决定表（默认数据批次所在文件夹中的 decisions.csv，存在时）")
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", help="整改通知书中的整改期限，如 2019-04-30（默认按标准文件的 rectification 天数）"),
    ] = None,
    no_cache: NoCacheOption = False,
) -> None:
    """导入、审核并生成离线 HTML 报告：总览 index.html、各支部页面、findings.xlsx、整改跟踪、整改通知书和 manifest.json。"""
    from audit.cache import refuse_inside_output
    from audit.outputs import check_output
    from audit.report import run_report

    period, rules = _checked(quarter, fail_on, standard)
    reviewer_mapping = _mapping(mapping)
    due = _follow_up_options(batch, out or Path("reports") / str(period), period, rules, previous, decisions, deadline)
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs 至少为 1")
    out = out or Path("reports") / str(period)
    check_output(out, kind="run", batch=batch)  # refused before anything starts (checked again under the lock)
    if not no_cache:
        refuse_inside_output(out)
    with _steps_shown() as steps:  # --quarter and --branch are checked once the batch is read, before the rest
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
            progress=steps,
            limits=_limits(limit),
            mapping=reviewer_mapping,
            previous=previous,
            decisions=decisions,
            deadline=due,
            cache=not no_cache,
        )
    _print_ingest_summary(result.validation.ingested, None)
    _print_cache_use(result.validation.ingested)
    _print_validation_summary(result.validation)
    console.print(f"随机抽查种子：{seed}（抽查样本见 sample.csv；同一种子抽出同样的会议）")  # said once the run was accepted
    console.print(f"用时：{_timings(result.timings)}；报告目录大小 {result.size_bytes / 1e6:.1f} MB", soft_wrap=True)
    for failed in result.failed:
        err.print(f"[red]报告生成失败[/red] {printable(failed.name)}：{failed.where}出错：{failed.error}", soft_wrap=True)
    for note in result.notes:
        console.print(f"[yellow]注意[/yellow] {printable(note)}", soft_wrap=True)
    _print_outputs(out)
    console.print("用浏览器打开其中的 index.html 查看报告，问题清单见 findings.xlsx。", soft_wrap=True)
    if result.failed:
        raise typer.Exit(EXIT_BRANCH_FAILED)
    if fail_on is not None and result.validation.at_or_above(fail_on):
        raise typer.Exit(EXIT_FINDINGS)


def _timings(seconds: dict[str, float]) -> str:
    """The seconds each step took, by its Chinese name (the two page steps as one), and the total."""
    by_label: dict[str, float] = {}
    for step, took in seconds.items():
        label = STEP_ZH.get(step, step)
        by_label[label] = by_label.get(label, 0.0) + took
    parts = [f"{label} {took:.1f} 秒" for label, took in by_label.items()]
    return "，".join(parts) + f"；合计 {sum(seconds.values()):.1f} 秒"


class _StepDisplay:
    """A run's steps on the terminal: one line per step, named in Chinese (`STEP_ZH`), with its
    own bar (the pages: branch pages done of all), count and time; a step's line is complete when
    the next begins. Implements `audit.report.run.StepProgress`; `begin` alone suits `validate`'s `step`."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.rows: dict[str, Any] = {}  # label -> task id
        self.current: str | None = None

    def begin(self, step: str) -> None:
        """Step `step` begins: its line appears (the previous step's is complete)."""
        label = STEP_ZH.get(step, step)
        if self.current is not None and self.current != label:
            self._complete(self.current)
        if label not in self.rows:
            self.rows[label] = self.bar.add_task(label, total=None, count="")
        else:  # a second step under the same name (the pages' HTML after their notebooks)
            self.bar.update(self.rows[label], description=label)
        self.current = label

    def advance(self, step: str, done: int, total: int, detail: str) -> None:
        """The step's line shows `done` of `total` and what was just finished."""
        label = STEP_ZH.get(step, step)
        if label in self.rows:
            self.bar.update(
                self.rows[label], total=total, completed=done, count=f"{done}/{total}", description=f"{label} {printable(detail)}"
            )

    def end(self, step: str, seconds: float) -> None:
        """A step has ended; its line is completed when the next step (or the display) ends."""

    def finish(self) -> None:
        """The last step has ended."""
        if self.current is not None:
            self._complete(self.current)
            self.current = None

    def _complete(self, label: str) -> None:
        """Show a step's line as complete: a full bar, its time stopped."""
        task = self.rows[label]
        total = self.bar.tasks[task].total or 1
        self.bar.update(task, total=total, completed=total, description=f"{label} 完成")


@contextmanager
def _steps_shown() -> Iterator[_StepDisplay]:
    """Show a command's steps while it runs. On an error the display is erased before `main` says
    what went wrong, so no half-drawn bar is left above the message."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"), TimeElapsedColumn(), console=console
    )
    bar.start()
    display = _StepDisplay(bar)
    failed = False
    try:
        yield display
        display.finish()
    except BaseException:
        bar.live.transient = True  # erase it: the error is said below, alone
        failed = True
        raise
    finally:
        # off a terminal Progress.stop() prints an empty line, which would stand above the error
        if failed:
            bar.live.stop()
        else:
            bar.stop()


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


decisions_app = typer.Typer(
    cls=AuditGroup, help="审核决定表（decisions.csv）：审核人员登记核实结果、误报和整改期限。", no_args_is_help=True
)
app.add_typer(decisions_app, name="decisions")


@decisions_app.command(name="template", cls=AuditCommand)
def decisions_template(
    report: ReportArgument,
    out: Annotated[
        Path | None, typer.Option("--out", help="写出的新文件（默认报告文件夹旁的 审核决定-<报告文件夹名>.csv；不覆盖已有文件）")
    ] = None,
) -> None:
    """为报告中的每条问题写出一行待填写的审核决定表（UTF-8 带 BOM 的 CSV，Excel 和 WPS 可直接打开）。"""
    import json

    from audit.decisions import DECISIONS, template, template_path
    from audit.outputs import OutputError, check_new_file

    if not (report / "findings.parquet").is_file() or not (report / "validation.json").is_file():
        raise UsageError(f"{report} 不是 audit run 生成的报告目录（缺少 findings.parquet 或 validation.json）")
    batch = None
    manifest = report / "manifest.json"
    if manifest.is_file():
        batch = Path(json.loads(manifest.read_text(encoding="utf-8")).get("batch") or "") or None
    out = out or template_path(report)
    try:
        target = check_new_file(out, batch=batch)
        rows = template(report)
        _write_new_csv(rows, target)
    except OutputError as exc:
        if out.exists():
            exc.hint = "已有的审核决定表不会被覆盖：可用 --out 另存新表，再把需要的行复制进去。"
        raise
    console.print(
        f"已写出 {printable(out)}：{rows.height} 条问题。请在「审核决定」列填写 {' / '.join(DECISIONS)}，"
        "并填写「说明」（误报须写明理由）、「审核人」和「决定日期」（如 2019-04-15）；未填写决定的行不生效。"
        f"填好后重新运行时用 --decisions {printable(out)} 指定，或把它存为数据批次旁的 decisions.csv（以后各季度自动读取）。",
        soft_wrap=True,
    )


@app.command(name="verify-manifest", cls=AuditCommand)
def verify_manifest(
    report: ReportArgument,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch", help="数据批次文件夹（默认用 manifest 中记录的路径）", metavar="数据批次", callback=_folder("数据批次")
        ),
    ] = None,
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


@app.command(cls=AuditCommand)
def sample(
    batch: BatchArgument,
    quarter: Annotated[str, typer.Option("--quarter", help="季度，如 2019Q1")],
    seed: Annotated[int, typer.Option(help="随机种子：同一种子总是抽到相同的记录")] = 2019,
    per_branch: Annotated[int, typer.Option(help="每个支部抽取的会议记录数")] = 3,
    out: Annotated[Path | None, typer.Option("--out", help="写出 CSV（默认只打印；不覆盖已有文件）")] = None,
    limit: LimitOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """按固定随机种子从每个支部本季度的会议记录中抽取样本，供现场核对纸质记录。"""
    from audit.ingest import ingest
    from audit.outputs import check_new_file
    from audit.views import meeting_sample

    period = _quarter(quarter)
    target = check_new_file(out, batch=batch) if out is not None else None  # refused before anything is read
    tables = ingest(batch, limits=_limits(limit), cache=not no_cache).tables
    picked = meeting_sample(tables, period, seed, per_branch)
    console.print(f"随机种子：{seed}；{period.zh}共抽取 {picked.height} 条会议记录")
    table = _table()
    for column in ("branch_id", "meeting_id", "meeting_type", "held_on", "topic", "source"):
        table.add_column(COLUMNS[column], overflow="fold")
    for r in picked.iter_rows(named=True):
        source = f"{r['_file']}" + (f"［{r['_sheet']}］" if r["_sheet"] else "") + f" 第{r['_row']}行"
        cells = (r["branch_id"], r["meeting_id"], r["meeting_type"], str(r["held_on"]), r["topic"] or "", source)
        table.add_row(*(printable(c) for c in cells))
    console.print(table)
    if target is not None:
        _write_new_csv(picked, target)
        console.print(f"已写入 {printable(str(out))}", soft_wrap=True)


@app.command(cls=AuditCommand, hidden=True)  # developers only
def synth(
    out: Annotated[Path, typer.Option("--out", help="输出的批次文件夹")] = Path("data/raw/sample"),
    seed: Annotated[int, typer.Option(help="随机种子：相同种子生成完全相同的数据")] = 2019,
    branches: Annotated[int, typer.Option(help="支部数（超过 1000 个时按街道分成多个文件夹，逐个生成）")] = 20,
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
    from audit.synth import PART_BRANCHES, STYLES, SynthConfig, parts_to_write, write_batch

    if style not in STYLES:
        raise UsageError(f"未知的导出样式「{style}」（--style 可选：{'、'.join(STYLES)}）")
    if style == "platform" and parquet:
        raise UsageError("--parquet 只写规范化表，不能与 --style platform 同时使用")
    if not name.strip() or name.startswith(".") or any(part in name for part in ("/", "\\", "..")):
        raise UsageError(f"--name 应是街道名称（用于文件和文件夹名），不能为空、以“.”开头或含有 / \\ ..：「{name}」")
    config = SynthConfig(seed=seed, branches=branches, members=members, start=start, end=end, subdistrict=name, plant=not clean)
    fields = {"seed": seed, "branches": branches, "members": members, "start": start, "end": end}
    fields |= {"subdistrict": name, "planted": not clean, "parquet": parquet, "style": style}
    check_synth_output(out)  # a new or empty folder, or an earlier synthetic batch: refused before any work
    try:
        config.check()  # a setting the generator cannot use (months, counts), before the folder is touched
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    parts = parts_to_write(config, parquet=parquet, style=style)
    if len(parts) > 1:
        console.print(f"超过 {PART_BRANCHES:,} 个支部：分为 {len(parts)} 个街道分别生成，每个街道一个文件夹", soft_wrap=True)
    with synth_folder(out, fields) as target:
        written = write_batch(config, target, parquet=parquet, style=style)
    console.print(
        f"已生成 {written.files} 个文件到 {out}：{written.branches} 个支部、{written.members} 名党员；真值清单 {written.truth}"
    )


@app.command(cls=AuditCommand, hidden=True)  # developers only
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


@app.command(cls=AuditCommand, hidden=True)  # developers only
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
    from audit.portable import on_terminate

    on_terminate(_terminate)  # SIGTERM (Windows: also Ctrl-Break) cleans up temporary output and locks, as Ctrl-C does
    try:
        exit_code = app(standalone_mode=False, prog_name="audit")  # click's mistakes come here, said in Chinese
        if not isinstance(exit_code, int):  # a command that returned: the `typer.Exit` codes come back as ints
            exit_code = EXIT_OK
        if exit_code == EXIT_INTERRUPTED:  # Ctrl-C while a command ran (typer turns it into an exit code)
            err.print("已中断")
        sys.exit(exit_code)
    except typer.Abort:
        err.print("已中断")
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        err.print("已中断")
        sys.exit(EXIT_INTERRUPTED)
    except AuditError as exc:  # the user's mistake: said in Chinese, naming what to correct
        _explain(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, not the user's mistake: say so plainly, keep the details
        if _is_click_usage_error(exc):  # a mistake in the command line: said in Chinese
            if _asks_for_help(exc):
                sys.exit(EXIT_OK)
            _say_usage_error(exc)
            sys.exit(EXIT_UNUSABLE)
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
