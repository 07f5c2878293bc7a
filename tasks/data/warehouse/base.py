"""The small interface both warehouse backends implement.

Flows and tasks only see ``Warehouse``: polars frames in (bulk upserts keyed on each table's primary
key) and polars frames out (parameterised SQL).  ``open_warehouse`` picks the backend from the URL so
the same code runs on the embedded store, CI's Postgres and Supabase.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import polars as pl
import tenacity

from tasks.core.schema import Table

T = TypeVar("T")


class WarehouseError(Exception):
    """The warehouse refused an operation (bad URL, duplicate keys in a batch, failed migration...)."""


class WarehouseUnavailable(WarehouseError):
    """The connection to the warehouse broke mid-operation: the transaction rolled back, nothing
    was half-written, and the operation can be retried after ``reconnect()``."""


@dataclass(frozen=True)
class UpsertResult:
    table: str
    rows_in: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.rows_in - self.inserted - self.updated


class Warehouse(Protocol):
    """A SQL store with upsert-by-primary-key loads."""

    backend: str

    @property
    def display_url(self) -> str:
        """The URL with any password removed: safe for logs and artifacts."""
        ...

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the versions applied now."""
        ...

    def applied_migrations(self) -> list[str]: ...

    def transaction(self) -> AbstractContextManager[None]:
        """All upserts inside commit together or not at all."""
        ...

    def reconnect(self) -> None:
        """Drop the connection and open a new one (after ``WarehouseUnavailable``)."""
        ...

    def upsert(self, table: Table, frame: pl.DataFrame) -> UpsertResult:
        """Insert new keys, update changed rows, leave identical rows untouched."""
        ...

    def read(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        """Run a parameterised query (``%s`` placeholders on both backends)."""
        ...

    def read_table(
        self,
        table: Table,
        where: str = "",
        params: Sequence[Any] = (),
        columns: Sequence[str] | None = None,
        bulk: bool = False,
    ) -> pl.DataFrame:
        """Rows of ``table`` typed by its schema; ``where`` is a parameterised SQL condition;
        ``columns`` (default: all) in the table's order.  ``bulk``: millions of rows are expected,
        so a path with a fixed start-up cost and a lower cost per row is worth it (SQLite)."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def table_names(self) -> list[str]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Warehouse: ...

    def __exit__(self, *exc: object) -> None: ...


_SECRET_PARAM = re.compile(r"([?&][^=&#]*(?:password|secret|token|key)[^=&#]*=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with every secret masked: the userinfo password (even one with an unescaped ``@``)
    and query parameters such as ``?password=`` / ``sslpassword=`` / ``...token=`` (libpq accepts
    them there).  Everything that prints or logs a connection URL goes through here."""
    scheme, sep, rest = url.partition("://")
    if sep:
        cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        authority, tail = rest[:cut], rest[cut:]
        userinfo, at, host = authority.rpartition("@")
        if at:
            user, colon, _ = userinfo.partition(":")
            authority = f"{user}:***@{host}" if colon else f"{user}@{host}"
        url = f"{scheme}://{authority}{tail}"
    return _SECRET_PARAM.sub(r"\1***", url)


def with_reconnects(warehouse: Warehouse, operation: Callable[[], T], attempts: int = 3) -> T:
    """Run ``operation`` (one whole transaction), reconnecting and retrying when the connection
    broke.  Safe because a broken transaction rolled back and loads are idempotent upserts."""

    def reconnect(_: tenacity.RetryCallState) -> None:
        with contextlib.suppress(WarehouseError):  # still down: the next attempt fails fast
            warehouse.reconnect()

    for attempt in tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(WarehouseUnavailable),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=1, max=8),
        before_sleep=reconnect,
        reraise=True,
    ):
        with attempt:
            return operation()
    raise AssertionError("unreachable: tenacity re-raises the last error")


def check_unique_keys(table: Table, frame: pl.DataFrame) -> None:
    """A batch must not carry a key twice: validation quarantines duplicates before loading."""
    dupes = frame.select(table.primary_key).is_duplicated()
    if dupes.any():
        example = frame.filter(dupes).select(table.primary_key).row(0)
        raise WarehouseError(
            f"{table.name}: {int(dupes.sum())} rows share a primary key in one batch, e.g. {example}; "
            "validate the batch first"
        )


def chunks(frame: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]:
    yield from frame.iter_slices(size)
