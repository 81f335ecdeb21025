"""Chart data and figures, without a kernel: Chinese text, the right numbers, a reading for each."""

from __future__ import annotations

import datetime as dt
import json
import re

import plotly.graph_objects as go
import polars as pl
import pytest

from audit import charts, views
from audit.display import chart_html, table_html
from audit.ingest import ingest
from audit.periods import Quarter
from audit.privacy import SECRET_ENV
from audit.standard import load_standard
from audit.synth import World
from audit.validate import validate_tables
from conftest import write_csv
from worlds import drop_meeting, meetings, plain_member, row, world

Q1 = Quarter.parse("2019Q1")
STANDARD = load_standard()


def tables_of(w: World) -> dict[str, pl.DataFrame]:
    from audit.contract import load_contract

    out = {}
    for name, table in load_contract().tables.items():
        schema = {c.name: c.dtype for c in table.columns.values()}
        rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in w.tables.get(name, [])]
        frame = pl.DataFrame(rows, schema=schema, orient="row")
        out[name] = frame.with_columns(
            _file=pl.lit(f"{name}.csv"), _sheet=pl.lit(""), _row=pl.int_range(2, frame.height + 2, dtype=pl.Int64)
        )
    return out


@pytest.fixture(scope="module")
def broken() -> dict[str, pl.DataFrame]:
    w = world()
    drop_meeting(w, meetings(w, "XH01", "支部委员会", "2019-02")[0])
    meetings(w, "XH01", "主题党日", "2019-03")[0]["held_on"] = dt.date(2019, 3, 18)
    member = plain_member(w, "XH01")
    for ym in ("2018-10", "2018-11", "2018-12", "2019-01", "2019-02", "2019-03"):
        row(w, "dues", member["member_id"], ym)["amount_paid"] = 0.0
    w.tables["points"].remove(row(w, "points", member["member_id"], "2019-02"))
    return tables_of(w)


def test_meeting_frequency_marks_the_short_month(broken):
    counts = views.meeting_counts(broken, "XH01", Q1, STANDARD)
    feb = counts.filter((pl.col("month") == dt.date(2019, 2, 1)) & (pl.col("meeting_type") == "支部委员会")).row(0, named=True)
    assert (feb["count"], feb["required"]) == (0, 1)
    chart = charts.meeting_frequency(counts)
    assert isinstance(chart.figure, go.Figure)
    assert chart.figure.layout.title.text == "每月会议次数与要求"
    assert chart.reading == "未达到最低要求：2月支部委员会（0/1次）。"
    assert {t.name for t in chart.figure.data} >= {"支部委员会", "主题党日", "最低要求"}


def test_theme_day_dates_against_the_15th(broken):
    chart = charts.theme_day_dates(views.theme_days(broken, "XH01", Q1))
    assert chart.reading == "不在规定日期开展：3月18日。"
    assert list(chart.figure.data[0].y) == [15, 15, 18]


def test_attendance_rates(broken):
    rates = views.attendance_rates(broken, "XH01", Q1)
    assert rates["rate"].min() > 0 and rates["rate"].max() <= 1
    assert charts.attendance(rates).reading.startswith(f"本季度{rates.height}次会议平均出席率")


def test_points_trend_highlights_missing_members(broken):
    trend, missing = views.points_trend(broken, "XH01", Q1)
    assert trend["month"].min() == dt.date(2018, 7, 1) and trend["month"].max() == dt.date(2019, 3, 1)  # up to four quarters back
    assert missing.height == 1 and missing["months"][0] == "2019年2月"
    chart = charts.points_trend(trend, missing)
    assert "缺少积分记录" in chart.reading and any(t.name == "有党员缺少积分" for t in chart.figure.data)


