"""The Space, end to end: the real Gradio app, driven with ``gradio_client`` over HTTP.

Everything it talks to is real: a ``bentoml serve`` of a small real model package
(``tests/support/packages.py``), the session's ``prefect server`` (with flow runs created through its
REST API), and an embedded warehouse holding real snapshot rows, the package's forecasts and a real
``run_monitor`` evaluation.  Each unreachable-dependency case launches the same app with one URL
pointing at a closed port and checks that the page says so plainly, that the other tabs still
answer, and that no stack trace or secret reaches any output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from space.app import build_app, launch, parse_day, resolve_station
from space.charts import ACTUAL_NAME
from space.clients import (
    BentoClient,
    SpaceConfig,
    TTLCache,
    Unavailable,
    prefect_ui_base,
)
from tests.space.test_space_panels import registry_metrics
from tests.support.history import DEFAULT_STATIONS
from tests.support.packages import (
    TRAIN_AS_OF,
    StartedService,
    build_package,
    publish,
    started_service,
    wait_until_up,
)
from tests.support.paths import REPO, SNAPSHOT
from tests.support.ports import free_port
from tests.support.prefect_api import prefect_api

DAY = TRAIN_AS_OF + dt.timedelta(days=1)  # first forecastable day of the package; actuals exist too
EVALUATED_ON = DAY + dt.timedelta(days=3)  # the day DAY's actuals are published
VERSION = "space-test-v1"
BENTO_KEY = "bento-secret-7f3a0c"
PREFECT_KEY = "prefect-secret-91c2d4"
PG_PASSWORD = "pg-secret-55e1b9"
SECRETS = (BENTO_KEY, PREFECT_KEY, PG_PASSWORD)


# --------------------------------------------------------------------------------------------------
# the real dependencies


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("space-pkg") / "package", version=VERSION)


@pytest.fixture(scope="module")
def bento_process(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartedService]:
    """``bentoml serve`` started *without* waiting, so it boots while the Prefect server does."""
    home = tmp_path_factory.mktemp("space-bentoml")
    publish(package, home)
    # /model needs the key the Space is configured with
    with started_service(home, reload_interval_s=60, env={"SEONGSU_BENTO_API_KEY": BENTO_KEY}) as service:
        yield service


@pytest.fixture(scope="module")
def bento_url(bento_process: StartedService, prefect_server: str) -> str:
    wait_until_up(bento_process, timeout_s=120)
    return bento_process.url


@pytest.fixture(scope="module")
def warehouse_url(package: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An embedded warehouse with real snapshot rows, the package's forecasts and a real evaluation."""
    from tasks.core.schema import (
        FORECASTS,
        INGEST_RUNS,
        MODELS,
        RIDERSHIP_HOURLY,
        STATIONS,
        WEATHER_HOURLY,
        conform,
    )
    from tasks.data.warehouse import open_warehouse
    from tasks.ops.monitor import run_monitor

    url = f"sqlite:///{tmp_path_factory.mktemp('space-wh') / 'warehouse.sqlite'}"
    now = datetime.now(UTC).replace(tzinfo=None)
    codes = list(DEFAULT_STATIONS)
    stations = pl.read_parquet(SNAPSHOT / "stations.parquet").filter(pl.col("station_code").is_in(codes))
    ridership = (
        pl.scan_parquet(SNAPSHOT / "ridership_hourly.parquet")
        .filter(pl.col("station_code").is_in(codes) & pl.col("date").is_between(dt.date(2023, 4, 1), DAY))
        .collect()
    )
    weather = pl.read_parquet(SNAPSHOT / "weather_hourly.parquet").filter(
        pl.col("ts") < datetime.combine(EVALUATED_ON, dt.time())
    )
    forecasts = pl.read_parquet(package / "forecasts.parquet").with_columns(
        model_version=pl.lit(VERSION), as_of=pl.lit(TRAIN_AS_OF), created_at=pl.lit(now)
    )
    models = pl.DataFrame(
        [
            {
                "version": VERSION,
                "status": "production",
                "trained_at": datetime(2023, 6, 20, 12),
                "promoted_at": datetime(2023, 6, 20, 13),
                "data_start": dt.date(2023, 3, 1),
                "data_end": dt.date(2023, 6, 17),
                "metrics_json": json.dumps(registry_metrics()),  # the train flow's own layout
            }
        ]
    )
    runs = pl.DataFrame(
        [
            {
                "run_id": "ridership_hourly-test",
                "dataset": "ridership_hourly",
                "source": "snapshot",
                "started_at": now,
                "finished_at": now,
                "status": "ok",
                "rows_in": ridership.height,
                "rows_inserted": ridership.height,
                "rows_updated": 0,
                "rows_quarantined": 3,
                "data_min_date": ridership["date"].min(),
                "data_max_date": DAY,
            }
        ]
    )
    wh = open_warehouse(url)
    try:
        wh.migrate()
        with wh.transaction():
            wh.upsert(STATIONS, conform(stations, STATIONS))
            wh.upsert(
                RIDERSHIP_HOURLY, conform(ridership.with_columns(source=pl.lit("snapshot")), RIDERSHIP_HOURLY)
            )
            wh.upsert(WEATHER_HOURLY, conform(weather, WEATHER_HOURLY))
            wh.upsert(FORECASTS, conform(forecasts, FORECASTS))
            wh.upsert(MODELS, conform(models, MODELS))
            wh.upsert(INGEST_RUNS, conform(runs, INGEST_RUNS))
        run_monitor(wh, EVALUATED_ON)
    finally:
        wh.close()
    return url


