"""Naive baselines: right weeks, right means, nothing after the cutoff."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.model.baselines import Z80, HolidayProfile, LastYear, ProfileMean, SeasonalNaive, baselines
from tasks.model.features import (
    PROFILE_WEEKS,
    TARGET_COLUMNS,
    History,
    calendar_features,
    cutoff_for,
    forecast_targets,
)
from tests.support.history import snapshot_history

AS_OF = dt.date(2023, 6, 2)  # targets 06-03 .. 06-09, incl. the 06-06 (Tuesday) holiday


@pytest.fixture(scope="module")
def history() -> History:
    return snapshot_history((211, 222), dt.date(2023, 3, 1), station_table=False)


def _value(history: History, date: dt.date, hour: int, station: int, direction: str) -> int:
    return history.ridership.filter(
        pl.col("date") == date,
        pl.col("hour") == hour,
        pl.col("station_code") == station,
        pl.col("direction") == direction,
    )["count"][0]


def test_seasonal_naive_takes_the_newest_published_same_weekday(history: History) -> None:
    targets = forecast_targets([211], AS_OF)
    pred = SeasonalNaive().fit(history, AS_OF).predict(targets)
    assert pred.columns == [*TARGET_COLUMNS, "yhat", "lo", "hi"]
    assert_frame_equal(pred.select(TARGET_COLUMNS), targets)
    cutoff = cutoff_for(AS_OF)
    for row in pred.filter(pl.col("hour") == 8, pl.col("direction") == "board").iter_rows(named=True):
        h = (row["date"] - AS_OF).days
        weeks = 1 if h <= 4 else 2  # 3-day publication lag: last week is known only for h <= 4
        src = row["date"] - dt.timedelta(days=7 * weeks)
        assert src <= cutoff
        assert row["yhat"] == _value(history, src, 8, 211, "board")
        assert row["lo"] is None and row["hi"] is None


def test_profile_mean_is_the_weekday_mean_of_the_known_weeks(history: History) -> None:
    targets = forecast_targets([222], AS_OF).filter(pl.col("hour") == 18, pl.col("direction") == "board")
    pred = ProfileMean().fit(history, AS_OF).predict(targets)
    cutoff = cutoff_for(AS_OF)
    rid = history.ridership.filter(
        pl.col("station_code") == 222, pl.col("hour") == 18, pl.col("direction") == "board"
    )
    for row in pred.iter_rows(named=True):
        same = rid.filter(
            pl.col("date").dt.weekday() == row["date"].isoweekday(),
            pl.col("date") <= cutoff,
            pl.col("date") > cutoff - dt.timedelta(days=7 * PROFILE_WEEKS),
        )["count"].cast(pl.Float64)
        assert row["yhat"] == pytest.approx(same.mean())
        sd = (same.pow(2).mean() - same.mean() ** 2) ** 0.5  # type: ignore[operator]
        assert row["hi"] == pytest.approx(same.mean() + Z80 * sd)  # type: ignore[operator]
        assert row["lo"] <= row["yhat"] <= row["hi"]


def test_holiday_aware_profile_treats_the_holiday_like_a_sunday(history: History) -> None:
    targets = forecast_targets([222], AS_OF).filter(pl.col("hour") == 8, pl.col("direction") == "alight")
    plain = ProfileMean().fit(history, AS_OF).predict(targets)
    aware = ProfileMean(holiday_aware=True).fit(history, AS_OF).predict(targets)
    holiday, sunday = dt.date(2023, 6, 6), dt.date(2023, 6, 4)

    def at(frame: pl.DataFrame, d: dt.date) -> float:
        return float(frame.filter(pl.col("date") == d)["yhat"][0])

    assert at(aware, holiday) == pytest.approx(at(aware, sunday))
    assert at(plain, holiday) > 3 * at(aware, holiday)  # the plain one expects a Tuesday rush hour
    cal = calendar_features(holiday, holiday)
    assert cal["day_kind"][0] == 6


@pytest.mark.parametrize("make", [type(b) for b in baselines()][:1] + [lambda b=b: b for b in baselines()])
def test_baselines_ignore_poisoned_future(history: History, make: object) -> None:
    targets = forecast_targets([211, 222], AS_OF)
    cutoff = cutoff_for(AS_OF)
    poisoned = History(
        history.ridership.with_columns(
            pl.when(pl.col("date") > cutoff)
            .then(pl.col("count") * 1000)
            .otherwise(pl.col("count"))
            .alias("count")
        ),
        history.weather,
    )
    a = make().fit(history, AS_OF).predict(targets)  # type: ignore[operator]
    # predict(history=...) bypasses fit's cut: the baseline must cut by each row's as_of itself
    b = make().predict(targets, history=poisoned)  # type: ignore[operator]
    assert_frame_equal(a, b)


def test_baselines_list_has_unique_names() -> None:
    names = [b.name for b in baselines()]
    assert len(set(names)) == len(names)
    assert {"seasonal_naive", "profile_weekday", "profile_holiday", "last_year"} <= set(names)
    assert {f"profile_{n}w" for n in (2, 3, 4)} <= set(names)
    assert {f"profile_{n}w_holiday" for n in (2, 3, 4)} <= set(names)


def test_recent_profile_is_the_same_kind_mean_of_the_last_weeks(history: History) -> None:
    targets = forecast_targets([222], AS_OF).filter(pl.col("hour") == 18, pl.col("direction") == "board")
    pred = ProfileMean(3, holiday_aware=True).fit(history, AS_OF).predict(targets)
    cutoff = cutoff_for(AS_OF)
    rid = history.ridership.filter(
        pl.col("station_code") == 222, pl.col("hour") == 18, pl.col("direction") == "board"
    ).join(calendar_features(dt.date(2023, 3, 1), dt.date(2023, 6, 30)), on="date")
    for row in pred.filter(pl.col("date") != dt.date(2023, 6, 6)).iter_rows(named=True):
        kind = calendar_features(row["date"], row["date"])["day_kind"][0]
        same = rid.filter(
            pl.col("day_kind") == kind,
            pl.col("is_holiday") == 0,
            pl.col("is_workers_day") == 0,
            pl.col("date") <= cutoff,
            pl.col("date") > cutoff - dt.timedelta(days=21),
        )["count"].cast(pl.Float64)
        assert 1 <= same.len() <= 3
        assert row["yhat"] == pytest.approx(same.mean())


def _synthetic(days: int, value: object) -> History:
    """One station-direction-hour with ``value(date)`` riders a day, ``days`` days up to 2023-06-30."""
    end = dt.date(2023, 6, 30)
    dates = pl.date_range(end - dt.timedelta(days=days - 1), end, interval="1d", eager=True)
    counts = [int(value(d)) for d in dates]  # type: ignore[operator]
    ridership = pl.DataFrame(
        {"date": dates, "hour": 8, "station_code": 211, "direction": "board", "count": counts},
        schema_overrides={"hour": pl.Int16, "station_code": pl.Int32, "count": pl.Int32},
    )
    return History(ridership, pl.DataFrame())


def test_holiday_profile_scales_the_sunday_profile_by_past_holidays() -> None:
    holidays = set(
        calendar_features(dt.date(2022, 1, 1), dt.date(2023, 6, 30)).filter(pl.col("is_holiday") == 1)["date"]
    )

    def value(d: dt.date) -> int:
        if d in holidays:
            return 300  # holidays: twice a Sunday
        return 150 if d.weekday() == 6 else 1000

    history = _synthetic(500, value)
    as_of = dt.date(2023, 6, 2)
    targets = forecast_targets([211], as_of).filter(pl.col("hour") == 8, pl.col("direction") == "board")
    plain = ProfileMean(3, holiday_aware=True).predict(targets, history=history)
    aware = HolidayProfile(3).predict(targets, history=history)
    at = {d: v for d, v in zip(aware["date"], aware["yhat"], strict=True)}
    assert plain.filter(pl.col("date") == dt.date(2023, 6, 6))["yhat"][0] == pytest.approx(150)
    assert at[dt.date(2023, 6, 6)] == pytest.approx(300)  # the Memorial Day holiday
    assert at[dt.date(2023, 6, 5)] == pytest.approx(1000)  # ordinary days are the plain profile


def test_last_year_scales_the_same_weekday_a_year_ago_by_the_level() -> None:
    def value(d: dt.date) -> int:
        level = 2.0 if d >= dt.date(2023, 1, 1) else 1.0  # ridership doubled this year
        return int(level * (100 + d.timetuple().tm_yday))  # and it has a seasonal shape

    history = _synthetic(480, value)
    as_of = dt.date(2023, 6, 20)
    targets = forecast_targets([211], as_of).filter(pl.col("hour") == 8, pl.col("direction") == "board")
    pred = LastYear().predict(targets, history=history)
    for row in pred.iter_rows(named=True):
        year_ago = row["date"] - dt.timedelta(days=364)
        assert row["yhat"] == pytest.approx(2 * value(year_ago), rel=0.02)


def test_holiday_profile_of_an_hour_empty_on_sundays_is_a_number() -> None:
    """0 riders on every Sunday and holiday (a commuter-only hour): the holiday factor is 0 / 0 --
    the forecast must stay the (zero) Sunday profile, not NaN."""
    off = set(
        calendar_features(dt.date(2022, 1, 1), dt.date(2023, 6, 30)).filter(pl.col("day_type") == 2)["date"]
    )
    history = _synthetic(500, lambda d: 0 if d in off else 900)
    as_of = dt.date(2023, 6, 2)
    targets = forecast_targets([211], as_of).filter(pl.col("hour") == 8, pl.col("direction") == "board")
    pred = HolidayProfile(3).predict(targets, history=history)
    assert pred["yhat"].is_nan().sum() == 0 and pred["yhat"].null_count() == 0
    assert pred.filter(pl.col("date") == dt.date(2023, 6, 6))["yhat"][0] == 0.0


def test_holiday_profile_is_the_plain_recent_profile_on_ordinary_days(history: History) -> None:
    """Off holidays ``profile_{N}w_holiday`` is ``profile_{N}w`` to the bit, also for targets of
    several origins answered in one call (the backtest's blocks): its profile reads only its own weeks
    of the year of history the holiday factors need."""
    targets = pl.concat([forecast_targets([211, 222], AS_OF - dt.timedelta(days=7 * k)) for k in (0, 3)])
    holiday = calendar_features(dt.date(2023, 5, 1), dt.date(2023, 6, 30)).filter(pl.col("is_holiday") == 1)
    for weeks in (2, 3, 4):
        aware = HolidayProfile(weeks).predict(targets, history=history)
        plain = ProfileMean(weeks, holiday_aware=True).predict(targets, history=history)
        ordinary = ~pl.col("date").is_in(holiday["date"].implode())
        assert aware.filter(ordinary).height > 500
        assert_frame_equal(aware.filter(ordinary), plain.filter(ordinary), check_exact=True)
