"""One loaded model package and what it can answer: built off the request path, swapped whole.

``load_served`` is the slow part of a hot swap (read, index, load CatBoost); the service calls it on
its watcher thread and then rebinds one reference, so a request never sees half a package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from bentos.crowding.lookup import ForecastIndex, load_index, package_root
from tasks.model.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES


@dataclass(frozen=True)
class Served:
    """Everything one package serves with; replaced as a whole on a swap, never mutated."""

    tag: str
    index: ForecastIndex
    forecaster: Any  # tasks.model.train.CatBoostForecaster (imported lazily: CatBoost is heavy)
    predict_problem: str | None  # why /predict cannot use this model, if it cannot

    @property
    def version(self) -> str:
        return self.index.metadata.version


def load_served(model_path: Path, tag: str) -> Served:
    """Read, index and load one package from a model-store directory (slow; never on a request).

    A baseline package (the gate serves one when no trained model beats it) answers ``/forecast``
    like any package; ``/predict`` answers 409 for it, see ``baseline_predict_problem``."""
    from tasks.model.forecasters import load_forecaster

    index = load_index(model_path, tag)
    meta = index.metadata
    forecaster = load_forecaster(package_root(model_path) / "model")
    if meta.kind == "baseline":
        return Served(tag, index, forecaster, baseline_predict_problem(meta.version, meta.forecaster))
    features = forecaster.metadata.get("features") or {}  # type: ignore[attr-defined]
    expected = {"numeric": list(NUMERIC_FEATURES), "categorical": list(CATEGORICAL_FEATURES)}
    problem = None
    if features and {k: list(v) for k, v in features.items()} != expected:
        problem = (
            f"model {index.metadata.version} was trained on other features than this server's "
            f"FEATURE_COLUMNS; /predict is disabled for it (/forecast is unaffected)"
        )
    return Served(tag, index, forecaster, problem)


def baseline_predict_problem(version: str, name: str) -> str:
    """Why ``/predict`` cannot answer while a baseline serves (a 409: the request is fine, the
    served package cannot score it).  A baseline is a rule over past ridership, not a function of
    feature rows, so scoring a client's rows "with the baseline" would be a different forecast than
    the one ``/forecast`` serves; answering with invented numbers would be worse than a clear no."""
    return (
        f"the served package {version} is the baseline '{name}' (kind baseline: no trained model beat "
        "it on the last promotion window, see GET /model); a baseline forecasts from past ridership, "
        "not from feature rows, so /predict has nothing to score. /forecast serves its forecasts; "
        "/predict works again once a trained model is promoted"
    )


def predict_rows(forecaster: Any, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """yhat/lo/hi for explicit feature rows, with the forecaster's own target decoding.

    Uses ``CatBoostForecaster.decode``, the model's single decode path, so a client's rows go
    through exactly the transform (interval calibration, guard, blend) ``CatBoostForecaster.predict``
    applies after building features.
    """
    schema: dict[str, Any] = {c: pl.Float64 for c in FEATURE_COLUMNS}
    schema.update(station_code=pl.Int32, direction=pl.String)
    frame = pl.DataFrame(rows, schema=schema)
    lo, yhat, hi = forecaster.decode(frame)
    return [
        {"yhat": round(float(y), 2), "lo": round(float(a), 2), "hi": round(float(b), 2)}
        for y, a, b in zip(yhat, lo, hi, strict=True)
    ]
