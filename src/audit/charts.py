"""Report charts: functions from small tables (views.py) to plotly figures, each with a one-line
Chinese reading of what it shows. No kernel needed: tests call them directly."""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from audit.facts.meeting_types import APPRAISAL, ASSEMBLY, COMMITTEE, GROUP_MEETING, LECTURE, LIFE_MEETING, STUDY, THEME_DAY
from audit.periods import period_zh
from audit.standard import RATINGS

FONT = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, SimHei, sans-serif"
# one colour per meeting type of the contract (`audit.facts.meeting_types`)
COLORS = {
    COMMITTEE: "#c0392b",
    GROUP_MEETING: "#e67e22",
    THEME_DAY: "#d4ac0d",
    ASSEMBLY: "#8e44ad",
    LECTURE: "#2471a3",
    STUDY: "#17a589",
    LIFE_MEETING: "#7f8c8d",
    APPRAISAL: "#5d6d7e",
}
# the report's plotly template as plotly stores it; `go.Figure` copies it into each figure
_TEMPLATE = pio.templates["plotly_white"].to_plotly_json()
MONTH = re.compile(r"\d{4}-\d{2}")  # a month period (`2019-02`), shown as 2019年2月
# one colour per rating, by its code (`audit.standard.RATINGS`); the words are the standard's
RATING_COLORS = {"best": "#1e8449", "pass": "#d4ac0d", "fail": "#c0392b"}


@dataclass(frozen=True)
class Chart:
    figure: go.Figure
    reading: str  # one sentence a reviewer reads under the chart
    empty: bool = False  # nothing to draw: the pages show the reading alone, never an empty chart


# Tick steps for axes of counts: whole numbers only, at most `_MAX_TICKS` ticks
_STEPS = tuple(m * 10**e for e in range(7) for m in (1, 2, 5))
_MAX_TICKS = 8


def count_axis(top: float, title: str | None = None, headroom: float = 1.08) -> dict[str, Any]:
    """An axis of counts (meetings, members, branches, findings): ticks at whole numbers from 0
    with a round step (1, 2, 5, 10 …), never 0.5 or 1.5; `top` is the largest count drawn and
    `headroom` leaves room above it for bar labels."""
    step = next((s for s in _STEPS if top / s <= _MAX_TICKS), _STEPS[-1])
    axis: dict[str, Any] = {
        "tickmode": "linear",
        "tick0": 0,
        "dtick": step,
        "tickformat": "d",
        "range": [0, max(top, 1) * headroom],
    }
    if title is not None:
        axis["title"] = {"text": title}
    return axis


def count_height(top: float, per_count: int = 40, least: int = 220, most: int = 380) -> int:
    """A chart's height (px) for bars of counts up to `top`: the title and axis labels, then
    `per_count` for each one counted, within `least` and `most`: a chart of one member is 220 px
    tall, one of five or more 380 px (the others' height), not a tall empty axis from 0 to 1."""
    return max(least, min(most, 170 + per_count * math.ceil(top)))


# A percentage axis (0–100): ticks every 25 with the % sign, never 27.7 / 55.3 / 83
PERCENT_TICKS: dict[str, Any] = {
    "tickmode": "array",
    "tickvals": [0, 25, 50, 75, 100],
    "ticktext": ["0%", "25%", "50%", "75%", "100%"],
}


def _top(*values: Any) -> float:
    """The largest of some counts (lists or polars Series, nulls ignored), 0 when there are none."""
    found = [v for vs in values for v in vs if v is not None]
    return float(max(found, default=0))


def _empty(fig: _Draft, title: str, reading: str) -> Chart:
    """A chart with nothing to draw: its title and reading, marked empty so pages show the sentence only."""
    return Chart(_layout(fig, title), reading, empty=True)


