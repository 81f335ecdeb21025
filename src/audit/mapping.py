"""The reviewer's mapping file: what a reviewer tells the toolkit about exports it cannot recognise.

A small YAML file the reviewer owns (``--mapping FILE`` on ``inspect``, ``ingest``, ``validate`` and
``run``; read, never written). Five optional sections:

- ``tables``: file (and sheet) name patterns → the table they hold;
- ``headers``: per table, header spellings → canonical column (or ``未使用`` to leave one out);
- ``fixed``: per file (and sheet) pattern, values every row of that file takes (``year: 2019``);
- ``values``: per table and column, value spellings → canonical value (``支委会议: 支部委员会``);
- ``branches``: branch names the toolkit could not resolve by itself → the branch's key, its code
  (``联兴党支部: XH01``; see ``audit.identity`` and docs/identity.md).

Everything is checked against the contract when the file is read: an unknown section, key, table,
column or value is a ``MappingError`` naming the file and line, before any export is read.
``apply_mapping`` then returns a new frozen ``Contract`` with the header and value aliases added, so
ingestion uses the reviewer's spellings exactly like the built-in ones.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from audit.contract import Column, Contract, Table, normalize_header, strip_unit
from audit.errors import AuditError
from audit.readers import decode
from audit.values import fold

MAX_MAPPING_BYTES = 1_000_000  # a mapping file is a few dozen lines; anything this large is a mistake
UNUSED = "未使用"  # header target that leaves a column out
SECTIONS = ("tables", "headers", "fixed", "values", "branches")
RULE_KEYS = {"tables": ("file", "sheet", "table"), "fixed": ("file", "sheet", "values")}
YEAR_KEYS = ("year", "年度", "年份")  # a fixed year also serves tables without a year column (layouts)

# How a header or a fixed value came from the mapping file (ColumnMap.how, see audit.ingest).
HOW_MAPPING = "映射文件"
HOW_FIXED = "固定值（映射文件）"


# A complete example, shown in the data dictionary (and read by a test, so it always loads).
MAPPING_EXAMPLE = """\
# 审核人员的映射文件：只写需要的部分；# 之后是注释
tables:                                   # 文件名/工作表名 → 表
  - file: "*缴费明细*"                    # 文件名模式：* 任意个字符，? 一个字符
    table: dues                           # 表：英文名或中文名（党费收缴）
  - file: "台账.xlsx"
    sheet: "Sheet1"                       # 只指这个工作表
    table: 党员名册
headers:                                  # 表头 → 列（英文列名或中文表头）
  members:
    人员编码: member_id
    人员类别: 未使用                      # 这一列不读
  dues:
    缴费人编号: 党员编号
fixed:                                    # 某些文件每一行都取的值
  - file: "2019年度民主评议*"
    values: {year: 2019}
  - file: "联兴集团党支部*"
    values:
      支部编号: XH01                      # 只有一个支部、表中又没写支部的文件
      year: 2019                          # 也用于宽表和起止月份的年份
values:                                   # 取值 → 标准取值
  meetings:
    会议类型:
      支委会议: 支部委员会
      主题党日活动日: 主题党日
branches:                                 # 工具不能确定的支部名称 → 支部编号
  联兴党支部: XH01
