"""Model store hygiene: old versions of ``seongsu-crowding`` in the BentoML store are pruned.

Every promotion, daily forecast refresh and rollback saves a full copy of a package as a new store
version, so the store (on the box: the shared ``/var/lib/seongsu/bentoml`` volume) grows by one
package a day.  What must stay: the version being served (``:latest``), the champion's newest copy,
the previous champion's newest copy (what ``seongsu model rollback`` re-publishes), and the
``SEONGSU_KEEP_MODEL_VERSIONS`` most recent versions.  Everything older goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tasks.core.settings import Settings
from tasks.data.warehouse.base import Warehouse
from tasks.ops.registry import previous_champion, production_record
from tasks.ops.store import bento_store, published_models

log = logging.getLogger("seongsu.model_store")


@dataclass(frozen=True)
class Pruned:
    kept: list[str]
    deleted: list[str]


def champions(warehouse: Warehouse) -> tuple[str | None, str | None]:
    """(current champion, previous champion): the ``production`` model and the archived model that
    was promoted most recently -- the one a rollback returns to."""
    current, previous = production_record(warehouse), previous_champion(warehouse)
    return (current.version if current else None, previous.version if previous else None)


def versions_to_keep(models: list[Any], protected: set[str], keep_recent: int) -> set[str]:
    """Tags to keep among ``models`` (oldest first): the newest ``keep_recent`` (at least the newest,
    which is ``:latest``) and the newest copy of each protected model version."""
    keep = {str(m.tag) for m in models[-max(1, keep_recent) :]}
    for version in protected:
        copies = [m for m in models if m.info.labels.get("model_version") == version]
        if copies:
            keep.add(str(copies[-1].tag))
    return keep


def prune_store(settings: Settings, warehouse: Warehouse) -> Pruned:
    """Delete the versions ``versions_to_keep`` does not name; returns what was kept and deleted."""
    models = published_models(settings)
    protected = {v for v in champions(warehouse) if v}
    keep = versions_to_keep(models, protected, settings.keep_model_versions)
    store = bento_store(settings)
    deleted = []
    for model in models:
        tag = str(model.tag)
        if tag not in keep:
            store.delete(tag)
            deleted.append(tag)
    if deleted:
        log.info("pruned %d old model version(s) from the store; kept %d", len(deleted), len(keep))
    return Pruned(sorted(keep), deleted)
