"""Backtest metrics on hand-made numbers, and one evaluation path for baselines and the model."""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
import pytest

from tasks.model.baselines import ProfileMean, SeasonalNaive
from tasks.model.evaluate import (
    Forecaster,
    backtest,
    backtest_predictions,
    backtest_sums,
    report,
    rolling_origins,
    score,
    spread_origins,
)
from tasks.model.features import KEYS, History, cutoff_for
from tasks.model.recipe import TrainConfig
from tasks.model.train import CatBoostForecaster
from tests.support.history import snapshot_history


def _scored() -> pl.DataFrame:
    d = dt.date(2023, 6, 1)
    return pl.DataFrame(
        {
            "model": ["m"] * 4 + ["naive"] * 4,
            "station_code": [211, 211, 150, 150] * 2,
            "horizon": [1, 2, 1, 2] * 2,
            "y": [100.0, 200.0, 50.0, 50.0] * 2,
            "yhat": [110.0, 180.0, 50.0, 40.0, 100.0, 100.0, 100.0, 100.0],
            "lo": [90.0, 150.0, 60.0, 30.0] + [None] * 4,
            "hi": [120.0, 190.0, 70.0, 60.0] + [None] * 4,
            "date": [d] * 8,
        }
    )


def test_wape_mae_coverage_by_hand() -> None:
    m = score(_scored())
    assert m.columns == ["model", "scope", "horizon", "wape", "mae", "bias", "coverage", "n"]
    row = m.filter(pl.col("model") == "m", pl.col("scope") == "all", pl.col("horizon") == 0).row(
        0, named=True
    )
    # |errors| = 10, 20, 0, 10 over y = 400
    assert row["wape"] == pytest.approx(40 / 400)
    assert row["mae"] == pytest.approx(40 / 4)
    assert row["coverage"] == pytest.approx(2 / 4)  # 100 in [90,120]; 200 > 190; 50 < 60; 50 in [30,60]
    assert row["n"] == 4
    assert row["bias"] == pytest.approx((110 + 180 + 50 + 40) / 400 - 1)
    h1 = m.filter(pl.col("model") == "m", pl.col("scope") == "all", pl.col("horizon") == 1).row(0, named=True)
    assert h1["wape"] == pytest.approx(10 / 150) and h1["n"] == 2
    s = m.filter(pl.col("model") == "m", pl.col("scope") == "211", pl.col("horizon") == 0).row(0, named=True)
    assert s["wape"] == pytest.approx(30 / 300) and s["mae"] == pytest.approx(15) and s["coverage"] == 0.5
    naive = m.filter(pl.col("model") == "naive", pl.col("scope") == "all", pl.col("horizon") == 0).row(
        0, named=True
    )
    assert naive["wape"] == pytest.approx((0 + 100 + 50 + 50) / 400)
    assert naive["coverage"] is None  # no interval -> no coverage, not 0


def test_rolling_origins_tile_the_last_weeks() -> None:
    o = rolling_origins(dt.date(2023, 6, 30), 8)
    assert o[-1] == dt.date(2023, 6, 23) and o[0] == dt.date(2023, 5, 5)
    assert all((b - a).days == 7 for a, b in itertools.pairwise(o))


