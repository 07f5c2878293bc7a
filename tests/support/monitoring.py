"""A warehouse the monitor can evaluate: actual ridership, forecasts of it off by a known factor and
the production model that made them.  The monitor tests and the retrain-trigger test seed it the
same way, so the seeding lives here once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from tasks.core.schema import FORECASTS, MODELS, RIDERSHIP_HOURLY, STATIONS, WEATHER_HOURLY, conform
from tasks.data.warehouse import open_warehouse
from tasks.ops.model_metrics import ModelMetrics


def forecasts_of(
    actuals: pl.DataFrame, version: str, lags: Sequence[int], *, yhat: pl.Expr, lo: pl.Expr, hi: pl.Expr
) -> pl.DataFrame:
    """What ``version`` forecast for the hours of ``actuals``, issued ``lags`` days before each day."""
    return pl.concat(
        [
            actuals.select(
                "date",
                "hour",
                "station_code",
                "direction",
                model_version=pl.lit(version),
                as_of=pl.col("date") - pl.duration(days=lag),
                yhat=yhat,
                lo=lo,
                hi=hi,
            )
            for lag in lags
        ]
    )


def production_model(
    version: str, trained_at: datetime, promoted_at: datetime, backtest_wape: float
) -> dict[str, Any]:
    """A ``models`` row in production, with the backtest the monitor compares against."""
    return {
        "version": version,
        "status": "production",
        "trained_at": trained_at,
        "promoted_at": promoted_at,
        "metrics_json": ModelMetrics.build(backtest_wape=backtest_wape, backtest_coverage=0.8).to_json(),
    }


def seed_monitored(
    url: str,
    *,
    stations: pl.DataFrame,
    ridership: pl.DataFrame,
    forecasts: pl.DataFrame,
    model: dict[str, Any],
    source: str,
    weather: pl.DataFrame | None = None,
) -> None:
    """Migrate the warehouse at ``url`` and load it (ridership and weather tagged ``source``)."""
    wh = open_warehouse(url)
    try:
        wh.migrate()
        wh.upsert(STATIONS, conform(stations, STATIONS))
        wh.upsert(RIDERSHIP_HOURLY, conform(ridership.with_columns(source=pl.lit(source)), RIDERSHIP_HOURLY))
        if weather is not None:
            wh.upsert(WEATHER_HOURLY, conform(weather.with_columns(source=pl.lit(source)), WEATHER_HOURLY))
        wh.upsert(FORECASTS, conform(forecasts, FORECASTS))
        wh.upsert(MODELS, conform(pl.DataFrame([model]), MODELS))
    finally:
        wh.close()
