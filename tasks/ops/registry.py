"""Model registry: the ``models`` table, the one production lookup, promote / reject / rollback.

Why it works this way:

* **Every trained model is kept.**  ``save_candidate`` (``tasks.ops.packaging``) writes a full model package to
  ``SEONGSU_HOME/models/<version>/`` and a ``candidate`` row in the warehouse ``models`` table before
  anything can go wrong downstream (W&B, the comparison, the store), so a trained model is never
  lost; rejected packages stay on disk for inspection.
* **Who gets promoted** is the gate's call (``tasks.ops.champion``: challenger vs champion vs the best
  baseline on the same window); this module records it.  A candidate is a trained model or, when no
  model beats the best baseline, that baseline packaged like one (``kind`` in the package metadata,
  the store labels and the ``models`` table).  Rejected candidates are recorded (status
  ``rejected``, the comparison in ``metrics_json``).
* **Publication.**  Promotion, the daily forecast refresh and a rollback each save the package as a
  new version of ``BENTO_MODEL_NAME`` in the BentoML store (``tasks.ops.store``; the newest is
  ``:latest``, what the Bento service serves).  Labels: ``model_version``, ``as_of``, ``data_hash``,
  ``kind`` (the publication: promotion | refresh | rollback), ``model_kind`` (model | baseline) and
  ``forecaster``.
* **The warehouse ``models`` table is the record** (status candidate | production | archived |
  rejected | rolled_back).  Exactly one row is ``production``; promotion archives the previous one,
  ``rollback`` re-publishes the previous champion and marks the current one ``rolled_back``.
  W&B is informational only (offline runs cannot be read back).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import polars as pl

from tasks.core.schema import MODELS, conform
from tasks.core.settings import Settings
from tasks.data.warehouse.base import Warehouse
from tasks.model.package import (
    ModelPackage,
    PackageMetadata,
    read_package,
)
from tasks.ops.identity import (
    json_safe,
)
from tasks.ops.model_metrics import ModelMetrics
from tasks.ops.store import (
    RegistryError,
    UnknownVersionError,
    find_package,
    newest_package,
    publish_package,
)
from tasks.ops.tracking import move_production_alias

log = logging.getLogger("seongsu.registry")

PROMOTED_EVENT: Final = "seongsu.model.promoted"
Status = Literal["candidate", "production", "archived", "rejected", "rolled_back"]


class Verdict(Protocol):
    """What the registry records of the gate's decision (``tasks.ops.champion.Decision``): typed
    structurally so the registry stays below the gate that calls it."""

    @property
    def comparison(self) -> Any: ...

    def as_dict(self) -> dict[str, Any]: ...


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
    metrics: ModelMetrics = field(default_factory=ModelMetrics)
    kind: str = "model"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ModelRecord:
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
            metrics=ModelMetrics.from_json(row.get("metrics_json")),
            kind=row.get("kind") or "model",
        )

    def row(self, **changes: Any) -> dict[str, Any]:
        rec = replace(self, **changes)
        out = {k: v for k, v in asdict(rec).items() if k != "metrics"}
        out["metrics_json"] = rec.metrics.to_json()
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


def previous_champion(warehouse: Warehouse) -> ModelRecord | None:
    """The archived model promoted most recently: the one a rollback returns to."""
    archived = warehouse.read_table(MODELS, "status = %s", ["archived"]).filter(
        pl.col("promoted_at").is_not_null()
    )
    if archived.is_empty():
        return None
    return ModelRecord.from_row(archived.sort("promoted_at").row(-1, named=True))


def upsert_records(warehouse: Warehouse, rows: Sequence[dict[str, Any]]) -> None:
    warehouse.upsert(MODELS, conform(pl.DataFrame(list(rows), infer_schema_length=None), MODELS))


# --------------------------------------------------------------------------------------------------
# packages on disk and in the BentoML store


def production_package(settings: Settings, warehouse: Warehouse) -> ModelPackage:
    """The champion's package (warehouse record -> local dir / store); a clear error if none."""
    record = production_record(warehouse)
    if record is None:
        raise RegistryError("no production model yet: run `seongsu train` first")
    return read_package(find_package(settings, record.version))


def registered_package(settings: Settings, warehouse: Warehouse, version: str) -> ModelPackage:
    """The package of any registered ``version`` -- a rejected challenger, an archived champion --
    so its forecasts can be read next to the champion's; a clear error for an unknown version."""
    if "models" not in warehouse.table_names() or get_model(warehouse, version) is None:
        raise UnknownVersionError(
            f"no model {version!r} in the registry; `seongsu model list` shows the versions"
        )
    return read_package(find_package(settings, version))


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
    decision: Verdict,
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
    merged = record.metrics.merged(json_safe({**extra, "bento_tag": tag}))
    if merged.raw.get("backtest_wape") is None:
        c = decision.comparison
        wape = c.best_baseline_wape if candidate.kind == "baseline" else c.challenger_wape
        merged = merged.merged({"backtest_wape": json_safe(wape)})
    rows.append(
        record.row(
            status="production", promoted_at=now, wandb_run=wandb_run or record.wandb_run, metrics=merged
        )
    )
    with warehouse.transaction():
        upsert_records(warehouse, rows)
    if emit_event:
        _emit_promoted(candidate.version, meta.as_of, tag)
    return Publication(candidate.version, "production", tag, archived)


def reject(
    warehouse: Warehouse,
    candidate: Candidate,
    decision: Verdict,
    *,
    metrics: Mapping[str, Any] | None = None,
    wandb_run: str | None = None,
) -> Publication:
    """Record a challenger that did not win (its package stays on disk, metadata updated)."""
    record = get_model(warehouse, candidate.version)
    if record is None:
        raise RegistryError(f"model {candidate.version} is not registered")
    extra = {**dict(metrics or {}), "decision": decision.as_dict()}
    _set_metadata(
        candidate.package_path,
        replace(candidate.metadata, metrics=json_safe({**candidate.metadata.metrics, **extra})),
    )
    with warehouse.transaction():
        upsert_records(
            warehouse,
            [
                record.row(
                    status="rejected",
                    wandb_run=wandb_run or record.wandb_run,
                    metrics=record.metrics.merged(json_safe(extra)),
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
    previous = previous_champion(warehouse)
    if previous is None:
        raise RegistryError(f"{current.version} is the only model ever promoted: nothing to roll back to")
    source = newest_package(settings, previous.version)
    tag = publish_package(settings, source, kind="rollback")
    now = datetime.now(UTC).replace(tzinfo=None)
    history = [
        *previous.metrics.rollbacks,
        {"at": now.isoformat(), "from": current.version, "bento_tag": tag},
    ]
    rows = [
        current.row(status="rolled_back"),
        previous.row(
            status="production", promoted_at=now, metrics=previous.metrics.merged({"rollbacks": history})
        ),
    ]
    with warehouse.transaction():
        upsert_records(warehouse, rows)
    move_production_alias(settings, previous.version)
    return Publication(previous.version, "production", tag, [current.version])
