"""The forecast interface: one function from (model, what was known on as_of) to hourly forecasts.

Why one function: the CLI (``seongsu forecast``), the daily forecast flow (warehouse ``forecasts``
table + a refreshed model package) and the packages' precomputed ``forecasts.parquet`` must agree
to the row, so they all call ``forecast`` and differ only in where the history comes from
(the warehouse, via ``tasks.data.history``, or a package's context).

Output contract (``FORECAST_SCHEMA``): ``date, hour, station_code, station_name, direction, yhat, lo,
hi`` for every requested station ("all": every station with ridership in the four weeks before the
cutoff; a few stations of the snapshot report only sporadically) -- hour in the publisher's bands 5..24, direction ``board``/``alight``, ``station_code`` the
Seoul Metro code, ``0 <= lo <= yhat <= hi`` (median and 80% interval of the multi-quantile model),
rows ordered by station, date, hour, direction.  Inputs are validated up front with errors that
say what to change (``ForecastInputError``), because this is what a person types at the CLI.

Refreshing a package (``refresh_package``) re-issues the forecasts of the *same* fitted model for a
new as-of with the newest ridership as context: no retraining, so the daily loop costs seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

import polars as pl

from tasks.model import forecasters
from tasks.model.features import MAX_HORIZON, PUBLICATION_LAG_DAYS, History, cutoff_for, forecast_targets
from tasks.model.forecasters import PackagedForecaster
from tasks.model.package import ModelPackage

FORECAST_SCHEMA: Final = pl.Schema(
    {
        "date": pl.Date(),
        "hour": pl.Int16(),
        "station_code": pl.Int32(),
        "station_name": pl.String(),
        "direction": pl.String(),
        "yhat": pl.Float64(),
        "lo": pl.Float64(),
        "hi": pl.Float64(),
    }
)
ORDER: Final = ("station_code", "date", "hour", "direction")
MAX_STALE_DAYS: Final = 28
"""How far the newest ridership may lag the cutoff before a forecast is refused: half the profile
window, so every profile feature still has four same-weekday values to average."""


class ForecastInputError(ValueError):
    """The request cannot be served as asked (bad dates, unknown stations...): fix the input."""


def validate_request(
    as_of: dt.date, start: dt.date | None, days: int, max_horizon: int = MAX_HORIZON
) -> dt.date:
    """Check the forecast window and return its start (default: the day after ``as_of``)."""
    if not 1 <= days <= max_horizon:
        raise ForecastInputError(f"days must be between 1 and {max_horizon}, got {days}")
    start = start or as_of + dt.timedelta(days=1)
    if start <= as_of:
        raise ForecastInputError(
            f"start {start} must be after as_of {as_of}: forecasts cover as_of+1 .. as_of+{max_horizon}"
        )
    end = start + dt.timedelta(days=days - 1)
    if (end - as_of).days > max_horizon:
        last = as_of + dt.timedelta(days=max_horizon)
        raise ForecastInputError(
            f"{start} + {days} days ends on {end}, beyond as_of+{max_horizon} ({last}); "
            f"the model forecasts horizons 1..{max_horizon} only"
        )
    return start


def resolve_stations(
    requested: Sequence[int] | str | None, known: pl.DataFrame, active: set[int] | None = None
) -> list[int]:
    """Station codes to forecast.

    ``None``/``"all"``: every known station that is ``active`` (has recent ridership; None = all
    known).  Explicit codes must be known (else an error listing them) and active (else an error
    saying their data is missing): a forecast from empty profiles would be noise.
    """
    known_codes = set(known.get_column("station_code").cast(pl.Int64).to_list())
    usable = known_codes if active is None else known_codes & active
    if requested is None or (isinstance(requested, str) and requested.strip().lower() == "all"):
        if not usable:
            raise ForecastInputError("no station has recent ridership to forecast from")
        return sorted(usable)
    codes = parse_station_list(requested) if isinstance(requested, str) else [int(c) for c in requested]
    if not codes:
        raise ForecastInputError("no stations requested")
    unknown = sorted(set(codes) - known_codes)
    if unknown:
        raise ForecastInputError(
            f"unknown station code(s): {', '.join(str(c) for c in unknown)} "
            f"({len(known_codes)} stations are known, e.g. 211 = 성수)"
        )
    silent = sorted(set(codes) - usable)
    if silent:
        raise ForecastInputError(
            f"no ridership for station(s) {', '.join(str(c) for c in silent)} in the {MAX_STALE_DAYS} days "
            "before the cutoff: their data is missing, so there is nothing to forecast from"
        )
    return sorted(set(codes))


def active_stations(history: History, as_of: dt.date, window_days: int = MAX_STALE_DAYS) -> set[int]:
    """Stations with ridership published in the ``window_days`` up to ``as_of``'s cutoff."""
    cutoff = cutoff_for(as_of)
    recent = history.ridership.filter(
        pl.col("date").is_between(cutoff - dt.timedelta(days=window_days - 1), cutoff)
    )
    return set(recent.get_column("station_code").cast(pl.Int64).unique().to_list())


def parse_station_list(text: str) -> list[int]:
    """``"211,222"`` -> [211, 222]; anything that is not a code is an error naming it."""
    out, bad = [], []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(int(part))
        except ValueError:
            bad.append(part)
    if bad:
        raise ForecastInputError(f"station codes must be numbers (e.g. 211), got: {', '.join(bad)}")
    return out


