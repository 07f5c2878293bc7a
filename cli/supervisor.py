"""The local processes behind ``seongsu up``: start, health-check and stop them.

``up`` brings the whole system up on one machine in the production topology, with the real local
stand-ins: a ``prefect server`` (SQLite, in ``SEONGSU_HOME``) with the process work pool, the ingest
concurrency limit and the deployments of ``prefect.yaml``; a process worker; the embedded warehouse;
the BentoML service and the Gradio Space.  Every data step is a deployment run executed by the worker
(``tasks.ops.orchestration``), so the Prefect UI shows what a deployed system shows.  State is reused: a
second ``up`` only starts the processes.

The data side (bootstrap, the replayed clock) is ``flows.replay``.
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
from pathlib import Path

from tasks.core.runtime import PREFECT_URL_FILE
from tasks.core.settings import Settings
from tasks.ops.orchestration import (
    LOCAL_POOL,
    deploy_local,
    ensure_pool_and_limit,
    url_healthy,
    worker_online,
)

WORKER_NAME = "seongsu-up"
DEPLOYED_STAMP = "prefect-deployed.sha256"


class StackError(RuntimeError):
    """A process of the stack did not come up (the message says which and where its log is)."""


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
        managed = self._launch(name, args, env, url)
        _wait_healthy(managed, health, timeout)
        return managed

    def _launch(self, name: str, args: list[str], env: dict[str, str], url: str) -> Managed:
        log = self.logs / f"{name}.log"
        handle = log.open("ab")
        process = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        managed = Managed(name, url, process, log)
        self.processes.append(managed)
        return managed

    def start_prefect(self, port: int) -> Managed:
        """Reuse a running local server (URL file) or start one with its home in SEONGSU_HOME."""
        url_file = self.settings.home / PREFECT_URL_FILE
        if url_file.exists():
            url = url_file.read_text().strip()
            if url_healthy(f"{url}/health"):
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

    def prepare_prefect(self, api_url: str) -> Managed:
        """Work pool and ingest limit, then the process worker of ``seongsu-process`` (reused when
        one is already online) started while the local deployments are created: neither needs the
        other, and each costs 10-20 s of process start-up."""
        ensure_pool_and_limit()
        worker = self._launch_worker(api_url)
        deploy_local(api_url, self.settings.home / DEPLOYED_STAMP)
        if worker.process is not None:
            _wait_healthy(worker, worker_online, timeout=120)
        return worker

    def _launch_worker(self, api_url: str) -> Managed:
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
        return self._launch("worker", args, env, api_url)

    def _api_key_env(self) -> dict[str, str]:
        """The service's API key for the service and its clients: the configured one, else one made
        up for this run (so ``up`` works with no setup and the protected routes are never open)."""
        key = self.settings.bento_api_key
        return {"SEONGSU_BENTO_API_KEY": key.get_secret_value() if key else self.run_api_key}

    def start_services(self, bento_port: int, space_port: int) -> tuple[Managed, Managed]:
        """The Bento service and the Space, started together (each takes 10-30 s to import and
        load; the Space only needs the service's URL, not its answers, to start) and waited for."""
        bento_url = f"http://127.0.0.1:{bento_port}"
        space_url = f"http://127.0.0.1:{space_port}"
        keys = self._api_key_env()
        bento = self._launch("bento", self._cli("serve", bento_port), keys, bento_url)
        space_env = {"SEONGSU_BENTO_URL": bento_url, "SEONGSU_SPACE_LOCAL": "1", **keys}
        space = self._launch("space", self._cli("space", space_port), space_env, space_url)
        _wait_healthy(bento, f"{bento_url}/readyz", timeout=180)
        _wait_healthy(space, f"{space_url}/", timeout=180)
        return bento, space

    @staticmethod
    def _cli(command: str, port: int) -> list[str]:
        return [sys.executable, "-m", "cli", command, "--host", "127.0.0.1", "--port", str(port)]

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


def _wait_healthy(managed: Managed, health: str | Callable[[], bool], timeout: float) -> None:
    """Wait for an HTTP health URL to answer, or for a probe (e.g. "the worker is online") to hold."""
    probe = health if callable(health) else lambda: url_healthy(health)
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
