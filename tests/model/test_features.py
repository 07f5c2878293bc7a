"""Feature building: calendar, targets, and THE LEAKAGE TEST (no ridership after the cutoff)."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.model.features import (
    BASE_WEEKS,
    FEATURE_COLUMNS,
    KEYS,
    MAX_HORIZON,
    TARGET_COLUMNS,
    WEATHER_MAX_HORIZON,
    History,
    build_features,
    calendar_features,
    cutoff_for,
    forecast_targets,
    training_targets,
)
from tests.support.history import snapshot_history

STATIONS = (211, 222, 150)
AS_OF = dt.date(2023, 5, 26)  # targets 05-27 (Sat, Buddha's Birthday) .. 06-02, incl. the 05-29 substitute


@pytest.fixture(scope="module")
def history() -> History:
    return snapshot_history(STATIONS, dt.date(2023, 2, 1), station_table=False)


def _poison_after(ridership: pl.DataFrame, cutoff: dt.date) -> pl.DataFrame:
    """x1000 on every count dated after ``cutoff`` (and a fake extra day), leaving the rest alone."""
    poisoned = ridership.with_columns(
        pl.when(pl.col("date") > cutoff)
        .then(pl.col("count") * 1000)
        .otherwise(pl.col("count"))
        .alias("count")
    )
    extra = ridership.filter(pl.col("date") == cutoff).with_columns(
        pl.col("date") + pl.duration(days=1), pl.lit(10**6, pl.Int32).alias("count")
    )
    return pl.concat([poisoned.filter(pl.col("date") != cutoff + dt.timedelta(days=1)), extra])


def test_calendar_korean_holidays_and_day_classes() -> None:
    cal = {r["date"]: r for r in calendar_features(dt.date(2023, 4, 28), dt.date(2023, 6, 9)).to_dicts()}
    sat_holiday, sub_holiday = cal[dt.date(2023, 5, 27)], cal[dt.date(2023, 5, 29)]
    assert sat_holiday["is_holiday"] == 1 and sat_holiday["day_type"] == 2 and sat_holiday["day_kind"] == 6
    assert sub_holiday["is_holiday"] == 1 and sub_holiday["dow"] == 0 and sub_holiday["day_kind"] == 6
    assert sub_holiday["offday_run"] == 3  # Sat holiday, Sunday, substitute Monday
    assert cal[dt.date(2023, 5, 26)]["next_offday"] == 1 and cal[dt.date(2023, 5, 30)]["prev_offday"] == 1
    assert cal[dt.date(2023, 6, 5)]["bridge_day"] == 1  # Monday between Sunday and the 06-06 holiday
    assert cal[dt.date(2023, 5, 1)]["is_workers_day"] == 1 and cal[dt.date(2023, 5, 1)]["day_type"] == 0
    assert cal[dt.date(2023, 5, 3)]["day_kind"] == 2 and cal[dt.date(2023, 5, 3)]["offday_run"] == 0
    assert cal[dt.date(2023, 5, 5)]["is_holiday"] == 1  # Children's Day (Friday)


def test_forecast_targets_grid() -> None:
    t = forecast_targets(list(STATIONS), AS_OF)
    assert t.columns == list(TARGET_COLUMNS)
    assert t.height == len(STATIONS) * 2 * 20 * MAX_HORIZON
    horizons = (t["date"] - t["as_of"]).dt.total_days().unique().sort().to_list()
    assert horizons == list(range(1, MAX_HORIZON + 1))
    assert t.select(KEYS).is_unique().all()
    with pytest.raises(ValueError):
        forecast_targets(list(STATIONS), AS_OF, start=AS_OF, days=3)


def test_training_targets_one_seeded_horizon_per_station_day(history: History) -> None:
    a = training_targets(history.ridership, dt.date(2023, 4, 1), dt.date(2023, 4, 30), seed=3)
    b = training_targets(history.ridership, dt.date(2023, 4, 1), dt.date(2023, 4, 30), seed=3)
    assert_frame_equal(a, b)
    h = a.with_columns(h=(pl.col("date") - pl.col("as_of")).dt.total_days())
    assert h["h"].is_between(1, MAX_HORIZON).all()
    assert h["h"].n_unique() == MAX_HORIZON
    per_day = h.group_by("date", "station_code", "direction").agg(pl.col("h").n_unique())
    assert (per_day["h"] == 1).all()


def test_leakage_poisoned_future_does_not_change_forecast_features(history: History) -> None:
    """THE LEAKAGE TEST: x1000 on every count after the cutoff leaves the features unchanged."""
    targets = forecast_targets(list(STATIONS), AS_OF)
    cutoff = cutoff_for(AS_OF)
    clean = build_features(history.ridership, history.weather, targets)
    poisoned = build_features(_poison_after(history.ridership, cutoff), history.weather, targets)
    assert_frame_equal(clean, poisoned)
    # and the poison is strong enough to show up when it is inside the window
    later = build_features(
        _poison_after(history.ridership, cutoff - dt.timedelta(days=1)), history.weather, targets
    )
    assert (later["base"] > clean["base"] * 10).any()


def test_leakage_mixed_as_ofs_each_row_sees_only_its_own_cutoff(history: History) -> None:
    """Training frames mix as-ofs: a row's features equal those built from history cut at its cutoff."""
    targets = training_targets(history.ridership, dt.date(2023, 4, 3), dt.date(2023, 4, 30), seed=1)
    batch = build_features(history.ridership, history.weather, targets)
    sample = batch.filter(pl.col("hour").is_in([8, 18]), pl.col("station_code") == 211)
    for as_of in sample["as_of"].unique().sort().to_list()[::4]:
        rows = targets.filter(
            pl.col("as_of") == as_of, pl.col("hour").is_in([8, 18]), pl.col("station_code") == 211
        )
        cut = history.ridership.filter(pl.col("date") <= cutoff_for(as_of))
        alone = build_features(cut, history.weather, rows)
        expected = sample.filter(pl.col("as_of") == as_of).sort(KEYS)
        assert_frame_equal(alone.sort(KEYS), expected)


