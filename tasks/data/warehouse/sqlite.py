"""The embedded, zero-setup warehouse: one SQLite file in ``SEONGSU_HOME``.

Why SQLite rather than DuckDB: the running stack has several processes touching the store at once
(Prefect flow runs write, the Space and ``seongsu db status`` read).  SQLite in WAL mode gives
many readers alongside one writer across processes; DuckDB's file lock admits one writing process
and no concurrent readers.  It ships with Python, and its ``INSERT ... ON CONFLICT`` upsert matches
Postgres closely, so both backends share one loading strategy: bulk-copy into a stage table, then
one set-based upsert that leaves identical rows untouched.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import tenacity

from tasks.core.schema import TABLES, Table
from tasks.data.warehouse.base import UpsertResult, WarehouseError, check_unique_keys
from tasks.data.warehouse.migrations import list_migrations, sqlite_add_columns, sqlite_statements
from tasks.data.warehouse.sqlite_bulk import read_in_child

_DATETIME_FMT = "%Y-%m-%d %H:%M:%S%.6f"
READ_CHUNK_ROWS = 500_000
CACHE_KIB = 262_144  # page cache per connection: big-table upserts thrash SQLite's 2 MB default
BULK_MIN_BYTES = 64 * 2**20
"""A ``bulk`` read goes through ``sqlite_bulk`` (a child process with the ADBC driver) only from a
file this big: the child costs about a second to start, which a small store never wins back."""


def _to_sqlite(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and datetimes become ISO text (SQLite has no date type); other types pass as is."""
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            exprs.append(pl.col(name).dt.to_string("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(pl.col(name).dt.to_string(_DATETIME_FMT))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def _from_sqlite(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    exprs = []
    for name, dtype in table.columns.items():
        if name not in frame.columns:
            continue
        col = pl.col(name)
        if dtype == pl.Date:
            exprs.append(col.str.to_date("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(col.str.to_datetime(_DATETIME_FMT, time_unit="us"))
        else:
            exprs.append(col.cast(dtype))
    return frame.select(exprs)


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    """Bind dates/datetimes exactly as they are stored, so ``ts <= %s`` compares like with like
    (SQLite compares these as text: ``2023-01-01 05:00:00`` sorts before ``...05:00:00.000000``)."""
    out: list[Any] = []
    for value in params:
        if isinstance(value, datetime):
            out.append(value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"))
        elif isinstance(value, date):
            out.append(value.isoformat())
        else:
            out.append(value)
    return tuple(out)


@tenacity.retry(
    retry=tenacity.retry_if_exception(lambda exc: "locked" in str(exc)),
    wait=tenacity.wait_random(0.01, 0.2),
    stop=tenacity.stop_after_delay(60),
    reraise=True,
)
def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch a file to WAL mode.  On a fresh file several processes opening at once race for the
    switch, and SQLite answers ``database is locked`` at once (its busy handler is not consulted for
    this lock), so the switch is retried for as long as the connection's own busy timeout."""
    conn.execute("PRAGMA journal_mode=WAL")


class SqliteWarehouse:
    backend = "sqlite"

    def __init__(self, url: str) -> None:
        self.path = Path(url.removeprefix("sqlite:///"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._connect()
        self._depth = 0
        self._staged: list[tuple[str, Path]] = []

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    def reconnect(self) -> None:
        self._drop_stages()
        self._conn.close()
        self._conn = self._connect()
        self._depth = 0

    @property
    def display_url(self) -> str:
        return f"sqlite:///{self.path}"

    # --- migrations -------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations under one write lock taken first (``BEGIN IMMEDIATE``): processes
        migrating a fresh file together queue on it, and later ones find nothing pending."""
        with self.transaction():
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version TEXT PRIMARY KEY, name TEXT, applied_at TEXT)"
            )
            done = set(self.applied_migrations())
            pending = [m for m in list_migrations() if m.version not in done]
            if not pending:
                return []
            for stmt in sqlite_statements():  # the schema-as-code DDL covers every migration file
                self._conn.execute(stmt)
            for stmt in sqlite_add_columns(self._columns()):  # tables created by an older version
                self._conn.execute(stmt)
            now = datetime.now(UTC).isoformat()
            self._conn.executemany(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)", [(m.version, m.name, now) for m in pending]
            )
        return [m.version for m in pending]

    def _columns(self) -> dict[str, set[str]]:
        return {
            name: {row[1] for row in self._conn.execute(f'PRAGMA table_info("{name}")')} for name in TABLES
        }

    def applied_migrations(self) -> list[str]:
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ).fetchone()
        if not exists:
            return []
        return [r[0] for r in self._conn.execute("SELECT version FROM schema_migrations ORDER BY version")]

    # --- transactions -----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0
            self._drop_stages()

    # --- loading ----------------------------------------------------------------------------------
    def upsert(self, table: Table, frame: pl.DataFrame) -> UpsertResult:
        """Bulk-copy the rows into stage files (``_attach_stages``), then one set-based upsert from each.

        Audit columns holding one value for the whole batch are bound once as parameters instead of
        travelling with every row.  Inserted rows are counted as staged keys not yet in the table
        (not counted at all when the table was empty), not by counting it.
        """
        check_unique_keys(table, frame)
        # rows in key order land next to each other in the key's b-tree (WITHOUT ROWID tables):
        # the snapshot's 13.3 M ridership rows (station by station within a day) took 140 s, sorted 128 s
        frame = frame.sort(list(table.primary_key))
        cols = list(table.columns)
        constant = {
            c: frame.get_column(c)[0]
            for c in table.audit_columns
            if frame.height and frame.get_column(c).n_unique() == 1
        }
        varying = [c for c in cols if c not in constant]
        target = f'"{table.name}"'
        present = " AND ".join(f'{target}."{c}" = s."{c}"' for c in table.primary_key)
        if frame.is_empty():
            return UpsertResult(table.name, 0, 0, 0)
        known = changes = 0
        with self.transaction():
            empty = self._conn.execute(f"SELECT 1 FROM {target} LIMIT 1").fetchone() is None
            with contextlib.closing(
                _attach_stages(self._conn, self._staged, frame.select(varying))
            ) as stages:
                for staged in stages:
                    if not empty:  # keys are unique in the batch: a part never meets an earlier part's keys
                        known += self._conn.execute(
                            f"SELECT count(*) FROM {staged} s WHERE EXISTS (SELECT 1 FROM {target} WHERE {present})"
                        ).fetchone()[0]
                    changes_before = self._conn.total_changes
                    self._conn.execute(
                        _upsert_sql(table, staged, set(varying)),
                        _params([constant[c] for c in cols if c in constant]),
                    )
                    changes += self._conn.total_changes - changes_before
        inserted = frame.height - int(known)
        return UpsertResult(table.name, frame.height, inserted, changes - inserted)

    def _drop_stages(self) -> None:
        while self._staged:
            alias, directory = self._staged.pop()
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute(f"DETACH DATABASE {alias}")
            shutil.rmtree(directory, ignore_errors=True)

    # --- reading ----------------------------------------------------------------------------------
    def read(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        try:
            cur = self._conn.execute(sql.replace("%s", "?"), _params(params))
        except sqlite3.Error as exc:
            raise WarehouseError(f"query failed: {exc}") from exc
        names = [d[0] for d in cur.description or ()]
        return pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)

    def read_table(
        self,
        table: Table,
        where: str = "",
        params: Sequence[Any] = (),
        columns: Sequence[str] | None = None,
        bulk: bool = False,
    ) -> pl.DataFrame:
        """Rows of ``table``: a ``bulk`` read outside a transaction (the child sees only what is
        committed) through ``sqlite_bulk``, the rest ``READ_CHUNK_ROWS`` at a time (13 M Python tuples took GBs)."""
        names = list(columns or table.columns)
        quoted = ", ".join(f'"{c}"' for c in names)
        sql = f'SELECT {quoted} FROM "{table.name}"' + (f" WHERE {where}" if where else "")
        raw_schema = {
            c: (pl.String if (d == pl.Date or isinstance(d, pl.Datetime)) else d)
            for c, d in table.columns.items()
            if c in names
        }
        if bulk and not self._conn.in_transaction and self.path.stat().st_size >= BULK_MIN_BYTES:
            arrow = read_in_child(self.path, sql.replace("%s", "?"), _params(params))
            if arrow is not None:
                return _from_sqlite(arrow if arrow.height else pl.DataFrame(schema=raw_schema), table)
        cur = self._conn.execute(sql.replace("%s", "?"), _params(params))
        parts = []
        while rows := cur.fetchmany(READ_CHUNK_ROWS):
            parts.append(pl.DataFrame(rows, schema=raw_schema, orient="row"))
        raw = pl.concat(parts) if parts else pl.DataFrame(schema=raw_schema)
        return _from_sqlite(raw, table)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql.replace("%s", "?"), _params(params))

    def table_names(self) -> list[str]:
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'stage_%' ORDER BY name"
            )
        ]

    def close(self) -> None:
        self._drop_stages()
        self._conn.close()

    def __enter__(self) -> SqliteWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


STAGE_FILE = "stage.sqlite"
# SQLite attaches at most 10 files to a connection, and a load's transaction may hold two tables' parts
STAGE_PARTS = 4
STAGE_PART_MIN_ROWS = 500_000


def _attach_stages(
    conn: sqlite3.Connection, staged: list[tuple[str, Path]], frame: pl.DataFrame
) -> Generator[str, None, None]:
    """``frame`` in up to ``STAGE_PARTS`` private stage files (``_write_stage``), each attached to
    ``conn``'s transaction as soon as it is written and recorded in ``staged``, which the warehouse
    detaches and deletes when the outermost transaction ends (SQLite refuses DETACH inside one).

    Why parts: a background thread writes part k+1 (ADBC, without the GIL) while the connection
    upserts part k, so the two halves of a bulk load use both cores (13.3 M rows: stage 9.5 s,
    upsert 16 s, one after the other before)."""
    size = max(STAGE_PART_MIN_ROWS, -(-frame.height // STAGE_PARTS))
    parts = [frame.slice(offset, size) for offset in range(0, frame.height, size)]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-stage")
    pending = [pool.submit(_write_stage, part) for part in parts]
    try:
        for future in pending:
            directory = future.result()
            alias = f"stage_{len(staged)}"
            staged.append((alias, directory))  # first: a failed ATTACH still deletes the file
            conn.execute(f"ATTACH DATABASE ? AS {alias}", (str(directory / STAGE_FILE),))
            yield f'{alias}."s"'
    finally:  # a failed part or upsert: the parts not attached are not written, or deleted
        pool.shutdown(wait=True, cancel_futures=True)
        attached = {d for _, d in staged}
        for future in pending:
            if not future.cancelled() and future.exception() is None and future.result() not in attached:
                shutil.rmtree(future.result(), ignore_errors=True)


def _write_stage(frame: pl.DataFrame) -> Path:
    """Write ``frame`` as table ``s`` of a new SQLite file with ADBC; return its directory.

    Why: binding 13 M rows one Python tuple at a time took ~60 s; ADBC copies Arrow columns in C.
    Why a file of its own: the ADBC driver links its own SQLite, and two SQLite libraries on one
    file in one process do not share POSIX locks (tried on the warehouse file: stale reads, then
    ``disk I/O error``).  ADBC writes and closes this file before the stdlib's SQLite attaches it,
    so only one library ever has it open.
    """
    import adbc_driver_sqlite.dbapi as adbc  # a C driver, loaded only by processes that write

    directory = Path(tempfile.mkdtemp(prefix="seongsu-stage-"))
    try:
        with adbc.connect(str(directory / STAGE_FILE)) as stage, stage.cursor() as cur:
            cur.adbc_ingest("s", _to_sqlite(frame).to_arrow(), mode="create")
            stage.commit()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # a failed stage leaves no file behind
        raise
    return directory


def _upsert_sql(table: Table, staged: str, varying: set[str]) -> str:
    """``INSERT ... SELECT`` from ``staged`` that updates a key's row only when a value column
    differs; columns not in ``varying`` (one audit value for the batch) are bound as parameters."""
    target = f'"{table.name}"'
    cols = list(table.columns)
    pk = ", ".join(f'"{c}"' for c in table.primary_key)
    if table.value_columns:
        assign = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in table.primary_key)
        changed = " OR ".join(f'{target}."{c}" IS NOT excluded."{c}"' for c in table.value_columns)
        action = f"DO UPDATE SET {assign} WHERE {changed}"
    else:
        action = "DO NOTHING"
    quoted = ", ".join(f'"{c}"' for c in cols)
    selected = ", ".join(f'"{c}"' if c in varying else "?" for c in cols)
    # SQLite needs "WHERE true" to parse ON CONFLICT after INSERT ... SELECT
    return f"INSERT INTO {target} ({quoted}) SELECT {selected} FROM {staged} WHERE true ON CONFLICT ({pk}) {action}"
