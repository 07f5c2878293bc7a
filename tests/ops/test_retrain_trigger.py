"""An accuracy drop retrains the model through Prefect, end to end on the session's server.

The chain under test: the real ``monitor`` flow scores forecasts that are 60% too high against real
snapshot ridership -> it emits ``seongsu.monitor.retrain-needed`` about ``seongsu.model.<version>``
-> the trigger that ``prefect deploy`` created from ``prefect.yaml`` (an automation; ``prefect
server start`` runs the triggers and actions services) -> a flow run of the ``train/local``
deployment, with the evaluation date as its ``as_of``.  No worker runs here, so the run stays
Scheduled: creating it is Prefect's part of the contract, running it is the worker's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

import httpx
import polars as pl
import pytest
from prefect.client.schemas.objects import FlowRun

from flows.replay import retrain_requested
from tasks.core.settings import get_settings
from tasks.data.warehouse import open_warehouse
from tasks.ops.orchestration import is_final, run_deployment_and_wait, triggered_runs, utc_now
from tasks.ops.scores import windows_for
from tests.support.monitoring import forecasts_of, production_model, seed_monitored
from tests.support.prefect_cli import run_prefect

STATION_CODES = (150, 151, 210, 211, 212, 213)  # two stations of line 1, Seongsu and its line-2 neighbours
EVALUATED_ON = date(2023, 4, 20)
AUTOMATION_RELOAD_S = 6.0  # the triggers service reloads automations every 5 s (SQLite, no NOTIFY)

pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Deployed:
    deployment_id: UUID
    at: float  # time.monotonic() when the deployment (and its automation) was created


@pytest.fixture(scope="module")
def train_deployment(prefect_server: str) -> Deployed:
    """Only ``train/local`` from prefect.yaml (the process pool: no Docker needed)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        pools = {p.name: p.type for p in client.read_work_pools()}
    if pools.get("seongsu-process") != "process":  # test_deploy may have created it already
        run_prefect("work-pool", "create", "seongsu-process", "--type", "process", api_url=prefect_server)
    run_prefect("deploy", "-n", "train/local", api_url=prefect_server)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("train/local")
    return Deployed(deployment.id, time.monotonic())


@pytest.fixture
def degraded_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A warehouse with real ridership and weather, a production model and its bad forecasts."""
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    monkeypatch.setenv("SEONGSU_WAREHOUSE_URL", url)
    w = windows_for(EVALUATED_ON)
    snapshot = get_settings().snapshot_dir
    ridership = (
        pl.scan_parquet(snapshot / "ridership_hourly.parquet")
        .filter(
            pl.col("date").is_between(w.reference_start, w.cutoff)
            & pl.col("station_code").is_in(STATION_CODES)
        )
        .collect()
    )
    weather = pl.read_parquet(snapshot / "weather_hourly.parquet").filter(
        pl.col("ts").dt.date().is_between(w.reference_start, w.cutoff)
    )
    stations = pl.read_parquet(snapshot / "stations.parquet").filter(
        pl.col("station_code").is_in(STATION_CODES)
    )
    recent = ridership.filter(pl.col("date") >= w.recent_start)
    count = pl.col("count")
    forecasts = forecasts_of(recent, "m-bad", (1, 4), yhat=count * 1.6, lo=count * 1.4, hi=count * 1.8)
    model = production_model("m-bad", datetime(2023, 4, 1), datetime(2023, 4, 1), backtest_wape=0.15)
    seed_monitored(
        url,
        stations=stations,
        ridership=ridership,
        forecasts=forecasts,
        model=model,
        source="snapshot",
        weather=weather,
    )
    yield url


def _manual_train_runs(deployment_id: UUID) -> list[FlowRun]:
    """Runs of the deployment not created by its weekly schedule."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
        )
    return [r for r in runs if not r.auto_scheduled]


def test_accuracy_drop_schedules_a_training_run(train_deployment: Deployed, degraded_model: str) -> None:
    from prefect.events.worker import EventsWorker

    from flows.monitor import monitor

    assert _manual_train_runs(train_deployment.deployment_id) == []
    # the automation must be loaded by the triggers service before the event arrives
    time.sleep(max(0.0, AUTOMATION_RELOAD_S - (time.monotonic() - train_deployment.at)))

    since = utc_now()
    result = monitor(as_of=EVALUATED_ON)
    EventsWorker.drain_all(timeout=10)

    assert result is not None and result.retrain_needed
    assert result.model_version == "m-bad"
    assert result.value("wape") == pytest.approx(0.6)
    assert {a.rule for a in result.alerts} >= {"wape_max", "wape_vs_backtest", "coverage_min"}

    deadline = time.monotonic() + 60
    runs: list[FlowRun] = []
    while time.monotonic() < deadline and not runs:
        time.sleep(1)
        runs = _manual_train_runs(train_deployment.deployment_id)
    assert runs, "no train flow run was created within 60 s of the retrain event"
    time.sleep(2)  # one event, one run: nothing else may follow
    [run] = _manual_train_runs(train_deployment.deployment_id)
    assert run.parameters == {"as_of": EVALUATED_ON.isoformat()}  # the event's payload, via the trigger
    assert run.state is not None and run.state.type.value in ("SCHEDULED", "PENDING")
    assert run.idempotency_key, "created by an automation's run-deployment action"
    # what `seongsu replay` relies on: the monitor's stored request, and the one run it then waits for
    wh = open_warehouse(degraded_model)
    try:
        assert retrain_requested(wh, EVALUATED_ON)
    finally:
        wh.close()
    assert [r.id for r in triggered_runs("train/local", since)] == [run.id]


def test_the_retrain_event_names_the_model(prefect_server: str, train_deployment: Deployed) -> None:
    """The event the trigger matched, as the server stored it (what an operator sees in the UI).

    Runs after the test above, which emitted it (same module, same server)."""
    query = {"filter": {"event": {"name": ["seongsu.monitor.retrain-needed"]}}, "limit": 10}
    response = httpx.post(f"{prefect_server}/events/filter", json=query, timeout=10)
    response.raise_for_status()
    events = response.json()["events"]
    assert len(events) == 1
    [event] = events
    assert event["resource"]["prefect.resource.id"] == "seongsu.model.m-bad"
    assert event["payload"]["as_of"] == EVALUATED_ON.isoformat()
    assert "wape 0.600 for all above the ceiling 0.200" in event["payload"]["reason"]
    roles = {r["prefect.resource.role"] for r in event["related"]}
    assert "flow-run" in roles, "emitted inside the monitor flow run, so Prefect links the two"


def test_waiting_for_a_run_can_stop_while_it_goes_on(train_deployment: Deployed) -> None:
    """What ``up`` does with the first training: follow the run until the baseline serves, then
    leave it to the worker.  No worker here, so the run stays Scheduled and only ``until`` ends the
    wait; the run is left as it was (not cancelled, not failed).  Runs last in the module: the tests
    above count the deployment's manual runs."""
    calls: list[int] = []

    def until() -> bool:
        calls.append(1)
        return len(calls) == 2

    run = run_deployment_and_wait("train/local", {"as_of": EVALUATED_ON.isoformat()}, until=until)
    assert len(calls) == 2 and not is_final(run)
    assert run.state is not None and run.state.type.value in ("SCHEDULED", "PENDING")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        still = client.read_flow_run(run.id)
        assert still.state is not None and still.state.type.value in ("SCHEDULED", "PENDING")
        client.delete_flow_run(run.id)
