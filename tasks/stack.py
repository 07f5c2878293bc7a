"""The local stack behind ``seongsu up`` and ``seongsu replay``.

``up`` brings the whole system up on one machine in the production topology, with the real local
stand-ins: a ``prefect server`` (SQLite, in ``SEONGSU_HOME``) with the process work pool, the ingest
concurrency limit and the deployments of ``prefect.yaml``; a process worker; the embedded warehouse;
the BentoML service and the Gradio Space.  Every data step is a deployment run executed by the worker
(``tasks.orchestration``), so the Prefect UI shows what a deployed system shows.  State is reused: a
second ``up`` only starts the processes.

The replayed clock (``pipeline_state.replay_as_of``) is the simulated "today" of the snapshot replay.
It starts a few weeks before the end of the shipped data so that ``replay --days N`` has real days to
publish: each day runs the daily pipeline deployment (ingest what was published that day -> monitor
-> forecast); when the monitor asks for a retrain, the ``train`` deployment's trigger starts it (an
automation in the server, as in production) and the replay waits for that run.
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

from tasks.orchestration import (
    LOCAL_POOL,
    RETRAIN_EVENT,
    OrchestrationError,
    deploy_local,
    ensure_pool_and_limit,
    event_reasons,
    run_deployment_and_wait,
    utc_now,
    wait_for_triggered_run,
    worker_online,
)
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

WORKER_NAME = "seongsu-up"
DEPLOYED_STAMP = "prefect-deployed.sha256"

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
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        url: str,
        health: str | Callable[[], bool],
        timeout: float,
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

    def prepare_prefect(self, api_url: str) -> bool:
        """Work pool, ingest limit and the local deployments (True when ``prefect deploy`` ran)."""
        ensure_pool_and_limit()
        return deploy_local(api_url, self.settings.home / DEPLOYED_STAMP)

    def start_worker(self, api_url: str) -> Managed:
        """A process worker of ``seongsu-process`` (reused when one is already online)."""
        if worker_online():
            managed = Managed("worker", api_url, None, self.logs / "worker.log")
            self.processes.append(managed)
            return managed
        args = [sys.executable, "-m", "prefect", "worker", "start", "--pool", LOCAL_POOL]
        args += ["--type", "process", "--name", WORKER_NAME]
        # INFO: the runs' logs (stages included) reach the Prefect UI, as on a deployed worker
        env = {
            "PREFECT_API_URL": api_url,
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
        return self._spawn("worker", args, env, api_url, worker_online, timeout=120)

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


def _wait_healthy(managed: Managed, health: str | Callable[[], bool], timeout: float) -> None:
    """Wait for an HTTP health URL to answer, or for a probe (e.g. "the worker is online") to hold."""
    probe = health if callable(health) else lambda: _healthy(health)
    what = health if isinstance(health, str) else "its readiness check"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if managed.process is not None and managed.process.poll() is not None:
            tail = managed.log.read_text(errors="replace")[-1500:]
            raise StackError(f"{managed.name} exited during start-up (log: {managed.log}):\n{tail}")
        if probe():
            return
        time.sleep(0.5)
    raise StackError(f"{managed.name} did not pass {what} within {timeout:.0f} s (log: {managed.log})")


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
    """Bring the data side to a served state as of the replayed clock, reusing what exists.

    Every step is a run of a local deployment executed by the worker; the forecast after the first
    promotion is the one the ``forecast`` deployment's promotion trigger starts."""
    warehouse = open_warehouse(settings.resolved_warehouse_url)
    try:
        warehouse.migrate()
        clock = read_clock(warehouse)
        did: dict[str, Any] = {"as_of": None, "ingested": False, "trained": None, "forecast": False}
        if clock is None:
            clock = start
            step(f"ingesting the snapshot as published by {clock} (real data, replayed)")
            params = {"source": "snapshot", "as_of": clock.isoformat()}
            run_deployment_and_wait("ingest-ridership/local", params)
            run_deployment_and_wait("ingest-weather/local", params)
            set_clock(warehouse, clock)
            did["ingested"] = True
        did["as_of"] = clock.isoformat()
        if production_model(warehouse) is None:
            step(
                "training the first model (CatBoost) and gating it: served only if it beats the best baseline"
            )
            since = utc_now()
            run = run_deployment_and_wait(
                "train/local",
                {"as_of": clock.isoformat(), "time_budget_s": FIRST_TRAIN_BUDGET_S},
                on_stage=lambda text: step(f"training · {text}"),
            )
            did["trained"] = {"decision": _decision(warehouse, None), "run": run.name}
            if production_model(warehouse) is not None:
                step("the promotion trigger re-issues the day's forecasts")
                wait_for_triggered_run("forecast/local", since)
                did["forecast"] = True
        if not forecasts_issued(warehouse, clock):
            step(f"forecasting the 7 days after {clock} for every station")
            run_deployment_and_wait("forecast/local", {"as_of": clock.isoformat()})
            did["forecast"] = True
        return did
    finally:
        warehouse.close()


