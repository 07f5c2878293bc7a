"""The crowding service over HTTP (``GET /model``, ``POST /forecast``), answers as typed objects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import polars as pl

try:
    from space.client_base import (
        DEFAULT_STATUS_TTL_S,
        DEFAULT_TIMEOUT_S,
        TTLCache,
        Unavailable,
        parse_date,
        parse_timestamp,
    )
    from space.http_service import HttpService, short_error, status_reason
except ImportError:  # on Hugging Face the Space root is the working directory
    from client_base import (  # type: ignore[no-redef]
        DEFAULT_STATUS_TTL_S,
        DEFAULT_TIMEOUT_S,
        TTLCache,
        Unavailable,
        parse_date,
        parse_timestamp,
    )
    from http_service import HttpService, short_error, status_reason  # type: ignore[no-redef]


@dataclass(frozen=True)
class ModelInfo:
    """What ``GET /model`` says about the package being served."""

    version: str
    package: str
    promoted_at: dt.datetime | None
    trained_at: dt.datetime | None
    as_of: dt.date | None
    horizon_days: int
    forecast_start: dt.date | None
    forecast_end: dt.date | None
    data_start: dt.date | None
    data_end: dt.date | None
    metrics: Mapping[str, Any]
    stations: int | None
    kind: str = "model"  # "baseline" when no trained model beat the best baseline (the gate)
    forecaster: str = "catboost"
    why: str | None = None

    @property
    def forecast_days(self) -> list[dt.date]:
        if self.forecast_start is None or self.forecast_end is None:
            return []
        n = (self.forecast_end - self.forecast_start).days + 1
        return [self.forecast_start + dt.timedelta(days=i) for i in range(max(n, 0))]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ModelInfo:
        forecastable = raw.get("forecastable") or {}
        training = raw.get("training_data") or {}
        return cls(
            version=str(raw.get("version", "?")),
            package=str(raw.get("package", "")),
            promoted_at=parse_timestamp(raw.get("promoted_at")),
            trained_at=parse_timestamp(raw.get("trained_at")),
            as_of=parse_date(raw.get("as_of")),
            horizon_days=int(raw.get("horizon_days") or 0),
            forecast_start=parse_date(forecastable.get("start")),
            forecast_end=parse_date(forecastable.get("end")),
            data_start=parse_date(training.get("start")),
            data_end=parse_date(training.get("end")),
            metrics=dict(raw.get("metrics") or {}),
            stations=int(raw["stations"]) if raw.get("stations") is not None else None,
            kind=str(raw.get("kind") or "model"),
            forecaster=str(raw.get("forecaster") or "catboost"),
            why=raw.get("why"),
        )


FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "hour": pl.Int16(),
    "direction": pl.String(),
    "yhat": pl.Float64(),
    "lo": pl.Float64(),
    "hi": pl.Float64(),
    "level": pl.Int8(),
}


@dataclass(frozen=True)
class StationForecast:
    """One station's hourly forecast: ``frame`` has ``FORECAST_SCHEMA`` (one row per hour x direction)."""

    station_code: int
    station_name: str
    name_en: str
    line: str
    thresholds: Mapping[str, Mapping[str, float]]  # direction -> q50/q80/q95
    frame: pl.DataFrame

    @property
    def label(self) -> str:
        return f"{self.station_name} {self.name_en} ({self.line}, {self.station_code})"


@dataclass(frozen=True)
class ForecastResult:
    model_version: str
    as_of: dt.date | None
    stations: list[StationForecast]
    source: str  # "live" (Bento) or "stored" (the forecasts table)


def _direction_rows(day: dt.date, hour: int, direction: str, cell: Any) -> dict[str, Any] | None:
    if not isinstance(cell, Mapping):
        return None
    return {
        "date": day,
        "hour": hour,
        "direction": direction,
        "yhat": cell.get("yhat"),
        "lo": cell.get("lo"),
        "hi": cell.get("hi"),
        "level": cell.get("level_index"),
    }


def parse_forecast(raw: Mapping[str, Any]) -> ForecastResult:
    """``POST /forecast``'s JSON (``bentos.crowding.schemas.ForecastResponse``) as typed frames."""
    stations = []
    for st in raw.get("stations") or []:
        rows = []
        for hour_row in st.get("forecasts") or []:
            day = parse_date(hour_row.get("date"))
            if day is None:
                continue
            hour = int(hour_row.get("hour", 0))
            for direction, key in (("board", "boardings"), ("alight", "alightings")):
                row = _direction_rows(day, hour, direction, hour_row.get(key))
                if row is not None:
                    rows.append(row)
        thresholds = {
            d: {k: float(v) for k, v in (q or {}).items()} for d, q in (st.get("thresholds") or {}).items()
        }
        stations.append(
            StationForecast(
                station_code=int(st.get("station_code", 0)),
                station_name=str(st.get("station_name", "")),
                name_en=str(st.get("name_en", "")),
                line=str(st.get("line", "")),
                thresholds=thresholds,
                frame=pl.DataFrame(rows, schema=FORECAST_SCHEMA),
            )
        )
    return ForecastResult(
        model_version=str(raw.get("model_version", "?")),
        as_of=parse_date(raw.get("as_of")),
        stations=stations,
        source="live",
    )


class BentoClient(HttpService):
    """The crowding service over HTTP: ``GET /model`` and ``POST /forecast``."""

    service = "bento"
    show_error_bodies = True  # its errors are written for people ("no model package is being served")

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        status_ttl_s: float = DEFAULT_STATUS_TTL_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        super().__init__(base_url, headers=headers, timeout_s=timeout_s, transport=transport)
        self._status = TTLCache(status_ttl_s)
        self._forecasts = TTLCache(max(status_ttl_s, 60.0))

    def model(self) -> ModelInfo | Unavailable:
        """The served model (cached for the status TTL)."""

        def fetch() -> ModelInfo | Unavailable:
            raw = self._json("GET", "/model")
            if isinstance(raw, Unavailable):
                return raw
            if not isinstance(raw, Mapping):
                return Unavailable(self.service, f"{self.host} sent an unexpected /model answer")
            return ModelInfo.from_json(raw)

        return self._status.get("model", fetch)

    def forecast(self, station: str, day: dt.date | None = None) -> ForecastResult | Unavailable:
        """Hourly forecast of ``station`` (code, Korean or English name) on ``day`` (default: next day)."""
        body: dict[str, Any] = {"station": station}
        if day is not None:
            body["date"] = day.isoformat()

        def fetch() -> ForecastResult | Unavailable:
            response = self._call("POST", "/forecast", json=body)
            if isinstance(response, Unavailable):
                return response
            if response.status_code in (400, 404, 422):
                payload: Any
                try:
                    payload = response.json()
                except ValueError:
                    payload = {}
                detail = payload if isinstance(payload, Mapping) else {}
                reason = (
                    short_error(response) or f"{self.host} refused the request (HTTP {response.status_code})"
                )
                return Unavailable(self.service, reason, rejected=True, detail=detail)
            if response.status_code >= 400:
                return Unavailable(self.service, status_reason(response, self.host, show_body=True))
            try:
                return parse_forecast(response.json())
            except (ValueError, TypeError, KeyError, AttributeError):
                return Unavailable(self.service, f"{self.host} sent a forecast this page cannot read")

        return self._forecasts.get(("forecast", station, day), fetch)

    def clear(self) -> None:
        self._status.clear()
        self._forecasts.clear()
