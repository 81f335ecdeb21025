"""The `audit` command as a user runs it: exit codes, messages, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

from conftest import write_csv

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
    write_csv(batch / "dues.csv", [["党员编号", "所属月份", "实交金额"], ["M001", "2019-01", "5"]])
    (batch / "members.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 64)
    proc = run("ingest", str(batch), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "dues.csv" in proc.stderr and "缺少必填列「应交金额」" in proc.stderr
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
