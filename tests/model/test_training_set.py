"""The training set on a small real slice: the focus station in full, the others sampled, weights."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.model.features import MAX_HORIZON, History, cutoff_for, training_targets
from tasks.model.recipe import TrainConfig
from tasks.model.training_set import TrainingRows, row_weight, select_rows, training_frame
from tests.support.history import snapshot_history

AS_OF = dt.date(2023, 5, 26)
CUTOFF = cutoff_for(AS_OF)
FIRST = dt.date(2023, 3, 1)


@pytest.fixture(scope="module")
def history() -> History:
    return snapshot_history((211, 222, 150), dt.date(2023, 2, 1), dt.date(2023, 6, 2), station_table=False)


@pytest.fixture(scope="module")
def targets(history: History) -> pl.DataFrame:
    rid = history.ridership.filter(pl.col("date") <= CUTOFF)
    return training_targets(rid, FIRST, CUTOFF, seed=0)


def _horizons(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(h=(pl.col("date") - pl.col("as_of")).dt.total_days())


def test_the_focus_station_is_kept_whole_and_its_newest_days_at_every_horizon(targets: pl.DataFrame) -> None:
    config = TrainConfig(max_train_rows=4_000, focus_stations=(211,), focus_days=14)
    rows = _horizons(select_rows(targets, CUTOFF, config))
    own, rest = rows.filter(pl.col("station_code") == 211), rows.filter(pl.col("station_code") != 211)
    recent = pl.col("date") > CUTOFF - dt.timedelta(days=14)
    # every observed 성수 row is there: older days once (their seeded horizon), the newest 14 days x 7
    source = targets.filter(pl.col("station_code") == 211)
    assert (
        own.filter(~recent)
        .sort("date", "hour", "direction")
        .equals(_horizons(source.filter(~recent)).sort("date", "hour", "direction"))
    )
    newest = own.filter(recent)
    assert newest.height == source.filter(recent).height * MAX_HORIZON
    per_row = newest.group_by("date", "hour", "direction").agg(pl.col("h").sort())
    assert (per_row["h"].list.len() == MAX_HORIZON).all()
    assert per_row["h"].list.eval(pl.element() == pl.int_range(1, MAX_HORIZON + 1)).list.all().all()
    # the other stations fill the row budget with a seeded sample of their rows
    assert rest.height == config.max_train_rows - source.height  # type: ignore[operator]
    assert rest.join(
        targets, on=["date", "hour", "station_code", "direction", "as_of"], how="anti"
    ).is_empty()
    assert rows.select("date", "hour", "station_code", "direction", "as_of").is_unique().all()


def test_without_a_focus_every_station_is_sampled_alike(targets: pl.DataFrame) -> None:
    config = TrainConfig(max_train_rows=4_000, focus_stations=())
    rows = select_rows(targets, CUTOFF, config)
    assert rows.height == 4_000
    shares = rows["station_code"].value_counts(normalize=True)["proportion"].to_numpy()
    assert np.all(np.abs(shares - 1 / 3) < 0.05)


def test_row_weight_is_recency_times_focus(targets: pl.DataFrame) -> None:
    frame = targets.filter(pl.col("date").is_in([CUTOFF, CUTOFF - dt.timedelta(days=60)]))
    config = TrainConfig(half_life_days=60.0, focus_stations=(211,), focus_weight=3.0)
    weight = row_weight(frame, config)
    focus = frame["station_code"].to_numpy() == 211
    newest = frame["date"].to_numpy() == np.datetime64(CUTOFF)
    assert np.allclose(weight[newest & ~focus], 1.0) and np.allclose(weight[newest & focus], 3.0)
    assert np.allclose(weight[~newest & ~focus], 0.5) and np.allclose(weight[~newest & focus], 1.5)
    assert np.allclose(row_weight(frame, TrainConfig(half_life_days=None, focus_weight=1.0)), 1.0)


def test_the_training_frame_uses_the_selection(history: History) -> None:
    config = TrainConfig(max_train_rows=3_000, focus_stations=(211,), focus_days=7)
    frame = training_frame(history, AS_OF, config)
    assert (
        frame.filter(pl.col("date") > CUTOFF).is_empty() and frame.height > 3_000
    )  # the budget + the extra horizons
    own = _horizons(frame.filter(pl.col("station_code") == 211, pl.col("date") == CUTOFF))
    assert sorted(own["h"].unique().to_list()) == list(range(1, MAX_HORIZON + 1))


def test_rows_built_once_are_the_rows_an_earlier_fit_would_build(history: History) -> None:
    """The backtest refit reuses the challenger's rows: dated up to the earlier cutoff, they are the
    rows (features included) that a fresh build at the earlier issue date gives."""
    config = TrainConfig(max_train_rows=None, focus_days=None, warmup_days=28)
    earlier = AS_OF - dt.timedelta(days=14)
    rows = TrainingRows(training_frame(history, AS_OF, config), AS_OF, config)
    reused = rows.known_at(earlier, config)
    fresh = training_frame(history, earlier, config)
    assert reused["date"].max() == cutoff_for(earlier) < rows.frame["date"].max()  # type: ignore[operator]
    keys = ["date", "hour", "station_code", "direction", "as_of"]
    assert_frame_equal(reused.sort(keys), fresh.select(reused.columns).sort(keys))


def test_rows_refuse_a_later_fit_or_another_selection(history: History) -> None:
    config = TrainConfig(max_train_rows=2_000, focus_days=7)
    rows = TrainingRows(training_frame(history, AS_OF, config), AS_OF, config)
    with pytest.raises(ValueError, match="cannot train a fit as of 2023-06-02"):
        rows.known_at(dt.date(2023, 6, 2), config)
    with pytest.raises(ValueError, match="with this max_train_rows, focus_days"):
        rows.known_at(AS_OF, replace(config, max_train_rows=3_000, focus_days=14))
    with pytest.raises(ValueError, match="with this train_days"):  # its window moves with the cutoff
        TrainingRows(rows.frame, AS_OF, replace(config, train_days=30)).known_at(
            AS_OF, replace(config, train_days=30)
        )
    # tree parameters and threads do not change the rows
    same = rows.known_at(AS_OF, replace(config, params={"depth": 3}, thread_count=1))
    assert same.equals(rows.frame)
