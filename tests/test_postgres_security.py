"""Supabase semantics on a real Postgres: migrations apply to an empty database, RLS holds."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from tasks.warehouse.base import open_warehouse
from tasks.warehouse.schema import TABLES


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
