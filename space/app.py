"""Daily Seongsu's public face: a Gradio app with four tabs (forecast, pipeline, accuracy, guidebook).

Runs as a Hugging Face Space (``python app.py`` in the Space root, configured by Space secrets) and
locally via ``seongsu space``.  It talks to the rest of the system only through ``clients`` (Bento
over HTTP, Prefect's REST API, Supabase's public views or the local warehouse), so it never needs
the flows' credentials, and every dependency can be down without taking the page with it: each
callback turns ``Unavailable`` into one plain sentence where the data would have been.

Start-up is fast because building the page touches no network: the data arrives through
``demo.load`` events after the page is served, each with its own 3 s budget and server-side cache.
Gradio itself is imported inside ``build_app`` so importing this module (tests, ``seongsu --help``)
stays cheap; ``demo`` is still available as a module attribute for tools that look for it
(``gradio app.py`` reload mode), built on first access.

Deep links: ``?tab=forecast|pipeline|accuracy|guidebook``, ``?station=강남`` and ``?date=2023-06-21``
select a tab / station / day on load (used by the docs screenshots, handy for sharing).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

try:
    from space import charts, texts
    from space.clients import (
        Clients,
        ForecastResult,
        ModelInfo,
        PipelineRuns,
        SpaceConfig,
        Unavailable,
        metrics_of,
        ok,
        parse_timestamp,
    )
except ImportError:  # on Hugging Face the Space root is the working directory: sibling modules
    import charts  # type: ignore[no-redef]
    import texts  # type: ignore[no-redef]
    from clients import (  # type: ignore[no-redef]
        Clients,
        ForecastResult,
        ModelInfo,
        PipelineRuns,
        SpaceConfig,
        Unavailable,
        metrics_of,
        ok,
        parse_timestamp,
    )

if TYPE_CHECKING:
    import gradio as gr

HOURS = tuple(range(texts.FIRST_BAND, texts.LAST_BAND + 1))
DAY_HOURS = tuple(range(6, 24))
"""Hours considered for "the quietest hour": the bands before 06:00 and after midnight are partial
(first and last trains) and would always win, which tells a rider nothing."""
RECENT_ACTUAL_DAYS = 7
SCOPES_DEFAULT = ("all", "station:211", *(f"line:{n}" for n in range(1, 9)))

CSS = """
.gradio-container {max-width: 1320px !important; margin: auto;}
#banner {padding: 6px 12px; border-radius: 8px; background: var(--block-background-fill);}
#banner p {margin: 2px 0;}
#summary {font-size: 1.02rem;}
#summary h3 {margin-top: 0;}
"""


# --------------------------------------------------------------------------------------------------
# small helpers (pure: tested directly)


def parse_day(value: Any) -> dt.date | None:
    """The ISO date at the start of a dropdown value or typed text ('2023-06-21 (수 Wed) ...')."""
    if isinstance(value, dt.date):
        return value
    match = re.search(r"\d{4}-\d{2}-\d{2}", str(value or ""))
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(0))
    except ValueError:
        return None


def station_choices(stations: pl.DataFrame) -> list[tuple[str, str]]:
    """Dropdown entries ``(label, code)``; searching by Korean or English name works on the label."""
    out = []
    for row in stations.sort("station_code").iter_rows(named=True):
        label = f"{row['station_name']} {row['name_en'] or ''} · {row['line']} ({row['station_code']})"
        out.append((" ".join(label.split()), str(row["station_code"])))
    return out


def resolve_station(ref: str, stations: pl.DataFrame) -> list[int]:
    """Station codes matching a code, Korean name (with or without 역 / the parenthesised suffix) or
    English name (any case) -- the same references the Bento service accepts, for the fallback path."""
    ref = ref.strip()
    if not ref:
        return []
    if ref.isdigit():
        code = int(ref)
        return [code] if stations.is_empty() or code in stations["station_code"].to_list() else []
    key = ref.removesuffix("역").lower().replace(" ", "")
    matches = []
    for row in stations.iter_rows(named=True):
        name = str(row["station_name"] or "")
        names = {name.lower(), name.split("(")[0].lower(), str(row["name_en"] or "").lower().replace(" ", "")}
        if key in names:
            matches.append(int(row["station_code"]))
    return matches


def apply_thresholds(frame: pl.DataFrame, thresholds: Mapping[str, Mapping[str, float]]) -> pl.DataFrame:
    """Crowding level per row from a station's q50/q80/q95 (for stored forecasts, which carry none)."""
    if not thresholds:
        return frame

    def level(direction: str, value: float | None) -> int | None:
        q = thresholds.get(direction)
        if q is None or value is None:
            return None
        if value >= q.get("q95", float("inf")):
            return 3
        if value >= q.get("q80", float("inf")):
            return 2
        if value >= q.get("q50", float("inf")):
            return 1
        return 0

    levels = [level(d, v) for d, v in zip(frame["direction"], frame["yhat"], strict=True)]
    return frame.with_columns(level=pl.Series(levels, dtype=pl.Int8))


