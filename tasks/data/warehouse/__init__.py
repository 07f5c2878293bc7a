"""The warehouse: the ``Warehouse`` Protocol (``base``), two backends, and the ways to open one.

The factory lives here, above the backends, so ``base`` never imports them (no circle).
``warehouse_session`` is how every step and command opens the configured warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tasks.data.warehouse.base import Warehouse, WarehouseError, redact_url

if TYPE_CHECKING:
    from tasks.core.settings import Settings


def open_warehouse(url: str) -> Warehouse:
    """Open the backend named by ``url`` (``postgresql://`` or ``sqlite:///path``)."""
    if url.startswith(("postgresql://", "postgres://")):
        from tasks.data.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(url)
    if url.startswith("sqlite:///"):
        from tasks.data.warehouse.sqlite import SqliteWarehouse

        return SqliteWarehouse(url)
    raise WarehouseError(
        f"unsupported warehouse URL {redact_url(url)!r}: use postgresql://user:pass@host:port/db "
        "or sqlite:///path/to/warehouse.sqlite"
    )


@contextmanager
def warehouse_session(settings: Settings, *, migrate: bool = True) -> Iterator[Warehouse]:
    """``with warehouse_session(settings) as wh:`` the configured warehouse, migrated first (unless
    ``migrate=False``), closed on the way out whatever happens."""
    with open_warehouse(settings.resolved_warehouse_url) as warehouse:
        if migrate:
            warehouse.migrate()
        yield warehouse
