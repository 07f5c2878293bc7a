"""Feature building for the hourly ridership forecaster (polars end to end).

The whole module is organised around one contract, the *as-of* semantics:

* a forecast is issued on ``as_of`` (a date) for target dates ``as_of + h``, ``h = 1..MAX_HORIZON``;
* Seoul's ridership feeds publish with a lag, so the newest ridership usable at issue time is dated
  ``cutoff = as_of - PUBLICATION_LAG_DAYS``; every ridership-derived feature of a target row only
  reads ridership dated ``<= cutoff`` of *that row* (rows of one frame may carry different as-ofs);
* weather at the target hour is a feature.  At prediction time it is the KMA short-range forecast;
  in backtests the *observed* weather stands in for it, which flatters the weather features slightly
  (a forecast is noisier than the observation).  Calendar features are known arbitrarily far ahead.

Training rows reuse the same code: each historical target (date, hour, station, direction) is given
one horizon drawn with a fixed seed (per station-day-direction, so the 20 hour bands of a day share
it) and therefore an as-of ``date - h``.  The training set stays ~1x the history instead of 7x while
every horizon is represented, and train/serve skew is impossible because serving calls the same
``build_features`` with ``as_of`` set to the issue date.

Ridership-derived features are trailing statistics evaluated at each row's cutoff.  They are computed
with cumulative sums per group plus two backward as-of joins (at ``cutoff`` and at
``cutoff - window``), so the cost is a few sorts and joins over the history and the de-duplicated
(group, cutoff) keys -- no per-row or per-cutoff Python loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

import numpy as np
import polars as pl

from tasks.core.constants import DEFAULT_WEATHER_STATION, MAX_HORIZON, PUBLICATION_LAG_DAYS
from tasks.core.frames import History
from tasks.core.schema import DIRECTIONS, HOUR_BANDS
from tasks.model.calendar import HOLIDAY_KIND, calendar_features
from tasks.model.trailing import YEAR_DAYS, attach, attach_residuals, prepare_history, trailing_stats

PROFILE_WEEKS: Final = 8
"""Length of the long trailing window (the classical baselines' profile)."""
BASE_WEEKS: Final = 3
"""Window of the model's anchor: the 3-week same-kind mean, the strongest simple forecast measured
over 2021-2023 (2 weeks is noisier, 4 and 8 weeks lag the level)."""
WEATHER_MAX_HORIZON: Final = 2
"""Contract 3: a short-range forecast covers the next two days; beyond that no target-day weather."""
WEATHER_FEATURES: Final = ("temp_c", "precip_mm", "humidity_pct", "wind_ms", "snow_cm", "precip_day_mm")
KEYS: Final = ("date", "hour", "station_code", "direction")
TARGET_COLUMNS: Final = (*KEYS, "as_of")

# day_type: 0 weekday, 1 saturday, 2 sunday or public holiday (the operator's own timetable classes)
# day_kind: 0..4 non-holiday Mon..Fri, 5 non-holiday Saturday, 6 Sunday or public holiday -- the
# grouping of the profile: weekdays differ (Monday mornings, Friday nights) but holidays behave
# like Sundays whatever weekday they fall on.
CATEGORICAL_FEATURES: Final = ("station_code", "direction")
NUMERIC_FEATURES: Final = (
    "hour",
    "horizon",
    "dow",
    "day_type",
    "day_kind",
    "is_holiday",
    "is_workers_day",
    "is_lunar",
    "prev_offday",
    "next_offday",
    "offday_run",
    "bridge_day",
    "to_holiday",
    "from_holiday",
    "to_lunar",
    "from_lunar",
    "school_break",
    "summer_break",
    "month",
    "day_of_month",
    "temp_c",
    "precip_mm",
    "humidity_pct",
    "wind_ms",
    "snow_cm",
    "precip_day_mm",
    "log_base",
    "prof_2w",
    "prof_4w",
    "prof_8w",
    "prof_weekday",
    "prof_sunday",
    "last_kind",
    "last_kind_age",
    "prof_std",
    "level_7_28",
    "level_hour_7_28",
    "share_of_day",
    "recent_sd",
    "recent_hour",
    "recent_net",
    "year_sd",
    "year_hour",
    "year_net",
)
"""Profiles enter as log-ratios to the base (``log_base`` = log1p of the 3-week same-kind mean), so a
tree split means "this much above the base" at every station; ``recent_*``/``year_*`` are
log-ratios already (``tasks.model.trailing``)."""
FEATURE_COLUMNS: Final = (*CATEGORICAL_FEATURES, *NUMERIC_FEATURES)


def cutoff_for(as_of: dt.date, lag_days: int = PUBLICATION_LAG_DAYS) -> dt.date:
    """Newest ridership date usable by a forecast issued on ``as_of``."""
    return as_of - dt.timedelta(days=lag_days)


# --------------------------------------------------------------------------------------------------
# targets


def forecast_targets(
    stations: pl.DataFrame | Sequence[int],
    as_of: dt.date,
    start: dt.date | None = None,
    days: int = MAX_HORIZON,
) -> pl.DataFrame:
    """Target rows for a forecast issued on ``as_of``: every station x direction x hour band x day.

    ``start`` defaults to the day after ``as_of``; the horizons ``(date - as_of)`` must stay within
    ``1..MAX_HORIZON`` because that is what the model was trained on.
    """
    start = start or as_of + dt.timedelta(days=1)
    first_h = (start - as_of).days
    if first_h < 1 or first_h + days - 1 > MAX_HORIZON:
        raise ValueError(f"targets {start}+{days}d are outside horizons 1..{MAX_HORIZON} of as_of {as_of}")
    codes = (
        stations.get_column("station_code").unique().sort()
        if isinstance(stations, pl.DataFrame)
        else pl.Series(sorted(set(stations)))
    )
    dates = pl.date_range(start, start + dt.timedelta(days=days - 1), interval="1d", eager=True)
    return (
        pl.DataFrame({"date": dates})
        .join(pl.DataFrame({"hour": pl.Series(HOUR_BANDS, dtype=pl.Int16)}), how="cross")
        .join(pl.DataFrame({"station_code": codes.cast(pl.Int32)}), how="cross")
        .join(pl.DataFrame({"direction": list(DIRECTIONS)}), how="cross")
        .with_columns(as_of=pl.lit(as_of, dtype=pl.Date))
        .select(TARGET_COLUMNS)
    )


def training_targets(
    ridership: pl.DataFrame,
    first_date: dt.date,
    last_date: dt.date,
    *,
    seed: int = 0,
    max_horizon: int = MAX_HORIZON,
) -> pl.DataFrame:
    """Observed rows dated ``[first_date, last_date]`` as targets, with their label ``y``.

    Each station-day-direction draws one horizon ``h`` in ``1..max_horizon`` (numpy RNG seeded with
    ``seed`` over the sorted keys, so it is reproducible across polars versions) and gets
    ``as_of = date - h``.  One horizon per row keeps the training set the size of the history; all 20
    hour bands of a day share it so a day's features are consistent.
    """
    rows = ridership.filter(pl.col("date").is_between(first_date, last_date)).select(
        pl.col("date"),
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        pl.col("direction"),
        pl.col("count").cast(pl.Float64).alias("y"),
    )
    days = rows.select("date", "station_code", "direction").unique().sort("date", "station_code", "direction")
    rng = np.random.default_rng(seed)
    days = days.with_columns(_h=pl.Series(rng.integers(1, max_horizon + 1, days.height), dtype=pl.Int32))
    return (
        rows.join(days, on=["date", "station_code", "direction"], how="left")
        .with_columns(as_of=pl.col("date") - pl.duration(days=pl.col("_h")))
        .sort(KEYS)
        .select(*TARGET_COLUMNS, "y")
    )


# --------------------------------------------------------------------------------------------------
# weather


def weather_features(
    weather: pl.DataFrame, station_id: int | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Hourly weather keyed by (date, hour band) and a daily summary keyed by date.

    Band ``h`` is matched with the observation starting at ``date + h hours``: band 5 ("before
    06:00", almost all of it 05-06h) uses 05:00 and band 24 ("after midnight") uses 00:00 of the next
    day.  Missing precipitation/snow mean "none" in KMA files, so they become 0.
    """
    if station_id is None and weather.height and weather["station_id"].n_unique() > 1:
        station_id = DEFAULT_WEATHER_STATION
    w = weather if station_id is None else weather.filter(pl.col("station_id") == station_id)
    w = w.select(
        pl.col("ts").cast(pl.Datetime("us")),
        pl.col("temp_c").cast(pl.Float64),
        pl.col("precip_mm").cast(pl.Float64).fill_null(0.0),
        pl.col("humidity_pct").cast(pl.Float64),
        pl.col("wind_ms").cast(pl.Float64),
        pl.col("snow_cm").cast(pl.Float64).fill_null(0.0),
    ).unique("ts", keep="last")
    daily = (
        w.group_by(pl.col("ts").dt.date().alias("date"))
        .agg(precip_day_mm=pl.col("precip_mm").sum())
        .sort("date")
    )
    return w, daily


# --------------------------------------------------------------------------------------------------
# the feature frame


def _needed(ridership: pl.DataFrame, tgt: pl.DataFrame) -> pl.DataFrame:
    """The ridership the features of ``tgt`` can read: the profile windows before the cutoffs and the
    year-ago windows (one year of history is not read twice over when serving a week)."""
    c0: dt.date = tgt["_cutoff"].min()  # type: ignore[assignment]
    c1: dt.date = tgt["_cutoff"].max()  # type: ignore[assignment]
    d0: dt.date = tgt["date"].min()  # type: ignore[assignment]
    d1: dt.date = tgt["date"].max()  # type: ignore[assignment]
    recent = c0 - dt.timedelta(days=7 * (PROFILE_WEEKS + 1))
    year = (d0 - dt.timedelta(days=YEAR_DAYS + 7 * (BASE_WEEKS + 1)), d1 - dt.timedelta(days=YEAR_DAYS))
    date = pl.col("date")
    return ridership.filter(date.is_between(recent, c1) | date.is_between(*year))


def build_features(
    ridership: pl.DataFrame,
    weather: pl.DataFrame,
    targets: pl.DataFrame,
    *,
    lag_days: int = PUBLICATION_LAG_DAYS,
    weather_station_id: int | None = None,
    weather_horizon: int = WEATHER_MAX_HORIZON,
) -> pl.DataFrame:
    """Feature rows for ``targets`` (columns ``date, hour, station_code, direction, as_of``).

    Returns the target columns (plus any extra columns of ``targets``, e.g. a label ``y``), ``base``
    (the anchor of the model's target, in riders) and ``FEATURE_COLUMNS``, in the order of
    ``targets``.  Each row's ridership features read only history dated ``<= as_of - lag_days``;
    ``tests/model/test_features.py`` proves it by poisoning.

    ``base`` is the 3-week same-kind mean (``BASE_WEEKS``; past holidays left out, holiday targets
    from the Sunday profile) -- the strongest simple forecast (issue 10), falling back to longer
    windows and then to the newest same-kind value.  The other profiles (2/4/8 weeks, the weekday
    and Sunday shapes, the newest same-kind value) are log-ratios to it, so the model learns how
    to correct the base, not the level of each station.  ``level_7_28`` (station-direction daily
    totals) and ``level_hour_7_28`` compare the last week of working days with the last four;
    ``share_of_day`` is the hour's share of the daily total (office vs. residential shapes);
    ``recent_*``/``year_*``: see ``tasks.model.trailing``.
    Weather (Contract 3): the target hour's observation and the day's precipitation stand in for a
    short-range forecast only for horizons ``<= weather_horizon``; later horizons get none (null),
    in training and at serving alike.  ``weather_horizon=MAX_HORIZON`` is the flattering variant
    the accuracy bench reports once.
    """
    if targets.is_empty():
        raise ValueError("no targets")
    tgt = targets.with_columns(
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        pl.col("direction").cast(pl.String),
        pl.col("date").cast(pl.Date),
        pl.col("as_of").cast(pl.Date),
    ).with_row_index("_row")
    tgt = tgt.with_columns(
        _cutoff=pl.col("as_of") - pl.duration(days=lag_days),
        horizon=(pl.col("date") - pl.col("as_of")).dt.total_days().cast(pl.Int16),
    )
    max_cutoff: dt.date = tgt["_cutoff"].max()  # type: ignore[assignment]
    hist = prepare_history(_needed(ridership, tgt), max_date=max_cutoff)

    cal = calendar_features(tgt["date"].min(), tgt["date"].max())  # type: ignore[arg-type]
    f = tgt.join(cal, on="date", how="left")

    grp = ["station_code", "direction", "hour"]
    kind = [*grp, "day_kind"]
    f = attach(
        f,
        hist,
        kind,
        7 * BASE_WEEKS,
        "pk3",
        ["pk3", "pk3_std", "pk3_last", "pk3_last_date", "pk3_14d", "pk3_28d", "pk3_56d"],
        more_windows=(14, 28, 56),
    ).rename({"pk3_14d": "pk2", "pk3_28d": "pk4", "pk3_56d": "pk8"})
    f = attach(f, hist.filter(pl.col("day_type") == 0), grp, 7 * BASE_WEEKS, "pw", ["pw"])
    f = attach(f, hist.filter(pl.col("day_type") == 2), grp, 7 * BASE_WEEKS, "ps", ["ps"])
    # recent level on working days only: holidays and weekends in the last week would otherwise read
    # as a slump (and a long weekend just before the cutoff as a reason to expect a rebound)
    work = hist.filter(pl.col("day_type") == 0)
    f = attach(f, work, grp, 7, "h7", ["h7", "h7_28d"], more_windows=(28,)).rename({"h7_28d": "h28"})
    daily = work.group_by("station_code", "direction", "date").agg(pl.col("count").sum())
    sd = ["station_code", "direction"]
    f = attach(f, daily, sd, 7, "d7", ["d7", "d7_28d"], more_windows=(28,)).rename({"d7_28d": "d28"})
    kind_daily = hist.group_by("station_code", "direction", "date", "day_kind").agg(pl.col("count").sum())
    f = attach(f, kind_daily, [*sd, "day_kind"], 7 * BASE_WEEKS, "dk", ["dk"])
    f = attach_residuals(f, hist)

    base = pl.coalesce("pk3", "pk4", "pk8", "pk3_last", pl.lit(0.0)).clip(lower_bound=0.0)
    f = f.with_columns(base=base).with_columns(log_base=pl.col("base").log1p())

    def rel(col: str) -> pl.Expr:
        return pl.col(col).log1p() - pl.col("log_base")

    f = f.with_columns(
        prof_2w=rel("pk2"),
        prof_4w=rel("pk4"),
        prof_8w=rel("pk8"),
        prof_weekday=rel("pw"),
        prof_sunday=rel("ps"),
        last_kind=rel("pk3_last"),
        last_kind_age=(pl.col("date") - pl.col("pk3_last_date")).dt.total_days().cast(pl.Float64),
        prof_std=pl.col("pk3_std") / (pl.col("base") + 1.0),
        level_7_28=pl.col("d7") / pl.col("d28"),
        level_hour_7_28=pl.col("h7") / pl.col("h28"),
        share_of_day=pl.col("pk3") / pl.col("dk"),
    )

    hourly_w, daily_w = weather_features(weather, weather_station_id)
    f = (
        f.with_columns(_ts=pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("hour")))
        .join(hourly_w.rename({"ts": "_ts"}), on="_ts", how="left")
        .join(daily_w, on="date", how="left")
    )
    forecastable = pl.col("horizon") <= weather_horizon
    f = f.with_columns(pl.when(forecastable).then(pl.col(c)).alias(c) for c in WEATHER_FEATURES)
    f = f.with_columns(
        pl.col(c).cast(pl.Float64)
        for c in NUMERIC_FEATURES
        if c not in ("hour", "horizon", "dow", "day_type", "day_kind")
    )
    extra = [c for c in targets.columns if c not in TARGET_COLUMNS]
    rest = [c for c in FEATURE_COLUMNS if c not in TARGET_COLUMNS]
    return f.sort("_row").select(*TARGET_COLUMNS, *extra, "base", *rest)


__all__ = [
    "FEATURE_COLUMNS",
    "HOLIDAY_KIND",
    "KEYS",
    "MAX_HORIZON",
    "PUBLICATION_LAG_DAYS",
    "TARGET_COLUMNS",
    "History",
    "build_features",
    "calendar_features",
    "cutoff_for",
    "forecast_targets",
    "prepare_history",
    "trailing_stats",
    "training_targets",
    "weather_features",
]
