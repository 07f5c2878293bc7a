"""Naive baselines the model has to beat, behind the same forecaster protocol as the model.

Both see exactly what the model sees -- ridership dated ``<= as_of - PUBLICATION_LAG_DAYS`` -- and
answer the same target frames, so ``tasks.evaluate.backtest`` scores all of them with one code path.

* ``SeasonalNaive``: the value of the same hour and weekday in the newest week that is published at
  the cutoff (one week back for h <= 4, two weeks back for h = 5..7 with the 3-day lag), falling
  back to older weeks if that row is missing.  No interval.
* ``ProfileMean``: the mean of the same station, direction, hour and weekday over the last
  ``PROFILE_WEEKS`` weeks known at the cutoff, with mean +- 1.2816 sd (the normal 80% band) as the
  interval.  ``holiday_aware=False`` (the classical baseline) groups by plain weekday, so a holiday
  on a Tuesday is forecast like a Tuesday and past holidays pollute their weekday's mean;
  ``holiday_aware=True`` groups by ``day_kind`` (holidays with Sundays), i.e. the model's own
  ``prof_kind`` feature -- reported so the model's gain from the calendar alone is visible.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Self

import polars as pl

from tasks.features import (
    KEYS,
    PROFILE_WEEKS,
    PUBLICATION_LAG_DAYS,
    TARGET_COLUMNS,
    History,
    calendar_features,
    cutoff_for,
    prepare_history,
    trailing_stats,
)

Z80: Final = 1.2815515655446004  # standard normal quantile 0.9: mean +- Z80 * sd covers 80%
MAX_WEEKS_BACK: Final = 4


def _targets(targets: pl.DataFrame, lag_days: int) -> pl.DataFrame:
    return targets.select(
        pl.col("date").cast(pl.Date),
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        pl.col("direction").cast(pl.String),
        pl.col("as_of").cast(pl.Date),
    ).with_columns(_cutoff=pl.col("as_of") - pl.duration(days=lag_days))


class _CutoffBaseline:
    """What both baselines share: ``fit`` keeps the history as published at the cutoff."""

    lag_days: int
    _history: History | None

    def fit(self, history: History, as_of: dt.date) -> Self:
        self._history = history.until(cutoff_for(as_of, self.lag_days))
        return self

    def _known(self, history: History | None) -> History:
        hist = history or self._history
        if hist is None:
            raise RuntimeError("fit() first or pass history=")
        return hist


class SeasonalNaive(_CutoffBaseline):
    """Same hour, same weekday, newest week published at the cutoff."""

    name = "seasonal_naive"

    def __init__(self, lag_days: int = PUBLICATION_LAG_DAYS) -> None:
        self.lag_days = lag_days
        self._history: History | None = None

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        hist = self._known(history)
        t = _targets(targets, self.lag_days).with_row_index("_row")
        src = prepare_history(hist.ridership, max_date=t["_cutoff"].max()).select(  # type: ignore[arg-type]
            "date", "hour", "station_code", "direction", "count"
        )
        # candidates one..MAX_WEEKS_BACK weeks back, keep the newest one published at the cutoff
        cands = []
        for k in range(1, MAX_WEEKS_BACK + 1):
            cands.append(
                t.with_columns(_ld=pl.col("date") - pl.duration(days=7 * k), _k=pl.lit(k))
                .filter(pl.col("_ld") <= pl.col("_cutoff"))
                .join(
                    src.rename({"date": "_ld"}), on=["_ld", "hour", "station_code", "direction"], how="inner"
                )
            )
        best = pl.concat(cands).sort("_k").unique("_row", keep="first").select("_row", "count")
        return (
            t.join(best, on="_row", how="left")
            .sort("_row")
            .select(
                *TARGET_COLUMNS,
                pl.col("count").fill_null(0.0).alias("yhat"),
                pl.lit(None, pl.Float64).alias("lo"),
                pl.lit(None, pl.Float64).alias("hi"),
            )
        )


class ProfileMean(_CutoffBaseline):
    """Mean of the same station/direction/hour/weekday over the last ``weeks`` weeks at the cutoff."""

    def __init__(
        self, weeks: int = PROFILE_WEEKS, holiday_aware: bool = False, lag_days: int = PUBLICATION_LAG_DAYS
    ) -> None:
        self.weeks = weeks
        self.holiday_aware = holiday_aware
        self.lag_days = lag_days
        self.name = "profile_holiday" if holiday_aware else "profile_weekday"
        self._history: History | None = None

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        hist = self._known(history)
        t = _targets(targets, self.lag_days).with_row_index("_row")
        src = prepare_history(hist.ridership, max_date=t["_cutoff"].max())  # type: ignore[arg-type]
        group = "day_kind" if self.holiday_aware else "dow"
        cal = calendar_features(t["date"].min(), t["date"].max()).select("date", group)  # type: ignore[arg-type]
        t = t.join(cal, on="date", how="left")
        by = ["station_code", "direction", "hour", group]
        stats = trailing_stats(src, t.select(*by, "_cutoff").unique(), by, 7 * self.weeks, "p")
        sd = pl.col("p_std").fill_null(0.0)
        return (
            t.join(stats.select(*by, "_cutoff", "p", "p_std"), on=[*by, "_cutoff"], how="left")
            .sort("_row")
            .select(
                *TARGET_COLUMNS,
                pl.col("p").fill_null(0.0).alias("yhat"),
                (pl.col("p").fill_null(0.0) - Z80 * sd).clip(lower_bound=0.0).alias("lo"),
                (pl.col("p").fill_null(0.0) + Z80 * sd).alias("hi"),
            )
        )


def baselines(lag_days: int = PUBLICATION_LAG_DAYS) -> list[SeasonalNaive | ProfileMean]:
    """The baselines of the accuracy report, classical ones first."""
    return [
        SeasonalNaive(lag_days),
        ProfileMean(lag_days=lag_days),
        ProfileMean(holiday_aware=True, lag_days=lag_days),
    ]


__all__ = ["KEYS", "ProfileMean", "SeasonalNaive", "baselines"]
