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
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

try:
    from space import charts, texts
    from space.accuracy_view import (
        ACCURACY_COLUMNS,
        SCOPES_DEFAULT,
        accuracy_view,
        empty_accuracy_table,
        scope_options,
    )
    from space.clients import (
        Clients,
        ForecastResult,
        ModelInfo,
        PipelineRuns,
        SpaceConfig,
        Unavailable,
        ok,
        parse_timestamp,
    )
    from space.fmt import fmt_duration, fmt_time, md_escape, schedule_text
    from space.forecast_view import (
        DAY_HOURS,
        HOURS,
        apply_thresholds,
        build_view,
        empty_hour_table,
        hour_table,
        hourly_totals,
        parse_day,
        resolve_station,
        station_choices,
        summary_markdown,
    )
    from space.guidebook import guidebook_markdown
    from space.model_panel import coverage_line, headline, headline_lines, served_metrics
except ImportError:  # on Hugging Face the Space root is the working directory: sibling modules
    import charts  # type: ignore[no-redef]
    import texts  # type: ignore[no-redef]
    from accuracy_view import (  # type: ignore[no-redef]
        ACCURACY_COLUMNS,
        SCOPES_DEFAULT,
        accuracy_view,
        empty_accuracy_table,
        scope_options,
    )
    from clients import (  # type: ignore[no-redef]
        Clients,
        ForecastResult,
        ModelInfo,
        PipelineRuns,
        SpaceConfig,
        Unavailable,
        ok,
        parse_timestamp,
    )
    from fmt import fmt_duration, fmt_time, md_escape, schedule_text  # type: ignore[no-redef]
    from forecast_view import (  # type: ignore[no-redef]
        DAY_HOURS,
        HOURS,
        apply_thresholds,
        build_view,
        empty_hour_table,
        hour_table,
        hourly_totals,
        parse_day,
        resolve_station,
        station_choices,
        summary_markdown,
    )
    from guidebook import guidebook_markdown  # type: ignore[no-redef]
    from model_panel import coverage_line, headline, headline_lines, served_metrics  # type: ignore[no-redef]

if TYPE_CHECKING:
    import gradio as gr

__all__ = [  # the pure helpers live in forecast_view / accuracy_view; re-exported for callers
    "ACCURACY_COLUMNS",
    "DAY_HOURS",
    "HOURS",
    "build_app",
    "build_view",
    "hour_table",
    "hourly_totals",
    "launch",
    "parse_day",
    "resolve_station",
    "station_choices",
    "summary_markdown",
]
RECENT_ACTUAL_DAYS = 7
FRESHNESS_COLUMNS = (
    "테이블 Table",
    "최신 날짜 Newest",
    "행 수 Rows",
    "마지막 적재 Last load (KST)",
    "상태 Status",
)


LOCAL_TIME_TABLES = ("weather_hourly", "weather_forecast")
"""Tables whose timestamps are Korean wall-clock times (KMA observations and forecasts); the
system's own timestamps (loads, models) are UTC."""


def _newest(table: str, value: str | None) -> str:
    """A date stays a date; a timestamp is shown in KST, labelled (converted when it is UTC)."""
    if not value:
        return "—"
    if len(value.strip()) <= 10:
        return value
    if table in LOCAL_TIME_TABLES:
        return f"{value.strip()[:16]} KST"
    return fmt_time(parse_timestamp(value))


def empty_freshness_table() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(FRESHNESS_COLUMNS, pl.String))


