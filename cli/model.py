"""``seongsu train``, ``seongsu forecast``, ``seongsu model list`` and ``seongsu model rollback``.

Argument parsing, progress and readable errors only: ``train`` runs the train flow (so it needs a
Prefect API, like ``ingest``), ``forecast`` calls ``tasks.model.forecast`` directly on the production
model package (``SEONGSU_HOME/models`` / the BentoML store -- never W&B) and the warehouse rows
known on ``--as-of``, so it takes seconds and needs no orchestrator.  Bad arguments exit with code 2
and one line saying what to change; failures of the work itself exit with 1; no tracebacks.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import day_option, fail, out_console, print_json, quiet_run_logs
from tasks.core.progress import watching

model_app = typer.Typer(help="Model registry: list versions, roll back the champion.", no_args_is_help=True)

_fail = fail


def _settings() -> Any:
    from cli.common import load_settings as cli_settings

    return cli_settings()


# --------------------------------------------------------------------------------------------------
# seongsu train


def train_command(
    as_of: Annotated[
        date | None,
        day_option(
            "--as-of",
            help="Train on what was known on this day (default: the replay clock, else newest data + lag).",
        ),
    ] = None,
    time_budget: Annotated[
        float,
        typer.Option(
            "--time-budget",
            min=10,
            help="Seconds for the whole run (rows, search, backtest, gate); each fit gets at most half.",
        ),
    ] = 280.0,
    quick: Annotated[
        bool, typer.Option(help="No search, small model, one backtest week: a smoke run.")
    ] = False,
    stations: Annotated[
        str | None, typer.Option(help="Only these station codes (comma-separated), for experiments.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
) -> None:
    """Train a challenger, backtest it against the baselines and promote it only if it beats the champion."""
    codes = None
    if stations:
        from tasks.model.forecast import ForecastInputError, parse_station_list

        try:
            codes = parse_station_list(stations)
        except ForecastInputError as exc:
            raise _fail(str(exc), 2) from None
    _settings()
    from flows.train import train
    from tasks.data.warehouse.base import WarehouseError
    from tasks.ops.store import RegistryError

    quiet_run_logs()
    started = time.perf_counter()
    terminal = out_console(stderr=True)
    try:
        with terminal.status("training: starting the flow run...") as status:

            def show(text: str) -> None:
                status.update(f"training: {text}")
                terminal.print(f"[dim]{time.perf_counter() - started:6.1f}s[/dim] {text}", highlight=False)

            with watching(show):
                result = train(as_of=as_of, time_budget_s=time_budget, quick=quick, stations=codes)
    except (RegistryError, WarehouseError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print_json(result)
        return
    print_training(result, time.perf_counter() - started)


def print_training(result: dict[str, Any], seconds: float) -> None:
    train_s = result.get("train_seconds")
    out_console().print(
        f"model [bold]{result['version']}[/bold] as of {result['as_of']}: {seconds:.0f} s in total"
        + (f" (search + final fit {train_s:.0f} s)" if isinstance(train_s, int | float) else "")
    )
    out_console().print(backtest_rich_table(result["backtest"], result["comparison"].get("origins", [])))
    coverage = [
        f"{r['model']} {r['coverage']:.1%}"
        for r in result["backtest"]
        if r["scope"] == "all" and r["horizon"] == 0 and r.get("coverage") is not None
    ]
    if coverage:
        out_console().print("80% interval coverage (all stations, all horizons): " + ", ".join(coverage))
    colour = "green" if result["promoted"] else "yellow"
    verdict = "PROMOTED" if result["promoted"] else "REJECTED"
    out_console().print(f"[{colour}]{verdict}[/{colour}] {result['decision']}")
    now = result.get("serving") or {}
    if now.get("version"):
        tag = f", published as {now['bento_tag']}" if now.get("bento_tag") else ""
        out_console().print(
            f"serving: {now['kind']} [bold]{now['forecaster']}[/bold] (version {now['version']}{tag})"
        )
    if result.get("wandb_dir"):
        offline = str(result.get("wandb_run") or "").startswith("offline:")
        hint = f"  (offline: `wandb sync {result['wandb_dir']}` uploads it)" if offline else ""
        out_console().print(f"W&B run: {result['wandb_dir']}{hint}")
    for problem in result.get("tracking_errors") or []:
        out_console(stderr=True).print(f"[yellow]warning:[/yellow] {problem}")


def backtest_rich_table(rows: list[dict[str, Any]], origins: list[Any]) -> Table:
    """WAPE (``tasks.model.evaluate.score`` rows): model x scope (all stations | 211 성수), h1..h7 and all."""
    import polars as pl

    from tasks.ops.challenger import backtest_pivot

    window = f" (origins {', '.join(str(o) for o in origins)})" if origins else ""
    table = Table(title=f"Backtest WAPE, lower is better{window}")
    if not rows:
        return table
    wide = backtest_pivot(pl.DataFrame(rows, infer_schema_length=None))
    for col in wide.columns:
        table.add_column(col, justify="left" if col in ("model", "scope") else "right")
    for row in wide.iter_rows(named=True):
        scope = "211 성수" if row["scope"] == "211" else row["scope"]
        cells = [_pct(row[c]) for c in wide.columns[2:]]
        table.add_row(row["model"], scope, *cells, style="bold" if row["model"] == "catboost" else None)
    return table


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1%}"


# --------------------------------------------------------------------------------------------------
# seongsu forecast


def forecast_command(
    as_of: Annotated[date, day_option("--as-of", help="Issue date: only data known on this day is used.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    start: Annotated[
        date | None, day_option(help="First target day (as_of+1 .. as_of+7; default as_of+1).")
    ] = None,
    days: Annotated[int, typer.Option(help="Number of days, 1..7 (and within as_of+7).")] = 7,
    stations: Annotated[
        str, typer.Option(help="'all' or comma-separated station codes, e.g. 211,222.")
    ] = "all",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="A registered version (`seongsu model list`), e.g. a rejected challenger: what it "
            "would forecast. Default: the one serving.",
        ),
    ] = None,
) -> None:
    """Hourly forecasts (yhat and 80% interval) per station, hour band and direction, to a CSV."""
    from tasks.model.forecast import ForecastInputError, parse_station_list, validate_request

    issue = as_of
    try:
        first = validate_request(issue, start, days)
        if stations.strip().lower() != "all":
            parse_station_list(stations)
    except ForecastInputError as exc:
        raise _fail(str(exc), 2) from None
    if out.exists() and out.is_dir():
        raise _fail(f"--out {out} is a directory; give a file name such as forecasts.csv", 2)
    settings = _settings()
    from tasks.ops.store import UnknownVersionError

    try:
        summary = run_forecast(settings, issue, first, days, stations, out, model)
    except (ForecastInputError, UnknownVersionError) as exc:
        raise _fail(str(exc), 2) from None
    except Exception as exc:  # registry/warehouse/IO failures: one readable line, exit 1
        from tasks.data.warehouse.base import WarehouseError
        from tasks.ops.store import RegistryError

        if isinstance(exc, RegistryError | WarehouseError | OSError):
            raise _fail(str(exc)) from None
        raise
    out_console().print(summary)


def run_forecast(
    settings: Any, as_of: date, start: date, days: int, stations: str, out: Path, version: str | None = None
) -> str:
    """Forecast from the warehouse + the production package (or registered ``version``'s); write the
    CSV and its ``.meta.json``."""
    from tasks.data.history import latest_ridership_date, load_history
    from tasks.data.warehouse import warehouse_session
    from tasks.model.features import cutoff_for
    from tasks.model.forecast import check_newest, forecast, package_context_days
    from tasks.ops.registry import production_package, registered_package

    started = time.perf_counter()
    with warehouse_session(settings) as warehouse:
        if version is None:
            package = production_package(settings, warehouse)
        else:
            package = registered_package(settings, warehouse, version)
        newest = check_newest(latest_ridership_date(warehouse, cutoff_for(as_of)), as_of)
        loaded = load_history(warehouse, as_of, context_days=package_context_days(package))
    frame = forecast(package, loaded.history, as_of, start, days, stations)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(out, float_precision=1)
    meta = {
        "model_version": package.metadata.version,
        "model_trained_at": package.metadata.trained_at.isoformat(),
        "model_data_end": package.metadata.data_end.isoformat(),
        "as_of": as_of.isoformat(),
        "start": start.isoformat(),
        "days": days,
        "stations": int(frame["station_code"].n_unique()),
        "rows": frame.height,
        "columns": frame.columns,
        "newest_ridership_used": newest.isoformat(),  # the cutoff or earlier: as_of - publication lag
        "weather_source": loaded.weather_source,
        "weather": loaded.weather_note,
        "interval": "lo/hi: 10% and 90% quantiles (80% interval); yhat: median",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    sidecar = out.with_name(out.name + ".meta.json")
    sidecar.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    seconds = time.perf_counter() - started
    return (
        f"wrote {frame.height:,} rows ({meta['stations']} stations x {days} days x 20 bands x 2 directions) "
        f"to {out} in {seconds:.1f} s: model {package.metadata.version}, as of {as_of}; "
        f"weather: {loaded.weather_note} (details in {sidecar.name})"
    )


# --------------------------------------------------------------------------------------------------
# seongsu model list / rollback


@model_app.command("list")
def model_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every registered model or served baseline: status, kind, dates, data range, backtest WAPE and
    the window WAPE of challenger vs champion (and the best baseline)."""
    from tasks.data.warehouse import warehouse_session
    from tasks.data.warehouse.base import WarehouseError
    from tasks.ops.registry import list_models

    settings = _settings()
    try:
        with warehouse_session(settings) as warehouse:
            models = list_models(warehouse)
    except WarehouseError as exc:
        raise _fail(str(exc)) from None
    rows = [_model_row(r) for r in models.iter_rows(named=True)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out_console().print("no models yet: run `seongsu train`")
        return
    table = Table(title="models (newest first)")
    for col in (
        "version",
        "status",
        "kind",
        "trained",
        "promoted",
        "data",
        "backtest WAPE",
        "window WAPE",
        "code",
    ):
        table.add_column(col, justify="right" if "WAPE" in col else "left")
    for r in rows:
        style = "bold green" if r["status"] == "production" else None
        table.add_row(
            r["version"],
            r["status"],
            r["kind"],
            r["trained_at"] or "",
            r["promoted_at"] or "",
            f"{r['data_start']} .. {r['data_end']}",
            _pct(r["backtest_wape"]),
            r["window"],
            r["code_version"] or "",
            style=style,
        )
    out_console().print(table)


def _model_row(row: dict[str, Any]) -> dict[str, Any]:
    from tasks.ops.registry import ModelRecord

    record = ModelRecord.from_row(row)
    metrics = record.metrics
    comparison = metrics.decision.get("comparison") or {}
    ch, cp = comparison.get("challenger_wape"), comparison.get("champion_wape")
    best, bw = comparison.get("best_baseline"), comparison.get("best_baseline_wape")
    window = "" if ch is None else _pct(ch) + ("" if cp is None else f" vs {_pct(cp)}")
    window += "" if bw is None else f" (best baseline {best} {_pct(bw)})"
    return {
        "version": record.version,
        "status": record.status,
        "kind": " ".join(filter(None, (record.kind, metrics.forecaster))),
        "trained_at": f"{record.trained_at:%Y-%m-%d %H:%M}" if record.trained_at else None,
        "promoted_at": f"{record.promoted_at:%Y-%m-%d %H:%M}" if record.promoted_at else None,
        "data_start": record.data_start,
        "data_end": record.data_end,
        "data_hash": record.data_hash,
        "code_version": record.code_version,
        "wandb_run": record.wandb_run,
        "backtest_wape": metrics.backtest_wape,
        "window": window,
        "decision": metrics.decision.get("reason"),
    }


@model_app.command("rollback")
def model_rollback() -> None:
    """Serve the previous champion again (new BentoML version, statuses swapped in ``models``)."""
    from tasks.data.warehouse import warehouse_session
    from tasks.data.warehouse.base import WarehouseError
    from tasks.ops.registry import rollback
    from tasks.ops.store import RegistryError

    settings = _settings()
    try:
        with warehouse_session(settings) as warehouse:
            publication = rollback(settings, warehouse)
    except (RegistryError, WarehouseError) as exc:
        raise _fail(str(exc)) from None
    out_console().print(
        f"rolled back: {publication.version} is production again, serving {publication.bento_tag}; "
        f"{', '.join(publication.archived)} marked rolled_back"
    )


def register(app: typer.Typer) -> None:
    """Attach ``train``, ``forecast`` and ``model list|rollback`` to the ``seongsu`` app."""
    app.command("train")(train_command)
    app.command("forecast")(forecast_command)
    app.add_typer(model_app, name="model")