@pytest.fixture(scope="module")
def prefect_runs(prefect_server: str) -> dict[str, str]:
    """A deployed ``daily-pipeline`` (06:30 KST, its next run scheduled) with a completed run, and an
    ad hoc ``monitor`` run that failed."""

    def post(path: str, body: dict[str, Any]) -> Any:
        return prefect_api(prefect_server, "POST", path, body)

    flow = post("/flows/", {"name": "daily-pipeline"})["id"]
    schedule = {"schedule": {"cron": "30 6 * * *", "timezone": "Asia/Seoul"}, "active": True}
    dep = post("/deployments/", {"name": "local", "flow_id": flow, "schedules": [schedule]})["id"]
    post(f"/deployments/{dep}/schedule", {"max_runs": 1})
    monitor = post("/flows/", {"name": "monitor"})["id"]

    def run(flow_id: str, name: str, final: str, deployment: str | None = None) -> str:
        body: dict[str, Any] = {"flow_id": flow_id, "name": name, "state": {"type": "RUNNING"}}
        if deployment:
            body["deployment_id"] = deployment
        run_id = str(post("/flow_runs/", body)["id"])
        time.sleep(0.05)
        post(f"/flow_runs/{run_id}/set_state", {"state": {"type": final}, "force": True})
        return run_id

    return {
        "pipeline": run(flow, "space-test-pipeline", "COMPLETED", dep),
        "monitor": run(monitor, "space-test-monitor", "FAILED"),
    }


def _closed_port_url(path: str = "") -> str:
    return f"http://127.0.0.1:{free_port()}{path}"


@pytest.fixture(scope="module")
def config(
    bento_url: str, prefect_server: str, prefect_runs: dict[str, str], warehouse_url: str
) -> SpaceConfig:
    """Everything up; secrets set so the tests can check they never reach the page."""
    return SpaceConfig(
        bento_url=bento_url,
        bento_api_key=BENTO_KEY,
        prefect_api_url=prefect_server,
        prefect_api_key=PREFECT_KEY,
        warehouse_url=warehouse_url,
        local=True,
    )


# --------------------------------------------------------------------------------------------------
# driving the app


