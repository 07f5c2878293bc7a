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
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import holidays
import numpy as np
import polars as pl

from tasks.warehouse.schema import DIRECTIONS, HOUR_BANDS, single_hour_bands

PUBLICATION_LAG_DAYS: Final = 3
"""Days between a service date and the day its ridership is published (the feeds' lag)."""
MAX_HORIZON: Final = 7
PROFILE_WEEKS: Final = 8
"""Length of the trailing window of the station profile: long enough to average out noise (8 values
per weekday), short enough to follow seasonal drift over a half-year of data."""
DEFAULT_WEATHER_STATION: Final = 108  # KMA ASOS Seoul
HOLIDAY_KIND: Final = 7
"""``day_kind`` of past holidays in the history: excluded from every same-kind profile."""
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
    "prev_offday",
    "next_offday",
    "offday_run",
    "bridge_day",
    "school_break",
    "term_shift",
    "temp_c",
    "precip_mm",
    "humidity_pct",
    "wind_ms",
    "snow_cm",
    "precip_day_mm",
    "prof_kind",
    "prof_kind_std",
    "prof_kind_4w",
    "prof_type",
    "prof_weekday",
    "prof_sunday",
    "last_kind",
    "last_kind_age",
    "lag7",
    "lag14",
    "level_7_28",
    "level_hour_7_28",
    "share_of_day",
)
FEATURE_COLUMNS: Final = (*CATEGORICAL_FEATURES, *NUMERIC_FEATURES)


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


def cutoff_for(as_of: dt.date, lag_days: int = PUBLICATION_LAG_DAYS) -> dt.date:
    """Newest ridership date usable by a forecast issued on ``as_of``."""
    return as_of - dt.timedelta(days=lag_days)


# --------------------------------------------------------------------------------------------------
# calendar


@lru_cache(maxsize=8)
def _korean_holidays(years: tuple[int, ...]) -> tuple[dict[dt.date, str], frozenset[dt.date]]:
    public = holidays.country_holidays("KR", years=years, language="en_US")
    # Workers' Day (May 1) is a paid day off for most private employees but not a public holiday,
    # so the library lists it in the "bank" category; commuting drops noticeably that day.
    bank = holidays.country_holidays("KR", years=years, categories=("bank",), language="en_US")
    return dict(public.items()), frozenset(bank.keys())


def calendar_features(start: dt.date, end: dt.date) -> pl.DataFrame:
    """One row per date in ``[start, end]`` with the calendar features.

    Public and substitute holidays come from ``holidays`` (``KR``).  ``prev_offday``/``next_offday``
    flag the day after/before a day off (Friday-evening and holiday-eve travel peaks), ``offday_run``
    is the length of the block of consecutive days off a date belongs to (0 on working days; long
    Seollal/Chuseok breaks empty the city more than a single Sunday) and ``bridge_day`` marks a
    working day squeezed between two days off (many take it off).
    ``school_break`` marks the winter break of schools and universities, December 21 to the end of
    February: the Korean school year starts on March 1 by law, so the end is fixed nationwide (the
    start varies by a few days; universities end the fall term around December 20).
    The return of students in March lifts ridership by several percent in a week; without the flag
    the model attributes that jump to whatever else grew in March (temperature, ...) and carries a
    bias into spring.  The summer breaks are not flagged: they vary by school and the data
    (January-June) holds none to learn from.
    """
    pad = dt.timedelta(days=14)  # run lengths need neighbours outside the requested range
    lo, hi = start - pad, end + pad
    years = tuple(range(lo.year, hi.year + 1))
    public, workers = _korean_holidays(years)
    dates = pl.date_range(lo, hi, interval="1d", eager=True).alias("date")
    frame = pl.DataFrame(dates).with_columns(
        dow=pl.col("date").dt.weekday().cast(pl.Int8) - 1,  # 0 = Monday
        is_holiday=pl.col("date").is_in(list(public)).cast(pl.Int8),
        is_workers_day=pl.col("date").is_in(list(workers)).cast(pl.Int8),
        school_break=(
            (pl.col("date").dt.month() <= 2)
            | ((pl.col("date").dt.month() == 12) & (pl.col("date").dt.day() > 20))
        ).cast(pl.Int8),
    )
    frame = frame.with_columns(
        offday=((pl.col("dow") >= 5) | (pl.col("is_holiday") == 1)).cast(pl.Int8),
    ).with_columns(
        day_type=pl.when(pl.col("dow") == 6)
        .then(2)
        .when(pl.col("is_holiday") == 1)
        .then(2)
        .when(pl.col("dow") == 5)
        .then(1)
        .otherwise(0)
        .cast(pl.Int8),
        prev_offday=pl.col("offday").shift(1).fill_null(0),
        next_offday=pl.col("offday").shift(-1).fill_null(0),
        # consecutive-run id: changes whenever offday flips
        _run=(pl.col("offday") != pl.col("offday").shift(1)).fill_null(True).cum_sum(),
    )
    frame = frame.with_columns(
        day_kind=pl.when(pl.col("day_type") == 2)
        .then(6)
        .when(pl.col("day_type") == 1)
        .then(5)
        .otherwise(pl.col("dow"))
        .cast(pl.Int8),
        offday_run=(pl.len().over("_run") * pl.col("offday")).cast(pl.Int8),
        bridge_day=(
            (pl.col("offday") == 0) & (pl.col("prev_offday") == 1) & (pl.col("next_offday") == 1)
        ).cast(pl.Int8),
    )
    return frame.filter(pl.col("date").is_between(start, end)).drop("_run", "offday")


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
# history statistics


