"""What is in the warehouse: row counts, date ranges, last ingest per dataset.

Used by ``seongsu db status``, the ingest artifacts (freshness) and the Space's pipeline tab.
"""

from __future__ import annotations

from typing import Any

from tasks.core.schema import DATE_COLUMNS, TABLES
from tasks.data.warehouse.base import Warehouse


def _stamp(value: Any) -> str | None:
    """A date or timestamp as ``db status`` and the freshness artifact show it (to the second)."""
    return None if value is None else str(value)[:19]


def table_status(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    present = set(warehouse.table_names())
    out: dict[str, dict[str, Any]] = {}
    for name in TABLES:
        if name not in present:
            out[name] = {"rows": None, "min": None, "max": None}
            continue
        col = DATE_COLUMNS.get(name)
        select = f'count(*) as n, min("{col}") as lo, max("{col}") as hi' if col else "count(*) as n"
        row = warehouse.read(f'select {select} from "{name}"').row(0, named=True)
        out[name] = {
            "rows": int(row["n"]),
            "min": _stamp(row.get("lo")),
            "max": _stamp(row.get("hi")),
        }
    return out


def last_ingests(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    """The latest run of each dataset (any status), newest first."""
    if "ingest_runs" not in warehouse.table_names():
        return {}
    runs = warehouse.read(
        "select dataset, source, status, started_at, finished_at, rows_in, rows_inserted, rows_updated, "
        "rows_quarantined, data_max_date, message from ingest_runs order by started_at desc"
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in runs.iter_rows(named=True):
        if row["dataset"] not in latest:
            latest[row["dataset"]] = {k: (str(v) if v is not None else None) for k, v in row.items()}
    return latest


FRESHNESS_TABLES = (
    "ridership_hourly",
    "ridership_daily",
    "weather_hourly",
    "weather_daily",
    "weather_forecast",
    "forecasts",
)


def freshness(warehouse: Warehouse) -> dict[str, str | None]:
    """The newest date of each dated table: ``max`` alone, which both backends answer from the
    primary key where the date leads it (the ridership tables), while ``table_status``'s ``count(*)``
    reads every row (about 5 s for 13 M ridership rows in SQLite, paid by both ingest flows)."""
    present = set(warehouse.table_names())
    out: dict[str, str | None] = {}
    for name in FRESHNESS_TABLES:
        if name in present:
            out[name] = _stamp(
                warehouse.read(f'select max("{DATE_COLUMNS[name]}") as hi from "{name}"')["hi"][0]
            )
    return out


def warehouse_status(warehouse: Warehouse) -> dict[str, Any]:
    return {
        "warehouse": warehouse.display_url,
        "backend": warehouse.backend,
        "migrations": warehouse.applied_migrations(),
        "tables": table_status(warehouse),
        "last_ingest": last_ingests(warehouse),
    }
