"""Schedules fire: the guard against the next incompatible Prefect / SQLAlchemy release.

On the session's real ``prefect server``: a deployment with an interval schedule -> the server's
scheduler service creates SCHEDULED runs (``auto_scheduled``, nobody asked for them) -> a real
``prefect worker start`` on a process pool picks one up -> the flow runs in a subprocess of the worker
(it leaves a marker file) -> COMPLETED.  With prefect 3.8 on SQLAlchemy 2.1 the scheduler fails on
every loop ("Can't evaluate bulk DML statement") and the first step never happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.schemas.objects import FlowRun

from cli.supervisor import stop_process_group
from tests.support.paths import FIXTURES

FLOWS = FIXTURES / "flows"
POOL = "test-schedules"

pytestmark = pytest.mark.timeout(240)


def runs_of(deployment_id: UUID) -> list[FlowRun]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
        )


def wait_for(what: str, probe: object, timeout: float) -> list[FlowRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()  # type: ignore[operator]
        if found:
            return list(found)
        time.sleep(1)
    raise AssertionError(f"{what} within {timeout:.0f} s")


@pytest.fixture
def scheduled_deployment(prefect_server: str, tmp_path: Path) -> Iterator[tuple[UUID, Path]]:
    """The marker flow deployed to a process pool with a 10-second interval schedule."""
    from prefect import Flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        if POOL not in {p.name for p in client.read_work_pools()}:
            client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
    marker_file = tmp_path / "marker.txt"
    flow = Flow.from_source(source=str(FLOWS), entrypoint="marker.py:marker")
    assert isinstance(flow, Flow)  # called from sync code: the flow, not a coroutine
    deployment_id = flow.deploy(
        name="every-10s",
        work_pool_name=POOL,
        interval=timedelta(seconds=10),
        parameters={"path": str(marker_file)},
        print_next_steps=False,
    )
    assert isinstance(deployment_id, UUID)
    try:
        yield deployment_id, marker_file
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)


def test_scheduler_creates_runs_and_a_worker_completes_one(
    prefect_server: str, scheduled_deployment: tuple[UUID, Path], tmp_path: Path
) -> None:
    deployment_id, marker_file = scheduled_deployment
    scheduled = wait_for(
        "the server's scheduler created no SCHEDULED run",
        lambda: [r for r in runs_of(deployment_id) if r.auto_scheduled and r.state_type == "SCHEDULED"],
        timeout=45,
    )
    assert all(r.work_pool_name == POOL for r in scheduled)
    assert not marker_file.exists(), "nothing may run before a worker is there"

    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_WORKER_QUERY_SECONDS": "1"}
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            [done, *_] = wait_for(
                "no scheduled run was COMPLETED by the worker",
                lambda: [r for r in runs_of(deployment_id) if r.state_type == "COMPLETED"],
                timeout=150,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{(tmp_path / 'worker.log').read_text()[-3000:]}") from None
        finally:
            stop_process_group(worker)
    assert done.auto_scheduled, "the completed run is one the scheduler created"
    assert done.infrastructure_pid, "started as a subprocess by the process worker"
    assert done.work_pool_name == POOL
    assert marker_file.read_text().startswith("ran")
