"""The Korean calendar as features: day classes, public and substitute holidays, breaks, seasons.

Why a module of its own: the model, every baseline and the evaluation's day-class reports must
classify a date the same way (a holiday target is a Sunday-like day; a past holiday is left out of
every profile), so there is exactly one place that decides it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Final

import holidays
import polars as pl

HOLIDAY_KIND: Final = 7
"""``day_kind`` of past holidays in the history: excluded from every same-kind profile."""
HOLIDAY_DISTANCE_CAP: Final = 30
LUNAR_DISTANCE_CAP: Final = 60
_LUNAR_NAMES: Final = ("Chuseok", "Korean New Year")


@lru_cache(maxsize=8)
def _korean_holidays(years: tuple[int, ...]) -> tuple[dict[dt.date, str], frozenset[dt.date]]:
    public = holidays.country_holidays("KR", years=years, language="en_US")
    # Workers' Day (May 1) is a paid day off for most private employees but not a public holiday,
    # so the library lists it in the "bank" category; commuting drops noticeably that day.
    bank = holidays.country_holidays("KR", years=years, categories=("bank",), language="en_US")
    return dict(public.items()), frozenset(bank.keys())


def _lunar_days(public: dict[dt.date, str]) -> list[dt.date]:
    """Days of the Seollal and Chuseok breaks (incl. eves and substitute days)."""
    return sorted(d for d, name in public.items() if any(n in name for n in _LUNAR_NAMES))


def calendar_features(start: dt.date, end: dt.date) -> pl.DataFrame:
    """One row per date in ``[start, end]`` with the calendar features.

    Public and substitute holidays come from ``holidays`` (``KR``).  ``prev_offday``/``next_offday``
    flag the day after/before a day off (Friday-evening and holiday-eve travel peaks), ``offday_run``
    is the length of the block of consecutive days off a date belongs to (0 on working days; long
    Seollal/Chuseok breaks empty the city more than a single Sunday) and ``bridge_day`` marks a
    working day squeezed between two days off (many take it off).  ``to_holiday``/``from_holiday``
    count the days to the next / since the last public holiday and ``to_lunar``/``from_lunar`` to
    the Seollal and Chuseok breaks (capped): the weeks around them move with the lunar calendar.
    ``school_break`` marks the winter break of schools and universities, December 21 to the end of
    February (the school year starts on March 1 by law); ``summer_break`` the summer break,
    mid-July to August (universities from late June).  ``month``/``day_of_month`` let the model
    learn what repeats every year from the years that have it (2020-2023): vacations, the March
    school start, December.  Day-of-year itself is left out: with COVID waves at fixed dates of
    2020-2021 it acts as a clock that replays them.
    """
    pad = dt.timedelta(days=LUNAR_DISTANCE_CAP + 1)  # runs and distances need neighbours
    lo, hi = start - pad, end + pad
    years = tuple(range(lo.year, hi.year + 1))
    public, workers = _korean_holidays(years)
    dates = pl.date_range(lo, hi, interval="1d", eager=True).alias("date")
    month, day = pl.col("date").dt.month(), pl.col("date").dt.day()
    frame = pl.DataFrame(dates).with_columns(
        dow=pl.col("date").dt.weekday().cast(pl.Int8) - 1,  # 0 = Monday
        is_holiday=pl.col("date").is_in(list(public)).cast(pl.Int8),
        is_workers_day=pl.col("date").is_in(list(workers)).cast(pl.Int8),
        is_lunar=pl.col("date").is_in(_lunar_days(public)).cast(pl.Int8),
        school_break=((month <= 2) | ((month == 12) & (day > 20))).cast(pl.Int8),
        summer_break=(((month == 7) & (day >= 15)) | (month == 8)).cast(pl.Int8),
        month=month.cast(pl.Int8),
        day_of_month=day.cast(pl.Int8),
    )
    frame = frame.with_columns(
        offday=((pl.col("dow") >= 5) | (pl.col("is_holiday") == 1)).cast(pl.Int8),
        _hol=pl.when(pl.col("is_holiday") == 1).then(pl.col("date")),
        _lun=pl.when(pl.col("is_lunar") == 1).then(pl.col("date")),
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
        to_holiday=_gap(pl.col("_hol").backward_fill(), HOLIDAY_DISTANCE_CAP),
        from_holiday=_gap(pl.col("_hol").forward_fill(), HOLIDAY_DISTANCE_CAP, since=True),
        to_lunar=_gap(pl.col("_lun").backward_fill(), LUNAR_DISTANCE_CAP),
        from_lunar=_gap(pl.col("_lun").forward_fill(), LUNAR_DISTANCE_CAP, since=True),
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
    return frame.filter(pl.col("date").is_between(start, end)).drop("_run", "offday", "_hol", "_lun")


def _gap(mark: pl.Expr, cap: int, *, since: bool = False) -> pl.Expr:
    days = (pl.col("date") - mark) if since else (mark - pl.col("date"))
    return days.dt.total_days().fill_null(cap).clip(upper_bound=cap).cast(pl.Int16)
