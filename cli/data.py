"""``seongsu ingest``, ``seongsu db migrate`` and ``seongsu db status``: the warehouse side of the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from cli.common import (
    DayOpt,
    day_option,
    fail,
    load_settings,
    out_console,
    print_json,
    quiet_run_logs,
    start_prefect_early,
)

db_app = typer.Typer(help="Warehouse: migrations and status.", no_args_is_help=True)

_settings = load_settings
_fail = fail


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations to the configured warehouse."""
    from tasks.data.warehouse import warehouse_session
    from tasks.data.warehouse.base import WarehouseError

    settings = _settings()
    try:
        with warehouse_session(settings, migrate=False) as warehouse:
            applied = warehouse.migrate()
            url = warehouse.display_url
    except WarehouseError as exc:
        raise _fail(str(exc)) from None
    out_console().print(f"{url}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))


@db_app.command("status")
def db_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Row counts, date range per table and the last ingest of each dataset."""
    from tasks.data.status import warehouse_status
    from tasks.data.warehouse import warehouse_session
    from tasks.data.warehouse.base import WarehouseError

    settings = _settings()
    try:
        with warehouse_session(settings, migrate=False) as warehouse:
            status = warehouse_status(warehouse)
    except WarehouseError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print_json(status)
        return
    table = RichTable(
        title=f"{status['warehouse']} (migrations: {', '.join(status['migrations']) or 'none'})"
    )
    for col in ("table", "rows", "from", "to", "last ingest (UTC)", "status"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for name, info in status["tables"].items():
        last = status["last_ingest"].get(name, {})
        rows = "-" if info["rows"] is None else f"{info['rows']:,}"
        table.add_row(
            name,
            rows,
            info["min"] or "",
            info["max"] or "",
            (last.get("finished_at") or "")[:19],
            last.get("status") or "",
        )
    out_console().print(table)


def ingest(
    source: Annotated[str, typer.Option(help="snapshot | api | file")] = "snapshot",
    start: DayOpt = None,
    end: DayOpt = None,
    as_of: Annotated[
        date | None, day_option("--as-of", help="Snapshot replay: what was published by this date.")
    ] = None,
    path: Annotated[
        Path | None, typer.Option(help="File for --source file (Seoul Metro hourly xlsx/csv).")
    ] = None,
    weather: Annotated[bool, typer.Option(help="Also ingest weather (snapshot/api).")] = True,
    allow_renames: Annotated[
        bool, typer.Option("--allow-renames", help="Load station renames (otherwise quarantined).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
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
    settings = _settings()
    if source == "api":
        missing = [
            name
            for name, key, needed in (
                ("SEOUL_DATA_API_KEY", settings.seoul_data_api_key, True),
                ("KMA_API_KEY", settings.kma_api_key, weather),
            )
            if needed and (key is None or not key.get_secret_value().strip())
        ]
        if missing:  # say so before a flow run starts, rather than record a failed ingest
            raise _fail(f"--source api needs {' and '.join(missing)} (set it in the environment)", 2)
    prefect_ready = start_prefect_early()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.ingest import ingest_ridership, ingest_weather
    from tasks.data.feeds.base import FeedError
    from tasks.data.ingest import PROGRESS
    from tasks.data.warehouse.base import WarehouseError

    quiet_run_logs()
    summaries: list[Any] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=out_console(stderr=True),
        transient=True,
    ) as bar:
        task_id = bar.add_task("starting flow run...", total=None)

        def report(step: str, done: int, total: int) -> None:
            bar.update(task_id, description=step, completed=done, total=total)

        token = PROGRESS.set(report)
        prefect_ready()
        try:
            window = {"start": start, "end": end, "as_of": as_of}
            summaries += ingest_ridership(  # type: ignore[call-overload]
                source=source, path=str(path) if path else None, allow_renames=allow_renames, **window
            )
            if weather and source != "file":
                summaries += ingest_weather(source=source, **window)  # type: ignore[call-overload]
        except (FeedError, WarehouseError, ValueError) as exc:
            raise _fail(str(exc)) from None
        finally:
            PROGRESS.reset(token)
    if as_json:
        print_json([s.as_dict() for s in summaries])
        return
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
            s.date_range,
        )
    console = out_console()
    console.print(table)
    for s in summaries:
        for reason in s.top_reasons:
            console.print(f"[yellow]quarantined[/yellow] {s.dataset}: {reason}")
        if s.status == "ok" and s.message:  # changes to data already loaded: renames, overwrites
            console.print(f"[yellow]changed[/yellow] {s.dataset}: {s.message}")


def register(app: typer.Typer) -> None:
    """Attach ``db migrate``, ``db status`` and ``ingest`` to the ``seongsu`` app."""
    app.add_typer(db_app, name="db")
    app.command()(ingest)
