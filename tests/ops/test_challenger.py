"""The train flow's backtest window (``tasks.ops.challenger.backtest_window``) on a small real slice."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tasks.data.history import LoadedHistory
from tasks.model.baselines import baselines
from tasks.model.features import cutoff_for
from tasks.model.train import CatBoostForecaster, train
from tasks.ops.challenger import TrainPlan, backtest_window
from tasks.ops.champion import comparison_origins
from tests.support.history import snapshot_history
from tests.support.packages import TINY_PARAMS

AS_OF = dt.date(2023, 6, 20)


def test_backtest_fits_the_recipe_once_and_scores_every_origin_out_of_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One fit at the window's first origin (the flow's budget had two), yet every origin is scored,
    every forecaster on the same rows, and the fit never saw the weeks it is scored on."""
    history = snapshot_history((211, 222))
    loaded = LoadedHistory(history.until(cutoff_for(AS_OF)), AS_OF, "observed")
    plan = TrainPlan(params=dict(TINY_PARAMS), n_origins=2, thread_count=1, max_train_rows=20_000)
    challenger = train(loaded.history, AS_OF, plan.config(), grid=None, time_budget_s=None)
    origins = comparison_origins(cutoff_for(AS_OF), plan.n_origins)

    fits: list[tuple[dt.date, dt.date]] = []  # (as_of, newest ridership the fit was given)
    reused: list[str | None] = []  # the fit's training rows: the challenger's, not built again
    real_fit = CatBoostForecaster.fit

    def spy(self: CatBoostForecaster, history: object, as_of: dt.date) -> CatBoostForecaster:
        fits.append((as_of, history.ridership["date"].max()))  # type: ignore[attr-defined]
        fitted = real_fit(self, history, as_of)  # type: ignore[arg-type]
        reused.append(fitted.metadata.get("rows_reused_from"))
        return fitted

    monkeypatch.setattr(CatBoostForecaster, "fit", spy)
    scored = backtest_window(loaded, challenger, origins, plan)

    assert len(origins) == 2
    assert fits == [(origins[0], cutoff_for(origins[0]))]  # once, on what was known at the first
    assert reused == [AS_OF.isoformat()]
    per_model = scored.group_by("model").agg(pl.col("as_of").unique().sort(), pl.len())
    names = {"catboost", *(b.name for b in baselines())}
    assert set(per_model["model"]) == names
    assert all(sorted(o) == origins for o in per_model["as_of"])
    assert per_model["len"].n_unique() == 1  # the same targets for every forecaster
    model_rows = scored.filter(pl.col("model") == "catboost")
    assert (model_rows["date"] > fits[0][1]).all()  # scored only on days after the fit's data
    assert model_rows["yhat"].is_finite().all()
