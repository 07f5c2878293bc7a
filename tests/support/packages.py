"""Build a small but REAL model package in a couple of seconds, and publish it to a BentoML store.

Real means: real 2023 ridership and weather from ``data/snapshot``, a real CatBoost forecaster from
``tasks.model.train`` (tiny: depth 4, 30 trees, one thread), forecasts computed by that forecaster with
``forecast_targets`` + the as-of history, thresholds from ``crowding_thresholds`` and the files
written by ``write_package``.  Only the station list is cut down (성수 and a few neighbours, plus
건대입구, which has one code on line 2 and one on line 7) so tests stay fast.

The trained model is cached per (stations, train as_of) for the life of the process: a second package
with a later ``as_of`` is then a "forecast refresh" (same model, new forecasts), exactly what the
daily flow publishes.  The registry tests may reuse ``build_package`` and ``publish``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl

from cli.serve import serve_command
from cli.supervisor import stop_process_group
from tasks.model.features import MAX_HORIZON, History, cutoff_for, forecast_targets
from tasks.model.package import BENTO_MODEL_NAME, PackageMetadata, crowding_thresholds, write_package
from tasks.ops.model_metrics import ModelMetrics
from tests.support.paths import REPO, SNAPSHOT

DEFAULT_STATIONS: tuple[int, ...] = (211, 210, 212, 2729, 222)
"""성수 (211), 뚝섬 (210), 건대입구 (212 line 2, 2729 line 7), 강남 (222)."""
TRAIN_AS_OF = dt.date(2023, 6, 20)
HISTORY_START = dt.date(2023, 3, 1)
TINY_PARAMS = {"depth": 4, "learning_rate": 0.3, "iterations": 30}

_MODELS: dict[tuple[tuple[int, ...], dt.date], Path] = {}
_TMP = Path(tempfile.mkdtemp(prefix="seongsu-fixture-models-"))
atexit.register(shutil.rmtree, _TMP, True)


def snapshot_history(stations: Sequence[int] = DEFAULT_STATIONS) -> History:
    """Ridership of ``stations`` since ``HISTORY_START`` and all of the weather, from the snapshot."""
    ridership = (
        pl.scan_parquet(SNAPSHOT / "ridership_hourly.parquet")
        .filter(pl.col("station_code").is_in(list(stations)) & (pl.col("date") >= HISTORY_START))
        .collect()
    )
    weather = pl.read_parquet(SNAPSHOT / "weather_hourly.parquet")
    stations_frame = pl.read_parquet(SNAPSHOT / "stations.parquet").filter(
        pl.col("station_code").is_in(list(stations))
    )
    return History(ridership, weather, stations_frame)


def trained_model(stations: Sequence[int] = DEFAULT_STATIONS, train_as_of: dt.date = TRAIN_AS_OF) -> Path:
    """Directory of a tiny fitted forecaster (``tasks.model.train.save`` layout), trained once per process."""
    from tasks.model.recipe import TrainConfig
    from tasks.model.train import save, train

    key = (tuple(stations), train_as_of)
    if key not in _MODELS:
        config = TrainConfig(params=dict(TINY_PARAMS), thread_count=1, train_days=60)
        forecaster = train(snapshot_history(stations), train_as_of, config, grid=None, time_budget_s=None)
        _MODELS[key] = save(forecaster, _TMP / f"model-{len(_MODELS)}")
    return _MODELS[key]


def build_package(
    destination: Path,
    *,
    as_of: dt.date = TRAIN_AS_OF,
    version: str = "test-v1",
    stations: Sequence[int] = DEFAULT_STATIONS,
    train_as_of: dt.date = TRAIN_AS_OF,
) -> Path:
    """Write a package whose forecasts cover ``as_of + 1 .. as_of + 7`` and return its path."""
    from tasks.model.train import load

    model_dir = trained_model(stations, train_as_of)
    forecaster = load(model_dir)
    history = snapshot_history(stations)
    cutoff = cutoff_for(as_of)
    known = history.until(cutoff)
    targets = forecast_targets(list(stations), as_of)
    forecasts = forecaster.predict(targets, history=known).select(
        "date", "hour", "station_code", "direction", "yhat", "lo", "hi"
    )
    context = known.ridership.filter(pl.col("date") > cutoff - dt.timedelta(days=70))
    weather = history.weather.filter(
        pl.col("ts") < datetime.combine(as_of + dt.timedelta(days=MAX_HORIZON + 1), dt.time())
    )
    assert history.stations is not None
    metadata = PackageMetadata(
        version=version,
        as_of=as_of,
        horizon_days=MAX_HORIZON,
        data_start=HISTORY_START,
        data_end=cutoff,
        data_hash=_snapshot_hash(),
        code_version="tests",
        trained_at=datetime(2023, 6, 20, 12, 0, tzinfo=UTC),
        promoted_at=datetime.now(UTC),
        metrics=ModelMetrics.build(backtest_wape=0.1, backtest_coverage=0.8).as_dict(),
    )
    return write_package(
        destination,
        metadata=metadata,
        model_dir=model_dir,
        forecasts=forecasts,
        context=context,
        weather=weather,
        stations=history.stations,
        levels=crowding_thresholds(known.ridership),
    )


def _snapshot_hash() -> str:
    manifest = json.loads((SNAPSHOT / "manifest.json").read_text())
    return hashlib.sha256(manifest["files"]["ridership_hourly.parquet"]["sha256"].encode()).hexdigest()


def publish(package_dir: Path, bentoml_home: Path) -> str:
    """Save ``package_dir`` as a new version of ``BENTO_MODEL_NAME`` in the store at ``bentoml_home``.

    Same layout as the registry: the package files at the root of the model's path.  The store is
    passed explicitly so tests never touch the developer's own ``BENTOML_HOME``.
    """
    import bentoml
    from bentoml._internal.models import ModelStore

    store = ModelStore(str(bentoml_home / "models"))
    meta = PackageMetadata.from_json((package_dir / "metadata.json").read_text(encoding="utf-8"))
    with bentoml.models.create(
        BENTO_MODEL_NAME,
        labels={"as_of": meta.as_of.isoformat()},
        metadata={"version": meta.version},
        _model_store=store,
    ) as model:
        shutil.copytree(package_dir, model.path, dirs_exist_ok=True)
    return str(model.tag)


# --------------------------------------------------------------------------------------------------
# a real server in a subprocess

API_KEY = "test-bento-key-5f1c"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_service(
    bentoml_home: Path,
    *,
    reload_interval_s: float = 0.5,
    workers: int = 1,
    ready: bool = True,
    timeout_s: float = 90.0,
    env: dict[str, str] | None = None,
    via_cli: bool = False,
) -> Iterator[str]:
    """``bentoml serve`` the crowding service on a free port; yield its base URL; always stop it.

    Waits for ``/readyz`` (a package is loaded), or only ``/livez`` with ``ready=False``.  The
    service's API key is ``API_KEY`` (send ``AUTH``) unless ``env`` says otherwise.  The command is
    the one ``seongsu serve`` runs (``cli.serve.serve_command``); ``via_cli`` runs ``seongsu serve``
    itself, which replaces itself with that command.
    """
    port = free_port()
    argv, extra = serve_command("127.0.0.1", port, workers, reload_interval_s)
    if via_cli:
        argv = [sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", str(workers)]
        argv += ["--reload-interval", f"{reload_interval_s:g}"]
    env = {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
        **extra,
        "SEONGSU_BENTO_API_KEY": API_KEY,
        **(env or {}),
    }
    log_path = bentoml_home / f"serve-{port}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"bentoml serve exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/{'readyz' if ready else 'livez'}", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"service not ready after {timeout_s} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url
    finally:
        stop_process_group(proc)
        log.close()
