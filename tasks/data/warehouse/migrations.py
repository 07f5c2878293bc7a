"""Migrations: Supabase SQL files for Postgres, the schema-as-code DDL for the embedded store.

Postgres migrations are recorded in ``supabase_migrations.schema_migrations``, the table the Supabase
CLI itself uses, so a database migrated here is seen as up to date by ``supabase db push``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tasks.core.schema import TABLES, Table
from tasks.core.settings import REPO_ROOT

MIGRATIONS_DIR = REPO_ROOT / "infra" / "supabase" / "migrations"


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def list_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migration files sorted by their timestamp prefix (``<version>_<name>.sql``)."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        found.append(Migration(version, name, path))
    return found


_SQLITE_TYPES: dict[type[pl.DataType], str] = {
    pl.Int16: "INTEGER",
    pl.Int32: "INTEGER",
    pl.Int64: "INTEGER",
    pl.Float64: "REAL",
    pl.String: "TEXT",
    pl.Date: "TEXT",
    pl.Datetime: "TEXT",
}


SQLITE_CLUSTERED = frozenset({"ridership_hourly"})
"""Tables stored WITHOUT ROWID in new embedded stores: the rows live in the primary-key B-tree, one
tree to maintain instead of two (the 13M-row fact table loads ~25 % faster).  Existing stores keep
their layout; both behave the same."""


def sqlite_ddl(table: Table) -> str:
    """CREATE TABLE for the embedded store, derived from the table declaration."""
    defaults = table.default_values
    cols = [
        f'"{name}" {_SQLITE_TYPES[type(dtype)]}'
        + (f" NOT NULL DEFAULT {defaults[name]}" if name in defaults else "")
        for name, dtype in table.columns.items()
    ]
    pk = ", ".join(f'"{c}"' for c in table.primary_key)
    layout = " WITHOUT ROWID" if table.name in SQLITE_CLUSTERED else ""
    return f'CREATE TABLE IF NOT EXISTS "{table.name}" ({", ".join(cols)}, PRIMARY KEY ({pk})){layout}'


def sqlite_add_columns(existing: Mapping[str, Collection[str]]) -> list[str]:
    """``ALTER TABLE .. ADD COLUMN`` for declared columns an existing embedded store lacks.

    ``CREATE TABLE IF NOT EXISTS`` leaves an older table as it was, so a migration that adds a
    column (Postgres: its SQL file) needs this on SQLite.  ``existing``: table -> its columns now.
    A column with a declared default (``Table.defaults``) gets it, so old rows take that value.
    """
    stmts = []
    for name, columns in existing.items():
        table = TABLES[name]
        defaults = table.default_values
        for col, dtype in table.columns.items():
            if col not in columns:
                default = f" NOT NULL DEFAULT {defaults[col]}" if col in defaults else ""
                stmts.append(f'ALTER TABLE "{name}" ADD COLUMN "{col}" {_SQLITE_TYPES[type(dtype)]}{default}')
    return stmts


def sqlite_statements() -> list[str]:
    stmts = [sqlite_ddl(t) for t in TABLES.values()]
    # Reads filter ridership by date (the primary key's first column) and then by station, so the
    # (station_code, date) index only slowed every load down (measured ~1/3 of the upsert time).
    stmts.append("DROP INDEX IF EXISTS ridership_hourly_station_date")
    return stmts