"""


class MappingError(AuditError):
    """The mapping file cannot be used; the message names the file and line (in Chinese)."""


@dataclass(frozen=True)
class Pattern:
    """A file pattern and an optional sheet pattern (``*`` and ``?`` as in file names)."""

    file: str | None
    sheet: str | None
    line: int

    def matches(self, file: str, sheet: str) -> bool:
        """Whether a source (its path in the batch, its sheet name or "" for CSV) is meant."""
        if self.file is not None and not _matches_file(self.file, file):
            return False
        if self.sheet is not None:
            return bool(sheet) and _glob(self.sheet, sheet)
        return True

    def describe(self) -> str:
        parts = [f"文件「{self.file}」"] if self.file is not None else []
        parts += [f"工作表「{self.sheet}」"] if self.sheet is not None else []
        return "、".join(parts)


@dataclass(frozen=True)
class TableRule:
    pattern: Pattern
    table: str


@dataclass(frozen=True)
class FixedValue:
    key: str  # as the reviewer wrote it (a column spelling, or year)
    value: Any
    line: int
    names: tuple[str, ...] = ()  # the canonical columns the spelling names in any table


@dataclass(frozen=True)
class FixedRule:
    pattern: Pattern
    values: tuple[FixedValue, ...]


@dataclass(frozen=True)
class HeaderAlias:
    spelling: str  # as written in the mapping file
    column: str | None  # None: leave the column out (未使用)
    line: int


@dataclass(frozen=True)
class ValueAlias:
    spelling: str
    canonical: str
    line: int


@dataclass(frozen=True)
class BranchAlias:
    spelling: str  # a branch name as the exports write it
    key: str  # the branch it means: its code (or the key `audit inspect` shows)
    line: int


@dataclass(frozen=True)
class ReviewerMapping:
    """A parsed, checked mapping file; ``path`` and ``sha256`` go into the manifest."""

    path: Path
    sha256: str
    tables: tuple[TableRule, ...] = ()
    headers: dict[str, tuple[HeaderAlias, ...]] = field(default_factory=dict)  # table -> aliases
    fixed: tuple[FixedRule, ...] = ()
    values: dict[tuple[str, str], tuple[ValueAlias, ...]] = field(default_factory=dict)  # (table, column) -> aliases
    branches: tuple[BranchAlias, ...] = ()  # branch names -> branch keys (audit.identity)

    def table_rule(self, file: str, sheet: str, *, sheet_only: bool = False) -> TableRule | None:
        """The first ``tables`` entry meant for this source; with ``sheet_only``, entries naming a sheet."""
        for rule in self.tables:
            if sheet_only and rule.pattern.sheet is None:
                continue
            if rule.pattern.matches(file, sheet):
                return rule
        return None

    def file_rule(self, file: str) -> TableRule | None:
        """The first ``tables`` entry naming this file without a sheet (the file's table)."""
        for rule in self.tables:
            if rule.pattern.sheet is None and rule.pattern.matches(file, ""):
                return rule
        return None

    def fixed_values(self, file: str, sheet: str) -> list[FixedValue]:
        """Every fixed value meant for this source, first entry first (a later one for the same key is ignored)."""
        seen: set[str] = set()
        found: list[FixedValue] = []
        for rule in self.fixed:
            if rule.pattern.matches(file, sheet):
                for value in rule.values:
                    key = normalize_header(value.key)
                    if key not in seen:
                        seen.add(key)
                        found.append(value)
        return found

    def header_alias(self, table: str, header: str) -> HeaderAlias | None:
        """The mapping-file alias a source header matched, if any (for ``how`` = 映射文件)."""
        key = normalize_header(header)
        for alias in self.headers.get(table, ()):
            spelled = normalize_header(alias.spelling)
            if spelled in (key, strip_unit(key)):
                return alias
        return None

    @property
    def manifest(self) -> dict[str, str]:
        return {"path": str(self.path.resolve()), "sha256": self.sha256}


def fixed_for(table: Table, values: list[FixedValue]) -> tuple[dict[str, tuple[Any, str]], FixedValue | None, list[FixedValue]]:
    """Split a source's fixed values for its table: canonical column -> (raw value, how) for
    ``RawSheet.fixed``; the year for a table without a year column (used by layouts); and the
    values that do not apply to this table (shown by ``audit inspect``)."""
    fixed: dict[str, tuple[Any, str]] = {}
    year: FixedValue | None = None
    unused: list[FixedValue] = []
    for value in values:
        column = table.column_for(value.key) or next((n for n in value.names if n in table.columns), None)
        is_year = column == "year" or normalize_header(value.key) in YEAR_KEYS
        if column is not None:
            fixed[column] = (value.value, HOW_FIXED)
        if is_year:
            year = value
        if column is None and not is_year:
            unused.append(value)
    return fixed, year, unused


# --- reading --------------------------------------------------------------------------------------


def load_mapping(path: Path | str, contract: Contract) -> ReviewerMapping:
    """Read and check a mapping file against the contract; any problem is a ``MappingError``."""
    path = Path(path)
    try:
        if not path.exists():
            raise MappingError(f"找不到映射文件：{path}")
        if not path.is_file():  # a folder, pipe or device is never opened
            raise MappingError(f"映射文件 {path} 不是普通文件")
        size = path.stat().st_size
        if size > MAX_MAPPING_BYTES:
            raise MappingError(f"映射文件 {path} 有 {size} 字节，超过上限 {MAX_MAPPING_BYTES} 字节，不像是映射文件")
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"无法读取映射文件 {path}：{exc.strerror or exc}") from None
    text = _decode(data, path)
    return _Reader(path, contract).read(text, hashlib.sha256(data).hexdigest())


