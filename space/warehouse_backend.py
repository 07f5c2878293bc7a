"""The local data source: the warehouse (SQLite or Postgres) through ``tasks``, read-only.

The only data path that needs this project installed: ``tasks`` is imported lazily, inside the
methods, so the Space stays importable where it is not (Hugging Face).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
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

    def stations(self) -> pl.DataFrame:
        frame = self._read(
            "select station_code, station_name, line, name_en from stations order by station_code"
        )
        return typed(frame, STATIONS_SCHEMA)

    def actuals(self, code: int, day: dt.date) -> pl.DataFrame:
        frame = self._read(
            "select date, hour, station_code, direction, count from ridership_hourly "
            "where station_code = %s and date = %s",
            (code, self._p(day)),
        )
        return typed(frame, ACTUALS_SCHEMA) if frame.height else pl.DataFrame(schema=ACTUALS_SCHEMA)

    def stored_forecast(self, code: int, day: dt.date) -> pl.DataFrame:
        frame = self._read(
            "select model_version, as_of, date, hour, station_code, direction, yhat, lo, hi from forecasts "
            "where station_code = %s and date = %s and as_of < %s",
            (code, self._p(day), self._p(day)),
        )
        if not frame.height:
            return pl.DataFrame(schema=STORED_FORECAST_SCHEMA)
        return latest_issue(typed(frame, STORED_FORECAST_SCHEMA))

    def monitoring(self) -> pl.DataFrame:
        metrics = ", ".join(f"'{m}'" for m in MONITORED_METRICS)
        frame = self._read(
            "select evaluated_on, metric, scope, horizon, value, n, model_version from monitoring "
            f"where metric in ({metrics}) order by evaluated_on"
        )
        return typed(frame, MONITORING_SCHEMA) if frame.height else pl.DataFrame(schema=MONITORING_SCHEMA)

    def models(self) -> pl.DataFrame:
        frame = self._read(
            "select version, status, trained_at, promoted_at, data_start, data_end, data_hash, metrics_json, "
            "kind from models order by trained_at desc limit 20"
        )
        return typed(frame, MODELS_SCHEMA) if frame.height else pl.DataFrame(schema=MODELS_SCHEMA)

    def ingest_runs(self, limit: int) -> pl.DataFrame:
        frame = self._read(
            f"select {', '.join(INGEST_RUNS_SCHEMA)} from ingest_runs order by started_at desc limit %s",
            (limit,),
        )
        return typed(frame, INGEST_RUNS_SCHEMA) if frame.height else pl.DataFrame(schema=INGEST_RUNS_SCHEMA)

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
