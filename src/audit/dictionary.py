"""The data dictionary reviewers read (docs/data-dictionary.md), rendered from contract.yaml."""

from __future__ import annotations

from audit.contract import load_contract
from audit.dues import DERIVED_FROM
from audit.limits import dictionary_section

TYPE_NAMES = {
    "text": "文本",
    "enum": "枚举",
    "date": "日期",
    "month": "月份",
    "number": "数字",
    "integer": "整数",
    "rate": "比例",
    "yesno": "是/否",
    "id_number": "身份证号（校验并脱敏）",
    "phone": "电话（脱敏）",
}

INTRO = """# 数据字典（导出约定）

本文件由 `audit docs` 根据 `src/audit/contract.yaml` 生成，请勿手工修改。

一个**数据批次**是一个文件夹：每张表一个文件，或一个工作簿里每张表一个工作表，也可以混合。
支持 `.csv`（UTF-8、带 BOM 的 UTF-8、GB18030/GBK、带 BOM 的 UTF-16）和工作簿 `.xlsx`、`.xlsm`、`.xls`、`.xlsb`、`.ods`、
WPS 的 `.et`；按文件内容而不是扩展名判断格式，所以系统导出的“`.xls`”实为网页表格（HTML）、Excel 2003 XML 表格或
制表符分隔文本的也能读取。设置了打开密码的工作簿无法读取，会提示取消密码后另存。
表由文件名或工作表名识别（中文或英文名，可带前后缀，如 `联兴集团党支部_党费收缴_2019.csv`）；
工作表名优先于文件名。表头所在行是前 30 行中第一行包含至少一半必填列的行，其上方的标题行会被跳过。
表头可带空格、换行、全角字符、必填标记 `*`（`*姓名`、`姓名*`），以及任何括号中的单位或说明（`实交金额（元）`、
`月收入基数（元/月）`、`金额（单位：元）`、`应到人数（人）`、`时长（分钟）`、`党籍状态（正式党员或预备党员）`）和
`单位：元` 这类后缀：先按原样匹配下表的中文表头，不中再去掉这些后匹配（列对应表中记为 `去掉单位后匹配`）。
下表每列列出所有可识别的表头写法。有的表头在不同系统中指不同的东西：`人员类别` 的取值是正式党员、预备党员时
（至少八成非空取值可识别，且没有 `党籍状态` 等表头已对应党员类别）读作党员类别，否则读作编制类别（普通编制、
校聘、合同制），列对应表中记为 `按取值判定（…）` 并写明理由。表中标“仅记录”的列会识别、按类型读取并保留，
但不参与任何审核规则（如计划会议时间不是召开日期，列席人员不计入出勤）。`序号` 列不读；不认识的表头作为
附加列原样保留（文本）。

取值格式：
- 日期：`2018-11-09`、`2018/11/9`、`2018.11.9`、`2018年11月9日`、`20181109`、Excel 日期单元格和序列号；
  带时刻的（`2019/2/3  14:30`、`2019-02-03T14:30:00`、`2019年2月3日 14时30分`、带小数的 Excel 序列号）取其日期；
- 入党、转正、出生、转入转出等党员经历日期（下表注明“可只写到月”的列）还可只写到月：`2005.07`、`2005-07`、
  `2005年7月`、`200507`，读作该月 1 日，并在同一行的 `<列名>_precision` 列记 `month`（写到日的为空），
  需要具体日期的规则据此说明无法判断，而不是猜测；数字单元格 `2005.1` 分不清 1 月还是 10 月，不予读取；
- 月份：`2018-11`、`2018/11`、`2018年11月`、`201811`，或该月中的任一日期；
- 数字：可带 `元`、千位分隔符、全角数字、前后空格；
- 比例：`1%`、`0.5%`、`5‰`，或小于 1 的小数（`0.01`，Excel 百分比单元格）；读作小数（`1%` 为 0.01）；
- 是/否：`是/否`、`有/无`、`Y/N`、`1/0`、`√/×`、`true/false`；
- 空白：`无`、`暂无`、`—`、`——`、`-`、`/`、`／` 视同空白（是/否列中的 `无` 仍是“否”）；可选列留空，必填列按空白处理；
- 党员类别：`正式党员`/`预备党员`，也可写 `正式`/`预备`、`正`/`预`（如表头 `预/正`、`党籍状态`）；
- 文本：去除首尾空格，全角英文数字转半角，连续空格合并为一个。

身份证号和电话是个人信息：导入时即校验并脱敏（如 `371402********123X`），任何输出中都不会出现完整号码。
被 Excel 转成科学计数法（`3.70102E+17`）或丢失末位 `X` 的身份证号无法恢复，会在数据问题中列出。

**没有党员编号、支部编号的导出**（详见 [`identity.md`](identity.md)）：下表中注明“可由 … 代替”的列，表中没有或某行为空时，
可由同表的其他列识别同一党员或支部。党员以党员编号、学工号（学号、工号、工作证号、人员编号）、身份证号、所在支部+姓名中
最先有的一项为键（只有身份证号时，键是用本机密钥计算的假名 `ID-…`，显示为脱敏号码）；其他表的行按它与党员名册
共有的第一种标识关联，只凭姓名关联的记一条提示，同一支部同名的不猜测、整行隔离。支部以编号为键，没有编号时按
规范化的名称（全半角、空格、`中共` 前缀、`支部委员会`/`党支部`/`支部` 结尾、上级党组织名称前缀都不影响）识别；
不能确定的名称整行隔离，由映射文件 `branches` 指定；支部信息中没有的支部按引用新建并提示。

每个输入行要么导入，要么连同原因进入隔离清单（`quarantine.csv`），要么作为非数据行跳过，不会被悄悄丢弃。

**非数据行**：表头下方、数据中间或末尾的下列各行不是记录，跳过并计入导入报告的 `rows_skipped`
（`rows_read = rows_accepted + rows_quarantined + rows_skipped`，按来源行计），每行也列入 `quarantine.csv`，
处理方式为 `跳过（非数据行）`，原因代码如下；它们不算数据问题：
- `SKIP_INSTRUCTION` 模板填写说明行：多数非空单元格是 `必填…`、`选填`、`非必填`、`请…填写`、`请选择`、
  `下拉选择`、`格式：…`、`例如…` 这类说明（如 `必填 | 必填，与系统内保持一致 | 预备党员或正式党员 | 选填`）；
- `SKIP_FOOTER` 表尾：第一个非空单元格是 `合计`、`总计`、`小计`、`共计`、`累计`，或 `制表人：`、`审核人：`、
  `填表人：`、`填表日期：`、`制表日期：`、`负责人：`、`经办人：`、`联系人：`、`盖章：` 等；
- `SKIP_NOTES` 注意事项：第一个非空单元格以 `注意事项`、`填写注意事项`、`注意`、`导入说明`、`填写说明`、
  `填表说明`、`说明`、`备注`、`温馨提示`、`提示` 开头（后跟冒号、编号或单独成格），以及紧随其后只有一个文字单元格的各行
  （`1. 党员编号须与系统一致`）；
- `SKIP_MERGED` 跨列合并单元格：一行中只有一个合并单元格、且它横跨表格至少一半的列（如 `C6:L19` 的说明块、
  分组标题），无论在数据上方、中间还是下方。
"""


