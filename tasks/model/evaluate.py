"""Rolling-origin backtest: one code path scores the model and every baseline.

A forecaster is anything with ``name``, ``fit(history, as_of)`` and ``predict(targets, history=None)``
returning ``yhat, lo, hi`` per target row (``lo``/``hi`` may be null: no interval).  For each origin
(an issue date ``as_of``) the backtest hands ``fit`` the history *cut at* ``as_of - lag`` -- so no
forecaster can peek at ridership published after the issue date, whatever it does inside -- and asks
for the observed rows dated ``as_of + 1 .. as_of + horizon``.

Over years of weekly origins, refitting a model at every origin is too slow, so origins come in
blocks of ``refit_every``: every forecaster is fit at the block's first origin (history cut there)
and answers the targets of all the block's origins in one call, with the history cut at the block's
newest cutoff; each target row carries its own ``as_of`` and the forecasters read only ridership
dated ``<= as_of - lag`` *of that row* (the poisoning tests of the baselines and of the features
prove it, and ``refit_every=1`` vs ``13`` give the same baseline numbers).  The model is therefore
never fit on anything newer than its block's first cutoff: between refits it is a little stale,
which can only hurt it.

Weather (Contract 3): the forecasters get the observed weather whole; the model itself drops
target-day weather beyond ``WEATHER_MAX_HORIZON`` (``tasks.model.features``), in training and prediction
alike.

Metrics are ``tasks.model.metrics`` (WAPE, MAE, bias, 80 % coverage), as additive sums per group so a
three-year backtest is reduced block by block (``backtest_sums``) instead of held in memory.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Final, Protocol, runtime_checkable

import polars as pl

from tasks.core.constants import SEONGSU
from tasks.model.features import (
    KEYS,
    MAX_HORIZON,
    PUBLICATION_LAG_DAYS,
    TARGET_COLUMNS,
    History,
    calendar_features,
    cutoff_for,
)
from tasks.model.metrics import add, finish, sums

METRIC_SCHEMA: Final = {
    "model": pl.String,
    "scope": pl.String,
    "horizon": pl.Int16,
    "wape": pl.Float64,
    "mae": pl.Float64,
    "bias": pl.Float64,
    "coverage": pl.Float64,
    "n": pl.Int64,
}
DEFAULT_SCOPES: Final[Mapping[str, Sequence[int] | None]] = {"all": None, str(SEONGSU): [SEONGSU]}
REPORT_KEYS: Final = ("model", "scope", "horizon", "month", "day_class", "band")
"""The groups ``backtest_sums`` keeps: every report is a sum over some of them."""
SEASONS: Final = {
    12: "winter",
    1: "winter",
    2: "winter",
    3: "spring",
    4: "spring",
    5: "spring",
    6: "summer",
    7: "summer",
    8: "summer",
    9: "autumn",
    10: "autumn",
    11: "autumn",
}
BANDS: Final = (
    (5, 6, "05-07"),
    (7, 9, "07-10 peak"),
    (10, 16, "10-17"),
    (17, 19, "17-20 peak"),
    (20, 24, "20-"),
)


@runtime_checkable
class Forecaster(Protocol):
    """What the backtest needs from a model or a baseline."""

    name: str

    def fit(self, history: History, as_of: dt.date) -> object: ...

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame: ...


def rolling_origins(last_date: dt.date, n_origins: int = 8, horizon: int = MAX_HORIZON) -> list[dt.date]:
    """Weekly issue dates whose ``horizon``-day target windows tile the last ``n_origins`` weeks.

    The newest origin is ``last_date - horizon`` so its last target is the last observed day.
    """
    return sorted(last_date - dt.timedelta(days=horizon * k) for k in range(1, n_origins + 1))


def spread_origins(first: dt.date, last_date: dt.date, horizon: int = MAX_HORIZON) -> list[dt.date]:
    """Weekly origins from ``first`` on whose windows tile everything up to ``last_date``: the whole
    history, every season (summer, Chuseok, Seollal), not only the newest weeks."""
    newest = last_date - dt.timedelta(days=horizon)
    if newest < first:
        return []
    return rolling_origins(last_date, (newest - first).days // horizon + 1, horizon)


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


def _blocks(origins: Sequence[dt.date], refit_every: int) -> list[list[dt.date]]:
    ordered = sorted(origins)
    step = max(1, refit_every)
    return [ordered[i : i + step] for i in range(0, len(ordered), step)]


def _block_predictions(
    forecasters: Sequence[Forecaster],
    history: History,
    block: Sequence[dt.date],
    *,
    lag_days: int,
    horizon: int,
    stations: Sequence[int] | None,
    seconds: dict[str, float],
    log: bool,
) -> list[pl.DataFrame]:
    actual = pl.concat([actuals_for(history, o, horizon) for o in block])
    if stations is not None:
        actual = actual.filter(pl.col("station_code").is_in(list(stations)))
    if actual.is_empty():
        return []
    targets = actual.select(TARGET_COLUMNS)
    fit_on = history.until(cutoff_for(block[0], lag_days))
    read = history.until(cutoff_for(block[-1], lag_days))
    frames = []
    for f in forecasters:
        t0 = time.perf_counter()
        f.fit(fit_on, block[0])
        pred = f.predict(targets) if len(block) == 1 else f.predict(targets, history=read)
        seconds[f.name] += time.perf_counter() - t0
        if log:
            print(f"  {block[0]}+{len(block) - 1}w {f.name}: {time.perf_counter() - t0:.1f}s", flush=True)
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
    return frames


def backtest_predictions(
    forecasters: Sequence[Forecaster],
    history: History,
    origins: Sequence[dt.date],
    *,
    lag_days: int = PUBLICATION_LAG_DAYS,
    horizon: int = MAX_HORIZON,
    stations: Sequence[int] | None = None,
    refit_every: int = 1,
    log: bool = False,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Out-of-sample forecasts of every forecaster at every origin, joined with the actuals.

    Returns (rows ``model, date, hour, station_code, direction, as_of, horizon, y, yhat, lo, hi``,
    seconds spent per forecaster).  ``stations`` restricts the *scored* targets (fitting always sees
    every station, as in production).
    """
    frames: list[pl.DataFrame] = []
    seconds: dict[str, float] = {f.name: 0.0 for f in forecasters}
    for block in _blocks(origins, refit_every):
        frames += _block_predictions(
            forecasters,
            history,
            block,
            lag_days=lag_days,
            horizon=horizon,
            stations=stations,
            seconds=seconds,
            log=log,
        )
    if not frames:
        raise ValueError("no origin had observed targets")
    return pl.concat(frames, how="vertical_relaxed"), seconds