def test_dues_completeness_and_arrears_buckets(broken):
    monthly = views.dues_by_month(broken, "XH01", Q1)
    assert monthly["completion"].max() < 1
    owing = views.arrears(broken, Q1, STANDARD, "XH01")
    assert owing.select("unpaid_months", "bucket").row(0) == (6, "6个月及以上")
    buckets = views.arrears_buckets(owing, STANDARD)
    assert buckets["bucket"].to_list() == ["1–2个月", "3–5个月", "6个月及以上"]
    assert buckets["at_risk"].to_list() == [False, False, True]
    chart = charts.arrears_ageing(buckets)
    assert chart.reading == "季度末连续欠缴党费1人，其中连续6个月及以上1人，按党章第九条有自行脱党风险。"
    assert "自行脱党风险" in chart.figure.data[0].text[2]
    assert "未足额交纳" in charts.dues_completeness(monthly).reading


@pytest.mark.parametrize(
    ("max_months", "labels"),
    [
        (7, ["1–2个月", "3–6个月", "7个月及以上"]),
        (4, ["1个月", "2–3个月", "4个月及以上"]),
        (2, ["1个月", "2个月及以上"]),
    ],
)
def test_arrears_buckets_follow_sm8_max_months(broken, tmp_path, max_months, labels):
    """The arrears chart's edges come from SM-8's threshold: a streak below it is never shown at risk."""
    import yaml

    from audit.paths import STANDARD_FILE

    data = yaml.safe_load(STANDARD_FILE.read_text(encoding="utf-8"))
    data["rules"]["SM-8"]["thresholds"]["max_months"] = max_months
    path = tmp_path / "standard.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    standard = load_standard(path)
    owing = views.arrears(broken, Q1, standard, "XH01")
    assert owing.select("unpaid_months", "bucket").row(0) == (6, labels[-1] if max_months <= 6 else labels[-2])
    buckets = views.arrears_buckets(owing, standard)
    assert buckets["bucket"].to_list() == labels
    chart = charts.arrears_ageing(buckets)
    if max_months > 6:
        assert chart.reading == f"季度末连续欠缴党费1人，其中连续{labels[-1]}0人。"
        assert "自行脱党风险" not in "".join(chart.figure.data[0].text)
    else:
        assert chart.reading == f"季度末连续欠缴党费1人，其中连续{labels[-1]}1人，按党章第九条有自行脱党风险。"


def test_every_meeting_type_of_the_contract_has_its_colour_and_row():
    from audit.facts import MEETING_TYPES

    assert set(charts.COLORS) == set(MEETING_TYPES)
    counts = views.meeting_counts(tables_of(world()), "XH01", Q1, STANDARD)
    assert set(counts["meeting_type"]) == set(MEETING_TYPES) and counts.height == 3 * len(MEETING_TYPES)


def test_overview_charts():
    from audit.dataset import from_batch
    from conftest import SAMPLE

    ds = from_batch(SAMPLE, "2019Q2")
    ds.previous_scorecard = from_batch(SAMPLE, "2019Q1").scorecard
    overview = ds.overview_charts()
    heatmap = overview["heatmap"].figure.data[0]
    assert len(heatmap.y) == 20 and list(heatmap.x) == ["2019年4月", "2019年5月", "2019年6月", "季度及以上"]
    assert overview["ratings"].reading.endswith("（共20个支部）。")
    assert overview["comparison"].reading.startswith("问题总数从2019年第一季度的")


def test_the_ratings_chart_shows_the_standards_rating_words():
    """The words come from the standard (`rating:`), the colours from the rating's code."""
    words = {"best": "优秀", "pass": "合格", "fail": "不合格"}
    chart = charts.ratings(pl.DataFrame({"rating": ["优秀", "不合格", "不合格"]}), words)
    [bar] = chart.figure.data
    assert list(bar.x) == ["优秀", "合格", "不合格"] and list(bar.y) == [1, 0, 2]
    assert list(bar.marker.color) == [charts.RATING_COLORS[code] for code in ("best", "pass", "fail")]
    assert chart.reading == "优秀1个，合格0个，不合格2个（共3个支部）。"


