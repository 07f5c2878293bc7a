"""The Space's copies of production contracts match the originals in ``tasks``.

The hosted Space cannot import this project, so it repeats the columns it reads, the crowding-level
names and the publication lag.  These tests fail as soon as a copy drifts from its source.
"""

from __future__ import annotations

import polars as pl
import pytest

from space import texts, view_schemas
from tasks.core.schema import TABLES
from tasks.model.features import PUBLICATION_LAG_DAYS
from tasks.model.package import LEVELS

SIGNED_BITS: dict[type[pl.DataType], int] = {pl.Int8: 8, pl.Int16: 16, pl.Int32: 32, pl.Int64: 64}


def widens(copy: pl.DataType, production: pl.DataType) -> bool:
    """Whether reading ``production`` values as ``copy`` loses nothing (same type, or a wider integer)."""
    if copy == production:
        return True
    copy_bits, production_bits = SIGNED_BITS.get(type(copy)), SIGNED_BITS.get(type(production))
    return copy_bits is not None and production_bits is not None and copy_bits >= production_bits


@pytest.mark.parametrize("table", sorted(view_schemas.SOURCE_TABLES))
def test_copied_columns_exist_in_the_production_table_with_a_compatible_type(table: str) -> None:
    production = TABLES[table].columns
    for column, dtype in view_schemas.SOURCE_TABLES[table].items():
        assert column in production, f"{table}.{column} is read by the Space but not in the contract"
        assert widens(dtype, production[column]), (
            f"{table}.{column}: the Space reads {dtype}, the contract says {production[column]}"
        )


def test_every_copied_schema_is_checked() -> None:
    """A new ``*_SCHEMA`` copy must be listed in ``SOURCE_TABLES``, or it escapes the check above."""
    copies = {name for name in dir(view_schemas) if name.endswith("_SCHEMA")}
    checked = {
        name
        for name in copies
        if any(getattr(view_schemas, name) is s for s in view_schemas.SOURCE_TABLES.values())
    }
    assert copies == checked


def test_level_names_and_publication_lag_match() -> None:
    assert tuple(texts.LEVELS) == tuple(tuple(level) for level in LEVELS)
    assert texts.PUBLICATION_LAG_DAYS == PUBLICATION_LAG_DAYS
