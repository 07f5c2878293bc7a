"""``seongsu space``: serve the Gradio Space locally, exactly the app Hugging Face runs.

The environment is prepared first (``tasks.runtime``: tool homes in ``SEONGSU_HOME``, analytics off,
the local Prefect server's URL when ``seongsu up`` started one), then ``space.app`` is imported, so
Gradio never phones home and the Space finds the same warehouse and Prefect API as the other
commands.  Without Supabase keys the Space reads the local warehouse; the replay-clock control
needs explicit local mode (``SEONGSU_SPACE_LOCAL=1``, set by ``seongsu up``); ``SEONGSU_BENTO_URL``
defaults to the local ``seongsu serve`` (http://127.0.0.1:3000).
"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach ``seongsu space`` to the ``seongsu`` app."""

    @app.command()
    def space(
        port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
        host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 to expose it).")] = "127.0.0.1",
    ) -> None:
        """Serve the Gradio Space (forecast, pipeline, accuracy, guidebook) on HOST:PORT."""
        from tasks.cli import _settings

        _settings()  # exits 2 naming the offending variable; prepares the tool homes

        from space.app import build_app, launch
        from space.clients import SpaceConfig

        config = SpaceConfig.from_env()
        source = "Supabase (public views)" if config.uses_supabase else "local warehouse"
        typer.echo(
            f"Space: http://{host}:{port}/  (data: {source}; forecasts: {config.bento_url or 'not configured'}; "
            f"Prefect: {config.prefect_api_url or 'not configured'})",
            err=True,
        )
        try:
            launch(build_app(config), host=host, port=port, quiet=True)
        except OSError as exc:  # port taken: Gradio's message names it
            typer.echo(f"error: cannot serve on {host}:{port}: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
