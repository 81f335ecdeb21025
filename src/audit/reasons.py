"""Reason codes for everything ingestion refuses, each with its Chinese message template.

Codes are an Enum (not free strings) so tests and later stages can match on them; the message a
user reads is rendered from the template with the offending value and context.
"""

from __future__ import annotations

from enum import Enum


class Reason(Enum):
    # value level
    REQUIRED_BLANK = "必填项「{label}」为空"
    UNKNOWN_ENUM = "未知的{label}「{value}」（可选：{allowed}）"
    BAD_DATE = "日期无效「{value}」"
    UNPARSED_DATE = "无法识别的日期「{value}」"
    BAD_MONTH = "月份无效「{value}」"
    UNPARSED_MONTH = "无法识别的月份「{value}」"
    NOT_A_NUMBER = "不是有效数字「{value}」"
    NOT_AN_INTEGER = "不是整数「{value}」"
    NEGATIVE_AMOUNT = "金额为负「{value}」"
    BELOW_MIN = "{label}小于 {min}「{value}」"
    ABOVE_MAX = "{label}大于 {max}「{value}」"
    BAD_YESNO = "无法识别的是/否值「{value}」（可用：是/否、有/无、Y/N、1/0、√/×、true/false）"
    TOO_LONG = "内容过长（{length} 个字符，上限 {limit}）"
    FORMULA_NO_VALUE = "单元格是公式且没有计算结果「{value}」，请在 Excel/WPS 中打开并另存后再导出"
    ID_MANGLED = "身份证号被 Excel 转成了科学计数法「{value}」，无法恢复，请从原系统重新导出"
    ID_LOST_CHECK = "身份证号只有 17 位「{value}」，末位（可能是 X）已丢失，无法恢复"
    ID_BAD_LENGTH = "身份证号位数不对（{length} 位）「{value}」"
    ID_BAD_CHECKSUM = "身份证号校验位不符「{value}」"
    ID_BAD_BIRTH = "身份证号中的出生日期无效「{value}」"
    ID_OLD_15 = "15 位旧身份证号「{value}」，请更新为 18 位"
    PERSONAL_NUMBER = "不是有效数字：内容像身份证号或手机号「{value}」"
    BAD_KEY = "{label}「{value}」不能作为编号使用：{why}"
    AMBIGUOUS_MONTH = "「{value}」无法确定是 1 月还是 10 月（Excel 把 2005.10 存成 2005.1），请写成 2005-10 或 2005年10月"
    NOT_A_RATE = "无法识别的比例「{value}」（可用：1%、0.5%、5‰、0.01）"
    # rows that are not data: listed with action 跳过（非数据行）, never counted as data problems
    SKIP_INSTRUCTION = "模板填写说明行「{value}」，不是数据，已跳过"
    SKIP_FOOTER = "表尾合计或签字行「{value}」，不是数据，已跳过"
    SKIP_NOTES = "注意事项或说明「{value}」，不是数据，已跳过"
    SKIP_MERGED = "跨列合并单元格 {cells}「{value}」（说明或分组标题），不是数据，已跳过"
    # between tables: the transfer register against the roster
    TRANSFER_CONFLICT = (
        "组织关系转接登记的{direction}办理时间 {register} 与党员名册的{label} {roster}（{where}）不一致，以党员名册为准"
    )
    # row level
    RAGGED_ROW = "本行比表头多出 {extra} 个非空单元格"
    # row level: layouts (audit.layouts) — a year or month range the sheet does not make clear
    YEAR_NOT_FOUND = (
        "找不到年份：表中没有年度列，标题行、工作表名和文件名中也没有年份；请在映射文件中写"
        ' fixed: [{{file: "{file}", values: {{year: 四位年份}}}}]，并加 --mapping 映射文件 重新运行'
    )
    BAD_YEAR = "{label}「{value}」不是有效年份，无法确定所属月份"
    BAD_RANGE = "无法识别的起止月份「{value}」（可用：2019.01-2019.06、2019年1月至6月、201901-201906）"
    RANGE_REVERSED = "起止月份「{value}」的截止月份早于起始月份"
    RANGE_TOO_LONG = "起止月份「{value}」跨 {months} 个月，超过上限 {limit} 个月"
    DUPLICATE = "重复记录（与 {first} 重复，键：{key}）"
    DANGLING_REF = "引用了不存在的{label} {value}"
    REF_QUARANTINED = "引用的{label} {value} 所在行已被隔离（见该行的数据问题）"
    # between tables: identities (audit.identity) — members and branches without our ids
    MEMBER_NAME_KEY = (
        "本表 {count} 名{who}没有{ids}，按所在支部和姓名识别（{rows}）；同一支部中同名的将无法区分，请尽量补充学工号或身份证号"
    )
    MEMBER_NAME_LINK = (
        "本表 {count} 行的{label}只有姓名，按姓名{scope}对应到党员名册（{rows}）；请尽量补充党员编号、学工号或身份证号"
    )
    MEMBER_HOMONYM = "支部 {branch} 有 {count} 名{who}都叫「{value}」（{where}），且都没有{ids}，无法区分"
    MEMBER_AMBIGUOUS = "{kind}「{value}」{scope}对应 {count} 名党员：{keys}，无法确定是哪一位；请补充能区分的编号"
    MEMBER_KEY_COLLISION = (
        "本行按{kind}「{value}」得到的编号与 {where} 按{other_kind}得到的编号相同，两人无法区分；请为本行补写党员编号"
    )
    MEMBER_NO_SHARED_KEY = "本行的{have}在党员名册中都没有对应的列（名册有：{roster}），无法确定是哪名党员"
    BRANCH_CREATED = "支部信息中没有{what}，已按其他表中的引用新建该支部（键 {key}；首次出现在 {where}，共 {rows} 行引用）"
    BRANCH_AMBIGUOUS = "支部名称「{value}」同时对应 {keys}，无法确定是哪个支部；请在映射文件 branches 中写明它对应的支部编号"
    BRANCH_UNRESOLVED = (
        "支部名称「{value}」与 {keys} 相近，但不能确定是同一支部，未猜测；请在映射文件 branches 中写明它对应的支部编号"
    )
    BRANCH_NAME_CONFLICT = "支部名称「{value}」对应两个不同的支部编号：{codes}（{where}）；本行按所写编号 {code} 读取，请核实"
    # between tables: meetings without ids and attendance from names (audit.meetings), offices (audit.offices)
    MEETING_ID_DERIVED = (
        "本表 {count} 条会议没有活动编号，已按支部、活动类型、活动日期和主题生成编号{example}{matched}（{rows}）；"
        "同一次会议在两份文件中的记录得到同一编号，按重复记录处理"
    )
    MEETING_NOT_FOUND = "本行没有活动编号，按 {parts} 找不到对应的会议"
    MEETING_AMBIGUOUS = (
        "本行没有活动编号，按 {parts} 对应 {count} 条会议：{ids}，无法确定是哪一次；请补充活动编号、活动类型或主题"
    )
    ABSENTEE_UNMATCHED = "{status}人员「{value}」在支部 {branch} 的党员名册中找不到，未计入出勤"
    ABSENTEE_AMBIGUOUS = "{status}人员「{value}」在支部 {branch} 对应 {count} 名党员：{keys}，无法确定是哪一位，未计入出勤"
    OFFICE_AMBIGUOUS = "{source}中支部 {branch} 有 {count} 名{office}：{keys}，无法确定是哪一位，未采用"
    OFFICE_CONFLICT = "{source}中支部 {branch} 的{office}是 {found}，与{chosen_source}中的 {chosen} 不一致；以{chosen_source}为准"
    TERM_UNPARSED = "无法识别的任职起止「{value}」（可用：2017.03-2020.03、2017年3月至今），未用于确定现任委员"
    # file level
    FILE_BROKEN_XLSX = "工作簿已损坏或不完整，无法打开（{detail}）"
    FILE_ENCRYPTED = (
        "工作簿设置了打开密码（已加密），无法读取；请在 Excel/WPS 中打开，取消打开密码"
        "（Excel：文件 → 信息 → 保护工作簿 → 用密码进行加密，清空密码；WPS：文件 → 文档加密）后另存，再放回批次文件夹"
    )
    FILE_NOT_SPREADSHEET = "扩展名是表格文件，但内容不是可读取的表格（{detail}）；请在 Excel/WPS 中打开后另存为 .xlsx"
    FILE_UNREADABLE = "无法读取文件（{detail}）"
    FILE_BINARY = "文件不是文本表格（含有二进制内容），请确认导出格式"
    FILE_UNDECODABLE = "无法识别文件编码（支持 UTF-8、UTF-8 BOM、GB18030/GBK、带 BOM 的 UTF-16）"
    FILE_EMPTY = "文件为空"
    FILE_NO_HEADER = "未找到表头：前 {scan} 行中没有一行包含至少一半的必填列（{required}）"
    FILE_MISSING_COLUMN = "缺少必填列「{label}」（{column}），本表 {rows} 行均未导入{hint}"
    FILE_DUPLICATE_HEADER = "表头重复：「{first}」与「{second}」都对应「{label}」（{column}），本表 {rows} 行均未导入"
    FILE_NO_ROWS = "只有表头，没有数据行"
    # file level: over a limit of audit.limits (the value found, the limit, and how to raise it)
    FILE_TOO_LARGE = "文件大小 {found} 字节，超过上限 {limit} 字节；如确属正常导出，可加参数 --limit size=更大的值 重新运行"
    FILE_TOO_MANY_PARTS = (
        "工作簿有 {found} 个部件，超过上限 {limit} 个，未打开；如确属正常导出，可加参数 --limit parts=更大的值 重新运行"
    )
    FILE_UNZIPPED_TOO_LARGE = (
        "工作簿解压后共 {found} 字节，超过上限 {limit} 字节，未解压；如确属正常导出，可加参数 --limit unzipped=更大的值 重新运行"
    )
    FILE_ZIP_RATIO = (
        "工作簿中有部件解压后是压缩时的 {found} 倍，超过上限 {limit} 倍（疑似压缩炸弹），未解压；"
        "如确属正常导出，可加参数 --limit ratio=更大的值 重新运行"
    )
    FILE_TOO_MANY_ROWS = "行数 {found}，超过上限 {limit}；如确属正常导出，可加参数 --limit rows=更大的值 重新运行"
    FILE_TOO_MANY_CELLS = "单元格数 {found}，超过上限 {limit}；如确属正常导出，可加参数 --limit cells=更大的值 重新运行"
    FILE_TOO_MANY_COLUMNS = "{where}有 {found} 列，超过上限 {limit}；如确属正常导出，可加参数 --limit columns=更大的值 重新运行"
    FILE_FIELD_TOO_LONG = (
        "{where}有单元格长度超过上限 {limit}（{unit}）；如确属正常导出，可加参数 --limit field=更大的值 重新运行"
    )

    def render(self, **context: object) -> str:
        return self.value.format(**context)

    @property
    def is_file_level(self) -> bool:
        return self.name.startswith("FILE_")


class Action(Enum):
    """What ingestion did about a problem; written beside each quarantine entry."""

    ROW = "整行隔离"
    VALUE = "该值置空，行保留"
    NOTE = "仅提示，行保留"
    SKIP = "跳过（非数据行）"
    FILE = "整个文件或工作表未导入"
