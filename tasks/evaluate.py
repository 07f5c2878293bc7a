"""Rolling-origin backtest: one code path scores the model and every baseline.

A forecaster is anything with ``name``, ``fit(history, as_of)`` and ``predict(targets)`` returning
``yhat, lo, hi`` per target row (``lo``/``hi`` may be null: no interval).  For each origin (an issue
date ``as_of``) the backtest hands ``fit`` the history *cut at* ``as_of - lag`` -- so no forecaster
can peek at ridership published after the issue date, whatever it does inside -- and asks for the
observed rows dated ``as_of + 1 .. as_of + horizon``.  Weather is passed whole: observed weather at
the target hours stands in for the KMA forecast (slightly flattering the model's weather features).

Metrics (tidy: one row per model x scope x horizon, ``horizon = 0`` for all horizons together):

* WAPE = sum|y - yhat| / sum y  -- scale-free across stations, dominated by the busy hours that
  matter for crowding;
* MAE = mean |y - yhat|  (riders per hour band);
* coverage = share of y inside [lo, hi]  (null when the forecaster gives no interval).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Final, Protocol, runtime_checkable

import polars as pl

from tasks.features import KEYS, MAX_HORIZON, PUBLICATION_LAG_DAYS, TARGET_COLUMNS, History, cutoff_for

SEONGSU: Final = 211
METRIC_SCHEMA: Final = {
    "model": pl.String,
    "scope": pl.String,
    "horizon": pl.Int16,
    "wape": pl.Float64,
    "mae": pl.Float64,
    "coverage": pl.Float64,
    "n": pl.Int64,
}


@runtime_checkable
class Forecaster(Protocol):
    """What the backtest needs from a model or a baseline."""

    name: str

    def fit(self, history: History, as_of: dt.date) -> object: ...

    def predict(self, targets: pl.DataFrame) -> pl.DataFrame: ...


def rolling_origins(last_date: dt.date, n_origins: int = 8, horizon: int = MAX_HORIZON) -> list[dt.date]:
    """Weekly issue dates whose ``horizon``-day target windows tile the last ``n_origins`` weeks.

    The newest origin is ``last_date - horizon`` so its last target is the last observed day.
    """
    return sorted(last_date - dt.timedelta(days=horizon * k) for k in range(1, n_origins + 1))


def score(scored: pl.DataFrame, scopes: Mapping[str, Sequence[int] | None] | None = None) -> pl.DataFrame:
    """Metrics of a frame with ``model, station_code, horizon, y, yhat, lo, hi``.

    ``scopes`` maps a scope name to the station codes it covers (``None`` = all stations).
    """
    scopes = scopes if scopes is not None else {"all": None, str(SEONGSU): [SEONGSU]}
    err = (pl.col("y") - pl.col("yhat")).abs()
    inside = ((pl.col("y") >= pl.col("lo")) & (pl.col("y") <= pl.col("hi"))).cast(pl.Float64)
    aggs = [
        (err.sum() / pl.col("y").sum()).alias("wape"),
        err.mean().alias("mae"),
        pl.when(pl.col("lo").is_not_null().all() & pl.col("hi").is_not_null().all())
        .then(inside.mean())
        .alias("coverage"),
        pl.len().cast(pl.Int64).alias("n"),
    ]
    parts = []
    for scope, codes in scopes.items():
        sub = scored if codes is None else scored.filter(pl.col("station_code").is_in(list(codes)))
        if sub.is_empty():
            continue
        sub = sub.with_columns(pl.col("horizon").cast(pl.Int16))
        per_h = sub.group_by("model", "horizon").agg(aggs)
        overall = sub.group_by("model").agg(aggs).with_columns(horizon=pl.lit(0, pl.Int16))
        parts.append(pl.concat([overall, per_h], how="diagonal").with_columns(scope=pl.lit(scope)))
    if not parts:
        return pl.DataFrame(schema=METRIC_SCHEMA)
    return (
        pl.concat(parts, how="diagonal")
        .select(pl.col(c).cast(t) for c, t in METRIC_SCHEMA.items())
        .sort("model", "scope", "horizon")
    )


def actuals_for(history: History, as_of: dt.date, horizon: int = MAX_HORIZON) -> pl.DataFrame:
    """Observed rows dated ``as_of + 1 .. as_of + horizon`` as targets with their label ``y``."""
    return history.ridership.filter(
        pl.col("date").is_between(as_of + dt.timedelta(days=1), as_of + dt.timedelta(days=horizon))
    ).select(
        pl.col("date").cast(pl.Date),
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        pl.col("direction").cast(pl.String),
        pl.lit(as_of, pl.Date).alias("as_of"),
        pl.col("count").cast(pl.Float64).alias("y"),
    )


def backtest_predictions(
    forecasters: Sequence[Forecaster],
    history: History,
    origins: Sequence[dt.date],
    *,
    lag_days: int = PUBLICATION_LAG_DAYS,
    horizon: int = MAX_HORIZON,
    stations: Sequence[int] | None = None,
    log: bool = False,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Out-of-sample forecasts of every forecaster at every origin, joined with the actuals.

    Returns (rows ``model, date, hour, station_code, direction, as_of, horizon, y, yhat, lo, hi``,
    seconds spent per forecaster).  ``stations`` restricts the *scored* targets (fitting always sees
    every station, as in production).
    """
    frames: list[pl.DataFrame] = []
    seconds: dict[str, float] = {f.name: 0.0 for f in forecasters}
    for as_of in origins:
        known = history.until(cutoff_for(as_of, lag_days))
        actual = actuals_for(history, as_of, horizon)
        if stations is not None:
            actual = actual.filter(pl.col("station_code").is_in(list(stations)))
        if actual.is_empty():
            continue
        targets = actual.select(TARGET_COLUMNS)
        for f in forecasters:
            t0 = time.perf_counter()
            f.fit(known, as_of)
            pred = f.predict(targets)
            seconds[f.name] += time.perf_counter() - t0
            if log:
                print(f"  {as_of} {f.name}: {time.perf_counter() - t0:.1f}s", flush=True)
            frames.append(
                actual.join(
                    pred.select(*KEYS, "as_of", "yhat", "lo", "hi").with_columns(
                        pl.col("yhat").cast(pl.Float64),
                        pl.col("lo").cast(pl.Float64),
                        pl.col("hi").cast(pl.Float64),
                    ),
                    on=[*KEYS, "as_of"],
                    how="left",
                ).with_columns(
                    model=pl.lit(f.name),
                    horizon=(pl.col("date") - pl.col("as_of")).dt.total_days().cast(pl.Int16),
                    yhat=pl.col("yhat").fill_null(0.0),
                )
            )
    if not frames:
        raise ValueError("no origin had observed targets")
    return pl.concat(frames, how="vertical_relaxed"), seconds


def backtest(
    forecasters: Sequence[Forecaster],
    history: History,
    origins: Sequence[dt.date],
    *,
    lag_days: int = PUBLICATION_LAG_DAYS,
    horizon: int = MAX_HORIZON,
    scopes: Mapping[str, Sequence[int] | None] | None = None,
    log: bool = False,
) -> pl.DataFrame:
    """Rolling-origin backtest -> tidy metrics ``model, scope, horizon, wape, mae, coverage, n``."""
    scored, _ = backtest_predictions(
        forecasters, history, origins, lag_days=lag_days, horizon=horizon, log=log
    )
    return score(scored, scopes)
