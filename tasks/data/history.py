"""Load the model's ``History`` from the warehouse exactly as it was known on an as-of date.

Why a module of its own: training, backtests, the forecast CLI and the daily forecast flow must all
see the same slice of the warehouse for a given ``as_of``, or a forecast could not be reproduced and
the as-of guarantee ("nothing published after as_of is used") would depend on each caller's SQL.

What "known on as_of" means here:

* **ridership** ``date <= as_of``.  The warehouse only holds what was published (the snapshot replay
  and the live feeds enforce the publication lag on the way in), and the features cut again at
  ``as_of - PUBLICATION_LAG_DAYS`` per target row, so rows newer than that are never read even if
  they are present;
* **weather** observations up to 00:00 after the last target day (``as_of + horizon + 1``).  For target days the observation
  stands in for the weather forecast (the snapshot has no archived forecasts).  When the warehouse
  holds KMA short-range forecasts issued on ``as_of`` (``weather_forecast``), those replace the
  observations for the target hours they cover and ``weather_source`` says ``kma_forecast``;
* **daily weather** (``weather_daily``: KMA daily observations, Open-Meteo reanalysis) dated up to the
  last target day, like the hourly observations: which of it a feature may use for a target day is
  the feature code's rule (observed weather stands in for a forecast only at short horizons);
* **stations** the whole table (not dated).

``data_hash`` fingerprints the ridership a model was trained on; it is backend-independent (typed
column buffers, not a driver's row format) so SQLite and Postgres give the same hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import polars as pl

from tasks.core.constants import CONTEXT_DAYS, DEFAULT_WEATHER_STATION, MAX_HORIZON, PUBLICATION_LAG_DAYS
from tasks.core.frames import History
from tasks.core.schema import (
    RIDERSHIP_HOURLY,
    STATIONS,
    WEATHER_DAILY,
    WEATHER_FORECAST,
    WEATHER_HOURLY,
)
from tasks.data.clock import read_clock
from tasks.data.warehouse.base import Warehouse

WeatherSource = Literal["observed", "kma_forecast", "none"]

YEAR_AGO_DAYS: Final = 364
YEAR_AGO_CONTEXT: Final = (YEAR_AGO_DAYS + 35, YEAR_AGO_DAYS - 8)
"""Days before as_of of the year-ago window a forecast also reads (``tasks.model.trailing``'s ``year_*``
features: the target weeks 52 weeks earlier and the 3-week profiles before them)."""


def in_context(as_of: dt.date, context_days: int) -> pl.Expr:
    """Ridership rows a forecast issued on ``as_of`` reads: the newest ``context_days`` and the
    year-ago window (a package and the forecast CLI keep only these)."""
    first, last = (as_of - dt.timedelta(days=d) for d in YEAR_AGO_CONTEXT)
    date = pl.col("date")
    return (date >= as_of - dt.timedelta(days=context_days)) | date.is_between(first, last)


OBSERVED_WEATHER_NOTE: Final = "observed weather stands in for the KMA forecast"
FORECAST_WEATHER_NOTE: Final = "KMA short-range forecast issued on the as-of date"

_RIDERSHIP_COLUMNS: Final = RIDERSHIP_HOURLY.data_columns
_WEATHER_COLUMNS: Final = WEATHER_HOURLY.data_columns


@dataclass(frozen=True)
class LoadedHistory:
    """A ``History`` plus where it came from (for metadata, artifacts and the CLI's sidecar)."""

    history: History
    as_of: dt.date
    weather_source: WeatherSource

    @property
    def data_start(self) -> dt.date | None:
        col = self.history.ridership.get_column("date")
        return col.min() if col.len() else None  # type: ignore[return-value]

    @property
    def data_end(self) -> dt.date | None:
        col = self.history.ridership.get_column("date")
        return col.max() if col.len() else None  # type: ignore[return-value]

    @property
    def weather_note(self) -> str:
        if self.weather_source == "kma_forecast":
            return FORECAST_WEATHER_NOTE
        if self.weather_source == "observed":
            return OBSERVED_WEATHER_NOTE
        return "no weather for the target days (weather features are missing)"


def load_ridership(
    warehouse: Warehouse,
    as_of: dt.date,
    *,
    since: dt.date | None = None,
    stations: list[int] | None = None,
) -> pl.DataFrame:
    """``ridership_hourly`` rows dated ``[since, as_of]`` (typed, sorted by the key); the whole
    history (no ``since``) is a ``bulk`` read."""
    where, params = ["date <= %s"], [as_of]
    if since is not None:
        where.append("date >= %s")
        params.append(since)
    frame = warehouse.read_table(
        RIDERSHIP_HOURLY, " AND ".join(where), params, columns=_RIDERSHIP_COLUMNS, bulk=since is None
    )
    if stations is not None:
        frame = frame.filter(pl.col("station_code").is_in(stations))
    return frame.sort("date", "hour", "station_code", "direction")


def load_weather(
    warehouse: Warehouse, as_of: dt.date, *, horizon_days: int = MAX_HORIZON, since: dt.date | None = None
) -> tuple[pl.DataFrame, WeatherSource]:
    """Hourly weather for features up to the last target day, and what the target days' rows are."""
    # through 00:00 after the last target day: hour band 24 ("after midnight") reads that hour.
    # Exclusive bounds only: SQLite compares timestamps as text and its driver formats a whole-second
    # datetime parameter without the stored ".000000", so "ts <= X" would miss X itself.
    end = dt.datetime.combine(as_of + dt.timedelta(days=horizon_days + 1), dt.time(1))
    where, params = ["ts < %s"], [end]
    if since is not None:
        where.append("ts >= %s")
        params.append(dt.datetime.combine(since, dt.time()))
    observed = warehouse.read_table(WEATHER_HOURLY, " AND ".join(where), params).select(_WEATHER_COLUMNS)
    target_start = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    forecast = _issued_forecast(warehouse, as_of, target_start, end)
    if forecast.height:
        replaced = observed.filter(pl.col("ts") >= target_start).join(
            forecast.select("station_id", "ts"), on=["station_id", "ts"], how="semi"
        )
        kept = observed.join(replaced.select("station_id", "ts"), on=["station_id", "ts"], how="anti")
        weather = pl.concat([kept, forecast], how="vertical_relaxed").sort("station_id", "ts")
        return weather, "kma_forecast"
    has_targets = observed.filter(pl.col("ts") >= target_start).height > 0
    return observed.sort("station_id", "ts"), "observed" if has_targets else "none"


def _issued_forecast(
    warehouse: Warehouse, as_of: dt.date, target_start: dt.datetime, end: dt.datetime
) -> pl.DataFrame:
    """The newest KMA forecast issued on or before ``as_of`` for each target hour, as weather rows.

    Grid points (nx, ny) are averaged: Seoul's forecasts come for the grid cell of the city centre,
    the same role ASOS station 108 plays for observations.
    """
    if "weather_forecast" not in warehouse.table_names():
        return pl.DataFrame(schema={c: WEATHER_HOURLY.columns[c] for c in _WEATHER_COLUMNS})
    issued_by = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    raw = warehouse.read_table(
        WEATHER_FORECAST,
        "base_ts < %s AND fcst_ts >= %s AND fcst_ts < %s",
        [issued_by, target_start, end],
    )
    if raw.is_empty():
        return pl.DataFrame(schema={c: WEATHER_HOURLY.columns[c] for c in _WEATHER_COLUMNS})
    latest = raw.filter(pl.col("base_ts") == pl.col("base_ts").max().over("fcst_ts"))
    return (
        latest.group_by(pl.col("fcst_ts").alias("ts"))
        .agg(
            pl.col("temp_c").mean(),
            pl.col("precip_mm").mean(),
            pl.col("wind_ms").mean(),
            pl.col("humidity_pct").mean(),
            pl.col("snow_cm").mean(),
        )
        .with_columns(
            station_id=pl.lit(DEFAULT_WEATHER_STATION, dtype=pl.Int32),
            cloud_tenths=pl.lit(None, dtype=pl.Float64),
        )
        .select(_WEATHER_COLUMNS)
    )


def load_weather_daily(
    warehouse: Warehouse, as_of: dt.date, *, horizon_days: int = MAX_HORIZON, since: dt.date | None = None
) -> pl.DataFrame:
    """``weather_daily`` rows (every provider) dated ``[since, as_of + horizon_days]``, sorted."""
    if "weather_daily" not in warehouse.table_names():
        return pl.DataFrame(schema={c: WEATHER_DAILY.columns[c] for c in WEATHER_DAILY.data_columns})
    where, params = ["date <= %s"], [as_of + dt.timedelta(days=horizon_days)]
    if since is not None:
        where.append("date >= %s")
        params.append(since)
    frame = warehouse.read_table(WEATHER_DAILY, " AND ".join(where), params)
    return frame.select(WEATHER_DAILY.data_columns).sort("provider", "date")


def load_stations(warehouse: Warehouse) -> pl.DataFrame:
    return (
        warehouse.read_table(STATIONS)
        .select("station_code", "station_name", "line", "name_en")
        .sort("station_code")
    )


def load_history(
    warehouse: Warehouse,
    as_of: dt.date,
    *,
    horizon_days: int = MAX_HORIZON,
    context_days: int | None = None,
    stations: list[int] | None = None,
) -> LoadedHistory:
    """Everything known on ``as_of``: ridership ``<= as_of``, weather through the horizon, stations.

    ``context_days`` keeps only the newest ridership days and the year-ago window (``in_context``:
    what a forecast needs; training wants all of it).  ``stations`` restricts ridership to those codes (tests, experiments).
    """
    since = None if context_days is None else as_of - dt.timedelta(days=context_days)
    ridership = load_ridership(warehouse, as_of, since=since, stations=stations)
    if since is not None:
        first, last = (as_of - dt.timedelta(days=d) for d in YEAR_AGO_CONTEXT)
        year_ago = load_ridership(warehouse, last, since=first, stations=stations)
        ridership = pl.concat([year_ago.filter(pl.col("date") < since), ridership])
    weather, source = load_weather(warehouse, as_of, horizon_days=horizon_days, since=since)
    weather_daily = load_weather_daily(warehouse, as_of, horizon_days=horizon_days, since=since)
    station_table = load_stations(warehouse)
    if stations is not None:
        station_table = station_table.filter(pl.col("station_code").is_in(stations))
    return LoadedHistory(History(ridership, weather, station_table, weather_daily), as_of, source)


def context_history(loaded: LoadedHistory, context_days: int = CONTEXT_DAYS) -> History:
    """The newest ``context_days`` of ridership and the year-ago window (and the weather from the
    newest part on) for a package."""
    since = loaded.as_of - dt.timedelta(days=context_days)
    h = loaded.history
    ridership = h.ridership.filter(in_context(loaded.as_of, context_days))
    weather = h.weather.filter(pl.col("ts") >= dt.datetime.combine(since, dt.time()))
    return History(ridership, weather, h.stations)


def latest_ridership_date(warehouse: Warehouse, on_or_before: dt.date | None = None) -> dt.date | None:
    """Newest ``ridership_hourly`` date in the warehouse, optionally not after a day (None: none)."""
    if "ridership_hourly" not in warehouse.table_names():
        return None
    if on_or_before is None:
        value = warehouse.read("select max(date) as d from ridership_hourly").item()
    else:
        value = warehouse.read(
            "select max(date) as d from ridership_hourly where date <= %s", [on_or_before]
        ).item()
    if value is None:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def data_hash(history: History | pl.DataFrame) -> str:
    """sha256 over the ridership sorted by key, hashed column by column as fixed-width buffers.

    Typed little-endian buffers (dates as days since epoch, direction as 0/1) make the hash
    independent of the backend it was read from and of the storage order.
    """
    ridership = history.ridership if isinstance(history, History) else history
    frame = ridership.select(
        pl.col("date").cast(pl.Date).cast(pl.Int32),
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        (pl.col("direction") == "board").cast(pl.Int8).alias("direction"),
        pl.col("count").cast(pl.Int64).fill_null(-1),
    ).sort("date", "hour", "station_code", "direction")
    digest = hashlib.sha256()
    digest.update(f"ridership_hourly:{frame.height}".encode())
    for name, dtype in (("date", "<i4"), ("hour", "<i2"), ("station_code", "<i4"), ("direction", "i1")):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(frame.get_column(name).to_numpy(), dtype=dtype).tobytes())
    digest.update(b"count")
    digest.update(np.ascontiguousarray(frame.get_column("count").to_numpy(), dtype="<i8").tobytes())
    return digest.hexdigest()


