"""Both warehouse backends behave the same: migrations, idempotent bulk upserts, typed reads."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import polars as pl
import psycopg
import pytest

from tasks.core.schema import RIDERSHIP_HOURLY, TABLES, WEATHER_HOURLY, conform
from tasks.data.warehouse import open_warehouse
from tasks.data.warehouse.base import WarehouseError, redact_url
from tasks.data.warehouse.migrations import list_migrations
from tasks.ops.registry import get_model


def _hourly(n_days: int = 3, count_offset: int = 0) -> pl.DataFrame:
    rows = [
        {
            "date": date(2023, 1, 1 + d),
            "hour": h,
            "station_code": code,
            "direction": direction,
            "count": 10 * h + d + count_offset,
            "source": "test",
            "ingested_at": datetime(2026, 1, 1),
        }
        for d in range(n_days)
        for h in range(5, 25)
        for code in (211, 222)
        for direction in ("board", "alight")
    ]
    return conform(pl.DataFrame(rows), RIDERSHIP_HOURLY)


def test_migrate_creates_every_table_once(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    assert wh.migrate() != []
    assert set(TABLES) <= set(wh.table_names())
    assert wh.migrate() == []  # second run: nothing pending
    assert wh.applied_migrations() == [m.version for m in list_migrations()]
    assert len(wh.applied_migrations()) >= 2
    wh.close()


def _first_schema_store(url: str) -> None:
    """A store as the first release left it: only the initial migration, one ridership row."""
    first = list_migrations()[0]
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TABLE ridership_hourly (date TEXT, hour INTEGER, station_code INTEGER, "
                "direction TEXT, count INTEGER, source TEXT, ingested_at TEXT, "
                "PRIMARY KEY (date, hour, station_code, direction))"
            )
            conn.execute(
                "CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, name TEXT, applied_at TEXT)"
            )
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01')", (first.version, first.name)
            )
            conn.execute("INSERT INTO ridership_hourly VALUES ('2023-01-02', 23, 211, 'board', 7, 't', NULL)")
        return
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(first.sql.encode())
        conn.execute(
            "create schema supabase_migrations; create table supabase_migrations.schema_migrations "
            "(version text primary key, statements text[], name text)"
        )
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name) values (%s, %s)",
            (first.version, first.name),
        )
        conn.execute("insert into ridership_hourly values ('2023-01-02', 23, 211, 'board', 7, 't', null)")


def test_existing_store_gains_span_hours_and_daily_weather(warehouse_url: str) -> None:
    _first_schema_store(warehouse_url)
    wh = open_warehouse(warehouse_url)
    assert len(wh.migrate()) == len(list_migrations()) - 1
    old = wh.read_table(RIDERSHIP_HOURLY)
    assert old["span_hours"].to_list() == [1]  # rows published before the column mean one hour
    merged = conform(
        pl.DataFrame(
            {"date": [date(2022, 5, 2)], "hour": [23], "station_code": [211], "direction": ["board"]}
        ).with_columns(count=pl.lit(900), span_hours=pl.lit(2)),
        RIDERSHIP_HOURLY,
    )
    assert wh.upsert(RIDERSHIP_HOURLY, merged).inserted == 1
    assert wh.read_table(RIDERSHIP_HOURLY, "date = %s", [date(2022, 5, 2)])["span_hours"].to_list() == [2]
    assert "weather_daily" in wh.table_names()
    wh.close()


def test_migrate_adds_a_new_column_to_an_older_store(warehouse_url: str) -> None:
    """A home made by an older version (``models`` without ``kind``) is upgraded in place: the
    column appears and the rows it already had read as trained models."""
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    newest = next(m.version for m in list_migrations() if m.name == "models_kind")
    old_view = "version, status, trained_at, promoted_at, data_start, data_end, data_hash, metrics_json"
    if wh.backend == "postgres":
        wh.execute("DROP VIEW api_models")
    wh.execute('ALTER TABLE models DROP COLUMN "kind"')
    if wh.backend == "postgres":
        wh.execute(f"CREATE VIEW api_models AS SELECT {old_view} FROM models")
    migrations = "schema_migrations" if wh.backend == "sqlite" else "supabase_migrations.schema_migrations"
    wh.execute(f"DELETE FROM {migrations} WHERE version = %s", [newest])
    wh.execute("INSERT INTO models (version, status) VALUES (%s, %s)", ["old", "archived"])
    assert wh.migrate() == [newest]
    record = get_model(wh, "old")
    assert record is not None and record.kind == "model" and record.status == "archived"
    if wh.backend == "postgres":  # the Space's read-only view shows the kind too
        assert wh.read("SELECT kind FROM api_models")["kind"].to_list() == ["model"]
    wh.close()


def test_upsert_inserts_updates_and_leaves_identical_rows_alone(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    first = _hourly()
    assert wh.upsert(RIDERSHIP_HOURLY, first).inserted == first.height  # into an empty table
    loaded = wh.read_table(RIDERSHIP_HOURLY).sort(RIDERSHIP_HOURLY.primary_key)
    assert loaded.equals(first.sort(RIDERSHIP_HOURLY.primary_key))
    again = wh.upsert(RIDERSHIP_HOURLY, first)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.height)

    changed = first.with_columns(
        pl.when(pl.col("hour") == 8).then(pl.col("count") + 1).otherwise(pl.col("count")).alias("count")
    )
    result = wh.upsert(RIDERSHIP_HOURLY, changed)
    assert result.updated == first.filter(pl.col("hour") == 8).height
    assert result.inserted == 0

    back = wh.read_table(RIDERSHIP_HOURLY).sort(RIDERSHIP_HOURLY.primary_key)
    assert back.schema == RIDERSHIP_HOURLY.polars_schema
    assert back.equals(changed.sort(RIDERSHIP_HOURLY.primary_key))
    wh.close()


def test_audit_columns_do_not_count_as_changes(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    wh.upsert(RIDERSHIP_HOURLY, _hourly(1))
    later = _hourly(1).with_columns(pl.lit(datetime(2027, 5, 5)).alias("ingested_at"))
    assert wh.upsert(RIDERSHIP_HOURLY, later).updated == 0
    assert wh.read_table(RIDERSHIP_HOURLY)["ingested_at"].unique().to_list() == [datetime(2026, 1, 1)]
    wh.close()


def test_duplicate_keys_in_a_batch_are_refused(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    batch = pl.concat([_hourly(1), _hourly(1).head(1)])
    with pytest.raises(WarehouseError, match="share a primary key"):
        wh.upsert(RIDERSHIP_HOURLY, batch)
    assert wh.read_table(RIDERSHIP_HOURLY).is_empty()
    wh.close()


def test_transaction_rolls_back_every_table(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    weather = conform(
        pl.DataFrame({"station_id": [108], "ts": [datetime(2023, 1, 1, 5)], "temp_c": [1.5]}), WEATHER_HOURLY
    )
    with pytest.raises(RuntimeError), wh.transaction():
        wh.upsert(RIDERSHIP_HOURLY, _hourly(1))
        wh.upsert(WEATHER_HOURLY, weather)
        raise RuntimeError("boom after two loads")
    assert wh.read_table(RIDERSHIP_HOURLY).is_empty()
    assert wh.read_table(WEATHER_HOURLY).is_empty()
    wh.close()


def test_read_is_parameterised(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    wh.upsert(RIDERSHIP_HOURLY, _hourly(2))
    hostile = "211; drop table ridership_hourly"
    assert wh.read("select count(*) as n from ridership_hourly where direction = %s", [hostile])["n"][0] == 0
    got = wh.read_table(RIDERSHIP_HOURLY, "station_code = %s and hour = %s", [211, 8])
    assert got.height == 4 and set(got["station_code"]) == {211}
    wh.close()


def test_unknown_url_and_password_redaction() -> None:
    with pytest.raises(WarehouseError, match="unsupported warehouse URL"):
        open_warehouse("mysql://user:hunter2@host/db")
    assert "hunter2" not in redact_url("postgresql://user:hunter2@host:5432/db")


def test_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(WarehouseError) as info:
        open_warehouse("postgresql://user:hunter2@127.0.0.1:1/db")
    assert "cannot connect" in str(info.value) and "hunter2" not in str(info.value)


def test_datetime_parameters_compare_like_stored_values(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    hours = [datetime(2023, 1, 1, h) for h in (4, 5, 6)]
    frame = conform(
        pl.DataFrame({"station_id": [108] * 3, "ts": hours, "temp_c": [1.0, 2.0, 3.0]}), WEATHER_HOURLY
    )
    wh.upsert(WEATHER_HOURLY, frame)
    at_five = datetime(2023, 1, 1, 5)
    assert wh.read("select count(*) as n from weather_hourly where ts <= %s", [at_five])["n"][0] == 2
    assert wh.read("select count(*) as n from weather_hourly where ts > %s", [at_five])["n"][0] == 1
    got = wh.read_table(WEATHER_HOURLY, "ts = %s", [at_five])
    assert got["temp_c"].to_list() == [2.0]
    wh.close()


def test_read_table_returns_the_asked_columns_typed(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    wh.upsert(RIDERSHIP_HOURLY, _hourly(n_days=2))
    got = wh.read_table(
        RIDERSHIP_HOURLY, "date = %s", [date(2023, 1, 2)], columns=["date", "count", "span_hours"]
    )
    assert got.schema == pl.Schema({"date": pl.Date(), "count": pl.Int32(), "span_hours": pl.Int16()})
    assert got.height == 20 * 2 * 2 and set(got["span_hours"]) == {1}  # the default of the new column
    wh.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user@db.example:5432/app?password=hunter2",
        "postgresql://user@db.example/app?sslmode=require&password=hunter2&application_name=x",
        "postgresql://user:hunter2@db.example/app?sslpassword=hunter2",
        "postgresql://user:p@ss:hunter2@db.example/app",  # an unescaped '@' in the password
        "postgres://user:hunter2@db.example/app",
    ],
)
def test_redaction_covers_userinfo_and_query_string_passwords(url: str) -> None:
    shown = redact_url(url)
    assert "hunter2" not in shown and "p@ss" not in shown
    assert "db.example" in shown and "user" in shown  # still says where it points


def test_unreachable_postgres_with_a_query_password_is_redacted() -> None:
    with pytest.raises(WarehouseError) as info:
        open_warehouse("postgresql://user@127.0.0.1:1/db?password=hunter2&connect_timeout=2")
    assert "cannot connect" in str(info.value) and "hunter2" not in str(info.value)


def test_sqlite_bulk_stages_leave_nothing_behind_and_other_connections_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQLite upsert stages rows in a private ADBC-written file attached for the transaction:
    after a commit and after a rollback it is detached and deleted, and a plain ``sqlite3``
    connection (the stdlib's SQLite, not the driver's) reads exactly what was committed and can
    write after it -- the failure the shared-file ADBC attempt showed was stale reads, then
    ``disk I/O error``."""
    stages = tmp_path / "tmp"
    stages.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(stages))
    path = tmp_path / "warehouse.sqlite"
    wh = open_warehouse(f"sqlite:///{path}")
    wh.migrate()
    first = _hourly(2)
    assert wh.upsert(RIDERSHIP_HOURLY, first).inserted == first.height
    with pytest.raises(RuntimeError), wh.transaction():
        wh.upsert(RIDERSHIP_HOURLY, _hourly(3, count_offset=7))
        raise RuntimeError("boom")
    assert list(stages.iterdir()) == []
    assert wh.read("PRAGMA database_list")["name"].to_list() == ["main"]

    other = sqlite3.connect(path)
    assert other.execute("SELECT sum(count) FROM ridership_hourly").fetchone()[0] == first["count"].sum()
    with other:
        other.execute("UPDATE ridership_hourly SET count = count + 1 WHERE hour = 8")
    other.close()
    again = wh.upsert(RIDERSHIP_HOURLY, first)
    assert (again.inserted, again.updated) == (0, first.filter(pl.col("hour") == 8).height)
    assert (
        wh.read_table(RIDERSHIP_HOURLY)
        .sort(RIDERSHIP_HOURLY.primary_key)
        .equals(first.sort(RIDERSHIP_HOURLY.primary_key))
    )
    wh.close()


