"""Model packages on disk (``SEONGSU_HOME/models/<version>``) and in the BentoML model store.

Publishing saves a package as a new version of ``BENTO_MODEL_NAME`` (the newest is ``:latest``, what
the Bento service serves).  This is the bottom of ``tasks.ops``: the registry publishes through it,
pruning (``tasks.ops.model_store``) lists through it.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tasks.core.settings import Settings
from tasks.model.package import BENTO_MODEL_NAME, PackageMetadata

log = logging.getLogger("seongsu.registry")


class RegistryError(RuntimeError):
    """A registry operation cannot proceed (nothing to roll back to, missing package...)."""


class UnknownVersionError(RegistryError):
    """A version the registry never held: the caller's argument is wrong (the CLI exits 2)."""


def package_dir(settings: Settings, version: str) -> Path:
    return settings.models_dir / version


def bento_store_dir(settings: Settings) -> Path:
    """``$BENTOML_HOME/models`` -- the same store the Bento service reads (default under home)."""
    home = os.environ.get("BENTOML_HOME") or str(settings.home / "bentoml")
    return Path(home) / "models"


def bento_store(settings: Settings) -> Any:
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
        name, labels=labels, metadata=info, _model_store=bento_store(settings)
    ) as model:
        shutil.copytree(package_path, model.path, dirs_exist_ok=True)
    log.info("published %s (model %s, as_of %s, %s)", model.tag, meta.version, meta.as_of, kind)
    return str(model.tag)


def published_models(settings: Settings) -> list[Any]:
    """Versions of ``BENTO_MODEL_NAME`` in the store, oldest first."""
    from bentoml.exceptions import NotFound

    try:
        models = bento_store(settings).list(BENTO_MODEL_NAME)
    except NotFound:
        return []
    return sorted(models, key=lambda m: m.creation_time)


def latest_published(settings: Settings) -> Any | None:
    """``seongsu-crowding:latest`` (a BentoML ``Model``), or None when nothing was published."""
    from bentoml.exceptions import NotFound

    try:
        return bento_store(settings).get(f"{BENTO_MODEL_NAME}:latest")
    except NotFound:
        return None


def find_package(settings: Settings, version: str) -> Path:
    """The package of model ``version``: ``models/<version>``, else its newest copy in the store."""
    local = package_dir(settings, version)
    if (local / "metadata.json").exists():
        return local
    for model in reversed(published_models(settings)):
        if model.info.labels.get("model_version") == version:
            return Path(model.path)
    raise RegistryError(f"no package for model {version} in {settings.models_dir} or the BentoML store")


def newest_package(settings: Settings, version: str) -> Path:
    """The most recent package of ``version``: its newest store copy (latest refresh), else local."""
    for model in reversed(published_models(settings)):
        if model.info.labels.get("model_version") == version:
            return Path(model.path)
    local = package_dir(settings, version)
    if (local / "metadata.json").exists():
        return local
    raise RegistryError(f"no package of model {version} to re-publish")