CSS = """
.gradio-container {max-width: 1320px !important; margin: auto;}
#banner {padding: 6px 12px; border-radius: 8px; background: var(--block-background-fill);}
#banner p {margin: 2px 0;}
#summary {font-size: 1.02rem;}
#summary h3 {margin-top: 0;}
"""


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
            return charts.message_figure(message), message, empty_hour_table(), ""

    def _forecast(self, station: str | None, day_value: str | None) -> tuple[Any, str, pl.DataFrame, str]:
        ref = (station or texts.DEFAULT_STATION).strip()
        model = self.clients.model()
        day = parse_day(day_value)
        if day is None and day_value:
            return charts.message_figure(texts.BAD_DATE), texts.BAD_DATE, empty_hour_table(), ""
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
                empty_hour_table(),
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
                empty_hour_table(),
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
            return message, empty_freshness_table(), ""

    def _run_row(self, label: str, run: Any) -> str:
        if run is None:
            return f"| {label} | ⚪ 아직 없음 · never run | — | — | — |"
        icon = texts.STATE_ICONS.get(run.state_type, "⚪")
        link = f"[open]({run.url})" if run.url else "—"
        return (
            f"| {label} | {icon} {md_escape(run.state_name)} | {fmt_time(run.start)} | "
            f"{fmt_duration(run.duration_s)} | {link} |"
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
        schedules = [
            "#### 배포와 일정 · Deployments and schedules",
            "| 배포 Deployment | 일정 Schedule | 다음 실행 Next run | 작업 풀 Work pool |",
            "|---|---|---|---|",
        ] + [
            f"| `{d.full_name}` | {md_escape('; '.join(map(schedule_text, d.schedules))) or '—'} | "
            f"{fmt_time(d.next_run) if d.next_run else '—'} | {md_escape(d.work_pool or '—')} |"
            for d in runs.deployments
        ]
        head = ([*schedules, ""] if runs.deployments else []) + head
        recent = [
            "",
            "#### 최근 실행 · Recent runs",
            "| 흐름 Flow | 실행 Run | 상태 State | 시작 Start | 소요 Duration |",
            "|---|---|---|---|---|",
        ]
        for run in runs.recent[:10]:
            name = f"[{md_escape(run.name)}]({run.url})" if run.url else md_escape(run.name)
            recent.append(
                f"| `{run.flow}` | {name} | {texts.STATE_ICONS.get(run.state_type, '⚪')} "
                f"{md_escape(run.state_name)} | {fmt_time(run.start)} | {fmt_duration(run.duration_s)} |"
            )
        return "\n".join(head + rows + (recent if runs.recent else []))

    def _freshness_table(self) -> pl.DataFrame:
        fresh = self.clients.data.freshness()
        columns = list(FRESHNESS_COLUMNS)
        if isinstance(fresh, Unavailable):
            return pl.DataFrame(
                [{columns[0]: "—", columns[1]: fresh.reason, columns[2]: "", columns[3]: "", columns[4]: "⚠️"}]
            )
        rows = [
            {
                columns[0]: f.table,
                columns[1]: _newest(f.table, f.newest),
                columns[2]: f"{f.rows:,}" if f.rows is not None else "",
                columns[3]: fmt_time(parse_timestamp(f.last_load)) if f.last_load else "",
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
                f"- 서빙 중 · serving: **`{model.version}`** (package `{model.package}`) — "
                + texts.serving_kind(model.kind, model.forecaster),
                f"- 승격 · promoted: {fmt_time(model.promoted_at)} · 학습 · trained: {fmt_time(model.trained_at)}",
                f"- 학습 데이터 · training data: {model.data_start} … {model.data_end}",
                f"- 예보 가능 · forecastable: {model.forecast_start} … {model.forecast_end} (as of {model.as_of})",
            ]
            stations = self.clients.data.stations()
            known = stations.height if isinstance(stations, pl.DataFrame) and stations.height else None
            lines.append(coverage_line(model.stations, known) or f"- {model.stations or '?'} stations")
            if model.why:
                lines.append(f"- 이유 · why: {model.why}")
        models = self.clients.data.models()
        monitoring = self.clients.data.monitoring()
        metrics = served_metrics(
            models if isinstance(models, pl.DataFrame) else None,
            model if isinstance(model, ModelInfo) else None,
        )
        lines += headline_lines(
            headline(metrics, monitoring if isinstance(monitoring, pl.DataFrame) else None)
        )
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
        return scope_options(self.clients)

    def accuracy(self, scope: str | None) -> tuple[Any, pl.DataFrame, str]:
        return accuracy_view(self.clients, scope)

    # -- guidebook tab ----------------------------------------------------------------------------
    def guidebook(self) -> str:
        try:
            return self._guidebook()
        except Exception as exc:
            return f"안내서를 그리지 못했습니다 · Could not build the guidebook ({type(exc).__name__})."

    def _guidebook(self) -> str:
        return guidebook_markdown(self.clients)

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

    def advance_started(self) -> str:
        """Shown at once when the button is pressed: the run takes minutes, say so."""
        today = self.clients.clock.current()
        day = f" for {today + dt.timedelta(days=1)}" if today else ""
        return (
            f"⏳ **실행 중 · Running the daily pipeline{day}** — ingest → monitor → forecast (→ retrain if "
            "the monitor asks), usually 1–3 minutes. Every tab refreshes when it is done."
        )

    def wait_for_service(self, as_of: dt.date | None, timeout_s: float = 30.0) -> None:
        """After the clock moved, wait (bounded) until the Bento service serves the new package, so
        the refreshed panels show the new forecasts rather than the old ones for another poll."""
        if as_of is None or self.clients.bento is None:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.clients.bento.clear()
            model = self.clients.model()
            if isinstance(model, ModelInfo) and model.as_of is not None and model.as_of >= as_of:
                return
            time.sleep(1.0)

    def advance_clock(self) -> str:
        result = self.clients.clock.advance(1)
        if isinstance(result, Unavailable):
            return texts.unavailable("clock", result.reason)
        self.wait_for_service(parse_day(result.get("as_of")))
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
            lines += [f"  - ⚠️ {md_escape(str(a))}" for a in alerts[:5]]
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
                            summary = gr.Markdown(texts.LOADING, elem_id="summary")
                            gr.Markdown(texts.LEVEL_NOTE)
                            note = gr.Markdown()
                    table = gr.Dataframe(
                        value=empty_hour_table(),
                        label=texts.TABLE_LABEL,
                        interactive=False,
                        wrap=True,
                        max_height=420,
                    )
                with gr.Tab(texts.TAB_PIPELINE, id="pipeline"):
                    with gr.Row():
                        gr.Markdown(texts.REFRESH_NOTE)
                        refresh = gr.Button(texts.REFRESH_BUTTON, size="sm", scale=0, min_width=160)
                    with gr.Row():
                        with gr.Column(scale=3):
                            runs_md = gr.Markdown(texts.LOADING)
                        with gr.Column(scale=2):
                            model_md = gr.Markdown(texts.LOADING)
                    freshness = gr.Dataframe(
                        value=empty_freshness_table(),
                        label=texts.FRESHNESS_LABEL,
                        interactive=False,
                        wrap=True,
                    )
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
                            acc_md = gr.Markdown(texts.LOADING)
                            acc_table = gr.Dataframe(
                                value=empty_accuracy_table(),
                                label=texts.ACCURACY_TABLE_LABEL,
                                interactive=False,
                            )
                with gr.Tab(texts.TAB_GUIDEBOOK, id="guidebook"), gr.Row():
                    with gr.Column(scale=3):
                        guide_md = gr.Markdown(texts.LOADING)
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
            private: dict[str, Any] = {"api_visibility": "private"}

            def busy() -> tuple[str, Any]:
                return self.advance_started(), gr.Button(interactive=False)

            advanced = advance.click(busy, outputs=[clock_result, advance], **private).then(
                self.advance_clock,
                outputs=clock_result,
                concurrency_limit=1,
                show_progress="minimal",  # keep the "running ..." message readable
                **private,  # the clock runs the whole pipeline: no API for Gradio clients
            )

            load = demo.load(on_load, outputs=[tabs, station, day], **private)
            load.then(self.forecast, inputs=[station, day], outputs=forecast_outputs, **private)

            def scopes() -> Any:
                return gr.Dropdown(choices=self.scope_options())

            def days(current: str | None) -> Any:
                choices, value = self.date_options(current)
                return gr.Dropdown(choices=choices, value=value)

            def next_days() -> Any:  # after the clock moved: the new first forecastable day
                return days(None)

            def idle() -> Any:
                return gr.Button(interactive=True)

            demo.load(scopes, outputs=scope, **private)
            demo.load(self.accuracy, inputs=scope, outputs=accuracy_outputs, **private)
            demo.load(self.clock_status, outputs=clock_md, **private)

            def refresh_everything(event: Any, *, new_day: bool) -> Any:
                """Every panel an action can change, one after the other (each shows its own
                progress while it reloads)."""
                return (
                    event.then(self.banner, outputs=banner, **private)
                    .then(self.clock_status, outputs=clock_md, **private)
                    .then(self.pipeline, outputs=pipeline_outputs, **private)
                    .then(self.guidebook, outputs=guide_md, **private)
                    .then(scopes, outputs=scope, **private)
                    .then(self.accuracy, inputs=scope, outputs=accuracy_outputs, **private)
                    .then(
                        next_days if new_day else days,
                        inputs=None if new_day else day,
                        outputs=day,
                        **private,
                    )
                    .then(self.forecast, inputs=[station, day], outputs=forecast_outputs, **private)
                )

            def cleared() -> None:
                self.clients.clear()

            refresh_everything(refresh.click(cleared, **private), new_day=False)
            refresh_everything(advanced, new_day=True).then(idle, outputs=advance, **private)
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
