"""Postgres backend: Supabase's database, CI's Postgres, or any other.

Loads stream the frame as CSV through ``COPY`` into a temporary stage table, then one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE IS DISTINCT FROM`` upsert: bulk, set-based,
and a re-run of the same data changes nothing.  Large reads come back through ``COPY ... TO STDOUT``
straight into polars.

Time: the code's datetimes are naive UTC; audit columns are ``timestamptz``.  Writes say ``+00``
explicitly and reads convert to UTC and drop the zone, so nothing depends on the session's TimeZone
(a ``timestamp`` column ignores the suffix: the weather's KST wall-clock hours stay as they are).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import polars as pl
import psycopg
from psycopg import sql as pgsql
from psycopg.types.datetime import TimestamptzLoader

from tasks.core.schema import Table
from tasks.data.warehouse.base import (
    UpsertResult,
    WarehouseError,
    WarehouseUnavailable,
    check_unique_keys,
    redact_url,
)
from tasks.data.warehouse.migrations import list_migrations

COPY_CHUNK_ROWS = 500_000
_PG_DATETIME = "%Y-%m-%d %H:%M:%S%.6f+00"  # naive UTC instants (audit columns are timestamptz)

_MIGRATIONS_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key, statements text[], name text
);
"""


class NaiveUtcLoader(TimestamptzLoader):
    """``timestamptz`` values as the naive UTC datetimes the rest of the code uses."""

    def load(self, data: Any) -> datetime:
        return super().load(data).astimezone(UTC).replace(tzinfo=None)


