"""Champion/challenger on real data: who gets promoted, what the store and the models table say.

One story (each step builds on the previous one, as the registry does in production), against a
baseline the tiny model beats (``only_seasonal_naive``): first model -> promoted; same recipe again on the same
data -> tie, rejected; a bad recipe -> rejected.  The gate's rule for every combination of
challenger, champion and best baseline is checked on ``decide`` directly; the baseline being served,
and rollback across kinds, are in ``test_gate.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tasks.core.schema import MODELS
from tasks.data.warehouse import open_warehouse
from tasks.model.features import MAX_HORIZON
from tasks.model.package import read_package
from tasks.ops.champion import EPS, Comparison, comparison_origins, decide
from tasks.ops.model_metrics import ModelMetrics
from tasks.ops.monitor import load_inputs
from tasks.ops.registry import list_models
from tasks.ops.scores import windows_for
from tasks.ops.store import latest_published, published_models
from tests.support.homes import (
    BAD,
    SLICE_END,
    SLICE_STATIONS,
    TINY,
    TRAIN_AS_OF,
    Home,
    only_seasonal_naive,
    plan,
    seed_warehouse,
    train_and_register,
)


def _statuses(home: Home) -> dict[str, str]:
    warehouse = home.open()
    try:
        models = list_models(warehouse)
    finally:
        warehouse.close()
    return dict(zip(models["version"].to_list(), models["status"].to_list(), strict=True))


def _latest_version(home: Home) -> str:
    model = latest_published(home.settings)
    assert model is not None
    return str(model.info.labels["model_version"])


def test_window_origins_cover_the_newest_known_weeks() -> None:
    origins = comparison_origins(dt.date(2023, 5, 31), n_origins=2)
    assert origins == [dt.date(2023, 5, 17), dt.date(2023, 5, 24)]
    assert origins[-1] + dt.timedelta(days=MAX_HORIZON) == dt.date(2023, 5, 31)


@pytest.mark.usefixtures("prefect_server")  # train_and_register runs the flow's tasks
def test_promotion_needs_a_strictly_better_score_on_the_same_window(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_seasonal_naive(monkeypatch)  # a baseline the tiny model beats (the real list: test_gate.py)
    warehouse = home.open()
    try:
        seed_warehouse(warehouse)
    finally:
        warehouse.close()

    # 1. no champion, and the model beats every baseline: promoted, published and recorded
    first = train_and_register(home, plan(TINY))
    c = first.decision.comparison
    assert first.decision.promote and first.publication.status == "production", first.decision.reason
    assert c.champion_wape is None and c.best_baseline_wape is not None
    assert c.challenger_wape is not None and c.challenger_wape < c.best_baseline_wape
    n_targets = len(SLICE_STATIONS) * 2 * 20 * MAX_HORIZON
    assert c.n_targets == n_targets
    assert _statuses(home) == {first.candidate.version: "production"}
    assert _latest_version(home) == first.candidate.version
    package = read_package(first.candidate.package_path)
    assert package.metadata.promoted_at is not None and package.metadata.as_of == TRAIN_AS_OF
    assert package.metadata.data_end == SLICE_END and package.metadata.kind == "model"
    assert package.forecasts.height == n_targets

    warehouse = home.open()
    try:
        row = list_models(warehouse).row(0, named=True)
    finally:
        warehouse.close()
    assert row["data_start"] == dt.date(2023, 3, 1) and row["data_end"] == SLICE_END
    assert row["promoted_at"] is not None and row["trained_at"] is not None and row["kind"] == "model"
    assert len(row["data_hash"]) == 64 and row["code_version"]
    metrics = json.loads(row["metrics_json"])
    assert metrics["decision"]["promote"] is True and metrics["backtest_wape"] > 0
    assert metrics["recipe"]["params"]["iterations"] == TINY["iterations"]
    # the monitor reads what the registry really wrote: its own loader gets the backtest WAPE
    warehouse = home.open()
    try:
        inputs = load_inputs(warehouse, windows_for(SLICE_END + dt.timedelta(days=3)))
    finally:
        warehouse.close()
    assert inputs.model_version == first.candidate.version
    assert inputs.model_metrics.backtest_wape == metrics["backtest_wape"]
    assert ModelMetrics.from_json(row["metrics_json"]).backtest_wape == metrics["backtest_wape"]

    # 2. the same recipe on the same data: identical forecasts on the window -> a tie -> rejected
    second = train_and_register(home, plan(TINY))
    assert not second.decision.promote and second.decision.serve == "champion"
    assert second.decision.comparison.champion_method == {"2023-05-24": "same-recipe"}
    assert second.decision.comparison.challenger_wape == pytest.approx(
        second.decision.comparison.champion_wape, abs=EPS
    )
    assert "ties" in second.decision.reason and "keeps serving" in second.decision.reason
    assert _statuses(home)[second.candidate.version] == "rejected"
    assert _latest_version(home) == first.candidate.version  # nothing new was published
    assert len(published_models(home.settings)) == 1

    # 3. a worse recipe: the champion's recipe is refit on the window, on identical targets
    worse = train_and_register(home, plan(BAD, target="log1p"))
    c = worse.decision.comparison
    assert not worse.decision.promote and worse.decision.serve == "champion"
    assert c.champion_method == {"2023-05-24": "refit"} and c.n_targets == n_targets
    # the holdout-chosen blend with profile_4w may pull both fits all the way to the profile (a tie);
    # either way the worse recipe never scores better than the champion on the same targets
    assert (
        c.champion_wape is not None
        and c.challenger_wape is not None
        and c.challenger_wape >= c.champion_wape - EPS
    )  # a tie within the gate's EPS
    assert "keeps serving" in worse.decision.reason
    statuses = _statuses(home)
    assert (
        statuses[first.candidate.version] == "production" and statuses[worse.candidate.version] == "rejected"
    )
    assert Path(worse.candidate.package_path, "metadata.json").exists()  # kept for inspection


def _comparison(ch: float, cp: float | None, best: float | None, champion_kind: str = "model") -> Comparison:
    baselines = {} if best is None else {"profile_a": best, "profile_b": best + 0.05}
    return Comparison(
        [dt.date(2023, 5, 24)],
        10,
        ch,
        "champ" if cp is not None else None,
        cp,
        champion_kind=champion_kind if cp is not None else None,
        best_baseline="profile_a" if best is not None else None,
        best_baseline_wape=best,
        baselines=baselines,
    )


@pytest.mark.parametrize(
    ("ch", "cp", "best", "serve"),
    [
        (0.2, None, None, "challenger"),  # nothing to beat
        (0.19, 0.2, None, "challenger"),
        (0.2, 0.2, None, "champion"),  # a tie is a rejection
        (0.2 + 1e-12, 0.2, None, "champion"),
        (0.21, 0.2, None, "champion"),
        (0.18, None, 0.19, "challenger"),  # first model, better than the best baseline
        (0.19, None, 0.19, "baseline"),  # first model ties the best baseline: the baseline serves
        (0.20, None, 0.19, "baseline"),
        (0.17, 0.18, 0.19, "challenger"),  # beats both
        (0.185, 0.18, 0.19, "champion"),  # loses to the champion, which beats the baseline
        (0.195, 0.20, 0.19, "baseline"),  # beats the champion but not the baseline: baseline serves
        (0.21, 0.20, 0.19, "baseline"),  # nobody beats the baseline
        (0.21, 0.19, 0.19, "champion"),  # a champion that ties the baseline (e.g. is it) stays
    ],
)
def test_decide_serves_the_challenger_only_if_it_beats_champion_and_best_baseline(
    ch: float, cp: float | None, best: float | None, serve: str
) -> None:
    decision = decide("v", _comparison(ch, cp, best))
    assert decision.serve == serve and decision.promote == (serve == "challenger")
    assert decision.baseline == ("profile_a" if serve == "baseline" else None)
    if best is not None and serve != "challenger":
        assert "best baseline profile_a" in decision.reason


def test_min_improvement_applies_to_champion_and_baseline() -> None:
    assert not decide("v", _comparison(0.199, 0.2, None), min_improvement=0.01).promote
    assert not decide("v", _comparison(0.189, None, 0.19), min_improvement=0.01).promote
    assert decide("v", _comparison(0.18, 0.2, 0.19), min_improvement=0.01).promote


def test_models_table_is_empty_without_training(home: Home) -> None:
    """Before any training -- with or without the table -- the views get an empty frame of the
    table's own columns and types, so they never special-case a fresh install."""
    warehouse = open_warehouse(home.url)
    try:
        assert "models" not in warehouse.table_names()
        before = list_models(warehouse)
        warehouse.migrate()
        after = list_models(warehouse)
    finally:
        warehouse.close()
    for frame in (before, after):
        assert frame.is_empty() and dict(frame.schema) == dict(MODELS.polars_schema)
