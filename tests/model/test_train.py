"""CatBoost training on a small real slice: fits fast, round-trips, ordered intervals."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.model.features import FEATURE_COLUMNS, History, build_features, forecast_targets
from tasks.model.quantile import (
    blend,
    blend_weight,
    decode_target,
    encode_target,
    fix_up,
    interval_scale,
    recency_weight,
)
from tasks.model.recipe import TrainConfig, room_for_fit
from tasks.model.stopping import Patience
from tasks.model.train import CatBoostForecaster, load, save, train
from tests.support.history import snapshot_history

AS_OF = dt.date(2023, 5, 26)
TINY = {"depth": 4, "learning_rate": 0.2, "iterations": 30}


@pytest.fixture(scope="module")
def history() -> History:
    return snapshot_history((211, 222, 150), dt.date(2023, 2, 1), dt.date(2023, 6, 2), station_table=False)


@pytest.fixture(scope="module")
def fitted(history: History) -> CatBoostForecaster:
    config = TrainConfig(params=dict(TINY), thread_count=1, max_train_rows=None, valid_days=7)
    return train(history, AS_OF, config, grid=None, time_budget_s=None)


def test_fit_records_its_metadata(fitted: CatBoostForecaster) -> None:
    """The fit's wall time is recorded (bench/accuracy.py reports it), never asserted here."""
    meta = fitted.metadata
    assert meta["timings_s"]["total"] > 0
    assert meta["cutoff"] == "2023-05-23" and meta["lag_days"] == 3
    assert meta["train_date_range"][1] <= "2023-05-16" < meta["holdout_date_range"][0]
    assert meta["holdout_date_range"][1] == "2023-05-23"  # never past the cutoff
    assert set(meta["features"]["numeric"]) | set(meta["features"]["categorical"]) == set(FEATURE_COLUMNS)
    assert meta["train_rows"] > 0 and meta["interval_scale"] > 0
    assert meta["params"]["random_seed"] == 0 and meta["params"]["thread_count"] == 1
    assert "observations" in meta["weather_note"]


def test_recency_weight_halves_every_half_life() -> None:
    dates = pl.Series([dt.date(2023, 6, 1), dt.date(2022, 6, 1), dt.date(2021, 6, 1)])
    assert np.allclose(recency_weight(dates, 365.0), [1.0, 0.5, 0.25], atol=0.002)


def test_recency_weighting_reaches_the_fit(fitted: CatBoostForecaster, history: History) -> None:
    """The default recipe decays old rows (COVID years); without the decay the trees differ."""
    assert fitted.metadata["config"]["half_life_days"] == 180.0
    # the model's own forecasts (no blend: a holdout may give the model weight 0, hiding the trees)
    decayed = TrainConfig(params=dict(TINY), thread_count=1, max_train_rows=None, valid_days=7, blend=False)
    flat = replace(decayed, half_life_days=None)
    one, other = (train(history, AS_OF, c, grid=None, time_budget_s=None) for c in (decayed, flat))
    targets = forecast_targets([211, 222], AS_OF)
    assert not np.allclose(one.predict(targets)["yhat"].to_numpy(), other.predict(targets)["yhat"].to_numpy())


def test_predictions_have_ordered_intervals(fitted: CatBoostForecaster) -> None:
    pred = fitted.predict(forecast_targets([211, 222], AS_OF))
    assert pred.height == 2 * 2 * 20 * 7
    assert (pred["lo"] >= 0).all()
    assert (pred["lo"] <= pred["yhat"]).all() and (pred["yhat"] <= pred["hi"]).all()
    # busy hours are busy: the forecast follows the profile, not a constant
    seongsu_8 = pred.filter(
        pl.col("station_code") == 211, pl.col("hour") == 8, pl.col("direction") == "alight"
    )
    assert seongsu_8.filter(pl.col("date") == dt.date(2023, 5, 31))["yhat"][0] > 3000


def test_save_load_round_trip_is_identical(
    fitted: CatBoostForecaster, history: History, tmp_path: Path
) -> None:
    targets = forecast_targets([211, 150], AS_OF)
    before = fitted.predict(targets)
    out = save(fitted, tmp_path / "model")
    assert (out / "model.cbm").exists()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["target"] == "ratio"
    loaded = load(out)
    assert loaded.config == fitted.config
    after = loaded.predict(targets, history=history.until(dt.date(2023, 5, 23)))
    assert_frame_equal(before, after)
    with pytest.raises(ValueError):
        CatBoostForecaster.load(out).predict(targets)  # no history in memory after load


