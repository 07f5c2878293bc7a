"""The snapshot replay: bring the data side up as of the replayed clock, then advance it day by day.

Every step is a run of a local deployment executed by the worker (``tasks.ops.orchestration``), so
the Prefect UI shows what a deployed system shows.  The replayed clock (``tasks.data.clock``) starts a
few weeks before the end of the shipped data so that ``replay --days N`` has real days to publish:
each day runs the daily pipeline deployment (ingest what was published that day -> monitor ->
forecast); when the monitor asks for a retrain, the ``train`` deployment's trigger starts it (an
automation in the server, as in production) and the replay waits for that run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import polars as pl

from tasks.core.settings import Settings, get_settings
from tasks.data.clock import read_clock, set_clock
from tasks.data.warehouse import warehouse_session
from tasks.data.warehouse.base import Warehouse
from tasks.ops.orchestration import (
    LOCAL_POOL,
    RETRAIN_EVENT,
    OrchestrationError,
    event_reasons,
    is_final,
    run_deployment_and_wait,
    url_healthy,
    utc_now,
    wait_for_triggered_run,
    worker_online,
)
from tasks.ops.registry import production_record

REPLAY_START = date(2023, 6, 1)
"""Default first simulated day: the data through 2023-05-29 is published, 4 weeks remain to replay."""
FIRST_TRAIN_BUDGET_S = 280.0
"""Whole-run budget of the first training in ``up`` (``TrainPlan.time_budget_s``): the weekly
deployment's, so the model served first is trained like every later one; the best baseline serves
while it runs."""

Step = Callable[[str], None]


def production_model(warehouse: Warehouse) -> str | None:
    """The champion's version (``tasks.ops.registry.production_record``), None before the first one."""
    record = production_record(warehouse)
    return record.version if record else None


def forecasts_issued(warehouse: Warehouse, as_of: date) -> bool:
    rows = warehouse.read("select count(*) as n from forecasts where as_of = %s", [as_of.isoformat()])
    return int(rows["n"][0]) > 0


def bootstrap(settings: Settings, start: date = REPLAY_START, step: Step = print) -> dict[str, Any]:
    """Bring the data side to a served state as of the replayed clock, reusing what exists.

    Every step is a run of a local deployment executed by the worker.  The first training does not
    hold the start up: its run serves the best baseline first (``baseline_first``: scored, packaged,
    promoted, the day's forecasts written) and ``up`` goes on once that serves, while the model
    trains in the worker; if it beats the baseline it is promoted, the service hot-swaps it and the
    ``forecast`` deployment's promotion trigger re-issues the day's forecasts."""
    with warehouse_session(settings) as warehouse:
        clock = read_clock(warehouse)
        did: dict[str, Any] = {"as_of": None, "ingested": False, "trained": None, "forecast": False}
        if clock is None:
            clock = start
            step(f"ingesting the snapshot as published by {clock} (real data, replayed)")
            params = {"source": "snapshot", "as_of": clock.isoformat()}
            run_deployment_and_wait("ingest-ridership/local", params)
            run_deployment_and_wait("ingest-weather/local", params)
            set_clock(warehouse, clock)
            did["ingested"] = True
        did["as_of"] = clock.isoformat()
        if not model_decided(warehouse):
            step(
                "training the first model (CatBoost) on the worker; the best baseline serves as soon as "
                "it is scored, and the model replaces it only if it beats it"
            )
            run = run_deployment_and_wait(
                "train/local",
                {"as_of": clock.isoformat(), "time_budget_s": FIRST_TRAIN_BUDGET_S, "baseline_first": True},
                on_stage=lambda text: step(f"training · {text}"),
                # the served baseline's forecasts are written just after its promotion: waiting for
                # both keeps ``up`` from issuing the same forecasts again in a second run (~30-50 s)
                until=lambda: production_model(warehouse) is not None and forecasts_issued(warehouse, clock),
            )
            did["trained"] = {"decision": _first_decision(warehouse, run), "run": run.name}
            did["forecast"] = forecasts_issued(warehouse, clock)
        if not forecasts_issued(warehouse, clock):
            step(f"forecasting the 7 days after {clock} for every station")
            run_deployment_and_wait("forecast/local", {"as_of": clock.isoformat()})
            did["forecast"] = True
        return did


