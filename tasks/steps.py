"""Every Prefect ``@task`` the flows run, in one place: retries, retry conditions, cache policy.

Why here: the library below (``tasks.data``, ``tasks.model``, ``tasks.ops``) stays plain functions
that take a warehouse and settings, so the model never imports Prefect and tests call the functions
directly; what a flow retries, and on which errors, reads in one page.  Each step opens the
configured warehouse with ``warehouse_session`` and calls one plain function.  Frames and models
are not hashable task inputs, hence ``NO_CACHE`` everywhere.
"""

from __future__ import annotations

import datetime as dt
from datetime import date
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.core.constants import MAX_HORIZON
from tasks.core.frames import History
from tasks.core.retry import retry_on
from tasks.core.settings import get_settings
from tasks.data.clock import read_clock
from tasks.data.feeds.base import FeedUnavailableError
from tasks.data.forecasts import write_forecasts
from tasks.data.history import LoadedHistory, default_as_of, load_as_of
from tasks.data.ingest import IngestSummary, ingest_configured
from tasks.data.warehouse import warehouse_session
from tasks.data.warehouse.base import WarehouseError
from tasks.model.forecast import forecast
from tasks.model.forecasters import PackagedForecaster
from tasks.model.package import ModelPackage
from tasks.model.train import CatBoostForecaster
from tasks.ops.alerts import emit_retrain_event, retrain_request
from tasks.ops.challenger import (
    TrainPlan,
    backtest_window,
    evaluate_challenger,
    record_decision,
    serve_first_baseline,
    train_challenger,
)
from tasks.ops.champion import Decision
from tasks.ops.model_store import Pruned, prune_store
from tasks.ops.monitor import MonitorResult, run_monitor
from tasks.ops.packaging import publish_refresh, save_candidate
from tasks.ops.registry import Candidate, Publication, production_package
from tasks.ops.scores import fmt_metric

_WAREHOUSE_RETRY = retry_on(WarehouseError, OSError)


# --- data ----------------------------------------------------------------------------------------


@task(
    name="ingest-dataset",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_on(FeedUnavailableError),
    cache_policy=NO_CACHE,
    log_prints=True,
)
def ingest_dataset(
    source: str,
    dataset: str,
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    path: str | None = None,
    allow_renames: bool = False,
) -> IngestSummary:
    """One dataset from one source into the configured warehouse."""
    summary = ingest_configured(get_settings(), source, dataset, start, end, as_of, path, allow_renames)
    get_run_logger().info(
        "%s from %s: %d rows in, %d inserted, %d updated, %d quarantined (%s)",
        dataset,
        source,
        summary.rows_in,
        summary.rows_inserted,
        summary.rows_updated,
        summary.rows_quarantined,
        summary.date_range,
    )
    return summary


@task(
    name="load-history",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_WAREHOUSE_RETRY,
    cache_policy=NO_CACHE,
)
def load_history_task(
    as_of: dt.date | None, stations: list[int] | None = None, context_days: int | None = None
) -> LoadedHistory:
    """Everything known on ``as_of`` (default: ``default_as_of``) in the configured warehouse."""
    with warehouse_session(get_settings()) as warehouse:
        return load_as_of(warehouse, as_of, stations=stations, context_days=context_days)


@task(name="replay-clock", cache_policy=NO_CACHE)
def replay_clock_task() -> date | None:
    """The snapshot replay's simulated today, None when no replay is running -- the one as-of that
    must be known *before* ingesting."""
    with warehouse_session(get_settings()) as warehouse:
        return read_clock(warehouse)


@task(name="default-as-of", cache_policy=NO_CACHE)
def default_as_of_task() -> date | None:
    """``tasks.data.history.default_as_of`` of the configured warehouse (None when empty)."""
    with warehouse_session(get_settings()) as warehouse:
        return default_as_of(warehouse)


# --- forecasting ----------------------------------------------------------------------------------


@task(name="forecast-all-stations", cache_policy=NO_CACHE)
def forecast_task(
    model: ModelPackage | PackagedForecaster, history: History, as_of: dt.date, days: int = MAX_HORIZON
) -> pl.DataFrame:
    return forecast(model, history, as_of, days=days, stations="all")


