"""W&B tracking: offline runs under SEONGSU_HOME, artifacts logged, failures never fatal, no secrets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from pydantic import SecretStr

from tasks.ops.challenger import feature_importance
from tasks.ops.registry import list_models
from tasks.ops.tracking import MODEL_ARTIFACT, Tracker, scrub
from tests.support.homes import (
    TINY,
    TRAIN_AS_OF,
    Home,
    loaded_history,
    only_seasonal_naive,
    plan,
    seed_warehouse,
    wandb_run_bytes,
)

SENTINEL = "sentinel-s3cret-7f3a9c"


def test_offline_run_logs_metrics_tables_plots_and_artifacts(home: Home, tmp_path: Path) -> None:
    tracker = Tracker.start(home.settings, job_type="test", name="offline", config={"depth": 4})
    assert tracker.enabled and tracker.mode == "offline"
    assert tracker.run_ref is not None and tracker.run_ref.startswith("offline:")
    frame = pl.DataFrame({"model": ["catboost", "seasonal_naive"], "horizon": [0, 0], "wape": [0.1, 0.2]})
    tracker.log_metrics({"wape": 0.1, "skipped": None}, prefix="backtest/")
    tracker.log_table("backtest", frame)
    tracker.log_feature_importance(
        pl.DataFrame({"feature": ["prof_kind", "hour"], "importance": [70.0, 30.0]})
    )
    ts = [dt.datetime(2023, 5, 25, h) for h in range(5, 24)]
    series = pl.DataFrame(
        {"ts": ts, "actual": [100.0] * 19, "yhat": [90.0] * 19, "lo": [80.0] * 19, "hi": [120.0] * 19}
    )
    tracker.log_forecast_plot("forecast_vs_actual", series, title="test")
    package = tmp_path / "package"
    (package / "model").mkdir(parents=True)
    (package / "metadata.json").write_text('{"version": "v1"}')
    (package / "model" / "model.cbm").write_bytes(b"fake model")
    tracker.log_dataset(
        pl.DataFrame({"date": [dt.date(2023, 1, 1)], "count": [1]}), data_hash="ab" * 32, metadata={}
    )
    tracker.log_model(package, version="v1", metadata={"as_of": "2023-06-03"}, promoted=True)
    run_dir = tracker.run_dir
    tracker.finish()
    assert tracker.errors == []
    assert run_dir is not None and run_dir.is_relative_to(home.path / "wandb")
    assert run_dir.name.startswith("offline-run-")
    expected = (MODEL_ARTIFACT.encode(), b"ridership-hourly-snapshot", b"candidate", b"production", b"v-v1")
    content = wandb_run_bytes(run_dir, expected)
    for item in expected:
        assert item in content, item
    assert any(p.suffix == ".png" for p in run_dir.rglob("*")), "the forecast plot is an image"


def test_wandb_failure_never_loses_the_model(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("wandb is down")

    monkeypatch.setattr(wandb, "init", broken)
    tracker = Tracker.start(home.settings, job_type="train")
    assert not tracker.enabled and "wandb is down" in tracker.errors[0]
    tracker.log_metrics({"wape": 0.1})  # no-ops, no exceptions
    tracker.finish()


def test_train_flow_survives_wandb_failing_mid_run(
    home: Home, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> None:
    """W&B starts fine, then every artifact upload fails during the run: the flow still finishes,
    promotes, publishes and reports the tracking errors (the failure happens inside the flow, not
    after a hand-made registration)."""
    import wandb

    from flows.train import train
    from tasks.ops.store import latest_published

    class BrokenArtifact(wandb.Artifact):  # a subclass: wandb itself isinstance-checks Artifact
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("wandb is down")

    warehouse = home.open()
    try:
        seed_warehouse(warehouse)
    finally:
        warehouse.close()
    only_seasonal_naive(monkeypatch)  # so that the model, not a baseline, is promoted
    monkeypatch.setattr(wandb, "Artifact", BrokenArtifact)
    result = train(as_of=TRAIN_AS_OF, params=TINY, max_train_rows=20_000, n_origins=1, time_budget_s=120)
    assert any("log_model failed" in e and "wandb is down" in e for e in result["tracking_errors"])
    assert result["promoted"] and result["status"] == "production", result["decision"]
    warehouse = home.open()
    try:
        models = list_models(warehouse)
    finally:
        warehouse.close()
    assert models.filter(pl.col("version") == result["version"])["status"].to_list() == ["production"]
    assert (Path(result["package"]) / "model" / "model.cbm").exists()
    latest = latest_published(home.settings)
    assert latest is not None and latest.info.labels["model_version"] == result["version"]


def test_no_secret_reaches_the_run_files(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SEOUL_DATA_API_KEY", "KMA_API_KEY", "SUPABASE_KEY"):
        monkeypatch.setenv(key, SENTINEL)
    config = {"depth": 4, "kma_api_key": SENTINEL, "nested": {"token": SENTINEL, "db": SecretStr(SENTINEL)}}
    assert SENTINEL not in str(scrub(config))
    from tasks.core.settings import get_settings

    tracker = Tracker.start(get_settings(), job_type="test", config=config)
    tracker.log_config({"password": SENTINEL, "ok": 1})
    tracker.log_summary({"auth_header": SENTINEL, "decision": "promoted"})
    run_dir = tracker.run_dir
    tracker.finish()
    assert run_dir is not None
    content = wandb_run_bytes(run_dir, (b"promoted",))
    assert b"promoted" in content  # the summary was written...
    assert SENTINEL.encode() not in content  # ...without the secrets


def test_feature_importance_frame(home: Home) -> None:
    warehouse = home.open()
    try:
        seed_warehouse(warehouse)
    finally:
        warehouse.close()
    from tasks.ops.challenger import train_challenger

    forecaster = train_challenger(
        loaded_history(home), plan({"depth": 3, "iterations": 5, "learning_rate": 0.3})
    )
    importance = feature_importance(forecaster)
    assert importance.columns == ["feature", "importance"] and importance.height > 10
    assert importance["importance"].sum() == pytest.approx(100.0, rel=1e-3)


class _SdkRun:
    """The W&B run as the SDK exposes it online: records what the tracker asks of it."""

    def __init__(self, fail_link: bool = False) -> None:
        self.calls: list[tuple[str, object, object]] = []
        self.fail_link = fail_link

    def log_artifact(self, artifact: object, aliases: list[str]) -> _SdkRun:
        self.calls.append(("log_artifact", getattr(artifact, "name", None), aliases))
        return self

    def wait(self) -> None:  # the logged artifact's upload
        self.calls.append(("wait", None, None))

    def link_artifact(self, artifact: object, target_path: str, aliases: list[str]) -> None:
        if self.fail_link:
            raise RuntimeError("registry not found")
        self.calls.append(("link_artifact", target_path, aliases))


def _package(tmp_path: Path) -> Path:
    (tmp_path / "package" / "model").mkdir(parents=True)
    (tmp_path / "package" / "model" / "model.cbm").write_bytes(b"fake model")
    return tmp_path / "package"


@pytest.mark.parametrize("promoted", [True, False])
def test_online_promotion_links_the_model_into_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, promoted: bool
) -> None:
    from tasks.core.settings import get_settings
    from tasks.ops.tracking import registry_path

    monkeypatch.setenv("SEONGSU_WANDB_REGISTRY_COLLECTION", "crowding-test")
    run = _SdkRun()
    tracker = Tracker(run, "online", tmp_path, registry_path=registry_path(get_settings()))
    tracker.log_model(_package(tmp_path), version="v7", metadata={}, promoted=promoted)
    assert tracker.errors == []
    log, wait, *links = run.calls
    assert log == (
        "log_artifact",
        MODEL_ARTIFACT,
        ["candidate", "v-v7"] + (["production"] if promoted else []),
    )
    assert wait[0] == "wait"
    expected = [("link_artifact", "wandb-registry-model/crowding-test", ["production"])] if promoted else []
    assert links == expected


def test_offline_runs_link_nothing_and_a_failed_link_is_not_fatal(tmp_path: Path) -> None:
    offline = _SdkRun()
    Tracker(offline, "offline", tmp_path, registry_path="wandb-registry-model/x").log_model(
        _package(tmp_path), version="v1", metadata={}, promoted=True
    )
    assert [c[0] for c in offline.calls] == ["log_artifact"]
    broken = Tracker(_SdkRun(fail_link=True), "online", tmp_path, registry_path="wandb-registry-model/x")
    broken.log_model(tmp_path / "package", version="v2", metadata={}, promoted=True)
    assert any("registry not found" in e for e in broken.errors)


def test_online_rollback_moves_production_in_the_project_and_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import wandb

    from tasks.core.settings import get_settings
    from tasks.ops.tracking import move_production_alias

    calls: list[tuple[str, object]] = []

    class Artifact:
        def __init__(self) -> None:
            self.aliases = ["candidate", "v-v3"]

        def save(self) -> None:
            calls.append(("save", list(self.aliases)))

        def link(self, target_path: str, aliases: list[str]) -> None:
            calls.append(("link", (target_path, aliases)))

    class Api:
        def artifact(self, name: str) -> Artifact:
            calls.append(("artifact", name))
            return Artifact()

    monkeypatch.setattr(wandb, "Api", Api)
    monkeypatch.setenv("WANDB_MODE", "online")
    assert move_production_alias(get_settings(), "v3")
    assert calls == [
        ("artifact", f"daily-seongsu/{MODEL_ARTIFACT}:v-v3"),
        ("save", ["candidate", "v-v3", "production"]),
        ("link", ("wandb-registry-model/seongsu-crowding", ["production"])),
    ]
