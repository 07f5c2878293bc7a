"""``seongsu serve`` (the Bento crowding service) and ``seongsu space`` (the Gradio Space), locally.

The command prepares the environment first (``tasks.core.runtime``: BENTOML_HOME inside SEONGSU_HOME,
analytics off), says which model store it serves from and whether a package is there yet, then
*replaces itself* with ``bentoml serve bentos.crowding.service:CrowdingService``: one process tree,
Ctrl-C and SIGTERM go straight to BentoML, nothing is left behind.  ``serve_command`` gives other
commands (e.g. ``seongsu up``) the same command line to run as a child process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

SERVICE = "bentos.crowding.service:CrowdingService"


def serve_command(
    host: str = "127.0.0.1", port: int = 3000, workers: int = 1, reload_interval_s: float = 5.0
) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) that start the service; call after ``prepare_environment``."""
    from tasks.core.settings import REPO_ROOT

    argv = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]
    argv += ["--working-dir", str(REPO_ROOT)]
    env = {"SEONGSU_SERVE_WORKERS": str(workers), "SEONGSU_RELOAD_INTERVAL_S": f"{reload_interval_s:g}"}
    return argv, env


def register(app: typer.Typer) -> None:
    """Attach ``serve`` to the ``seongsu`` app."""

    @app.command()
    def serve(
        port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 3000,
        host: Annotated[
            str, typer.Option(help="Interface to bind (0.0.0.0 for every interface).")
        ] = "127.0.0.1",
        workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
        reload_interval: Annotated[
            float, typer.Option(min=0.2, help="Seconds between checks for a newly published package.")
        ] = 5.0,
    ) -> None:
        """Serve the promoted model package: /forecast /predict /model /metrics, docs at the root URL.

        Answers from seongsu-crowding:latest in the BentoML model store; newer versions are picked up without a restart.
        """
        from cli.common import load_settings as _settings

        _settings()  # exits 2 naming the offending variable; prepares the tool homes
        store = Path(os.environ["BENTOML_HOME"]) / "models"
        argv, extra = serve_command(host, port, workers, reload_interval)

        import bentoml

        from tasks.model.package import BENTO_MODEL_NAME

        try:
            tag = str(bentoml.models.get(f"{BENTO_MODEL_NAME}:latest").tag)
            typer.echo(f"serving {tag} from {store}", err=True)
        except bentoml.exceptions.NotFound:
            typer.echo(
                f"warning: no {BENTO_MODEL_NAME} in {store} yet; the service starts anyway and answers "
                "503 until a package is published (seongsu train / promote)",
                err=True,
            )
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        typer.echo(f"docs: http://{shown}:{port}/   OpenAPI: http://{shown}:{port}/docs.json", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, {**os.environ, **extra})

    _register_space(app)


def _register_space(app: typer.Typer) -> None:
    """Attach ``seongsu space``: the Gradio Space locally, exactly the app Hugging Face runs.

    Without Supabase keys the Space reads the local warehouse; the replay-clock control needs
    explicit local mode (``SEONGSU_SPACE_LOCAL=1``, set by ``seongsu up``).
    """

    @app.command()
    def space(
        port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
        host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 to expose it).")] = "127.0.0.1",
    ) -> None:
        """Serve the Gradio Space (forecast, pipeline, accuracy, guidebook) on HOST:PORT."""
        from cli.common import load_settings as _settings

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
