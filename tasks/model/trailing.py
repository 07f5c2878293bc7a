"""Trailing statistics of the ridership at each target row's cutoff, and the profile residuals.

Why a module of its own: every ridership-derived number the model or a baseline reads goes through
``trailing_stats``, whose backward as-of join is what enforces "only rows dated <= cutoff"; keeping
it, the history preparation and the residual features in one place keeps that guarantee in one place.

Residual features (``attach_residuals``): how the newest published days compared with the profile
that would have forecast them.  For every history day ``x`` the *one-step profile* ``q`` is the
same-kind mean of the ``RESIDUAL_WEEKS`` weeks before ``x``; ``recent_*`` are ``sum y / sum q`` over
the ``RECENT_DAYS`` days up to the row's cutoff -- per station-direction, per station-direction-hour
and network-wide -- so a level shift (a COVID wave, the March return of students, the summer lull)
is seen days before it reaches a 3-week mean.  ``year_*`` are the same ratio on the day 52 weeks
before the target (same weekday): what the calendar did to ridership relative to its recent
profile a year ago (vacations, Chuseok weeks), a ratio, so the year's level (COVID -30 %) cancels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

import polars as pl

from tasks.core.schema import single_hour_bands
from tasks.model.calendar import HOLIDAY_KIND, calendar_features

RESIDUAL_WEEKS: Final = 3
RECENT_DAYS: Final = 7
YEAR_DAYS: Final = 364
SMOOTH_DAILY: Final = 50.0
"""Riders added to both sums of a station-direction ratio so a quiet station's ratio stays near 1."""
SMOOTH_HOURLY: Final = 20.0
GRP: Final = ["station_code", "direction", "hour"]
SD: Final = ["station_code", "direction"]


