"""``warehouse_session``: the one way steps and commands open the configured warehouse, and the
replay clock it carries (``tasks.data.clock``: one key, one reader, one writer)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tasks.core.settings import Settings
from tasks.data.clock import read_clock, set_clock
from tasks.data.warehouse import open_warehouse, warehouse_session
from tasks.data.warehouse.base import WarehouseError


def _settings(url: str) -> Settings:
    return Settings(warehouse_url=url)


def test_session_migrates_then_closes(warehouse_url: str) -> None:
    with warehouse_session(_settings(warehouse_url)) as warehouse:
        assert "pipeline_state" in warehouse.table_names()
    with pytest.raises(Exception):  # noqa: B017 -- each backend raises its own "closed" error
        warehouse.read("select 1 as one")


def test_session_without_migrate_leaves_a_new_store_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.sqlite"
    with warehouse_session(_settings(url), migrate=False) as warehouse:
        assert warehouse.applied_migrations() == []


def test_session_closes_when_the_body_fails(warehouse_url: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), warehouse_session(_settings(warehouse_url)) as warehouse:
        raise RuntimeError("boom")
    with pytest.raises(Exception):  # noqa: B017
        warehouse.read("select 1 as one")


def test_unknown_url_is_one_clear_error() -> None:
    with pytest.raises(WarehouseError, match="unsupported warehouse URL"):
        open_warehouse("mysql://nope")


def test_replay_clock_round_trip(warehouse_url: str) -> None:
    with warehouse_session(_settings(warehouse_url)) as warehouse:
        assert read_clock(warehouse) is None
        set_clock(warehouse, date(2023, 6, 1))
        set_clock(warehouse, date(2023, 6, 2))
        assert read_clock(warehouse) == date(2023, 6, 2)
