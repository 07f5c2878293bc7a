"""Warehouse tables as code.

One declaration per table gives: the polars dtypes frames are cast to on the way in and out, the
primary key that turns every load into an upsert, and the DDL of the embedded SQLite store.  The
Postgres/Supabase schema lives in ``infra/supabase/migrations/*.sql`` (Supabase's convention, with
RLS and grants); ``test_columns_match_the_schema_declared_in_code`` in
``tests/infra/test_postgres_security.py`` checks both agree column by column, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

DIRECTIONS = ("board", "alight")
WEATHER_PROVIDERS = ("kma_asos", "open_meteo")  # weather_daily.provider; open_meteo is NOT KMA
HOUR_BANDS = tuple(range(5, 25))  # 5 = before 06:00, 6..23 = that clock hour, 24 = after midnight


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, pl.DataType]
    primary_key: tuple[str, ...]
    # columns a loader fills itself (e.g. ingested_at); upserts never compare them for "changed"
    audit_columns: tuple[str, ...] = ()
    # value a column takes when a frame does not carry it (columns added after the first schema)
    defaults: tuple[tuple[str, int], ...] = ()

    @property
    def default_values(self) -> dict[str, int]:
        return dict(self.defaults)

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema(self.columns)

    @property
    def data_columns(self) -> tuple[str, ...]:
        """Every column but the loader's audit columns: what a feed or a package carries."""
        return tuple(c for c in self.columns if c not in self.audit_columns)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.primary_key and c not in self.audit_columns)


_TS = pl.Datetime("us")

STATIONS = Table(
    "stations",
    {
        "station_code": pl.Int32(),
        "station_name": pl.String(),
        "line": pl.String(),
        "name_en": pl.String(),
    },
    ("station_code",),
)

RIDERSHIP_HOURLY = Table(
    "ridership_hourly",
    {
        "date": pl.Date(),
        "hour": pl.Int16(),
        "station_code": pl.Int32(),
        "direction": pl.String(),
        "count": pl.Int32(),
        "source": pl.String(),
        "ingested_at": _TS,
        # hours the band covers: 1, or 2 for the publisher's merged late band "23시 이후" (2020-2022
        # files), stored as hour 23 with no hour-24 row that day.  Last because it was added later
        # (Postgres appends added columns; the parity test compares the order).
        "span_hours": pl.Int16(),
    },
    ("date", "hour", "station_code", "direction"),
    audit_columns=("source", "ingested_at"),
    defaults=(("span_hours", 1),),
)
MERGED_LATE_BAND: Final = 23
"""``hour`` of the 2020-2022 files' single late band ("23시 이후" = 23:00 onward, ``span_hours`` 2)."""

RIDERSHIP_DAILY = Table(
    "ridership_daily",
    {
        "date": pl.Date(),
        "line": pl.String(),
        "station_name": pl.String(),
        "boardings": pl.Int32(),
        "alightings": pl.Int32(),
        "registered_on": pl.Date(),
        "source": pl.String(),
        "ingested_at": _TS,
    },
    ("date", "line", "station_name"),
    audit_columns=("source", "ingested_at"),
)

RIDERSHIP_MONTHLY_HOURLY = Table(
    "ridership_monthly_hourly",
    {
        "month": pl.Date(),  # first day of the month
        "line": pl.String(),
        "station_name": pl.String(),
        "clock_hour": pl.Int16(),  # 0..23, the API's HR_h = [h, h+1)
        "boardings": pl.Int64(),
        "alightings": pl.Int64(),
        "source": pl.String(),
        "ingested_at": _TS,
    },
    ("month", "line", "station_name", "clock_hour"),
    audit_columns=("source", "ingested_at"),
)

WEATHER_HOURLY = Table(
    "weather_hourly",
    {
        "station_id": pl.Int32(),
        "ts": _TS,  # KST wall clock, start of the observation hour
        "temp_c": pl.Float64(),
        "precip_mm": pl.Float64(),
        "wind_ms": pl.Float64(),
        "humidity_pct": pl.Float64(),
        "snow_cm": pl.Float64(),
        "cloud_tenths": pl.Float64(),
        "source": pl.String(),
        "ingested_at": _TS,
    },
    ("station_id", "ts"),
    audit_columns=("source", "ingested_at"),
)

WEATHER_DAILY = Table(
    "weather_daily",
    {
        # kma_asos (KMA ASOS daily observations, station 108) | open_meteo (Open-Meteo reanalysis
        # for a Seoul city-centre point: NOT a KMA product, NOT an observation)
        "provider": pl.String(),
        "date": pl.Date(),  # KST calendar day
        "temp_mean_c": pl.Float64(),
        "temp_min_c": pl.Float64(),
        "temp_max_c": pl.Float64(),
        "precip_mm": pl.Float64(),
        "humidity_pct": pl.Float64(),  # open_meteo only (the KMA daily file has none)
        "weather_code": pl.Int16(),  # open_meteo only: WMO weather code of the day
        "source": pl.String(),
        "ingested_at": _TS,
    },
    ("provider", "date"),
    audit_columns=("source", "ingested_at"),
)

