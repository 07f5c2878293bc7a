"""The forecast tab's callbacks: station and date choices, and the chart for one station and day.

The live service answers first; when it is down or refuses the request, the stored forecast and
the actuals from the data source still draw a chart, with a note that says which one it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

try:
    from space import charts, texts
    from space.clients import Clients, ForecastResult, ModelInfo, Unavailable, ok
    from space.forecast_view import (
        apply_thresholds,
        build_view,
        empty_hour_table,
        hour_table,
        parse_day,
        resolve_station,
        station_choices,
        summary_markdown,
    )
except ImportError:  # on Hugging Face the Space root is the working directory
    import charts  # type: ignore[no-redef]
    import texts  # type: ignore[no-redef]
    from clients import (  # type: ignore[no-redef]
        Clients,
        ForecastResult,
        ModelInfo,
        Unavailable,
        ok,
    )
    from forecast_view import (  # type: ignore[no-redef]
        apply_thresholds,
        build_view,
        empty_hour_table,
        hour_table,
        parse_day,
        resolve_station,
        station_choices,
        summary_markdown,
    )


RECENT_ACTUAL_DAYS = 7


def station_options(clients: Clients, wanted: str | None = None) -> tuple[list[tuple[str, str]], str]:
    stations = clients.data.stations()
    fallback = [("성수 Seongsu · 2호선 (211)", texts.DEFAULT_STATION)]
    choices = station_choices(stations) if ok(stations) and not stations.is_empty() else fallback  # type: ignore[union-attr,arg-type]
    value = texts.DEFAULT_STATION
    if wanted:
        codes = resolve_station(wanted, stations) if ok(stations) else []  # type: ignore[arg-type]
        value = str(codes[0]) if codes else wanted
    return choices, value


def date_options(clients: Clients, wanted: str | None = None) -> tuple[list[tuple[str, str]], str | None]:
    """Forecastable days (from ``GET /model``) then recent days with actuals; default = the next
    day the model can forecast (or, with the service down, the newest day with actuals)."""
    choices: list[tuple[str, str]] = []
    model = clients.model()
    if isinstance(model, ModelInfo):
        for day in model.forecast_days:
            choices.append((f"{texts.day_label(day)} · 예보 forecast", day.isoformat()))
    fresh = clients.data.freshness()
    newest_actual = None
    if not isinstance(fresh, Unavailable):
        newest_actual = parse_day(next((f.newest for f in fresh if f.table == "ridership_hourly"), None))
    if newest_actual is not None:
        known = {v for _, v in choices}
        for i in range(RECENT_ACTUAL_DAYS):
            day = newest_actual - dt.timedelta(days=i)
            if day.isoformat() not in known:
                choices.append((f"{texts.day_label(day)} · 실적 actuals", day.isoformat()))
    value = choices[0][1] if choices else None
    wanted_day = parse_day(wanted)
    if wanted_day is not None:
        value = wanted_day.isoformat()
        if value not in {v for _, v in choices}:
            choices.insert(0, (texts.day_label(wanted_day), value))
    return choices, value


def forecast(
    clients: Clients, station: str | None, day_value: str | None
) -> tuple[Any, str, pl.DataFrame, str]:
    """Chart, summary in words, hour table and notes for one station and day."""
    try:
        return _forecast(clients, station, day_value)
    except Exception as exc:  # never a stack trace on the page
        message = f"이 예보를 그리지 못했습니다 · Could not draw this forecast ({type(exc).__name__})."
        return charts.message_figure(message), message, empty_hour_table(), ""


def _forecast(
    clients: Clients, station: str | None, day_value: str | None
) -> tuple[Any, str, pl.DataFrame, str]:
    ref = (station or texts.DEFAULT_STATION).strip()
    model = clients.model()
    day = parse_day(day_value)
    if day is None and day_value:
        return charts.message_figure(texts.BAD_DATE), texts.BAD_DATE, empty_hour_table(), ""
    if day is None and isinstance(model, ModelInfo) and model.forecast_days:
        day = model.forecast_days[0]
    notes: list[str] = []
    forecast: pl.DataFrame | None = None
    code: int | None = None
    title = ref
    live = clients.forecast(ref, day) if day is not None else clients.forecast(ref, None)
    if isinstance(live, ForecastResult) and live.stations:
        st = live.stations[0]
        code, title = st.station_code, st.label
        day = day or (st.frame["date"].min() if st.frame.height else None)  # type: ignore[assignment]
        forecast = st.frame.filter(pl.col("date") == day) if day else st.frame
        as_of = f", as of {live.as_of}" if live.as_of else ""
        notes.append(f"{texts.SOURCE_LIVE} — model `{live.model_version}`{as_of}")
        if len(live.stations) > 1:
            others = ", ".join(s.label for s in live.stations[1:])
            notes.append(
                f"같은 이름의 다른 역 · Same name on other lines: {others} — pick one from the list."
            )
    else:
        assert isinstance(live, Unavailable)
        if live.rejected:
            hint = ""
            suggestions = live.detail.get("suggestions")
            if isinstance(suggestions, list) and suggestions and "did you mean" not in live.reason:
                hint = " — 혹시 · did you mean: " + ", ".join(map(str, suggestions[:5]))
            notes.append(f"ℹ️ {live.reason}{hint}")
        else:
            notes.append(texts.unavailable_still_works("bento", live.reason))
        stations = clients.data.stations()
        codes = resolve_station(ref, stations) if isinstance(stations, pl.DataFrame) else []
        if not codes and ref.isdigit():
            codes = [int(ref)]
        if codes:
            code = codes[0]
            if isinstance(stations, pl.DataFrame):
                match = stations.filter(pl.col("station_code") == code)
                if match.height:
                    r = match.row(0, named=True)
                    title = f"{r['station_name']} {r['name_en'] or ''} ({r['line']}, {code})"
        if code is not None and day is not None:
            stored = clients.data.stored_forecast(code, day)
            if isinstance(stored, pl.DataFrame) and stored.height:
                forecast = stored.with_columns(level=pl.lit(None, dtype=pl.Int8))
                if live.rejected:  # the service is up: borrow the station's level thresholds
                    ref_fc = clients.forecast(str(code), None)
                    if isinstance(ref_fc, ForecastResult) and ref_fc.stations:
                        forecast = apply_thresholds(forecast, ref_fc.stations[0].thresholds)
                issue = stored.row(0, named=True)
                notes.append(
                    f"{texts.SOURCE_STORED} — model `{issue['model_version']}`, issued {issue['as_of']} "
                    f"({(day - issue['as_of']).days}-day ahead)"
                )
    if day is None:
        return (
            charts.message_figure(texts.NO_FORECAST),
            texts.NO_FORECAST,
            empty_hour_table(),
            "  \n".join(notes),
        )
    actuals: pl.DataFrame | None = None
    if code is not None:
        got = clients.data.actuals(code, day)
        if isinstance(got, Unavailable):
            notes.append(texts.unavailable_still_works("data", got.reason))
        else:
            actuals = got
            if got.height:
                notes.append("실제 값이 있는 날입니다 · Actual counts for this day are drawn on top.")
    view = build_view(forecast, actuals)
    heading = f"{title} — {texts.day_label(day)}"
    if view["yhat"].is_null().all() and view["actual"].is_null().all():
        message = texts.NO_DATA_AT_ALL if forecast is None and actuals is None else texts.NO_FORECAST
        return (
            charts.message_figure(message),
            f"### {heading}\n{message}",
            empty_hour_table(),
            "  \n".join(notes),
        )
    if view["level"].is_null().all() and forecast is not None:
        notes.append("혼잡도 색은 실시간 서비스가 있을 때만 · Crowding colours need the live service.")
    figure = charts.forecast_figure(view, heading)
    return figure, summary_markdown(view, heading), hour_table(view), "  \n".join(notes)
