"""The snapshot replay's simulated today: one ``pipeline_state`` key, one reader, one writer.

``seongsu up`` / ``seongsu replay`` (``flows.replay``) move it; the flows read it as their default
as-of, so a replayed day ingests, monitors and forecasts what was published by then.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final

import polars as pl

from tasks.core.schema import PIPELINE_STATE, conform
from tasks.data.warehouse.base import Warehouse

CLOCK_KEY: Final = "replay_as_of"
"""``pipeline_state`` key of the replayed clock."""


def read_clock(warehouse: Warehouse) -> date | None:
    """The replayed today, None when no replay has started."""
    rows = warehouse.read("select value from pipeline_state where key = %s", [CLOCK_KEY])
    return date.fromisoformat(str(rows["value"][0])[:10]) if rows.height and rows["value"][0] else None


def set_clock(warehouse: Warehouse, day: date) -> None:
    """Move the replayed today to ``day``."""
    row = {"key": CLOCK_KEY, "value": day.isoformat(), "updated_at": datetime.now(UTC).replace(tzinfo=None)}
    warehouse.upsert(PIPELINE_STATE, conform(pl.DataFrame([row]), PIPELINE_STATE))
