"""Model registry: champion/challenger, publication to the BentoML store, rollback.

Why it works this way:

* **Every trained model is kept.**  ``save_candidate`` writes a full model package to
  ``SEONGSU_HOME/models/<version>/`` and a ``candidate`` row in the warehouse ``models`` table before
  anything can go wrong downstream (W&B, the comparison, the store), so a trained model is never
  lost; rejected packages stay on disk for inspection.
* **Who gets promoted** is the gate's call (``tasks.ops.champion``: challenger vs champion vs the best
  baseline on the same window); this module records it.  A candidate is a trained model or, when no
  model beats the best baseline, that baseline packaged like one (``kind`` in the package metadata,
  the store labels and the ``models`` table).  Rejected candidates are recorded (status
  ``rejected``, the comparison in ``metrics_json``).
* **Publication.**  Promotion, the daily forecast refresh and a rollback each save the package as a
  new version of ``BENTO_MODEL_NAME`` in the BentoML store (the newest is ``:latest``, what the
  Bento service serves).  Labels: ``model_version``, ``as_of``, ``data_hash``, ``kind`` (the
  publication: promotion | refresh | rollback), ``model_kind`` (model | baseline) and ``forecaster``.  The store is
  ``$BENTOML_HOME/models`` (``SEONGSU_HOME/bentoml`` by default), opened explicitly so the path
  follows the environment of the call.
* **The warehouse ``models`` table is the record** (status candidate | production | archived |
  rejected | rolled_back).  Exactly one row is ``production``; promotion archives the previous one,
  ``rollback`` re-publishes the previous champion and marks the current one ``rolled_back``.
  W&B is informational only (offline runs cannot be read back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import polars as pl

from tasks.core.schema import MODELS, conform
from tasks.core.settings import REPO_ROOT, Settings
from tasks.data.history import LoadedHistory, data_hash
from tasks.data.warehouse.base import Warehouse
from tasks.model.features import MAX_HORIZON, cutoff_for
from tasks.model.forecasters import PackagedForecaster, kind_of, lag_of, save_baseline
from tasks.model.forecasters import context_days as forecaster_context_days
from tasks.model.package import (
    BENTO_MODEL_NAME,
    ModelPackage,
    PackageMetadata,
    build_package,
    read_package,
)
from tasks.model.train import CatBoostForecaster, TrainConfig
from tasks.ops.tracking import move_production_alias

if TYPE_CHECKING:
    from tasks.ops.champion import Decision

log = logging.getLogger("seongsu.registry")

SEONGSU: Final = 211
RECIPE_FILES: Final = ("tasks/model/features.py", "tasks/model/train.py")
PROMOTED_EVENT: Final = "seongsu.model.promoted"
Status = Literal["candidate", "production", "archived", "rejected", "rolled_back"]


class RegistryError(RuntimeError):
    """A registry operation cannot proceed (nothing to roll back to, missing package...)."""


# --------------------------------------------------------------------------------------------------
# identity of a model and of the code that trained it


def new_version(now: datetime | None = None) -> str:
    """``20230703T120000-1a2b3c``: sortable by training time, unique within a second."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def code_version() -> str:
    """``git describe --always --dirty`` of the checkout, else the installed package version."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        if out:
            return out
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"daily-seongsu {importlib_metadata.version('daily-seongsu')}"
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def recipe_fingerprint() -> str:
    """sha256 (12 hex) of the feature and training code: same fingerprint = same recipe code."""
    digest = hashlib.sha256()
    for rel in RECIPE_FILES:
        path = REPO_ROOT / rel
        digest.update(rel.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:12]


BOUND_KEYS: Final = ("thread_count", "max_train_rows", "train_days", "fit_time_limit_s")
"""``TrainConfig`` fields that bound a run's cost rather than define the model: a comparison sets them
the same for both sides.  Every other field (target, seed, lag, warmup, detrending...) and the tree
parameters make up the *recipe*."""


def recipe_of(forecaster: CatBoostForecaster) -> dict[str, Any]:
    """How a model is trained: its tree parameters (as fitted) + the non-bound config fields."""
    params = dict(forecaster.metadata.get("params") or forecaster.config.params)
    params.pop("thread_count", None)
    params.pop("random_seed", None)
    config = asdict(forecaster.config)
    choices = {k: v for k, v in config.items() if k != "params" and k not in BOUND_KEYS}
    return {"params": params, **choices}


def fit_config(recipe: Mapping[str, Any], bounds: TrainConfig) -> TrainConfig:
    """``bounds`` (rows, days, threads, time) with ``recipe``'s parameters and training choices
    (fields this code no longer knows are ignored; fields the recipe lacks keep their default)."""
    known = {f.name for f in fields(TrainConfig)} - set(BOUND_KEYS) - {"params"}
    return replace(bounds, params=dict(recipe["params"]), **{k: v for k, v in recipe.items() if k in known})


# --------------------------------------------------------------------------------------------------
# the models table


def list_models(warehouse: Warehouse) -> pl.DataFrame:
    """All rows of ``models``, newest first."""
    if "models" not in warehouse.table_names():
        return pl.DataFrame(schema=MODELS.polars_schema)
    return warehouse.read_table(MODELS).sort("trained_at", "version", descending=True, nulls_last=True)


@dataclass(frozen=True)
class ModelRecord:
    version: str
    status: str
    trained_at: datetime | None
    promoted_at: datetime | None
    data_hash: str | None
    data_start: dt.date | None
    data_end: dt.date | None
    code_version: str | None
    wandb_run: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    kind: str = "model"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ModelRecord:
        try:
            metrics = json.loads(row.get("metrics_json") or "{}")
        except json.JSONDecodeError:
            metrics = {}
        return cls(
            version=row["version"],
            status=row["status"],
            trained_at=row.get("trained_at"),
            promoted_at=row.get("promoted_at"),
            data_hash=row.get("data_hash"),
            data_start=row.get("data_start"),
            data_end=row.get("data_end"),
            code_version=row.get("code_version"),
            wandb_run=row.get("wandb_run"),
            metrics=metrics if isinstance(metrics, dict) else {},
            kind=row.get("kind") or "model",
        )

    def row(self, **changes: Any) -> dict[str, Any]:
        rec = replace(self, **changes)
        out = {k: v for k, v in asdict(rec).items() if k != "metrics"}
        out["metrics_json"] = json.dumps(rec.metrics, default=str, ensure_ascii=False, sort_keys=True)
        return out


def get_model(warehouse: Warehouse, version: str) -> ModelRecord | None:
    rows = warehouse.read_table(MODELS, "version = %s", [version])
    return ModelRecord.from_row(rows.row(0, named=True)) if rows.height else None


def production_record(warehouse: Warehouse) -> ModelRecord | None:
    """The champion: the ``production`` row (the newest promotion if, wrongly, there are several)."""
    if "models" not in warehouse.table_names():
        return None
    rows = warehouse.read_table(MODELS, "status = %s", ["production"])
    if rows.is_empty():
        return None
    rows = rows.sort("promoted_at", "trained_at", nulls_last=False)
    return ModelRecord.from_row(rows.row(-1, named=True))


def _upsert(warehouse: Warehouse, rows: Sequence[dict[str, Any]]) -> None:
    warehouse.upsert(MODELS, conform(pl.DataFrame(list(rows), infer_schema_length=None), MODELS))


# --------------------------------------------------------------------------------------------------
# packages on disk and in the BentoML store


def package_dir(settings: Settings, version: str) -> Path:
    return settings.models_dir / version


def bento_store_dir(settings: Settings) -> Path:
    """``$BENTOML_HOME/models`` -- the same store the Bento service reads (default under home)."""
    home = os.environ.get("BENTOML_HOME") or str(settings.home / "bentoml")
    return Path(home) / "models"


def _bento_store(settings: Settings) -> Any:
    from bentoml._internal.models import ModelStore

    path = bento_store_dir(settings)
    path.mkdir(parents=True, exist_ok=True)
    return ModelStore(str(path))


def _tag_version(meta: PackageMetadata, kind: str) -> str:
    slug = "".join(ch if ch.isalnum() or ch in "-._" else "-" for ch in meta.version.lower()).strip("-._")
    return f"{slug[:36]}-{kind[:1]}{meta.as_of:%Y%m%d}-{uuid.uuid4().hex[:6]}"


def publish_package(
    settings: Settings,
    package_path: Path,
    *,
    kind: Literal["promotion", "refresh", "rollback"],
) -> str:
    """Save the package as a new version of ``BENTO_MODEL_NAME`` (it becomes ``:latest``); the tag.

    The package files are copied to the root of the model's directory; labels and metadata name
    the model version it carries, the issue date and the training data hash.
    """
    import bentoml

    meta = PackageMetadata.from_json((package_path / "metadata.json").read_text(encoding="utf-8"))
    name = f"{BENTO_MODEL_NAME}:{_tag_version(meta, kind)}"
    labels = {
        "model_version": meta.version,
        "as_of": meta.as_of.isoformat(),
        "data_hash": meta.data_hash[:16],
        "kind": kind,
        "model_kind": meta.kind,
        "forecaster": meta.forecaster,
    }
    info = {
        "model_version": meta.version,
        "as_of": meta.as_of.isoformat(),
        "data_hash": meta.data_hash,
        "data_start": meta.data_start.isoformat(),
        "data_end": meta.data_end.isoformat(),
        "code_version": meta.code_version,
        "weather_source": meta.weather_source,
        "kind": kind,
        "model_kind": meta.kind,
        "forecaster": meta.forecaster,
        "published_at": datetime.now(UTC).isoformat(),
    }
    with bentoml.models.create(
        name, labels=labels, metadata=info, _model_store=_bento_store(settings)
    ) as model:
        shutil.copytree(package_path, model.path, dirs_exist_ok=True)
    log.info("published %s (model %s, as_of %s, %s)", model.tag, meta.version, meta.as_of, kind)
    return str(model.tag)


def published_models(settings: Settings) -> list[Any]:
    """Versions of ``BENTO_MODEL_NAME`` in the store, oldest first."""
    from bentoml.exceptions import NotFound

    try:
        models = _bento_store(settings).list(BENTO_MODEL_NAME)
    except NotFound:
        return []
    return sorted(models, key=lambda m: m.creation_time)


def latest_published(settings: Settings) -> Any | None:
    """``seongsu-crowding:latest`` (a BentoML ``Model``), or None when nothing was published."""
    from bentoml.exceptions import NotFound

    try:
        return _bento_store(settings).get(f"{BENTO_MODEL_NAME}:latest")
    except NotFound:
        return None


def load_published_package(settings: Settings, tag: str = "latest") -> ModelPackage:
    """Read a published package back from the store (what the Bento service serves)."""
    from bentoml.exceptions import NotFound

    try:
        model = _bento_store(settings).get(f"{BENTO_MODEL_NAME}:{tag}")
    except NotFound as exc:
        raise RegistryError(f"no {BENTO_MODEL_NAME}:{tag} in {bento_store_dir(settings)}") from exc
    return read_package(Path(model.path))


def find_package(settings: Settings, version: str) -> Path:
    """The package of model ``version``: ``models/<version>``, else its newest copy in the store."""
    local = package_dir(settings, version)
    if (local / "metadata.json").exists():
        return local
    for model in reversed(published_models(settings)):
        if model.info.labels.get("model_version") == version:
            return Path(model.path)
    raise RegistryError(f"no package for model {version} in {settings.models_dir} or the BentoML store")


def production_package(settings: Settings, warehouse: Warehouse) -> ModelPackage:
    """The champion's package (warehouse record -> local dir / store); a clear error if none."""
    record = production_record(warehouse)
    if record is None:
        raise RegistryError("no production model yet: run `seongsu train` first")
    return read_package(find_package(settings, record.version))


