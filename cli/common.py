"""What every ``seongsu`` command shares: one-line errors, human dates, full-width output, quiet run logs.

A person who mistypes a date or points at a broken file should read one line saying what to change,
not a stack trace: ``main`` (the console-script entry point) turns usage errors and unexpected
exceptions into ``error: ...`` and a non-zero exit, and keeps the traceback for ``--debug``.  Prefect
logs a failing flow run at ERROR with its traceback; that record belongs to the run (the Prefect UI
shows it), so ``quiet_run_logs`` stops run loggers from also printing it over the terminal.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console

from tasks.core.runtime import prepare_environment
from tasks.core.settings import Settings, get_settings

DEBUG_ENV = "SEONGSU_DEBUG"
PIPED_WIDTH = 400
"""Columns for output that is not a terminal: wide enough that no table is ever cut or wrapped."""


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def out_console(*, stderr: bool = False) -> Console:
    """A console at the terminal's width, or ``PIPED_WIDTH`` when piped (rich's default there is 80)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(stderr=stderr, width=width, soft_wrap=width is not None)


def load_settings() -> Settings:
    """The settings every command starts from; a wrong variable exits 2 naming it, then the tool homes are prepared."""
    try:
        settings = get_settings()
    except Exception as exc:  # pydantic ValidationError: say which variable is wrong
        raise fail(f"invalid configuration: {exc}", 2) from None
    prepare_environment(settings)
    return settings


def start_prefect_early() -> Callable[[], None]:
    """Start the ephemeral Prefect server in the background when no API URL is configured (no
    ``seongsu up`` running): its start (8 s, 16 s on a fresh home) overlaps the command's imports and
    checks instead of following them.  Call the returned function before the first flow: the flow's
    client then finds the same server (``SubprocessASGIServer`` is one per process, and not safe to
    start from two threads at once).  A failed start is left to the flow, which says why."""

    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():  # read here: a settings context does not reach other threads
        return lambda: None

    def start() -> None:
        from prefect.server.api.server import SubprocessASGIServer

        with contextlib.suppress(Exception):
            SubprocessASGIServer().start()

    thread = threading.Thread(target=start, name="prefect-ephemeral-start", daemon=True)
    thread.start()
    return thread.join


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise (``raise fail(...) from None``)."""
    out_console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


# --------------------------------------------------------------------------------------------------
# dates

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` -> date, or ``typer.BadParameter`` saying in words what is wrong with it."""
    value = str(text).strip()
    match = _ISO.fullmatch(value)
    if match is None:
        raise typer.BadParameter(f"{value!r} is not a date: write it as YYYY-MM-DD, e.g. 2023-06-21")
    year, month, day = (int(g) for g in match.groups())
    if not 1 <= month <= 12:
        raise typer.BadParameter(f"{value} is not a date: month {month} (months are 1..12)")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise typer.BadParameter(
            f"{value} is not a date: {calendar.month_name[month]} {year} has {last} days, not {day}"
        )
    return date(year, month, day)


def day_option(*names: str, help: str = "YYYY-MM-DD") -> Any:
    """A ``YYYY-MM-DD`` option parsed by ``parse_day`` (typer's own datetime type says
    "does not match the formats '%Y-%m-%d'", which tells a person nothing)."""
    return typer.Option(*names, parser=parse_day, metavar="YYYY-MM-DD", help=help)


DayOpt = Annotated[date | None, day_option(help="A day, e.g. 2023-06-21.")]


# --------------------------------------------------------------------------------------------------
# logs and help


def quiet_run_logs() -> None:
    """Flow/task run records go to the run only (Prefect's API handler), not to the terminal too.

    Call after Prefect is imported (its import configures logging).  With ``--debug`` the terminal
    keeps them."""
    if debug_enabled():
        return
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).propagate = False


def hide_flag_types(command: Any) -> None:
    """Drop the ``<bool>`` typer prints next to every on/off flag, ``--help`` included (they take
    no value): each boolean flag of the command tree Typer built gets an empty metavar, click's
    documented way to say what the help shows for an option."""
    from typer._click import Context  # typer vendors click

    help_option = command.get_help_option(Context(command))  # created once, then cached
    for param in [*getattr(command, "params", []), *([help_option] if help_option else [])]:
        if getattr(param, "is_bool_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        hide_flag_types(sub)


def explain(exc: BaseException) -> str:
    """The exception's message, plus what to do when it is one a person can fix."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Failed to reach API" in message or "ephemeral Prefect API" in message:
        message += " -- is `seongsu up` running? Otherwise set PREFECT_API_URL to a running Prefect server"
    return message


def print_json(value: Any) -> None:
    """``--json`` output: one document on stdout, dates as ISO strings."""
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM behaves like Ctrl-C: the run in progress is marked crashed by Prefect's engine and
    the process exits normally, so ``atexit`` stops Prefect's temporary API server (the default
    SIGTERM action killed the CLI and left that server running)."""
    raise KeyboardInterrupt


def run_app(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the CLI: usage errors and failures as one ``error:`` line, tracebacks only with ``--debug``."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)
    from typer._click.exceptions import ClickException
    from typer.exceptions import Abort

    args = list(sys.argv[1:] if args is None else args)
    if "--debug" in args:
        args.remove("--debug")
        os.environ[DEBUG_ENV] = "1"
    command = typer.main.get_command(app)
    hide_flag_types(command)
    try:
        result = command.main(args=args, prog_name="seongsu", standalone_mode=False)
    except ClickException as exc:
        if debug_enabled():
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        fail(f"{exc.format_message()}{hint}", exc.exit_code)
        return exc.exit_code
    except (Abort, KeyboardInterrupt):
        return 130
    except Exception as exc:
        if debug_enabled():
            raise
        fail(f"{explain(exc)} ({type(exc).__name__}; `--debug` shows the traceback)")
        return 1
    return result if isinstance(result, int) else 0
