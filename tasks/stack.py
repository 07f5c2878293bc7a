"""The local stack behind ``seongsu up`` and ``seongsu replay``.

``up`` brings the whole system up on one machine with the real local stand-ins: a ``prefect server``
(SQLite, in ``SEONGSU_HOME``), the embedded warehouse, the BentoML service and the Gradio Space.  The
data side runs through the same Prefect flows the deployments run, so every step shows up as a flow
run in the Prefect UI and the Space.  State is reused: a second ``up`` only starts the processes.

The replayed clock (``pipeline_state.replay_as_of``) is the simulated "today" of the snapshot replay.
It starts a few weeks before the end of the shipped data so that ``replay --days N`` has real days to
publish: each day runs the daily pipeline (ingest what was published that day -> monitor -> forecast)
and, when the monitor asks for it, a retrain.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from tasks.runtime import PREFECT_URL_FILE
from tasks.settings import Settings, get_settings
from tasks.warehouse.base import Warehouse, open_warehouse
from tasks.warehouse.schema import PIPELINE_STATE, conform

REPLAY_START = date(2023, 6, 1)
"""Default first simulated day: the data through 2023-05-29 is published, 4 weeks remain to replay."""
CLOCK_KEY = "replay_as_of"
FIRST_TRAIN_BUDGET_S = 120.0
"""Search budget of the first training in ``up``: a good model in a few minutes; the weekly
deployment (and ``seongsu train``) search longer."""

Step = Callable[[str], None]


class StackError(RuntimeError):
    """A process of the stack did not come up (the message says which and where its log is)."""


# --- the replayed clock ------------------------------------------------------------------------------


def read_clock(warehouse: Warehouse) -> date | None:
    rows = warehouse.read("select value from pipeline_state where key = %s", [CLOCK_KEY])
    return date.fromisoformat(rows["value"][0]) if rows.height else None


def set_clock(warehouse: Warehouse, day: date) -> None:
    row = {"key": CLOCK_KEY, "value": day.isoformat(), "updated_at": datetime.now(UTC).replace(tzinfo=None)}
    warehouse.upsert(PIPELINE_STATE, conform(pl.DataFrame([row]), PIPELINE_STATE))


# --- processes ---------------------------------------------------------------------------------------


@dataclass
class Managed:
    name: str
    url: str
    process: subprocess.Popen[bytes] | None  # None: reused, someone else owns it
    log: Path


@dataclass
class Stack:
    settings: Settings
    processes: list[Managed] = field(default_factory=list)
    run_api_key: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    @property
    def logs(self) -> Path:
        path = self.settings.home / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str], url: str, health: str, timeout: float
    ) -> Managed:
        log = self.logs / f"{name}.log"
        handle = log.open("ab")
        process = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        managed = Managed(name, url, process, log)
        self.processes.append(managed)
        _wait_healthy(managed, health, timeout)
        return managed

    def start_prefect(self, port: int) -> Managed:
        """Reuse a running local server (URL file) or start one with its home in SEONGSU_HOME."""
        url_file = self.settings.home / PREFECT_URL_FILE
        if url_file.exists():
            url = url_file.read_text().strip()
            if _healthy(f"{url}/health"):
                managed = Managed("prefect", url, None, self.logs / "prefect.log")
                self.processes.append(managed)
                os.environ["PREFECT_API_URL"] = url
                return managed
        url = f"http://127.0.0.1:{port}/api"
        env = {
            "PREFECT_HOME": os.environ.get("PREFECT_HOME", str(self.settings.home / "prefect")),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_API_URL": "",
        }
        args = [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        managed = self._spawn("prefect", args, env, url, f"{url}/health", timeout=180)
        url_file.write_text(url)
        os.environ["PREFECT_API_URL"] = url
        return managed

    def _api_key_env(self) -> dict[str, str]:
        """The service's API key for the service and its clients: the configured one, else one made
        up for this run (so ``up`` works with no setup and the protected routes are never open)."""
        key = self.settings.bento_api_key
        return {"SEONGSU_BENTO_API_KEY": key.get_secret_value() if key else self.run_api_key}

    def start_bento(self, port: int) -> Managed:
        url = f"http://127.0.0.1:{port}"
        args = [sys.executable, "-m", "tasks.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return self._spawn("bento", args, self._api_key_env(), url, f"{url}/readyz", timeout=180)

    def start_space(self, port: int, bento_url: str) -> Managed:
        url = f"http://127.0.0.1:{port}"
        env = {"SEONGSU_BENTO_URL": bento_url, "SEONGSU_SPACE_LOCAL": "1", **self._api_key_env()}
        args = [sys.executable, "-m", "tasks.cli", "space", "--host", "127.0.0.1", "--port", str(port)]
        return self._spawn("space", args, env, url, f"{url}/", timeout=180)

    def stop(self) -> None:
        """Stop what this stack started, newest first (reused processes are left running)."""
        for managed in reversed(self.processes):
            proc = managed.process
            if proc is not None:
                stop_process_group(proc)
        if any(m.name == "prefect" and m.process is not None for m in self.processes):
            (self.settings.home / PREFECT_URL_FILE).unlink(missing_ok=True)
        self.processes.clear()


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM a server's own process group (it was started in a new session), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _healthy(url: str) -> bool:
    try:
        return 200 <= httpx.get(url, timeout=2).status_code < 400
    except httpx.HTTPError:
        return False


def _wait_healthy(managed: Managed, health_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if managed.process is not None and managed.process.poll() is not None:
            tail = managed.log.read_text(errors="replace")[-1500:]
            raise StackError(f"{managed.name} exited during start-up (log: {managed.log}):\n{tail}")
        if _healthy(health_url):
            return
        time.sleep(0.5)
    raise StackError(
        f"{managed.name} did not answer {health_url} within {timeout:.0f} s (log: {managed.log})"
    )


# --- the data side -----------------------------------------------------------------------------------


def production_model(warehouse: Warehouse) -> str | None:
    rows = warehouse.read(
        "select version from models where status = %s order by promoted_at desc", ["production"]
    )
    return str(rows["version"][0]) if rows.height else None


def forecasts_issued(warehouse: Warehouse, as_of: date) -> bool:
    rows = warehouse.read("select count(*) as n from forecasts where as_of = %s", [as_of.isoformat()])
    return int(rows["n"][0]) > 0


def bootstrap(settings: Settings, start: date = REPLAY_START, step: Step = print) -> dict[str, Any]:
    """Bring the data side to a served state as of the replayed clock, reusing what exists."""
    from flows.forecast import forecast
    from flows.ingest import ingest_ridership, ingest_weather
    from flows.train import train

    warehouse = open_warehouse(settings.resolved_warehouse_url)
    try:
        warehouse.migrate()
        clock = read_clock(warehouse)
        did: dict[str, Any] = {"as_of": None, "ingested": False, "trained": None, "forecast": False}
        if clock is None:
            clock = start
            step(f"ingesting the snapshot as published by {clock} (real data, replayed)")
            ingest_ridership(source="snapshot", as_of=clock)
            ingest_weather(source="snapshot", as_of=clock)
            set_clock(warehouse, clock)
            did["ingested"] = True
        did["as_of"] = clock.isoformat()
        if production_model(warehouse) is None:
            step(
                "training the first model (CatBoost) and gating it: served only if it beats the best baseline"
            )
            did["trained"] = train(as_of=clock, time_budget_s=FIRST_TRAIN_BUDGET_S)
        if not forecasts_issued(warehouse, clock):
            step(f"forecasting the 7 days after {clock} for every station")
            forecast(as_of=clock)
            did["forecast"] = True
        return did
    finally:
        warehouse.close()


def advance_clock(days: int = 1, step: Step = print) -> dict[str, Any]:
    """Move the replayed clock ``days`` forward, running the real daily pipeline for each day.

    A retrain is run when the monitor asks for it (in a deployed setup the ``train`` deployment's
    event trigger does this; locally there may be no worker, so the replay runs the flow itself).
    """
    if not 1 <= days <= 31:
        raise ValueError("days must be between 1 and 31")
    from flows.pipeline import daily_pipeline
    from flows.train import train

    settings = get_settings()
    warehouse = open_warehouse(settings.resolved_warehouse_url)
    try:
        warehouse.migrate()
        clock = read_clock(warehouse)
        if clock is None:
            raise ValueError(
                "the replay has not started: run `seongsu up` (or `seongsu replay --start`) first"
            )
        log: list[dict[str, Any]] = []
        for _ in range(days):
            clock = clock + timedelta(days=1)
            step(f"day {clock}: ingest -> monitor -> forecast")
            result = daily_pipeline(as_of=clock)
            retrained = None
            if result.get("retrain_requested"):
                step(f"day {clock}: monitor asked for a retrain ({'; '.join(result.get('alerts', []))})")
                retrained = train(as_of=clock)
            set_clock(warehouse, clock)
            log.append({"as_of": clock.isoformat(), **result, "retrain": retrained})
        return {"as_of": clock.isoformat(), "days": log}
    finally:
        warehouse.close()