def test_base_and_profiles_use_only_rows_up_to_the_cutoff(history: History) -> None:
    targets = forecast_targets([211], AS_OF).filter(pl.col("hour") == 8, pl.col("direction") == "alight")
    f = build_features(history.ridership, history.weather, targets)
    cutoff = cutoff_for(AS_OF)
    rid = history.ridership.filter(
        pl.col("station_code") == 211, pl.col("hour") == 8, pl.col("direction") == "alight"
    )
    # past holidays (and Workers' Day) belong to no profile
    cal = calendar_features(dt.date(2023, 1, 1), dt.date(2023, 6, 30)).select(
        "date",
        pl.when((pl.col("is_holiday") == 1) | (pl.col("is_workers_day") == 1))
        .then(-1)
        .otherwise(pl.col("day_kind"))
        .alias("day_kind"),
    )
    rid = rid.join(cal, on="date")
    for row in f.iter_rows(named=True):

        def mean_over(weeks: int, kind: int = row["day_kind"]) -> float:
            window = rid.filter(
                pl.col("date") <= cutoff,
                pl.col("date") > cutoff - dt.timedelta(days=7 * weeks),
                pl.col("day_kind") == kind,
            )
            return float(window["count"].cast(pl.Float64).mean())  # type: ignore[arg-type]

        assert row["base"] == pytest.approx(mean_over(BASE_WEEKS))
        assert row["log_base"] == pytest.approx(math.log1p(row["base"]))
        # the other profiles are log-ratios to the base
        assert row["prof_8w"] == pytest.approx(math.log1p(mean_over(8)) - row["log_base"])
        newest = rid.filter(pl.col("date") <= cutoff, pl.col("day_kind") == row["day_kind"]).sort("date")
        assert row["last_kind"] == pytest.approx(math.log1p(newest["count"][-1]) - row["log_base"])
    # holidays are profiled with Sundays: the Saturday holiday's base is far below a weekday's
    sat_holiday = f.filter(pl.col("date") == dt.date(2023, 5, 27)).row(0, named=True)
    assert sat_holiday["day_kind"] == 6 and sat_holiday["prof_weekday"] > math.log(2)