LAYOUTS = """
## 表格布局（宽表、起止月份、表外的年份）

- **宽表**（党费收缴、党员积分）：每人一行、每月一列（表头如 `1月` … `12月`、`01月`、`1月份`、`一月`、
  `2019年1月`、`2019.01`，可带单位，至少两个不同月份）读成每人每月一行：党费的月份单元格是该月实交金额
  （空白即未交，记 0），积分的是当月积分。党费宽表没有应交金额列时，月份列之外的实交金额列（如
  `缴费金额（元）`）视为每月应交金额；表头带 合计、总计、小计、全年、累计、总额、年度 的这类列，以及积分宽表
  中的 `合计` 列，不读（列对应表中为 `未使用`）。同一月份出现两次的表不按宽表读。
- **年份**：宽表的年份依次取自年度列（`缴费年度`、`年度`、`年份`…，逐行；空白时用下面的年份）、映射文件
  `fixed` 中的 `year`、表头上方的标题行、工作表名、文件名；一段文字中只有一个年份才算（`2018年7月至2019年6月`
  不算）。表头自带年份的月份列（`2019年1月`）不需要别的年份。`column_map.csv` 记录年份取自哪里：`年份列`、
  `固定值（映射文件）`、`取自标题`、`取自工作表名` 或 `取自文件名`。哪里都没有时，每一行都隔离
  （`YEAR_NOT_FOUND`），原因中写明映射文件的写法。
- **起止月份**（党费收缴）：`缴费起止月份`（或 `起止月份`、`缴费期间`…）单元格如 `2019.01-2019.06`、
  `2019年1月至6月`、`201901-201906`、`2019.01~2019.06`、`2019.03`（一个月），或 `缴费起始月份` /
  `缴费截止月份` 两列（日期单元格也可；截止月份空白即只有起始月份），读成每月一行；没写年份的月份（`11月-12月`）
  同样按上面的顺序取年份。金额：表头写明按月的（`月缴党费`、`每月…`、`按月…`）每月照录；其余的应交、实交金额
  视为整段的合计，**按月平均分摊**到分（除不尽的分从第一个月起各加 1 分，各月相加仍等于合计），列对应表中注明
  `（按月均分）`。无法识别、截止月份早于起始月份或超过 240 个月的，整行隔离。
- **民主评议**没有年度列时，年度取自映射文件、标题行、工作表名或文件名（如 `2019年度民主评议结果.xlsx`），
  找不到时同样整行隔离并说明映射文件的写法。
- 一个来源行读成多行时，导入报告和隔离清单仍按来源行（Excel/WPS 中的行号）计：其中任何一行被隔离，整个来源行
  隔离，其余各行也不导入，不会只导入半行。
"""


