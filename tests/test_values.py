"""Every value form the contract lists, and the reasons for what it refuses."""

import datetime as dt

import pytest

from audit.reasons import Reason
from audit.values import (
    check_id_number,
    enum_parser,
    fold,
    id_check_char,
    mask_id,
    mask_phone,
    parse_date,
    parse_integer,
    parse_month,
    parse_number,
    parse_yesno,
)

NOV9 = dt.date(2018, 11, 9)


@pytest.mark.parametrize(
    "raw",
    [
        "2018-11-09",
        "2018/11/9",
        "2018.11.9",
        "2018年11月9日",
        "20181109",
        " 2018-11-09 ",
        "２０１８-１１-０９",
        "2018-11-09 00:00:00",
        dt.datetime(2018, 11, 9),
        NOV9,
        43413,
        43413.0,
        "43413",
        20181109,
    ],
)
def test_every_date_form(raw):
    assert parse_date(raw).value == NOV9


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2019年2月30日", Reason.BAD_DATE),
        ("2019-13-01", Reason.BAD_DATE),
        ("去年", Reason.UNPARSED_DATE),
        ("2019", Reason.UNPARSED_DATE),
        (1.5, Reason.UNPARSED_DATE),
    ],
)
def test_bad_dates_say_why(raw, reason):
    parsed = parse_date(raw)
    assert parsed.reason is reason
    assert "2019年2月30日" in reason.render(**dict(parsed.context)) or raw != "2019年2月30日"


def test_bad_date_message_quotes_the_value():
    parsed = parse_date("2019年2月30日")
    assert parsed.reason.render(**dict(parsed.context)) == "日期无效「2019年2月30日」"


@pytest.mark.parametrize("raw", ["2018-11", "2018/11", "2018年11月", "201811", "2018-11-09", dt.date(2018, 11, 30), "2018.11"])
def test_every_month_form(raw):
    assert parse_month(raw).value == dt.date(2018, 11, 1)


@pytest.mark.parametrize("raw", ["2018-13", "201800", "2019年2月30日"])
def test_bad_months(raw):
    assert parse_month(raw).reason is Reason.BAD_MONTH


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("50", 50.0),
        ("50元", 50.0),
        ("１,２００．５", 1200.5),
        (" 1,200.50 元 ", 1200.5),
        ("￥30", 30.0),
        (12, 12.0),
        ("-5", -5.0),
        ("0", 0.0),
    ],
)
def test_number_forms(raw, value):
    assert parse_number(raw).value == value


@pytest.mark.parametrize("raw", ["abc", "五十", "1.2.3", "", float("nan"), True])
def test_not_numbers(raw):
    assert parse_number(raw).reason is Reason.NOT_A_NUMBER


def test_integer_refuses_fractions():
    assert parse_integer("12").value == 12
    assert parse_integer("12.5").reason is Reason.NOT_AN_INTEGER


@pytest.mark.parametrize("raw", ["是", "有", "Y", "y", "1", "√", "true", "TRUE", 1, True])
def test_yes(raw):
    assert parse_yesno(raw).value is True


@pytest.mark.parametrize("raw", ["否", "无", "N", "0", "×", "false", 0, False])
def test_no(raw):
    assert parse_yesno(raw).value is False


def test_yesno_refuses_other():
    assert parse_yesno("也许").reason is Reason.BAD_YESNO


def test_enum_aliases_and_reason():
    parse = enum_parser("活动类型", {"支部委员会": ["支委会"], "主题党日": ["党员活动日"]})
    assert parse(" 支委会 ").value == "支部委员会"
    refused = parse("茶话会")
    assert refused.reason.render(**dict(refused.context)).startswith("未知的活动类型「茶话会」")


def test_fold_full_width_and_spaces():
    assert fold("　ＡＢＣ　 １２３  x ") == "ABC 123 x"


def test_id_number_valid_and_masked():
    first17 = "11010519491231002"
    number = first17 + id_check_char(first17)
    assert number == "11010519491231002X"  # the GB 11643 worked example
    result = check_id_number(number)
    assert result.status == "ok" and result.masked == "110105********002X"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("3.70102E+17", "mangled"),
        (3.70102e17, "mangled"),
        ("11010519491231002", "lost_check"),
        ("110105194912310021", "bad_checksum"),
        ("110105194913310026", "bad_birth"),
        ("12345", "bad_length"),
        ("110105491231002", "old15"),
    ],
)
def test_id_number_problems(raw, status):
    result = check_id_number(raw)
    assert result.status == status
    assert result.reason is not None
    assert "1949123100" not in result.masked  # never the whole number


def test_masks():
    assert mask_id("371402199001011234") == "371402********1234"
    assert mask_phone("138-1234-5678") == "138****5678"
