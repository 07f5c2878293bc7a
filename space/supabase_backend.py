"""The hosted data source: PostgREST over the warehouse's public, read-only ``api_*`` views."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import httpx
import polars as pl

try:
    from space.client_base import DEFAULT_TIMEOUT_S, Unavailable
    from space.http_service import HttpService
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
        frame_of,
        latest_issue,
        merge_runs,
    )
except ImportError:  # on Hugging Face the Space root is the working directory
    from client_base import DEFAULT_TIMEOUT_S, Unavailable  # type: ignore[no-redef]
    from http_service import HttpService  # type: ignore[no-redef]
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
        frame_of,
        latest_issue,
        merge_runs,
    )


class SupabaseBackend(HttpService):
    """PostgREST over the public, read-only ``api_*`` views with the anon key."""

    service = "data"

    def __init__(
        self,
        url: str,
        anon_key: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"apikey": anon_key, "Authorization": f"Bearer {anon_key}"}
        super().__init__(
            f"{url.rstrip('/')}/rest/v1", headers=headers, timeout_s=timeout_s, transport=transport
        )
        self.description = f"Supabase ({self.host})"

    def _get(self, view: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        rows = self._json("GET", f"/{view}", params=dict(params))
        if isinstance(rows, Unavailable):
            raise BackendError(rows.reason)
        if not isinstance(rows, list):
            raise BackendError(f"{self.host} sent an unexpected answer for {view}")
        return rows

    def _view(self, view: str, schema: Mapping[str, pl.DataType], **params: str) -> pl.DataFrame:
        """``schema``'s columns of one ``api_*`` view (``params``: PostgREST filters, order, limit)."""
        return frame_of(self._get(view, {"select": ",".join(schema), **params}), schema)

    def stations(self) -> pl.DataFrame:
        return self._view("api_stations", STATIONS_SCHEMA, order="station_code.asc")

    def actuals(self, code: int, day: dt.date) -> pl.DataFrame:
        return self._view(
            "api_ridership_hourly", ACTUALS_SCHEMA, station_code=f"eq.{code}", date=f"eq.{day.isoformat()}"
        )

    def stored_forecast(self, code: int, day: dt.date) -> pl.DataFrame:
        frame = self._view(
            "api_forecasts",
            STORED_FORECAST_SCHEMA,
            station_code=f"eq.{code}",
            date=f"eq.{day.isoformat()}",
            as_of=f"lt.{day.isoformat()}",
            order="as_of.desc,model_version.desc",
            limit="400",
        )
        return latest_issue(frame)

    def monitoring(self) -> pl.DataFrame:
        metrics = f"in.({','.join(MONITORED_METRICS)})"
        frame = self._view(
            "api_monitoring", MONITORING_SCHEMA, metric=metrics, order="evaluated_on.desc", limit="1000"
        )
        return frame.sort("evaluated_on")

    def models(self) -> pl.DataFrame:
        return self._view("api_models", MODELS_SCHEMA, order="trained_at.desc", limit="20")

    def ingest_runs(self, limit: int) -> pl.DataFrame:
        return self._view("api_ingest_runs", INGEST_RUNS_SCHEMA, order="started_at.desc", limit=str(limit))

    def _newest(self, view: str, column: str) -> str | None:
        rows = self._get(view, {"select": column, "order": f"{column}.desc.nullslast", "limit": "1"})
        return str(rows[0][column])[:19] if rows and rows[0].get(column) is not None else None

    def freshness(self) -> list[Freshness]:
        runs = self.ingest_runs(100)
        out = [
            Freshness("ridership_hourly", self._newest("api_ridership_hourly", "date")),
            Freshness("forecasts", self._newest("api_forecasts", "date")),
            Freshness("monitoring", self._newest("api_monitoring", "evaluated_on")),
            Freshness("models", self._newest("api_models", "trained_at")),
        ]
        return merge_runs(out, runs)
