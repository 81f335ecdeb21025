"""The `audit` command as a user runs it: exit codes, messages, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import MEMBERS, write_csv

AUDIT = [sys.executable, "-m", "audit.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDIT, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_ingest_writes_outputs_and_summary(batch: Path, tmp_path: Path):
    out = tmp_path / "out"
    proc = run("ingest", str(batch), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "导入结果" in proc.stdout and "党费收缴" in proc.stdout
    assert (out / "ingest_report.csv").exists() and (out / "quarantine.csv").exists()
    assert pl.read_parquet(out / "tables" / "members.parquet").height == 3
    assert "Traceback" not in proc.stderr


def test_missing_batch_exits_2_with_message(tmp_path: Path):
    proc = run("ingest", str(tmp_path / "不存在"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "找不到数据批次文件夹" in proc.stderr and "Traceback" not in proc.stderr


def test_nothing_usable_exits_2_naming_the_file(tmp_path: Path):
    batch = tmp_path / "batch"
    write_csv(batch / "dues.csv", [["党员编号", "所属月份", "应交金额"], ["M001", "2019-01", "5"]])
    (batch / "members.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 64)
    proc = run("ingest", str(batch), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "dues.csv" in proc.stderr and "缺少必填列「实交金额」" in proc.stderr
    assert "members.xls" in proc.stderr and "Traceback" not in proc.stderr


def test_quarantine_csv_is_formula_safe(batch: Path, tmp_path: Path):
    write_csv(
        batch / "meetings2.csv",
        [["活动编号", "支部编号", "活动类型", "活动日期"], ["HD9", "B01", '=HYPERLINK("http://x")', "2019-01-01"]],
    )
    out = tmp_path / "out"
    assert run("ingest", str(batch), "--out", str(out)).returncode == 0
    text = (out / "quarantine.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text
    assert ",=HYPERLINK" not in text


def test_help_is_chinese():
    proc = run("--help")
    assert proc.returncode == 0 and "读取一个导出批次" in proc.stdout


def test_user_errors_are_said_once_in_chinese_with_their_exit_code(batch: Path, tmp_path: Path):
    """Every mistake a user can correct is an `AuditError`, caught in one place (`cli.main`): its
    message once, in Chinese, no traceback, and the exit code its class carries."""
    from audit.decisions import DecisionsError
    from audit.errors import EXIT_UNUSABLE, AuditError, UsageError
    from audit.facts import QuarterOutOfRangeError
    from audit.followup import FollowupError
    from audit.ingest import BatchNotFoundError
    from audit.mapping import MappingError
    from audit.notices import NoticeError
    from audit.outputs import OutputError
    from audit.report import ManifestError, RunError
    from audit.standard import StandardError
    from audit.validate import NothingUsableError

    errors = [DecisionsError, QuarterOutOfRangeError, FollowupError, BatchNotFoundError, MappingError, NoticeError]
    errors += [OutputError, ManifestError, RunError, StandardError, NothingUsableError, UsageError]
    assert all(issubclass(e, AuditError) and e.exit_code == EXIT_UNUSABLE for e in errors)
    cases = {
        ("verify-manifest", str(tmp_path)): "中没有 manifest.json，不是 audit run 生成的报告目录",
        ("sample", str(batch), "--quarter", "2019Q5"): "季度格式应为 2019Q1：2019Q5",
        ("validate", str(batch), "--quarter", "2019Q1", "--standard", str(tmp_path / "无.yaml")): "找不到标准文件",
        ("ingest", str(batch), "--limit", "rows"): "--limit 应写成 名称=数值",
        (
            "run",
            str(batch),
            "--quarter",
            "2019Q1",
            "--fail-on",
            "[red]严重",
        ): "--fail-on 应为 warning / error / critical，不是「[red]严重」",
    }
    for args, message in cases.items():
        proc = run(*args)
        assert proc.returncode == EXIT_UNUSABLE, (args, proc.stderr)
        assert proc.stderr.startswith("错误 ") and proc.stderr.count(message) == 1, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "程序内部错误" not in proc.stderr


# --- #14 item 8: Chinese help and command-line mistakes ------------------------------------------------

ENGLISH = ("Usage", "Try ", "Error", "Missing", "Options", "Commands", "Show this message", "[required]", "No such", "Invalid")


def english(text: str) -> list[str]:
    """click's English words found in what the user saw."""
    return [word for word in ENGLISH if word in text]


