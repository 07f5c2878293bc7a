"""The warehouse ``forecasts`` table: where issued forecasts are kept (keyed by version, as_of,
target), so the monitor can score them once the actuals are published."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime

import polars as pl

from tasks.core.schema import FORECASTS, conform
from tasks.data.warehouse.base import UpsertResult, Warehouse


def write_forecasts(
    warehouse: Warehouse, frame: pl.DataFrame, *, model_version: str, as_of: dt.date
) -> UpsertResult:
    """Upsert forecasts into the warehouse ``forecasts`` table (keyed by version, as_of, target)."""
    rows = frame.with_columns(
        model_version=pl.lit(model_version),
        as_of=pl.lit(as_of, dtype=pl.Date),
        created_at=pl.lit(datetime.now(UTC).replace(tzinfo=None)),
    )
    return warehouse.upsert(FORECASTS, conform(rows, FORECASTS))
