"""Several processes migrating one fresh store at once (workers starting together) all succeed.

Real processes, a real SQLite file and a real Postgres database: a barrier releases the four
migrators together so they really race on the empty store.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from tasks.core.schema import TABLES
from tasks.data.warehouse import open_warehouse
from tasks.data.warehouse.migrations import list_migrations

MIGRATORS = 4


def _migrate(url: str, barrier: Barrier, results: mp.Queue) -> None:
    try:
        warehouse = open_warehouse(url)
        barrier.wait(timeout=60)
        warehouse.migrate()
        warehouse.close()
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def _race(url: str) -> list[str]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(MIGRATORS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_migrate, args=(url, barrier, results)) for _ in range(MIGRATORS)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return outcomes


def _assert_migrated_once(url: str) -> None:
    warehouse = open_warehouse(url)
    assert warehouse.applied_migrations() == [m.version for m in list_migrations()]
    assert set(TABLES) <= set(warehouse.table_names())
    warehouse.close()


def test_concurrent_migrations_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    assert _race(url) == ["ok"] * MIGRATORS
    _assert_migrated_once(url)


@pytest.mark.usefixtures("postgres_admin")
def test_concurrent_migrations_on_a_fresh_postgres_database(postgres_url: str) -> None:
    assert _race(postgres_url) == ["ok"] * MIGRATORS
    _assert_migrated_once(postgres_url)