def test_bare_audit_and_help_are_chinese_and_list_only_the_reviewers_commands():
    """Before: `Usage: audit [OPTIONS] COMMAND`, `Options`, `Show this message and exit.`, and
    synth, docs and suites listed to reviewers."""
    for args in ((), ("--help",)):
        proc = run(*args)
        said = proc.stdout + proc.stderr
        assert proc.returncode == 0 and "Traceback" not in said
        assert "用法：audit" in said and "命令：" in said and not english(said), said
        listed = set(re.findall(r"^  (\S+)\s{2,}", proc.stdout, re.M))
        assert {"run", "validate", "inspect", "ingest", "sample", "verify-manifest", "decisions"} <= listed, listed
        assert not {"synth", "docs", "suites"} & listed
    for command in ("synth", "docs", "suites"):  # hidden, still there for developers
        proc = run(command, "--help")
        assert proc.returncode == 0 and f"用法：audit {command}" in proc.stdout and not english(proc.stdout)
    proc = run("run", "--help")
    assert "用法：audit run [选项] 数据批次" in proc.stdout and "--quarter 季度" in proc.stdout and "（必填）" in proc.stdout
    assert not english(proc.stdout)


def test_a_bare_group_shows_its_help_and_exits_0_a_command_lacking_its_arguments_exits_2():
    """Before: a bare `audit` printed its help and exited 2 (click 8.2 counts it a usage error);
    a reviewer typing `audit` asks what it can do. `audit run` without a batch is still a mistake."""
    for args, usage in (((), "用法：audit [选项] 命令"), (("decisions",), "用法：audit decisions [选项] 命令")):
        proc = run(*args)
        assert (proc.returncode, proc.stderr) == (0, ""), (args, proc.stderr)
        assert proc.stdout.startswith(usage) and "命令：" in proc.stdout, proc.stdout
        assert run(*args, "--help").stdout.rstrip() == proc.stdout.rstrip()
    proc = run("run")
    assert proc.returncode == 2 and proc.stderr.startswith("错误 缺少数据批次") and proc.stdout == ""


