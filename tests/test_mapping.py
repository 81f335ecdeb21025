"""The reviewer's mapping file: read and checked with line numbers, then applied to the contract."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audit.contract import load_contract
from audit.mapping import MappingError, apply_mapping, fixed_for, load_mapping

EXAMPLE = """\
# 审核人员的映射文件
tables:
  - file: "*缴费明细*"
    table: dues
  - {file: "台账.xlsx", sheet: "Sheet1", table: 党员名册}
headers:
  members:
    人员编码: member_id
    人员类别: 未使用
  dues:
    缴费人编号: 党员编号
fixed:
  - file: "2019年度民主评议*"
    values: {year: 2019}
  - file: "联兴*"
    values:
      所在支部编号: B01
values:
  meetings:
    会议类型:
      支委会议: 支部委员会
"""


def write(tmp_path: Path, text: str, name: str = "mapping.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_is_read_and_extends_the_contract(tmp_path: Path):
    path = write(tmp_path, EXAMPLE)
    contract = load_contract()
    mapping = load_mapping(path, contract)
    assert mapping.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert mapping.manifest == {"path": str(path.resolve()), "sha256": mapping.sha256}
    assert mapping.file_rule("2019/党费缴费明细.xlsx").table == "dues"
    assert mapping.file_rule("党费.xlsx") is None
    assert mapping.table_rule("台账.xlsx", "Sheet1", sheet_only=True).table == "members"
    assert mapping.table_rule("台账.xlsx", "Sheet2") is None
    extended = apply_mapping(contract, mapping)
    members = extended.tables["members"]
    assert members.column_for("人员编码") == "member_id"
    assert contract.tables["members"].column_for("人员编码") is None  # the built-in contract is unchanged
    assert members.column_for("人员类别") is None and not members.columns_if_values_fit("人员类别")
    assert load_contract().tables["members"].columns_if_values_fit("人员类别")  # mapped away only by the file
    assert extended.tables["dues"].column_for("缴费人编号") == "member_id"
    assert "支委会议" in extended.tables["meetings"].columns["meeting_type"].values["支部委员会"]
    assert mapping.header_alias("dues", "缴费人编号（必填）").line == 11
    fixed, year, unused = fixed_for(extended.tables["evaluations"], mapping.fixed_values("2019年度民主评议结果.xlsx", "Sheet1"))
    assert fixed == {"year": (2019, "固定值（映射文件）")} and year.value == 2019 and unused == []
    fixed, year, unused = fixed_for(extended.tables["points"], mapping.fixed_values("2019年度民主评议结果.xlsx", ""))
    assert fixed == {} and year.line == 14 and unused == []  # no year column: the year serves the layouts
    fixed, year, unused = fixed_for(extended.tables["meetings"], mapping.fixed_values("联兴集团.csv", ""))
    assert fixed == {"branch_id": ("B01", "固定值（映射文件）")} and year is None  # 所在支部编号 is members' spelling
    fixed, year, unused = fixed_for(extended.tables["venues"], mapping.fixed_values("联兴集团.csv", ""))
    assert fixed == {"branch_id": ("B01", "固定值（映射文件）")}
    fixed, year, unused = fixed_for(extended.tables["attendance"], mapping.fixed_values("联兴集团.csv", ""))
    assert fixed == {} and [u.key for u in unused] == ["所在支部编号"]


def test_value_alias_parses_through_the_extended_contract(tmp_path: Path):
    from audit.values import enum_parser

    mapping = load_mapping(write(tmp_path, EXAMPLE), load_contract())
    column = apply_mapping(load_contract(), mapping).tables["meetings"].columns["meeting_type"]
    assert enum_parser(column.label, column.values)("支委会议").value == "支部委员会"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("tabels:\n  - {file: a, table: dues}\n", 1, "未知的部分「tabels」"),
        ("tables:\n  - {file: a, table: 会费}\n", 2, "未知的表「会费」"),
        ("tables:\n  - {file: a, tabel: dues}\n", 2, "未知的键「tabel」"),
        ("tables:\n  - {table: dues}\n", 2, "至少要写 file"),
        ("headers:\n  members:\n    人员编码: 编码\n", 3, "没有列「编码」"),
        ("headers:\n  members:\n    姓名: member_id\n", 3, "name（姓名）列的标准表头"),
        ("headers:\n  members:\n    姓名: 未使用\n", 3, "不能改为 未使用"),
        ("headers:\n  members:\n    a: member_id\n    a: name\n", 4, "「a」重复出现（第一次在第 3 行）"),
        ("fixed:\n  - file: a\n    values: {branch: B01}\n", 3, "没有哪张表有列「branch」"),
        ("fixed:\n  - file: a\n    values: {year: 19}\n", 3, "四位数年份"),
        ("fixed:\n  - file: a\n    values: {year: [2019]}\n", 3, "应是一个值"),
        ("values:\n  meetings:\n    主题: {a: b}\n", 3, "不是取值固定的列"),
        ("values:\n  meetings:\n    会议类型:\n      支委会议: 茶话会\n", 4, "没有取值「茶话会」"),
        ("tables:\n  - {file: a, table: dues\n", 3, "YAML 格式错误"),
        ("base: &b {file: a, table: dues}\ntables:\n  - *b\n", 3, "锚点"),
        ("tables: []\n---\ntables: []\n", 2, "只能有一个文档"),
        ("tables: dues\n", 1, "应是一个列表"),
    ],
)
def test_mistakes_name_the_line(tmp_path: Path, text: str, line: int, words: str):
    path = write(tmp_path, text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path, load_contract())
    message = str(caught.value)
    assert str(path) in message and f"第 {line} 行" in message and words in message, message


def test_missing_large_and_undecodable_files_are_refused(tmp_path: Path):
    with pytest.raises(MappingError, match="找不到映射文件"):
        load_mapping(tmp_path / "none.yaml", load_contract())
    with pytest.raises(MappingError, match="不是普通文件"):
        load_mapping(tmp_path, load_contract())
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 1_000_001)
    with pytest.raises(MappingError, match="超过上限"):
        load_mapping(big, load_contract())
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("headers:\n  members:\n    人员编码: member_id\n".encode("gb18030"))
    assert load_mapping(gbk, load_contract()).headers["members"][0].column == "member_id"
    utf16 = tmp_path / "utf16.yaml"  # Notepad's "Unicode": decoded as the exports are
    utf16.write_bytes("headers:\n  members:\n    人员编码: member_id\n".encode("utf-16"))
    assert load_mapping(utf16, load_contract()).headers["members"][0].column == "member_id"


def test_empty_file_maps_nothing(tmp_path: Path):
    mapping = load_mapping(write(tmp_path, "# nothing yet\n"), load_contract())
    assert mapping.tables == () and apply_mapping(load_contract(), mapping) is load_contract()


def test_patterns_fold_case_and_width(tmp_path: Path):
    mapping = load_mapping(write(tmp_path, "tables:\n  - {file: 'ＤＵＥＳ*.CSV', table: dues}\n"), load_contract())
    assert mapping.file_rule("sub/dues_2019.csv").table == "dues"
    assert mapping.file_rule("members.csv") is None


def test_the_data_dictionary_example_loads(tmp_path: Path):
    from audit.dictionary import render_dictionary
    from audit.mapping import MAPPING_EXAMPLE

    assert MAPPING_EXAMPLE in render_dictionary()
    mapping = load_mapping(write(tmp_path, MAPPING_EXAMPLE), load_contract())
    assert [r.table for r in mapping.tables] == ["dues", "members"]
    assert [v.key for r in mapping.fixed for v in r.values] == ["year", "支部编号", "year"]
    assert mapping.values[("meetings", "meeting_type")][1].canonical == "主题党日"
