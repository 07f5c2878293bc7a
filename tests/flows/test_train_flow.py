"""The train and forecast flows on a real Prefect server, on a small real slice, with tiny trees.

Checks what an operator sees: the decision and backtest artifacts, the models table, the BentoML
store after promotion and after the daily refresh, and the CLI's printout of both.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from typer.testing import CliRunner

from cli import app
from tasks.core.schema import PIPELINE_STATE, conform
from tasks.model.baselines import baselines
from tasks.ops.registry import list_models
from tasks.ops.store import latest_published
from tests.support.homes import (
    SLICE_STATIONS,
    TINY,
    TRAIN_AS_OF,
    Home,
    seed_warehouse,
    wandb_run_bytes,
)

runner = CliRunner(env={"COLUMNS": "200"})


def _artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC
        )
    assert found, f"no artifact {key!r}"
    return str(found[0].data)


def _models_row(home: Home, version: str) -> dict[str, Any]:
    warehouse = home.open()
    try:
        rows = list_models(warehouse).filter(pl.col("version") == version).to_dicts()
    finally:
        warehouse.close()
    assert len(rows) == 1, rows
    return rows[0]


def _newest_trained(home: Home) -> dict[str, Any]:
    warehouse = home.open()
    try:
        trained = list_models(warehouse).filter(pl.col("kind") == "model")
    finally:
        warehouse.close()
    return trained.to_dicts()[0]


def test_train_then_forecast_flows(home: Home, prefect_server: str) -> None:
    from flows.forecast import forecast
    from flows.train import train

    warehouse = home.open()
    try:
        seed_warehouse(warehouse)
    finally:
        warehouse.close()

    result = train(as_of=TRAIN_AS_OF, params=TINY, max_train_rows=20_000, n_origins=1, time_budget_s=120)
    models = {(r["model"], r["scope"], r["horizon"]) for r in result["backtest"]}
    for name in ("catboost", *(b.name for b in baselines())):
        assert {(name, scope, h) for scope in ("all", "211") for h in range(8)} <= models
    # on this slice the tiny model loses to the best baseline (see tests/support/homes.py): the gate rejects
    # it and serves that baseline, and every report says so
    comparison = result["comparison"]
    assert not result["promoted"] and result["status"] == "rejected", result["decision"]
    serving = result["serving"]
    assert serving["kind"] == "baseline" and serving["forecaster"] == comparison["best_baseline"]
    assert serving["bento_tag"] and serving["why"] == result["decision"]
    version = serving["version"]
    assert result["tracking_errors"] == []
    assert result["wandb_dir"] and result["wandb_dir"].startswith(str(home.path / "wandb"))
    decision = _artifact("train-decision")
    assert "REJECTED" in decision and f"Serving now: baseline `{comparison['best_baseline']}`" in decision
    challenger = f"{result['version']} (catboost)"
    for role, who in (("challenger", challenger), ("best baseline", comparison["best_baseline"])):
        assert f"| {role} | {who} |" in decision
    assert f"{comparison['best_baseline_wape']:.4f}" in decision and "| catboost | all |" in decision
    assert "seasonal_naive" in _artifact("train-backtest")
    latest = latest_published(home.settings)
    assert latest is not None and latest.info.labels["model_version"] == version
    trained_hash = latest.info.labels["data_hash"]
    assert trained_hash and trained_hash == _models_row(home, version)["data_hash"][:16]
    run = wandb_run_bytes(Path(result["wandb_dir"]), (b"serving_kind", version.encode()))
    assert b"serving_kind" in run and version.encode() in run and b"best_baseline_wape" in run

    # the daily refresh: default as-of = the replay clock; same model, a new store version
    clock = TRAIN_AS_OF + dt.timedelta(days=2)
    row = {
        "key": "replay_as_of",
        "value": clock.isoformat(),
        "updated_at": datetime.now(UTC).replace(tzinfo=None),
    }
    warehouse = home.open()
    try:
        warehouse.upsert(PIPELINE_STATE, conform(pl.DataFrame([row]), PIPELINE_STATE))
    finally:
        warehouse.close()
    issued = forecast()
    assert issued["as_of"] == clock.isoformat() and issued["model_version"] == version
    assert issued["rows"] == len(SLICE_STATIONS) * 7 * 40 and issued["bento_tag"]
    latest = latest_published(home.settings)
    assert latest is not None
    assert latest.info.labels == {
        "model_version": version,
        "as_of": clock.isoformat(),
        "data_hash": trained_hash,  # a refresh carries the training data's hash, not the context's
        "kind": "refresh",
        "model_kind": "baseline",
        "forecaster": serving["forecaster"],
    }
    warehouse = home.open()
    try:
        stored = warehouse.read("select as_of, count(*) as n from forecasts group by as_of order by as_of")
    finally:
        warehouse.close()
    assert stored["n"].to_list() == [issued["rows"], issued["rows"]]  # the baseline's and the refresh's
    assert "observed weather stands in" in _artifact("forecast-report")
    assert forecast(as_of=clock)["bento_tag"] is None  # re-run: latest already serves it

    # the CLI: a second, differently configured training on the same data, then the registry views
    trained = runner.invoke(app, ["train", "--quick", "--time-budget", "60", "--as-of", str(TRAIN_AS_OF)])
    assert trained.exit_code == 0, trained.output
    assert "Backtest WAPE" in trained.output and "211 성수" in trained.output
    quick = _newest_trained(home)
    assert quick["version"] != result["version"]
    # the verdict printed is the one the registry recorded for that run
    expected, other = (
        ("PROMOTED", "REJECTED") if quick["status"] == "production" else ("REJECTED", "PROMOTED")
    )
    assert quick["status"] in ("production", "rejected"), quick
    assert expected in trained.output and other not in trained.output
    assert "serving:" in trained.output
    listed = runner.invoke(app, ["model", "list"])
    assert listed.exit_code == 0 and version in listed.output and "baseline" in listed.output
    warehouse = home.open()
    try:
        # the first challenger, the baseline it lost to, the quick one (the same window has the same
        # best baseline, so no second baseline is packaged whatever the quick run's fate)
        assert list_models(warehouse).height == 3
    finally:
        warehouse.close()


def test_train_without_data_is_a_clear_error(home: Home, prefect_server: str) -> None:
    result = runner.invoke(app, ["train", "--quick"])
    assert result.exit_code == 1
    assert "no ridership" in result.output and "Traceback" not in result.output


def test_rollback_without_history_is_a_clear_error(home: Home) -> None:
    result = runner.invoke(app, ["model", "rollback"])
    assert result.exit_code == 1
    assert "nothing to roll back" in result.output and "Traceback" not in result.output