def test_recent_residuals_see_a_level_shift_of_the_last_week(history: History) -> None:
    """211's last published week 30 % busier than its profile: its recent_sd says so, 222's does not."""
    cutoff = cutoff_for(AS_OF)
    last_week = pl.col("date").is_between(cutoff - dt.timedelta(days=6), cutoff)
    shifted = history.ridership.with_columns(
        pl.when(last_week & (pl.col("station_code") == 211))
        .then((pl.col("count") * 1.3).cast(pl.Int32))
        .otherwise(pl.col("count"))
        .alias("count")
    )
    targets = forecast_targets([211, 222], AS_OF).filter(pl.col("hour") == 8)
    clean = build_features(history.ridership, history.weather, targets)
    moved = build_features(shifted, history.weather, targets)
    diff = moved.select("station_code", (pl.col("recent_sd") - clean["recent_sd"]).alias("d"))
    assert diff.filter(pl.col("station_code") == 211).select(pl.min("d")).item() > 0.2  # log(1.3) = 0.26
    assert diff.filter(pl.col("station_code") == 222).select(pl.col("d").abs().max()).item() < 1e-9
    assert (moved["recent_net"] > clean["recent_net"]).all()  # the network saw 211's jump too


def test_year_features_read_the_same_weekday_a_year_earlier(history: History) -> None:
    """A copy of the history 52 weeks earlier with one day doubled: only targets 364 days later move."""
    year_ago = history.ridership.with_columns(pl.col("date") - pl.duration(days=364))
    bump = dt.date(2023, 5, 30) - dt.timedelta(days=364)
    doubled = year_ago.with_columns(
        pl.when(pl.col("date") == bump).then(pl.col("count") * 2).otherwise(pl.col("count")).alias("count")
    )
    recent = history.ridership.filter(pl.col("date") > year_ago["date"].max())
    targets = forecast_targets(list(STATIONS), AS_OF)
    plain = build_features(pl.concat([year_ago, recent]).unique(KEYS), history.weather, targets)
    bumped = build_features(pl.concat([doubled, recent]).unique(KEYS), history.weather, targets)
    moved = plain.select("date", (bumped["year_sd"] - pl.col("year_sd")).abs().alias("d"))
    assert moved.filter(pl.col("date") == dt.date(2023, 5, 30)).select(pl.min("d")).item() > 0.5
    assert moved.filter(pl.col("date") != dt.date(2023, 5, 30)).select(pl.max("d")).item() < 1e-9


def test_feature_frame_shape_order_and_weather(history: History) -> None:
    targets = forecast_targets(list(STATIONS), AS_OF).sample(fraction=1.0, shuffle=True, seed=0)
    f = build_features(history.ridership, history.weather, targets)
    assert f.columns[: len(TARGET_COLUMNS)] == list(TARGET_COLUMNS)
    assert set(FEATURE_COLUMNS) <= set(f.columns)
    assert_frame_equal(f.select(TARGET_COLUMNS), targets.select(TARGET_COLUMNS))  # order preserved
    w = history.weather.filter(pl.col("station_id") == 108)
    # band 24 ("after midnight") takes the 00:00 observation of the next day
    row = f.filter(pl.col("date") == dt.date(2023, 5, 28), pl.col("hour") == 24).row(0, named=True)
    obs = w.filter(pl.col("ts") == dt.datetime(2023, 5, 29, 0, 0)).row(0, named=True)
    assert row["temp_c"] == obs["temp_c"] and row["precip_mm"] == obs["precip_mm"]
    assert f["horizon"].min() == 1 and f["horizon"].max() == MAX_HORIZON
    # Contract 3: no target-day weather beyond the short-range forecast's reach
    far = f.filter(pl.col("horizon") > WEATHER_MAX_HORIZON)
    assert far["temp_c"].null_count() == far.height and far["precip_day_mm"].null_count() == far.height
    flattering = build_features(history.ridership, history.weather, targets, weather_horizon=MAX_HORIZON)
    assert flattering.filter(pl.col("horizon") > WEATHER_MAX_HORIZON)["temp_c"].null_count() == 0


def test_a_forecast_reads_only_the_context_a_package_keeps(history: History) -> None:
    """Features from the newest CONTEXT_DAYS + the year-ago window equal those from all history."""
    from tasks.core.constants import CONTEXT_DAYS
    from tasks.data.history import in_context

    year_ago = history.ridership.with_columns(pl.col("date") - pl.duration(days=364))
    full = pl.concat([year_ago, history.ridership]).unique(KEYS, keep="last").sort(KEYS)
    targets = forecast_targets(list(STATIONS), AS_OF)
    everything = build_features(full, history.weather, targets)
    context = build_features(full.filter(in_context(AS_OF, CONTEXT_DAYS)), history.weather, targets)
    assert everything["year_sd"].null_count() < everything.height  # the year-ago window is used
    assert_frame_equal(everything, context)