@task(name="write-forecasts", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def write_forecasts_task(frame: pl.DataFrame, model_version: str, as_of: dt.date) -> int:
    with warehouse_session(get_settings()) as warehouse, warehouse.transaction():
        result = write_forecasts(warehouse, frame, model_version=model_version, as_of=as_of)
    return result.inserted + result.updated


@task(name="production-package", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def production_package_task() -> ModelPackage:
    settings = get_settings()
    with warehouse_session(settings) as warehouse:
        return production_package(settings, warehouse)


@task(name="publish-refresh", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_refresh_task(package: ModelPackage, loaded: LoadedHistory, forecasts: pl.DataFrame) -> str | None:
    return publish_refresh(get_settings(), package, loaded, forecasts)


@task(name="prune-model-store", cache_policy=NO_CACHE)
def prune_store_task() -> Pruned:
    """Prune the configured store against the configured warehouse."""
    settings = get_settings()
    with warehouse_session(settings, migrate=False) as warehouse:
        return prune_store(settings, warehouse)


# --- training -------------------------------------------------------------------------------------


@task(
    name="serve-first-baseline",
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=_WAREHOUSE_RETRY,
    cache_policy=NO_CACHE,
)
def serve_first_baseline_task(loaded: LoadedHistory, plan: TrainPlan) -> Publication | None:
    settings = get_settings()
    with warehouse_session(settings) as warehouse:
        return serve_first_baseline(settings, warehouse, loaded, plan)


@task(name="train-challenger", cache_policy=NO_CACHE)
def train_challenger_task(loaded: LoadedHistory, plan: TrainPlan, spent_s: float = 0.0) -> CatBoostForecaster:
    return train_challenger(loaded, plan, spent_s)


@task(name="backtest-window", cache_policy=NO_CACHE)
def backtest_task(
    loaded: LoadedHistory, forecaster: CatBoostForecaster, origins: list[dt.date], plan: TrainPlan
) -> pl.DataFrame:
    return backtest_window(loaded, forecaster, origins, plan)


@task(
    name="save-candidate",
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=_WAREHOUSE_RETRY,
    cache_policy=NO_CACHE,
)
def save_candidate_task(
    forecaster: CatBoostForecaster, loaded: LoadedHistory, forecasts: pl.DataFrame, wandb_run: str | None
) -> Candidate:
    settings = get_settings()
    with warehouse_session(settings) as warehouse:
        return save_candidate(
            settings, warehouse, forecaster, loaded, forecasts=forecasts, wandb_run=wandb_run
        )


@task(name="champion-vs-challenger", cache_policy=NO_CACHE)
def compare_task(
    candidate: Candidate, loaded: LoadedHistory, scored: pl.DataFrame, origins: list[dt.date], plan: TrainPlan
) -> Decision:
    settings = get_settings()
    with warehouse_session(settings) as warehouse:
        return evaluate_challenger(settings, warehouse, candidate, loaded, scored, origins, plan)


@task(
    name="promote-or-reject",
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=_WAREHOUSE_RETRY,
    cache_policy=NO_CACHE,
)
def record_decision_task(
    candidate: Candidate,
    decision: Decision,
    loaded: LoadedHistory,
    metrics: dict[str, Any],
    wandb_run: str | None,
) -> Publication:
    settings = get_settings()
    with warehouse_session(settings) as warehouse:
        return record_decision(
            settings, warehouse, candidate, decision, loaded=loaded, metrics=metrics, wandb_run=wandb_run
        )


# --- monitoring -----------------------------------------------------------------------------------


@task(name="evaluate-monitoring", cache_policy=NO_CACHE)
def evaluate_task(as_of: date | None = None) -> MonitorResult | None:
    """Evaluate ``as_of`` and store it.  The default is every flow's default
    (``tasks.data.history.default_as_of``): the replay clock if one is set, else the day the newest
    ridership was published, so the monitor follows the data rather than the wall clock."""
    with warehouse_session(get_settings()) as warehouse:
        evaluated_on = as_of or default_as_of(warehouse)
        if evaluated_on is None:
            get_run_logger().warning("no ridership in the warehouse yet: nothing to monitor")
            return None
        result = run_monitor(warehouse, evaluated_on)
    get_run_logger().info(
        "monitoring %s: WAPE %s, coverage %s, %d alert(s)",
        evaluated_on,
        fmt_metric(result.value("wape")),
        fmt_metric(result.value("coverage")),
        len(result.alerts),
    )
    return result


@task(name="request-retrain", cache_policy=NO_CACHE)
def request_retrain_task(result: MonitorResult) -> str | None:
    """Emit ``RETRAIN_EVENT`` (inside the flow run, so Prefect links the two)."""
    request = retrain_request(result.model_version or "none", result.windows.evaluated_on, result.alerts)
    event_id = emit_retrain_event(request)
    get_run_logger().warning(
        "retrain requested for %s: %s", request.resource["prefect.resource.id"], request.payload["reason"]
    )
    return event_id
