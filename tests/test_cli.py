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
