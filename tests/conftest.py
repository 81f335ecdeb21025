"""Fixtures: small real export files written in every form the contract allows."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "raw" / "xinhua-2019"


def write_csv(path: Path, rows: Sequence[Sequence[Any]], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[Any]]], hidden: Sequence[str] = ()) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        if name in hidden:
            sheet.sheet_state = "hidden"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


BRANCHES = [
    ["支部编号", "支部名称", "上级党组织", "组织类别", "书记编号"],
    ["B01", "联兴集团党支部", "新华街道党工委", "两新组织", "M001"],
    ["B02", "运河社区党支部", "新华街道党工委", "社区", "M003"],
]
MEMBERS = [
    ["党员编号", "姓名", "身份证号", "所在支部编号", "党员类别", "入党日期", "工作状态", "月收入基数（元）", "联系电话"],
    ["M001", "张伟", "11010519491231002X", "B01", "正式党员", "2005-07-01", "在职", "6500", "13812345678"],
    ["M002", "李娜", "", "B01", "预备党员", "2018/11/9", "在职", "3000", ""],
    ["M003", "王强", "", "B02", "正式", "2001年7月1日", "离退休", "4800元", ""],
]
MEETINGS = [
    ["活动编号", "支部编号", "活动类型", "活动日期", "主题", "应到人数", "实到人数", "是否有会议记录"],
    ["HD1", "B01", "主题党日", "2019-01-15", "重温入党誓词", "2", "2", "是"],
    ["HD2", "B01", "支委会", "20190105", "研究工作", "1", "1", "有"],
    ["HD3", "B02", "党员大会", "2019.2.20", "", "1", "1", "Y"],
]
ATTENDANCE = [
    ["活动编号", "党员编号", "出勤情况"],
    ["HD1", "M001", "出席"],
    ["HD1", "M002", "请假"],
    ["HD2", "M001", "到会"],
    ["HD3", "M003", "参加"],
]
DUES = [
    ["党员编号", "所属月份", "应交金额", "实交金额(元)", "交纳日期"],
    ["M001", "2019-01", "97.5", "97.5元", "2019-01-05"],
    ["M002", "2019年1月", "15", "１５", "2019/1/6"],
    ["M003", "201901", "24", "", ""],
]


def ingest_at_once(batch: Path, outs: Sequence[Path], env: dict[str, str]) -> list[int]:
    """`audit ingest` of one batch into each of `outs`, every process started before any is
    waited for (two runs racing for the cache or the pseudonym secret); their exit codes, the
    errors of any that failed in the assertion message of the caller's check."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "audit.cli", "ingest", str(batch), "--out", str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    codes = [run.wait(timeout=300) for run in runs]
    for run, code in zip(runs, codes, strict=True):
        if code and run.stderr is not None:
            print(run.stderr.read())  # shown by pytest under the failing test
    return codes


def reference_suite(name: str, column: str, parameter: str) -> dict[str, Any]:
    """A one-expectation suite: `column`'s values are keys of the set the run holds under
    `parameter` (`audit.keysets`), as the record-quality suites state a reference."""
    from audit import keysets

    return {
        "name": name,
        "id": "00000000-0000-5000-8000-000000000001",
        "meta": {},
        "notes": None,
        "expectations": [
            {
                "id": "00000000-0000-5000-8000-000000000002",
                "type": keysets.KIND,
                "kwargs": {"column": column, "keys": {"$PARAMETER": parameter}},
                "meta": {"check": "引用", "message": "", "label": column},
            }
        ],
    }


def notebooks_failing_for(folder: Path, branch: str) -> Path:
    """A copy of the project's notebooks in `folder` whose branch page raises for `branch`: a run
    with it has one page that fails."""
    from audit.paths import NOTEBOOKS

    shutil.copytree(NOTEBOOKS, folder)
    source = folder / "branch_report.py"
    failing = f'charts = ds.branch_charts(branch_id)\nif branch_id == "{branch}":\n    raise ValueError("模拟的失败")'
    source.write_text(
        source.read_text(encoding="utf-8").replace("charts = ds.branch_charts(branch_id)", failing), encoding="utf-8"
    )
    return folder


@pytest.fixture(autouse=True, scope="session")
def ingest_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ingestion cache (`audit.cache`) of the whole test run, in its own folder (commands the
    tests start inherit it): never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("ingest-cache")
    os.environ["AUDIT_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    """A small valid batch: CSVs in three encodings and a two-sheet workbook."""
    folder = tmp_path / "batch"
    write_csv(folder / "支部信息.csv", BRANCHES, "gb18030")
    write_csv(folder / "联兴集团党支部_党员名册_2019.csv", MEMBERS, "utf-8-sig")
    write_xlsx(folder / "三会一课台账.xlsx", {"会议活动": [["新华街道三会一课台账"], *MEETINGS], "参会明细": ATTENDANCE})
    write_csv(folder / "dues.csv", DUES, "utf-8")
    return folder