class PostgresWarehouse:
    backend = "postgres"

    def __init__(self, url: str) -> None:
        self._url = url.replace("postgres://", "postgresql://", 1)
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise WarehouseUnavailable(f"cannot connect to {self.display_url}: {exc}".strip()) from None
        conn.adapters.register_loader("timestamptz", NaiveUtcLoader)
        return conn

    def reconnect(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        self._conn = self._connect()

    @property
    def display_url(self) -> str:
        return redact_url(self._url)

    # --- migrations -------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self.transaction():
            # One migrator at a time, and the lock comes before anything else: even
            # ``create schema if not exists`` races (UniqueViolation) when two run it together.
            self._conn.execute("select pg_advisory_xact_lock(20260101)")
            self._conn.execute(_MIGRATIONS_DDL)
            done = set(self.applied_migrations())
            for migration in list_migrations():
                if migration.version in done:
                    continue
                try:
                    self._conn.execute(migration.sql.encode())
                except psycopg.Error as exc:
                    raise WarehouseError(f"migration {migration.path.name} failed: {exc}") from exc
                self._conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, name, statements) "
                    "values (%s, %s, %s)",
                    (migration.version, migration.name, [migration.sql]),
                )
                applied.append(migration.version)
        return applied

    def applied_migrations(self) -> list[str]:
        exists = self._conn.execute(
            "select to_regclass('supabase_migrations.schema_migrations') is not null"
        ).fetchone()
        if not exists or not exists[0]:
            return []
        rows = self._conn.execute("select version from supabase_migrations.schema_migrations order by 1")
        return [r[0] for r in rows]

    # --- transactions -----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self._conn.transaction():
                yield
        except psycopg.OperationalError as exc:  # the server went away: rolled back, retryable
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WarehouseUnavailable(f"lost the connection to {self.display_url}: {detail}") from None

    # --- loading ----------------------------------------------------------------------------------
    def upsert(self, table: Table, frame: pl.DataFrame) -> UpsertResult:
        check_unique_keys(table, frame)
        frame = frame.sort(list(table.primary_key))  # staged in key order: the b-tree fills in order
        cols = list(table.columns)
        ident = pgsql.Identifier
        target = ident(table.name)
        stage = ident(f"stage_{table.name}")
        col_list = pgsql.SQL(", ").join(map(ident, cols))
        pk_list = pgsql.SQL(", ").join(map(ident, table.primary_key))
        updatable = [c for c in cols if c not in table.primary_key]
        if table.value_columns:
            assign = pgsql.SQL(", ").join(
                pgsql.SQL("{} = excluded.{}").format(ident(c), ident(c)) for c in updatable
            )
            old = pgsql.SQL(", ").join(
                pgsql.SQL("{}.{}").format(target, ident(c)) for c in table.value_columns
            )
            new = pgsql.SQL(", ").join(pgsql.SQL("excluded.{}").format(ident(c)) for c in table.value_columns)
            action = pgsql.SQL("do update set {} where ({}) is distinct from ({})").format(assign, old, new)
        else:
            action = pgsql.Composed([pgsql.SQL("do nothing")])
        with self.transaction(), self._conn.cursor() as cur:
            cur.execute(
                pgsql.SQL("create temp table if not exists {} (like {} including defaults)").format(
                    stage, target
                )
            )
            cur.execute(pgsql.SQL("truncate {}").format(stage))
            copy_sql = pgsql.SQL("copy {} ({}) from stdin with (format csv)").format(stage, col_list)
            with cur.copy(copy_sql) as copy:
                # CSV chunk by chunk: a 13M-row history never sits in memory as one text blob
                for chunk in frame.select(cols).iter_slices(COPY_CHUNK_ROWS):
                    copy.write(chunk.write_csv(include_header=False, datetime_format=_PG_DATETIME))
            cur.execute(
                pgsql.SQL(
                    "with up as (insert into {t} ({c}) select {c} from {s} on conflict ({pk}) {action} "
                    "returning (xmax = 0) as inserted) "
                    "select count(*) filter (where inserted), count(*) filter (where not inserted) from up"
                ).format(t=target, c=col_list, s=stage, pk=pk_list, action=action)
            )
            row = cur.fetchone()
            cur.execute(pgsql.SQL("truncate {}").format(stage))
        inserted, updated = (int(row[0]), int(row[1])) if row else (0, 0)
        return UpsertResult(table.name, frame.height, inserted, updated)

    # --- reading ----------------------------------------------------------------------------------
    def read(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql.encode(), tuple(params))
                names = [d.name for d in cur.description or ()]
                rows = cur.fetchall()
        except psycopg.Error as exc:
            raise WarehouseError(f"query failed: {exc}") from exc
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)

    def read_table(
        self,
        table: Table,
        where: str = "",
        params: Sequence[Any] = (),
        columns: Sequence[str] | None = None,
        bulk: bool = False,  # COPY is the fast path for every read here
    ) -> pl.DataFrame:
        names = list(columns or table.columns)
        query = pgsql.SQL("select {} from {}").format(
            pgsql.SQL(", ").join(map(pgsql.Identifier, names)), pgsql.Identifier(table.name)
        )
        if where:
            query = pgsql.SQL("{} where {}").format(query, pgsql.SQL(where))
        copy_sql = pgsql.SQL("copy ({}) to stdout with (format csv, header true)").format(query)
        buffer = io.BytesIO()
        with self._conn.cursor() as cur, cur.copy(copy_sql, tuple(params) or None) as copy:
            for block in copy:
                buffer.write(block)
        raw_schema = {
            c: (pl.String if (d == pl.Date or isinstance(d, pl.Datetime)) else d)
            for c, d in table.columns.items()
            if c in names
        }
        raw = (
            pl.read_csv(buffer.getvalue(), schema=raw_schema)
            if buffer.tell()
            else pl.DataFrame(schema=raw_schema)
        )
        exprs = []
        for name in raw_schema:
            dtype = table.columns[name]
            if dtype == pl.Date:
                exprs.append(pl.col(name).str.to_date("%Y-%m-%d"))
            elif isinstance(dtype, pl.Datetime):
                # timestamptz comes back with an offset: to UTC, then naive like everything else
                exprs.append(
                    pl.col(name).str.to_datetime(time_unit="us", time_zone="UTC").dt.replace_time_zone(None)
                )
            else:
                exprs.append(pl.col(name))
        return raw.select(exprs)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql.encode(), tuple(params))

    def table_names(self) -> list[str]:
        rows = self._conn.execute(
            "select table_name from information_schema.tables where table_schema = 'public' "
            "and table_type = 'BASE TABLE' order by 1"
        )
        return [r[0] for r in rows]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PostgresWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