def _help_fragments() -> list[str]:
    """Every "Chinese word, space, code word" (and the reverse) in the commands' and options'
    help texts, as the help shows them: `总览 index.html`, `文件的 SHA-256`, `如 rows=5000000`."""
    import typer

    from audit.cli import _option_help, app

    group: Any = typer.main.get_command(app)
    texts = [group.help or ""]
    for command in group.commands.values():
        texts.append(command.help or "")
        texts += [_option_help(p) for p in command.params]
    han, code = r"[\u4e00-\u9fff（），：、]", r"[A-Za-z0-9][\w.=/<>-]*"
    return [m for t in texts for m in re.findall(rf"{han} {code}|{code} {han}", t)]


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_help_never_breaks_a_line_between_a_chinese_word_and_a_code_word(columns: int):
    """Before: rich broke lines at spaces only, so `生成离线 HTML 报告：总览` ended one line and
    `index.html、各支部页面…` began the next, the first line half empty. Now each Chinese word
    stays on the line of the code word beside it, and no line of a help cell starts with `，`."""
    fragments = _help_fragments()
    assert "览 index.html" in fragments and "的 SHA-256" in fragments
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "COLUMNS": str(columns)}
    shown = ""
    for args in (["--help"], ["run", "--help"], ["validate", "--help"], ["ingest", "--help"], ["verify-manifest", "--help"]):
        proc = subprocess.run([*AUDIT, *args], capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 0, proc.stderr
        shown += proc.stdout
    lines = shown.splitlines()
    split = [f for f in fragments if f in re.sub(r"\s+", " ", shown) and not any(f in line for line in lines)]
    assert not split, split
    assert not [line for line in lines if re.match(r"\s+[，。、：；）]", line)]


def test_chinese_wrapping_keeps_every_character_within_the_width():
    """`audit.linebreak.wrap` at every width: no line wider than it, no character lost or
    repeated (only spaces at a break dropped), a code word longer than a line folded."""
    from rich.cells import cell_len

    from audit.linebreak import pieces, wrap

    text = "导入、审核并生成离线 HTML 报告：总览 index.html、各支部页面（默认 reports/<季度>）\n如 rows=5000000、size=2G"
    widest = max(cell_len(p.rstrip()) for line in text.split("\n") for p in pieces(line))
    for width in range(4, 60):
        lines = wrap(text, width)
        assert all(cell_len(line) <= width for line in lines), (width, lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", ""), (width, lines)
        if width >= widest:  # nothing folded: no line starts with a closing mark
            assert not [line for line in lines if line[:1] in "，。、：）"], (width, lines)


def test_command_line_mistakes_are_said_in_chinese_with_the_usage_line(batch: Path):
    """Before: `Usage: … Try 'audit run --help' for help.` and `Error: Missing option '--quarter'.`"""
    cases = {
        ("run", str(batch)): "错误 缺少选项 --quarter：审核的季度，如 2019Q1",
        ("run",): "错误 缺少数据批次：一个导出批次的文件夹",
        ("run", str(batch), "--quarter"): "错误 选项 --quarter 后面要写一个值",
        ("run", str(batch), "--quarter", "2019Q1", "--jobs", "两个"): "错误 --jobs 的值不对：应为整数",
        ("run", str(batch), "--quarter", "2019Q1", "--bogus"): "错误 没有选项 --bogus",
        ("run", str(batch), "多余", "--quarter", "2019Q1"): "错误 多余的参数：多余",
        ("rnu",): "错误 没有命令「rnu」，是否想用 run？",
    }
    for args, message in cases.items():
        proc = run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith(message), (args, proc.stderr)
        assert not english(proc.stdout + proc.stderr) and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert "用法：audit run [选项] 数据批次" in run("run", str(batch)).stderr


def test_a_file_given_where_a_folder_is_expected_says_so(batch: Path, tmp_path: Path):
    """Before: `找不到数据批次文件夹` for a file that plainly exists."""
    file = batch / "dues.csv"
    for args in (
        ("run", str(file), "--quarter", "2019Q1", "--out", str(tmp_path / "out")),
        ("ingest", str(file), "--out", str(tmp_path / "out")),
        ("inspect", str(file)),
        ("verify-manifest", str(file)),
    ):
        proc = run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert f"{file} 是文件，不是文件夹" in proc.stderr, (args, proc.stderr)
        assert "找不到" not in proc.stderr and "Traceback" not in proc.stderr


CRASH_RUN = """
import sys
import audit.ingest
def broken(*args, **kwargs):
    raise RuntimeError("planted internal failure")
audit.ingest.ingest = broken
sys.argv = ["audit", "run", sys.argv[1], "--quarter", "2019Q1", "--out", sys.argv[2]]
import audit.cli
audit.cli.main()
"""


def test_an_internal_error_during_a_run_says_where_its_log_is_and_leaves_no_bar(batch: Path, tmp_path: Path):
    """Exit 70 names its log file, which holds the traceback; the progress display is erased
    first. Before: the bar (`审核并生成支部报告 ━ 0/?`) stayed above the message."""
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_RUN, str(batch), str(tmp_path / "out")], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 70, proc.stderr
    found = re.search(r"详细信息已写入 (\S+?\.log)", proc.stderr)
    assert found, proc.stderr
    log = Path(found.group(1))
    assert log.is_relative_to(tmp_path / "state") and "planted internal failure" in log.read_text(encoding="utf-8")
    assert "━" not in proc.stdout + proc.stderr and "0/?" not in proc.stdout and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


# --- #14 item 7: the run on the terminal -------------------------------------------------------------------


@pytest.fixture(scope="module")
def world_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small generated world (XH01 联兴集团党支部, XH02 鑫源科技有限公司党支部, XH03; 2018-07 to 2019-12)."""
    from audit.synth import write_world
    from worlds import world

    folder = tmp_path_factory.mktemp("terminal") / "batch"
    write_world(world(), folder)
    return folder


@pytest.fixture(scope="module")
def terminal_run(world_batch: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One `audit run` on an 80-column terminal, two branches asked for as a reviewer writes them."""
    out = tmp_path_factory.mktemp("terminal-run") / "2019Q1"
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "COLUMNS": "80"}
    args = ["run", str(world_batch), "--quarter", "2019q1", "--branch", "xh02", "--branch", "联兴集团", "--out", str(out)]
    proc = subprocess.run([*AUDIT, *args, "--jobs", "2"], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, out


def test_branch_accepts_lower_case_codes_and_names(terminal_run: tuple[subprocess.CompletedProcess[str], Path]):
    """Before: `数据中没有这些支部：xh02`."""
    _, out = terminal_run
    assert sorted(p.name for p in (out / "branches").glob("*.html")) == ["XH01.html", "XH02.html"]
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["parameters"]["branches"] == ["XH01", "XH02"]


def test_each_step_is_named_and_timed_in_chinese(terminal_run: tuple[subprocess.CompletedProcess[str], Path]):
    """Before: one bar, `审核并生成支部报告 0/?`, then `用时：validate 40.1 秒，extras …`."""
    proc, _ = terminal_run
    for step in ("读取", "校验", "事实", "检查", "导出", "页面"):
        assert f"{step} 完成" in proc.stdout, proc.stdout
    assert "页面 完成" in proc.stdout and "2/2" in proc.stdout  # the pages' own count
    timing = re.search(r"^用时：(.*)$", proc.stdout, re.M)
    assert timing, proc.stdout
    assert re.match(
        r"读取 [\d.]+ 秒，校验 [\d.]+ 秒，事实 [\d.]+ 秒，检查 [\d.]+ 秒，导出 [\d.]+ 秒，页面 [\d.]+ 秒；合计", timing.group(1)
    )
    assert not re.search(r"[A-Za-z]", timing.group(1).split("；报告目录大小")[0])  # no English step names


def test_the_outputs_listed_are_the_folders_and_the_path_is_printed_once(
    terminal_run: tuple[subprocess.CompletedProcess[str], Path],
):
    """Before: the list left out findings.xlsx (and most of the run's outputs); the folder was printed twice."""
    proc, out = terminal_run
    assert proc.stdout.count(str(out)) == 1, proc.stdout
    listed = proc.stdout[proc.stdout.index(f"输出目录：{out}") :]
    flat = re.sub(r"\s|│", "", listed)  # a long list wraps inside its cell
    entries = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert "findings.xlsx" in flat and "index.html" in flat
    # both branches of the generated world have nothing to fix and no data missing: no notices
    assert not (out / "notices").exists() and "notices/" not in flat
    assert "通知书：未生成（2个支部没有需要整改的问题、数据齐全，不发通知）" in re.sub(r"\s", "", proc.stdout)
    for path in entries:
        if path.suffix != ".parquet":
            assert path.name + ("/" if path.is_dir() else "") in flat, path.name
    parquet = sum(p.suffix == ".parquet" for p in entries)
    assert f"Parquet副本（{parquet}个" in flat


def test_the_branch_table_shows_counts_by_severity_and_names_whole(terminal_run: tuple[subprocess.CompletedProcess[str], Path]):
    """Before: 各支部问题数 showed 通过/未通过 per dimension, and names were cut at 80 columns (`鑫源科 …`)."""
    import polars as pl
    from rich.cells import cell_len

    proc, out = terminal_run
    assert "各支部问题数（按级别）与评定" in proc.stdout and "…" not in proc.stdout
    tables = [line for line in proc.stdout.splitlines() if line and line[0] in "┏┃┡│└"]
    assert tables and max(cell_len(line) for line in tables) <= 80  # tables wrap to the terminal, nothing cropped
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in tables)  # every row keeps its right border
    header = next(line for line in proc.stdout.splitlines() if "支部编号" in line and "严重" in line)
    assert re.search(r"严重\s*┃\s*错误\s*┃\s*提示", header), header
    scorecard = pl.read_parquet(out / "scorecard.parquet")
    for row in scorecard.iter_rows(named=True):
        assert row["branch_name"] in proc.stdout  # on one line, whole
        line = next(line for line in proc.stdout.splitlines() if f"│ {row['branch_id']} " in line)
        cells = [c.strip() for c in line.split("│")[1:-1]]
        assert cells[:5] == [row["branch_id"], row["branch_name"], str(row["critical"]), str(row["errors"]), str(row["warnings"])]
        assert cells[-1] == row["rating"]


