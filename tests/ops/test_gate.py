"""The gate on real data: never serve something worse than the best baseline.

* A deliberately weak challenger (``weak_plan``: bad trees trained on one week) is rejected against
  the best of ALL baselines, and that baseline -- packaged by the production builder -- is what a
  real ``bentoml serve`` then answers ``/forecast`` with; ``/model`` says it is a baseline and why,
  ``/predict`` answers 409 explaining it.
* Rollback across kinds: a baseline serves -> a model beats it and is promoted -> rollback -> the
  baseline serves again (same store, same service code); the gate's rule for a champion model that
  falls behind the best baseline is checked on ``decide`` in ``test_registry.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import httpx
import polars as pl
import pytest

from bentos.crowding.service import load_served
from tasks.model.baselines import baselines
from tasks.model.features import (
    FEATURE_COLUMNS,
    MAX_HORIZON,
    PUBLICATION_LAG_DAYS,
    build_features,
    cutoff_for,
    forecast_targets,
)
from tasks.model.forecast import forecast
from tasks.model.forecasters import baseline_by_name, context_days
from tasks.model.package import read_package
from tasks.ops.registry import list_models, rollback
from tasks.ops.store import RegistryError, find_package, latest_published
from tests.support.homes import (
    SLICE_END,
    SLICE_START,
    SLICE_STATIONS,
    TINY,
    TRAIN_AS_OF,
    Home,
    loaded_history,
    only_seasonal_naive,
    plan,
    seed_warehouse,
    train_and_register,
    weak_plan,
)
from tests.support.packages import AUTH, running_service


def _models(home: Home) -> dict[str, tuple[str, str]]:
    """version -> (status, kind) from the warehouse ``models`` table."""
    warehouse = home.open()
    try:
        models = list_models(warehouse)
    finally:
        warehouse.close()
    return {r["version"]: (r["status"], r["kind"]) for r in models.iter_rows(named=True)}


def _latest_labels(home: Home) -> dict[str, str]:
    model = latest_published(home.settings)
    assert model is not None
    return dict(model.info.labels)


def _seed(home: Home, start: dt.date = dt.date(2023, 3, 1), end: dt.date = SLICE_END) -> None:
    warehouse = home.open()
    try:
        seed_warehouse(warehouse, start=start, end=end)
    finally:
        warehouse.close()


@pytest.mark.usefixtures("prefect_server")  # train_and_register runs the flow's tasks
def test_weak_challenger_is_rejected_and_the_best_baseline_is_served(home: Home) -> None:
    _seed(home)
    weak = train_and_register(home, weak_plan())
    decision, c = weak.decision, weak.decision.comparison

    # every baseline was scored on the same targets; the best is their minimum, not a chosen one
    assert set(c.baselines) == {b.name for b in baselines()}
    assert c.best_baseline == min(c.baselines, key=lambda name: c.baselines[name])
    assert c.best_baseline_wape == c.baselines[c.best_baseline]
    assert c.challenger_wape is not None and c.best_baseline_wape is not None
    assert c.challenger_wape > c.best_baseline_wape and c.champion_wape is None
    assert not decision.promote and decision.serve == "baseline", decision.reason
    assert f"does not beat the best baseline {c.best_baseline}" in decision.reason
    assert {row["horizon"] for row in c.per_horizon} == set(range(1, MAX_HORIZON + 1))
    assert all(row["baseline"] is not None for row in c.per_horizon)

    served = weak.publication.baseline
    assert served is not None and served.status == "production" and served.bento_tag
    assert _models(home) == {
        weak.candidate.version: ("rejected", "model"),
        served.version: ("production", "baseline"),
    }
    labels = _latest_labels(home)
    assert labels["model_version"] == served.version
    assert labels["model_kind"] == "baseline" and labels["forecaster"] == c.best_baseline

    # the package: same contract as a model's, built by the production builder
    package = read_package(find_package(home.settings, served.version))
    meta = package.metadata
    assert meta.kind == "baseline" and meta.forecaster == c.best_baseline and meta.as_of == TRAIN_AS_OF
    assert json.loads((package.model_dir / "baseline.json").read_text())["name"] == c.best_baseline
    assert meta.metrics["decision"]["serve"] == "baseline"
    assert package.forecasts.height == len(SLICE_STATIONS) * MAX_HORIZON * 20 * 2
    # it carries the history its rule reads (a year-over-year baseline reads far beyond the model's)
    need = context_days(baseline_by_name(c.best_baseline, PUBLICATION_LAG_DAYS))
    assert package.context["date"].min() == max(SLICE_START, TRAIN_AS_OF - dt.timedelta(days=need))
    # the baseline rebuilt from the package (what serving and the daily refresh do) reproduces them
    loaded = loaded_history(home)
    recomputed = forecast(package, loaded.history, TRAIN_AS_OF, stations="all")
    cached = forecast(package, None, TRAIN_AS_OF, stations="all")
    assert recomputed.equals(cached)
    # ... and they went to the warehouse like a promoted model's
    warehouse = home.open()
    try:
        stored = warehouse.read(
            "select count(*) as n from forecasts where model_version = %s", [served.version]
        )
    finally:
        warehouse.close()
    assert stored["n"].item() == package.forecasts.height

    # the real service serves it
    with (
        running_service(home.bento_home) as url,
        httpx.Client(base_url=url, timeout=30, headers=AUTH) as client,
    ):
        info = client.get("/model").json()
        assert info["version"] == served.version and info["kind"] == "baseline"
        assert info["forecaster"] == c.best_baseline and "the baseline" in info["why"]
        answer = client.post("/forecast", json={"station": "성수", "hour_start": 8, "hour_end": 8})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_version"] == served.version
        [row] = body["stations"][0]["forecasts"]
        expected = cached.filter(
            pl.col("station_code") == 211,
            pl.col("hour") == 8,
            pl.col("date") == TRAIN_AS_OF + dt.timedelta(1),
        )
        board = expected.filter(pl.col("direction") == "board")["yhat"].item()
        assert row["boardings"]["yhat"] == pytest.approx(board, abs=0.06)
        predicted = client.post("/predict", json={"rows": [_feature_row(loaded)]})
        assert predicted.status_code == 409
        assert f"baseline '{c.best_baseline}'" in predicted.json()["error"]

    # a second challenger that also loses: the baseline champion keeps serving, nothing republished
    again = train_and_register(home, plan(TINY))
    assert again.decision.serve == "champion" and again.publication.baseline is None
    assert again.decision.comparison.champion_kind == "baseline"
    assert again.decision.comparison.champion_method == {"2023-05-24": "same-baseline"}
    assert _latest_labels(home)["model_version"] == served.version


def _feature_row(loaded: object) -> dict[str, object]:
    """One well-formed ``/predict`` row (built by the production feature code)."""
    history = loaded.history.until(cutoff_for(TRAIN_AS_OF))  # type: ignore[attr-defined]
    targets = forecast_targets([211], TRAIN_AS_OF).head(1)
    row = (
        build_features(history.ridership, history.weather, targets).select(FEATURE_COLUMNS).row(0, named=True)
    )
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


@pytest.mark.usefixtures("prefect_server")  # train_and_register runs the flow's tasks
def test_rollback_works_across_kinds(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    # against a baseline a model can beat (the real list: the test above); end of April, where the
    # seasonal naive forecast is 16 % better than the tiny model, then end of May, where it misses
    # the substitute holiday and the model halves its error
    only_seasonal_naive(monkeypatch)
    april = dt.date(2023, 4, 26)
    _seed(home, end=april)
    first = train_and_register(home, weak_plan(), april + dt.timedelta(days=PUBLICATION_LAG_DAYS))
    assert first.decision.serve == "baseline", first.decision.reason
    assert first.publication.baseline is not None
    baseline = first.publication.baseline.version
    assert _latest_labels(home)["model_kind"] == "baseline"

    # a model that beats the serving baseline (and every baseline) is promoted over it
    _seed(home, start=april + dt.timedelta(days=1))
    model = train_and_register(home, plan(TINY), TRAIN_AS_OF)
    c = model.decision.comparison
    assert model.decision.promote, model.decision.reason
    assert c.champion_kind == "baseline" and c.champion_method == {"2023-05-24": "same-baseline"}
    assert model.publication.archived == [baseline]
    assert _models(home)[baseline] == ("archived", "baseline")
    labels = _latest_labels(home)
    assert labels["model_kind"] == "model" and labels["model_version"] == model.candidate.version
    latest = latest_published(home.settings)
    assert latest is not None
    served = load_served(Path(latest.path), str(latest.tag))
    assert served.index.model_info()["kind"] == "model" and served.predict_problem is None

    # rollback: the model -> the baseline it had replaced, served again by the same code
    back = rollback(home.settings, home.open())
    assert back.version == baseline and back.archived == [model.candidate.version]
    labels = _latest_labels(home)
    assert labels["kind"] == "rollback" and labels["model_kind"] == "baseline"
    assert labels["model_version"] == baseline
    models = _models(home)
    assert models[baseline] == ("production", "baseline")
    assert models[model.candidate.version] == ("rolled_back", "model")
    latest = latest_published(home.settings)
    assert latest is not None
    served = load_served(Path(latest.path), str(latest.tag))
    assert served.index.model_info()["kind"] == "baseline"
    assert served.predict_problem is not None and "baseline" in served.predict_problem
    # the daily refresh keeps the rolled-back baseline serving with fresh inputs
    refreshed = forecast(read_package(Path(latest.path)), loaded_history(home).history, TRAIN_AS_OF)
    assert refreshed.height == len(SLICE_STATIONS) * MAX_HORIZON * 20 * 2

    with pytest.raises(RegistryError, match="nothing to roll back to"):
        rollback(home.settings, home.open())


@pytest.mark.usefixtures("prefect_server")  # train_and_register runs the flow's tasks
def test_a_fresh_system_serves_the_best_baseline_while_its_first_model_trains(home: Home) -> None:
    _seed(home)
    run = train_and_register(home, weak_plan(), baseline_first=True)

    # before the model was trained, the best of ALL baselines was scored, packaged and promoted
    warehouse = home.open()
    try:
        served = list_models(warehouse).filter(pl.col("kind") == "baseline")
    finally:
        warehouse.close()
    assert served.height == 1
    first = served.row(0, named=True)
    why = json.loads(first["metrics_json"])["decision"]
    assert why["serve"] == "baseline" and why["comparison"]["challenger_wape"] is None
    scores = why["comparison"]["baselines"]
    assert set(scores) == {b.name for b in baselines()}
    assert why["comparison"]["best_baseline"] == min(scores, key=lambda name: scores[name])
    assert "no model trained yet" in why["reason"]

    # the challenger then had that baseline as the champion to beat (it is weak: it does not)
    c = run.decision.comparison
    assert c.champion_version == first["version"] and c.champion_kind == "baseline"
    assert not run.decision.promote and run.decision.serve == "champion", run.decision.reason
    assert _models(home) == {
        first["version"]: ("production", "baseline"),
        run.candidate.version: ("rejected", "model"),
    }

    # something serves now: a second run does not serve a baseline first again
    again = train_and_register(home, weak_plan(), baseline_first=True)
    assert again.decision.comparison.champion_version == first["version"]
    assert len(_models(home)) == 3
