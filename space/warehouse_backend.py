"""The local data source: the warehouse (SQLite or Postgres) through ``tasks``, read-only.

The only data path that needs this project installed: ``tasks`` is imported lazily, inside the
methods, so the Space stays importable where it is not (Hugging Face).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import polars as pl

try:
    from space.view_schemas import (
        ACTUALS_SCHEMA,
        INGEST_RUNS_SCHEMA,
        MODELS_SCHEMA,
        MONITORED_METRICS,
        MONITORING_SCHEMA,
        STATIONS_SCHEMA,
        STORED_FORECAST_SCHEMA,
        BackendError,
        Freshness,
        latest_issue,
        merge_runs,
        typed,
    )
except ImportError:  # on Hugging Face the Space root is the working directory
    from view_schemas import (  # type: ignore[no-redef]
        ACTUALS_SCHEMA,
        INGEST_RUNS_SCHEMA,
        MODELS_SCHEMA,
        MONITORED_METRICS,
        MONITORING_SCHEMA,
        STATIONS_SCHEMA,
        STORED_FORECAST_SCHEMA,
        BackendError,
        Freshness,
        latest_issue,
        merge_runs,
        typed,
    )


T = TypeVar("T")


class WarehouseBackend:
    """The local warehouse (embedded SQLite or a Postgres URL), through ``tasks.data.warehouse``.

    Only SELECTs are issued.  A missing SQLite file is reported, never created: opening the
    embedded store would otherwise make an empty one.  Imports of ``tasks`` happen here, lazily, so
    the Space module itself stays importable where this project is not installed.
    """

    FRESHNESS_TABLES = (
        "ridership_hourly",
        "ridership_daily",
        "weather_hourly",
        "weather_forecast",
        "quarantine",
        "forecasts",
        "monitoring",
        "models",
    )

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            from tasks.data.warehouse.base import redact_url

            shown = redact_url(url)
        except ImportError:
            shown = url.split("://", 1)[0] + "://…"
        self.display = shown
        self.description = f"local warehouse ({shown})"

    def _p(self, day: dt.date) -> Any:
        return day.isoformat() if self.url.startswith("sqlite") else day

    def _read(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        return self._with(lambda wh: wh.read(sql, params))

    def _with(self, fn: Callable[[Any], T]) -> T:
        try:
            from tasks.data.warehouse import open_warehouse
            from tasks.data.warehouse.base import WarehouseError
        except ImportError as exc:
            raise BackendError("the local warehouse needs this project's `tasks` package") from exc
        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///"))
            if not path.is_file():
                raise BackendError(
                    f"no warehouse file at {path}: load data first (`seongsu ingest --source snapshot`)"
                )
        try:
            warehouse = open_warehouse(self.url)
        except WarehouseError as exc:
            raise BackendError(self._safe(str(exc))) from None
        except Exception as exc:
            raise BackendError(f"cannot open {self.display} ({type(exc).__name__})") from None
        try:
            return fn(warehouse)
        except WarehouseError as exc:
            raise BackendError(self._safe(str(exc))) from None
        except Exception as exc:
            raise BackendError(f"reading {self.display} failed ({type(exc).__name__})") from None
        finally:
            warehouse.close()

    def _safe(self, message: str) -> str:
        """One line of a warehouse error, with the URL (and any password) replaced by its display form."""
        first = message.strip().splitlines()[0] if message.strip() else "warehouse error"
        first = first.replace(self.url, self.display)
        password = urlsplit(self.url).password
        if password:
            first = first.replace(password, "***")
        return first[:300]

    def _view(
        self, table: str, schema: Mapping[str, pl.DataType], rest: str = "", params: Sequence[Any] = ()
    ) -> pl.DataFrame:
        """``schema``'s columns of ``table`` (``rest``: where / order / limit), typed like the Supabase
        views: the one read both backends' callers see."""
        frame = self._read(f"select {', '.join(schema)} from {table} {rest}".rstrip(), params)
        return typed(frame, schema) if frame.height else pl.DataFrame(schema=dict(schema))

    def stations(self) -> pl.DataFrame:
        return self._view("stations", STATIONS_SCHEMA, "order by station_code")

    def actuals(self, code: int, day: dt.date) -> pl.DataFrame:
        where = "where station_code = %s and date = %s"
        return self._view("ridership_hourly", ACTUALS_SCHEMA, where, (code, self._p(day)))

    def stored_forecast(self, code: int, day: dt.date) -> pl.DataFrame:
        where = "where station_code = %s and date = %s and as_of < %s"
        frame = self._view("forecasts", STORED_FORECAST_SCHEMA, where, (code, self._p(day), self._p(day)))
        return latest_issue(frame) if frame.height else frame

    def monitoring(self) -> pl.DataFrame:
        metrics = ", ".join(f"'{m}'" for m in MONITORED_METRICS)
        return self._view(
            "monitoring", MONITORING_SCHEMA, f"where metric in ({metrics}) order by evaluated_on"
        )

    def models(self) -> pl.DataFrame:
        return self._view("models", MODELS_SCHEMA, "order by trained_at desc limit 20")

    def ingest_runs(self, limit: int) -> pl.DataFrame:
        return self._view("ingest_runs", INGEST_RUNS_SCHEMA, "order by started_at desc limit %s", (limit,))

    def freshness(self) -> list[Freshness]:
        from tasks.data.status import table_status

        status = self._with(table_status)
        runs = self.ingest_runs(100)
        tables = [
            Freshness(name, status[name]["max"], status[name]["rows"])
            for name in self.FRESHNESS_TABLES
            if name in status and status[name]["rows"] is not None
        ]
        return merge_runs(tables, runs)