def default_as_of(warehouse: Warehouse, lag_days: int = PUBLICATION_LAG_DAYS) -> dt.date | None:
    """The as-of a flow uses when none is given: the replay clock if one is set, else the day the
    newest ridership was published (its date + the publication lag); None on an empty warehouse."""
    if "pipeline_state" in warehouse.table_names():
        clock = read_clock(warehouse)
        if clock is not None:
            return clock
    newest = latest_ridership_date(warehouse)
    return None if newest is None else newest + dt.timedelta(days=lag_days)


class NoDataError(ValueError):
    """Nothing to learn from or forecast with: the warehouse holds no ridership for the as-of."""


def load_as_of(
    warehouse: Warehouse,
    as_of: dt.date | None,
    stations: list[int] | None = None,
    context_days: int | None = None,
) -> LoadedHistory:
    """Everything known on ``as_of`` (default: ``default_as_of``); ``NoDataError`` when nothing is."""
    as_of = as_of or default_as_of(warehouse)
    if as_of is None:
        raise NoDataError("the warehouse has no ridership: run `seongsu ingest` first")
    loaded = load_history(warehouse, as_of, stations=stations, context_days=context_days)
    if loaded.history.ridership.is_empty():
        raise NoDataError(f"no ridership published by {as_of}: ingest data first")
    return loaded
