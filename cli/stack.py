"""``seongsu up`` (the whole stack, one command) and ``seongsu replay`` (advance the simulated clock)."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import day_option, interrupt, out_console, print_json, quiet_run_logs


def up(
    prefect_port: Annotated[int, typer.Option(min=1024, max=65535)] = 4200,
    bento_port: Annotated[int, typer.Option(min=1024, max=65535)] = 3000,
    space_port: Annotated[int, typer.Option(min=1024, max=65535)] = 7860,
    replay_start: Annotated[
        date | None, day_option(help="First simulated day of the replay (first run only).")
    ] = None,
    detach: Annotated[bool, typer.Option(help="Bring everything up, print the URLs and return.")] = False,
) -> None:
    """Start Prefect, prepare the warehouse, ingest, train/promote, forecast, serve and open the Space."""
    from cli.common import load_settings as _settings
    from cli.supervisor import Stack, StackError
    from flows.replay import REPLAY_START, bootstrap
    from tasks.ops.orchestration import OrchestrationError

    settings = _settings()
    quiet_run_logs()
    stack = Stack(settings)
    started = time.monotonic()
    try:
        with out_console().status("starting the Prefect server...") as status:
            prefect = stack.start_prefect(prefect_port)

            def step(message: str) -> None:
                status.update(message)
                out_console().print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}")

            step(f"Prefect API at {prefect.url}")
            step("work pool, ingest limit, process worker and deployments (prefect.yaml)")
            stack.prepare_prefect(prefect.url)
            did = bootstrap(settings, replay_start or REPLAY_START, step)
            step("starting the Bento service and the Space")
            bento, space = stack.start_services(bento_port, space_port)
    except (StackError, OrchestrationError, ValueError) as exc:
        _stop(stack)
        out_console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except BaseException:
        _stop(stack)
        raise
    _print_urls(prefect.url.removesuffix("/api"), bento.url, space.url, did, time.monotonic() - started)
    if detach:
        return
    # Ctrl-C must raise here, whatever handler the start-up left: anyio runners on this thread
    # (Prefect's sync client) swap in their own while they run, and the speed bench once saw a lone
    # SIGINT ignored in this loop; handlers are set before the line that invites Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    out_console().print("[bold]Ctrl-C stops everything.[/bold]")
    try:
        while all(m.process is None or m.process.poll() is None for m in stack.processes):
            time.sleep(1)
        dead = [m for m in stack.processes if m.process is not None and m.process.poll() is not None]
        out_console(stderr=True).print(
            f"[red]{', '.join(m.name for m in dead)} stopped unexpectedly; see {dead[0].log}[/red]"
        )
    except KeyboardInterrupt:
        out_console().print("stopping...")
    finally:
        _stop(stack)


def _stop(stack: Any) -> None:
    """Send the run logs still queued for the Prefect API, then stop the stack: stopping the server
    first leaves Prefect's log worker printing "Error logging to API" at exit (e.g. after Ctrl-C)."""
    if "prefect" in sys.modules:
        from prefect.logging.handlers import APILogHandler

        with contextlib.suppress(Exception):  # best effort: the server may already be gone
            APILogHandler().flush()
    stack.stop()


def _print_urls(prefect: str, bento: str, space: str, did: dict[str, Any], seconds: float) -> None:
    table = Table(title=f"Daily Seongsu is up ({seconds:.0f} s) — replayed clock: {did['as_of']}")
    table.add_column("service")
    table.add_column("URL")
    table.add_row("Prefect UI / API", f"{prefect}  ({prefect}/api)")
    table.add_row("Bento service", f"{bento}  (OpenAPI docs at /, /docs.json)")
    table.add_row("Space", space)
    out_console().print(table)
    status = Table(title="this start")
    status.add_column("step")
    status.add_column("result")
    status.add_row("ingest", "ran" if did.get("ingested") else "reused (already loaded)")
    trained = did.get("trained")
    status.add_row(
        "train", str(trained.get("decision", trained)) if isinstance(trained, dict) else "reused champion"
    )
    status.add_row("forecast", _forecast_result(did))
    out_console().print(status)


def _forecast_result(did: dict[str, Any]) -> str:
    """What happened to the forecasts in this start, in words (``bootstrap`` sets ``forecast`` when a
    run issued them, its own or the one a promotion triggered)."""
    if did.get("forecast"):
        return f"issued for the 7 days after {did['as_of']}"
    return f"reused (already issued as of {did['as_of']})"


def replay(
    days: Annotated[int, typer.Option(min=1, max=31, help="Simulated days to advance.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
) -> None:
    """Advance the replayed clock through the real flows: ingest -> monitor -> forecast (-> retrain)."""
    from cli.common import load_settings as _settings
    from flows.replay import advance_clock

    _settings()
    quiet_run_logs()
    try:
        result = advance_clock(days, step=lambda m: out_console(stderr=True).print(m))
    except ValueError as exc:
        out_console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        print_json(result)
        return
    table = Table(title=f"replayed clock now {result['as_of']}")
    for col in ("as_of", "retrain requested", "alerts", "retrain"):
        table.add_column(col)
    for day in result["days"]:
        retrain = day.get("retrain")
        table.add_row(
            day["as_of"],
            str(day.get("retrain_requested")),
            "; ".join(day.get("alerts", [])) or "-",
            str(retrain.get("decision", retrain)) if isinstance(retrain, dict) else "-",
        )
    out_console().print(table)


def register(app: typer.Typer) -> None:
    """Attach ``up`` and ``replay`` to the ``seongsu`` app."""
    app.command()(up)
    app.command()(replay)
