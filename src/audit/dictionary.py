"""The data dictionary reviewers read (docs/data-dictionary.md), rendered from contract.yaml."""

from __future__ import annotations

from audit.contract import load_contract
from audit.limits import dictionary_section

TYPE_NAMES = {
    "text": "文本",
    "enum": "枚举",
    "date": "日期",
    "month": "月份",
    "number": "数字",
    "integer": "整数",
    "yesno": "是/否",
    "id_number": "身份证号（校验并脱敏）",
    "phone": "电话（脱敏）",
}

INTRO = """# 数据字典（导出约定）

本文件由 `audit docs` 根据 `src/audit/contract.yaml` 生成，请勿手工修改。

一个**数据批次**是一个文件夹：每张表一个文件，或一个工作簿里每张表一个工作表，也可以混合。
支持 `.csv`（UTF-8、带 BOM 的 UTF-8、GB18030/GBK）和 `.xlsx`；旧版 `.xls` 会被拒绝并提示另存。
表由文件名或工作表名识别（中文或英文名，可带前后缀，如 `联兴集团党支部_党费收缴_2019.csv`）；
工作表名优先于文件名。表头所在行是前 30 行中第一行包含至少一半必填列的行，其上方的标题行会被跳过。
表头可带空格、全角字符或括号单位（`实交金额（元）`）。多出的列会保留。

取值格式：
- 日期：`2018-11-09`、`2018/11/9`、`2018.11.9`、`2018年11月9日`、`20181109`、Excel 日期单元格和序列号；
- 月份：`2018-11`、`2018/11`、`2018年11月`、`201811`，或该月中的任一日期；
- 数字：可带 `元`、千位分隔符、全角数字、前后空格；
- 是/否：`是/否`、`有/无`、`Y/N`、`1/0`、`√/×`、`true/false`；
- 文本：去除首尾空格，全角英文数字转半角，连续空格合并为一个。

身份证号和电话是个人信息：导入时即校验并脱敏（如 `371402********123X`），任何输出中都不会出现完整号码。
被 Excel 转成科学计数法（`3.70102E+17`）或丢失末位 `X` 的身份证号无法恢复，会在数据问题中列出。

每个输入行要么导入，要么连同原因进入隔离清单（`quarantine.csv`），不会被悄悄丢弃。
"""


def render_dictionary() -> str:
    contract = load_contract()
    parts = [INTRO, f"约定版本：{contract.version}\n"]
    for table in contract.tables.values():
        parts.append(f"\n## {table.title}（`{table.name}`）\n")
        parts.append(f"可识别的文件名/工作表名：{'、'.join(table.names)}、`{table.name}`  ")
        parts.append(f"唯一键：{' + '.join(table.columns[k].label for k in table.key)}\n")
        parts.append("| 列 | 中文表头 | 类型 | 必填 | 说明 |\n|---|---|---|---|---|")
        for column in table.columns.values():
            notes = []
            if column.values:
                notes.append(
                    "取值："
                    + "；".join(f"{v}" + (f"（{'、'.join(map(str, a))}）" if a else "") for v, a in column.values.items())
                )
            if column.ref:
                target_table, target_column = column.ref.split(".")
                notes.append(
                    f"引用 {contract.tables[target_table].title}.{contract.tables[target_table].columns[target_column].label}"
                )
            if column.min is not None:
                notes.append(f"不小于 {column.min:g}")
            if column.max is not None:
                notes.append(f"不大于 {column.max:g}")
            if column.blank_as_zero:
                notes.append("空白视为 0（未交）")
            headers = "、".join(dict.fromkeys([column.label, *column.aliases]))
            parts.append(
                f"| `{column.name}` | {headers} | {TYPE_NAMES[column.type]} | {'是' if column.required else ''} | {'；'.join(notes)} |"
            )
    parts.append(dictionary_section())
    return "\n".join(parts) + "\n"