def test_a_wrong_quarter_or_branch_is_refused_once_the_batch_is_read_before_validation(world_batch: Path, tmp_path: Path):
    """The run reads the batch, checks --quarter and --branch against its months and branch list,
    and stops there (no validation, no page workers); nothing of a progress bar stays above the
    message. Before: the whole batch was validated first, and `━ 0/?` stayed on screen."""
    from audit.errors import AuditError
    from audit.periods import Quarter
    from audit.report import run_report

    class Steps:
        def __init__(self) -> None:
            self.begun: list[str] = []

        def begin(self, step: str) -> None:
            self.begun.append(step)

        def advance(self, step: str, done: int, total: int, detail: str) -> None:
            pass

        def end(self, step: str, seconds: float) -> None:
            pass

    for quarter, branches, message in (
        ("2021Q1", None, "2021Q1 不在数据范围内（数据覆盖 2018-07 至 2019-12）"),
        ("2019Q1", ["XH99"], "数据中没有支部「XH99」（可选：XH01 联兴集团党支部、"),
    ):
        steps = Steps()
        with pytest.raises(AuditError) as refused:
            run_report(world_batch, Quarter.parse(quarter), tmp_path / "out", jobs=1, branches=branches, progress=steps)
        assert str(refused.value).startswith(message)
        assert steps.begun == ["read"]
        assert not (tmp_path / "out").exists()
        args = ["run", str(world_batch), "--quarter", quarter, "--out", str(tmp_path / "out")]
        proc = run(*args, *(["--branch", branches[0]] if branches else []))
        assert proc.returncode == 2 and proc.stderr.startswith(f"错误 {message}"), proc.stderr
        assert "━" not in proc.stdout + proc.stderr and "0/?" not in proc.stdout