# --------------------------------------------------------------------------------------------------
# candidates


@dataclass(frozen=True)
class Candidate:
    version: str
    package_path: Path
    metadata: PackageMetadata
    recipe: dict[str, Any]
    fingerprint: str

    @property
    def kind(self) -> str:
        return self.metadata.kind


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
    from tasks.model.forecast import context_history

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
        metrics=meta.metrics,
        kind=kind,
    )
    with warehouse.transaction():
        _upsert(warehouse, [record.row()])
    return Candidate(version, path, meta, recipe, fingerprint)


# --------------------------------------------------------------------------------------------------
# promotion, rejection, refresh, rollback


@dataclass(frozen=True)
class Publication:
    version: str
    status: str
    bento_tag: str | None
    archived: list[str]
    baseline: Publication | None = None
    """When the gate rejected this candidate and packaged the best baseline: that publication."""


def _set_metadata(path: Path, meta: PackageMetadata) -> None:
    tmp = path / ".metadata.json.tmp"
    tmp.write_text(meta.to_json(), encoding="utf-8")
    os.replace(tmp, path / "metadata.json")


def promote(
    settings: Settings,
    warehouse: Warehouse,
    candidate: Candidate,
    decision: Decision,
    *,
    metrics: Mapping[str, Any] | None = None,
    wandb_run: str | None = None,
    emit_event: bool = True,
) -> Publication:
    """Make ``candidate`` the champion: store version, ``production`` row, previous one archived."""
    now = datetime.now(UTC).replace(tzinfo=None)
    record = get_model(warehouse, candidate.version)
    if record is None:
        raise RegistryError(f"model {candidate.version} is not registered")
    extra = {**dict(metrics or {}), "decision": decision.as_dict()}
    meta = replace(
        candidate.metadata,
        promoted_at=now,
        wandb_run=wandb_run or candidate.metadata.wandb_run,
        metrics=json_safe({**candidate.metadata.metrics, **extra}),
    )
    _set_metadata(candidate.package_path, meta)
    tag = publish_package(settings, candidate.package_path, kind="promotion")
    previous = warehouse.read_table(MODELS, "status = %s", ["production"])
    archived = [v for v in previous["version"].to_list() if v != candidate.version]
    rows = [
        ModelRecord.from_row(r).row(status="archived")
        for r in previous.iter_rows(named=True)
        if r["version"] != candidate.version
    ]
    merged = {**record.metrics, **extra, "bento_tag": tag}
    if merged.get("backtest_wape") is None:
        c = decision.comparison
        merged["backtest_wape"] = c.best_baseline_wape if candidate.kind == "baseline" else c.challenger_wape
    rows.append(
        record.row(
            status="production",
            promoted_at=now,
            wandb_run=wandb_run or record.wandb_run,
            metrics=json_safe(merged),
        )
    )
    with warehouse.transaction():
        _upsert(warehouse, rows)
    if emit_event:
        _emit_promoted(candidate.version, meta.as_of, tag)
    return Publication(candidate.version, "production", tag, archived)


