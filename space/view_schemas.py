"""The columns the Space reads from the warehouse, copied from ``tasks``' table contracts.

Copied because the hosted Space does not install this project; ``tests/space/test_space_schemas.py``
compares every copy with the production contract, so the copies cannot drift.  Also the pieces
both data backends (Supabase views, local warehouse) share.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

STATIONS_SCHEMA: dict[str, pl.DataType] = {
    "station_code": pl.Int32(),
    "station_name": pl.String(),
    "line": pl.String(),
    "name_en": pl.String(),
}
ACTUALS_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "hour": pl.Int16(),
    "station_code": pl.Int32(),
    "direction": pl.String(),
    "count": pl.Int64(),
}
STORED_FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "model_version": pl.String(),
    "as_of": pl.Date(),
    "date": pl.Date(),
    "hour": pl.Int16(),
    "station_code": pl.Int32(),
    "direction": pl.String(),
    "yhat": pl.Float64(),
    "lo": pl.Float64(),
    "hi": pl.Float64(),
}
MONITORING_SCHEMA: dict[str, pl.DataType] = {
    "evaluated_on": pl.Date(),
    "metric": pl.String(),
    "scope": pl.String(),
    "horizon": pl.Int16(),
    "value": pl.Float64(),
    "n": pl.Int64(),
    "model_version": pl.String(),
}
MODELS_SCHEMA: dict[str, pl.DataType] = {
    "version": pl.String(),
    "status": pl.String(),
    "trained_at": pl.Datetime("us"),
    "promoted_at": pl.Datetime("us"),
    "data_start": pl.Date(),
    "data_end": pl.Date(),
    "data_hash": pl.String(),
    "metrics_json": pl.String(),
    "kind": pl.String(),
}
INGEST_RUNS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "dataset": pl.String(),
    "source": pl.String(),
    "started_at": pl.Datetime("us"),
    "finished_at": pl.Datetime("us"),
    "status": pl.String(),
    "rows_in": pl.Int64(),
    "rows_inserted": pl.Int64(),
    "rows_updated": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "data_min_date": pl.Date(),
    "data_max_date": pl.Date(),
}
MONITORED_METRICS = ("wape", "coverage", "psi_count")
SOURCE_TABLES: dict[str, Mapping[str, pl.DataType]] = {
    "stations": STATIONS_SCHEMA,
    "ridership_hourly": ACTUALS_SCHEMA,
    "forecasts": STORED_FORECAST_SCHEMA,
    "monitoring": MONITORING_SCHEMA,
    "models": MODELS_SCHEMA,
    "ingest_runs": INGEST_RUNS_SCHEMA,
}
"""Which warehouse table (and its ``api_*`` view) each copied schema reads: what the drift test checks."""


def typed(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast ``frame`` to ``schema`` whatever the backend gave (ISO text from SQLite and
    PostgREST, native types from Postgres); missing columns become null."""
    exprs = []
    for name, dtype in schema.items():
        if name not in frame.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        col = pl.col(name)
        source = frame.schema[name]
        if source == pl.String and dtype == pl.Date:
            exprs.append(col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias(name))
        elif source == pl.String and isinstance(dtype, pl.Datetime):
            text = col.str.replace("T", " ").str.slice(0, 19)
            exprs.append(text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False).cast(dtype).alias(name))
        elif isinstance(source, pl.Datetime) and isinstance(dtype, pl.Datetime) and source.time_zone:
            exprs.append(col.dt.convert_time_zone("UTC").dt.replace_time_zone(None).cast(dtype).alias(name))
        elif isinstance(source, pl.Datetime) and dtype == pl.Date:
            exprs.append(col.dt.date().alias(name))
        else:
            exprs.append(col.cast(dtype, strict=False).alias(name))
    return frame.select(exprs)


def frame_of(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=dict(schema))
    return typed(pl.DataFrame(list(rows), infer_schema_length=None), schema)


@dataclass(frozen=True)
class Freshness:
    """How recent one table is: its newest business date and the last load that touched it."""

    table: str
    newest: str | None
    rows: int | None = None
    last_load: str | None = None
    status: str | None = None


class Backend(Protocol):
    description: str

    def stations(self) -> pl.DataFrame: ...
    def actuals(self, code: int, day: dt.date) -> pl.DataFrame: ...
    def stored_forecast(self, code: int, day: dt.date) -> pl.DataFrame: ...
    def monitoring(self) -> pl.DataFrame: ...
    def models(self) -> pl.DataFrame: ...
    def ingest_runs(self, limit: int) -> pl.DataFrame: ...
    def freshness(self) -> list[Freshness]: ...


class BackendError(Exception):
    """A data read failed; the message is already a safe, plain sentence."""


def latest_issue(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of the newest issue (as_of, then model version) only: the shortest-horizon forecast."""
    if frame.is_empty():
        return frame
    top = frame.sort(["as_of", "model_version"], descending=True).row(0, named=True)
    return frame.filter((pl.col("as_of") == top["as_of"]) & (pl.col("model_version") == top["model_version"]))


def merge_runs(tables: list[Freshness], runs: pl.DataFrame) -> list[Freshness]:
    """Attach the last ingest of each dataset; datasets without their own row get one from the runs."""
    latest: dict[str, dict[str, Any]] = {}
    for row in runs.sort("started_at", descending=True, nulls_last=True).iter_rows(named=True):
        latest.setdefault(row["dataset"], row)
    out = []
    seen = set()
    for item in tables:
        run = latest.get(item.table)
        seen.add(item.table)
        if run is None:
            out.append(item)
            continue
        when = run.get("finished_at") or run.get("started_at")
        newest = item.newest or (str(run["data_max_date"]) if run.get("data_max_date") else None)
        out.append(
            Freshness(item.table, newest, item.rows, str(when)[:19] if when else None, run.get("status"))
        )
    for dataset, run in latest.items():
        if dataset in seen:
            continue
        when = run.get("finished_at") or run.get("started_at")
        out.append(
            Freshness(
                dataset,
                str(run["data_max_date"]) if run.get("data_max_date") else None,
                None,
                str(when)[:19] if when else None,
                run.get("status"),
            )
        )
    return out