def test_search_respects_the_time_budget(history: History) -> None:
    config = TrainConfig(params=dict(TINY), thread_count=1, max_train_rows=20_000, valid_days=7)
    grid = (dict(TINY), {**TINY, "depth": 3})
    model = train(history, AS_OF, config, grid=grid, time_budget_s=0.0)
    search = model.metadata["search"]
    assert "valid_wape" in search[0] and search[1] == {"params": grid[1], "skipped": "time budget spent"}


def test_search_keeps_room_for_the_reserved_fits(history: History) -> None:
    """The second candidate starts only when it and the reserved fits (the flow's backtest fit), as
    long as the first fit, still end in the budget: an hour is room for two such fits, not a million."""
    config = TrainConfig(params=dict(TINY), thread_count=1, max_train_rows=20_000, valid_days=7)
    grid = (dict(TINY), {**TINY, "depth": 3})
    roomy = train(history, AS_OF, config, grid=grid, time_budget_s=3600.0, reserve_fits=1).metadata["search"]
    tight = train(history, AS_OF, config, grid=grid, time_budget_s=3600.0, reserve_fits=10**6).metadata[
        "search"
    ]
    assert all("valid_wape" in s for s in roomy)
    assert "valid_wape" in tight[0] and tight[1] == {"params": grid[1], "skipped": "time budget spent"}


@pytest.mark.parametrize(
    ("remaining", "longest", "reserve", "starts"),
    [
        (None, 50.0, 1, True),
        (100.0, 50.0, 1, True),
        (99.0, 50.0, 1, False),
        (60.0, 50.0, 0, True),
        (40.0, 50.0, 0, False),
    ],
)
def test_room_for_fit(remaining: float | None, longest: float, reserve: int, starts: bool) -> None:
    assert room_for_fit(remaining, longest, reserve) is starts


def test_fix_up_orders_crossing_quantiles_and_scales() -> None:
    q = np.array([[10.0, 5.0, 20.0], [-3.0, 1.0, 2.0]])
    lo, mid, hi = fix_up(q)
    assert list(lo) == [5.0, 0.0] and list(mid) == [10.0, 1.0] and list(hi) == [20.0, 2.0]
    lo2, mid2, hi2 = fix_up(q, scale=2.0)
    assert list(lo2) == [0.0, 0.0] and list(hi2) == [30.0, 3.0] and list(mid2) == list(mid)


def test_interval_scale_hits_the_target_coverage() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(100, 10, 20_000)
    q = np.column_stack([np.full_like(y, 95.0), np.full_like(y, 100.0), np.full_like(y, 105.0)])
    s = interval_scale(y, q)
    lo, _, hi = fix_up(q, s)
    assert ((y >= lo) & (y <= hi)).mean() == pytest.approx(0.8, abs=0.01)
    assert s == pytest.approx(12.8155 / 5, rel=0.05)


@pytest.mark.parametrize("target", ["ratio", "log1p", "raw"])
def test_target_encoding_round_trips_and_is_anchored(target: str) -> None:
    y = np.array([0.0, 10.0, 500.0, 12000.0])
    base = np.array([1.0, 11.0, 480.0, 11000.0])
    label, _ = encode_target(y, base, target)  # type: ignore[arg-type]
    assert np.allclose(decode_target(label[:, None], base, target)[:, 0], y)  # type: ignore[arg-type]
    zero = decode_target(np.zeros((4, 1)), base, target)[:, 0]  # type: ignore[arg-type]
    assert np.allclose(zero, base)  # a model that learned nothing predicts the profile


class _Absurd:
    """A model whose trees answer "40 times the profile" (and "-5 times") for every row."""

    def predict(self, pool: object, thread_count: int = 1) -> np.ndarray:
        n = pool.num_row()  # type: ignore[attr-defined]
        return np.tile([-6.0, 39.0, 40.0], (n, 1))