def check_freshness(history: History, as_of: dt.date, max_stale_days: int = MAX_STALE_DAYS) -> dt.date:
    """Newest ridership usable on ``as_of``; an error when there is none or it is so old that the
    profile features would be empty (the forecast would be noise, not a forecast)."""
    known = history.ridership.filter(pl.col("date") <= cutoff_for(as_of)).get_column("date")
    return check_newest(known.max() if known.len() else None, as_of, max_stale_days)  # type: ignore[arg-type]


def check_newest(newest: dt.date | None, as_of: dt.date, max_stale_days: int = MAX_STALE_DAYS) -> dt.date:
    """``check_freshness`` for a newest usable ridership date found elsewhere (e.g. a SQL max)."""
    cutoff = cutoff_for(as_of)
    if newest is None:
        raise ForecastInputError(
            f"no ridership published by {as_of} (nothing on or before {cutoff}): "
            "ingest data first or pick a later --as-of"
        )
    newest = min(newest, cutoff)
    if (cutoff - newest).days > max_stale_days:
        raise ForecastInputError(
            f"the newest ridership known on {as_of} is from {newest}, {(cutoff - newest).days} days before "
            f"the cutoff {cutoff}: ingest newer data or pick an --as-of up to "
            f"{newest + dt.timedelta(days=PUBLICATION_LAG_DAYS + max_stale_days)}"
        )
    return newest


def _station_table(history: History) -> pl.DataFrame:
    if history.stations is not None and history.stations.height:
        return history.stations.select(pl.col("station_code").cast(pl.Int32), pl.col("station_name"))
    codes = history.ridership.get_column("station_code").unique().cast(pl.Int32)
    return pl.DataFrame({"station_code": codes, "station_name": codes.cast(pl.String)})


def forecast(
    model: ModelPackage | PackagedForecaster,
    history: History | None,
    as_of: dt.date,
    start: dt.date | None = None,
    days: int = MAX_HORIZON,
    stations: Sequence[int] | str | None = None,
) -> pl.DataFrame:
    """Hourly forecasts issued on ``as_of`` for ``days`` days from ``start`` (``FORECAST_SCHEMA``).

    ``model`` is a fitted forecaster, a baseline (``tasks.model.baselines``) or a model package of either kind.  ``history`` is what was known on
    ``as_of`` (``tasks.data.history.load_history``); with a package it may be None, and then the
    package's own context is used -- a lookup into its ``forecasts.parquet`` when ``as_of`` is the
    package's issue date.  A given history is always forecast from (never the cached table).
    Ridership dated after ``as_of - lag`` is never read (the features cut per row), so passing a
    longer history cannot leak the future.
    """
    start = validate_request(as_of, start, days)
    use_cache = history is None
    if history is None:
        if not isinstance(model, ModelPackage):
            raise ForecastInputError("history is required with a bare forecaster")
        history = package_history(model)
    station_table = _station_table(history)
    check_freshness(history, as_of)
    codes = resolve_stations(stations, station_table, active_stations(history, as_of))
    end = start + dt.timedelta(days=days - 1)
    if use_cache and isinstance(model, ModelPackage) and model.metadata.as_of == as_of:
        cached = model.forecasts.filter(
            pl.col("date").is_between(start, end), pl.col("station_code").is_in(codes)
        )
        if cached.height == days * len(codes) * 40:
            return finalize(cached, station_table)
    forecaster = load_forecaster(model) if isinstance(model, ModelPackage) else model
    targets = forecast_targets(codes, as_of, start=start, days=days)
    raw = forecaster.predict(targets, history=history)
    return finalize(raw, station_table)


def finalize(raw: pl.DataFrame, stations: pl.DataFrame) -> pl.DataFrame:
    """Attach names, enforce ``0 <= lo <= yhat <= hi``, cast and order to ``FORECAST_SCHEMA``."""
    values = raw.select(
        pl.col("date").cast(pl.Date),
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        pl.col("direction").cast(pl.String),
        pl.col("yhat").cast(pl.Float64).clip(lower_bound=0.0),
        pl.col("lo").cast(pl.Float64).clip(lower_bound=0.0),
        pl.col("hi").cast(pl.Float64).clip(lower_bound=0.0),
    ).with_columns(
        lo=pl.min_horizontal("lo", "yhat"),
        hi=pl.max_horizontal("hi", "yhat"),
    )
    names = stations.select(pl.col("station_code").cast(pl.Int32), pl.col("station_name").cast(pl.String))
    out = values.join(names.unique("station_code"), on="station_code", how="left")
    return out.select(list(FORECAST_SCHEMA)).cast(dict(FORECAST_SCHEMA)).sort(ORDER)  # type: ignore[arg-type]


def load_forecaster(package: ModelPackage) -> PackagedForecaster:
    """The package's forecaster, a trained model or a baseline (``tasks.model.forecasters``)."""
    return forecasters.load_forecaster(package.model_dir)


def package_context_days(package: ModelPackage) -> int:
    """Ridership days a forecast by ``package``'s forecaster reads (``tasks.model.forecasters``): what to
    load from the warehouse for it -- a year-over-year baseline needs far more than the model."""
    return forecasters.context_days(load_forecaster(package))


def package_history(package: ModelPackage) -> History:
    """The context a package carries, as a ``History`` (what serving forecasts from)."""
    return History(package.context, package.weather, package.stations)
