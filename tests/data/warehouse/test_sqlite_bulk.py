"""``tasks.data.warehouse.sqlite_bulk``: a ``bulk`` SQLite read in a child process (ADBC, Arrow) gives
exactly what the row path gives, never inside a transaction, and falls back to the row path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks.core.schema import RIDERSHIP_HOURLY
from tasks.data.warehouse import open_warehouse, sqlite, sqlite_bulk
from tasks.data.warehouse.base import Warehouse
from tests.data.warehouse.test_warehouse import _hourly


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """A SQLite store holding three days of two stations, with the bulk path on at any file size."""
    monkeypatch.setattr(sqlite, "BULK_MIN_BYTES", 0)
    wh = open_warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    wh.migrate()
    wh.upsert(RIDERSHIP_HOURLY, _hourly(3))
    yield wh
    wh.close()


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[pl.DataFrame | None]:
    """What every child read returned (the real function, observed)."""
    seen: list[pl.DataFrame | None] = []

    def observed(*args: Any) -> pl.DataFrame | None:
        seen.append(sqlite_bulk.read_in_child(*args))
        return seen[-1]

    monkeypatch.setattr(sqlite, "read_in_child", observed)
    return seen


@pytest.mark.parametrize(
    ("where", "params"),
    [("", []), ("date <= %s AND station_code = %s", ["2023-01-02", 211]), ("date > %s", ["2024-01-01"])],
)
def test_bulk_read_equals_the_row_path(
    store: Warehouse, children: list[pl.DataFrame | None], where: str, params: list[Any]
) -> None:
    rows = store.read_table(RIDERSHIP_HOURLY, where, params)
    bulk = store.read_table(RIDERSHIP_HOURLY, where, params, bulk=True)
    assert len(children) == 1 and children[0] is not None  # the child answered
    assert bulk.schema == rows.schema
    assert bulk.sort(RIDERSHIP_HOURLY.primary_key).equals(rows.sort(RIDERSHIP_HOURLY.primary_key))


def test_inside_a_transaction_the_read_sees_its_own_writes(
    store: Warehouse, children: list[pl.DataFrame | None]
) -> None:
    before = store.read_table(RIDERSHIP_HOURLY, bulk=True).height
    with store.transaction():
        store.upsert(RIDERSHIP_HOURLY, _hourly(4))  # one more day, not committed yet
        during = store.read_table(RIDERSHIP_HOURLY, bulk=True).height
    assert during == _hourly(4).height > before
    assert len(children) == 1  # the read inside the transaction stayed on this connection


def test_a_child_that_cannot_run_costs_time_not_rows(
    store: Warehouse, monkeypatch: pytest.MonkeyPatch, children: list[pl.DataFrame | None]
) -> None:
    monkeypatch.setattr(sqlite_bulk.sys, "executable", "/nonexistent/python")
    bulk = store.read_table(RIDERSHIP_HOURLY, bulk=True)
    assert children == [None]
    assert bulk.sort(RIDERSHIP_HOURLY.primary_key).equals(_hourly(3).sort(RIDERSHIP_HOURLY.primary_key))