@contextmanager
def running_space(config: SpaceConfig) -> Iterator[Any]:
    """The app on a free port, and a ``gradio_client.Client`` for it; always closed afterwards."""
    from gradio_client import Client

    demo = build_app(config)
    port = free_port()
    launch(demo, host="127.0.0.1", port=port, block=False, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def call_everything(client: Any, station: str = "성수") -> dict[str, Any]:
    forecast = client.predict(station, DAY.isoformat(), api_name="/forecast")
    return {
        "forecast": forecast,
        "status": client.predict(api_name="/status"),
        "pipeline": client.predict(api_name="/pipeline"),
        "accuracy": client.predict("all", api_name="/accuracy"),
        "guidebook": client.predict(api_name="/guidebook"),
    }


def assert_clean(outputs: dict[str, Any]) -> None:
    """No secret, no stack trace, no Python error text anywhere on the page."""
    text = json.dumps(outputs, ensure_ascii=False, default=str)
    for secret in SECRETS:
        assert secret not in text
    for marker in ("Traceback", 'File "', "Exception:"):
        assert marker not in text


def figure(plot: dict[str, Any]) -> dict[str, Any]:
    assert plot["type"] == "plotly"
    return dict(json.loads(plot["plot"]))


def rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(table["headers"], r, strict=True)) for r in table["data"]]


# --------------------------------------------------------------------------------------------------
# all up


def test_everything_up(config: SpaceConfig, prefect_runs: dict[str, str]) -> None:
    with running_space(config) as client:
        out = call_everything(client)
        english = client.predict("Seongsu", DAY.isoformat(), api_name="/forecast")
    plot, summary, table, note = out["forecast"]
    fig = figure(plot)
    bars = [t for t in fig["data"] if t["type"] == "bar" and t.get("x") and t["x"][0] is not None]
    assert len(bars) == 2 and all(len(b["y"]) == 20 for b in bars)  # boardings, alightings x 20 bands
    assert any(t.get("name") == ACTUAL_NAME for t in fig["data"])  # actuals drawn on top
    assert "성수 Seongsu" in summary and "가장 붐비는 시간" in summary and "Busiest hour" in summary
    assert "Quietest hour" in summary and "가장 한산한 시간" in summary
    assert len(table["data"]) == 20 and any(r["혼잡도 Crowding"] for r in rows(table))
    assert "live service" in note and VERSION in note
    assert "성수 Seongsu" in english[1]  # the English name works too

    assert out["status"].count("✅") == 3 and "⚠️" not in out["status"]
    runs_md, freshness, model_md = out["pipeline"]
    assert "daily-pipeline/local" in runs_md and "Completed" in runs_md and "Failed" in runs_md
    [listed] = [
        line for line in runs_md.splitlines() if "daily-pipeline/local" in line and "(Asia/Seoul)" in line
    ]
    assert "30 6 * * * (Asia/Seoul)" in listed and "KST" in listed, "the schedule and its next run"
    assert f"/runs/flow-run/{prefect_runs['pipeline']}" in runs_md
    fresh = {r["테이블 Table"]: r for r in rows(freshness)}
    assert fresh["ridership_hourly"]["최신 날짜 Newest"] == DAY.isoformat()
    assert VERSION in model_md
    assert "backtest WAPE" in model_md and "Seongsu (211)" in model_md and "best baseline" in model_md
    assert "coverage" in model_md and "learning_rate" not in model_md and "recipe" not in model_md
    assert "live (" in model_md  # the monitor's scores of EVALUATED_ON

    _, acc_table, acc_md = out["accuracy"]
    assert f"latest evaluation: {EVALUATED_ON}" in acc_md
    assert any("pooled" in r["시점 Horizon"] for r in rows(acc_table))
    guide = out["guidebook"]
    assert "1. 수집 · Ingest" in guide and "8. 재학습 · Retrain" in guide
    assert "rows quarantined in the last 1 loads: **3**" in guide
    assert "backtest WAPE" in guide and "learning_rate" not in guide
    assert_clean(out)


# --------------------------------------------------------------------------------------------------
# one dependency down at a time: the page says so, the rest still works


def test_bento_down(config: SpaceConfig) -> None:
    url = _closed_port_url()
    with running_space(replace(config, bento_url=url)) as client:
        out = call_everything(client)
    plot, summary, table, note = out["forecast"]
    host = url.removeprefix("http://")
    assert "Forecast service (Bento) is unavailable" in note and f"cannot connect to {host}" in note
    assert "stored in the warehouse" in note  # falls back to the forecasts table
    assert "Busiest hour" in summary and len(table["data"]) == 20
    assert any(t["type"] == "bar" for t in figure(plot)["data"])
    assert "Forecast service (Bento) is unavailable" in out["status"] and out["status"].count("✅") == 2
    assert "daily-pipeline/local" in out["pipeline"][0]  # the rest still works
    assert "latest evaluation" in out["accuracy"][2]
    assert "1. 수집 · Ingest" in out["guidebook"]
    assert_clean(out)


