"""Who a model is: its version, the code that trained it, its recipe, and JSON-safe metrics.

Why apart from the registry: the gate (``tasks.ops.champion``) compares recipes and the registry
records them; both read the same definitions here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from tasks.core.settings import REPO_ROOT
from tasks.model.recipe import TrainConfig

if TYPE_CHECKING:  # the registry reads recipes; importing CatBoost for a served baseline cost seconds
    from tasks.model.train import CatBoostForecaster

RECIPE_FILES: Final = (
    "tasks/model/features.py",
    "tasks/model/recipe.py",
    "tasks/model/quantile.py",
    "tasks/model/train.py",
)
"""The files whose content is the recipe: same fingerprint = same recipe code (paths count too)."""


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