def tag(scored: pl.DataFrame, scopes: Mapping[str, Sequence[int] | None] | None = None) -> pl.DataFrame:
    """Scored rows once per scope they belong to, with the report's group columns."""
    scopes = scopes if scopes is not None else DEFAULT_SCOPES
    first: dt.date = scored["date"].min()  # type: ignore[assignment]
    last: dt.date = scored["date"].max()  # type: ignore[assignment]
    cal = calendar_features(first, last).select(
        "date",
        pl.when(pl.col("is_holiday") == 1)
        .then(pl.lit("holiday"))
        .when(pl.col("dow") == 6)
        .then(pl.lit("sunday"))
        .when(pl.col("dow") == 5)
        .then(pl.lit("saturday"))
        .otherwise(pl.lit("weekday"))
        .alias("day_class"),
    )
    band = pl.lit("?")
    for lo, hi, label in reversed(BANDS):
        band = pl.when(pl.col("hour").is_between(lo, hi)).then(pl.lit(label)).otherwise(band)
    parts = []
    for scope, codes in scopes.items():
        sub = scored if codes is None else scored.filter(pl.col("station_code").is_in(list(codes)))
        parts.append(sub.with_columns(scope=pl.lit(scope)))
    return (
        pl.concat(parts)
        .join(cal, on="date", how="left")
        .with_columns(
            pl.col("horizon").cast(pl.Int16),
            month=pl.col("date").dt.strftime("%Y-%m"),
            band=band,
        )
    )


