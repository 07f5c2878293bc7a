"""Champion/challenger on real data: who gets promoted, what the store and the models table say.

One story per test module run (each step builds on the previous one, as the registry does in
production): first model -> promoted; same recipe again on the same data -> tie, rejected; a bad
recipe -> rejected; a good one after a bad champion -> promoted; rollback -> the previous champion
serves again.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from model_fixtures import (  # noqa: F401  (home_fixture provides the `home` fixture)
    BAD,
    SLICE_END,
    SLICE_STATIONS,
    TINY,
    TRAIN_AS_OF,
    Home,
    home_fixture,
    plan,
    seed_warehouse,
    train_and_register,
)

from tasks.features import MAX_HORIZON
from tasks.package import BENTO_MODEL_NAME, read_package
from tasks.registry import (
    RegistryError,
    comparison_origins,
    decide,
    latest_published,
    list_models,
    published_models,
    rollback,
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


def test_promotion_needs_a_strictly_better_score_on_the_same_window(home: Home) -> None:
    warehouse = home.open()
    try:
        seed_warehouse(warehouse)
    finally:
        warehouse.close()

    # 1. no champion: the first model is promoted, published and recorded
    first = train_and_register(home, plan(TINY))
    assert first.decision.promote and first.publication.status == "production"
    assert first.decision.comparison.champion_wape is None
    n_targets = len(SLICE_STATIONS) * 2 * 20 * MAX_HORIZON
    assert first.decision.comparison.n_targets == n_targets
    assert _statuses(home) == {first.candidate.version: "production"}
    assert _latest_version(home) == first.candidate.version
    package = read_package(first.candidate.package_path)
    assert package.metadata.promoted_at is not None and package.metadata.as_of == TRAIN_AS_OF
    assert package.metadata.data_end == SLICE_END
    assert package.forecasts.height == n_targets

    warehouse = home.open()
    try:
        row = list_models(warehouse).row(0, named=True)
    finally:
        warehouse.close()
    assert row["data_start"] == dt.date(2023, 3, 1) and row["data_end"] == SLICE_END
    assert row["promoted_at"] is not None and row["trained_at"] is not None
    assert len(row["data_hash"]) == 64 and row["code_version"]
    metrics = json.loads(row["metrics_json"])
    assert metrics["decision"]["promote"] is True and metrics["backtest_wape"] > 0
    assert metrics["recipe"]["params"]["iterations"] == TINY["iterations"]

    # 2. the same recipe on the same data: identical forecasts on the window -> a tie -> rejected
    second = train_and_register(home, plan(TINY))
    assert not second.decision.promote
    assert second.decision.comparison.champion_method == {"2023-05-24": "same-recipe"}
    assert second.decision.comparison.challenger_wape == second.decision.comparison.champion_wape
    assert "ties" in second.decision.reason
    assert _statuses(home)[second.candidate.version] == "rejected"
    assert _latest_version(home) == first.candidate.version  # nothing new was published
    assert len(published_models(home.settings)) == 1

    # 3. a worse recipe: the champion's recipe is refit on the window, on identical targets
    worse = train_and_register(home, plan(BAD, target="log1p"))
    c = worse.decision.comparison
    assert not worse.decision.promote
    assert c.champion_method == {"2023-05-24": "refit"} and c.n_targets == n_targets
    assert c.challenger_wape > c.champion_wape  # type: ignore[operator]
    statuses = _statuses(home)
    assert (
        statuses[first.candidate.version] == "production" and statuses[worse.candidate.version] == "rejected"
    )
    assert Path(worse.candidate.package_path, "metadata.json").exists()  # kept for inspection


def test_better_challenger_is_promoted_and_rollback_restores_the_champion(home: Home) -> None:
    warehouse = home.open()
    try:
        seed_warehouse(warehouse)
    finally:
        warehouse.close()
    weak = train_and_register(home, plan(BAD, target="log1p"))
    assert weak.decision.promote  # first model: nothing to beat
    strong = train_and_register(home, plan(TINY))
    assert strong.decision.promote, strong.decision.reason
    assert strong.publication.archived == [weak.candidate.version]
    assert _statuses(home) == {weak.candidate.version: "archived", strong.candidate.version: "production"}
    assert _latest_version(home) == strong.candidate.version
    tags = [str(m.tag) for m in published_models(home.settings)]
    assert len(tags) == 2 and all(t.startswith(f"{BENTO_MODEL_NAME}:") for t in tags)

    back = rollback(home.settings, home.open())
    assert back.version == weak.candidate.version and back.archived == [strong.candidate.version]
    assert _latest_version(home) == weak.candidate.version
    latest = latest_published(home.settings)
    assert latest is not None and latest.info.labels["kind"] == "rollback"
    assert read_package(Path(latest.path)).metadata.version == weak.candidate.version
    assert _statuses(home) == {weak.candidate.version: "production", strong.candidate.version: "rolled_back"}

    with pytest.raises(RegistryError, match="nothing to roll back to"):
        rollback(home.settings, home.open())


def test_decide_rejects_ties_and_accepts_strict_wins() -> None:
    from tasks.registry import Comparison

    def comp(ch: float, cp: float | None) -> Comparison:
        return Comparison([dt.date(2023, 5, 24)], 10, ch, "champ" if cp is not None else None, cp)

    assert decide("v", comp(0.2, None)).promote
    assert decide("v", comp(0.19, 0.2)).promote
    assert not decide("v", comp(0.2, 0.2)).promote
    assert not decide("v", comp(0.2 + 1e-12, 0.2)).promote
    assert not decide("v", comp(0.21, 0.2)).promote
    assert not decide("v", comp(0.199, 0.2), min_improvement=0.01).promote


def test_models_table_is_empty_without_training(home: Home) -> None:
    warehouse = home.open()
    try:
        frame = list_models(warehouse)
    finally:
        warehouse.close()
    assert frame.is_empty() and "metrics_json" in frame.columns
    assert isinstance(frame, pl.DataFrame)