def test_html_fragments_escape_export_text():
    frame = pl.DataFrame({"topic": ["<script>alert(1)</script>", '=HYPERLINK("x")']})
    fragment = table_html(frame, {"topic": "主题"})
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    chart = charts.ratings(pl.DataFrame({"rating": ["过硬", "未达标"]}), STANDARD.ratings)
    html = chart_html(chart, element_id="chart-x")
    assert 'id="chart-x"' in html and "cdn.plot.ly" not in html and "<figcaption>过硬1个" in html


def test_every_chart_carries_the_report_template(tmp_path):
    """Charts get plotly_white without per-figure template validation (charts._layout)."""
    from audit.dataset import from_batch
    from audit.paths import SAMPLE_BATCH

    ds = from_batch(SAMPLE_BATCH, "2019Q1")
    figures = [c.figure for c in (*ds.branch_charts("XH01").values(), *ds.overview_charts().values())]
    assert len(figures) == 10
    for figure in figures:
        assert figure.layout.template.layout.plot_bgcolor == "white"
        assert figure.to_dict()["layout"]["template"]["layout"]["plot_bgcolor"] == "white"


def _all_charts(broken: dict[str, pl.DataFrame]) -> dict[str, charts.Chart]:
    """Every chart function, drawn and empty: the sample's branch and overview charts (two
    quarters, so the comparison has bars of both), the broken world's branch charts and the
    charts of a branch without records."""
    from audit.dataset import from_batch
    from audit.paths import SAMPLE_BATCH

    ds = from_batch(SAMPLE_BATCH, "2019Q2")
    ds.previous_scorecard = from_batch(SAMPLE_BATCH, "2019Q1").scorecard
    found = {f"sample XH01 {k}": c for k, c in ds.branch_charts("XH01").items()}
    found |= {f"sample overview {k}": c for k, c in ds.overview_charts().items()}
    for branch in ("XH01", "XH99"):
        trend, missing = views.points_trend(broken, branch, Q1)
        found |= {
            f"{branch} meetings": charts.meeting_frequency(views.meeting_counts(broken, branch, Q1, STANDARD)),
            f"{branch} theme_days": charts.theme_day_dates(views.theme_days(broken, branch, Q1)),
            f"{branch} attendance": charts.attendance(views.attendance_rates(broken, branch, Q1)),
            f"{branch} points": charts.points_trend(trend, missing),
            f"{branch} dues": charts.dues_completeness(views.dues_by_month(broken, branch, Q1)),
            f"{branch} arrears": charts.arrears_ageing(
                views.arrears_buckets(views.arrears(broken, Q1, STANDARD, branch), STANDARD)
            ),
        }
    return found


def test_every_chart_is_what_plotly_validation_makes_of_it(broken):
    """Charts are drawn as plain property dicts and made into figures without plotly's
    per-property validation (charts._Draft, 25 ms -> under 1 ms a chart): validating each
    finished figure through plotly must change nothing — no unknown property, no value plotly
    would coerce (an axis title as a bare string becomes {"text": …}), and the same JSON."""
    found = _all_charts(broken)
    assert len(found) == 22 and any(c.empty for c in found.values()) and not all(c.empty for c in found.values())
    for name, chart in found.items():
        drawn = chart.figure.to_dict()
        validated = go.Figure(drawn).to_dict()  # raises on any property plotly does not know
        assert validated == drawn, name


def _as_plotly_api_drew_it(figure: dict, updates: dict) -> go.Figure:
    """A chart drawn through plotly's validating API as the charts were before issue #16: the
    template attached unvalidated, the lines across it, the traces one by one, then one
    `update_layout` with the chart's layout properties, axis titles given as their text."""
    drawn = go.Figure()
    drawn.layout._validate = False
    drawn.layout.template = figure["layout"]["template"]
    drawn.layout._validate = True
    for shape in figure["layout"].get("shapes", []):
        drawn.add_shape(shape)
    for trace in figure["data"]:
        drawn.add_trace(trace)
    drawn.update_layout(**_titles_as_text(updates))
    return drawn


