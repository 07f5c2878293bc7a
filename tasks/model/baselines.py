"""Simple forecasts a skeptic would pick, behind the same forecaster protocol as the model.

All of them see exactly what the model sees -- ridership dated ``<= as_of - PUBLICATION_LAG_DAYS``
-- and answer the same target frames, so ``tasks.model.evaluate`` scores every one with one code path and
"the best baseline" is the minimum over ``baselines()`` on the window being judged (never a
hand-picked name: ``tasks.ops.registry``/the gate and ``bench/accuracy.py`` both take the minimum).

* ``SeasonalNaive``: the same hour and weekday in the newest week published at the cutoff.
* ``ProfileMean(weeks=N)``: the trailing N-week mean of the same station, direction, hour and day
  kind.  ``holiday_aware=False`` (``profile_weekday``, the classical one) groups by plain weekday,
  holidays included; otherwise (``profile_{N}w``; ``profile_holiday`` for 8 weeks) past public
  holidays are left out of the history and a holiday target is forecast from the Sunday profile.
  The interval is mean +- 1.2816 sd (the normal 80 % band).  Issue 10 measured the 3-week one as
  the forecast to beat; 2 and 4 weeks are reported too (recency vs noise).
* ``HolidayProfile(N)``: ``profile_{N}w`` but a holiday target is the Sunday profile times how
  holidays of the past year compared with their own Sunday profile (per station, direction, hour):
  holidays are busier than Sundays at some stations (shopping, parks) and emptier at others.
* ``LastYear``: the same weekday 52 weeks earlier (or 51/53 weeks when that day was a holiday and
  the target is not) scaled by the recent level: working-day totals of the 4 weeks before the
  cutoff over the same 4 weeks a year earlier, per station and direction.  Falls back to
  ``profile_4w`` where the year-old value or level is missing (less than a year of history, the
  2020-2022 late band).  No interval.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Self

import polars as pl

from tasks.model.features import (
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
RECENT_WEEKS: Final = (2, 3, 4)
"""The trailing windows of the recent-profile baselines (issue 10)."""
LEVEL_DAYS: Final = 28
YEAR_DAYS: Final = 364  # 52 weeks: same weekday
HOLIDAY_FACTOR_BOUNDS: Final = (0.2, 5.0)
SUNDAY_KIND: Final = 6


def _targets(targets: pl.DataFrame, lag_days: int) -> pl.DataFrame:
    return targets.select(
        pl.col("date").cast(pl.Date),
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        pl.col("direction").cast(pl.String),
        pl.col("as_of").cast(pl.Date),
    ).with_columns(_cutoff=pl.col("as_of") - pl.duration(days=lag_days))


def _source(history: History, t: pl.DataFrame, lookback_days: int) -> pl.DataFrame:
    """Prepared history between the oldest cutoff minus ``lookback_days`` and the newest cutoff:
    only what the targets can read, so a backtest over years does not re-prepare all of it."""
    lo: dt.date = t["_cutoff"].min() - dt.timedelta(days=lookback_days)  # type: ignore[operator, assignment]
    hi: dt.date = t["_cutoff"].max()  # type: ignore[assignment]
    rid = history.ridership.filter(pl.col("date").is_between(lo, hi))
    return prepare_history(rid, max_date=hi)


class _CutoffBaseline:
    """What all baselines share: ``fit`` keeps the history as published at the cutoff.

    ``history_days``: how many days behind its cutoff a baseline reads (what a served baseline's
    package must carry; ``tasks.model.forecasters.context_days``).
    """

    name: str
    lag_days: int
    history_days: int
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
    history_days = 7 * (MAX_WEEKS_BACK + 2)

    def __init__(self, lag_days: int = PUBLICATION_LAG_DAYS) -> None:
        self.lag_days = lag_days
        self._history: History | None = None

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        hist = self._known(history)
        t = _targets(targets, self.lag_days).with_row_index("_row")
        src = _source(hist, t, self.history_days).select("date", "hour", "station_code", "direction", "count")
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


def profile_name(weeks: int, holiday_aware: bool) -> str:
    if weeks == PROFILE_WEEKS:
        return "profile_holiday" if holiday_aware else "profile_weekday"
    return f"profile_{weeks}w" if holiday_aware else f"profile_weekday_{weeks}w"


class ProfileMean(_CutoffBaseline):
    """Mean of the same station/direction/hour/day kind over the last ``weeks`` weeks at the cutoff."""

    def __init__(
        self, weeks: int = PROFILE_WEEKS, holiday_aware: bool = False, lag_days: int = PUBLICATION_LAG_DAYS
    ) -> None:
        self.weeks = weeks
        self.holiday_aware = holiday_aware
        self.lag_days = lag_days
        self.name = profile_name(weeks, holiday_aware)
        self.history_days = 7 * weeks + 7
        self._history: History | None = None

    def _profile(self, t: pl.DataFrame, src: pl.DataFrame) -> pl.DataFrame:
        """``t`` with the profile mean ``p`` and sd ``p_std`` joined (``group`` = the day class)."""
        group = "day_kind" if self.holiday_aware else "dow"
        cal = calendar_features(t["date"].min(), t["date"].max()).select("date", group)  # type: ignore[arg-type]
        t = t.join(cal, on="date", how="left")
        by = ["station_code", "direction", "hour", group]
        stats = trailing_stats(src, t.select(*by, "_cutoff").unique(), by, 7 * self.weeks, "p")
        return t.join(stats.select(*by, "_cutoff", "p", "p_std"), on=[*by, "_cutoff"], how="left")

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        hist = self._known(history)
        t = _targets(targets, self.lag_days).with_row_index("_row")
        src = _source(hist, t, self.history_days)
        return _with_interval(self._profile(t, src).sort("_row"))


def _with_interval(t: pl.DataFrame) -> pl.DataFrame:
    p = pl.col("p").fill_null(0.0)
    sd = pl.col("p_std").fill_null(0.0)
    return t.select(
        *TARGET_COLUMNS,
        p.alias("yhat"),
        (p - Z80 * sd).clip(lower_bound=0.0).alias("lo"),
        (p + Z80 * sd).alias("hi"),
    )


class HolidayProfile(ProfileMean):
    """``profile_{weeks}w`` with holiday targets scaled by the past year's holiday/Sunday factor."""

    def __init__(self, weeks: int = 3, lag_days: int = PUBLICATION_LAG_DAYS) -> None:
        super().__init__(weeks, holiday_aware=True, lag_days=lag_days)
        self.name = f"profile_{weeks}w_holiday"
        self.history_days = 366 + 7 * weeks

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        hist = self._known(history)
        t = _targets(targets, self.lag_days).with_row_index("_row")
        src = _source(hist, t, self.history_days)
        # the profile reads only its own weeks (as ``profile_{weeks}w`` does): sorting the year the
        # factors need for it took ~20x longer and, on integer counts, gives the same sums
        recent: dt.date = t["_cutoff"].min() - dt.timedelta(days=7 * self.weeks + 7)  # type: ignore[operator, assignment]
        t = self._profile(t, src.filter(pl.col("date") >= recent))
        holidays = calendar_features(t["date"].min(), t["date"].max()).filter(pl.col("is_holiday") == 1)  # type: ignore[arg-type]
        factors = self._factors(src, t["_cutoff"].unique().to_list())
        grp = ["station_code", "direction", "hour", "_cutoff"]
        scale = pl.when(pl.col("date").is_in(holidays["date"].implode())).then(pl.col("_f").fill_null(1.0))
        t = (
            t.join(factors, on=grp, how="left")
            .with_columns(_s=scale.otherwise(1.0))
            .with_columns(p=pl.col("p") * pl.col("_s"), p_std=pl.col("p_std") * pl.col("_s"))
        )
        return _with_interval(t.sort("_row"))

    def _factors(self, src: pl.DataFrame, cutoffs: list[dt.date]) -> pl.DataFrame:
        """Per (station, direction, hour, cutoff): sum of the past year's holiday counts over the sum of
        their Sunday profiles (each taken the day before the holiday), clipped."""
        grp = ["station_code", "direction", "hour"]
        public = calendar_features(src["date"].min(), src["date"].max()).filter(pl.col("is_holiday") == 1)  # type: ignore[arg-type]
        past = src.join(public.select("date"), on="date", how="semi").with_columns(
            _cutoff=pl.col("date") - pl.duration(days=1)
        )
        sundays = src.filter(pl.col("day_kind") == SUNDAY_KIND)
        prof = trailing_stats(sundays, past.select(*grp, "_cutoff").unique(), grp, 7 * self.weeks, "s")
        ratios = past.join(prof.select(*grp, "_cutoff", "s"), on=[*grp, "_cutoff"], how="inner").select(
            *grp, "date", "count", "s"
        )
        windows = pl.DataFrame({"_cutoff": sorted(cutoffs)}, schema={"_cutoff": pl.Date})
        return (
            ratios.join(windows, how="cross")
            .filter(pl.col("date").is_between(pl.col("_cutoff") - pl.duration(days=365), pl.col("_cutoff")))
            .group_by(*grp, "_cutoff")
            .agg(pl.col("count").sum(), pl.col("s").sum())
            # an hour with an empty Sunday profile (0 / 0 = NaN) has no factor: the plain profile
            .select(*grp, "_cutoff", pl.when(pl.col("s") > 0).then(pl.col("count") / pl.col("s")).alias("_f"))
            .with_columns(pl.col("_f").clip(*HOLIDAY_FACTOR_BOUNDS))
        )


