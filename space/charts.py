"""The Space's plots (Plotly, rendered in the browser by ``gr.Plot``).

Why Plotly rather than Gradio's native ``LinePlot``: the forecast chart needs bars coloured per hour
by crowding level, an asymmetric 80% interval on each bar and actuals drawn on top -- three layers a
single-series native plot cannot express.  Plotly figures are plain JSON for the browser, so the
server does no rendering work and the Space needs no image backend.

Functions take polars frames the callbacks already built and return figures; they never fetch
anything, so they are trivially testable.  ``plotly`` is imported inside them to keep module import
(and hence Space start-up) light.
"""

from __future__ import annotations

import textwrap
from typing import Any

import polars as pl

try:
    from space import texts
except ImportError:  # on Hugging Face the Space root is the working directory: sibling modules
    import texts  # type: ignore[no-redef]

FONT = "Pretendard, 'Noto Sans KR', 'Noto Sans CJK KR', 'Apple SD Gothic Neo', sans-serif"
ACTUAL_COLOR = "#1f2a44"
ACTUAL_NAME = "실제 actual"
BAND_COLOR = "rgba(31, 42, 68, 0.45)"
HORIZON_COLORS = ("#0b6e4f", "#2a9d8f", "#57b894", "#8ecae6", "#f4a261", "#e76f51", "#b5179e")


def _layout(fig: Any, *, height: int, title: str | None = None) -> Any:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 60 if title else 30, "b": 110},
        font={"family": FONT, "size": 13},
        title={"text": title, "x": 0.01, "xanchor": "left"} if title else None,
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -0.14,
            "x": 0,
            "xanchor": "left",
            "traceorder": "normal",
            # fixed-width entries: Gradio sizes the plot after the first layout, and free-width
            # horizontal entries were then left stacked one per row
            "entrywidthmode": "pixels",
            "entrywidth": 175,
        },
        hoverlabel={"font": {"family": FONT}},
        bargap=0.15,
    )
    return fig