def _titles_as_text(value):
    """Layout properties with each title that is only a text given as that text (`title="次数"`)."""
    if isinstance(value, dict):
        return {k: v["text"] if k == "title" and list(v) == ["text"] else _titles_as_text(v) for k, v in value.items()}
    return value


def test_every_chart_is_written_as_plotlys_own_api_writes_it(broken, monkeypatch):
    """Pages stay byte-identical to those drawn through plotly's API before issue #16: each
    chart's JSON — data, layout, every key in the same order — is what plotly's own `add_trace`
    and `update_layout` make of the same properties (charts._constructed, charts._as_updated)."""
    updates = []

    def recorded(layout):
        updates.append(layout)
        return as_updated(layout)

    as_updated = charts._as_updated
    monkeypatch.setattr(charts, "_as_updated", recorded)
    found = _all_charts(broken)
    assert len(updates) == len(found) == 22
    orders = set()
    for (name, chart), layout in zip(found.items(), updates, strict=True):
        expected = _as_plotly_api_drew_it(chart.figure.to_dict(), layout)
        assert chart.figure.to_json() == expected.to_json(), name
        orders.add(tuple(chart.figure.to_dict()["layout"]))
    # not plotly's alphabetical constructor order, and not one order for all
    assert len(orders) > 3 and all(order[0] == "template" and list(order) != sorted(order) for order in orders)


