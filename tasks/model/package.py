"""The model package: everything ``/forecast`` needs, in one immutable directory.

Contract between the registry (which writes packages), the Bento service and ``seongsu forecast``
(which read them).  Serving must never call the warehouse or W&B, so the package carries:

* ``model/``             the forecaster: a fitted CatBoost model (``tasks.model.train.save`` layout) or, when
                         the gate serves a baseline, its spec (``tasks.model.forecasters``; metadata
                         ``kind`` says which, ``forecaster`` names it);
* ``forecasts.parquet``  precomputed hourly forecasts for every station for the package's horizon
                         (``as_of + 1 .. as_of + horizon_days``): date, hour, station_code, direction,
                         yhat, lo, hi.  ``/forecast`` is a lookup into this table, refreshed daily by
                         the forecast flow (a new package version with the same model) without
                         retraining;
* ``context.parquet``    the recent ridership history (ridership_hourly columns) the features of a
                         new as-of need, and ``weather.parquet`` (weather_hourly columns, observed up
                         to as_of plus whatever stands in for the forecast);
* ``stations.parquet``   station_code, station_name, line, name_en;
* ``levels.parquet``     per station_code x direction: the thresholds of the crowding levels
                         (q50, q80, q95 of that station's own hourly counts, see ``crowding_level``);
* ``metadata.json``      ``PackageMetadata``.

Packages are written to a temporary directory and renamed into place, so a reader never sees a
half-written one.  ``build_package`` assembles one from a fitted model's directory, its forecasts and
the recent history (selecting the contract's columns and computing the crowding levels).

In the BentoML model store (``tasks.ops.store.publish_package``) the package files sit at the root of
the model's directory, so ``read_package(Path(bentoml.models.get(f"{BENTO_MODEL_NAME}:latest").path))``
is the served package; the model's labels carry ``model_version``, ``as_of`` and ``data_hash``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tasks.core.schema import RIDERSHIP_HOURLY, WEATHER_HOURLY

PACKAGE_FORMAT = 1
BENTO_MODEL_NAME = "seongsu-crowding"
"""Name in the BentoML model store.  Every published package (a promotion, a daily forecast refresh,
a rollback) is saved as a new version of this model; ``seongsu-crowding:latest`` is what serves."""
FILES = ("forecasts.parquet", "context.parquet", "weather.parquet", "stations.parquet", "levels.parquet")

# Crowding levels from the station's own distribution of hourly counts (per direction):
# below its median hour: quiet; median..80th percentile: normal; 80th..95th: busy; above: very busy.
LEVELS: tuple[tuple[str, str], ...] = (
    ("여유", "Quiet"),
    ("보통", "Normal"),
    ("혼잡", "Busy"),
    ("매우혼잡", "Very busy"),
)


@dataclass(frozen=True)
class PackageMetadata:
    version: str  # model version, e.g. 20260101T120000-abc123
    as_of: date  # issue date of forecasts.parquet; ridership known up to as_of - lag
    horizon_days: int
    data_start: date
    data_end: date  # newest ridership date the model was trained on
    data_hash: str  # sha256 of the training snapshot (see tasks.ops.registry)
    code_version: str  # git commit (or package version) that trained it
    trained_at: datetime
    promoted_at: datetime | None = None
    wandb_run: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    weather_source: str = "observed"  # "observed" (stand-in, snapshot) or "kma_forecast"
    kind: str = "model"  # "model" (trained) or "baseline" (served because no model beat it)
    forecaster: str = "catboost"  # the model's or the baseline's name (tasks.model.baselines)
    package_format: int = PACKAGE_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> PackageMetadata:
        raw = json.loads(text)
        for key in ("as_of", "data_start", "data_end"):
            raw[key] = date.fromisoformat(raw[key])
        for key in ("trained_at", "promoted_at"):
            raw[key] = datetime.fromisoformat(raw[key]) if raw.get(key) else None
        return cls(**raw)


@dataclass(frozen=True)
class ModelPackage:
    root: Path
    metadata: PackageMetadata
    forecasts: pl.DataFrame = field(repr=False)
    context: pl.DataFrame = field(repr=False)
    weather: pl.DataFrame = field(repr=False)
    stations: pl.DataFrame = field(repr=False)
    levels: pl.DataFrame = field(repr=False)

    @property
    def model_dir(self) -> Path:
        return self.root / "model"


def write_package(
    destination: Path,
    *,
    metadata: PackageMetadata,
    model_dir: Path,
    forecasts: pl.DataFrame,
    context: pl.DataFrame,
    weather: pl.DataFrame,
    stations: pl.DataFrame,
    levels: pl.DataFrame,
) -> Path:
    """Write a package atomically (temp dir + rename) and return its path."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pkg-", dir=destination.parent))
    try:
        shutil.copytree(model_dir, tmp / "model")
        frames = dict(zip(FILES, (forecasts, context, weather, stations, levels), strict=True))
        for name, frame in frames.items():
            frame.write_parquet(tmp / name, compression="zstd")
        (tmp / "metadata.json").write_text(metadata.to_json(), encoding="utf-8")
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(tmp, destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return destination


FORECAST_COLUMNS = ("date", "hour", "station_code", "direction", "yhat", "lo", "hi")
CONTEXT_COLUMNS = RIDERSHIP_HOURLY.data_columns
WEATHER_COLUMNS = WEATHER_HOURLY.data_columns
STATION_COLUMNS = ("station_code", "station_name", "line", "name_en")


def build_package(
    destination: Path,
    *,
    metadata: PackageMetadata,
    model_dir: Path,
    forecasts: pl.DataFrame,
    ridership: pl.DataFrame,
    weather: pl.DataFrame,
    stations: pl.DataFrame | None,
) -> Path:
    """``write_package`` from the frames a forecast run has: selects the contract's columns and
    derives ``levels`` from ``ridership`` (the recent context the package carries)."""
    stations_frame = (
        stations.select([c for c in STATION_COLUMNS if c in stations.columns])
        if stations is not None
        else pl.DataFrame({"station_code": ridership.get_column("station_code").unique().sort()})
    )
    for col in STATION_COLUMNS:
        if col not in stations_frame.columns:
            stations_frame = stations_frame.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    context = ridership.select(CONTEXT_COLUMNS)
    return write_package(
        destination,
        metadata=metadata,
        model_dir=model_dir,
        forecasts=forecasts.select(FORECAST_COLUMNS),
        context=context,
        weather=weather.select([c for c in WEATHER_COLUMNS if c in weather.columns]),
        stations=stations_frame.select(STATION_COLUMNS),
        levels=crowding_thresholds(context),
    )


def read_package(root: Path) -> ModelPackage:
    """Load a package written by ``write_package``."""
    missing = [n for n in (*FILES, "metadata.json", "model") if not (root / n).exists()]
    if missing:
        raise FileNotFoundError(f"{root} is not a model package (missing {', '.join(missing)})")
    meta = PackageMetadata.from_json((root / "metadata.json").read_text(encoding="utf-8"))
    frames = [pl.read_parquet(root / n) for n in FILES]
    return ModelPackage(root, meta, *frames)


def crowding_thresholds(history: pl.DataFrame) -> pl.DataFrame:
    """Per station x direction: q50/q80/q95 of its hourly counts (ridership_hourly columns)."""
    return history.group_by("station_code", "direction").agg(
        q50=pl.col("count").quantile(0.5),
        q80=pl.col("count").quantile(0.8),
        q95=pl.col("count").quantile(0.95),
    )


def crowding_level(value: float, q50: float, q80: float, q95: float) -> int:
    """Index into ``LEVELS`` for one forecast value."""
    if value >= q95:
        return 3
    if value >= q80:
        return 2
    if value >= q50:
        return 1
    return 0