def test_prefect_down(config: SpaceConfig) -> None:
    url = _closed_port_url("/api")
    with running_space(replace(config, prefect_api_url=url)) as client:
        out = call_everything(client)
    runs_md, freshness, model_md = out["pipeline"]
    assert "Pipeline orchestrator (Prefect) is unavailable" in runs_md and "cannot connect to" in runs_md
    assert any(r["테이블 Table"] == "ridership_hourly" for r in rows(freshness))  # freshness still there
    assert VERSION in model_md
    assert "backtest WAPE" in model_md and "Seongsu (211)" in model_md and "best baseline" in model_md
    assert "coverage" in model_md and "learning_rate" not in model_md and "recipe" not in model_md
    assert "live (" in model_md  # the monitor's scores of EVALUATED_ON
    assert "live service" in out["forecast"][3] and "Busiest hour" in out["forecast"][1]
    assert "Pipeline orchestrator (Prefect) is unavailable" in out["status"]
    assert "Pipeline orchestrator (Prefect) is unavailable" in out["guidebook"]
    assert_clean(out)


def test_warehouse_down(config: SpaceConfig) -> None:
    closed = free_port()
    url = f"postgresql://seongsu:{PG_PASSWORD}@127.0.0.1:{closed}/seongsu"
    with running_space(replace(config, warehouse_url=url)) as client:
        out = call_everything(client)
    plot, summary, _, note = out["forecast"]
    assert "live service" in note and "Busiest hour" in summary  # forecasts do not need the warehouse
    assert "Data warehouse is unavailable" in note
    assert not any(t.get("name") == ACTUAL_NAME for t in figure(plot)["data"])
    assert "Data warehouse is unavailable" in out["status"]
    runs_md, freshness, _ = out["pipeline"]
    assert "daily-pipeline/local" in runs_md
    assert "⚠️" in json.dumps(freshness, ensure_ascii=False)
    assert "Data warehouse is unavailable" in out["accuracy"][2]
    assert_clean(out)


# --------------------------------------------------------------------------------------------------
# the parts, in process