def trailing_stats(
    hist: pl.DataFrame,
    keys: pl.DataFrame,
    by: list[str],
    window_days: int,
    prefix: str,
    *,
    value: str = "count",
) -> pl.DataFrame:
    """Mean/std/count of ``value`` over history dates in ``(cutoff - window_days, cutoff]`` per group.

    ``hist`` has one row per (``by``, date); ``keys`` has the distinct (``by``, ``_cutoff``) to
    evaluate.  Also returns the most recent value at or before the cutoff (``{prefix}_last``) and its
    date (``{prefix}_last_date``).  The backward as-of join on ``_cutoff`` is what enforces "only rows
    dated <= cutoff"; the second join at ``cutoff - window`` removes the older part of the cumsum.
    """
    cum = (
        hist.sort([*by, "date"])
        .with_columns(
            _s=pl.col(value).cast(pl.Float64).cum_sum().over(by),
            _q=pl.col(value).cast(pl.Float64).pow(2).cum_sum().over(by),
            _n=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(by),
        )
        .select(*by, "date", "_s", "_q", "_n", pl.col(value).cast(pl.Float64).alias("_v"))
        .sort("date")
    )
    k = keys.with_columns(_lo=pl.col("_cutoff") - pl.duration(days=window_days))
    up = k.sort("_cutoff").join_asof(
        cum.rename({"date": "_d1"}),
        left_on="_cutoff",
        right_on="_d1",
        by=by,
        strategy="backward",
        check_sortedness=False,
    )
    down = k.sort("_lo").join_asof(
        cum.select(*by, pl.col("date").alias("_d0"), _s0="_s", _q0="_q", _n0="_n"),
        left_on="_lo",
        right_on="_d0",
        by=by,
        strategy="backward",
        check_sortedness=False,
    )
    both = up.join(
        down.select(*by, "_cutoff", "_s0", "_q0", "_n0"), on=[*by, "_cutoff"], how="left", nulls_equal=True
    )
    n = pl.col("_n").fill_null(0) - pl.col("_n0").fill_null(0)
    s = pl.col("_s").fill_null(0.0) - pl.col("_s0").fill_null(0.0)
    q = pl.col("_q").fill_null(0.0) - pl.col("_q0").fill_null(0.0)
    mean = pl.when(n > 0).then(s / n)
    return both.select(
        *by,
        "_cutoff",
        mean.alias(f"{prefix}"),
        pl.when(n > 1).then((q / n - (s / n).pow(2)).clip(lower_bound=0.0).sqrt()).alias(f"{prefix}_std"),
        n.cast(pl.Float64).alias(f"{prefix}_n"),
        pl.col("_v").alias(f"{prefix}_last"),
        pl.col("_d1").alias(f"{prefix}_last_date"),
    )


