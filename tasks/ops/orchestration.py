"""The Prefect side of operating Daily Seongsu: pool, limit, deployments, worker, deployment runs.

The local stack (``seongsu up``) runs the production topology on one machine: the process work pool
``seongsu-process``, the global concurrency limit that keeps ingests apart, the deployments of the
root ``prefect.yaml`` registered with the real ``prefect deploy``, a process worker, and every run of
the replay created as a deployment run (``run_deployment``), so the Prefect UI shows what a deployed
system shows.  Retrains are started by the ``train`` deployment's trigger (an automation in the
server), never by this module: it only waits for the run the automation created.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from tasks.core.settings import REPO_ROOT

LOCAL_POOL = "seongsu-process"
INGEST_LIMIT = "seongsu-ingest"
"""Global concurrency limit (1 slot) every ingest flow holds while it writes: two ingests never
overlap, whether they run as deployments or as subflows of the daily pipeline in the same process."""
LOCAL_DEPLOYMENTS = (
    "ingest-ridership/local",
    "ingest-weather/local",
    "daily-pipeline/local",
    "monitor/local",
    "forecast/local",
    "train/local",
)
RETRAIN_EVENT = "seongsu.monitor.retrain-needed"
PROMOTED_EVENT = "seongsu.model.promoted"
FINAL_STATES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
STAGE_PREFIX = "stage: "  # how tasks.core.progress logs a stage in the run log


class OrchestrationError(RuntimeError):
    """A deployment run failed or never came (the message names the run and its state)."""


# --- inside the flows ----------------------------------------------------------------------------


@contextmanager
def ingest_slot() -> Iterator[None]:
    """Hold the ``seongsu-ingest`` slot; a missing limit (no ``up``/setup yet) only logs a warning."""
    from prefect.concurrency.sync import concurrency

    with concurrency(INGEST_LIMIT, occupy=1):
        yield


def as_of_run_name() -> str:
    """``flow_run_name`` of every flow: ``<flow> as of <day>`` (``latest`` when as_of is not given)."""
    from prefect.runtime import flow_run

    as_of = flow_run.parameters.get("as_of")
    return f"{flow_run.flow_name} as of {as_of or 'latest'}"


# --- setting a workspace up ----------------------------------------------------------------------


def ensure_pool_and_limit() -> None:
    """The process work pool and the ingest limit (idempotent: existing ones are left as they are)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(LOCAL_POOL)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=LOCAL_POOL, type="process"))
        try:
            client.read_global_concurrency_limit_by_name(INGEST_LIMIT)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=INGEST_LIMIT, limit=1))


def deploy_local(api_url: str, stamp: Path) -> bool:
    """``prefect --no-prompt deploy --all`` of the root prefect.yaml, as the README tells a user to.

    Skipped (returns False) when the six deployments exist and ``stamp`` records that this very
    prefect.yaml was deployed: a second ``up`` does not pay for re-deploying an unchanged file."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    digest = hashlib.sha256((REPO_ROOT / "prefect.yaml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        try:
            with get_client(sync_client=True) as client:
                for name in LOCAL_DEPLOYMENTS:
                    client.read_deployment_by_name(name)
            return False
        except ObjectNotFound:
            pass
    env = {**os.environ, "PREFECT_API_URL": api_url}
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise OrchestrationError(f"prefect deploy failed:\n{tail}")
    stamp.write_text(digest)
    return True


def worker_online(pool: str = LOCAL_POOL) -> bool:
    """Whether a worker of ``pool`` has sent a heartbeat recently (what the UI shows as online)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        workers = client.read_workers_for_work_pool(pool)
    return any(str(getattr(w.status, "value", w.status)) == "ONLINE" for w in workers)


# --- deployment runs -----------------------------------------------------------------------------


def run_deployment_and_wait(
    name: str,
    parameters: dict[str, Any],
    on_stage: Callable[[str], None] | None = None,
    until: Callable[[], bool] | None = None,
) -> Any:
    """Create a run of deployment ``name`` for the worker and wait for it; a failure is an error.

    ``on_stage`` receives the run's ``stage: ...`` log lines (``tasks.core.progress``) as they arrive, so
    a terminal can show what a run in the worker's process is doing.  ``until``: stop waiting as
    soon as it returns True (the run goes on in the worker; a run that ended first must have
    completed)."""
    from prefect.deployments import run_deployment

    created = run_deployment(name, parameters=parameters, timeout=0, as_subflow=False)
    run = _follow(created.id, on_stage, until)  # type: ignore[union-attr]  # sync call: a FlowRun
    if is_final(run):
        _require_completed(name, run)
    return run


def is_final(run: Any) -> bool:
    """Whether a flow run has reached a final state (completed, failed, crashed, cancelled)."""
    return run.state_type is not None and run.state_type.value in FINAL_STATES


def _follow(
    run_id: UUID, on_stage: Callable[[str], None] | None, until: Callable[[], bool] | None = None
) -> Any:
    """Poll the run until it is final (or ``until()``), passing its new stage log lines to ``on_stage``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    seen = 0
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            final = is_final(run)
            if on_stage is not None:
                logs = client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])),
                    sort=LogSort.TIMESTAMP_ASC,
                    offset=seen,
                )
                seen += len(logs)
                for entry in logs:
                    if entry.message.startswith(STAGE_PREFIX):
                        on_stage(entry.message.removeprefix(STAGE_PREFIX))
            if final or (until is not None and until()):
                return run
            time.sleep(2)


def triggered_runs(deployment: str, since: datetime) -> list[Any]:
    """Runs of ``deployment`` created since ``since`` by anything but its schedule (an automation)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    with get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(deployment).id
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
        )
    return [r for r in runs if not r.auto_scheduled and r.created is not None and r.created >= since]


def wait_for_triggered_run(deployment: str, since: datetime, timeout: float = 90) -> Any:
    """Wait for the run an automation creates for ``deployment`` (after ``since``), then for its end."""
    deadline = time.monotonic() + timeout
    runs: list[Any] = []
    while not runs:
        if time.monotonic() > deadline:
            raise OrchestrationError(f"no {deployment} run was triggered within {timeout:.0f} s")
        time.sleep(1)
        runs = triggered_runs(deployment, since)
    run = _follow(runs[0].id, None)
    _require_completed(deployment, run)
    return run


def event_reasons(event: str, since: datetime) -> list[str]:
    """``payload.reason`` of the ``event`` occurrences since ``since`` (for the replay's report)."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    query = {"filter": {"event": {"name": [event]}, "occurred": {"since": since.isoformat()}}, "limit": 20}
    try:
        response = httpx.post(f"{PREFECT_API_URL.value()}/events/filter", json=query, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError:
        return []
    return [
        str(e["payload"]["reason"]) for e in response.json()["events"] if "reason" in e.get("payload", {})
    ]


def _require_completed(name: str, run: Any) -> None:
    state = run.state
    if state is None or not state.is_completed():
        label = state.name if state is not None else "no state"
        raise OrchestrationError(f"{name} run {run.name} ended {label}: {state.message if state else ''}")


def utc_now() -> datetime:
    """Server-comparable 'now' (timezone-aware), a little in the past to absorb clock rounding."""
    return datetime.now(UTC) - timedelta(seconds=1)


def url_healthy(url: str) -> bool:
    """Whether ``url`` answers 2xx/3xx within 2 s (a server's health endpoint)."""
    import httpx

    try:
        return 200 <= httpx.get(url, timeout=2).status_code < 400
    except httpx.HTTPError:
        return False