def test_space_runs_without_this_project(tmp_path: Path) -> None:
    """On Hugging Face only space/*.py exist: no ``space`` package, no ``tasks``.  The app must import,
    build its clients from the Space secrets and explain what is missing."""
    for path in (REPO / "space").glob("*.py"):
        if path.name != "__init__.py":
            shutil.copy(path, tmp_path / path.name)
    script = (
        "import sys; sys.modules['space'] = None; sys.modules['tasks'] = None\n"
        "import app\n"
        "assert 'gradio' not in sys.modules, 'gradio must be imported lazily'\n"
        "s = app.SpaceApp(app.Clients.from_config(app.SpaceConfig.from_env({'PREFECT_API_KEY': 'k'})))\n"
        "print(s.banner())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SEONGSU_BENTO_URL is not set" in done.stdout
    assert "set SUPABASE_URL and SUPABASE_ANON_KEY" in done.stdout


def test_config_from_env_and_secrets_stay_out_of_repr() -> None:
    env = {
        "SUPABASE_URL": "https://abc.supabase.co",
        "SUPABASE_ANON_KEY": "anon-secret",
        "PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/a1/workspaces/w2",
        "PREFECT_API_KEY": "pnu_secret",
        "SEONGSU_BENTO_URL": "https://bento.example.org",
        "SEONGSU_BENTO_API_KEY": "bento-secret",
    }
    config = SpaceConfig.from_env(env)
    assert config.uses_supabase and not config.local and config.warehouse_url is None
    assert not any(s in repr(config) for s in ("anon-secret", "pnu_secret", "bento-secret"))
    assert prefect_ui_base(env["PREFECT_API_URL"]) == "https://app.prefect.cloud/account/a1/workspace/w2"
    assert prefect_ui_base("http://127.0.0.1:4200/api") == "http://127.0.0.1:4200"
    local = SpaceConfig.from_env({"SEONGSU_HOME": "/tmp/x"})
    assert local.bento_url == "http://127.0.0.1:3000" and local.warehouse_url
    assert not local.local  # the replay clock needs explicit SEONGSU_SPACE_LOCAL=1 (test_space_clock.py)


def test_http_failures_become_plain_sentences() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model":
            raise httpx.ReadTimeout("timed out", request=request)
        if request.url.path == "/forecast":
            return httpx.Response(503, json={"error": "no model package is being served yet"})
        return httpx.Response(401)

    bento = BentoClient("http://bento:3000", api_key="k", transport=httpx.MockTransport(answer))
    model = bento.model()
    assert isinstance(model, Unavailable) and model.reason == "no answer from bento:3000 within 3 s"
    fc = bento.forecast("성수", DAY)
    assert isinstance(fc, Unavailable) and "no model package is being served yet" in fc.reason
    assert not fc.rejected


def test_ttl_cache_keeps_failures_briefly() -> None:
    now = [0.0]
    cache = TTLCache(20.0, failure_ttl_s=5.0, clock=lambda: now[0])
    calls: list[int] = []

    def flaky() -> Any:
        calls.append(1)
        return Unavailable("prefect", "down") if len(calls) == 1 else "runs"

    assert isinstance(cache.get("k", flaky), Unavailable)
    now[0] = 4.0
    assert isinstance(cache.get("k", flaky), Unavailable) and len(calls) == 1  # still cached
    now[0] = 6.0
    assert cache.get("k", flaky) == "runs" and len(calls) == 2
    now[0] = 25.0
    assert cache.get("k", flaky) == "runs" and len(calls) == 2  # success cached for 20 s from t=6
    now[0] = 27.0
    cache.get("k", flaky)
    assert len(calls) == 3


def test_station_and_date_parsing() -> None:
    stations = pl.read_parquet(SNAPSHOT / "stations.parquet")
    assert resolve_station("성수", stations) == [211]
    assert resolve_station("성수역", stations) == [211]
    assert resolve_station("seongsu", stations) == [211]
    assert sorted(resolve_station("건대입구", stations)) == [212, 2729]
    assert resolve_station("211", stations) == [211]
    assert resolve_station("교대", stations)  # "교대(법원.검찰청)"
    assert parse_day("2023-06-21 (수 Wed) · 예보 forecast") == dt.date(2023, 6, 21)
    assert parse_day("tomorrow") is None


def test_replay_clock_control() -> None:
    """Local only; a missing ``flows.replay.advance_clock`` says "not available"; the stack's own
    refusals are shown as written; a result is rendered day by day."""
    from space.clients import ClockControl

    def missing() -> Any:
        raise ImportError("no flows.replay")

    def refusing(days: int = 1) -> dict[str, Any]:
        raise ValueError("the replay has not started: run `seongsu up` first")

    def advancing(days: int = 1) -> dict[str, Any]:
        return {
            "as_of": "2023-06-25",
            "days": [{"as_of": "2023-06-25", "retrain_requested": True, "alerts": ["wape"]}],
        }

    assert isinstance(ClockControl(False, loader=lambda: advancing).advance(), Unavailable)
    gone = ClockControl(True, loader=missing)
    assert not gone.available() and "no flows.replay.advance_clock" in gone.advance().reason  # type: ignore[union-attr]
    refused = ClockControl(True, loader=lambda: refusing).advance()
    assert isinstance(refused, Unavailable) and "seongsu up" in refused.reason
    assert ClockControl(True, loader=lambda: advancing).advance() == advancing()

    from space.app import SpaceApp
    from space.clients import Clients

    clients = Clients.from_config(SpaceConfig(local=True))
    clients.clock = ClockControl(True, loader=lambda: advancing)
    text = SpaceApp(clients).advance_clock()
    assert "now 2023-06-25" in text and "retrain requested" in text and "wape" in text