class _Draft:
    """A figure being drawn, as plain plotly property dicts: its traces (the first ones may be
    given, `_trace`) and the lines across it.
    `_layout` makes it a `go.Figure` once, without plotly's per-property validation — building
    charts through plotly's validating API (`add_bar`, `update_layout`) took about 25 ms a chart,
    most of a branch page's time; this takes under 1 ms. `tests/test_charts.py` validates every
    finished chart through plotly and checks that validating changes nothing."""

    def __init__(self, *traces: dict[str, Any]) -> None:
        self.data: list[dict[str, Any]] = list(traces)
        self.shapes: list[dict[str, Any]] = []

    def add(self, kind: str, **props: Any) -> None:
        """Adds one trace of plotly type `kind` (`bar`, `scatter`, `heatmap`) with its properties."""
        self.data.append(_trace(kind, **props))


def _trace(kind: str, **props: Any) -> dict[str, Any]:
    """One trace's properties as plotly stores them: `type` named, properties given as None left
    out (plotly's own default, as its constructors treat None), objects inside it (`marker`,
    `colorbar` …) with their keys in plotly's constructor order, which is alphabetical
    (`go.Bar(marker={...})` builds a `Marker` and writes its keys in that order)."""
    return {"type": kind, **{k: _constructed(v) for k, v in props.items() if v is not None}}


def _constructed(value: Any) -> Any:
    """A trace property as plotly's constructors store it: an object's keys sorted, at every level."""
    return {k: _constructed(value[k]) for k in sorted(value)} if isinstance(value, dict) else value


# Layout subplots that do not exist until a figure names them (`yaxis2`): plotly's update first
# creates each one empty (`BaseFigure._perform_update`)
_NEW_SUBPLOT = re.compile(r"[xy]axis\d+")


def _as_updated(layout: dict[str, Any]) -> dict[str, Any]:
    """`layout` (properties in the order given) with its keys in the order plotly's
    `fig.update_layout(**layout)` stores them on a figure that has only its template. The pages
    were drawn with `update_layout` before the charts were built as property dicts (issue #16);
    writing the keys in the same order keeps every page byte-identical to those, so a changed
    page means a changed chart. `tests/test_charts.py` checks this against plotly's own
    `update_layout` for every chart.

    plotly batches an update: an object (`font`, `yaxis` …) is placed when the first plain value
    inside it (a number, text, list) is set, and the plain values themselves are written after the
    whole update, in the order given, each placing the objects on its path still missing. An axis
    title given as its text alone (`{"text": …}`: plotly's `title="…"`) is one plain value."""
    placed: dict[str, Any] = {}
    values: list[tuple[tuple[str, ...], Any]] = [((key,), {}) for key in layout if _NEW_SUBPLOT.fullmatch(key)]

    def place(path: tuple[str, ...]) -> dict[str, Any]:
        node = placed
        for key in path:
            node = node.setdefault(key, {})
        return node

    def walk(props: dict[str, Any], path: tuple[str, ...]) -> None:
        for key, value in props.items():
            if value is None:
                continue  # plotly's default: not set, not sent
            if isinstance(value, dict) and not (key == "title" and list(value) == ["text"]):
                walk(value, (*path, key))
                continue
            if not isinstance(value, dict):  # a plain value places its object now, a title given as text does not
                place(path)
            values.append(((*path, key), value))

    walk(layout, ())
    for path, value in values:
        place(path[:-1])[path[-1]] = copy.deepcopy(value)  # as the update stores it: no two charts share a list
    return placed


def _bars(fig: _Draft, x: list[Any], y: list[Any], name: str, color: str | None, hover: str, **style: Any) -> None:
    """Adds one named bar series: its legend name, colour and hover text (`hovertemplate`)."""
    marker = {} if color is None else {"marker": {"color": color}}
    fig.add("bar", x=x, y=y, name=name, hovertemplate=hover, **marker, **style)


def _line(fig: _Draft, x: list[Any], y: list[Any], name: str, color: str, hover: str, **style: Any) -> None:
    """Adds one named line with markers: its legend name, colour and hover text."""
    fig.add("scatter", x=x, y=y, name=name, mode="lines+markers", line={"color": color}, hovertemplate=hover, **style)


