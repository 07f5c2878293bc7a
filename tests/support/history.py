"""Real history cut from ``data/snapshot`` for the tests (light: no serving or registry imports)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from tasks.core.frames import History
from tests.support.paths import SNAPSHOT

DEFAULT_STATIONS: tuple[int, ...] = (211, 210, 212, 2729, 222)
"""성수 (211), 뚝섬 (210), 건대입구 (212 line 2, 2729 line 7), 강남 (222)."""
HISTORY_START = dt.date(2023, 3, 1)


def snapshot_history(
    stations: Sequence[int] = DEFAULT_STATIONS,
    start: dt.date = HISTORY_START,
    end: dt.date | None = None,
    *,
    station_table: bool = True,
) -> History:
    """Ridership of ``stations`` from ``start`` (to ``end``, default all) and all of the weather;
    with ``station_table``, the snapshot's rows of those stations as well."""
    in_range = pl.col("date") >= start if end is None else pl.col("date").is_between(start, end)
    ridership = (
        pl.scan_parquet(SNAPSHOT / "ridership_hourly.parquet")
        .filter(pl.col("station_code").is_in(list(stations)) & in_range)
        .collect()
    )
    weather = pl.read_parquet(SNAPSHOT / "weather_hourly.parquet")
    if not station_table:
        return History(ridership, weather)
    stations_frame = pl.read_parquet(SNAPSHOT / "stations.parquet").filter(
        pl.col("station_code").is_in(list(stations))
    )
    return History(ridership, weather, stations_frame)
