"""``seongsu up`` then ``seongsu replay``: the success paths, run as a person runs them.

``up`` is started as a process in a home holding a small real slice of the snapshot, a production
package (the gate's pick, ``tests.support.homes.prepared_home``, as of ``TRAIN_AS_OF``) and the replayed
clock one day later: so it skips the snapshot ingest and the first training -- the minutes-long parts
of a first start on the full snapshot -- and does everything else for real: its own Prefect server, the work pool, the ingest
limit and the deployments of ``prefect.yaml``, a process worker that runs the ``forecast/local``
deployment, the Bento service and the Space (the day's forecasts are not issued yet: that run is ``up``'s).  ``replay`` then runs in a second process, finding the
server the way a second terminal does (the URL file in ``SEONGSU_HOME``), and advances the clock one
day through the ``daily-pipeline/local`` deployment.  Ctrl-C (SIGINT) stops what ``up`` started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tasks.core.runtime import PREFECT_URL_FILE
from tasks.data.clock import read_clock, set_clock
from tasks.ops.orchestration import LOCAL_DEPLOYMENTS
from tests.support.homes import TRAIN_AS_OF, Home, prepared_home
from tests.support.paths import REPO
from tests.support.ports import free_port

READY = "Ctrl-C stops everything."
CLOCK = TRAIN_AS_OF + timedelta(days=1)
"""The replayed today at ``up``: the day after the champion's data, its forecasts not issued yet."""
TOOL_HOMES = ("PREFECT_API_URL", "PREFECT_HOME", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR")

pytestmark = pytest.mark.timeout(900)


def _port_flags(ports: list[int]) -> list[str]:
    return ["--prefect-port", str(ports[0]), "--bento-port", str(ports[1]), "--space-port", str(ports[2])]


@dataclass(frozen=True)
class Up:
    home: Home
    env: dict[str, str]
    api: str
    bento: str
    space: str
    output: Path


def _api(up: Up, method: str, path: str, body: dict[str, object] | None = None) -> Any:
    response = httpx.request(method, f"{up.api}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def _runs_of(up: Up, deployment: str) -> list[dict[str, object]]:
    """The deployment's runs that ``up`` / ``replay`` started (not those its schedule queued)."""
    flows = {f["id"]: f["name"] for f in _api(up, "POST", "/flows/filter", {})}
    ids = [
        d["id"]
        for d in _api(up, "POST", "/deployments/filter", {})
        if f"{flows[d['flow_id']]}/{d['name']}" == deployment
    ]
    body: dict[str, object] = {"flow_runs": {"deployment_id": {"any_": ids}}}
    runs: list[dict[str, object]] = _api(up, "POST", "/flow_runs/filter", body)
    return [r for r in runs if not r["auto_scheduled"]]


def _forecast_rows(home: Home, as_of: object) -> int:
    warehouse = home.open()
    try:
        rows = warehouse.read("select count(*) as n from forecasts where as_of = %s", [str(as_of)])
    finally:
        warehouse.close()
    return int(rows["n"][0])


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        path = tmp_path_factory.mktemp("up")
        home = prepared_home(path / "home", monkeypatch)
        warehouse = home.open()
        try:
            set_clock(warehouse, CLOCK)
            assert _forecast_rows(home, CLOCK) == 0
        finally:
            warehouse.close()
        env = {k: v for k, v in os.environ.items() if k not in TOOL_HOMES}
        env |= {"SEONGSU_HOME": str(home.path), "BENTOML_HOME": str(home.bento_home)}
        env |= {"PREFECT_SERVER_UI_ENABLED": "false", "COLUMNS": "200"}
        ports = [free_port() for _ in range(3)]
        output = path / "up.out"
        with output.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cli", "up", *_port_flags(ports)],
                cwd=REPO,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 600
            while READY not in output.read_text(errors="replace"):
                assert proc.poll() is None, f"`seongsu up` exited {proc.returncode}:\n{output.read_text()}"
                assert time.monotonic() < deadline, f"`seongsu up` not ready:\n{output.read_text()}"
                time.sleep(1)
            yield Up(
                home,
                env,
                f"http://127.0.0.1:{ports[0]}/api",
                f"http://127.0.0.1:{ports[1]}",
                f"http://127.0.0.1:{ports[2]}",
                output,
            )
        finally:
            stopped = True
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGINT)  # Ctrl-C to `up` alone: it stops what it started
                try:
                    proc.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    stopped = False
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            assert stopped, f"`seongsu up` ignored Ctrl-C:\n{output.read_text(errors='replace')[-2000:]}"


def test_up_deploys_runs_the_days_forecast_and_serves(up: Up) -> None:
    deployments = _api(up, "POST", "/deployments/filter", {})
    assert len(deployments) == len(LOCAL_DEPLOYMENTS)
    assert {str(r["state_type"]) for r in _runs_of(up, "forecast/local")} == {"COMPLETED"}
    assert _forecast_rows(up.home, CLOCK) > 0
    text = up.output.read_text()
    assert f"replayed clock: {CLOCK}" in text and f"issued for the 7 days after {CLOCK}" in text
    assert "reused (already loaded)" in text and "reused champion" in text
    assert httpx.get(f"{up.bento}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{up.space}/", timeout=10).status_code == 200


def test_replay_advances_the_clock_one_day_through_the_daily_pipeline(up: Up) -> None:
    assert (up.home.path / PREFECT_URL_FILE).read_text().strip() == up.api  # how `replay` finds it
    done = subprocess.run(
        [sys.executable, "-m", "cli", "replay", "--days", "1", "--json"],
        cwd=REPO,
        env=up.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    next_day = CLOCK + timedelta(days=1)
    result = json.loads(done.stdout)
    assert result["as_of"] == next_day.isoformat()
    assert [d["as_of"] for d in result["days"]] == [next_day.isoformat()]
    assert {str(r["state_type"]) for r in _runs_of(up, "daily-pipeline/local")} == {"COMPLETED"}
    warehouse = up.home.open()
    try:
        assert read_clock(warehouse) == next_day
    finally:
        warehouse.close()
    assert _forecast_rows(up.home, next_day) > 0