WEATHER_FORECAST = Table(
    "weather_forecast",
    {
        "base_ts": _TS,  # KST issue time
        "fcst_ts": _TS,  # KST valid hour
        "nx": pl.Int16(),
        "ny": pl.Int16(),
        "temp_c": pl.Float64(),
        "precip_mm": pl.Float64(),
        "pop_pct": pl.Float64(),
        "pty": pl.Int16(),
        "sky": pl.Int16(),
        "humidity_pct": pl.Float64(),
        "wind_ms": pl.Float64(),
        "snow_cm": pl.Float64(),
        "source": pl.String(),
        "ingested_at": _TS,
    },
    ("base_ts", "fcst_ts", "nx", "ny"),
    audit_columns=("source", "ingested_at"),
)

QUARANTINE = Table(
    "quarantine",
    {
        "table_name": pl.String(),
        "row_hash": pl.String(),
        "reason": pl.String(),
        "row_json": pl.String(),
        "source": pl.String(),
        "run_id": pl.String(),
        "quarantined_at": _TS,
    },
    ("table_name", "row_hash"),
    audit_columns=("run_id", "quarantined_at"),
)

INGEST_RUNS = Table(
    "ingest_runs",
    {
        "run_id": pl.String(),
        "dataset": pl.String(),
        "source": pl.String(),
        "started_at": _TS,
        "finished_at": _TS,
        "status": pl.String(),
        "rows_in": pl.Int64(),
        "rows_inserted": pl.Int64(),
        "rows_updated": pl.Int64(),
        "rows_quarantined": pl.Int64(),
        "data_min_date": pl.Date(),
        "data_max_date": pl.Date(),
        "raw_uri": pl.String(),
        "message": pl.String(),
    },
    ("run_id",),
)

FORECASTS = Table(
    "forecasts",
    {
        "model_version": pl.String(),
        "as_of": pl.Date(),
        "date": pl.Date(),
        "hour": pl.Int16(),
        "station_code": pl.Int32(),
        "direction": pl.String(),
        "yhat": pl.Float64(),
        "lo": pl.Float64(),
        "hi": pl.Float64(),
        "created_at": _TS,
    },
    ("model_version", "as_of", "date", "hour", "station_code", "direction"),
    audit_columns=("created_at",),
)

MONITORING = Table(
    "monitoring",
    {
        "evaluated_on": pl.Date(),
        "metric": pl.String(),  # wape | coverage | psi ...
        "scope": pl.String(),  # all | station group | station code
        "horizon": pl.Int16(),  # days ahead; 0 where not applicable (drift)
        "value": pl.Float64(),
        "n": pl.Int64(),
        "model_version": pl.String(),
        "created_at": _TS,
    },
    ("evaluated_on", "metric", "scope", "horizon"),
    audit_columns=("created_at",),
)

MODELS = Table(
    "models",
    {
        "version": pl.String(),
        "status": pl.String(),  # candidate | production | archived | rejected | rolled_back
        "trained_at": _TS,
        "promoted_at": _TS,
        "data_hash": pl.String(),
        "data_start": pl.Date(),
        "data_end": pl.Date(),
        "code_version": pl.String(),
        "wandb_run": pl.String(),
        "metrics_json": pl.String(),
        "kind": pl.String(),  # model (trained) | baseline (tasks.model.baselines, packaged by the gate)
    },
    ("version",),
)

PIPELINE_STATE = Table(
    "pipeline_state",
    {"key": pl.String(), "value": pl.String(), "updated_at": _TS},
    ("key",),
    audit_columns=("updated_at",),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        STATIONS,
        RIDERSHIP_HOURLY,
        RIDERSHIP_DAILY,
        RIDERSHIP_MONTHLY_HOURLY,
        WEATHER_HOURLY,
        WEATHER_DAILY,
        WEATHER_FORECAST,
        QUARANTINE,
        INGEST_RUNS,
        FORECASTS,
        MONITORING,
        MODELS,
        PIPELINE_STATE,
    )
}

# the column holding each table's business date, used by `db status` for date ranges
DATE_COLUMNS: dict[str, str] = {
    "ridership_hourly": "date",
    "ridership_daily": "date",
    "ridership_monthly_hourly": "month",
    "weather_hourly": "ts",
    "weather_daily": "date",
    "weather_forecast": "fcst_ts",
    "forecasts": "date",
    "monitoring": "evaluated_on",
    "ingest_runs": "started_at",
    "quarantine": "quarantined_at",
    "models": "trained_at",
}


def conform(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Select and cast ``frame`` to ``table``'s columns (missing ones take their default, else null)."""
    defaults = table.default_values
    exprs = [
        (pl.col(name) if name in frame.columns else pl.lit(defaults.get(name)))
        .cast(dtype, strict=True)
        .alias(name)
        for name, dtype in table.columns.items()
    ]
    return frame.select(exprs)


def single_hour_bands(ridership: pl.DataFrame) -> pl.DataFrame:
    """Ridership rows that cover exactly one hour band (``span_hours`` 1, or no such column).

    The model-facing history uses only these: the 2020-2022 merged late band ("23시 이후", hour 23
    with ``span_hours`` 2) is kept in the warehouse as published but never split into invented
    23-24 / after-midnight values, so models and baselines see bands 5..22 for those years.
    """
    if "span_hours" not in ridership.columns:
        return ridership
    return ridership.filter(pl.col("span_hours").fill_null(1) == 1)