def test_the_ingest_summary_shows_rows_derived(batch: Path, tmp_path: Path):
    """A branch created from a reference is a row the branch list gained from the roster: the
    summary's 派生 column shows it (ingest_report.csv's rows_derived), as the report counts it."""
    write_csv(
        batch / "党员名册_补充.csv", [MEMBERS[0], ["M009", "赵敏", "", "B09", "正式党员", "2010-07-01", "在职", "5000", ""]]
    )
    out = tmp_path / "out"
    proc = run("ingest", str(batch), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    report = pl.read_csv(out / "ingest_report.csv")
    derived = report.filter(pl.col("rows_derived") > 0)
    assert derived.height == 1 and derived["file"][0] == "党员名册_补充.csv"
    header = next(line for line in proc.stdout.splitlines() if "┃ 文件数" in line)
    assert header.split("┃")[-2].strip() == "派生", header
    members = next(line for line in proc.stdout.splitlines() if "党员名册（members）" in line)
    assert [c.strip() for c in members.split("│")[1:-1]][-1] == str(derived["rows_derived"][0]), members
    assert "派生：" in proc.stdout


def test_help_names_where_limits_are_listed_and_what_fail_on_takes():
    """Before: --limit said "名称和默认值见 README" (they are in docs/data-dictionary.md), --fail-on
    of `run` did not list its values, and `audit --help` / `validate` said "GX Data Docs"."""

    def flat(text: str) -> str:
        return re.sub(r"[\s│]+", "", text)

    said = flat(run("run", "--help").stdout)
    assert "docs/data-dictionary.md" in said and "见README" not in said
    assert "warning（提示）、error（错误）或critical（严重）" in said
    for args in (("--help",), ("validate", "--help")):
        shown = run(*args).stdout
        assert "Data Docs" not in shown and "数据校验明细（技术）" in flat(shown)


def test_a_refused_run_says_only_the_error(batch: Path, tmp_path: Path):
    """Before: "随机抽查种子：2019" and a blank line on stdout above every 错误 (a missing folder, a
    quarter outside the data): the seed is said once the run went through."""
    for args in ((str(tmp_path / "不存在"), "--quarter", "2019Q1"), (str(batch), "--quarter", "2021Q1")):
        proc = run("run", *args, "--out", str(tmp_path / "out"))
        assert proc.returncode == 2 and proc.stderr.startswith("错误 "), proc.stderr
        assert proc.stdout == "", proc.stdout


def test_the_data_problems_not_listed_are_said_to_be_in_quarantine_csv(batch: Path, tmp_path: Path):
    """Before: `数据问题 13 条（前 10 条）` and nothing said where the other 3 were."""
    from conftest import DUES

    bad = [[f"M00{1 + i % 3}", f"2019-{1 + i % 12:02d}", "10", f"-{i + 1}", "2019-01-05"] for i in range(13)]
    write_csv(batch / "dues.csv", [*DUES, *bad])
    out = tmp_path / "out"
    proc = run("ingest", str(batch), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    quarantined = pl.read_csv(out / "quarantine.csv").filter(pl.col("action") == "整行隔离")
    assert quarantined.height == 13
    flat = re.sub(r"\s", "", proc.stdout)
    assert "数据问题13条（下列前10条，其余3条见quarantine.csv）：" in flat, proc.stdout
    assert flat.count("（整行隔离）") == 10
    write_csv(batch / "dues.csv", [*DUES, *bad[:2]])
    proc = run("ingest", str(batch), "--out", str(tmp_path / "few"))
    assert "数据问题2条（均已记入quarantine.csv）：" in re.sub(r"\s", "", proc.stdout), proc.stdout


def test_a_large_batch_lists_only_the_branches_to_look_at():
    """A district's 1,000 branches printed a 1,000-row table (over a thousand lines, a second to
    draw): beyond BRANCHES_LISTED branches the terminal lists those with a finding or without the
    best rating, and counts the rest in one line; a sub-district still sees every branch."""
    from audit.cli import BRANCHES_LISTED, _listed_branches
    from audit.standard import load_standard

    standard = load_standard()
    best, fail = standard.rating["best"], standard.rating["fail"]

    def card(n: int, failing: set[int]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "branch_id": [f"D{i:05d}" for i in range(n)],
                "critical": [0] * n,
                "errors": [1 if i in failing else 0 for i in range(n)],
                "warnings": [0] * n,
                "rating": [fail if i in failing else best for i in range(n)],
            }
        )

    small = card(BRANCHES_LISTED, {3})
    assert _listed_branches(small, standard) == (small, 0)
    listed, left = _listed_branches(card(1000, {5, 700, 42}), standard)
    assert listed["branch_id"].to_list() == ["D00005", "D00042", "D00700"] and left == 997