def reject(
    warehouse: Warehouse,
    candidate: Candidate,
    decision: Decision,
    *,
    metrics: Mapping[str, Any] | None = None,
    wandb_run: str | None = None,
) -> Publication:
    """Record a challenger that did not win (its package stays on disk, metadata updated)."""
    record = get_model(warehouse, candidate.version)
    if record is None:
        raise RegistryError(f"model {candidate.version} is not registered")
    extra = {**dict(metrics or {}), "decision": decision.as_dict()}
    metrics = {**record.metrics, **extra}
    _set_metadata(
        candidate.package_path,
        replace(candidate.metadata, metrics=json_safe({**candidate.metadata.metrics, **extra})),
    )
    with warehouse.transaction():
        _upsert(
            warehouse,
            [
                record.row(
                    status="rejected", wandb_run=wandb_run or record.wandb_run, metrics=json_safe(metrics)
                )
            ],
        )
    return Publication(candidate.version, "rejected", None, [])


def _emit_promoted(version: str, as_of: dt.date, tag: str) -> None:
    """Tell Prefect (the forecast deployment's trigger) that a new champion serves; best effort."""
    try:
        from prefect.events import emit_event
        from prefect.settings import get_current_settings

        if not get_current_settings().api.url:
            log.info("no Prefect API configured: %s for %s not emitted", PROMOTED_EVENT, version)
            return
        emit_event(
            event=PROMOTED_EVENT,
            resource={"prefect.resource.id": f"seongsu.model.{version}", "prefect.resource.name": version},
            payload={"as_of": as_of.isoformat(), "bento_tag": tag},
        )
    except Exception as exc:
        log.warning("could not emit %s for %s: %s", PROMOTED_EVENT, version, exc)