def score(scored: pl.DataFrame, scopes: Mapping[str, Sequence[int] | None] | None = None) -> pl.DataFrame:
    """Metrics (``METRIC_SCHEMA``) of a frame with ``model, station_code, date, hour, horizon, y, yhat,
    lo, hi``: per model and scope, per horizon and pooled (``horizon = 0``).

    ``scopes`` maps a scope name to the station codes it covers (``None`` = all stations).
    """
    scopes = scopes if scopes is not None else DEFAULT_SCOPES
    parts = []
    for scope, codes in scopes.items():
        sub = scored if codes is None else scored.filter(pl.col("station_code").is_in(list(codes)))
        if sub.is_empty():
            continue
        parts.append(
            sums(
                sub.with_columns(pl.col("horizon").cast(pl.Int16), scope=pl.lit(scope)),
                ["model", "scope", "horizon"],
            )
        )
    if not parts:
        return pl.DataFrame(schema=METRIC_SCHEMA)
    return report(pl.concat(parts), ["model", "scope", "horizon"])


def report(sum_table: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """Metrics per ``by`` from a sums table; with ``horizon`` in ``by`` the pooled row is
    ``horizon = 0``."""
    keys = list(by)
    out = finish(add([sum_table], keys))
    if "horizon" in keys:
        pooled = finish(add([sum_table], [k for k in keys if k != "horizon"])).with_columns(
            horizon=pl.lit(0, pl.Int16)
        )
        out = pl.concat([pooled, out], how="diagonal_relaxed")
    cols = [*keys, "wape", "mae", "bias", "coverage", "n"]
    types = {c: METRIC_SCHEMA.get(c, pl.String) for c in cols}
    return out.select(pl.col(c).cast(types[c]) for c in cols).sort(keys)


def backtest_sums(
    forecasters: Sequence[Forecaster],
    history: History,
    origins: Sequence[dt.date],
    *,
    lag_days: int = PUBLICATION_LAG_DAYS,
    horizon: int = MAX_HORIZON,
    refit_every: int = 1,
    scopes: Mapping[str, Sequence[int] | None] | None = None,
    log: bool = False,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """The backtest reduced block by block to metric sums per ``REPORT_KEYS`` (bounded memory)."""
    parts: list[pl.DataFrame] = []
    seconds: dict[str, float] = {f.name: 0.0 for f in forecasters}
    for block in _blocks(origins, refit_every):
        frames = _block_predictions(
            forecasters,
            history,
            block,
            lag_days=lag_days,
            horizon=horizon,
            stations=None,
            seconds=seconds,
            log=log,
        )
        for frame in frames:
            parts.append(sums(tag(frame, scopes), REPORT_KEYS))
    if not parts:
        raise ValueError("no origin had observed targets")
    return add(parts, REPORT_KEYS), seconds


def backtest(
    forecasters: Sequence[Forecaster],
    history: History,
    origins: Sequence[dt.date],
    *,
    lag_days: int = PUBLICATION_LAG_DAYS,
    horizon: int = MAX_HORIZON,
    scopes: Mapping[str, Sequence[int] | None] | None = None,
    refit_every: int = 1,
    log: bool = False,
) -> pl.DataFrame:
    """Rolling-origin backtest -> tidy metrics ``model, scope, horizon, wape, mae, bias, coverage, n``."""
    scored, _ = backtest_predictions(
        forecasters, history, origins, lag_days=lag_days, horizon=horizon, refit_every=refit_every, log=log
    )
    return score(scored, scopes)


def best_baseline(
    metrics: pl.DataFrame, baseline_names: Sequence[str], scope: str = "all"
) -> tuple[str, float]:
    """(name, WAPE) of the lowest-WAPE baseline pooled over horizons in ``scope`` of a ``score`` table."""
    rows = metrics.filter(
        pl.col("scope") == scope, pl.col("horizon") == 0, pl.col("model").is_in(list(baseline_names))
    ).sort("wape")
    if rows.is_empty():
        raise ValueError(f"no baseline scored in scope {scope}")
    return str(rows["model"][0]), float(rows["wape"][0])