def _attach(
    frame: pl.DataFrame,
    hist: pl.DataFrame,
    by: list[str],
    window_days: int,
    prefix: str,
    keep: Sequence[str],
    *,
    value: str = "count",
) -> pl.DataFrame:
    """Evaluate ``trailing_stats`` on ``frame``'s distinct (by, cutoff) keys and join the ``keep`` columns."""
    keys = frame.select(*by, "_cutoff").unique()
    stats = trailing_stats(hist, keys, by, window_days, prefix, value=value)
    return frame.join(stats.select(*by, "_cutoff", *keep), on=[*by, "_cutoff"], how="left")


def prepare_history(ridership: pl.DataFrame, max_date: dt.date | None = None) -> pl.DataFrame:
    """The ridership columns the features need, typed, with calendar classes of each history date.

    In history, public holidays and Workers' Day get their own ``day_kind`` (``HOLIDAY_KIND``), so
    no profile averages them: a holiday *target* is forecast from the Sunday profile (its
    ``day_kind`` is 6), but past holidays -- busier than Sundays, emptier than weekdays -- would
    inflate the Sunday profile (measured: +1-2 % WAPE on Sundays after a holiday) or deflate a
    weekday's.  ``max_date`` drops everything newer -- a global guard on top of the per-row cutoffs.
    Merged late-band rows (``span_hours`` 2, 2020-2022) are left out: ``single_hour_bands``.
    """
    hist = single_hour_bands(ridership).select(
        pl.col("date"),
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        pl.col("direction").cast(pl.String),
        pl.col("count").cast(pl.Float64),
    )
    if max_date is not None:
        hist = hist.filter(pl.col("date") <= max_date)
    if hist.is_empty():
        return hist.with_columns(
            dow=pl.lit(0, pl.Int8), day_type=pl.lit(0, pl.Int8), day_kind=pl.lit(0, pl.Int8)
        )
    cal = calendar_features(hist["date"].min(), hist["date"].max())  # type: ignore[arg-type]
    special = (pl.col("is_holiday") == 1) | (pl.col("is_workers_day") == 1)
    cal = cal.select(
        "date",
        "dow",
        "day_type",
        pl.when(special).then(HOLIDAY_KIND).otherwise(pl.col("day_kind")).cast(pl.Int8).alias("day_kind"),
    )
    return hist.join(cal, on="date", how="left")


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


