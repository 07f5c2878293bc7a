"""A promotion re-issues the day's forecasts through Prefect, on the session's server.

The chain under test: the registry promotes a package (here the gate's pick on the real snapshot
slice) and emits ``seongsu.model.promoted`` -> the trigger ``prefect deploy`` created from
``prefect.yaml`` -> a flow run of the ``forecast/local`` deployment with the package's ``as_of``.
No worker runs here (as in ``test_retrain_trigger``): creating the run is Prefect's part.
"""

from __future__ import annotations

import time
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.schemas.objects import FlowRun

from tasks.ops.registry import production_record
from tests.support.homes import TRAIN_AS_OF, prepared_home
from tests.support.prefect_cli import run_prefect

AUTOMATION_RELOAD_S = 6.0  # the triggers service reloads automations every 5 s (SQLite, no NOTIFY)

pytestmark = pytest.mark.timeout(300)


def _manual_runs(deployment_id: UUID) -> list[FlowRun]:
    """Runs of the deployment not created by its daily schedule."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
        )
    return [r for r in runs if not r.auto_scheduled]


def test_a_promotion_schedules_a_forecast_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.events.worker import EventsWorker

    with get_client(sync_client=True) as client:
        pools = {p.name: p.type for p in client.read_work_pools()}
    if pools.get("seongsu-process") != "process":  # another test module may have created it already
        run_prefect("work-pool", "create", "seongsu-process", "--type", "process", api_url=prefect_server)
    run_prefect("deploy", "-n", "forecast/local", api_url=prefect_server)
    deployed_at = time.monotonic()
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("forecast/local")
    before = {r.id for r in _manual_runs(deployment.id)}
    time.sleep(max(0.0, AUTOMATION_RELOAD_S - (time.monotonic() - deployed_at)))

    home = prepared_home(tmp_path / "home", monkeypatch)  # trains, runs the gate, promotes its pick
    EventsWorker.drain_all(timeout=10)
    warehouse = home.open()
    try:
        champion = production_record(warehouse)
    finally:
        warehouse.close()
    assert champion is not None and champion.promoted_at is not None

    deadline = time.monotonic() + 60
    runs: list[FlowRun] = []
    while time.monotonic() < deadline and not runs:
        time.sleep(1)
        runs = [r for r in _manual_runs(deployment.id) if r.id not in before]
    assert runs, "no forecast flow run was created within 60 s of the promotion"
    time.sleep(2)  # one promotion, one run
    [run] = [r for r in _manual_runs(deployment.id) if r.id not in before]
    assert run.parameters == {"as_of": TRAIN_AS_OF.isoformat()}  # the promoted package's as_of
    assert run.state is not None and run.state.type.value in ("SCHEDULED", "PENDING")
    assert run.idempotency_key, "created by an automation's run-deployment action"
