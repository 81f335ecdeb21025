"""Limits that keep a hostile or broken export from exhausting memory or time.

Each limit is checked before the step it protects: the file size before reading, the zip
directory of a workbook before anything is inflated, one streaming pass over each part of a
workbook (or over the records of a binary .xls/.xlsb) before calamine builds a sheet, a line
count and the first line's column count before a CSV is decoded. A file over a limit is refused (the rest of the batch still loads) with a message
naming the limit, the value found and the option that raises it: ``--limit rows=5000000``.
The defaults are far above any real export yet keep one file within a few GB: the synthetic
district of `audit synth --branches 1000 --members 30000` (18 months) has at most 1,801,533 rows
and 7,206,132 cells in a sheet (404 MB of XML), 484 MB in a workbook once inflated (13:1) and
37 MB in a file; a CSV at the rows and cells defaults (4 million rows of 5 cells) ingests in about
a minute with a 3.7 GB peak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Limits:
    """What one file of a batch may hold; a reviewer raises a limit with ``--limit name=value``."""

    size: int = 500_000_000  # bytes of one file on disk
    unzipped: int = 2_000_000_000  # bytes of a workbook once inflated (all its parts)
    ratio: int = 200  # inflated / compressed size of any workbook part over RATIO_GRACE bytes
    parts: int = 10_000  # parts (zip entries) of a workbook
    rows: int = 4_000_000  # rows of one CSV file or sheet
    cells: int = 20_000_000  # cells of one CSV file or sheet (shared strings count as cells)
    columns: int = 16_384  # cells of one row (Excel's own maximum)
    field: int = 1_000_000  # characters of one CSV field; bytes of one text run in a workbook

    @classmethod
    def parse(cls, options: Iterable[str]) -> Limits:
        """Limits from ``name=value`` options (``rows=5000000``, ``size=2G``); ValueError in Chinese."""
        limits = cls()
        for option in options:
            name, sep, value = option.partition("=")
            name = name.strip().lower()
            if not sep or name not in LABELS:
                raise ValueError(f"--limit 应写成 名称=数值，名称为 {'、'.join(LABELS)} 之一，不是「{option}」")
            limits = replace(limits, **{name: parse_number(value, name)})
        return limits

    def as_dict(self) -> dict[str, int]:
        """The limits by name, as a manifest records them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Parts smaller than this are never refused for their compression ratio: inflating them is harmless.
RATIO_GRACE = 1_000_000

LABELS = {
    "size": "单个文件的大小（字节）",
    "unzipped": "工作簿解压后的总大小（字节）",
    "ratio": f"工作簿中超过 {RATIO_GRACE:,} 字节的部件的解压/压缩比",
    "parts": "工作簿中的部件（压缩包条目）数",
    "rows": "单个 CSV 文件或工作表的行数",
    "cells": "单个 CSV 文件或工作表的单元格数（工作簿的共享字符串也计入）",
    "columns": "单行的单元格数",
    "field": "单个单元格的长度（CSV、.xls、.xlsb、网页表格按字符计，.xlsx、.ods 按 XML 字节计）",
}

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
_NUMBER = re.compile(r"(\d+)([kmg]?)b?")


def parse_number(text: str, name: str) -> int:
    """A positive whole number, with optional `_`/`,` separators and a K/M/G suffix (powers of 1000)."""
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    match = _NUMBER.fullmatch(cleaned)
    value = int(match.group(1)) * _SUFFIXES[match.group(2)] if match else 0
    if value < 1:
        raise ValueError(f"--limit {name}= 后应是正整数（可带 K/M/G），不是「{text}」")
    return value


def describe(limits: Limits | None = None) -> str:
    """A markdown table of the limits and their values, for the data dictionary."""
    limits = limits or Limits()
    lines = ["| 限制 | 含义 | 默认值 |", "|---|---|---|"]
    for field in fields(Limits):
        lines.append(f"| `{field.name}` | {LABELS[field.name]} | {getattr(limits, field.name):,} |")
    return "\n".join(lines)


def dictionary_section() -> str:
    """The data dictionary's section on the limits: what is refused, the defaults, how to raise them."""
    return f"""
## 文件的读取限制

损坏或恶意构造的文件（压缩炸弹、声明了上百万行的空表、几百万列的表头）会耗尽内存或时间，
因此每个文件在展开压缩包、解析工作表或解码 CSV 之前先按下表检查。超过任一限制的文件（或工作表）
不导入，隔离清单和屏幕上写明超过了哪个限制、实际值和放宽的方法；批次中的其他文件照常导入。
默认值远高于真实导出：1,000 个支部、30,000 名党员、18 个月的模拟区县数据中，最大的工作表有
1,801,533 行、7,206,132 个单元格，最大的工作簿解压后 484 MB（压缩比 13:1），最大的文件 37 MB。
确属正常的大文件可以放宽：`audit ingest`、`validate`、`run`、`sample` 都接受
`--limit 名称=数值`（可重复，数值可带 K/M/G，如 `--limit rows=8000000 --limit size=2G`）。

{describe()}

工作表读取时不采用文件自己声明的范围（`<dimension>`），按实际存在的单元格计：行数按最大行号计
（中间的空行也要读取），列数按最右一个单元格计，单元格数按从第 1 行、第 A 列到最后一行、最右一列的整块
区域计（工作簿就是这样整块读入的）；`.xls` 和 `.ods` 打开时会一次读入所有工作表，所以各工作表的单元格数合计。
`.xlsx` 中只有零星几个单元格却分布极广的工作表（如一个单元格在 XFD1048576）按实际存在的单元格逐个读取。
符号链接、命名管道、套接字和设备文件不会被打开，列为跳过的文件。
"""
