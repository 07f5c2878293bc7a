"""``History``: the frames the data layer hands to the model (ridership, weather, stations).

It lives in core because both sides speak it: ``tasks.data.history`` builds it from the warehouse,
``tasks.model`` learns and forecasts from it, and ``bentos`` rebuilds it from a package's context.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from tasks.core.schema import single_hour_bands


@dataclass(frozen=True)
class History:
    """Everything a forecaster may learn from: ridership, weather, and (optionally) the station list.

    ``ridership`` holds the ``ridership_hourly`` columns (extra columns are ignored), ``weather`` the
    ``weather_hourly`` columns.  Weather may extend past the ridership: for target days it plays the
    part of the weather forecast.  ``weather_daily`` (optional) holds ``weather_daily`` rows: daily
    weather for the years without hourly KMA observations.  Rows of a merged late band
    (``span_hours`` != 1, 2020-2022) are dropped on construction: see ``single_hour_bands``.
    """

    ridership: pl.DataFrame
    weather: pl.DataFrame
    stations: pl.DataFrame | None = None
    weather_daily: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        ridership = single_hour_bands(self.ridership)
        if "span_hours" not in ridership.columns:  # frames from before the column: one-hour bands
            ridership = ridership.with_columns(span_hours=pl.lit(1, dtype=pl.Int16))
        object.__setattr__(self, "ridership", ridership)

    def until(self, cutoff: dt.date) -> History:
        """The history as it was known when ridership up to ``cutoff`` had been published."""
        return History(
            self.ridership.filter(pl.col("date") <= cutoff), self.weather, self.stations, self.weather_daily
        )
