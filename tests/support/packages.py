"""Build a small but REAL model package in a couple of seconds, and publish it to a BentoML store.

Real means: real 2023 ridership and weather from ``data/snapshot``, a real CatBoost forecaster from
``tasks.model.train`` (tiny: depth 4, 30 trees, one thread), its forecasts from
``tasks.model.forecast``, and the package written and published by the production code
(``tasks.ops.packaging.save_candidate``, ``tasks.ops.store.publish_package``).  Only the station
list is cut down (성수 and a few neighbours, plus 건대입구, which has one code on line 2 and one on
line 7) so tests stay fast.

The trained model is cached per (stations, train as_of) for the life of the process: a second package
with a later ``as_of`` is then a "forecast refresh" (same model, new forecasts), exactly what the
daily flow publishes.  The registry tests may reuse ``build_package`` and ``publish``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import polars as pl

from cli.serve import serve_command
from cli.supervisor import stop_process_group
from tasks.core.settings import Settings
from tasks.data.history import LoadedHistory
from tasks.data.warehouse import warehouse_session
from tasks.model.features import MAX_HORIZON, History, cutoff_for
from tasks.model.forecast import forecast
from tasks.ops.packaging import save_candidate
from tasks.ops.store import publish_package
from tests.support.history import DEFAULT_STATIONS, snapshot_history
from tests.support.paths import REPO
from tests.support.ports import free_port

TRAIN_AS_OF = dt.date(2023, 6, 20)
TINY_PARAMS = {"depth": 4, "learning_rate": 0.3, "iterations": 30}

_MODELS: dict[tuple[tuple[int, ...], dt.date], Path] = {}
_TMP = Path(tempfile.mkdtemp(prefix="seongsu-fixture-models-"))
atexit.register(shutil.rmtree, _TMP, True)


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


def known_on(as_of: dt.date, stations: Sequence[int] = DEFAULT_STATIONS) -> LoadedHistory:
    """What the warehouse would hand the forecast flow on ``as_of`` (``load_history``'s shape): the
    ridership published by then, the weather through the forecast horizon, the stations."""
    history = snapshot_history(stations)
    weather_end = datetime.combine(as_of + dt.timedelta(days=MAX_HORIZON + 1), dt.time())
    known = history.until(cutoff_for(as_of))
    return LoadedHistory(
        History(known.ridership, history.weather.filter(pl.col("ts") < weather_end), history.stations),
        as_of,
        "observed",
    )


def build_package(
    destination: Path,
    *,
    as_of: dt.date = TRAIN_AS_OF,
    version: str = "test-v1",
    stations: Sequence[int] = DEFAULT_STATIONS,
    train_as_of: dt.date = TRAIN_AS_OF,
) -> Path:
    """The tiny model's package issued on ``as_of`` (forecasts for ``as_of + 1 .. as_of + 7``),
    written by the registry's own builder (``tasks.ops.packaging.save_candidate``, in a throwaway
    home) and copied to ``destination``: the metadata and metrics are what training writes."""
    from tasks.model.train import load

    forecaster = load(trained_model(stations, train_as_of))
    loaded = known_on(as_of, stations)
    forecasts = forecast(forecaster, loaded.history, as_of, days=MAX_HORIZON, stations="all")
    with tempfile.TemporaryDirectory(prefix="seongsu-fixture-home-") as tmp:
        settings = Settings(home=Path(tmp))
        with warehouse_session(settings) as warehouse:
            candidate = save_candidate(
                settings, warehouse, forecaster, loaded, forecasts=forecasts, version=version
            )
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(candidate.package_path, destination)
    return destination


def publish(
    package_dir: Path, bentoml_home: Path, kind: Literal["promotion", "refresh", "rollback"] = "promotion"
) -> str:
    """Publish ``package_dir`` as the registry does (``tasks.ops.store.publish_package``: a new
    ``:latest``) to the store at ``bentoml_home`` -- passed explicitly so tests never touch the
    developer's own ``BENTOML_HOME``."""
    saved = os.environ.get("BENTOML_HOME")
    os.environ["BENTOML_HOME"] = str(bentoml_home)
    try:
        return publish_package(Settings(home=bentoml_home.parent), package_dir, kind=kind)
    finally:
        if saved is None:
            os.environ.pop("BENTOML_HOME", None)
        else:
            os.environ["BENTOML_HOME"] = saved


# --------------------------------------------------------------------------------------------------
# a real server in a subprocess

API_KEY = "test-bento-key-5f1c"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@dataclass(frozen=True)
class StartedService:
    """A ``bentoml serve`` subprocess that may still be booting."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def started_service(
    bentoml_home: Path,
    *,
    reload_interval_s: float = 0.5,
    workers: int = 1,
    env: dict[str, str] | None = None,
    via_cli: bool = False,
) -> Iterator[StartedService]:
    """``bentoml serve`` the crowding service on a free port without waiting for it (so it can boot
    while something else does); always stop it.

    The service's API key is ``API_KEY`` (send ``AUTH``) unless ``env`` says otherwise.  The command is
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
    try:
        yield StartedService(f"http://127.0.0.1:{port}", proc, log_path)
    finally:
        stop_process_group(proc)
        log.close()


def wait_until_up(service: StartedService, *, ready: bool = True, timeout_s: float = 90.0) -> None:
    """Until ``/readyz`` answers 200 (a package is loaded), or only ``/livez`` with ``ready=False``;
    raises with the server's log if it exits or takes longer than ``timeout_s``."""
    log_tail = service.log_path.read_text
    deadline = time.monotonic() + timeout_s
    while True:
        if service.proc.poll() is not None:
            raise RuntimeError(f"bentoml serve exited ({service.proc.returncode}):\n{log_tail()[-3000:]}")
        try:
            probe = f"{service.url}/{'readyz' if ready else 'livez'}"
            if httpx.get(probe, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"service not ready after {timeout_s} s:\n{log_tail()[-3000:]}")
        time.sleep(0.25)


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
    """``started_service``, waited for (``wait_until_up``); yields its base URL."""
    with started_service(
        bentoml_home, reload_interval_s=reload_interval_s, workers=workers, env=env, via_cli=via_cli
    ) as service:
        wait_until_up(service, ready=ready, timeout_s=timeout_s)
        yield service.url


# a day both swap packages can forecast: v1 covers as_of+1..+7 = 06-21..06-27, v2 (as_of one day
# later) 06-22..06-28
SWAP_BODY = {"station": "성수", "date": "2023-06-24", "hour_start": 7, "hour_end": 10}


def hammer_forecast(
    url: str, stop: threading.Event, on_answer: Callable[[dict[str, Any]], object], errors: list[str]
) -> None:
    """POST ``SWAP_BODY`` over one keep-alive connection until ``stop``: every 200 body goes to
    ``on_answer``, every failure to ``errors``.  The hot-swap test and ``bench/hot_swap.py`` share
    it, so the bench measures exactly the load the test checks."""
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while not stop.is_set():
            try:
                r = client.post("/forecast", json=SWAP_BODY)
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
                continue
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:200]}")
                continue
            on_answer(r.json())