def _mapping_section() -> str:
    from audit.mapping import MAPPING_EXAMPLE

    return f"""
## 审核人员的映射文件（`--mapping`）

导出文件的表名、表头或取值工具不认识时，审核人员可以写一个 YAML 映射文件，用 `--mapping 文件` 交给
`audit inspect`、`ingest`、`validate` 和 `run`（工具只读取，从不修改它；`ingest_meta.json` 和
`manifest.json` 记录它的路径和 SHA-256）。五个部分都可省略：

- `tables`：文件名（和工作表名）模式对应的表。`file` 与批次中的路径、文件名或去掉扩展名的文件名比较，
  `sheet` 与工作表名比较（`*` 任意个字符，`?` 一个字符，不分大小写和全半角）；映射文件优先于文件名和工作表名。
  只写 `file` 的，工作簿按文件名识别的规则读（工作表名不对应任何表时读第一个非空工作表）。
- `headers`：每张表的表头别名：表头 → 列（英文列名、中文表头或已有别名）；写 `未使用` 则这一列不读。
  不能把另一列的标准表头改给别的列。
- `fixed`：某些文件（和工作表）每一行都取的值：列 → 值；表中有这一列时以表中为准。`year` 也用作宽表、
  起止月份和民主评议的年份。
- `values`：每张表中取值固定的列的取值别名：取值 → 标准取值。
- `branches`：工具不能确定的支部名称 → 支部编号（`audit inspect` 列出这些名称和可能的支部）。

表（英文名或中文名）、列、键、取值写错，或 YAML 格式有误，命令以退出码 2 停止并指出映射文件的行号，不读取任何
导出文件。`audit inspect` 显示每个文件用到了映射文件的哪一行，并在末尾给出还需要写入的内容。完整示例：

```yaml
{MAPPING_EXAMPLE}```
"""


def _derive_note(table, derive: dict) -> str:
    """How a sheet without the column gets its value, in the order ingestion tries."""
    steps = []
    if derive.get("headers"):
        steps.append("表头 " + "、".join(f"`{h}` 为{v}" for h, v in derive["headers"].items()))
    if derive.get("names"):
        steps.append("工作表名（其次文件名）含 " + "、".join(f"`{w}` 为{v}" for w, v in derive["names"].items()))
    if derive.get("from_column"):
        source = table.columns[derive["from_column"]]
        steps.append(f"逐行从「{source.label}」列的文字中读出（须恰好含一种取值）")
    if derive.get("default") is not None:
        steps.append(f"都没有时为{derive['default']}")
    return "没有本列时依次按：" + "；".join(steps)


def render_dictionary() -> str:
    contract = load_contract()
    parts = [INTRO, f"约定版本：{contract.version}\n"]
    for table in contract.tables.values():
        parts.append(f"\n## {table.title}（`{table.name}`）\n")
        parts.append(f"可识别的文件名/工作表名：{'、'.join(table.names)}、`{table.name}`  ")
        parts.append(f"唯一键：{' + '.join(table.columns[k].label for k in table.key)}\n")
        if table.doc:
            parts.append(f"{table.doc}\n")
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
            if column.month_precision:
                notes.append(f"可只写到月（记入 `{column.precision_column}`）")
            if column.aliases_if_values_fit:
                notes.append(f"表头 {'、'.join(column.aliases_if_values_fit)} 仅在取值相符时读作本列")
            if column.derive:
                notes.append(_derive_note(table, column.derive))
            if column.codes:
                notes.append("生成活动编号时的代码：" + "、".join(f"{v} `{c}`" for v, c in column.codes.items()))
            if column.stand_ins and not column.key_from:
                labels = "、".join(table.columns[c].label for c in column.stand_ins)
                notes.append(f"可由 {labels} 代替（见 identity.md）")
            if column.doc:
                notes.append(column.doc)
            used = [
                c.label
                for c in table.columns.values()
                if c.stand_ins and column.name in {**(c.identity or {}), **(c.key_from or {})}.values()
            ]
            if column.info and used:
                notes.append(f"不参与审核，用于识别{'、'.join(used)}")
            elif column.info and (table.name, column.name) in DERIVED_FROM:  # audit.dues
                notes.append("表中没有应交金额时，用于推算应交金额（见本表说明）")
            elif column.info:
                notes.append("仅记录（不参与审核）")
            headers = "、".join(dict.fromkeys([column.label, *column.aliases, *column.aliases_if_values_fit]))
            parts.append(
                f"| `{column.name}` | {headers} | {TYPE_NAMES[column.type]} | {'是' if column.required else ''} | {'；'.join(notes)} |"
            )
    parts.append(LAYOUTS)
    parts.append(_mapping_section())
    parts.append(dictionary_section())
    return "\n".join(parts) + "\n"
