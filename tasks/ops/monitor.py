"""Monitoring: is the served model still good, and is the world still the one it learned?

Rows go to the ``monitoring`` table keyed by (evaluated_on, metric, scope, horizon); ``n`` is the
number of hourly cells behind a value and ``model_version`` the model in production at evaluation
time -- the one an alert is about -- even when some of the scored forecasts were issued by its
predecessor (a forecast is scored as it was served).

The scores are ``tasks.ops.scores``, the decisions ``tasks.ops.alerts``; this module reads the
warehouse, runs one evaluation end to end and writes the ``monitoring`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl

from tasks.core.constants import DEFAULT_WEATHER_STATION
from tasks.core.schema import (
    FORECASTS,
    MONITORING,
    RIDERSHIP_HOURLY,
    STATIONS,
    WEATHER_HOURLY,
    conform,
)
from tasks.data.warehouse.base import Warehouse
from tasks.ops.alerts import (
    REQUEST_METRIC,
    THRESHOLDS,
    Alert,
    Thresholds,
    cooldown_since,
    find_alerts,
)
from tasks.ops.model_metrics import ModelMetrics
from tasks.ops.registry import production_record
from tasks.ops.scores import (
    ALL_SCOPE,
    METRIC_SCHEMA,
    POOLED_HORIZON,
    Windows,
    accuracy_metrics,
    result_value,
    score_forecasts,
    station_groups,
    target_drift,
    weather_drift,
    windows_for,
)

# --------------------------------------------------------------------------------------------------
# warehouse I/O and one evaluation end to end


@dataclass(frozen=True)
class MonitorInputs:
    forecasts: pl.DataFrame
    ridership: pl.DataFrame  # reference_start .. cutoff
    weather: pl.DataFrame  # reference_start .. cutoff (station 108)
    stations: pl.DataFrame
    model_version: str | None  # production model, else the newest one that forecast
    model_metrics: ModelMetrics = field(default_factory=ModelMetrics)
    previous_requests: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"evaluated_on": pl.Date, "model_version": pl.String, "value": pl.Float64}
        )
    )


def load_inputs(warehouse: Warehouse, windows: Windows) -> MonitorInputs:
    """Read exactly the rows one evaluation needs (about 9 weeks of ridership).

    Weather is cut at the ridership cutoff too although it is published sooner: drift compares the
    same days on both sides.
    """
    lo, hi = windows.reference_start.isoformat(), windows.cutoff.isoformat()
    forecasts = warehouse.read_table(
        FORECASTS, '"date" between %s and %s', [windows.recent_start.isoformat(), hi]
    )
    ridership = warehouse.read_table(RIDERSHIP_HOURLY, "date between %s and %s and span_hours = 1", [lo, hi])
    weather = warehouse.read_table(
        WEATHER_HOURLY,
        "station_id = %s and ts >= %s and ts < %s",
        [DEFAULT_WEATHER_STATION, lo, (windows.cutoff + timedelta(days=1)).isoformat()],
    )
    stations = warehouse.read_table(STATIONS)
    previous = warehouse.read_table(
        MONITORING,
        "metric = %s and evaluated_on >= %s",
        [REQUEST_METRIC, (windows.evaluated_on - timedelta(days=60)).isoformat()],
    ).select("evaluated_on", "model_version", "value")
    champion = production_record(warehouse)
    if champion is not None:
        version: str | None = champion.version
        metrics = champion.metrics
    else:
        version = forecasts.sort("as_of")["model_version"][-1] if forecasts.height else None
        metrics = ModelMetrics()
    return MonitorInputs(forecasts, ridership, weather, stations, version, metrics, previous)


@dataclass(frozen=True)
class MonitorResult:
    windows: Windows
    model_version: str | None
    metrics: pl.DataFrame = field(repr=False)
    alerts: tuple[Alert, ...]
    backtest_wape: float | None
    thresholds: Thresholds = THRESHOLDS
    cooldown_since: date | None = None  # an earlier request for this model holds this one back

    @property
    def retrain_needed(self) -> bool:
        """Alerts, and no request for the same model within the cooldown: emit the event."""
        return bool(self.alerts) and self.cooldown_since is None

    def value(self, metric: str, scope: str = ALL_SCOPE, horizon: int = POOLED_HORIZON) -> float | None:
        return result_value(self.metrics, metric, scope, horizon)


def evaluate(inputs: MonitorInputs, windows: Windows, thresholds: Thresholds = THRESHOLDS) -> MonitorResult:
    """All metrics and the alert decision for one evaluation date (pure: frames in, result out)."""
    groups = station_groups(inputs.stations)
    actuals = inputs.ridership.filter(pl.col("date").is_between(windows.recent_start, windows.cutoff))
    scored = score_forecasts(inputs.forecasts, actuals)
    metrics = pl.concat(
        [
            accuracy_metrics(scored, groups),
            target_drift(inputs.ridership, groups, windows),
            weather_drift(inputs.weather, windows),
        ]
    )
    bt = inputs.model_metrics.backtest_wape
    alerts = tuple(find_alerts(metrics, thresholds, bt))
    held = (
        cooldown_since(
            inputs.previous_requests, inputs.model_version, windows.evaluated_on, thresholds.cooldown_days
        )
        if alerts
        else None
    )
    decision = pl.DataFrame(
        {
            "metric": [REQUEST_METRIC],
            "scope": [ALL_SCOPE],
            "horizon": [POOLED_HORIZON],
            "value": [1.0 if alerts and held is None else 0.0],
            "n": [len(alerts)],
        },
        schema=METRIC_SCHEMA,
    )
    metrics = pl.concat([metrics, decision])
    return MonitorResult(windows, inputs.model_version, metrics, alerts, bt, thresholds, held)


def monitoring_rows(result: MonitorResult, now: datetime | None = None) -> pl.DataFrame:
    """The result as ``monitoring`` table rows."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    return conform(
        result.metrics.with_columns(
            evaluated_on=pl.lit(result.windows.evaluated_on, pl.Date),
            model_version=pl.lit(result.model_version, pl.String),
            created_at=pl.lit(now),
        ),
        MONITORING,
    )


def run_monitor(
    warehouse: Warehouse, evaluated_on: date, thresholds: Thresholds = THRESHOLDS
) -> MonitorResult:
    """Load, evaluate and store one evaluation (re-running a date replaces its rows)."""
    windows = windows_for(evaluated_on)
    result = evaluate(load_inputs(warehouse, windows), windows, thresholds)
    with warehouse.transaction():
        warehouse.upsert(MONITORING, monitoring_rows(result))
    return result