def build_view(forecast: pl.DataFrame | None, actuals: pl.DataFrame | None) -> pl.DataFrame:
    """One row per hour band x direction: ``hour, direction, yhat, lo, hi, level, actual``."""
    grid = pl.DataFrame(
        {
            "hour": [h for h in HOURS for _ in texts.DIRECTIONS],
            "direction": [d for _ in HOURS for d in texts.DIRECTIONS],
        },
        schema={"hour": pl.Int16, "direction": pl.String},
    )
    fc_schema = {"yhat": pl.Float64, "lo": pl.Float64, "hi": pl.Float64, "level": pl.Int8}
    if forecast is not None and forecast.height:
        fc = forecast.select(
            pl.col("hour").cast(pl.Int16),
            "direction",
            *(pl.col(c).cast(t) for c, t in fc_schema.items()),
        )
        grid = grid.join(fc, on=["hour", "direction"], how="left")
    else:
        grid = grid.with_columns(*(pl.lit(None, dtype=t).alias(c) for c, t in fc_schema.items()))
    if actuals is not None and actuals.height:
        act = actuals.select(
            pl.col("hour").cast(pl.Int16), "direction", pl.col("count").cast(pl.Float64).alias("actual")
        )
        grid = grid.join(act, on=["hour", "direction"], how="left")
    else:
        grid = grid.with_columns(actual=pl.lit(None, dtype=pl.Float64))
    return grid