def _rule_line(fig: _Draft, y: float, name: str, color: str, dash: str) -> None:
    """A requirement as a horizontal line across the plot, named in the legend: a label inside the
    plot would cover bars or markers, or be cut off at the plot's edge. The line is the shape
    plotly's `add_hline` draws (the plot's full width, at `y` on the y axis)."""
    line = {"color": color, "dash": dash, "width": 2}
    fig.shapes.append({"line": line, "type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y, "yref": "y"})
    fig.add("scatter", x=[None], y=[None], mode="lines", name=name, line=dict(line), hoverinfo="skip")


def _layout(fig: _Draft, title: str, **layout: Any) -> go.Figure:
    """The finished `go.Figure`: the report's template, title, font, margins, legend and the
    chart's own layout properties (axes, `barmode`, `height` …). Built without validation, then
    validating again, so that a reviewer's later `fig.update_layout(...)` in JupyterLab is checked
    as plotly always checks it."""
    head: dict[str, Any] = {"template": _TEMPLATE}  # copied by go.Figure: edits stay in the figure
    if fig.shapes:
        head["shapes"] = fig.shapes
    updates = {
        "title": {"text": title, "x": 0.01, "font": {"size": 16}},
        "font": {"family": FONT, "size": 13},
        "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
        "height": 380,
        # below everything, whatever room the axis labels take (`yref` container: the figure's bottom)
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        "hoverlabel": {"font": {"family": FONT}},
        **layout,
    }
    figure = go.Figure({"data": fig.data, "layout": head | updates}, _validate=False)
    # plotly's constructor writes the layout's keys in alphabetical order: put them in the order
    # its `update_layout` gives (`_as_updated`), the template and shapes first as before
    stored = figure._layout
    kept = {key: stored[key] for key in head}
    stored.clear()
    stored.update(kept | _as_updated(updates))
    figure._validate = True
    figure.layout._validate = True
    for trace in figure.data:
        trace._validate = True
    return figure


def meeting_frequency(counts: pl.DataFrame, title: str = "每月会议次数与要求") -> Chart:
    fig = _Draft()
    shown_required = False
    for kind in counts["meeting_type"].unique(maintain_order=True):
        rows = counts.filter(pl.col("meeting_type") == kind)
        if rows["count"].sum() == 0 and rows["required"].fill_null(0).sum() == 0:
            continue
        hover = f"{kind}<br>%{{x}}：%{{y}}次<extra></extra>"
        _bars(fig, rows["month_label"].to_list(), rows["count"].to_list(), kind, COLORS.get(kind), hover, offsetgroup=kind)
        required = rows.filter(pl.col("required").is_not_null() & (pl.col("required") > 0))
        if not required.is_empty():  # a bar-wide tick at the minimum, drawn over this type's bar
            fig.add(
                "scatter",
                x=required["month_label"].to_list(),
                y=required["required"].to_list(),
                mode="markers",
                name="最低要求",
                legendgroup="required",
                showlegend=not shown_required,
                offsetgroup=kind,
                marker={"symbol": "line-ew-open", "size": 26, "color": "#000", "line": {"width": 3}},
                hovertemplate=f"{kind}最低要求：%{{y}}次<extra></extra>",
            )
            shown_required = True
    short = counts.filter(pl.col("required").is_not_null() & (pl.col("count") < pl.col("required")))
    if short.is_empty():
        reading = f"每月的{COMMITTEE}、{GROUP_MEETING}和{THEME_DAY}都达到了最低要求。"
    else:
        items = "、".join(
            f"{r['month_label']}{r['meeting_type']}（{r['count']}/{r['required']}次）" for r in short.iter_rows(named=True)
        )
        reading = f"未达到最低要求：{items}。"
    if not fig.data:
        return _empty(fig, title, "本季度没有会议记录，也没有需要达到的最低次数。")
    top = _top(counts["count"], counts["required"])
    layout = _layout(
        fig, title, barmode="group", scattermode="group", yaxis=count_axis(top, "次数"), xaxis={"title": {"text": "月份"}}
    )
    return Chart(layout, reading)


def theme_day_dates(days: pl.DataFrame, day_of_month: int = 15, title: str = "主题党日开展日期") -> Chart:
    fig = _Draft()
    fig.add(
        "scatter",
        x=days["month_label"].to_list(),
        y=days["day"].to_list(),
        mode="markers+text",
        name="开展日期",
        text=[f"{d}日" for d in days["day"]],
        textposition="top center",
        marker={"size": 14, "color": "#c0392b"},
        customdata=days["topic"].fill_null("（未记录主题）").to_list(),
        hovertemplate="%{x}%{y}日：%{customdata}<extra></extra>",
    )
    _rule_line(fig, day_of_month, f"规定日期：每月{day_of_month}日", "#555", "dash")
    off = days.filter(pl.col("day") != day_of_month)
    if days.is_empty():
        reading = "本季度没有主题党日记录。"
    elif off.is_empty():
        reading = f"本季度{days.height}次主题党日都在每月{day_of_month}日开展。"
    else:
        reading = "不在规定日期开展：" + "、".join(f"{r['month_label']}{r['day']}日" for r in off.iter_rows(named=True)) + "。"
    if days.is_empty():
        return _empty(fig, title, reading)
    layout = _layout(
        fig,
        title,
        yaxis={"title": {"text": "日"}, "range": [0, 32], "dtick": 5},
        xaxis={"title": {"text": "月份"}, "type": "category"},
    )
    return Chart(layout, reading)


def meeting_labels(held_on: list[dt.date]) -> list[str]:
    """One distinct axis label per meeting, in the order given (date order): `1月9日`, and for the
    second meeting on the same day `1月9日②` (③ … ⑳ after it), so that meetings on one day stand
    side by side as full bars instead of sharing one category."""
    seen: dict[dt.date, int] = {}
    labels = []
    for day in held_on:
        seen[day] = seen.get(day, 0) + 1
        n = seen[day]
        labels.append(f"{day.month}月{day.day}日" + ("" if n == 1 else chr(0x245F + n) if n <= 20 else f"（{n}）"))
    return labels


# The attendance a 党员大会 must exceed (more than half of the members), drawn as a line
ASSEMBLY_QUORUM = 50


def percent_text(share: float | None) -> str:
    """A share as hover text: `100%`, `90.5%` (one decimal, none when whole). Hover labels carry
    their own text: plotly writes `%{y}` on an axis with tick texts as the tick's text (`100%`),
    so a template `%{y}%` showed `100%%`."""
    if share is None:
        return "未记录"
    return f"{share * 100:.1f}".removesuffix(".0") + "%"


# How a meeting's attendance was counted, as the hover says it (`views.attendance_rates` `source`)
ATTENDANCE_BASIS = {"list": "按参会名单", "counts": "按会议记录的应到、实到人数（没有逐人名单）"}
UNRECORDED = "未记录"
_NAMED = 5  # meetings a reading names before `等N次`


def _named_meetings(labels: list[str]) -> str:
    """`1月5日、1月8日` or `1月5日、…、2月7日等12次`: the meetings a reading names."""
    shown = "、".join(labels[:_NAMED])
    return shown + (f"等{len(labels)}次" if len(labels) > _NAMED else "")


def attendance(rates: pl.DataFrame, title: str = "各次会议出席率") -> Chart:
    """One bar per meeting of the quarter, in date order (a category per meeting, `meeting_labels`),
    coloured by meeting type; the 党员大会 quorum is a dotted line named in the legend. A meeting
    counted from its 应到 / 实到人数 says so in the hover and the reading; a meeting without any
    attendance data gets no bar and no rate, only the word 未记录."""
    fig = _Draft()
    rates = rates.sort("held_on", "meeting_id")
    rates = rates.with_columns(label=pl.Series(meeting_labels(rates["held_on"].to_list()), dtype=pl.String))
    if rates.is_empty():
        return _empty(fig, title, "本季度没有会议记录。")
    known = rates.filter(pl.col("rate").is_not_null())
    unknown = rates.filter(pl.col("rate").is_null())
    if known.is_empty():
        return _empty(fig, title, f"本季度{rates.height}次会议都没有出勤记录（既没有参会名单，也没有应到、实到人数）。")
    for kind in known["meeting_type"].unique(maintain_order=True):
        rows = known.filter(pl.col("meeting_type") == kind)
        _bars(
            fig,
            rows["label"].to_list(),
            (rows["rate"] * 100).round(1).to_list(),
            kind,
            COLORS.get(kind),
            f"{kind} %{{x}}<br>出席 %{{customdata[0]}}/%{{customdata[1]}}人（%{{customdata[2]}}）"
            "<br>%{customdata[3]}<extra></extra>",
            customdata=[
                [r["present"], r["expected"], percent_text(r["rate"]), ATTENDANCE_BASIS[r["source"]]]
                for r in rows.iter_rows(named=True)
            ],
        )
    if not unknown.is_empty():  # a word on the axis, not a bar at 0%: nothing says nobody came
        fig.add(
            "scatter",
            x=unknown["label"].to_list(),
            y=[4] * unknown.height,
            mode="text",
            text=[UNRECORDED] * unknown.height,
            textposition="top center",
            textfont={"color": "#7f8c8d"},
            name="未记录出勤",
            showlegend=False,  # the word stands on the axis itself
            customdata=unknown["meeting_type"].to_list(),
            hovertemplate="%{customdata} %{x}<br>未记录出勤（没有参会名单，也没有应到、实到人数）<extra></extra>",
        )
    _rule_line(fig, ASSEMBLY_QUORUM, f"{ASSEMBLY}出席须超过半数", COLORS[ASSEMBLY], "dot")
    mean, lowest = known["rate"].mean(), known["rate"].min()
    assert isinstance(mean, float) and isinstance(lowest, float)
    if unknown.is_empty():
        reading = f"本季度{rates.height}次会议平均出席率{mean * 100:.0f}%，最低{lowest * 100:.0f}%"
    else:
        reading = f"本季度{rates.height}次会议中{known.height}次有出勤记录，平均出席率{mean * 100:.0f}%，最低{lowest * 100:.0f}%"
    counted = known.filter(pl.col("source") == "counts")
    if counted.height == known.height:
        reading += "；出席率均按会议记录的应到、实到人数计算（没有逐人参会名单）"
    elif not counted.is_empty():
        reading += f"；{_named_meetings(counted['label'].to_list())}按会议记录的应到、实到人数计算（没有逐人参会名单）"
    if not unknown.is_empty():
        reading += f"；{_named_meetings(unknown['label'].to_list())}未记录出勤"
    reading += "。"
    xaxis = {
        "title": {"text": "会议日期"},
        "type": "category",
        "categoryorder": "array",
        "categoryarray": rates["label"].to_list(),
    }
    yaxis = {"title": {"text": "出席率"}, "range": [0, 105], **PERCENT_TICKS}
    return Chart(_layout(fig, title, barmode="overlay", yaxis=yaxis, xaxis=xaxis), reading)


POINTS_TITLE = "党员积分月度趋势"


def points_trend(trend: pl.DataFrame, missing: pl.DataFrame, title: str | None = None) -> Chart:
    """Monthly points of the months `views.points_trend` gives (the last four quarters, fewer when
    the data start later); the title names those months (`2018年7月至2019年3月`), never more."""
    fig = _Draft()
    labels = trend["month_label"].to_list()
    if title is None:
        title = POINTS_TITLE + (f"（{labels[0]}至{labels[-1]}）" if len(labels) > 1 else f"（{labels[0]}）" if labels else "")
    if trend.is_empty() or trend["average"].null_count() == trend.height:
        return _empty(fig, title, "没有积分记录。")
    fig.add(
        "scatter", x=labels, y=trend["maximum"].to_list(), mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
    )
    fig.add(
        "scatter",
        x=labels,
        y=trend["minimum"].to_list(),
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor="rgba(192,57,43,0.15)",
        name="最低～最高",
        hovertemplate="%{x}最低：%{y}<extra></extra>",
    )
    _line(fig, labels, trend["average"].round(1).to_list(), "平均分", "#c0392b", "%{x}平均：%{y}分<extra></extra>")
    gaps = trend.filter(pl.col("missing") > 0)
    if not gaps.is_empty():
        fig.add(
            "scatter",
            x=gaps["month_label"].to_list(),
            y=gaps["average"].fill_null(0).to_list(),
            mode="markers+text",
            name="有党员缺少积分",
            marker={"symbol": "x", "size": 13, "color": "#000"},
            text=[f"缺{n}人" for n in gaps["missing"]],
            textposition="bottom center",
            hovertemplate="%{x}：%{text}<extra></extra>",
        )
    if missing.is_empty():
        reading = (
            f"近{trend.height}个月每名党员都有积分记录，月平均分{trend['average'].mean():.1f}分。"
            if trend.height
            else "没有积分记录。"
        )
    else:
        names = "、".join(f"{r['name']}（{r['months']}）" for r in missing.head(5).iter_rows(named=True))
        more = f"等{missing.height}人" if missing.height > 5 else ""
        reading = f"缺少积分记录：{names}{more}。"
    return Chart(_layout(fig, title, yaxis={"title": {"text": "月度积分"}}, xaxis={"title": {"text": "月份"}}), reading)


def dues_completeness(monthly: pl.DataFrame, title: str = "党费应交与实交") -> Chart:
    fig = _Draft()
    if monthly.is_empty():
        return _empty(fig, title, "本季度没有党费记录。")
    labels = monthly["month_label"].to_list()
    _bars(fig, labels, monthly["due"].round(2).to_list(), "应交（元）", "#aab7b8", "%{x}应交：%{y}元<extra></extra>")
    _bars(fig, labels, monthly["paid"].round(2).to_list(), "实交（元）", "#c0392b", "%{x}实交：%{y}元<extra></extra>")
    completion = (monthly["completion"] * 100).round(1).to_list()
    shares = [percent_text(c) for c in monthly["completion"].to_list()]
    hover = "%{x}足额交纳：%{customdata}<extra></extra>"  # not `%{y}%`: see `percent_text`
    _line(fig, labels, completion, "足额交纳人数比例（%）", "#1e8449", hover, yaxis="y2", customdata=shares)
    low = monthly.filter(pl.col("completion") < 1)
    if low.is_empty():
        reading = f"本季度每月全体党员足额交纳党费，共实交{monthly['paid'].sum():.2f}元。"
    else:
        items = "、".join(f"{r['month_label']}{r['members'] - r['paid_in_full']}人" for r in low.iter_rows(named=True))
        reading = f"未足额交纳：{items}；本季度实交{monthly['paid'].sum():.2f}元，应交{monthly['due'].sum():.2f}元。"
    layout = _layout(
        fig,
        title,
        barmode="group",
        yaxis={"title": {"text": "金额（元）"}},
        yaxis2={
            "title": {"text": "足额交纳人数比例"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 105],
            **PERCENT_TICKS,
            "showgrid": False,
        },
        xaxis={"title": {"text": "月份"}},
    )
    return Chart(layout, reading)


def arrears_ageing(buckets: pl.DataFrame, title: str = "欠缴党费账龄") -> Chart:
    """Members per arrears bucket (`views.arrears_buckets`); the `at_risk` bucket is SM-8's."""
    colors = ["#f5b041", "#e67e22", "#922b21"][-buckets.height :]
    fig = _Draft(
        _trace(
            "bar",
            x=buckets["bucket"].to_list(),
            y=buckets["members"].to_list(),
            marker={"color": colors},
            text=[
                f"{n}人" + ("（自行脱党风险）" if at_risk and n else "")
                for at_risk, n in zip(buckets["at_risk"], buckets["members"], strict=True)
            ],
            textposition="outside",
            hovertemplate="连续欠缴%{x}：%{y}人<extra></extra>",
        )
    )
    at_risk = buckets.filter(pl.col("at_risk"))
    risk = int(at_risk["members"].sum())
    total = int(buckets["members"].sum())
    if total == 0:
        return _empty(fig, title, "季度末没有欠缴党费的党员。")
    if at_risk.is_empty():
        reading = f"季度末连续欠缴党费{total}人。"
    else:
        reading = f"季度末连续欠缴党费{total}人，其中连续{at_risk['bucket'][0]}{risk}人" + (
            "，按党章第九条有自行脱党风险。" if risk else "。"
        )
    top = _top(buckets["members"])
    # sized to the counts: one member is a short chart
    layout = _layout(
        fig,
        title,
        yaxis=count_axis(top, "人数", 1.2),
        xaxis={"title": {"text": "连续欠缴月数"}},
        showlegend=False,
        height=count_height(top),
    )
    return Chart(layout, reading)


def compliance_heatmap(matrix: pl.DataFrame, title: str = "各支部各月问题数（错误及严重）") -> Chart:
    branches = matrix.select("branch_id", "branch_name").unique(maintain_order=True)
    columns = matrix["column"].unique(maintain_order=True).to_list()
    z = [[int(v) for v in matrix.filter(pl.col("branch_id") == b)["findings"]] for b in branches["branch_id"]]
    labels = [f"{b}　{n}" for b, n in zip(branches["branch_id"], branches["branch_name"], strict=True)]
    top = max((v for row in z for v in row), default=0)
    fig = _Draft(
        _trace(
            "heatmap",
            z=z,
            x=[period_zh(c) if MONTH.fullmatch(c) else c for c in columns],
            y=labels,
            colorscale=[[0, "#eafaf1"], [0.01, "#f9e79f"], [1, "#922b21"]],
            zmin=0,
            zmax=max(top, 1),
            text=[[str(v) if v else "" for v in row] for row in z],  # a clean cell stays blank
            texttemplate="%{text}",
            hovertemplate="%{y}<br>%{x}：%{z}个问题<extra></extra>",
            colorbar={"title": {"text": "问题数"}}
            | {k: v for k, v in count_axis(top).items() if k in ("tickmode", "tick0", "dtick", "tickformat")},
        )
    )
    clean = sum(1 for row in z if not any(row))
    reading = f"{len(labels)}个支部中{clean}个本季度没有错误或严重问题；颜色越深问题越多。"
    height = max(380, 26 * len(labels) + 120)
    layout = _layout(
        fig, title, yaxis={"autorange": "reversed"}, xaxis={"title": {"text": "期间"}, "type": "category"}, height=height
    )
    return Chart(layout, reading)


def ratings(scorecard: pl.DataFrame, words: Mapping[str, str], title: str = "各支部评定结果") -> Chart:
    """Branches per rating, best first; `words`: the standard's rating words by code (`Standard.ratings`)."""
    order = [words[code] for code in RATINGS]
    counts = {r: scorecard.filter(pl.col("rating") == r).height for r in order}
    fig = _Draft(
        _trace(
            "bar",
            x=order,
            y=[counts[r] for r in order],
            marker={"color": [RATING_COLORS[code] for code in RATINGS]},
            text=[f"{counts[r]}个" for r in order],
            textposition="outside",
            hovertemplate="%{x}：%{y}个支部<extra></extra>",
        )
    )
    reading = "，".join(f"{r}{counts[r]}个" for r in order) + f"（共{scorecard.height}个支部）。"
    return Chart(_layout(fig, title, yaxis=count_axis(max(counts.values(), default=0), "支部数", 1.2), showlegend=False), reading)


def quarter_comparison(
    comparison: pl.DataFrame, quarter_zh: str, previous_zh: str, title: str = "本季度与上季度问题数对比"
) -> Chart:
    fig = _Draft()
    labels = comparison["branch_id"].to_list()
    if comparison["previous_findings"].null_count() < comparison.height:
        previous = comparison["previous_findings"].to_list()
        _bars(fig, labels, previous, previous_zh, "#aab7b8", f"%{{x}} {previous_zh}：%{{y}}个问题<extra></extra>")
    findings = comparison["findings"].to_list()
    _bars(fig, labels, findings, quarter_zh, "#c0392b", f"%{{x}} {quarter_zh}：%{{y}}个问题<extra></extra>")
    if comparison["previous_findings"].null_count() == comparison.height:
        reading = f"数据中没有{previous_zh}，无法对比。"
    else:
        now, before = int(comparison["findings"].sum()), int(comparison["previous_findings"].fill_null(0).sum())
        better = comparison.filter(pl.col("findings") < pl.col("previous_findings")).height
        worse = comparison.filter(pl.col("findings") > pl.col("previous_findings")).height
        reading = f"问题总数从{previous_zh}的{before}个变为{now}个；{better}个支部减少，{worse}个支部增加。"
    return Chart(
        _layout(
            fig,
            title,
            barmode="group",
            yaxis=count_axis(_top(comparison["findings"], comparison["previous_findings"]), "问题数"),
            xaxis={"title": {"text": "支部"}, "type": "category"},
        ),
        reading,
    )