class _Spy:
    """A forecaster that records what ``fit`` saw and predicts the profile of what it saw."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[tuple[dt.date, dt.date]] = []
        self.inner = ProfileMean()

    def fit(self, history: History, as_of: dt.date) -> _Spy:
        self.seen.append((as_of, history.ridership["date"].max()))  # type: ignore[arg-type]
        self.inner.fit(history, as_of)
        return self

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        return self.inner.predict(targets, history=history)


@pytest.fixture(scope="module")
def history() -> History:
    return snapshot_history((211, 222), dt.date(2023, 3, 1), station_table=False)


def test_backtest_cuts_history_at_each_origin_and_scores_everyone_alike(history: History) -> None:
    spy = _Spy()
    origins = rolling_origins(dt.date(2023, 6, 30), 2)
    m = backtest([spy, ProfileMean(), SeasonalNaive()], history, origins)
    assert spy.seen == [(o, cutoff_for(o)) for o in origins]  # never a row after as_of - lag
    overall = {
        r["model"]: r
        for r in m.filter(pl.col("scope") == "all", pl.col("horizon") == 0).iter_rows(named=True)
    }
    assert overall["spy"]["wape"] == pytest.approx(
        overall["profile_weekday"]["wape"]
    )  # same path, same numbers
    assert overall["spy"]["n"] == overall["seasonal_naive"]["n"] == 2 * 2 * 20 * 14
    assert set(m["horizon"].unique().to_list()) == set(range(8))
    assert set(m["scope"].unique().to_list()) == {"all", "211"}


def test_the_model_runs_through_the_same_path(history: History) -> None:
    config = TrainConfig(
        params={"depth": 3, "learning_rate": 0.3, "iterations": 15},
        thread_count=1,
        max_train_rows=None,
        valid_days=7,
    )
    model: Forecaster = CatBoostForecaster(config)  # conformance is checked by mypy, not at run time
    scored, seconds = backtest_predictions([model, SeasonalNaive()], history, [dt.date(2023, 6, 9)])
    assert set(seconds) == {"catboost", "seasonal_naive"}
    cb = scored.filter(pl.col("model") == "catboost")
    assert cb.height == scored.filter(pl.col("model") == "seasonal_naive").height == 2 * 2 * 20 * 7
    assert cb.select(KEYS).is_unique().all()
    assert (cb["lo"] <= cb["yhat"]).all() and (cb["yhat"] <= cb["hi"]).all()
    m = score(scored)
    row = m.filter(pl.col("model") == "catboost", pl.col("scope") == "all", pl.col("horizon") == 0).row(
        0, named=True
    )
    assert 0 < row["wape"] < 0.5 and row["coverage"] is not None


def test_blocks_of_origins_give_the_same_baseline_numbers(history: History) -> None:
    """Answering four origins in one call (history cut at the newest) equals four separate calls:
    every baseline cuts by each row's own as_of."""
    from tasks.model.baselines import baselines

    origins = rolling_origins(dt.date(2023, 6, 30), 4)
    one, _ = backtest_sums(baselines(), history, origins, refit_every=1)
    four, _ = backtest_sums(baselines(), history, origins, refit_every=4)
    keys = ["model", "scope", "horizon"]
    a = report(one, keys).sort(keys)
    b = report(four, keys).sort(keys)
    assert a.height == b.height > 0
    assert ((a["wape"] - b["wape"]).abs() < 1e-12).all()
    assert set(one["day_class"].unique().to_list()) >= {"weekday", "saturday", "sunday", "holiday"}


def test_spread_origins_tile_the_whole_history() -> None:
    o = spread_origins(dt.date(2023, 1, 1), dt.date(2023, 6, 30))
    assert (
        o[-1] == dt.date(2023, 6, 23)
        and o[0] >= dt.date(2023, 1, 1)
        and o[0] - dt.timedelta(days=7) < dt.date(2023, 1, 1)
    )
    assert all((b - a).days == 7 for a, b in itertools.pairwise(o))


def test_frozen_forecaster_is_fit_once_on_what_was_known_at_its_date(history: History) -> None:
    from tasks.model.accuracy import Frozen

    spy = _Spy()
    frozen = Frozen(spy, dt.date(2023, 6, 2))
    origins = rolling_origins(dt.date(2023, 6, 30), 3)
    backtest([frozen], history, origins)
    assert spy.seen == [(dt.date(2023, 6, 2), cutoff_for(dt.date(2023, 6, 2)))]
    with pytest.raises(ValueError, match="before the frozen fit date"):
        Frozen(_Spy(), dt.date(2023, 6, 30)).fit(history, dt.date(2023, 6, 1))


def test_best_baseline_is_the_minimum_per_scope(history: History) -> None:
    from tasks.model.accuracy import best_baselines
    from tasks.model.baselines import ProfileMean as PM

    origins = rolling_origins(dt.date(2023, 6, 30), 2)
    sums, _ = backtest_sums([SeasonalNaive(), PM(3, holiday_aware=True)], history, origins)
    best = best_baselines(sums, ["seasonal_naive", "profile_3w"])
    table = report(sums, ["model", "scope"])
    for scope, name in best.items():
        rows = table.filter(pl.col("scope") == scope)
        assert rows.filter(pl.col("model") == name)["wape"][0] == rows["wape"].min()


@pytest.mark.parametrize("bad", [float("nan"), None, float("inf")])
def test_a_missing_or_nan_forecast_is_an_error_not_a_dropped_row(bad: float | None) -> None:
    scored = _scored().with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit(bad, pl.Float64))
        .otherwise(pl.col("yhat"))
        .alias("yhat")
    )
    with pytest.raises(ValueError, match="NaN"):
        score(scored)