def _decision(warehouse: Warehouse, before: str | None) -> str:
    champion = production_model(warehouse)
    return f"promoted {champion}" if champion != before else f"kept {champion or 'no model'}"


def require_stack() -> None:
    """Replay creates deployment runs: the local server and its worker must be up."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url or not _healthy(f"{url}/health"):
        raise ValueError("the local stack is not running: start `seongsu up` first")
    if not worker_online():
        raise ValueError(f"no worker of the {LOCAL_POOL!r} pool is online: start `seongsu up` first")


def advance_clock(days: int = 1, step: Step = print) -> dict[str, Any]:
    """Move the replayed clock ``days`` forward: one run of the daily pipeline deployment per day.

    When the monitor asks for a retrain it emits the event; the ``train`` deployment's trigger (an
    automation in the Prefect server) starts the retrain, and the replay only waits for that run
    (and for the forecast the promotion trigger re-issues), so each alert gives exactly one ``train``
    run, whoever else is watching.
    """
    if not 1 <= days <= 31:
        raise ValueError("days must be between 1 and 31")
    settings = get_settings()
    warehouse = open_warehouse(settings.resolved_warehouse_url)
    try:
        warehouse.migrate()
        clock = read_clock(warehouse)
        if clock is None:
            raise ValueError(
                "the replay has not started: run `seongsu up` (or `seongsu replay --start`) first"
            )
        require_stack()
        log: list[dict[str, Any]] = []
        for _ in range(days):
            clock = clock + timedelta(days=1)
            step(f"day {clock}: ingest -> monitor -> forecast")
            since = utc_now()
            run_deployment_and_wait("daily-pipeline/local", {"as_of": clock.isoformat()})
            requested = retrain_requested(warehouse, clock)
            day: dict[str, Any] = {"as_of": clock.isoformat(), "retrain_requested": requested, "alerts": []}
            day["retrain"] = None
            if requested:
                step(f"day {clock}: the monitor asked for a retrain; the train trigger runs it")
                champion = production_model(warehouse)
                run = wait_for_triggered_run("train/local", since)
                day["alerts"] = event_reasons(RETRAIN_EVENT, since)
                day["retrain"] = {"decision": _decision(warehouse, champion), "run": run.name}
                if production_model(warehouse) != champion:
                    step(f"day {clock}: new champion; the promotion trigger re-issues the forecasts")
                    wait_for_triggered_run("forecast/local", since)
            set_clock(warehouse, clock)
            log.append(day)
        return {"as_of": clock.isoformat(), "days": log}
    except OrchestrationError as exc:
        raise ValueError(str(exc)) from None
    finally:
        warehouse.close()


def retrain_requested(warehouse: Warehouse, evaluated_on: date) -> bool:
    """Whether the monitor's evaluation of ``evaluated_on`` emitted a retrain request (its
    ``monitoring`` row, written in the flow run before it completed: no race with the event)."""
    from tasks.monitor import REQUEST_METRIC

    rows = warehouse.read(
        "select value from monitoring where metric = %s and evaluated_on = %s",
        [REQUEST_METRIC, evaluated_on.isoformat()],
    )
    return any(v == 1 for v in rows["value"].to_list())