def _decode(data: bytes, path: Path) -> str:
    """The mapping file's text, decoded as the exports are (`readers.decode`: UTF-8 with or without
    BOM, UTF-16, GB18030)."""
    decoded = decode(data)
    if decoded is not None:
        return decoded[0]
    raise MappingError(f"映射文件 {path} 的编码无法识别，请存为 UTF-8")


class _Reader:
    """Walks the composed YAML node tree, so every error can name its line."""

    def __init__(self, path: Path, contract: Contract):
        self.path, self.contract = path, contract
        self.constructor = yaml.constructor.SafeConstructor()

    def error(self, node: yaml.Node | int | None, what: str) -> MappingError:
        line = node if isinstance(node, int) or node is None else node.start_mark.line + 1
        where = f"第 {line} 行" if line else ""
        return MappingError(f"映射文件 {self.path} {where}：{what}".replace(" ：", "："))

    def read(self, text: str, sha256: str) -> ReviewerMapping:
        root = self.compose(text)
        if root is None:
            return ReviewerMapping(self.path, sha256)
        sections = self.mapping(root, "映射文件最外层")
        found: dict[str, yaml.Node] = {}
        for key, value in sections:
            name = self.key(key)
            if name not in SECTIONS:
                raise self.error(key, f"未知的部分「{name}」（可用：{'、'.join(SECTIONS)}）")
            found[name] = value
        return ReviewerMapping(
            self.path,
            sha256,
            tables=self.tables(found["tables"]) if "tables" in found else (),
            headers=self.headers(found["headers"]) if "headers" in found else {},
            fixed=self.fixed(found["fixed"]) if "fixed" in found else (),
            values=self.values(found["values"]) if "values" in found else {},
            branches=self.branches(found["branches"]) if "branches" in found else (),
        )

    def compose(self, text: str) -> yaml.Node | None:
        try:
            for event in yaml.parse(text, Loader=yaml.SafeLoader):
                if isinstance(event, yaml.AliasEvent):
                    raise self.error(event.start_mark.line + 1, "映射文件中不支持锚点引用（*名称），请把内容直接写出")
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.composer.ComposerError as exc:  # more than one document
            raise self.error(_line(exc), "映射文件只能有一个文档（去掉第二个 ---）") from None
        except yaml.YAMLError as exc:
            detail = getattr(exc, "problem", None) or str(exc)
            raise self.error(_line(exc), f"YAML 格式错误：{detail}（注意缩进和冒号后的空格）") from None

    # --- node helpers -------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what}应是「键: 值」的形式")
        seen: dict[str, int] = {}
        for key, _ in node.value:
            name = self.key(key)
            if name in seen:
                raise self.error(key, f"「{name}」重复出现（第一次在第 {seen[name]} 行）")
            seen[name] = key.start_mark.line + 1
        return node.value

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what}应是一个列表（每项以「- 」开头）")
        return node.value

    def key(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, "键必须是文字")
        return fold(str(self.constructor.construct_object(node)))

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what}应是一个值（文字或数字），不是列表或映射")
        value = self.constructor.construct_object(node)
        if isinstance(value, str):
            value = fold(value)
        if value is None or value == "":
            raise self.error(node, f"{what}不能为空")
        return value

    def text(self, node: yaml.Node, what: str) -> str:
        return fold(str(self.scalar(node, what)))

    # --- tables and columns -------------------------------------------------------------------

    def table(self, node: yaml.Node) -> Table:
        name = self.text(node, "表名")
        wanted = normalize_header(name)
        for table in self.contract.tables.values():
            if wanted in {normalize_header(s) for s in (table.name, table.title, *table.names)}:
                return table
        known = "、".join(f"{t.name}（{t.title}）" for t in self.contract.tables.values())
        raise self.error(node, f"未知的表「{name}」（可用：{known}）")

    def column(self, table: Table, node: yaml.Node) -> Column:
        spelling = self.text(node, "列名")
        name = table.column_for(spelling)
        if name is None:
            known = "、".join(f"{c.name}（{c.label}）" for c in table.columns.values())
            raise self.error(node, f"表 {table.name}（{table.title}）没有列「{spelling}」（可用：{known}）")
        return table.columns[name]

    def pattern(self, fields: dict[str, yaml.Node], node: yaml.Node) -> Pattern:
        file = self.text(fields["file"], "文件名模式") if "file" in fields else None
        sheet = self.text(fields["sheet"], "工作表名模式") if "sheet" in fields else None
        if file is None and sheet is None:
            raise self.error(node, "每一项至少要写 file（文件名模式）或 sheet（工作表名模式）")
        return Pattern(file, sheet, node.start_mark.line + 1)

    def rule_fields(self, node: yaml.Node, section: str, required: str) -> dict[str, yaml.Node]:
        allowed = RULE_KEYS[section]
        fields: dict[str, yaml.Node] = {}
        for key, value in self.mapping(node, f"{section} 中的每一项"):
            name = self.key(key)
            if name not in allowed:
                raise self.error(key, f"{section} 中未知的键「{name}」（可用：{'、'.join(allowed)}）")
            fields[name] = value
        if required not in fields:
            raise self.error(node, f"{section} 中的这一项缺少「{required}」")
        return fields

    # --- sections -----------------------------------------------------------------------------

    def tables(self, node: yaml.Node) -> tuple[TableRule, ...]:
        rules = []
        for item in self.sequence(node, "tables"):
            fields = self.rule_fields(item, "tables", "table")
            rules.append(TableRule(self.pattern(fields, item), self.table(fields["table"]).name))
        return tuple(rules)

    def headers(self, node: yaml.Node) -> dict[str, tuple[HeaderAlias, ...]]:
        result: dict[str, tuple[HeaderAlias, ...]] = {}
        for table_node, aliases_node in self.mapping(node, "headers"):
            table = self.table(table_node)
            if table.name in result:
                raise self.error(table_node, f"表 {table.name} 在 headers 中出现了两次")
            aliases = []
            for spelling_node, column_node in self.mapping(aliases_node, f"headers 中表 {table.name} 的内容"):
                spelling = self.text(spelling_node, "表头")
                if column_node.tag == "tag:yaml.org,2002:null" or (
                    isinstance(column_node, yaml.ScalarNode) and fold(str(column_node.value)) == UNUSED
                ):
                    self.check_spelling(table, None, spelling, spelling_node)
                    aliases.append(HeaderAlias(spelling, None, spelling_node.start_mark.line + 1))
                    continue
                column = self.column(table, column_node)
                self.check_spelling(table, column, spelling, spelling_node)
                aliases.append(HeaderAlias(spelling, column.name, spelling_node.start_mark.line + 1))
            result[table.name] = tuple(aliases)
        return result

    def check_spelling(self, table: Table, column: Column | None, spelling: str, node: yaml.Node) -> None:
        """A header alias may not be another column's own name or Chinese header (those always match)."""
        key = normalize_header(spelling)
        for other in table.columns.values():
            if (column is None or other.name != column.name) and key in (
                normalize_header(other.name),
                normalize_header(other.label),
            ):
                target = column.name if column is not None else UNUSED
                raise self.error(
                    node, f"「{spelling}」是表 {table.name} 中 {other.name}（{other.label}）列的标准表头，不能改为 {target}"
                )

    def fixed(self, node: yaml.Node) -> tuple[FixedRule, ...]:
        rules = []
        for item in self.sequence(node, "fixed"):
            fields = self.rule_fields(item, "fixed", "values")
            values = []
            for key_node, value_node in self.mapping(fields["values"], "values"):
                key = self.key(key_node)
                self.check_fixed_key(key, key_node)
                value = self.scalar(value_node, f"「{key}」的值")
                if normalize_header(key) in YEAR_KEYS and not (isinstance(value, int) and 1921 <= value <= 2100):
                    raise self.error(value_node, f"年度应是 1921 到 2100 之间的四位数年份，不是「{value}」")
                names = tuple(dict.fromkeys(c for t in self.contract.tables.values() if (c := t.column_for(key))))
                values.append(FixedValue(key, value, key_node.start_mark.line + 1, names))
            rules.append(FixedRule(self.pattern(fields, item), tuple(values)))
        return tuple(rules)

    def check_fixed_key(self, key: str, node: yaml.Node) -> None:
        if normalize_header(key) in YEAR_KEYS:
            return
        if any(table.column_for(key) for table in self.contract.tables.values()):
            return
        raise self.error(node, f"没有哪张表有列「{key}」（固定值的键应是列名或中文表头，如 year、branch_id、支部编号）")

    def values(self, node: yaml.Node) -> dict[tuple[str, str], tuple[ValueAlias, ...]]:
        result: dict[tuple[str, str], tuple[ValueAlias, ...]] = {}
        for table_node, columns_node in self.mapping(node, "values"):
            table = self.table(table_node)
            for column_node, aliases_node in self.mapping(columns_node, f"values 中表 {table.name} 的内容"):
                column = self.column(table, column_node)
                if not column.values:
                    raise self.error(column_node, f"{column.name}（{column.label}）不是取值固定的列，不能设置取值别名")
                if (table.name, column.name) in result:
                    raise self.error(column_node, f"列 {column.name} 在 values 中出现了两次")
                aliases = []
                for spelling_node, canonical_node in self.mapping(aliases_node, f"{column.label}的取值别名"):
                    spelling = self.text(spelling_node, "取值")
                    canonical = self.canonical_value(column, canonical_node)
                    aliases.append(ValueAlias(spelling, canonical, spelling_node.start_mark.line + 1))
                result[(table.name, column.name)] = tuple(aliases)
        return result

    def branches(self, node: yaml.Node) -> tuple[BranchAlias, ...]:
        """``branches``: branch name → branch key, both plain text; a name at most once."""
        aliases = []
        seen: dict[str, int] = {}
        for name_node, key_node in self.mapping(node, "branches"):
            spelling = self.text(name_node, "支部名称")
            key = self.text(key_node, f"支部名称「{spelling}」对应的支部编号")
            folded = spelling.replace(" ", "")
            if folded in seen:
                raise self.error(name_node, f"支部名称「{spelling}」在 branches 中出现了两次（第一次在第 {seen[folded]} 行）")
            if len(key) > 64 or not key.isprintable():
                raise self.error(key_node, f"「{key[:24]}」不能作为支部编号（最多 64 个字符，不能有控制字符）")
            seen[folded] = name_node.start_mark.line + 1
            aliases.append(BranchAlias(spelling, key, name_node.start_mark.line + 1))
        return tuple(aliases)

    def canonical_value(self, column: Column, node: yaml.Node) -> str:
        text = self.text(node, "标准取值")
        for canonical, aliases in (column.values or {}).items():
            if fold(text).lower() in {fold(str(s)).lower() for s in (canonical, *aliases)}:
                return canonical
        raise self.error(node, f"{column.label}没有取值「{text}」（可用：{'、'.join(column.values or {})}）")