def message_figure(message: str, height: int = 360) -> Any:
    """An empty chart that says why it is empty (better than a blank box)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(
        text="<br>".join(textwrap.wrap(message, 56)),  # plotly never wraps annotation text itself
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 16},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=height)


def forecast_figure(view: pl.DataFrame, title: str) -> Any:
    """Hourly boardings (top) and alightings (bottom): forecast bars coloured by crowding level with
    their 80% interval, and the actual counts as a dark line where they exist.

    ``view``: one row per hour x direction with ``hour, direction, yhat, lo, hi, level, actual``
    (any of the value columns may be null).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = [f"{ko} · {en}" for ko, en in texts.DIRECTIONS.values()]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.09, subplot_titles=names)
    has_forecast = view.filter(pl.col("yhat").is_not_null()).height > 0
    has_levels = view.filter(pl.col("level").is_not_null()).height > 0
    has_actual = view.filter(pl.col("actual").is_not_null()).height > 0
    for row, direction in enumerate(texts.DIRECTIONS, start=1):
        part = view.filter(pl.col("direction") == direction).sort("hour")
        ticks = [texts.band_tick(h) for h in part["hour"]]
        bands = [texts.band_label(h) for h in part["hour"]]
        if has_forecast:
            yhat = part["yhat"].to_list()
            lo = part["lo"].to_list()
            hi = part["hi"].to_list()
            levels = part["level"].to_list()
            colors = [texts.LEVEL_COLORS[lv] if lv is not None else texts.NO_LEVEL_COLOR for lv in levels]
            hover = [
                f"{band}<br>예보 forecast {texts.people(y)}"
                f"<br>80%: {texts.people(a)}–{texts.people(b)}<br>{texts.level_words(lv)}"
                if y is not None and a is not None and b is not None
                else band
                for band, y, a, b, lv in zip(bands, yhat, lo, hi, levels, strict=True)
            ]
            fig.add_trace(
                go.Bar(
                    x=ticks,
                    y=yhat,
                    marker={"color": colors, "line": {"width": 0}},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [
                            (b - y) if b is not None and y is not None else 0
                            for y, b in zip(yhat, hi, strict=True)
                        ],
                        "arrayminus": [
                            (y - a) if a is not None and y is not None else 0
                            for y, a in zip(yhat, lo, strict=True)
                        ],
                        "color": BAND_COLOR,
                        "thickness": 1.4,
                        "width": 4,
                    },
                    hovertext=hover,
                    hoverinfo="text",
                    name="forecast",
                    showlegend=False,
                ),
                row=row,
                col=1,
            )
        if has_actual:
            actual = part["actual"].to_list()
            fig.add_trace(
                go.Scatter(
                    x=ticks,
                    y=actual,
                    mode="lines+markers",
                    line={"color": ACTUAL_COLOR, "width": 2},
                    marker={"symbol": "diamond", "size": 7, "color": ACTUAL_COLOR},
                    hovertext=[
                        f"{band}<br>실제 actual {texts.people(v)}" if v is not None else band
                        for band, v in zip(bands, actual, strict=True)
                    ],
                    hoverinfo="text",
                    name=ACTUAL_NAME,
                    showlegend=row == 1,
                    connectgaps=False,
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text="명/시간 · people/h", rangemode="tozero", row=row, col=1)
    if has_forecast:  # the bars' legend entry: neutral colour, the level entries explain the colours
        fig.add_trace(
            go.Bar(
                x=[None],
                y=[None],
                marker={"color": texts.NO_LEVEL_COLOR},
                name="예보 forecast (±80%)",
            ),
            row=1,
            col=1,
        )
    if has_levels:
        for (ko, en), color in zip(texts.LEVELS, texts.LEVEL_COLORS, strict=True):
            fig.add_trace(
                go.Bar(x=[None], y=[None], marker={"color": color}, name=f"{ko} {en}"),
                row=1,
                col=1,
            )
    fig.update_xaxes(title_text="시간대 · hour", type="category", row=2, col=1)
    return _layout(fig, height=640, title=title)


def accuracy_figure(monitoring: pl.DataFrame, scope: str, backtest_wape: float | None = None) -> Any:
    """Rolling WAPE per horizon over evaluation dates (top) and the 80% interval's coverage (bottom).

    ``monitoring``: ``api_monitoring`` rows (evaluated_on, metric, scope, horizon, value, n).
    Horizon 0 is the pooled value; it is drawn thick and black, horizons 1..7 thin and coloured.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    part = monitoring.filter(pl.col("scope") == scope)
    if part.filter(pl.col("metric").is_in(["wape", "coverage"])).is_empty():
        return message_figure(texts.MONITORING_EMPTY_CHART, height=420)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        row_heights=[0.62, 0.38],
        subplot_titles=("WAPE (낮을수록 좋음 · lower is better)", "80% 구간 포함률 · 80% interval coverage"),
    )
    for row, metric in ((1, "wape"), (2, "coverage")):
        series = part.filter(pl.col("metric") == metric).sort("evaluated_on")
        for horizon in sorted(series["horizon"].unique().to_list()):
            one = series.filter(pl.col("horizon") == horizon)
            pooled = horizon == 0
            name = "전체 · all horizons" if pooled else f"{horizon}일 전 · {horizon}-day ahead"
            color = "#111111" if pooled else HORIZON_COLORS[(int(horizon) - 1) % len(HORIZON_COLORS)]
            fig.add_trace(
                go.Scatter(
                    x=one["evaluated_on"].to_list(),
                    y=one["value"].to_list(),
                    mode="lines+markers",
                    name=name,
                    legendgroup=str(horizon),
                    showlegend=row == 1,
                    line={"color": color, "width": 3.5 if pooled else 1.6},
                    marker={"size": 6 if pooled else 4},
                    hovertemplate=f"{name}<br>%{{x}}: %{{y:.1%}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
    if backtest_wape is not None:
        fig.add_hline(
            y=backtest_wape,
            line={"dash": "dash", "color": "#7a7a7a"},
            annotation_text=f"백테스트 backtest {backtest_wape:.1%}",
            annotation_position="top left",
            row=1,
            col=1,
        )
    fig.add_hline(
        y=0.8,
        line={"dash": "dot", "color": "#7a7a7a"},
        annotation_text="목표 target 80%",
        annotation_position="bottom right",
        row=2,
        col=1,
    )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], row=2, col=1)
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d", dtick=86_400_000)  # days, even with one point
    return _layout(fig, height=620, title=texts.scope_label(scope))
