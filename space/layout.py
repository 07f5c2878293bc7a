"""The page: Gradio Blocks for the four tabs and the events that fill them.

Public endpoints are declared first so they keep their plain names (/forecast, /status, ...); the
page's own load-time duplicates are private, and the replay clock has no API at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    from space import texts
    from space.accuracy_view import SCOPES_DEFAULT, empty_accuracy_table
    from space.forecast_view import empty_hour_table
    from space.pipeline_view import empty_freshness_table
except ImportError:  # on Hugging Face the Space root is the working directory
    import texts  # type: ignore[no-redef]
    from accuracy_view import SCOPES_DEFAULT, empty_accuracy_table  # type: ignore[no-redef]
    from forecast_view import empty_hour_table  # type: ignore[no-redef]
    from pipeline_view import empty_freshness_table  # type: ignore[no-redef]

if TYPE_CHECKING:
    import gradio as gr

    from space.app import SpaceApp


def build_blocks(app: SpaceApp) -> gr.Blocks:
    """Lay out the Blocks and wire every event to ``app``'s callbacks."""
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
                with gr.Column(scale=1, visible=app.clients.config.local):
                    gr.Markdown("### 재생 시계 · Replay clock")
                    clock_md = gr.Markdown()
                    advance = gr.Button(texts.ADVANCE_BUTTON, variant="secondary")
                    clock_result = gr.Markdown()

        def on_load(request: Any) -> tuple[Any, Any, Any]:
            params = dict(request.query_params) if request is not None else {}
            tab = params.get("tab", "forecast")
            station_choices_, station_value = app.station_options(params.get("station"))
            day_choices, day_value = app.date_options(params.get("date"))
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
            app.forecast,
            inputs=[station, day],
            outputs=forecast_outputs,
            api_name="forecast",
        )
        demo.load(app.banner, outputs=banner, api_name="status", show_progress="hidden")
        demo.load(app.pipeline, outputs=pipeline_outputs, api_name="pipeline")
        scope.change(app.accuracy, inputs=scope, outputs=accuracy_outputs, api_name="accuracy")
        demo.load(app.guidebook, outputs=guide_md, api_name="guidebook")
        private: dict[str, Any] = {"api_visibility": "private"}

        def busy() -> tuple[str, Any]:
            return app.advance_started(), gr.Button(interactive=False)

        advanced = advance.click(busy, outputs=[clock_result, advance], **private).then(
            app.advance_clock,
            outputs=clock_result,
            concurrency_limit=1,
            show_progress="minimal",  # keep the "running ..." message readable
            **private,  # the clock runs the whole pipeline: no API for Gradio clients
        )

        load = demo.load(on_load, outputs=[tabs, station, day], **private)
        load.then(app.forecast, inputs=[station, day], outputs=forecast_outputs, **private)

        def scopes() -> Any:
            return gr.Dropdown(choices=app.scope_options())

        def days(current: str | None) -> Any:
            choices, value = app.date_options(current)
            return gr.Dropdown(choices=choices, value=value)

        def next_days() -> Any:  # after the clock moved: the new first forecastable day
            return days(None)

        def idle() -> Any:
            return gr.Button(interactive=True)

        demo.load(scopes, outputs=scope, **private)
        demo.load(app.accuracy, inputs=scope, outputs=accuracy_outputs, **private)
        demo.load(app.clock_status, outputs=clock_md, **private)

        def refresh_everything(event: Any, *, new_day: bool) -> Any:
            """Every panel an action can change, one after the other (each shows its own
            progress while it reloads)."""
            return (
                event.then(app.banner, outputs=banner, **private)
                .then(app.clock_status, outputs=clock_md, **private)
                .then(app.pipeline, outputs=pipeline_outputs, **private)
                .then(app.guidebook, outputs=guide_md, **private)
                .then(scopes, outputs=scope, **private)
                .then(app.accuracy, inputs=scope, outputs=accuracy_outputs, **private)
                .then(
                    next_days if new_day else days,
                    inputs=None if new_day else day,
                    outputs=day,
                    **private,
                )
                .then(app.forecast, inputs=[station, day], outputs=forecast_outputs, **private)
            )

        def cleared() -> None:
            app.clients.clear()

        refresh_everything(refresh.click(cleared, **private), new_day=False)
        refresh_everything(advanced, new_day=True).then(idle, outputs=advance, **private)
    return demo