def rollback(settings: Settings, warehouse: Warehouse) -> Publication:
    """Serve the previous champion again: re-publish its newest package as ``:latest`` and swap the
    statuses (current -> ``rolled_back``, previous -> ``production``)."""
    current = production_record(warehouse)
    if current is None:
        raise RegistryError("no production model: nothing to roll back")
    archived = warehouse.read_table(MODELS, "status = %s", ["archived"]).filter(
        pl.col("promoted_at").is_not_null()
    )
    if archived.is_empty():
        raise RegistryError(f"{current.version} is the only model ever promoted: nothing to roll back to")
    previous = ModelRecord.from_row(archived.sort("promoted_at").row(-1, named=True))
    source = _newest_package(settings, previous.version)
    tag = publish_package(settings, source, kind="rollback")
    now = datetime.now(UTC).replace(tzinfo=None)
    history = list(previous.metrics.get("rollbacks", []))
    history.append({"at": now.isoformat(), "from": current.version, "bento_tag": tag})
    rows = [
        current.row(status="rolled_back"),
        previous.row(
            status="production", promoted_at=now, metrics={**previous.metrics, "rollbacks": history}
        ),
    ]
    with warehouse.transaction():
        _upsert(warehouse, rows)
    move_production_alias(settings, previous.version)
    return Publication(previous.version, "production", tag, [current.version])


def _newest_package(settings: Settings, version: str) -> Path:
    """The most recent package of ``version``: its newest store copy (latest refresh), else local."""
    for model in reversed(published_models(settings)):
        if model.info.labels.get("model_version") == version:
            return Path(model.path)
    local = package_dir(settings, version)
    if (local / "metadata.json").exists():
        return local
    raise RegistryError(f"no package of model {version} to re-publish")


def json_safe(value: Any) -> Any:
    """JSON round trip (dates -> ISO strings, numpy scalars -> floats) for metrics/metadata."""
    return json.loads(json.dumps(value, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