def by_date(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in date order (sorted only if it is not): per-group running sums and rolling windows
    (``.over(group)``) need each group's rows in date order, nothing more, and a date-sorted frame
    (prepared histories are) gives it -- sorting by every group key first cost 3-10x the windows."""
    return frame if frame.get_column("date").is_sorted() else frame.sort("date")


def trailing_stats(
    hist: pl.DataFrame,
    keys: pl.DataFrame,
    by: list[str],
    window_days: int,
    prefix: str,
    *,
    value: str = "count",
    more_windows: Sequence[int] = (),
) -> pl.DataFrame:
    """Mean/std/count of ``value`` over history dates in ``(cutoff - window_days, cutoff]`` per group.

    ``hist`` has one row per (``by``, date); ``keys`` has the distinct (``by``, ``_cutoff``) to
    evaluate.  Also returns the most recent value at or before the cutoff (``{prefix}_last``) and its
    date (``{prefix}_last_date``), and the mean over each of ``more_windows`` (``{prefix}_{days}d``).
    The backward as-of join on ``_cutoff`` is what enforces "only rows dated <= cutoff"; the joins
    at ``cutoff - window`` remove the older part of the cumulative sums, which are computed once
    for all windows.
    """
    cum = (
        by_date(hist)
        .with_columns(
            _s=pl.col(value).cast(pl.Float64).cum_sum().over(by),
            _q=pl.col(value).cast(pl.Float64).pow(2).cum_sum().over(by),
            _n=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(by),
        )
        .select(*by, "date", "_s", "_q", "_n", pl.col(value).cast(pl.Float64).alias("_v"))
    )
    up = keys.sort("_cutoff").join_asof(
        cum.rename({"date": "_d1"}),
        left_on="_cutoff",
        right_on="_d1",
        by=by,
        strategy="backward",
        check_sortedness=False,
    )
    out = up.select(
        *by, "_cutoff", pl.col("_v").alias(f"{prefix}_last"), pl.col("_d1").alias(f"{prefix}_last_date")
    )
    for i, days in enumerate((window_days, *more_windows)):
        k = keys.with_columns(_lo=pl.col("_cutoff") - pl.duration(days=days))
        down = k.sort("_lo").join_asof(
            cum.select(*by, pl.col("date").alias("_d0"), _s0="_s", _q0="_q", _n0="_n"),
            left_on="_lo",
            right_on="_d0",
            by=by,
            strategy="backward",
            check_sortedness=False,
        )
        both = up.join(
            down.select(*by, "_cutoff", "_s0", "_q0", "_n0"),
            on=[*by, "_cutoff"],
            how="left",
            nulls_equal=True,
        )
        n = pl.col("_n").fill_null(0) - pl.col("_n0").fill_null(0)
        s = pl.col("_s").fill_null(0.0) - pl.col("_s0").fill_null(0.0)
        q = pl.col("_q").fill_null(0.0) - pl.col("_q0").fill_null(0.0)
        mean = pl.when(n > 0).then(s / n)
        if i == 0:
            cols = [
                mean.alias(prefix),
                pl.when(n > 1)
                .then((q / n - (s / n).pow(2)).clip(lower_bound=0.0).sqrt())
                .alias(f"{prefix}_std"),
                n.cast(pl.Float64).alias(f"{prefix}_n"),
            ]
        else:
            cols = [mean.alias(f"{prefix}_{days}d")]
        out = out.join(both.select(*by, "_cutoff", *cols), on=[*by, "_cutoff"], how="left", nulls_equal=True)
    return out.select(
        *by,
        "_cutoff",
        prefix,
        f"{prefix}_std",
        f"{prefix}_n",
        f"{prefix}_last",
        f"{prefix}_last_date",
        *(f"{prefix}_{d}d" for d in more_windows),
    )


def attach(
    frame: pl.DataFrame,
    hist: pl.DataFrame,
    by: list[str],
    window_days: int,
    prefix: str,
    keep: Sequence[str],
    *,
    value: str = "count",
    more_windows: Sequence[int] = (),
) -> pl.DataFrame:
    """Evaluate ``trailing_stats`` on ``frame``'s distinct (by, cutoff) keys and join the ``keep`` columns."""
    keys = frame.select(*by, "_cutoff").unique()
    stats = trailing_stats(hist, keys, by, window_days, prefix, value=value, more_windows=more_windows)
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


def residual_table(hist: pl.DataFrame, days: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per history row of a non-holiday day (of ``days``' ``date`` column, default all): ``y`` and its
    one-step profile ``q`` (rows without a profile dropped).  ``hist`` is ``prepare_history`` output.

    ``q`` is a rolling mean over the group's own dates in ``[x - 21, x)`` -- the same window as
    ``trailing_stats`` at cutoff ``x - 1``, in one sorted pass instead of an as-of join per row.
    """
    by = [*GRP, "day_kind"]
    window = f"{7 * RESIDUAL_WEEKS}d"
    rows = by_date(hist.filter(pl.col("day_kind") != HOLIDAY_KIND)).with_columns(
        q=pl.col("count").cast(pl.Float64).rolling_mean_by("date", window_size=window, closed="left").over(by)
    )
    if days is not None:
        rows = rows.join(days.select("date").unique(), on="date", how="semi")
    return rows.filter(pl.col("q").is_not_null()).select(*GRP, "date", pl.col("count").alias("y"), "q")


def _ratio(num: str, den: str, smooth: float) -> pl.Expr:
    return ((pl.col(num) + smooth) / (pl.col(den) + smooth)).log()


def attach_residuals(frame: pl.DataFrame, hist: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (rows with ``GRP``, ``date`` and ``_cutoff``) with the ``recent_*`` and ``year_*``
    log-ratios (see the module docstring); null where the history has nothing."""
    cutoffs = frame.select(pl.col("_cutoff").unique())
    needed = pl.concat(
        [
            *(
                cutoffs.select((pl.col("_cutoff") - pl.duration(days=k)).alias("date"))
                for k in range(RECENT_DAYS)
            ),
            frame.select((pl.col("date") - pl.duration(days=YEAR_DAYS)).unique()),
        ]
    )
    res = residual_table(hist, needed)
    daily = res.group_by(*SD, "date").agg(pl.col("y").sum(), pl.col("q").sum())
    network = (
        res.group_by("date").agg(pl.col("y").sum(), pl.col("q").sum()).with_columns(_all=pl.lit(0, pl.Int8))
    )
    by_hour = res.group_by("hour", "date").agg(pl.col("y").sum(), pl.col("q").sum())
    f = frame.with_columns(_all=pl.lit(0, pl.Int8))
    out_cols = []
    for name, table, by, smooth in (
        ("recent_sd", daily, SD, SMOOTH_DAILY),
        ("recent_hour", res, GRP, SMOOTH_HOURLY),
        ("recent_net", network, ["_all"], 0.0),
    ):
        f = attach(f, table, by, RECENT_DAYS, "_y", ["_y"], value="y")
        f = attach(f, table, by, RECENT_DAYS, "_q", ["_q"], value="q")
        n = RECENT_DAYS  # sums = means * days with data; the day counts of y and q are equal
        f = f.with_columns(_ratio("_y", "_q", smooth / n).alias(name)).drop("_y", "_q")
        out_cols.append(name)
    year = pl.col("date") - pl.duration(days=YEAR_DAYS)
    for name, table, by, smooth in (
        ("year_sd", daily, SD, SMOOTH_DAILY),
        ("year_hour", by_hour, ["hour"], 0.0),
        ("year_net", network.drop("_all"), [], 0.0),
    ):
        day = table.select(*by, pl.col("date").alias("_yd"), _ratio("y", "q", smooth).alias(name))
        f = f.with_columns(_yd=year).join(day, on=[*by, "_yd"], how="left").drop("_yd")
        out_cols.append(name)
    return f.drop("_all")
