"""Hot swap under load: a new package version takes over with no restart and no failed request.

A real ``bentoml serve`` runs in a subprocess with its own BENTOML_HOME.  Several threads hammer
``/forecast`` over keep-alive connections while the test publishes a new version of
``seongsu-crowding`` (a forecast refresh: same model, as_of one day later) and then a broken one.
Every response must be a 200; each thread must see the old package, then the new one, and never go
back; the broken version must be skipped while the good one keeps serving.  How fast the swap is
depends on the machine's load: ``bench/hot_swap.py`` measures it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.packages import (
    AUTH,
    TRAIN_AS_OF,
    build_package,
    hammer_forecast,
    publish,
    running_service,
)

THREADS = 6


def _hammer(url: str, stop: threading.Event, log: list[tuple[float, int, str]], errors: list[str]) -> None:
    def on_answer(body: dict[str, Any]) -> None:
        if len(body["stations"][0]["forecasts"]) != 4:
            errors.append(f"incomplete answer: {body}")
        log.append((time.monotonic(), 200, body["model_version"]))

    hammer_forecast(url, stop, on_answer, errors)


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_new_version_is_swapped_in_under_load_without_errors(tmp_path: Path) -> None:
    home = tmp_path / "bentoml"
    v1 = build_package(tmp_path / "v1", version="test-v1", as_of=TRAIN_AS_OF)
    v2 = build_package(tmp_path / "v2", version="test-v2", as_of=TRAIN_AS_OF + dt.timedelta(days=1))
    publish(v1, home)

    with running_service(home, reload_interval_s=0.5) as url:
        stop = threading.Event()
        logs: list[list[tuple[float, int, str]]] = [[] for _ in range(THREADS)]
        errors: list[str] = []
        threads = [threading.Thread(target=_hammer, args=(url, stop, log, errors)) for log in logs]
        for t in threads:
            t.start()
        try:
            assert _wait_for(lambda: all(len(log) >= 20 for log in logs), 20), "load did not start"
            tag2 = publish(v2, home)
            assert _wait_for(lambda: all(log and log[-1][2] == "test-v2" for log in logs), 20), "no swap"

            # a broken version (no forecasts) must be skipped: v2 keeps serving, still no errors
            broken = tmp_path / "broken"
            shutil.copytree(v2, broken)
            (broken / "forecasts.parquet").unlink()
            publish(broken, home)
            time.sleep(2.0)
            n_before_end = sum(len(log) for log in logs)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)

        assert errors == [], errors[:5]
        total = sum(len(log) for log in logs)
        assert total > n_before_end > 100
        for log in logs:
            versions = [v for _, _, v in log]
            assert versions[0] == "test-v1" and versions[-1] == "test-v2"
            first_new = versions.index("test-v2")
            assert set(versions[first_new:]) == {"test-v2"}, "a thread went back to the old package"

        model = httpx.get(f"{url}/model", timeout=10, headers=AUTH).json()
        assert (model["version"], model["package"], model["as_of"]) == ("test-v2", tag2, "2023-06-21")
        assert httpx.post(f"{url}/reload", timeout=30, headers=AUTH).json()["changed"] is False


@pytest.mark.parametrize("workers", [2])
def test_service_starts_without_a_model_and_picks_the_first_one_up(tmp_path: Path, workers: int) -> None:
    """Before any package is published the server is up but not ready (503s that say why); the
    first published package is served by every worker without a restart."""
    home = tmp_path / "bentoml"
    home.mkdir()
    package = build_package(tmp_path / "v1", version="test-v1")
    with running_service(home, reload_interval_s=0.5, workers=workers, ready=False) as url:
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 503
        early = httpx.post(f"{url}/forecast", json={"station": "211"}, timeout=10)
        assert early.status_code == 503 and "no model package" in early.json()["error"]
        publish(package, home)
        assert _wait_for(lambda: httpx.get(f"{url}/readyz", timeout=10).status_code == 200, 60)
        time.sleep(1.5)  # every worker polls every 0.5 s
        # one connection per request, so the kernel spreads them over both workers
        answers = {
            httpx.post(f"{url}/forecast", json={"station": "211"}, timeout=10).status_code for _ in range(30)
        }
        assert answers == {200}