def hourly_totals(view: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per hour: boardings, alightings, their sum and the busier direction's level."""
    wide = view.group_by("hour").agg(
        board=pl.col(column).filter(pl.col("direction") == "board").first(),
        alight=pl.col(column).filter(pl.col("direction") == "alight").first(),
        level=pl.col("level").max(),
    )
    return wide.with_columns(total=pl.col("board").fill_null(0) + pl.col("alight").fill_null(0)).sort("hour")


def summary_markdown(view: pl.DataFrame, title: str) -> str:
    """The quietest and busiest hours in words, Korean and English, with the day's totals."""
    column = "yhat" if view["yhat"].is_not_null().any() else "actual"
    what_ko, what_en = ("예보", "forecast") if column == "yhat" else ("실제", "actual")
    totals = hourly_totals(view, column).filter(
        pl.col("board").is_not_null() | pl.col("alight").is_not_null()
    )
    lines = [f"### {title}"]
    if totals.is_empty():
        return "\n".join([*lines, texts.NO_DATA_AT_ALL])
    busiest = totals.sort("total", descending=True).row(0, named=True)
    daytime = totals.filter(pl.col("hour").is_in(DAY_HOURS))
    quietest = (daytime if daytime.height else totals).sort("total").row(0, named=True)

    def describe(row: Mapping[str, Any]) -> tuple[str, str]:
        ko_band, en_band = texts.band_words(int(row["hour"]))
        board, alight = texts.people(row["board"] or 0), texts.people(row["alight"] or 0)
        level = row["level"]
        ko_level = f" — {texts.LEVELS[level][0]}" if level is not None else ""
        en_level = f" — {texts.LEVELS[level][1]}" if level is not None else ""
        ko = f"{ko_band}, 승차 약 {board}명 · 하차 약 {alight}명{ko_level}"
        en = f"{en_band}, about {board} boarding and {alight} alighting{en_level}"
        return ko, en

    busy_ko, busy_en = describe(busiest)
    quiet_ko, quiet_en = describe(quietest)
    day_board = texts.people(float(totals["board"].fill_null(0).sum()))
    day_alight = texts.people(float(totals["alight"].fill_null(0).sum()))
    lines += [
        f"🔺 **가장 붐비는 시간**: {busy_ko}  ",
        f"🔻 **가장 한산한 시간** (6–24시): {quiet_ko}  ",
        f"하루 {what_ko} 합계: 승차 {day_board}명 · 하차 {day_alight}명",
        "",
        f"🔺 **Busiest hour**: {busy_en}  ",
        f"🔻 **Quietest hour** (06:00–24:00): {quiet_en}  ",
        f"Day total ({what_en}): {day_board} boardings · {day_alight} alightings",
    ]
    if column == "yhat" and view["actual"].is_not_null().any():
        act = hourly_totals(view, "actual")
        lines.append(
            f"  \n실제 · actual: 승차 boardings {texts.people(float(act['board'].fill_null(0).sum()))} · "
            f"하차 alightings {texts.people(float(act['alight'].fill_null(0).sum()))}"
        )
    return "\n".join(lines)


def hour_table(view: pl.DataFrame) -> pl.DataFrame:
    """The chart's numbers as a readable table (rounded people, intervals, level words)."""

    def fmt(y: float | None, lo: float | None, hi: float | None) -> str:
        if y is None:
            return ""
        if lo is None or hi is None:
            return texts.people(y)
        return f"{texts.people(y)} ({texts.people(lo)}–{texts.people(hi)})"

    rows = []
    for hour in HOURS:
        part = {r["direction"]: r for r in view.filter(pl.col("hour") == hour).iter_rows(named=True)}
        b, a = part.get("board", {}), part.get("alight", {})
        levels = [x for x in (b.get("level"), a.get("level")) if x is not None]
        rows.append(
            {
                "시간대 Hour": texts.band_label(hour),
                "승차 예보 Boardings (80%)": fmt(b.get("yhat"), b.get("lo"), b.get("hi")),
                "하차 예보 Alightings (80%)": fmt(a.get("yhat"), a.get("lo"), a.get("hi")),
                "혼잡도 Crowding": texts.level_words(max(levels)) if levels else "",
                "실제 승차 Actual board": texts.people(b["actual"]) if b.get("actual") is not None else "",
                "실제 하차 Actual alight": texts.people(a["actual"]) if a.get("actual") is not None else "",
            }
        )
    return pl.DataFrame(rows)


def _fmt_time(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.timezone(dt.timedelta(hours=9))).strftime("%Y-%m-%d %H:%M KST")


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


def _fmt_metric(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if any(k in name.lower() for k in ("wape", "coverage", "mape", "share", "rate")) and abs(value) <= 5:
        return f"{value:.1%}"
    return f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"


def flat_metrics(metrics: Mapping[str, Any], prefix: str = "", limit: int = 12) -> list[tuple[str, str]]:
    """Scalar metrics (nested dicts flattened to ``a.b``), formatted, at most ``limit``."""
    out: list[tuple[str, str]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += flat_metrics(value, f"{name}.", limit)
        elif isinstance(value, int | float | str | bool) and value is not None:
            out.append((name, _fmt_metric(name, value)))
        if len(out) >= limit:
            break
    return out[:limit]


def find_metric(metrics: Mapping[str, Any], name: str) -> float | None:
    """The first numeric metric called ``name`` (or ``backtest_<name>`` / ``<name>_model``), searching
    nested dicts: the registry's exact layout may evolve, the headline number should still be found."""
    for key in (name, f"backtest_{name}", f"{name}_model", f"model_{name}"):
        value = metrics.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    for key in ("backtest", "overall", "model", "champion", "metrics"):
        inner = metrics.get(key)
        if isinstance(inner, Mapping):
            found = find_metric(inner, name)
            if found is not None:
                return found
    return None


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


# --------------------------------------------------------------------------------------------------
# the page


class SpaceApp:
    """The callbacks, bound to one ``Clients``; ``build`` lays out the Blocks and wires the events."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    # -- status banner --------------------------------------------------------------------------
    def banner(self) -> str:
        lines = []
        model = self.clients.model()
        if isinstance(model, Unavailable):
            lines.append(texts.unavailable_still_works("bento", model.reason))
        else:
            days = model.forecast_days
            span = f"{days[0]} … {days[-1]}" if days else "—"
            lines.append(texts.available("bento", f"model `{model.version}`, forecasts {span}"))
        runs = self.clients.runs()
        if isinstance(runs, Unavailable):
            lines.append(texts.unavailable_still_works("prefect", runs.reason))
        else:
            lines.append(
                texts.available(
                    "prefect", f"{len(runs.deployments)} deployments, {len(runs.recent)} recent runs"
                )
            )
        fresh = self.clients.data.freshness()
        if isinstance(fresh, Unavailable):
            lines.append(texts.unavailable_still_works("data", fresh.reason))
        else:
            newest = next((f.newest for f in fresh if f.table == "ridership_hourly"), None)
            lines.append(
                texts.available("data", f"{self.clients.data.description}, ridership up to {newest or '—'}")
            )
        return "  \n".join(lines)

    # -- forecast tab -----------------------------------------------------------------------------
    def station_options(self, wanted: str | None = None) -> tuple[list[tuple[str, str]], str]:
        stations = self.clients.data.stations()
        fallback = [("성수 Seongsu · 2호선 (211)", texts.DEFAULT_STATION)]
        choices = station_choices(stations) if ok(stations) and not stations.is_empty() else fallback  # type: ignore[union-attr,arg-type]
        value = texts.DEFAULT_STATION
        if wanted:
            codes = resolve_station(wanted, stations) if ok(stations) else []  # type: ignore[arg-type]
            value = str(codes[0]) if codes else wanted
        return choices, value

    def date_options(self, wanted: str | None = None) -> tuple[list[tuple[str, str]], str | None]:
        """Forecastable days (from ``GET /model``) then recent days with actuals; default = the next
        day the model can forecast (or, with the service down, the newest day with actuals)."""
        choices: list[tuple[str, str]] = []
        model = self.clients.model()
        if isinstance(model, ModelInfo):
            for day in model.forecast_days:
                choices.append((f"{texts.day_label(day)} · 예보 forecast", day.isoformat()))
        fresh = self.clients.data.freshness()
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

    def forecast(self, station: str | None, day_value: str | None) -> tuple[Any, str, pl.DataFrame, str]:
        """Chart, summary in words, hour table and notes for one station and day."""
        try:
            return self._forecast(station, day_value)
        except Exception as exc:  # never a stack trace on the page
            message = f"이 예보를 그리지 못했습니다 · Could not draw this forecast ({type(exc).__name__})."
            return charts.message_figure(message), message, pl.DataFrame(), ""

    def _forecast(self, station: str | None, day_value: str | None) -> tuple[Any, str, pl.DataFrame, str]:
        ref = (station or texts.DEFAULT_STATION).strip()
        model = self.clients.model()
        day = parse_day(day_value)
        if day is None and day_value:
            return charts.message_figure(texts.BAD_DATE), texts.BAD_DATE, pl.DataFrame(), ""
        if day is None and isinstance(model, ModelInfo) and model.forecast_days:
            day = model.forecast_days[0]
        notes: list[str] = []
        forecast: pl.DataFrame | None = None
        code: int | None = None
        title = ref
        live = self.clients.forecast(ref, day) if day is not None else self.clients.forecast(ref, None)
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
            stations = self.clients.data.stations()
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
                stored = self.clients.data.stored_forecast(code, day)
                if isinstance(stored, pl.DataFrame) and stored.height:
                    forecast = stored.with_columns(level=pl.lit(None, dtype=pl.Int8))
                    if live.rejected:  # the service is up: borrow the station's level thresholds
                        ref_fc = self.clients.forecast(str(code), None)
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
                pl.DataFrame(),
                "  \n".join(notes),
            )
        actuals: pl.DataFrame | None = None
        if code is not None:
            got = self.clients.data.actuals(code, day)
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
                pl.DataFrame(),
                "  \n".join(notes),
            )
        if view["level"].is_null().all() and forecast is not None:
            notes.append("혼잡도 색은 실시간 서비스가 있을 때만 · Crowding colours need the live service.")
        figure = charts.forecast_figure(view, heading)
        return figure, summary_markdown(view, heading), hour_table(view), "  \n".join(notes)

    # -- pipeline tab -----------------------------------------------------------------------------
    def pipeline(self) -> tuple[str, pl.DataFrame, str]:
        try:
            return self._runs_markdown(), self._freshness_table(), self._model_markdown()
        except Exception as exc:
            message = (
                f"파이프라인 정보를 그리지 못했습니다 · Could not show the pipeline ({type(exc).__name__})."
            )
            return message, pl.DataFrame(), ""

    def _run_row(self, label: str, run: Any) -> str:
        if run is None:
            return f"| {label} | ⚪ 아직 없음 · never run | — | — | — |"
        icon = texts.STATE_ICONS.get(run.state_type, "⚪")
        link = f"[open]({run.url})" if run.url else "—"
        return (
            f"| {label} | {icon} {_md_escape(run.state_name)} | {_fmt_time(run.start)} | "
            f"{_fmt_duration(run.duration_s)} | {link} |"
        )

    def _runs_markdown(self) -> str:
        runs = self.clients.runs()
        if isinstance(runs, Unavailable):
            return texts.unavailable_still_works("prefect", runs.reason)
        assert isinstance(runs, PipelineRuns)
        head = [
            "#### 최근 실행 (배포·흐름별) · Latest run per deployment / flow",
            "| 흐름/배포 Flow/deployment | 상태 State | 시작 Start | 소요 Duration | Prefect UI |",
            "|---|---|---|---|---|",
        ]
        rows = [
            self._run_row(f"`{d.full_name}`" + (" (일시정지 paused)" if d.paused else ""), d.latest)
            for d in runs.deployments
        ]
        undeployed = {flow: run for flow, run in runs.latest_by_flow.items() if run.deployment is None}
        rows += [
            self._run_row(f"`{flow}` (배포 없음 · ad hoc)", run) for flow, run in sorted(undeployed.items())
        ]
        if not rows:
            return "\n".join([head[0], texts.RUNS_EMPTY])
        recent = [
            "",
            "#### 최근 실행 · Recent runs",
            "| 흐름 Flow | 실행 Run | 상태 State | 시작 Start | 소요 Duration |",
            "|---|---|---|---|---|",
        ]
        for run in runs.recent[:10]:
            name = f"[{_md_escape(run.name)}]({run.url})" if run.url else _md_escape(run.name)
            recent.append(
                f"| `{run.flow}` | {name} | {texts.STATE_ICONS.get(run.state_type, '⚪')} "
                f"{_md_escape(run.state_name)} | {_fmt_time(run.start)} | {_fmt_duration(run.duration_s)} |"
            )
        return "\n".join(head + rows + (recent if runs.recent else []))

    def _freshness_table(self) -> pl.DataFrame:
        fresh = self.clients.data.freshness()
        columns = ["테이블 Table", "최신 날짜 Newest", "행 수 Rows", "마지막 적재 Last load", "상태 Status"]
        if isinstance(fresh, Unavailable):
            return pl.DataFrame(
                [{columns[0]: "—", columns[1]: fresh.reason, columns[2]: "", columns[3]: "", columns[4]: "⚠️"}]
            )
        rows = [
            {
                columns[0]: f.table,
                columns[1]: f.newest or "—",
                columns[2]: f"{f.rows:,}" if f.rows is not None else "",
                columns[3]: _fmt_time(parse_timestamp(f.last_load)) if f.last_load else "",
                columns[4]: f.status or "",
            }
            for f in fresh
        ]
        return (
            pl.DataFrame(rows)
            if rows
            else pl.DataFrame({c: [] for c in columns}, schema=dict.fromkeys(columns, pl.String))
        )

    def _model_markdown(self) -> str:
        lines = ["#### 운영 모델 · Production model"]
        model = self.clients.model()
        if isinstance(model, Unavailable):
            lines.append(texts.unavailable("bento", model.reason))
        else:
            lines += [
                f"- 서빙 중 · serving: **`{model.version}`** (package `{model.package}`) — {texts.serving_kind(model.kind, model.forecaster)}",
                f"- 승격 · promoted: {_fmt_time(model.promoted_at)} · 학습 · trained: {_fmt_time(model.trained_at)}",
                f"- 학습 데이터 · training data: {model.data_start} … {model.data_end}",
                f"- 예보 가능 · forecastable: {model.forecast_start} … {model.forecast_end} "
                f"(as of {model.as_of}, {model.stations or '?'} stations)",
            ]
            if model.why:
                lines.append(f"- 이유 · why: {model.why}")
            metrics = flat_metrics(model.metrics)
            if metrics:
                lines.append("- 지표 · metrics: " + " · ".join(f"{k} **{v}**" for k, v in metrics))
        models = self.clients.data.models()
        if isinstance(models, pl.DataFrame) and models.height:
            prod = models.filter(pl.col("status") == "production")
            if prod.height:
                row = prod.row(0, named=True)
                agree = ""
                if isinstance(model, ModelInfo) and model.version != row["version"]:
                    agree = " — ⚠️ 서빙 중인 모델과 다름 · differs from the served model (the service picks it up shortly)"
                lines.append(f"- 레지스트리 · registry: production **`{row['version']}`**{agree}")
        elif isinstance(models, Unavailable):
            lines.append(texts.unavailable("data", models.reason))
        return "\n".join(lines)

    # -- accuracy tab -----------------------------------------------------------------------------
    def scope_options(self) -> list[tuple[str, str]]:
        monitoring = self.clients.data.monitoring()
        scopes = list(SCOPES_DEFAULT)
        if isinstance(monitoring, pl.DataFrame) and monitoring.height:
            present = monitoring["scope"].unique().to_list()
            scopes = [s for s in scopes if s in present] + sorted(s for s in present if s not in scopes)
        return [(texts.scope_label(s), s) for s in scopes]

    def accuracy(self, scope: str | None) -> tuple[Any, pl.DataFrame, str]:
        try:
            return self._accuracy(scope or "all")
        except Exception as exc:
            message = f"정확도를 그리지 못했습니다 · Could not show accuracy ({type(exc).__name__})."
            return charts.message_figure(message), pl.DataFrame(), message

    def _backtest_wape(self) -> float | None:
        model = self.clients.model()
        if isinstance(model, ModelInfo):
            found = find_metric(model.metrics, "wape")
            if found is not None:
                return found
        models = self.clients.data.models()
        if isinstance(models, pl.DataFrame):
            prod = models.filter(pl.col("status") == "production")
            if prod.height:
                return find_metric(metrics_of(prod["metrics_json"][0]), "wape")
        return None

    def _accuracy(self, scope: str) -> tuple[Any, pl.DataFrame, str]:
        monitoring = self.clients.data.monitoring()
        if isinstance(monitoring, Unavailable):
            message = texts.unavailable("data", monitoring.reason)
            return (
                charts.message_figure("데이터 저장소를 읽을 수 없습니다 · warehouse unavailable"),
                pl.DataFrame(),
                message,
            )
        backtest = self._backtest_wape()
        figure = charts.accuracy_figure(monitoring, scope, backtest)
        part = monitoring.filter(pl.col("scope") == scope)
        if part.is_empty():
            return figure, pl.DataFrame(), texts.ACCURACY_INTRO + "\n\n" + texts.MONITORING_EMPTY
        latest_day: Any = part["evaluated_on"].max()
        latest = part.filter(pl.col("evaluated_on") == latest_day)
        rows = []
        for horizon in sorted(latest["horizon"].unique().to_list()):
            one = latest.filter(pl.col("horizon") == horizon)
            values = {r["metric"]: r for r in one.iter_rows(named=True)}
            if "wape" not in values and "coverage" not in values:
                continue
            wape, cov = values.get("wape"), values.get("coverage")
            rows.append(
                {
                    "시점 Horizon": "전체 · pooled" if horizon == 0 else f"{horizon}일 전 · {horizon} d",
                    "WAPE": texts.percent(wape["value"]) if wape else "—",
                    "포함률 Coverage": texts.percent(cov["value"]) if cov else "—",
                    "n": f"{(wape or cov or {}).get('n') or 0:,}",
                }
            )
        lines = [
            texts.ACCURACY_INTRO,
            "",
            f"**최근 평가 · latest evaluation: {latest_day}** ({texts.scope_label(scope)})",
        ]
        pooled = latest.filter((pl.col("metric") == "wape") & (pl.col("horizon") == 0))
        if pooled.height:
            lines.append(f"- 전체 WAPE · pooled WAPE: **{texts.percent(pooled['value'][0])}**")
        if backtest is not None:
            lines.append(f"- 백테스트 WAPE · backtest WAPE of the served model: {texts.percent(backtest)}")
        psi = latest.filter(pl.col("metric") == "psi_count")
        if psi.height and psi["value"][0] is not None:
            value = float(psi["value"][0])
            word = (
                "안정 · stable"
                if value < 0.1
                else ("주의 · moderate shift" if value < 0.2 else "변화 큼 · large shift")
            )
            lines.append(f"- 승하차 분포 변화(PSI) · ridership drift (PSI): {value:.4f} — {word}")
        return figure, pl.DataFrame(rows), "\n".join(lines)

    # -- guidebook tab ----------------------------------------------------------------------------
    def guidebook(self) -> str:
        try:
            return self._guidebook()
        except Exception as exc:
            return f"안내서를 그리지 못했습니다 · Could not build the guidebook ({type(exc).__name__})."

    def _guidebook(self) -> str:
        data = self.clients.data
        runs = data.ingest_runs(50)
        fresh = data.freshness()
        models = data.models()
        monitoring = data.monitoring()
        model = self.clients.model()
        prefect = self.clients.runs()
        out = [
            "## 데이터가 예보가 되기까지 · From data to forecast, step by step",
            "숫자는 지금 이 순간의 실제 값입니다 · The numbers below are live.",
        ]

        # 1. ingest
        out.append("\n### 1. 수집 · Ingest")
        out.append(
            "서울 열린데이터광장·서울교통공사의 역별 시간대 승하차와 기상청 날씨를 받아, 원본을 그대로 보관한 뒤 "
            "적재합니다. Ridership (Seoul Open Data, Seoul Metro) and KMA weather are fetched, every payload "
            "is archived as received, then upserted into the warehouse."
        )
        if isinstance(runs, pl.DataFrame) and runs.height:
            latest = runs.sort("started_at", descending=True, nulls_last=True).unique("dataset", keep="first")
            for r in latest.sort("dataset").iter_rows(named=True):
                upto = f"; data up to {r['data_max_date']}" if r["data_max_date"] else ""
                out.append(
                    f"- `{r['dataset']}`: last run {_fmt_time(r['started_at'])} ({r['status']}) — "
                    f"{(r['rows_in'] or 0):,} rows read, {(r['rows_inserted'] or 0):,} new, "
                    f"{(r['rows_updated'] or 0):,} updated{upto}"
                )
        elif isinstance(runs, Unavailable):
            out.append(texts.unavailable("data", runs.reason))
        if isinstance(fresh, list):
            total = next((f.rows for f in fresh if f.table == "ridership_hourly"), None)
            if total:
                out.append(f"- 시간대별 승하차 누적 · hourly ridership rows in the warehouse: **{total:,}**")

        # 2. validate
        out.append("\n### 2. 검증 · Validate")
        out.append(
            "형식·범위·중복을 검사하고, 하루 합계와 시간대 합이 맞는지 확인합니다. 통과하지 못한 행은 이유와 함께 "
            "격리됩니다. Types, ranges and duplicates are checked, and the hourly bands must add up to the "
            "published daily total; rows that fail go to quarantine with the reason — never silently dropped."
        )
        if isinstance(runs, pl.DataFrame) and runs.height:
            q = int(runs["rows_quarantined"].fill_null(0).sum())
            out.append(
                f"- 최근 {runs.height}회 적재에서 격리된 행 · rows quarantined in the last {runs.height} loads: **{q:,}**"
            )
        if isinstance(fresh, list):
            qrows = next((f.rows for f in fresh if f.table == "quarantine"), None)
            if qrows is not None:
                out.append(f"- 격리 테이블 전체 · quarantine table: {qrows:,} rows")

        # 3. features
        out.append("\n### 3. 특징 · Features (as of a day)")
        out.append(
            "모든 특징은 '그날 알 수 있었던 것'만으로 만듭니다: 승하차 자료는 약 3일 뒤에 공개되므로, 예보일 기준 "
            "3일 전까지의 실적, 같은 요일·시간대의 평소 값, 공휴일, 날씨. Every feature is computed as of the "
            "issue date and can only see data published by then (ridership appears about 3 days later): recent "
            "actuals, the station's usual weekday/hour profile, holidays and weather."
        )

        # 4. train + backtest
        out.append("\n### 4. 학습과 백테스트 · Train and backtest")
        out.append(
            "CatBoost가 시간대별 인원의 중앙값과 10%·90% 분위수(80% 구간)를 학습하고, 과거 여러 시점에서 "
            "다시 예보해 보는 백테스트로 단순 기준선(지난주 같은 시간 등)과 비교합니다. A CatBoost model learns "
            "the median and the 10%/90% quantiles (the 80% band); a rolling-origin backtest replays past issue "
            "dates and compares it with naive baselines (e.g. same hour last week)."
        )
        prod_row: dict[str, Any] | None = None
        if isinstance(models, pl.DataFrame) and models.height:
            prod = models.filter(pl.col("status") == "production")
            prod_row = prod.row(0, named=True) if prod.height else None
        metric_source = (
            model.metrics
            if isinstance(model, ModelInfo)
            else metrics_of((prod_row or {}).get("metrics_json"))
        )
        shown = flat_metrics(metric_source, limit=10)
        if shown:
            out.append("- " + " · ".join(f"{k} **{v}**" for k, v in shown))

        # 5. promote
        out.append("\n### 5. 승격 · Promote (champion / challenger)")
        out.append(
            "새 모델(도전자)은 같은 백테스트에서 현재 모델(챔피언)과 가장 좋은 기준선보다 모두 나을 때만 운영에 "
            "올라갑니다. 어떤 모델도 기준선을 이기지 못하면 기준선이 서빙됩니다. A new model (challenger) replaces "
            "the champion only if it beats both the champion and the best baseline on the same backtest; if no "
            "model beats the best baseline, that baseline is packaged and served."
        )
        if isinstance(models, pl.DataFrame) and models.height:
            newest = models.sort("trained_at", descending=True, nulls_last=True).row(0, named=True)
            decision = {
                "production": "승격됨 · promoted",
                "rejected": "탈락 · rejected (the champion or the best baseline serves)",
                "candidate": "평가 중 · candidate",
                "archived": "보관됨 · archived",
            }.get(str(newest["status"]), str(newest["status"]))
            out.append(
                f"- 최근 학습 · latest trained: `{newest['version']}` ({_fmt_time(newest['trained_at'])}) → **{decision}**"
            )
            if prod_row:
                out.append(
                    f"- 현재 챔피언 · champion: `{prod_row['version']}` ({prod_row.get('kind') or 'model'}), "
                    f"promoted {_fmt_time(prod_row['promoted_at'])}"
                )
            counts = models.group_by("status").len().sort("status")
            out.append(
                "- 레지스트리 · registry: "
                + ", ".join(f"{r['status']} {r['len']}" for r in counts.iter_rows(named=True))
            )
        elif isinstance(models, Unavailable):
            out.append(texts.unavailable("data", models.reason))
        else:
            out.append("- 아직 학습된 모델이 없습니다 · no model trained yet.")

        # 6. serve
        out.append("\n### 6. 서빙 · Serve")
        out.append(
            "승격된 모델은 모든 역·7일치 예보를 미리 계산한 패키지로 저장되고, BentoML 서비스가 재시작 없이 "
            "바꿔 끼웁니다. The promoted model is published as a package with every station's forecasts for "
            "the next 7 days; the BentoML service swaps it in without a restart — this page asks it."
        )
        if isinstance(model, ModelInfo):
            out.append(
                f"- 서빙 중 · serving `{model.version}` as of {model.as_of}: forecasts {model.forecast_start} … "
                f"{model.forecast_end} for {model.stations or '?'} stations"
            )
        else:
            out.append(texts.unavailable("bento", model.reason))

        # 7. monitor
        out.append("\n### 7. 모니터링 · Monitor")
        out.append(
            "실적이 공개되면 지난 예보를 채점하고(WAPE, 80% 구간 포함률), 승하차 분포의 변화(PSI)를 봅니다. "
            "Once actuals are published, past forecasts are scored (WAPE, interval coverage) and drift is "
            "measured (PSI) — see the Accuracy tab."
        )
        if isinstance(monitoring, pl.DataFrame) and monitoring.height:
            day: Any = monitoring["evaluated_on"].max()
            last = monitoring.filter(
                (pl.col("evaluated_on") == day) & (pl.col("scope") == "all") & (pl.col("horizon") == 0)
            )
            vals = {r["metric"]: r["value"] for r in last.iter_rows(named=True)}
            out.append(
                f"- {day}: WAPE {texts.percent(vals.get('wape'))}, coverage {texts.percent(vals.get('coverage'))}"
                + (f", PSI {vals['psi_count']:.4f}" if vals.get("psi_count") is not None else "")
            )
        elif isinstance(monitoring, Unavailable):
            out.append(texts.unavailable("data", monitoring.reason))
        else:
            out.append("- " + texts.MONITORING_EMPTY.replace("  \n", " "))

        # 8. retrain
        out.append("\n### 8. 재학습 · Retrain")
        out.append(
            "정확도가 기준 아래로 떨어지거나 분포가 크게 바뀌면 모니터가 이벤트를 보내고, Prefect가 학습을 "
            "시작합니다(매주 월요일 정기 학습도 있음). When accuracy drops below its thresholds or the data "
            "drifts, the monitor emits an event and Prefect starts a training run (besides the weekly one)."
        )
        if isinstance(prefect, PipelineRuns):
            by_flow = prefect.latest_by_flow
            for flow in ("daily-pipeline", "train", "monitor", "forecast"):
                run = by_flow.get(flow)
                if run:
                    out.append(
                        f"- `{flow}`: {texts.STATE_ICONS.get(run.state_type, '⚪')} {run.state_name}, {_fmt_time(run.start)}"
                    )
        else:
            out.append(texts.unavailable("prefect", prefect.reason))
        return "\n".join(out)

    # -- replay clock -----------------------------------------------------------------------------
    def clock_status(self) -> str:
        clock = self.clients.clock
        if not clock.enabled:
            return texts.CLOCK_LOCAL_ONLY
        if not clock.available():
            return texts.CLOCK_MISSING
        today = clock.current()
        when = (
            f"재생 중인 오늘 · simulated today: **{texts.day_label(today)}**"
            if today
            else "재생이 아직 시작되지 않았습니다 · the replay has not started (`seongsu up`)"
        )
        return (
            f"{when}  \n버튼을 누르면 그날의 파이프라인(수집 → 모니터링 → 예보)이 실제로 실행됩니다 · "
            "The button runs the real daily pipeline for the next day (ingest → monitor → forecast, and a "
            "retrain if the monitor asks for one); it takes a minute or two."
        )

    def advance_clock(self) -> str:
        result = self.clients.clock.advance(1)
        if isinstance(result, Unavailable):
            return texts.unavailable("clock", result.reason)
        self.clients.clear()
        lines = [
            "✅ **재생 시계를 하루 앞으로 옮겼습니다 · Replay clock advanced by one day** "
            f"— now {result.get('as_of', '?')}"
        ]
        days = result.get("days")
        for day in days if isinstance(days, list) else []:
            if not isinstance(day, Mapping):
                continue
            alerts = day.get("alerts") or []
            retrain = "retrain requested" if day.get("retrain_requested") else "no retrain needed"
            lines.append(f"- {day.get('as_of', '?')}: pipeline done, {retrain}")
            lines += [f"  - ⚠️ {_md_escape(str(a))}" for a in alerts[:5]]
        if not isinstance(days, list):
            lines += [f"- {k}: `{v}`" for k, v in result.items() if k != "as_of"]
        return "\n".join(lines)

    # -- layout -----------------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        import gradio as gr

        with gr.Blocks(title="Daily Seongsu · 성수역 혼잡 예보", analytics_enabled=False) as demo:
            gr.Markdown(f"# 🚇 {texts.TITLE}\n{texts.SUBTITLE}")
            banner = gr.Markdown(elem_id="banner")
            with gr.Tabs(selected="forecast") as tabs:
                with gr.Tab(texts.TAB_FORECAST, id="forecast"):
                    with gr.Row(equal_height=False):
                        station = gr.Dropdown(
                            choices=[("성수 Seongsu · 2호선 (211)", texts.DEFAULT_STATION)],
                            value=texts.DEFAULT_STATION,
                            label=texts.STATION_LABEL,
                            info=texts.STATION_INFO,
                            allow_custom_value=True,
                            filterable=True,
                            scale=3,
                        )
                        day = gr.Dropdown(
                            choices=[],
                            value=None,
                            label=texts.DATE_LABEL,
                            info=texts.DATE_INFO,
                            allow_custom_value=True,
                            scale=2,
                        )
                        show = gr.Button(texts.SHOW_BUTTON, variant="primary", scale=1)
                    with gr.Row():
                        with gr.Column(scale=3):
                            plot = gr.Plot(label="시간대별 예보 · Hourly forecast", show_label=False)
                        with gr.Column(scale=2):
                            summary = gr.Markdown(elem_id="summary")
                            gr.Markdown(texts.LEVEL_NOTE)
                            note = gr.Markdown()
                    table = gr.Dataframe(
                        label=texts.TABLE_LABEL, interactive=False, wrap=True, max_height=420
                    )
                with gr.Tab(texts.TAB_PIPELINE, id="pipeline"):
                    with gr.Row():
                        gr.Markdown(texts.REFRESH_NOTE)
                        refresh = gr.Button(texts.REFRESH_BUTTON, size="sm", scale=0, min_width=160)
                    with gr.Row():
                        with gr.Column(scale=3):
                            runs_md = gr.Markdown()
                        with gr.Column(scale=2):
                            model_md = gr.Markdown()
                    freshness = gr.Dataframe(label=texts.FRESHNESS_LABEL, interactive=False, wrap=True)
                with gr.Tab(texts.TAB_ACCURACY, id="accuracy"):
                    scope = gr.Dropdown(
                        choices=[(texts.scope_label(s), s) for s in SCOPES_DEFAULT],
                        value="all",
                        label=texts.SCOPE_LABEL,
                    )
                    with gr.Row():
                        with gr.Column(scale=3):
                            acc_plot = gr.Plot(show_label=False)
                        with gr.Column(scale=2):
                            acc_md = gr.Markdown()
                            acc_table = gr.Dataframe(label=texts.ACCURACY_TABLE_LABEL, interactive=False)
                with gr.Tab(texts.TAB_GUIDEBOOK, id="guidebook"), gr.Row():
                    with gr.Column(scale=3):
                        guide_md = gr.Markdown()
                    with gr.Column(scale=1, visible=self.clients.config.local):
                        gr.Markdown("### 재생 시계 · Replay clock")
                        clock_md = gr.Markdown()
                        advance = gr.Button(texts.ADVANCE_BUTTON, variant="secondary")
                        clock_result = gr.Markdown()

            def on_load(request: Any) -> tuple[Any, Any, Any]:
                params = dict(request.query_params) if request is not None else {}
                tab = params.get("tab", "forecast")
                station_choices_, station_value = self.station_options(params.get("station"))
                day_choices, day_value = self.date_options(params.get("date"))
                return (
                    gr.Tabs(selected=tab if tab in texts.TAB_IDS else "forecast"),
                    gr.Dropdown(choices=station_choices_, value=station_value),
                    gr.Dropdown(choices=day_choices, value=day_value),
                )

            # Gradio injects the request by type hint; set it on the object (this module's postponed
            # annotations would otherwise name a class Gradio cannot resolve from here)
            on_load.__annotations__["request"] = gr.Request
            # Public endpoints first, so they keep their plain names (/forecast, /status, ...);
            # the page's own load-time duplicates are private.
            forecast_outputs = [plot, summary, table, note]
            pipeline_outputs = [runs_md, freshness, model_md]
            accuracy_outputs = [acc_plot, acc_table, acc_md]
            gr.on(
                [show.click, station.select, day.select],
                self.forecast,
                inputs=[station, day],
                outputs=forecast_outputs,
                api_name="forecast",
            )
            demo.load(self.banner, outputs=banner, api_name="status", show_progress="hidden")
            demo.load(self.pipeline, outputs=pipeline_outputs, api_name="pipeline")
            scope.change(self.accuracy, inputs=scope, outputs=accuracy_outputs, api_name="accuracy")
            demo.load(self.guidebook, outputs=guide_md, api_name="guidebook")
            advanced = advance.click(
                self.advance_clock, outputs=clock_result, api_name="advance_clock", concurrency_limit=1
            )

            private: dict[str, Any] = {"api_visibility": "private"}
            load = demo.load(on_load, outputs=[tabs, station, day], **private)
            load.then(self.forecast, inputs=[station, day], outputs=forecast_outputs, **private)
            refresh.click(self.pipeline, outputs=pipeline_outputs, **private)
            refresh.click(self.banner, outputs=banner, **private)

            def scopes() -> Any:
                return gr.Dropdown(choices=self.scope_options())

            demo.load(scopes, outputs=scope, **private)
            demo.load(self.accuracy, inputs=scope, outputs=accuracy_outputs, **private)
            demo.load(self.clock_status, outputs=clock_md, **private)
            advanced.then(self.banner, outputs=banner, **private).then(
                self.guidebook, outputs=guide_md, **private
            ).then(self.pipeline, outputs=pipeline_outputs, **private)
        return demo


def build_app(config: SpaceConfig | None = None, clients: Clients | None = None) -> gr.Blocks:
    """The Space as a ``gr.Blocks``, configured from the environment unless told otherwise.

    Nothing here touches the network: data arrives through load events once a page is open.
    """
    clients = clients or Clients.from_config(config or SpaceConfig.from_env())
    return SpaceApp(clients).build()


def theme() -> Any:
    import gradio as gr

    return gr.themes.Soft(primary_hue="emerald", secondary_hue="slate", neutral_hue="slate")


def launch(
    demo: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7860, block: bool = True, quiet: bool = False
) -> Any:
    """Queue (bounded: the box has 2 cores and Prefect is rate limited) and serve ``demo``."""
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        show_error=False,
        quiet=quiet,
        theme=theme(),
        css=CSS,
        footer_links=["api"],
    )


def main(host: str | None = None, port: int | None = None) -> None:
    """Serve the Space (Hugging Face sets GRADIO_SERVER_NAME/PORT; locally 127.0.0.1:7860)."""
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    launch(build_app(), host=host, port=port)


_demo: gr.Blocks | None = None


def __getattr__(name: str) -> Any:
    """``demo`` on first access (PEP 562): tools that look for a module-level ``demo`` find one, and
    plain imports stay cheap."""
    global _demo
    if name == "demo":
        if _demo is None:
            _demo = build_app()
        return _demo
    raise AttributeError(name)


if __name__ == "__main__":
    main()
