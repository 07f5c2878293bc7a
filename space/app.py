"""Daily Seongsu's public face: a Gradio app with four tabs (forecast, pipeline, accuracy, guidebook).

Runs as a Hugging Face Space (``python app.py`` in the Space root, configured by Space secrets) and
locally via ``seongsu space``.  It talks to the rest of the system only through ``clients`` (Bento
over HTTP, Prefect's REST API, Supabase's public views or the local warehouse), so it never needs
the flows' credentials, and every dependency can be down without taking the page with it: each
callback turns ``Unavailable`` into one plain sentence where the data would have been.

Start-up is fast because building the page touches no network: the data arrives through
``demo.load`` events after the page is served, each with its own 3 s budget and server-side cache.
This module is the wiring: each tab's callbacks live in its own view module (``status_view``,
``forecast_panel``, ``pipeline_view``, ``accuracy_view``, ``guidebook``, ``clock_view``) and the
Blocks in ``layout``; ``SpaceApp`` binds them to one ``Clients``.
Gradio itself is imported inside ``build_app`` so importing this module (tests, ``seongsu --help``)
stays cheap; ``demo`` is still available as a module attribute for tools that look for it
(``gradio app.py`` reload mode), built on first access.

Deep links: ``?tab=forecast|pipeline|accuracy|guidebook``, ``?station=강남`` and ``?date=2023-06-21``
select a tab / station / day on load (used by the docs screenshots, handy for sharing).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

import polars as pl

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

try:
    from space import clock_view, forecast_panel, pipeline_view, status_view
    from space.accuracy_view import ACCURACY_COLUMNS, accuracy_view, scope_options
    from space.clients import Clients, SpaceConfig
    from space.forecast_view import (
        DAY_HOURS,
        HOURS,
        build_view,
        hour_table,
        hourly_totals,
        parse_day,
        resolve_station,
        station_choices,
        summary_markdown,
    )
    from space.guidebook import guidebook_markdown
    from space.layout import build_blocks
    from space.pipeline_view import FRESHNESS_COLUMNS
except ImportError:  # on Hugging Face the Space root is the working directory: sibling modules
    import clock_view  # type: ignore[no-redef]
    import forecast_panel  # type: ignore[no-redef]
    import pipeline_view  # type: ignore[no-redef]
    import status_view  # type: ignore[no-redef]
    from accuracy_view import ACCURACY_COLUMNS, accuracy_view, scope_options  # type: ignore[no-redef]
    from clients import Clients, SpaceConfig  # type: ignore[no-redef]
    from forecast_view import (  # type: ignore[no-redef]
        DAY_HOURS,
        HOURS,
        build_view,
        hour_table,
        hourly_totals,
        parse_day,
        resolve_station,
        station_choices,
        summary_markdown,
    )
    from guidebook import guidebook_markdown  # type: ignore[no-redef]
    from layout import build_blocks  # type: ignore[no-redef]
    from pipeline_view import FRESHNESS_COLUMNS  # type: ignore[no-redef]

if TYPE_CHECKING:
    import gradio as gr

__all__ = [  # the pure helpers live in forecast_view / accuracy_view; re-exported for callers
    "ACCURACY_COLUMNS",
    "DAY_HOURS",
    "FRESHNESS_COLUMNS",
    "HOURS",
    "Clients",
    "SpaceApp",
    "SpaceConfig",
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

CSS = """
.gradio-container {max-width: 1320px !important; margin: auto;}
#banner {padding: 6px 12px; border-radius: 8px; background: var(--block-background-fill);}
#banner p {margin: 2px 0;}
#summary {font-size: 1.02rem;}
#summary h3 {margin-top: 0;}
"""


class SpaceApp:
    """The page's callbacks bound to one ``Clients``: what ``layout`` wires to the Blocks' events."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def banner(self) -> str:
        return status_view.banner(self.clients)

    def station_options(self, wanted: str | None = None) -> tuple[list[tuple[str, str]], str]:
        return forecast_panel.station_options(self.clients, wanted)

    def date_options(self, wanted: str | None = None) -> tuple[list[tuple[str, str]], str | None]:
        return forecast_panel.date_options(self.clients, wanted)

    def forecast(self, station: str | None, day_value: str | None) -> tuple[Any, str, pl.DataFrame, str]:
        return forecast_panel.forecast(self.clients, station, day_value)

    def pipeline(self) -> tuple[str, pl.DataFrame, str]:
        return pipeline_view.pipeline(self.clients)

    def scope_options(self) -> list[tuple[str, str]]:
        return scope_options(self.clients)

    def accuracy(self, scope: str | None) -> tuple[Any, pl.DataFrame, str]:
        return accuracy_view(self.clients, scope)

    def guidebook(self) -> str:
        try:
            return guidebook_markdown(self.clients)
        except Exception as exc:
            return f"안내서를 그리지 못했습니다 · Could not build the guidebook ({type(exc).__name__})."

    def clock_status(self) -> str:
        return clock_view.clock_status(self.clients)

    def advance_started(self) -> str:
        return clock_view.advance_started(self.clients)

    def wait_for_service(self, as_of: dt.date | None, timeout_s: float = 30.0) -> None:
        clock_view.wait_for_service(self.clients, as_of, timeout_s)

    def advance_clock(self) -> str:
        return clock_view.advance_clock(self.clients)

    def build(self) -> gr.Blocks:
        return build_blocks(self)


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
