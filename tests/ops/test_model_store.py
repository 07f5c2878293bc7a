"""Model store hygiene: pruning keeps what serving and rollback need and deletes the rest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from tasks.core.schema import MODELS, conform
from tasks.core.settings import get_settings
from tasks.data.warehouse import open_warehouse
from tasks.model.package import BENTO_MODEL_NAME
from tasks.ops.model_store import prune_store
from tasks.ops.store import bento_store, published_models

# (model version, number of store copies), oldest first: m1 was champion, then m2, now m3
HISTORY = (("m1", 2), ("m2", 3), ("m3", 3))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """A store with the copies of HISTORY and the matching ``models`` rows; yields (tag, version)."""
    import bentoml

    monkeypatch.setenv("SEONGSU_HOME", str(tmp_path))
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    monkeypatch.setenv("SEONGSU_KEEP_MODEL_VERSIONS", "2")
    settings = get_settings()
    tags = []
    for version, copies in HISTORY:
        for _ in range(copies):
            with bentoml.models.create(
                BENTO_MODEL_NAME, labels={"model_version": version}, _model_store=bento_store(settings)
            ) as model:
                (Path(model.path) / "metadata.json").write_text(json.dumps({"version": version}))
            tags.append((str(model.tag), version))
    promoted = {"m1": dt.datetime(2023, 5, 1), "m2": dt.datetime(2023, 5, 8), "m3": dt.datetime(2023, 5, 15)}
    rows: list[dict[str, object]] = [
        {
            "version": v,
            "status": "production" if v == "m3" else "archived",
            "promoted_at": at,
            "trained_at": at,
        }
        for v, at in promoted.items()
    ]
    rows.append(
        {"version": "m4", "status": "rejected", "promoted_at": None, "trained_at": dt.datetime(2023, 5, 20)}
    )
    warehouse = open_warehouse(settings.resolved_warehouse_url)
    warehouse.migrate()
    warehouse.upsert(MODELS, conform(pl.DataFrame(rows), MODELS))
    warehouse.close()
    return tags


def test_prune_keeps_latest_champion_and_previous_champion(store: list[tuple[str, str]]) -> None:
    settings = get_settings()
    newest_of = {version: tag for tag, version in store}  # the last copy of each version wins
    expected_kept = {tag for tag, _ in store[-2:]} | {newest_of["m3"], newest_of["m2"]}
    warehouse = open_warehouse(settings.resolved_warehouse_url)
    try:
        pruned = prune_store(settings, warehouse)
        assert set(pruned.kept) == expected_kept
        assert set(pruned.deleted) == {tag for tag, _ in store} - expected_kept
        left = {str(m.tag) for m in published_models(settings)}
        assert left == expected_kept
        assert str(bento_store(settings).get(f"{BENTO_MODEL_NAME}:latest").tag) == store[-1][0]
        again = prune_store(settings, warehouse)  # idempotent
        assert again.deleted == [] and set(again.kept) == expected_kept
    finally:
        warehouse.close()


def test_keep_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("SEONGSU_KEEP_MODEL_VERSIONS", "0")
    with pytest.raises(ValidationError, match="keep_model_versions"):
        get_settings()
