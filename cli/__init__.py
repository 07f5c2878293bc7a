"""``seongsu``: the command line of Daily Seongsu.

Every command calls the same flows and task functions the deployments run: there is no second
implementation here, only argument parsing, progress display and readable errors.  Heavy libraries
(Prefect, CatBoost, BentoML, Gradio) are imported inside the commands, after the environment is
prepared, so ``seongsu --help`` is instant and tool homes never land in the source tree.
"""

from __future__ import annotations

import sys

import typer

from cli import data, model, serve, stack
from cli.common import run_app

app = typer.Typer(
    help="Daily Seongsu: hourly crowding forecasts for Seoul Metro stations.  "
    "Add --debug anywhere for tracebacks and Prefect's run logs on the terminal.",
    no_args_is_help=True,
)
for _module in (data, model, serve, stack):
    _module.register(app)


def main() -> None:
    """The ``seongsu`` console script."""
    sys.exit(run_app(app))
