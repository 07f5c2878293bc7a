"""Building model packages: a freshly trained model or a served baseline (``save_candidate``), and the
champion re-issued for a new as-of (``refresh_package``: same fitted model, newest context, no
retraining).

Both go through ``tasks.model.package.build_package`` with the context of ``context_history``, so
every package has one shape whoever builds it.  This module sits above the registry (it records
candidates) and the store (it publishes refreshes); neither imports it back.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tasks.core.constants import MAX_HORIZON
from tasks.core.settings import Settings
from tasks.data.history import LoadedHistory, context_history, data_hash
from tasks.data.warehouse.base import Warehouse
from tasks.model.features import cutoff_for
from tasks.model.forecast import forecast, package_context_days
from tasks.model.forecasters import PackagedForecaster, kind_of, lag_of, save_baseline
from tasks.model.forecasters import context_days as forecaster_context_days
from tasks.model.package import ModelPackage, PackageMetadata, build_package
from tasks.model.train import CatBoostForecaster
from tasks.ops.identity import code_version, json_safe, new_version, recipe_fingerprint, recipe_of
from tasks.ops.model_metrics import ModelMetrics
from tasks.ops.registry import Candidate, ModelRecord, upsert_records
from tasks.ops.store import RegistryError, latest_published, package_dir, publish_package


def save_candidate(
    settings: Settings,
    warehouse: Warehouse,
    forecaster: PackagedForecaster,
    loaded: LoadedHistory,
    *,
    forecasts: pl.DataFrame,
    version: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    wandb_run: str | None = None,
    context_days: int | None = None,
) -> Candidate:
    """Write the package of a freshly trained model -- or of a baseline the gate serves -- and
    record it as ``candidate`` (the one package builder for both kinds).

    ``forecasts`` are the forecaster's forecasts issued on ``loaded.as_of`` (all stations, 7 days).
    """
    from tasks.data.history import context_history

    trained_at = datetime.now(UTC).replace(tzinfo=None)
    version = version or new_version()
    ridership = loaded.history.ridership
    if ridership.is_empty():
        raise RegistryError("cannot register a model trained on no ridership")
    known = ridership.filter(pl.col("date") <= cutoff_for(loaded.as_of, lag_of(forecaster)))
    kind = kind_of(forecaster)
    if isinstance(forecaster, CatBoostForecaster):
        fingerprint, recipe = recipe_fingerprint(), recipe_of(forecaster)
        train_info = {
            k: forecaster.metadata.get(k)
            for k in ("train_rows", "train_stations", "train_date_range", "timings_s", "final_trees")
        }
    else:  # a baseline: nothing fitted, its name and lag are the whole recipe
        fingerprint, recipe, train_info = (
            "",
            {"baseline": forecaster.name, "lag_days": lag_of(forecaster)},
            {},
        )
    all_metrics = {
        **dict(metrics or {}),
        "kind": kind,
        "forecaster": forecaster.name,
        "recipe": recipe,
        "recipe_fingerprint": fingerprint,
        "train": train_info,
    }
    meta = PackageMetadata(
        version=version,
        as_of=loaded.as_of,
        horizon_days=MAX_HORIZON,
        data_start=known["date"].min(),  # type: ignore[arg-type]
        data_end=known["date"].max(),  # type: ignore[arg-type]
        data_hash=data_hash(known),
        code_version=code_version(),
        trained_at=trained_at,
        wandb_run=wandb_run,
        metrics=json_safe(all_metrics),
        weather_source="kma_forecast" if loaded.weather_source == "kma_forecast" else "observed",
        kind=kind,
        forecaster=forecaster.name,
    )
    context = context_history(loaded, context_days or forecaster_context_days(forecaster))
    with tempfile.TemporaryDirectory(prefix="seongsu-model-") as tmp:
        if isinstance(forecaster, CatBoostForecaster):
            model_dir = forecaster.save(Path(tmp) / "model")
        else:
            model_dir = save_baseline(forecaster, Path(tmp) / "model")
        path = build_package(
            package_dir(settings, version),
            metadata=meta,
            model_dir=model_dir,
            forecasts=forecasts,
            ridership=context.ridership,
            weather=context.weather,
            stations=context.stations,
        )
    record = ModelRecord(
        version=version,
        status="candidate",
        trained_at=trained_at,
        promoted_at=None,
        data_hash=meta.data_hash,
        data_start=meta.data_start,
        data_end=meta.data_end,
        code_version=meta.code_version,
        wandb_run=wandb_run,
        metrics=ModelMetrics.of(meta.metrics),
        kind=kind,
    )
    with warehouse.transaction():
        upsert_records(warehouse, [record.row()])
    return Candidate(version, path, meta, recipe, fingerprint)


def refresh_package(
    base: ModelPackage,
    loaded: LoadedHistory,
    destination: Path,
    *,
    forecasts: pl.DataFrame | None = None,
) -> Path:
    """A package of ``base``'s fitted model issued on ``loaded.as_of`` (no retraining).

    ``forecasts`` (all stations, as_of+1..as_of+7) are computed unless given (the forecast flow has
    them already for the warehouse).
    """
    context = context_history(loaded, package_context_days(base))
    if forecasts is None:
        forecasts = forecast(base, context, loaded.as_of, days=MAX_HORIZON, stations="all")
    metadata: PackageMetadata = replace(
        base.metadata, as_of=loaded.as_of, weather_source=_package_weather(loaded)
    )
    return build_package(
        destination,
        metadata=metadata,
        model_dir=base.model_dir,
        forecasts=forecasts,
        ridership=context.ridership,
        weather=context.weather,
        stations=context.stations,
    )


def _package_weather(loaded: LoadedHistory) -> str:
    return "kma_forecast" if loaded.weather_source == "kma_forecast" else "observed"


def publish_refresh(
    settings: Settings, package: ModelPackage, loaded: LoadedHistory, forecasts: pl.DataFrame
) -> str | None:
    """Publish ``package``'s model issued on ``loaded.as_of`` to the BentoML store (a new version).

    Skipped (None) when ``:latest`` already is this model issued on this day: re-running the daily
    flow does not pile up identical versions.
    """
    latest = latest_published(settings)
    if latest is not None:
        labels = latest.info.labels
        if labels.get("model_version") == package.metadata.version and labels.get("as_of") == (
            loaded.as_of.isoformat()
        ):
            return None
    with tempfile.TemporaryDirectory(prefix="seongsu-refresh-") as tmp:
        path = refresh_package(package, loaded, Path(tmp) / "package", forecasts=forecasts)
        return publish_package(settings, path, kind="refresh")
