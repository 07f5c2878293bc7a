"""Shared fixtures: an isolated SEONGSU_HOME (and a fresh `home` per test), one Prefect server per
session, real Postgres databases.  Helpers the fixtures build on live in ``tests/support``.

Postgres tests use a real server (``SEONGSU_TEST_POSTGRES_URL``, default the local one): each test
gets a fresh database that is dropped afterwards.  When the server is unreachable they skip on a
laptop but FAIL in CI (``CI=true``), so a green CI always means the Postgres path really ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.ports import free_port

if TYPE_CHECKING:
    from tasks.data.raw_zone import LocalRawZone
    from tasks.data.warehouse.base import Warehouse
    from tests.support.homes import Home

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
SERVER_START_S = 420


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    """Before test modules import Prefect: no ephemeral servers (a test that needs the API must ask
    for the ``prefect_server`` fixture, and fails loudly otherwise), no analytics."""
    os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_API_URL", "")


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session gets its own SEONGSU_HOME (warehouse, raw zone, tool homes)."""
    home = tmp_path_factory.mktemp("seongsu-home")
    saved = dict(os.environ)
    os.environ["SEONGSU_HOME"] = str(home)
    os.environ.pop("SEONGSU_WAREHOUSE_URL", None)
    for key in ("SEOUL_DATA_API_KEY", "KMA_API_KEY", "SUPABASE_URL", "SUPABASE_KEY", "WANDB_API_KEY"):
        os.environ.pop(key, None)
    from tasks.core.runtime import prepare_environment
    from tasks.core.settings import get_settings

    prepare_environment(get_settings())
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real ``prefect server`` for the whole session (ephemeral mode costs 12-20 s per process)."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_API_URL": "",
    }
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    # a wait, not a timing assertion: on a loaded 2-core runner the server's first start (database
    # migrations) has taken over two minutes
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError(
            f"prefect server did not start within {SERVER_START_S} s: {(home / 'server.log').read_text()[-2000:]}"
        )
    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    # Prefect snapshots its settings when first imported (test modules import it at collection),
    # so the new URL must also go into its settings context, not only the environment.
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        _drain_prefect_clients()
        if old is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = old
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _drain_prefect_clients() -> None:
    """Send buffered logs/events while the server is up; otherwise Prefect spins up a temporary
    server at interpreter exit just to deliver them."""
    if "prefect" not in sys.modules:
        return
    from prefect._internal.concurrency.services import QueueService

    QueueService.drain_all(timeout=10)


def _admin_url() -> str:
    return os.environ.get("SEONGSU_TEST_POSTGRES_URL", DEFAULT_PG)


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """URL of a reachable Postgres with rights to create databases (skip locally, fail in CI)."""
    import psycopg

    url = _admin_url()
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError as exc:
        message = f"Postgres unreachable at {url}: {exc}"
        if _in_ci():
            pytest.fail(message + " (CI=true: Postgres tests must run)")
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url(postgres_admin: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    import psycopg

    name = f"seongsu_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    base, _, _ = postgres_admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backends: the embedded store and a real Postgres."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A fresh SEONGSU_HOME with its own BentoML store, for one test (``tests.support.homes``)."""
    from tests.support.homes import use_home

    return use_home(tmp_path, monkeypatch)


@pytest.fixture
def wh(warehouse_url: str) -> Iterator[Warehouse]:
    """A migrated warehouse on each backend (``warehouse_url``), closed afterwards."""
    from tasks.data.warehouse import open_warehouse

    warehouse = open_warehouse(warehouse_url)
    warehouse.migrate()
    yield warehouse
    warehouse.close()


@pytest.fixture
def raw_zone(tmp_path: Path) -> LocalRawZone:
    """An empty local raw zone for one test."""
    from tasks.data.raw_zone import LocalRawZone

    return LocalRawZone(tmp_path / "raw")