def build_features(
    ridership: pl.DataFrame,
    weather: pl.DataFrame,
    targets: pl.DataFrame,
    *,
    lag_days: int = PUBLICATION_LAG_DAYS,
    profile_weeks: int = PROFILE_WEEKS,
    weather_station_id: int | None = None,
) -> pl.DataFrame:
    """Feature rows for ``targets`` (columns ``date, hour, station_code, direction, as_of``).

    Returns the target columns (plus any extra columns of ``targets``, e.g. a label ``y``) and
    ``FEATURE_COLUMNS``, in the order of ``targets``.  Each row's ridership features read only
    history dated ``<= as_of - lag_days``; ``tests/test_features.py`` proves it by poisoning.

    Profile features (``prof_*``): trailing ``profile_weeks`` means of the same station, direction,
    hour and day class (``prof_kind`` by day_kind, ``prof_type`` by day_type, ``prof_weekday`` /
    ``prof_sunday`` the working-day / day-off shapes whatever the target is, so the model can mix
    them on odd days).  ``last_kind`` is the newest same-kind value and its age; ``lag7``/``lag14``
    are the same weekday one/two weeks back, null unless published by the cutoff (lag 7 is known
    only for h <= 7 - lag).  ``level_7_28`` (station-direction daily totals) and
    ``level_hour_7_28`` (same hour) compare the last week with the last four, on working days only
    (a long weekend just before the cutoff is not a slump); ``share_of_day`` is the hour's share of
    the daily total in the profile (a station's shape, e.g. office vs. residential).
    ``school_break``/``term_shift``: see ``calendar_features``; ``term_shift`` is the share of break
    days in the profile window minus the target's own flag.
    Weather: the target hour's observation (band 24 = 00:00 next day) and the day's precipitation.
    Deliberately absent: day-of-year, daily mean temperature and profile sample counts -- with one
    half-year of data they act as clocks and let the model replay the Feb/Mar trend into June.
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
    min_cutoff: dt.date = tgt["_cutoff"].min()  # type: ignore[assignment]
    hist = prepare_history(ridership, max_date=max_cutoff)

    cal = calendar_features(tgt["date"].min(), tgt["date"].max())  # type: ignore[arg-type]
    f = tgt.join(cal, on="date", how="left")

    window = 7 * profile_weeks
    grp = ["station_code", "direction", "hour"]
    f = _attach(f, hist, [*grp, "day_kind"], window, "pk", ["pk", "pk_std", "pk_last", "pk_last_date"])
    f = _attach(f, hist, [*grp, "day_kind"], 28, "pk4", ["pk4"])
    f = _attach(f, hist, [*grp, "day_type"], window, "pt", ["pt"])
    f = _attach(f, hist.filter(pl.col("day_type") == 0), grp, window, "pw", ["pw"])
    f = _attach(f, hist.filter(pl.col("day_type") == 2), grp, window, "ps", ["ps"])
    # recent level on working days only: holidays and weekends in the last week would otherwise read
    # as a slump (and a long weekend just before the cutoff as a reason to expect a rebound)
    work = hist.filter(pl.col("day_type") == 0)
    f = _attach(f, work, grp, 7, "h7", ["h7"])
    f = _attach(f, work, grp, 28, "h28", ["h28"])
    daily = work.group_by("station_code", "direction", "date").agg(pl.col("count").sum())
    sd = ["station_code", "direction"]
    f = _attach(f, daily, sd, 7, "d7", ["d7"])
    f = _attach(f, daily, sd, 28, "d28", ["d28"])
    kind_daily = hist.group_by("station_code", "direction", "date", "day_kind").agg(pl.col("count").sum())
    f = _attach(f, kind_daily, [*sd, "day_kind"], window, "dk", ["dk"])

    # share of school-break days in the profile window vs. the target day: > 0 when the profile
    # still averages break weeks but the target is in term (the March jump)
    cal_hist = calendar_features(min_cutoff - dt.timedelta(days=window), max_cutoff).select(
        "date", pl.lit(0, pl.Int8).alias("_one"), "school_break"
    )
    f = _attach(
        f.with_columns(_one=pl.lit(0, pl.Int8)),
        cal_hist,
        ["_one"],
        window,
        "sb",
        ["sb"],
        value="school_break",
    )
    f = f.with_columns(term_shift=pl.col("sb") - pl.col("school_break").cast(pl.Float64))

    lag_src = hist.select("date", "hour", "station_code", "direction", "count")
    for k in (7, 14):
        f = f.with_columns(_ld=pl.col("date") - pl.duration(days=k)).join(
            lag_src.rename({"date": "_ld", "count": f"lag{k}"}),
            on=["_ld", "hour", "station_code", "direction"],
            how="left",
        )
        f = f.with_columns(
            pl.when(pl.col("_ld") <= pl.col("_cutoff")).then(pl.col(f"lag{k}")).alias(f"lag{k}")
        )

    f = f.with_columns(
        last_kind_age=(pl.col("date") - pl.col("pk_last_date")).dt.total_days().cast(pl.Float64),
        level_7_28=pl.col("d7") / pl.col("d28"),
        level_hour_7_28=pl.col("h7") / pl.col("h28"),
        share_of_day=pl.col("pk") / pl.col("dk"),
    ).rename({"pk": "prof_kind", "pk_std": "prof_kind_std", "pk_last": "last_kind"})
    f = f.rename({"pk4": "prof_kind_4w", "pt": "prof_type", "pw": "prof_weekday", "ps": "prof_sunday"})

    hourly_w, daily_w = weather_features(weather, weather_station_id)
    f = (
        f.with_columns(_ts=pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("hour")))
        .join(hourly_w.rename({"ts": "_ts"}), on="_ts", how="left")
        .join(daily_w, on="date", how="left")
    )
    f = f.with_columns(
        pl.col(c).cast(pl.Float64)
        for c in NUMERIC_FEATURES
        if c not in ("hour", "horizon", "dow", "day_type", "day_kind")
    )
    extra = [c for c in targets.columns if c not in TARGET_COLUMNS]
    rest = [c for c in FEATURE_COLUMNS if c not in TARGET_COLUMNS]
    return f.sort("_row").select(*TARGET_COLUMNS, *extra, *rest)