def model_decided(warehouse: Warehouse) -> bool:
    """Whether the gate has ruled on a trained model here (a baseline may serve before the first)."""
    from tasks.ops.registry import list_models

    models = list_models(warehouse)
    return models.filter((pl.col("kind") == "model") & (pl.col("status") != "candidate")).height > 0


def _first_decision(warehouse: Warehouse, run: Any) -> str:
    """The first training's outcome so far: decided, or still running behind a serving baseline."""
    if is_final(run):
        return _decision(warehouse, None)
    record = production_record(warehouse)
    serving = f"{record.metrics.forecaster or record.kind} ({record.version})" if record else "nothing"
    return f"training in the background (flow run {run.name}); serving meanwhile: {serving}"


def _decision(warehouse: Warehouse, before: str | None) -> str:
    champion = production_model(warehouse)
    return f"promoted {champion}" if champion != before else f"kept {champion or 'no model'}"


def require_stack() -> None:
    """Replay creates deployment runs: the local server and its worker must be up."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url or not url_healthy(f"{url}/health"):
        raise ValueError("the local stack is not running: start `seongsu up` first")
    if not worker_online():
        raise ValueError(f"no worker of the {LOCAL_POOL!r} pool is online: start `seongsu up` first")


def advance_clock(days: int = 1, step: Step = print) -> dict[str, Any]:
    """Move the replayed clock ``days`` forward: one run of the daily pipeline deployment per day.

    When the monitor asks for a retrain it emits the event; the ``train`` deployment's trigger (an
    automation in the Prefect server) starts the retrain, and the replay only waits for that run
    (and for the forecast the promotion trigger re-issues), so each alert gives exactly one ``train``
    run, whoever else is watching.
    """
    if not 1 <= days <= 31:
        raise ValueError("days must be between 1 and 31")
    settings = get_settings()
    with warehouse_session(settings) as warehouse:
        try:
            clock = read_clock(warehouse)
            if clock is None:
                raise ValueError(
                    "the replay has not started: run `seongsu up` (`--replay-start DATE` picks its first day) first"
                )
            require_stack()
            log: list[dict[str, Any]] = []
            for _ in range(days):
                clock = clock + timedelta(days=1)
                step(f"day {clock}: ingest -> monitor -> forecast")
                since = utc_now()
                run_deployment_and_wait("daily-pipeline/local", {"as_of": clock.isoformat()})
                requested = retrain_requested(warehouse, clock)
                day: dict[str, Any] = {
                    "as_of": clock.isoformat(),
                    "retrain_requested": requested,
                    "alerts": [],
                }
                day["retrain"] = None
                if requested:
                    step(f"day {clock}: the monitor asked for a retrain; the train trigger runs it")
                    champion = production_model(warehouse)
                    run = wait_for_triggered_run("train/local", since)
                    day["alerts"] = event_reasons(RETRAIN_EVENT, since)
                    day["retrain"] = {"decision": _decision(warehouse, champion), "run": run.name}
                    if production_model(warehouse) != champion:
                        step(f"day {clock}: new champion; the promotion trigger re-issues the forecasts")
                        wait_for_triggered_run("forecast/local", since)
                set_clock(warehouse, clock)
                log.append(day)
            return {"as_of": clock.isoformat(), "days": log}
        except OrchestrationError as exc:
            raise ValueError(str(exc)) from None


def retrain_requested(warehouse: Warehouse, evaluated_on: date) -> bool:
    """Whether the monitor's evaluation of ``evaluated_on`` emitted a retrain request (its
    ``monitoring`` row, written in the flow run before it completed: no race with the event)."""
    from tasks.ops.alerts import REQUEST_METRIC

    rows = warehouse.read(
        "select value from monitoring where metric = %s and evaluated_on = %s",
        [REQUEST_METRIC, evaluated_on.isoformat()],
    )
    return any(v == 1 for v in rows["value"].to_list())