def test_guard_keeps_an_absurd_forecast_within_the_training_ratios(fitted: CatBoostForecaster) -> None:
    lo_r, hi_r = fitted.metadata["ratio_bounds"]
    assert 0.0 <= lo_r < 1.0 < hi_r < 10.0  # learned from the training labels' ratios
    targets = forecast_targets([211], AS_OF).filter(pl.col("hour") == 8)
    hist = fitted._history
    assert hist is not None
    base = build_features(hist.ridership, hist.weather, targets)["base"] + 1.0
    absurd = CatBoostForecaster(fitted.config)
    only_model = {**fitted.metadata, "blend_weight": 1.0}  # the model's own output, no baseline mixed in
    absurd.model, absurd.metadata = _Absurd(), only_model
    pred = absurd.predict(targets, history=hist)
    assert np.allclose(pred["yhat"], hi_r * base) and (pred["lo"] >= 0).all()
    unguarded = CatBoostForecaster(fitted.config)
    unguarded.model, unguarded.metadata = _Absurd(), {**only_model, "ratio_bounds": None}
    assert np.allclose(unguarded.predict(targets, history=hist)["yhat"], 40 * base)


def test_blend_trusts_the_model_only_as_far_as_the_holdout_says() -> None:
    rng = np.random.default_rng(1)
    y = rng.uniform(100, 1000, 5_000)
    baseline = y * rng.normal(1.0, 0.05, y.size)  # a decent baseline
    good = np.column_stack([0.9 * y, y, 1.1 * y])  # a model that nails the holdout
    bad = np.column_stack([0.9 * y, 1.5 * y, 1.6 * y])  # one 50 % too high
    assert blend_weight(y, good, baseline) == 1.0
    assert blend_weight(y, bad, baseline) == 0.0
    half = blend(good, baseline, 0.5)
    assert np.allclose(half[:, 1], 0.5 * y + 0.5 * baseline)
    # the interval moves with the median and keeps the model's width, even at weight 0
    for weight in (0.0, 0.5):
        moved = blend(good, baseline, weight)
        assert np.allclose(moved[:, 2] - moved[:, 0], good[:, 2] - good[:, 0])
    assert np.allclose(blend(good, baseline, 0.0)[:, 1], baseline)


def test_a_fit_can_reuse_the_rows_of_a_later_fit(fitted: CatBoostForecaster, history: History) -> None:
    """What the train flow's backtest refit does: no second feature build, nothing past its cutoff."""
    rows = fitted.training_rows
    assert rows is not None and rows.as_of == AS_OF
    earlier = AS_OF - dt.timedelta(days=14)
    refit = CatBoostForecaster(fitted.config, rows=rows).fit(history, earlier)
    assert refit.metadata["rows_reused_from"] == AS_OF.isoformat()
    assert refit.metadata["holdout_date_range"][1] == "2023-05-09"  # the earlier cutoff
    assert "rows_reused_from" not in fitted.metadata
    assert refit.training_rows is not None and refit.training_rows.as_of == earlier


def test_without_early_stopping_every_iteration_is_kept(history: History) -> None:
    """A two-week holdout is a noisy judge of a tree count (it once stopped a fit at 8 trees): with
    ``early_stopping_rounds=None`` the fit keeps all its iterations; with a hair-trigger patience it
    may stop -- the holdout still scores, blends and calibrates either way."""
    params = {**TINY, "learning_rate": 0.9, "iterations": 60}
    common = TrainConfig(params=params, thread_count=1, max_train_rows=20_000, valid_days=7, min_trees=1)
    full = train(history, AS_OF, replace(common, early_stopping_rounds=None), grid=None, time_budget_s=None)
    eager = train(history, AS_OF, replace(common, early_stopping_rounds=1), grid=None, time_budget_s=None)
    floored = train(
        history, AS_OF, replace(common, early_stopping_rounds=1, min_trees=45), grid=None, time_budget_s=None
    )
    assert full.metadata["trees"] == 60 and "valid_wape" in full.metadata["holdout"]
    assert eager.metadata["trees"] < 45 <= floored.metadata["trees"]


def test_patience_stops_after_its_rounds_and_keeps_the_best_size_above_the_floor() -> None:
    losses = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 3.3, 3.4, 3.6]
    patience = Patience(rounds=3, floor=4)

    def feed() -> int:
        for trees in range(1, len(losses) + 1):
            info = SimpleNamespace(metrics={"validation": {"MultiQuantile": losses[:trees]}})
            if not patience.after_iteration(info):
                return trees
        return len(losses)

    # 3 trees is the best size overall but under the floor: the best of 4+ trees is 6 (loss 3.1),
    # and three trees without improvement on it stop the fit at 9
    assert (feed(), patience.best) == (9, 6)
