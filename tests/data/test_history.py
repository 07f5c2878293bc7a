"""The model-facing history across the 2022/2023 layout change (real snapshot rows, both backends).

Contract 1: the warehouse keeps the merged late band as published (hour 23, ``span_hours`` 2); the
model's ``History`` and ``prepare_history`` use one-hour bands only, so 2022 days offer bands 5..22
and 2023 days 5..24.  Daily weather comes with the history for the years without hourly KMA data.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime

import polars as pl

from tasks.core.schema import RIDERSHIP_HOURLY, WEATHER_DAILY, conform
from tasks.data.history import load_history
from tasks.data.warehouse import open_warehouse
from tasks.model.features import History, prepare_history
from tests.support.paths import SNAPSHOT

WINDOW = (dt.date(2022, 12, 26), dt.date(2023, 1, 8))


def _slice(name: str, column: str, lo: dt.date, hi: dt.date) -> pl.DataFrame:
    return pl.scan_parquet(SNAPSHOT / f"{name}.parquet").filter(pl.col(column).is_between(lo, hi)).collect()


def _bands_by_year(ridership: pl.DataFrame) -> dict[int, list[int]]:
    years = ridership.group_by(pl.col("date").dt.year().alias("y")).agg(pl.col("hour").unique().sort())
    return {y: list(h) for y, h in years.iter_rows()}


def test_history_leaves_the_merged_band_out_and_brings_daily_weather(warehouse_url: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    ridership = _slice("ridership_hourly", "date", *WINDOW).filter(pl.col("station_code") == 211)
    weather_daily = _slice("weather_daily", "date", dt.date(2022, 12, 1), dt.date(2023, 1, 31))
    wh = open_warehouse(warehouse_url)
    try:
        wh.migrate()
        for table, frame in ((RIDERSHIP_HOURLY, ridership), (WEATHER_DAILY, weather_daily)):
            wh.upsert(
                table, conform(frame.with_columns(source=pl.lit("snapshot"), ingested_at=pl.lit(now)), table)
            )
        stored = wh.read_table(RIDERSHIP_HOURLY)
        loaded = load_history(wh, WINDOW[1] + dt.timedelta(days=3))
    finally:
        wh.close()
    assert stored.filter(pl.col("span_hours") == 2).height == 2 * 6  # 2022-12-26..31, both directions
    history = loaded.history.ridership
    assert set(history["span_hours"]) == {1}
    assert _bands_by_year(history) == {2022: list(range(5, 23)), 2023: list(range(5, 25))}
    assert history.height == stored.height - 2 * 6
    daily = loaded.history.weather_daily
    assert daily is not None and set(daily["provider"]) == {"kma_asos", "open_meteo"}
    assert daily["date"].max() == WINDOW[1] + dt.timedelta(days=3 + 7)  # through the last target day


def test_prepare_history_and_history_drop_merged_rows_of_any_frame() -> None:
    raw = _slice("ridership_hourly", "date", *WINDOW).filter(pl.col("station_code") == 211)
    assert _bands_by_year(prepare_history(raw)) == {2022: list(range(5, 23)), 2023: list(range(5, 25))}
    kept = History(raw, pl.DataFrame()).until(dt.date(2022, 12, 31)).ridership
    assert kept["hour"].max() == 22
    legacy = History(raw.drop("span_hours").filter(pl.col("date") >= dt.date(2023, 1, 1)), pl.DataFrame())
    assert set(legacy.ridership["span_hours"]) == {1}  # frames from before the column: one-hour bands