class LastYear(_CutoffBaseline):
    """Same weekday a year earlier, scaled by the recent working-day level (see module docstring)."""

    name = "last_year"
    history_days = YEAR_DAYS + 7 * 4 + LEVEL_DAYS

    def __init__(self, lag_days: int = PUBLICATION_LAG_DAYS) -> None:
        self.lag_days = lag_days
        self._history: History | None = None
        self._fallback = ProfileMean(4, holiday_aware=True, lag_days=lag_days)

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        hist = self._known(history)
        t = _targets(targets, self.lag_days).with_row_index("_row")
        src = _source(hist, t, self.history_days)
        kinds = calendar_features(t["date"].min(), t["date"].max()).select("date", "day_kind")  # type: ignore[arg-type]
        t = t.join(kinds, on="date", how="left")
        # the year-old value: 52 weeks back, else 51 or 53 when that day was of another kind
        cells = src.select("date", "hour", "station_code", "direction", "count", _k="day_kind")
        cands = []
        for rank, days in enumerate((YEAR_DAYS, YEAR_DAYS - 7, YEAR_DAYS + 7)):
            cands.append(
                t.with_columns(_ld=pl.col("date") - pl.duration(days=days), _rank=pl.lit(rank))
                .join(
                    cells.rename({"date": "_ld"}),
                    on=["_ld", "hour", "station_code", "direction"],
                    how="inner",
                )
                .filter(pl.col("_k") == pl.col("day_kind"))
            )
        year_old = pl.concat(cands).sort("_rank").unique("_row", keep="first").select("_row", "count")
        # level: working-day totals of the last LEVEL_DAYS before the cutoff vs a year earlier
        sd = ["station_code", "direction"]
        work = src.filter(pl.col("day_kind") < 5).group_by(*sd, "date").agg(pl.col("count").sum())
        keys = t.select(*sd, "_cutoff").unique()
        now = trailing_stats(work, keys, sd, LEVEL_DAYS, "n")
        then = trailing_stats(
            work,
            keys.with_columns(pl.col("_cutoff") - pl.duration(days=YEAR_DAYS)),
            sd,
            LEVEL_DAYS,
            "b",
        ).with_columns(pl.col("_cutoff") + pl.duration(days=YEAR_DAYS))
        level = now.join(then, on=[*sd, "_cutoff"], how="inner").select(
            *sd, "_cutoff", (pl.col("n") / pl.col("b")).alias("_lvl")
        )
        fallback = self._fallback.predict(targets, history=hist).with_row_index("_row").select("_row", "yhat")
        return (
            t.join(year_old, on="_row", how="left")
            .join(level, on=[*sd, "_cutoff"], how="left")
            .join(fallback, on="_row", how="left")
            .sort("_row")
            .select(
                *TARGET_COLUMNS,
                pl.coalesce(pl.col("count") * pl.col("_lvl"), pl.col("yhat")).fill_null(0.0).alias("yhat"),
                pl.lit(None, pl.Float64).alias("lo"),
                pl.lit(None, pl.Float64).alias("hi"),
            )
        )


def baselines(lag_days: int = PUBLICATION_LAG_DAYS) -> list[SeasonalNaive | ProfileMean | LastYear]:
    """Every baseline of the accuracy report and of the promotion gate, classical ones first."""
    out: list[SeasonalNaive | ProfileMean | LastYear] = [
        SeasonalNaive(lag_days),
        ProfileMean(lag_days=lag_days),
        ProfileMean(holiday_aware=True, lag_days=lag_days),
    ]
    out += [ProfileMean(n, holiday_aware=True, lag_days=lag_days) for n in RECENT_WEEKS]
    out += [HolidayProfile(n, lag_days=lag_days) for n in RECENT_WEEKS]
    out.append(LastYear(lag_days))
    return out


__all__ = ["KEYS", "HolidayProfile", "LastYear", "ProfileMean", "SeasonalNaive", "baselines", "profile_name"]