def test_a_layout_is_ordered_as_plotlys_update_orders_it():
    """The rule `_as_updated` follows, on properties no report chart has yet: a second x axis,
    a value left to plotly's default (None), an axis whose only setting is its title."""
    updates = {
        "xaxis2": {"title": {"text": "第二轴"}},
        "title": {"font": {"size": 12}, "text": "标题"},
        "width": 600,
        "showlegend": None,
        "yaxis": {"title": {"text": "次数"}},
        "legend": {"font": {"size": 9, "family": None}, "x": 1},
        "margin": {"t": 10},
    }
    drawn = go.Figure()
    drawn.update_layout(**_titles_as_text(updates))
    expected = drawn.to_dict()["layout"]
    expected.pop("template")
    assert json.dumps(charts._as_updated(updates), ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_a_chart_stays_a_validating_plotly_figure(broken):
    """Built without validation, a chart is still checked as plotly checks any figure when a
    reviewer changes it in JupyterLab (a typo raises, it is not silently kept)."""
    figure = charts.dues_completeness(views.dues_by_month(broken, "XH01", Q1)).figure
    with pytest.raises(ValueError):
        figure.update_layout(titel="x")
    with pytest.raises(ValueError):
        figure.data[0].update(colr="red")
    with pytest.raises(ValueError):
        figure.layout.yaxis.update(rnge=[0, 1])
    figure.update_layout(height=500)
    assert figure.to_dict()["layout"]["height"] == 500
    template = charts.dues_completeness(views.dues_by_month(broken, "XH01", Q1)).figure.layout.template
    figure.layout.template.layout.font.size = 99  # one figure's template edited, not the next one's
    assert template.layout.font.size != 99


def _rates(rows: list[tuple[str, dt.date, str, int, int]]) -> pl.DataFrame:
    """Attendance rows as `views.attendance_rates` returns them: id, date, type, expected, present
    (each from a per-member list)."""
    frame = pl.DataFrame(rows, schema=["meeting_id", "held_on", "meeting_type", "expected", "present"], orient="row")
    return frame.with_columns(
        topic=pl.lit("学习"), source=pl.lit("list"), leave=pl.lit(0), rate=pl.col("present") / pl.col("expected")
    )


def test_attendance_puts_meetings_in_date_order_each_a_full_bar():
    """#14 item 5: the axis was in trace order (01-03, 03-03, 01-09 … 02-18) and two meetings on
    one day shared a category as slivers; the quorum label sat on the bars."""
    rates = _rates(
        [
            ("M1", dt.date(2019, 1, 3), "支部委员会", 5, 5),
            ("M2", dt.date(2019, 3, 3), "支部委员会", 5, 4),
            ("M3", dt.date(2019, 1, 9), "党小组会", 4, 3),
            ("M4", dt.date(2019, 1, 9), "支部委员会", 5, 5),
            ("M5", dt.date(2019, 2, 18), "支部党员大会", 20, 11),
        ]
    )
    fig = charts.attendance(rates).figure
    labels = ["1月3日", "1月9日", "1月9日②", "2月18日", "3月3日"]
    assert fig.layout.xaxis.categoryorder == "array" and list(fig.layout.xaxis.categoryarray) == labels
    shown = [x for t in fig.data if t.type == "bar" for x in t.x]
    assert sorted(shown) == sorted(labels)  # one category per meeting
    assert fig.layout.barmode == "overlay"  # a bar fills its category: no slot kept for the other types
    assert not fig.layout.annotations  # the quorum is named in the legend, not written over the bars
    assert "支部党员大会出席须超过半数" in [t.name for t in fig.data]
    assert list(fig.layout.yaxis.ticktext) == ["0%", "25%", "50%", "75%", "100%"]


@pytest.mark.parametrize("top", [0, 1, 2, 3, 7, 8, 9, 17, 40, 130, 2500])
def test_a_count_axis_has_whole_round_ticks(top):
    axis = charts.count_axis(top, "人数")
    assert isinstance(axis["dtick"], int) and axis["dtick"] >= 1 and str(axis["dtick"])[0] in "125"
    assert axis["tick0"] == 0 and axis["tickformat"] == "d" and axis["tickmode"] == "linear"
    assert max(top, 1) / axis["dtick"] <= 8 and axis["range"][0] == 0 and axis["range"][1] >= top


def _whole_ticks(axis) -> bool:
    """An axis (or colour bar) whose ticks can only be whole numbers."""
    return isinstance(axis.dtick, int) and axis.dtick >= 1 and axis.tickformat == "d" and axis.tick0 == 0


def test_every_axis_of_counts_shows_whole_numbers(broken):
    """#14 item 5: the heatmap's colour bar read 0.5 and 1.5; the comparison's axis had no step."""
    owing = views.arrears(broken, Q1, STANDARD, "XH01")
    assert _whole_ticks(charts.meeting_frequency(views.meeting_counts(broken, "XH01", Q1, STANDARD)).figure.layout.yaxis)
    assert _whole_ticks(charts.arrears_ageing(views.arrears_buckets(owing, STANDARD)).figure.layout.yaxis)
    matrix = pl.DataFrame(
        {"branch_id": ["XH01", "XH01", "XH02", "XH02"], "branch_name": ["甲", "甲", "乙", "乙"]}
        | {"column": ["2019-01", "季度及以上"] * 2, "findings": [0, 2, 1, 0]}
    )
    heatmap = charts.compliance_heatmap(matrix).figure.data[0]
    assert _whole_ticks(heatmap.colorbar) and heatmap.zmax == 2
    card = pl.DataFrame({"branch_id": ["XH01", "XH02"], "rating": ["过硬", "未达标"], "findings": [0, 3]})
    comparison = card.with_columns(previous_findings=pl.Series([1, 2]))
    assert _whole_ticks(charts.ratings(card, STANDARD.ratings).figure.layout.yaxis)
    assert _whole_ticks(charts.quarter_comparison(comparison, "2019年第一季度", "2018年第四季度").figure.layout.yaxis)


def test_the_dues_percentage_axis_reads_0_to_100(broken):
    """#14 item 5: the right axis read 27.7 / 55.3 / 83."""
    axis = charts.dues_completeness(views.dues_by_month(broken, "XH01", Q1)).figure.layout.yaxis2
    assert list(axis.tickvals) == [0, 25, 50, 75, 100] and list(axis.ticktext) == ["0%", "25%", "50%", "75%", "100%"]
    assert tuple(axis.range) == (0, 105) and axis.tickmode == "array"


def test_a_chart_with_nothing_to_draw_is_one_sentence():
    """#14 item 5: a branch nobody owes showed an empty arrears chart with a −1…1 axis; every
    chart without data is its title and reading, no plotly figure."""
    tables = tables_of(world())
    nobody = "XH99"  # no records: every view is empty
    trend, missing = views.points_trend(tables, nobody, Q1)
    empty = {
        "arrears": charts.arrears_ageing(views.arrears_buckets(views.arrears(tables, Q1, STANDARD, nobody), STANDARD)),
        "theme_days": charts.theme_day_dates(views.theme_days(tables, nobody, Q1)),
        "attendance": charts.attendance(views.attendance_rates(tables, nobody, Q1)),
        "points": charts.points_trend(trend, missing),
        "dues": charts.dues_completeness(views.dues_by_month(tables, nobody, Q1)),
    }
    assert empty["arrears"].reading == "季度末没有欠缴党费的党员。"
    for name, chart in empty.items():
        assert chart.empty, name
        fragment = chart_html(chart)
        assert "plotly" not in fragment and fragment.count(chart.reading) == 1, name
        assert fragment.startswith('<p class="empty chart-empty">') and chart.figure.layout.title.text in fragment


def test_the_arrears_chart_is_as_tall_as_its_counts(broken):
    """The overview's arrears chart was 380 px tall for the one member who owed; now its height
    grows with the largest bucket, up to the other charts' 380 px."""
    owing = views.arrears(broken, Q1, STANDARD, "XH01")
    assert owing.height == 1
    heights = [
        charts.arrears_ageing(views.arrears_buckets(pl.concat([owing] * n), STANDARD)).figure.layout.height
        for n in (1, 2, 3, 5, 40)
    ]
    others = charts.meeting_frequency(views.meeting_counts(broken, "XH01", Q1, STANDARD)).figure.layout.height
    assert heights[0] <= 220 and heights[-1] == others == 380
    assert heights == sorted(heights) and len(set(heights)) > 2


def test_a_chart_with_something_to_draw_is_drawn(broken):
    owing = views.arrears_buckets(views.arrears(broken, Q1, STANDARD, "XH01"), STANDARD)
    chart = charts.arrears_ageing(owing)
    assert not chart.empty and "plotly-graph-div" in chart_html(chart)


def test_charts_offer_no_cloud_or_logo_and_a_chinese_toolbar():
    """#14 item 3: no "Share chart…" (plotly.js 4's cloud button) nor logo; the toolbar's locale is zh-CN."""
    import json
    import re

    from audit.display import PLOTLY_CONFIG

    chart = charts.ratings(pl.DataFrame({"rating": ["过硬"]}), STANDARD.ratings)
    before = json.dumps(PLOTLY_CONFIG)
    for n in range(2):  # the same on every chart: plotly edits the config it is handed, so it gets a copy
        fragment = chart_html(chart, element_id=f"c{n}")
        [given] = re.findall(r"(\{[^{}]*\"displaylogo\"[^{}]*(?:\{[^{}]*\}[^{}]*)*\})\s*\)", fragment)
        config = json.loads(given)
        assert config["showSendToCloud"] is False and config["displaylogo"] is False and config["locale"] == "zh-CN"
        assert {"sendChartToCloud", "sendDataToCloud", "editInChartStudio"} <= set(config["modeBarButtonsToRemove"])
        assert config["toImageButtonOptions"]["filename"] == "各支部评定结果"  # the PNG is named after the chart
    assert json.dumps(PLOTLY_CONFIG) == before


def test_pages_load_the_vendored_zh_cn_locale_of_the_bundled_plotly_js():
    """The locale file matches the plotly.js the plotly package bundles, and every page carries it
    inline after plotly.js (registered before the charts draw; nothing fetched)."""
    import re

    from plotly.offline import get_plotlyjs

    from audit.report.pages import PLOTLY_LOCALE, plotly_tag

    version = re.compile(r"plotly\.js v(\d+\.\d+\.\d+)")
    assert version.search(PLOTLY_LOCALE.read_text(encoding="utf-8")[:300]).group(1) == version.search(get_plotlyjs()[:300]).group(
        1
    )
    for tag in (plotly_tag(False, 1), plotly_tag(True, 0)):
        assert 'name:"zh-CN"' in tag and tag.rindex("Plotly.register(locale)") > tag.index("plotly")
        assert "https://" not in tag.split("<script>")[-1]


def _attendance_batch(folder) -> None:
    """One branch, four members, a quarter of meetings whose attendance comes in every shape a
    ledger gives it: a per-member list (党课), only 应到 / 实到人数 beside an absentee text
    (主题党日, 党员大会), and nothing at all (支委会: a blank 缺席人员 cell, no counts)."""
    write_csv(folder / "支部信息.csv", [["支部编号", "支部名称", "上级党组织"], ["B01", "联兴集团党支部", "新华街道党工委"]])
    write_csv(
        folder / "党员名册.csv",
        [["工作证号", "姓名", "所在支部编号", "党籍状态", "入党时间"]]
        + [[f"W{i}", name, "B01", "正式", "2005-07-01"] for i, name in enumerate(("张三", "李四", "王五", "赵六"), 1)],
    )
    write_csv(
        folder / "三会一课.csv",
        [
            ["所在党支部", "会议类型", "会议时间", "会议主题", "应到人数", "实到人数", "缺席人员"],
            ["联兴集团党支部", "党课", "2019-01-15", "学习党章", "", "", ""],
            ["联兴集团党支部", "主题党日", "2019-01-20", "重温入党誓词", "4", "3", "赵六"],
            ["联兴集团党支部", "支委会", "2019-02-10", "研究工作", "", "", ""],
            ["联兴集团党支部", "党员大会", "2019-03-05", "接收预备党员", "4", "4", ""],
        ],
    )
    write_csv(
        folder / "参会明细.csv",
        [["会议时间", "会议类型", "工作证号", "出勤情况"]]
        + [["2019-01-15", "党课", w, s] for w, s in (("W1", "出席"), ("W2", "出席"), ("W3", "请假"))],
    )


def test_attendance_counts_meetings_without_a_list_and_never_rates_an_unrecorded_one(tmp_path, monkeypatch):
    """Walk-through A1: ledgers that record only absentees showed 0% for every meeting (the
    absentees taken as 应到, nobody as 出席). A meeting without a list is counted from its 实到 /
    应到人数, as OL-10 counts it, and the reading says which; one without any attendance data has
    no bar and no rate, only 未记录."""
    monkeypatch.setenv(SECRET_ENV, str(tmp_path / "pseudonym.key"))
    _attendance_batch(tmp_path / "batch")
    tables = ingest(tmp_path / "batch").tables
    rates = views.attendance_rates(tables, "B01", Q1)
    assert rates.select("meeting_type", "source", "expected", "present", "leave").rows() == [
        ("党课", "list", 3, 2, 1),
        ("主题党日", "counts", 4, 3, None),
        ("支部委员会", "none", None, None, None),
        ("支部党员大会", "counts", 4, 4, None),
    ]
    assert rates["rate"].to_list()[:2] == [pytest.approx(2 / 3), 0.75] and rates["rate"][2] is None
    chart = charts.attendance(rates)
    assert chart.reading == (
        "本季度4次会议中3次有出勤记录，平均出席率81%，最低67%；1月20日、3月5日按会议记录的应到、实到人数计算"
        "（没有逐人参会名单）；2月10日未记录出勤。"
    )
    bars = {
        x: (y, tuple(c)) for t in chart.figure.data if t.type == "bar" for x, y, c in zip(t.x, t.y, t.customdata, strict=True)
    }
    assert set(bars) == {"1月15日", "1月20日", "3月5日"}  # no bar, so no 0%, for 2月10日
    assert bars["1月20日"] == (75.0, (3, 4, "75%", "按会议记录的应到、实到人数（没有逐人名单）"))
    assert bars["1月15日"][1][:3] == (2, 3, "66.7%")
    [unrecorded] = [t for t in chart.figure.data if t.name == "未记录出勤"]
    assert list(unrecorded.x) == ["2月10日"] and list(unrecorded.text) == ["未记录"]
    # the 党员大会's present is OL-10's: the view counts as the `assembly` fact counts
    facts = validate_tables(tables, Q1).facts.tables["assembly"]
    assembly = rates.filter(pl.col("meeting_type") == "支部党员大会")
    assert facts.select("meeting_id", "attended").rows() == assembly.select("meeting_id", "present").rows()


def test_a_quarter_without_any_attendance_data_is_one_sentence(tmp_path, monkeypatch):
    """Meetings held, but none with a list or counts: no chart of zeros, one sentence."""
    monkeypatch.setenv(SECRET_ENV, str(tmp_path / "pseudonym.key"))
    _attendance_batch(tmp_path / "batch")
    (tmp_path / "batch" / "参会明细.csv").unlink()
    tables = ingest(tmp_path / "batch").tables
    meetings = tables["meetings"].with_columns(pl.lit(None, dtype=pl.Int64).alias(c) for c in ("expected_count", "present_count"))
    chart = charts.attendance(views.attendance_rates({**tables, "meetings": meetings}, "B01", Q1))
    assert chart.empty and chart.reading == "本季度4次会议都没有出勤记录（既没有参会名单，也没有应到、实到人数）。"


def _percent_hovers(figure: go.Figure) -> list[str]:
    """The hover templates of a figure's traces drawn against an axis with tick texts."""
    data = figure.to_plotly_json()
    found = []
    for trace in data["data"]:
        axis = data["layout"].get("yaxis" + (trace.get("yaxis") or "y")[1:], {})
        if axis.get("ticktext") and trace.get("hovertemplate"):
            found.append(trace["hovertemplate"])
    return found


def test_no_hover_puts_a_percent_sign_after_a_tick_text(broken):
    """Walk-through B6: a 100% bar hovered as `100%%`. On an axis with tick texts plotly writes
    `%{y}` as the tick's text where a value has one (100 -> `100%`), so a template `%{y}%` doubled
    the sign at 0, 25, 50, 75 and 100; every percentage in a hover is now its own text."""
    dues = charts.dues_completeness(views.dues_by_month(broken, "XH01", Q1)).figure
    assert _percent_hovers(dues) == ["%{x}足额交纳：%{customdata}<extra></extra>"]
    line = next(t for t in dues.data if t.yaxis == "y2")
    assert all(re.fullmatch(r"\d+(\.\d)?%", text) for text in line.customdata)
    full = _rates([("M1", dt.date(2019, 1, 3), "支部委员会", 11, 11), ("M2", dt.date(2019, 1, 9), "党小组会", 21, 19)])
    attendance = charts.attendance(full).figure
    hovers = _percent_hovers(attendance)
    assert len(hovers) == 2 and not any("%{y}" in h for h in hovers)
    bar = next(t for t in attendance.data if t.name == "支部委员会")
    assert "（%{customdata[2]}）" in bar.hovertemplate and bar.customdata[0][2] == "100%"
    assert next(t for t in attendance.data if t.name == "党小组会").customdata[0][2] == "90.5%"


def test_the_points_title_names_the_months_it_shows(broken):
    """Walk-through C15: the title said 近四个季度 over 9 months (the data start in 2018-07)."""
    trend, missing = views.points_trend(broken, "XH01", Q1)
    assert trend.height == 9
    assert charts.points_trend(trend, missing).figure.layout.title.text == "党员积分月度趋势（2018年7月至2019年3月）"
    year = pl.DataFrame({"month": [dt.date(2018, m, 1) for m in range(1, 13)]}).with_columns(
        month_label=pl.format("{}年{}月", pl.col("month").dt.year(), pl.col("month").dt.month()),
        average=pl.lit(90.0),
        minimum=pl.lit(80.0),
        maximum=pl.lit(100.0),
        missing=pl.lit(0),
    )
    assert charts.points_trend(year, missing.clear()).figure.layout.title.text == "党员积分月度趋势（2018年1月至2018年12月）"