def _line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


# --- patterns -------------------------------------------------------------------------------------


def _glob(pattern: str, name: str) -> bool:
    """Case- and width-insensitive; ``*`` and ``?`` kept (``normalize_header`` drops ``*``)."""
    return fnmatch.fnmatchcase(fold(name).lower(), fold(pattern).lower())


def _matches_file(pattern: str, file: str) -> bool:
    """A file pattern matches the path in the batch, the file name or the name without extension."""
    path = PurePosixPath(file)
    return any(_glob(pattern, candidate) for candidate in (file, path.name, path.stem))


# --- the contract, extended -----------------------------------------------------------------------


def apply_mapping(contract: Contract, mapping: ReviewerMapping | None) -> Contract:
    """A new contract with the mapping's header and value aliases added. A header the mapping maps
    elsewhere (or to 未使用) is taken away from the column that had it, so the mapping wins."""
    if mapping is None or not (mapping.headers or mapping.values):
        return contract
    tables = dict(contract.tables)
    for name, table in contract.tables.items():
        aliases = mapping.headers.get(name, ())
        remap = {normalize_header(a.spelling) for a in aliases}
        columns: dict[str, Column] = {}
        for column in table.columns.values():
            kept = tuple(a for a in column.aliases if normalize_header(a) not in remap)
            added = tuple(a.spelling for a in aliases if a.column == column.name)
            values = column.values
            extra = mapping.values.get((name, column.name), ())
            if extra and values is not None:
                values = {canonical: list(spellings) for canonical, spellings in values.items()}
                for alias in extra:
                    values[alias.canonical].append(alias.spelling)
            changes: dict[str, Any] = {"aliases": kept + added, "values": values}
            guarded = getattr(column, "aliases_if_values_fit", None)  # value-aware spellings (人员类别)
            if guarded is not None:
                changes["aliases_if_values_fit"] = tuple(a for a in guarded if normalize_header(a) not in remap)
            columns[column.name] = replace(column, **changes)
        tables[name] = replace(table, columns=columns)
    return replace(contract, tables=tables)
