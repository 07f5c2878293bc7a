"""``seongsu``: the command line of Daily Seongsu.

Every command calls the same flows and task functions the deployments run: there is no second
implementation here, only argument parsing, progress display and readable errors.  Heavy libraries
(Prefect, CatBoost, BentoML, Gradio) are imported inside the commands, after the environment is
prepared, so ``seongsu --help`` is instant and tool homes never land in the source tree.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from tasks.runtime import prepare_environment
from tasks.settings import Settings, get_settings

app = typer.Typer(
    help="Daily Seongsu: hourly crowding forecasts for Seoul Metro stations.", no_args_is_help=True
)
db_app = typer.Typer(help="Warehouse: migrations and status.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console()
err = Console(stderr=True)

DateOpt = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD")]


def _settings() -> Settings:
    try:
        settings = get_settings()
    except Exception as exc:  # pydantic ValidationError: say which variable is wrong
        err.print(f"[red]Invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from None
    prepare_environment(settings)
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations to the configured warehouse."""
    from tasks.warehouse.base import WarehouseError, open_warehouse

    settings = _settings()
    try:
        with open_warehouse(settings.resolved_warehouse_url) as warehouse:  # type: ignore[attr-defined]
            applied = warehouse.migrate()
            url = warehouse.display_url
    except WarehouseError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{url}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))


@db_app.command("status")
def db_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Row counts, date range per table and the last ingest of each dataset."""
    from tasks.status import warehouse_status
    from tasks.warehouse.base import WarehouseError, open_warehouse

    settings = _settings()
    try:
        with open_warehouse(settings.resolved_warehouse_url) as warehouse:  # type: ignore[attr-defined]
            status = warehouse_status(warehouse)
    except WarehouseError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(status, ensure_ascii=False, indent=2, default=str))
        return
    table = RichTable(
        title=f"{status['warehouse']} (migrations: {', '.join(status['migrations']) or 'none'})"
    )
    for col in ("table", "rows", "from", "to", "last ingest", "status"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for name, info in status["tables"].items():
        last = status["last_ingest"].get(name, {})
        rows = "-" if info["rows"] is None else f"{info['rows']:,}"
        table.add_row(
            name,
            rows,
            info["min"] or "",
            info["max"] or "",
            last.get("finished_at") or "",
            last.get("status") or "",
        )
    console.print(table)


@app.command()
def ingest(
    source: Annotated[str, typer.Option(help="snapshot | api | file")] = "snapshot",
    start: DateOpt = None,
    end: DateOpt = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of", formats=["%Y-%m-%d"], help="Snapshot replay: what was published by this date."
        ),
    ] = None,
    path: Annotated[
        Path | None, typer.Option(help="File for --source file (Seoul Metro hourly xlsx/csv).")
    ] = None,
    weather: Annotated[bool, typer.Option(help="Also ingest weather (snapshot/api).")] = True,
) -> None:
    """Load ridership (and weather) into the warehouse; safe to re-run (upserts)."""
    if source not in ("snapshot", "api", "file"):
        raise _fail(f"--source must be snapshot, api or file, not {source!r}", 2)
    if source == "file" and path is None:
        raise _fail("--source file needs --path FILE", 2)
    if path is not None and not path.is_file():
        raise _fail(f"--path {path}: no such file", 2)
    if start and end and start > end:
        raise _fail(f"--start {start:%Y-%m-%d} is after --end {end:%Y-%m-%d}", 2)
    _settings()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.ingest import ingest_ridership, ingest_weather
    from tasks.feeds.base import FeedError
    from tasks.ingest import PROGRESS
    from tasks.warehouse.base import WarehouseError

    summaries: list[Any] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task_id = bar.add_task("starting flow run...", total=None)

        def report(step: str, done: int, total: int) -> None:
            bar.update(task_id, description=step, completed=done, total=total)

        token = PROGRESS.set(report)
        try:
            window = {"start": _day(start), "end": _day(end), "as_of": _day(as_of)}
            summaries += ingest_ridership(source=source, path=str(path) if path else None, **window)  # type: ignore[call-overload]
            if weather and source != "file":
                summaries += ingest_weather(source=source, **window)  # type: ignore[call-overload]
        except (FeedError, WarehouseError, ValueError) as exc:
            raise _fail(str(exc)) from None
        finally:
            PROGRESS.reset(token)
    _print_summaries(summaries)


def _print_summaries(summaries: list[Any]) -> None:
    table = RichTable(title="ingest")
    for col in ("dataset", "rows in", "inserted", "updated", "quarantined", "data range"):
        table.add_column(col, justify="left" if col in ("dataset", "data range") else "right")
    for s in summaries:
        table.add_row(
            s.dataset,
            f"{s.rows_in:,}",
            f"{s.rows_inserted:,}",
            f"{s.rows_updated:,}",
            f"{s.rows_quarantined:,}",
            f"{s.data_min_date} .. {s.data_max_date}",
        )
    console.print(table)
    for s in summaries:
        for reason in s.top_reasons:
            console.print(f"[yellow]quarantined[/yellow] {s.dataset}: {reason}")


def _register_subcommands() -> None:
    """Model (train, forecast, model list/rollback) and stack (serve, space, up, replay) commands."""
    from tasks import cli_model, cli_serve, cli_space, cli_stack

    for module in (cli_model, cli_serve, cli_space, cli_stack):
        module.register(app)


_register_subcommands()

if __name__ == "__main__":
    app()