def test_sqlite_stage_that_fails_leaves_no_file_and_no_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk stage that fails half-way (here: the Arrow conversion) raises, deletes its file and
    loads nothing -- a failed ingest must not leave a gigabyte behind in the temp directory."""
    from tasks.data.warehouse import sqlite as sqlite_backend

    stages = tmp_path / "tmp"
    stages.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(stages))
    wh = open_warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    wh.migrate()

    def broken(frame: pl.DataFrame) -> pl.DataFrame:
        raise MemoryError("arrow conversion failed")

    monkeypatch.setattr(sqlite_backend, "_to_sqlite", broken)
    with pytest.raises(MemoryError):
        wh.upsert(RIDERSHIP_HOURLY, _hourly(1))
    assert list(stages.iterdir()) == []
    monkeypatch.undo()
    assert wh.read_table(RIDERSHIP_HOURLY).is_empty()
    wh.close()


def test_sqlite_load_in_parts_counts_like_one_and_a_failed_part_loads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big batch is staged in parts, each written in the background while the previous one is
    upserted: the rows and the inserted/updated counts are those of one load, and an upsert that
    fails on the first part -- the other parts already written -- loads none of the batch and
    leaves no stage file behind."""
    from tasks.data.warehouse import sqlite as sqlite_backend

    stages = tmp_path / "tmp"
    stages.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(stages))
    monkeypatch.setattr(sqlite_backend, "STAGE_PART_MIN_ROWS", 1)
    written: list[int] = []
    write = sqlite_backend._write_stage

    def counted(frame: pl.DataFrame) -> Path:
        directory = write(frame)
        written.append(frame.height)
        return directory

    monkeypatch.setattr(sqlite_backend, "_write_stage", counted)
    wh = open_warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    wh.migrate()
    first = _hourly(2)
    assert wh.upsert(RIDERSHIP_HOURLY, first).inserted == first.height
    assert len(written) == sqlite_backend.STAGE_PARTS and sum(written) == first.height

    second = _hourly(4).with_columns(  # two days known, one hour of them changed; two new days
        pl.when((pl.col("hour") == 8) & (pl.col("date") < date(2023, 1, 3)))
        .then(pl.col("count") + 1)
        .otherwise(pl.col("count"))
        .alias("count")
    )
    loaded = wh.upsert(RIDERSHIP_HOURLY, second)
    changed = second.filter((pl.col("hour") == 8) & (pl.col("date") < date(2023, 1, 3))).height
    assert (loaded.inserted, loaded.updated) == (second.height - first.height, changed)
    key = list(RIDERSHIP_HOURLY.primary_key)
    assert wh.read_table(RIDERSHIP_HOURLY).sort(key).equals(second.sort(key))

    written.clear()

    def broken_once_all_parts_are_written(*args: object) -> str:
        deadline = time.monotonic() + 60
        while len(written) < sqlite_backend.STAGE_PARTS and time.monotonic() < deadline:
            time.sleep(0.01)
        return "INSERT INTO no_such_table SELECT 1"

    monkeypatch.setattr(sqlite_backend, "_upsert_sql", broken_once_all_parts_are_written)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        wh.upsert(RIDERSHIP_HOURLY, _hourly(6, count_offset=100))
    assert len(written) == sqlite_backend.STAGE_PARTS
    assert list(stages.iterdir()) == []
    assert wh.read_table(RIDERSHIP_HOURLY).sort(key).equals(second.sort(key))
    assert wh.read("PRAGMA database_list")["name"].to_list() == ["main"]
    wh.close()
