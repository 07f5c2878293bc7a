"""Supabase semantics on a real Postgres: migrations apply to an empty database, RLS holds."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from tasks.core.schema import TABLES
from tasks.data.warehouse import open_warehouse


@pytest.fixture
def migrated(postgres_url: str) -> str:
    wh = open_warehouse(postgres_url)
    wh.migrate()
    wh.execute(
        "insert into ridership_hourly (date, hour, station_code, direction, count) values (%s, %s, %s, %s, %s)",
        ["2023-01-02", 8, 211, "board", 1234],
    )
    wh.close()
    return postgres_url


def test_columns_match_the_schema_declared_in_code(migrated: str) -> None:
    with psycopg.connect(migrated) as conn:
        for name, table in TABLES.items():
            cols = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = 'public' "
                    "and table_name = %s order by ordinal_position",
                    [name],
                )
            ]
            assert cols == list(table.columns), name
            pk = conn.execute(
                "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
                "and a.attnum = any(i.indkey) where i.indrelid = %s::regclass and i.indisprimary",
                [name],
            ).fetchall()
            assert {r[0] for r in pk} == set(table.primary_key), name


def test_every_table_has_row_level_security(migrated: str) -> None:
    with psycopg.connect(migrated) as conn:
        rows = conn.execute(
            "select relname, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace "
            "and relkind = 'r'"
        ).fetchall()
    assert rows and all(rls for _, rls in rows), rows


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_public_roles_read_views_but_cannot_touch_tables(migrated: str, role: str) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute(f"set role {role}")
        assert conn.execute("select count from api_ridership_hourly").fetchall() == [(1234,)]
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(
                "insert into ridership_hourly (date, hour, station_code, direction, count) "
                "values ('2023-01-03', 8, 211, 'board', 1)"
            )
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("select * from ridership_hourly")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("delete from api_ridership_hourly")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("update models set status = 'production'")


def test_service_role_writes(migrated: str) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute("set role service_role")
        conn.execute(
            "insert into ridership_hourly (date, hour, station_code, direction, count) "
            "values ('2023-01-03', 8, 211, 'board', 1)"
        )
        assert conn.execute("select count(*) from ridership_hourly").fetchone() == (2,)


def test_check_constraints_back_up_validation(migrated: str) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn, pytest.raises(errors.CheckViolation):
        conn.execute(
            "insert into ridership_hourly (date, hour, station_code, direction, count) "
            "values ('2023-01-03', 8, 211, 'board', -5)"
        )
    with psycopg.connect(migrated, autocommit=True) as conn, pytest.raises(errors.CheckViolation):
        conn.execute(  # only the 23:00-onward band may span two hours
            "insert into ridership_hourly (date, hour, station_code, direction, count, span_hours) "
            "values ('2022-01-03', 22, 211, 'board', 5, 2)"
        )


def test_public_view_shows_one_hour_bands_only(migrated: str) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute(
            "insert into ridership_hourly (date, hour, station_code, direction, count, span_hours) "
            "values ('2022-01-03', 23, 211, 'board', 777, 2)"
        )
        conn.execute("set role anon")
        assert conn.execute("select count from api_ridership_hourly").fetchall() == [(1234,)]


API_VIEWS = (
    "api_stations",
    "api_ridership_hourly",
    "api_forecasts",
    "api_monitoring",
    "api_models",
    "api_ingest_runs",
)


def test_views_run_with_the_callers_rights(migrated: str) -> None:
    """Supabase linter rule 0010 (security_definer_view): no view in `public` without security_invoker."""
    with psycopg.connect(migrated) as conn:
        flagged = conn.execute(
            "select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'v' "
            "and not (lower(coalesce(array_to_string(c.reloptions, ','), '')) similar to "
            "'%security_invoker=(on|true|yes|1)%')"
        ).fetchall()
        views = {r[0] for r in conn.execute("select viewname from pg_views where schemaname = 'public'")}
        policies = {
            (r[0], tuple(sorted(r[1])))
            for r in conn.execute(
                "select tablename, roles::text[] from pg_policies where schemaname = 'public' and cmd = 'SELECT'"
            )
        }
    assert flagged == []
    assert views == set(API_VIEWS)
    for table in ("stations", "ridership_hourly", "forecasts", "monitoring", "models", "ingest_runs"):
        assert (table, ("anon", "authenticated")) in policies, table


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_public_roles_see_only_the_view_columns(migrated: str, role: str) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute(f"set role {role}")
        for view in API_VIEWS:
            conn.execute(f"select * from {view} limit 1")  # every view readable
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("select source, ingested_at from ridership_hourly")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("select * from pipeline_state")


def test_instants_are_timestamptz_and_round_trip_as_naive_utc(postgres_url: str) -> None:
    import datetime as dt

    import polars as pl

    from tasks.core.schema import INGEST_RUNS, conform

    wh = open_warehouse(postgres_url)
    try:
        wh.migrate()
        with psycopg.connect(postgres_url) as conn:
            types: dict[str, str] = dict(
                conn.execute(
                    "select table_name || '.' || column_name, data_type from information_schema.columns "
                    "where table_schema = 'public' and data_type like 'timestamp%'"
                ).fetchall()
            )
        assert types["weather_hourly.ts"] == "timestamp without time zone"  # KST wall-clock hours
        instants = {k: v for k, v in types.items() if k.split(".")[1] not in ("ts", "base_ts", "fcst_ts")}
        assert instants and set(instants.values()) == {"timestamp with time zone"}, instants

        started = dt.datetime(2023, 6, 1, 23, 30, 15, 123456)  # naive UTC, the code's convention
        row = {
            "run_id": "r1",
            "dataset": "stations",
            "source": "snapshot",
            "started_at": started,
            "status": "ok",
        }
        wh.execute("set time zone 'Asia/Seoul'")  # whatever the session's zone, UTC in and out
        wh.upsert(INGEST_RUNS, conform(pl.DataFrame([row]), INGEST_RUNS))
        assert wh.read_table(INGEST_RUNS)["started_at"].to_list() == [started]
        assert wh.read("select started_at from ingest_runs")["started_at"].to_list() == [started]
        with psycopg.connect(postgres_url) as conn:
            conn.execute("set time zone 'UTC'")
            [(stored,)] = conn.execute("select started_at::text from ingest_runs").fetchall()
        assert stored.startswith("2023-06-01 23:30:15.123456")
    finally:
        wh.close()


def test_supabase_cli_config_sits_beside_the_migrations() -> None:
    """`supabase ... --workdir infra` reads infra/supabase/config.toml and infra/supabase/migrations."""
    import tomllib

    from tasks.core.settings import get_settings
    from tasks.data.warehouse.migrations import MIGRATIONS_DIR

    config_path = MIGRATIONS_DIR.parent / "config.toml"
    config = tomllib.loads(config_path.read_text())
    assert config_path.parent.name == "supabase" and config_path.parent.parent.name == "infra"
    assert config["project_id"] and config["db"]["migrations"]["enabled"]
    assert "public" in config["api"]["schemas"]  # where the api_* views live
    bucket = config["storage"]["buckets"][get_settings().raw_bucket]
    assert bucket["public"] is False  # the raw zone is never public
