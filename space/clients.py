"""The Space's only windows on the rest of the system: the Bento service, the Prefect API, the data.

Why this module exists as a layer of its own:

* **Never raise into the UI.**  Every public method returns a typed result or ``Unavailable(reason)``
  with a plain-words reason ("cannot connect to 127.0.0.1:3000", "no answer within 3 s").  The page
  shows that sentence where the data would have been, and every other part keeps working.  Reasons
  are written here, from the exception *type* and HTTP status, never from ``str(exc)`` of a transport
  error, so neither stack traces nor keys can leak into the page.
* **Short timeouts, server-side TTL caches.**  A Space page view fans out to three services; each
  call has a 3 s budget, and status calls are memoised for ``status_ttl_s`` (Prefect Cloud rate-limits
  its API, and a popular Space must not multiply its traffic by its visitors).  Failures are cached
  for a few seconds only, so a service that comes back is noticed quickly without hammering one
  that is down.
* **Light to deploy.**  On Hugging Face the Space does not install this project: only httpx and
  polars are needed here.  The local warehouse path imports ``tasks.*`` lazily and only when it is
  importable, so the same file runs in the Space and from ``seongsu space``.

Configuration comes only from the environment (Space secrets): ``SEONGSU_BENTO_URL`` (+ optional
``SEONGSU_BENTO_API_KEY``, sent as a Bearer token), ``PREFECT_API_URL`` + ``PREFECT_API_KEY`` (and
optional ``PREFECT_UI_URL`` for run links), ``SUPABASE_URL`` + ``SUPABASE_ANON_KEY`` (read-only
``api_*`` views), otherwise the local warehouse (``SEONGSU_WAREHOUSE_URL`` / ``SEONGSU_HOME``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import polars as pl

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_STATUS_TTL_S = 20.0
DEFAULT_DATA_TTL_S = 120.0
FAILURE_TTL_S = 5.0
LOCAL_BENTO_URL = "http://127.0.0.1:3000"
KST = dt.timezone(dt.timedelta(hours=9), "KST")


# --------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Unavailable:
    """A dependency could not answer; ``reason`` is one plain sentence, safe to show as is.

    ``rejected`` marks a service that is up but refused *this* request (unknown station, a date
    outside the forecastable range); ``detail`` carries what it suggested instead.
    """

    service: str  # bento | prefect | data | clock
    reason: str
    rejected: bool = False
    detail: Mapping[str, Any] = field(default_factory=dict)


def ok(value: T | Unavailable) -> bool:
    """True when ``value`` is a real result (a readable spelling of ``not isinstance(..)``)."""
    return not isinstance(value, Unavailable)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------------------------------
# configuration


def _tasks_available() -> bool:
    """Whether this project's library is importable (locally yes; on Hugging Face no)."""
    try:
        importlib.import_module("tasks.core.settings")
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class SpaceConfig:
    """Everything the Space reads from the environment, resolved once per app.

    Secrets are ``repr=False`` so a config printed in a log or an error never shows them.
    """

    bento_url: str | None = None
    bento_api_key: str | None = field(default=None, repr=False)
    prefect_api_url: str | None = None
    prefect_api_key: str | None = field(default=None, repr=False)
    prefect_ui_url: str | None = None
    supabase_url: str | None = None
    supabase_anon_key: str | None = field(default=None, repr=False)
    warehouse_url: str | None = field(default=None, repr=False)  # may hold a password
    local: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    status_ttl_s: float = DEFAULT_STATUS_TTL_S
    data_ttl_s: float = DEFAULT_DATA_TTL_S

    @property
    def uses_supabase(self) -> bool:
        return bool(self.supabase_url and self.supabase_anon_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SpaceConfig:
        """Read the Space secrets / local environment.

        Without Supabase the Space reads the local warehouse and defaults to the local Bento URL.
        The replay-clock control (it runs the whole pipeline) needs explicit local mode,
        ``SEONGSU_SPACE_LOCAL=1`` (what ``seongsu up`` sets): never inferred.
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        supabase = bool(get("SUPABASE_URL") and get("SUPABASE_ANON_KEY"))
        warehouse_url = None
        if not supabase:
            warehouse_url = get("SEONGSU_WAREHOUSE_URL")
            if warehouse_url is None and _tasks_available():
                from tasks.core.settings import get_settings

                try:
                    warehouse_url = get_settings().resolved_warehouse_url
                except Exception:  # invalid settings: the data source reports itself unavailable
                    warehouse_url = None
        local = _truthy(get("SEONGSU_SPACE_LOCAL"))
        on_this_machine = local or (not supabase and warehouse_url is not None)
        bento_url = get("SEONGSU_BENTO_URL") or (LOCAL_BENTO_URL if on_this_machine else None)
        return cls(
            bento_url=bento_url,
            bento_api_key=get("SEONGSU_BENTO_API_KEY"),
            prefect_api_url=get("PREFECT_API_URL"),
            prefect_api_key=get("PREFECT_API_KEY"),
            prefect_ui_url=get("PREFECT_UI_URL"),
            supabase_url=get("SUPABASE_URL") if supabase else None,
            supabase_anon_key=get("SUPABASE_ANON_KEY") if supabase else None,
            warehouse_url=warehouse_url,
            local=local,
            timeout_s=float(get("SEONGSU_SPACE_TIMEOUT_S") or DEFAULT_TIMEOUT_S),
            status_ttl_s=float(get("SEONGSU_SPACE_STATUS_TTL_S") or DEFAULT_STATUS_TTL_S),
        )


# --------------------------------------------------------------------------------------------------
# caching


class TTLCache:
    """Thread-safe memo with expiry; one computation per key at a time (no thundering herd).

    Results that are ``Unavailable`` are kept for ``failure_ttl_s`` only.
    """

    def __init__(
        self,
        ttl_s: float,
        *,
        failure_ttl_s: float = FAILURE_TTL_S,
        max_entries: int = 512,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.failure_ttl_s = min(failure_ttl_s, ttl_s)
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _fresh(self, key: Hashable) -> tuple[bool, Any]:
        hit = self._entries.get(key)
        if hit is not None and hit[0] > self._clock():
            return True, hit[1]
        return False, None

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            found, value = self._fresh(key)
            if found:
                return cast(T, value)
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                found, value = self._fresh(key)
            if found:
                return cast(T, value)
            result = compute()
            ttl = self.failure_ttl_s if isinstance(result, Unavailable) else self.ttl_s
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    oldest = min(self._entries, key=lambda k: self._entries[k][0])
                    self._entries.pop(oldest, None)
                    self._key_locks.pop(oldest, None)
                self._entries[key] = (self._clock() + ttl, result)
            return result

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --------------------------------------------------------------------------------------------------
# HTTP plumbing


def _host(url: str) -> str:
    """``host:port`` of a URL, without credentials or path: safe to show."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return netloc or "the server"


def _transport_reason(exc: httpx.HTTPError, host: str, timeout_s: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {host} within {timeout_s:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {host}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{host} closed the connection"
    return f"could not talk to {host} ({type(exc).__name__})"


def _short_error(response: httpx.Response) -> str | None:
    """The ``error``/``message``/``detail`` text of a JSON error body, when short and present."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            text = body.get(key)
            if isinstance(text, str) and text.strip():
                text = " ".join(text.split())
                return text if len(text) <= 300 else text[:297] + "..."
    return None


def _status_reason(response: httpx.Response, host: str, *, show_body: bool) -> str:
    code = response.status_code
    if code in (401, 403):
        return f"{host} refused the credentials (HTTP {code}): check the API key"
    if code == 404:
        return f"{host} has no {response.request.url.path} (HTTP 404): check the URL"
    if code == 429:
        return f"{host} is rate limiting this Space (HTTP 429): trying again shortly"
    text = _short_error(response) if show_body else None
    base = f"{host} answered HTTP {code}"
    return f"{base}: {text}" if text else base


class _HttpService:
    """An ``httpx.Client`` bound to one service; every call returns JSON or ``Unavailable``."""

    service = "http"
    show_error_bodies = False

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = _host(self.base_url)
        self.timeout_s = timeout_s
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | Unavailable:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            return Unavailable(self.service, _transport_reason(exc, self.host, self.timeout_s))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        if isinstance(response, Unavailable):
            return response
        if response.status_code >= 400:
            return Unavailable(
                self.service, _status_reason(response, self.host, show_body=self.show_error_bodies)
            )
        try:
            return response.json()
        except ValueError:
            return Unavailable(self.service, f"{self.host} sent an answer that is not JSON")

    def close(self) -> None:
        self._client.close()


# --------------------------------------------------------------------------------------------------
# Bento service


def parse_date(value: Any) -> dt.date | None:
    """A date from an ISO string, date or datetime (None when absent or unreadable)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def parse_timestamp(value: Any) -> dt.datetime | None:
    """Parse an ISO timestamp; naive values are taken as UTC (what the services write)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


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


class BentoClient(_HttpService):
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
                    _short_error(response) or f"{self.host} refused the request (HTTP {response.status_code})"
                )
                return Unavailable(self.service, reason, rejected=True, detail=detail)
            if response.status_code >= 400:
                return Unavailable(self.service, _status_reason(response, self.host, show_body=True))
            try:
                return parse_forecast(response.json())
            except (ValueError, TypeError, KeyError, AttributeError):
                return Unavailable(self.service, f"{self.host} sent a forecast this page cannot read")

        return self._forecasts.get(("forecast", station, day), fetch)

    def clear(self) -> None:
        self._status.clear()
        self._forecasts.clear()


# --------------------------------------------------------------------------------------------------
# Prefect API


@dataclass(frozen=True)
class FlowRunInfo:
    id: str
    name: str
    flow: str
    deployment: str | None
    state_type: str
    state_name: str
    start: dt.datetime | None
    end: dt.datetime | None
    duration_s: float | None
    url: str | None


@dataclass(frozen=True)
class DeploymentInfo:
    id: str
    name: str
    flow: str
    paused: bool
    latest: FlowRunInfo | None
    schedules: tuple[dict[str, Any], ...] = ()  # as the API returns them: {"schedule": ..., "active": ...}
    next_run: dt.datetime | None = None  # the earliest scheduled run
    work_pool: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


@dataclass(frozen=True)
class PipelineRuns:
    deployments: list[DeploymentInfo]
    recent: list[FlowRunInfo]  # newest first, scheduled-but-not-started runs excluded

    @property
    def latest_by_flow(self) -> dict[str, FlowRunInfo]:
        """The newest run of each flow (deployed or not)."""
        out: dict[str, FlowRunInfo] = {}
        for run in self.recent:
            out.setdefault(run.flow, run)
        return out


_CLOUD_API = re.compile(r"^https://api\.prefect\.cloud/api/accounts/([^/]+)/workspaces/([^/]+)/?$")


def prefect_ui_base(api_url: str, ui_url: str | None = None) -> str | None:
    """Where the Prefect UI lives for an API URL (Prefect Cloud or a self-hosted server)."""
    if ui_url:
        return ui_url.rstrip("/")
    api_url = api_url.rstrip("/")
    cloud = _CLOUD_API.match(api_url)
    if cloud:
        return f"https://app.prefect.cloud/account/{cloud.group(1)}/workspace/{cloud.group(2)}"
    if api_url.endswith("/api"):
        return api_url[: -len("/api")]
    return None


class PrefectClient(_HttpService):
    """Flow runs and deployments from the Prefect REST API (plain httpx: no Prefect install needed)."""

    service = "prefect"

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        ui_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        status_ttl_s: float = DEFAULT_STATUS_TTL_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        super().__init__(api_url, headers=headers, timeout_s=timeout_s, transport=transport)
        self.ui_base = prefect_ui_base(api_url, ui_url)
        self._status = TTLCache(status_ttl_s)

    def run_url(self, run_id: str) -> str | None:
        return f"{self.ui_base}/runs/flow-run/{run_id}" if self.ui_base else None

    def runs(self, limit: int = 60) -> PipelineRuns | Unavailable:
        """Deployments with their latest run, and the most recent runs (cached for the status TTL)."""
        return self._status.get(("runs", limit), lambda: self._fetch_runs(limit))

    def _fetch_runs(self, limit: int) -> PipelineRuns | Unavailable:
        flows = self._json("POST", "/flows/filter", json={"limit": 200})
        if isinstance(flows, Unavailable):
            return flows
        deployments = self._json("POST", "/deployments/filter", json={"limit": 200})
        if isinstance(deployments, Unavailable):
            return deployments
        runs = self._json(
            "POST",
            "/flow_runs/filter",
            json={
                "limit": limit,
                "sort": "EXPECTED_START_TIME_DESC",
                "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED"]}}},
            },
        )
        if isinstance(runs, Unavailable):
            return runs
        upcoming = self._json(
            "POST",
            "/flow_runs/filter",
            json={
                "limit": 200,
                "sort": "EXPECTED_START_TIME_ASC",
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
            },
        )
        if isinstance(upcoming, Unavailable):
            return upcoming
        if not all(isinstance(x, list) for x in (flows, deployments, runs, upcoming)):
            return Unavailable(self.service, f"{self.host} sent an unexpected answer")
        flow_names = {f["id"]: f.get("name", "?") for f in flows}
        dep_names = {d["id"]: d.get("name", "?") for d in deployments}
        now = dt.datetime.now(dt.UTC)
        parsed: list[FlowRunInfo] = []
        for r in runs:
            state = r.get("state") or {}
            start = parse_timestamp(r.get("start_time"))
            end = parse_timestamp(r.get("end_time"))
            state_type = str(r.get("state_type") or state.get("type") or "UNKNOWN")
            duration: float | None = None
            if start is not None:
                if end is not None:
                    duration = (end - start).total_seconds()
                elif state_type == "RUNNING":
                    duration = (now - start).total_seconds()
            parsed.append(
                FlowRunInfo(
                    id=str(r.get("id")),
                    name=str(r.get("name", "")),
                    flow=flow_names.get(r.get("flow_id"), "?"),
                    deployment=dep_names.get(r.get("deployment_id")) if r.get("deployment_id") else None,
                    state_type=state_type,
                    state_name=str(r.get("state_name") or state.get("name") or state_type.title()),
                    start=start,
                    end=end,
                    duration_s=duration,
                    url=self.run_url(str(r.get("id"))),
                )
            )
        latest_by_deployment: dict[str, FlowRunInfo] = {}
        for raw, run in zip(runs, parsed, strict=True):
            dep_id = raw.get("deployment_id")
            if dep_id and dep_id not in latest_by_deployment:
                latest_by_deployment[dep_id] = run
        next_run: dict[str, dt.datetime] = {}
        for raw in upcoming:
            when = parse_timestamp(raw.get("expected_start_time") or raw.get("next_scheduled_start_time"))
            if raw.get("deployment_id") and when is not None:
                next_run.setdefault(raw["deployment_id"], when)
        infos = [
            DeploymentInfo(
                id=str(d["id"]),
                name=str(d.get("name", "?")),
                flow=flow_names.get(d.get("flow_id"), "?"),
                paused=bool(d.get("paused", False)),
                latest=latest_by_deployment.get(d["id"]),
                schedules=tuple(d.get("schedules") or ()),
                next_run=next_run.get(d["id"]),
                work_pool=d.get("work_pool_name"),
            )
            for d in deployments
        ]
        infos.sort(key=lambda d: d.full_name)
        return PipelineRuns(deployments=infos, recent=parsed)

    def clear(self) -> None:
        self._status.clear()


# --------------------------------------------------------------------------------------------------
# data: Supabase REST (public api_* views) or the local warehouse


STATIONS_SCHEMA: dict[str, pl.DataType] = {
    "station_code": pl.Int32(),
    "station_name": pl.String(),
    "line": pl.String(),
    "name_en": pl.String(),
}
ACTUALS_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "hour": pl.Int16(),
    "station_code": pl.Int32(),
    "direction": pl.String(),
    "count": pl.Int64(),
}
STORED_FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "model_version": pl.String(),
    "as_of": pl.Date(),
    "date": pl.Date(),
    "hour": pl.Int16(),
    "station_code": pl.Int32(),
    "direction": pl.String(),
    "yhat": pl.Float64(),
    "lo": pl.Float64(),
    "hi": pl.Float64(),
}
MONITORING_SCHEMA: dict[str, pl.DataType] = {
    "evaluated_on": pl.Date(),
    "metric": pl.String(),
    "scope": pl.String(),
    "horizon": pl.Int16(),
    "value": pl.Float64(),
    "n": pl.Int64(),
    "model_version": pl.String(),
}
MODELS_SCHEMA: dict[str, pl.DataType] = {
    "version": pl.String(),
    "status": pl.String(),
    "trained_at": pl.Datetime("us"),
    "promoted_at": pl.Datetime("us"),
    "data_start": pl.Date(),
    "data_end": pl.Date(),
    "data_hash": pl.String(),
    "metrics_json": pl.String(),
    "kind": pl.String(),
}
INGEST_RUNS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "dataset": pl.String(),
    "source": pl.String(),
    "started_at": pl.Datetime("us"),
    "finished_at": pl.Datetime("us"),
    "status": pl.String(),
    "rows_in": pl.Int64(),
    "rows_inserted": pl.Int64(),
    "rows_updated": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "data_min_date": pl.Date(),
    "data_max_date": pl.Date(),
}
MONITORED_METRICS = ("wape", "coverage", "psi_count")


def typed(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast ``frame`` to ``schema`` whatever the backend gave (ISO text from SQLite and
    PostgREST, native types from Postgres); missing columns become null."""
    exprs = []
    for name, dtype in schema.items():
        if name not in frame.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        col = pl.col(name)
        source = frame.schema[name]
        if source == pl.String and dtype == pl.Date:
            exprs.append(col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias(name))
        elif source == pl.String and isinstance(dtype, pl.Datetime):
            text = col.str.replace("T", " ").str.slice(0, 19)
            exprs.append(text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False).cast(dtype).alias(name))
        elif isinstance(source, pl.Datetime) and isinstance(dtype, pl.Datetime) and source.time_zone:
            exprs.append(col.dt.convert_time_zone("UTC").dt.replace_time_zone(None).cast(dtype).alias(name))
        elif isinstance(source, pl.Datetime) and dtype == pl.Date:
            exprs.append(col.dt.date().alias(name))
        else:
            exprs.append(col.cast(dtype, strict=False).alias(name))
    return frame.select(exprs)


def _frame(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=dict(schema))
    return typed(pl.DataFrame(list(rows), infer_schema_length=None), schema)


@dataclass(frozen=True)
class Freshness:
    """How recent one table is: its newest business date and the last load that touched it."""

    table: str
    newest: str | None
    rows: int | None = None
    last_load: str | None = None
    status: str | None = None


class _Backend(Protocol):
    description: str

    def stations(self) -> pl.DataFrame: ...
    def actuals(self, code: int, day: dt.date) -> pl.DataFrame: ...
    def stored_forecast(self, code: int, day: dt.date) -> pl.DataFrame: ...
    def monitoring(self) -> pl.DataFrame: ...
    def models(self) -> pl.DataFrame: ...
    def ingest_runs(self, limit: int) -> pl.DataFrame: ...
    def freshness(self) -> list[Freshness]: ...


class BackendError(Exception):
    """A data read failed; the message is already a safe, plain sentence."""


class SupabaseBackend(_HttpService):
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

    def stations(self) -> pl.DataFrame:
        rows = self._get("api_stations", {"select": ",".join(STATIONS_SCHEMA), "order": "station_code.asc"})
        return _frame(rows, STATIONS_SCHEMA)

    def actuals(self, code: int, day: dt.date) -> pl.DataFrame:
        params = {
            "select": ",".join(ACTUALS_SCHEMA),
            "station_code": f"eq.{code}",
            "date": f"eq.{day.isoformat()}",
        }
        return _frame(self._get("api_ridership_hourly", params), ACTUALS_SCHEMA)

    def stored_forecast(self, code: int, day: dt.date) -> pl.DataFrame:
        params = {
            "select": ",".join(STORED_FORECAST_SCHEMA),
            "station_code": f"eq.{code}",
            "date": f"eq.{day.isoformat()}",
            "as_of": f"lt.{day.isoformat()}",
            "order": "as_of.desc,model_version.desc",
            "limit": "400",
        }
        return _latest_issue(_frame(self._get("api_forecasts", params), STORED_FORECAST_SCHEMA))

    def monitoring(self) -> pl.DataFrame:
        params = {
            "select": ",".join(MONITORING_SCHEMA),
            "metric": f"in.({','.join(MONITORED_METRICS)})",
            "order": "evaluated_on.desc",
            "limit": "1000",
        }
        return _frame(self._get("api_monitoring", params), MONITORING_SCHEMA).sort("evaluated_on")

    def models(self) -> pl.DataFrame:
        params = {"select": ",".join(MODELS_SCHEMA), "order": "trained_at.desc", "limit": "20"}
        return _frame(self._get("api_models", params), MODELS_SCHEMA)

    def ingest_runs(self, limit: int) -> pl.DataFrame:
        params = {"select": ",".join(INGEST_RUNS_SCHEMA), "order": "started_at.desc", "limit": str(limit)}
        return _frame(self._get("api_ingest_runs", params), INGEST_RUNS_SCHEMA)

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
        return _merge_runs(out, runs)


def _latest_issue(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of the newest issue (as_of, then model version) only: the shortest-horizon forecast."""
    if frame.is_empty():
        return frame
    top = frame.sort(["as_of", "model_version"], descending=True).row(0, named=True)
    return frame.filter((pl.col("as_of") == top["as_of"]) & (pl.col("model_version") == top["model_version"]))


def _merge_runs(tables: list[Freshness], runs: pl.DataFrame) -> list[Freshness]:
    """Attach the last ingest of each dataset; datasets without their own row get one from the runs."""
    latest: dict[str, dict[str, Any]] = {}
    for row in runs.sort("started_at", descending=True, nulls_last=True).iter_rows(named=True):
        latest.setdefault(row["dataset"], row)
    out = []
    seen = set()
    for item in tables:
        run = latest.get(item.table)
        seen.add(item.table)
        if run is None:
            out.append(item)
            continue
        when = run.get("finished_at") or run.get("started_at")
        newest = item.newest or (str(run["data_max_date"]) if run.get("data_max_date") else None)
        out.append(
            Freshness(item.table, newest, item.rows, str(when)[:19] if when else None, run.get("status"))
        )
    for dataset, run in latest.items():
        if dataset in seen:
            continue
        when = run.get("finished_at") or run.get("started_at")
        out.append(
            Freshness(
                dataset,
                str(run["data_max_date"]) if run.get("data_max_date") else None,
                None,
                str(when)[:19] if when else None,
                run.get("status"),
            )
        )
    return out


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
            from tasks.data.warehouse.base import WarehouseError, open_warehouse
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
        return _latest_issue(typed(frame, STORED_FORECAST_SCHEMA))

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
        return _merge_runs(tables, runs)


class DataClient:
    """Actuals, stored forecasts, monitoring, models and freshness from whichever source is configured.

    Reads run on a small thread pool with a deadline, so a warehouse that hangs (a Postgres host
    that drops packets) costs the page a few seconds, not a frozen tab.
    """

    service = "data"

    def __init__(
        self,
        backend: _Backend | None,
        *,
        missing_reason: str = "no data source is configured",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        status_ttl_s: float = DEFAULT_STATUS_TTL_S,
        data_ttl_s: float = DEFAULT_DATA_TTL_S,
    ) -> None:
        self.backend = backend
        self.missing_reason = missing_reason
        # local SQLite counts over ~2M rows can take a moment on a busy laptop: allow a bit more
        self.timeout_s = max(timeout_s, 8.0)
        self._status = TTLCache(status_ttl_s)
        self._data = TTLCache(data_ttl_s)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="space-data")

    @classmethod
    def from_config(cls, config: SpaceConfig) -> DataClient:
        backend: _Backend | None = None
        reason = (
            "no data source is configured: set SUPABASE_URL and SUPABASE_ANON_KEY "
            "(or run locally with the warehouse)"
        )
        if config.uses_supabase:
            assert config.supabase_url and config.supabase_anon_key
            backend = SupabaseBackend(
                config.supabase_url, config.supabase_anon_key, timeout_s=config.timeout_s
            )
        elif config.warehouse_url:
            backend = WarehouseBackend(config.warehouse_url)
        return cls(
            backend,
            missing_reason=reason,
            timeout_s=config.timeout_s,
            status_ttl_s=config.status_ttl_s,
            data_ttl_s=config.data_ttl_s,
        )

    @property
    def description(self) -> str:
        return self.backend.description if self.backend else "—"

    def _run(self, fn: Callable[[_Backend], T]) -> T | Unavailable:
        backend = self.backend
        if backend is None:
            return Unavailable(self.service, self.missing_reason)
        future = self._pool.submit(fn, backend)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            return Unavailable(
                self.service, f"{backend.description} did not answer within {self.timeout_s:g} s"
            )
        except BackendError as exc:
            return Unavailable(self.service, str(exc))
        except Exception as exc:  # a bug or an odd answer: say so plainly, never a traceback
            return Unavailable(self.service, f"reading {backend.description} failed ({type(exc).__name__})")

    def stations(self) -> pl.DataFrame | Unavailable:
        return self._data.get("stations", lambda: self._run(lambda b: b.stations()))

    def actuals(self, code: int, day: dt.date) -> pl.DataFrame | Unavailable:
        return self._data.get(("actuals", code, day), lambda: self._run(lambda b: b.actuals(code, day)))

    def stored_forecast(self, code: int, day: dt.date) -> pl.DataFrame | Unavailable:
        return self._data.get(
            ("stored", code, day), lambda: self._run(lambda b: b.stored_forecast(code, day))
        )

    def monitoring(self) -> pl.DataFrame | Unavailable:
        return self._status.get("monitoring", lambda: self._run(lambda b: b.monitoring()))

    def models(self) -> pl.DataFrame | Unavailable:
        return self._status.get("models", lambda: self._run(lambda b: b.models()))

    def ingest_runs(self, limit: int = 50) -> pl.DataFrame | Unavailable:
        return self._status.get(("ingest_runs", limit), lambda: self._run(lambda b: b.ingest_runs(limit)))

    def freshness(self) -> list[Freshness] | Unavailable:
        return self._status.get("freshness", lambda: self._run(lambda b: b.freshness()))

    def clear(self) -> None:
        self._status.clear()
        self._data.clear()


# --------------------------------------------------------------------------------------------------
# the replay clock (local runs only)


class ClockControl:
    """Moves the snapshot replay's simulated "today" forward, in local runs only.

    It calls ``flows.replay.advance_clock(days) -> dict`` (the local stack's own function, which
    decides how the day is advanced -- e.g. by triggering the daily-pipeline deployment as of the
    new day).  It is imported when the button is pressed, so a checkout without it shows
    "not available" instead of failing at start-up, and the hosted Space never offers it.
    """

    service = "clock"

    def __init__(
        self,
        enabled: bool,
        loader: Callable[[], Callable[..., Any]] | None = None,
        warehouse_url: str | None = None,
    ) -> None:
        self.enabled = enabled
        self._loader = loader or self._load
        self._warehouse_url = warehouse_url

    @staticmethod
    def _load() -> Callable[..., Any]:
        module = importlib.import_module("flows.replay")
        return cast(Callable[..., Any], module.advance_clock)

    def available(self) -> bool:
        if not self.enabled:
            return False
        try:
            self._loader()
        except (ImportError, AttributeError):
            return False
        return True

    def current(self) -> dt.date | None:
        """The replay's simulated today (``tasks.data.clock.read_clock``), None when unknown or not local."""
        if not self.enabled or not self._warehouse_url:
            return None
        if (
            self._warehouse_url.startswith("sqlite:///")
            and not Path(self._warehouse_url.removeprefix("sqlite:///")).is_file()
        ):
            return None
        try:
            from tasks.data.clock import read_clock
            from tasks.data.warehouse.base import open_warehouse

            warehouse = open_warehouse(self._warehouse_url)
            try:
                return read_clock(warehouse)
            finally:
                warehouse.close()
        except Exception:  # no clock yet, no table, no module: simply unknown
            return None

    def advance(self, days: int = 1) -> Mapping[str, Any] | Unavailable:
        if not self.enabled:
            return Unavailable(self.service, "only in a local run (SEONGSU_SPACE_LOCAL=1)")
        try:
            advance_clock = self._loader()
        except (ImportError, AttributeError):
            return Unavailable(self.service, "this checkout has no flows.replay.advance_clock yet")
        try:
            result = advance_clock(days=days)
        except ValueError as exc:  # the stack's own, written-for-people refusals ("not started yet")
            return Unavailable(self.service, " ".join(str(exc).split())[:300], rejected=True)
        except Exception as exc:
            return Unavailable(self.service, f"advancing the clock failed ({type(exc).__name__})")
        return dict(result) if isinstance(result, Mapping) else {"result": str(result)}


# --------------------------------------------------------------------------------------------------
# everything together


@dataclass
class Clients:
    """The app's handles on the outside world, built from one ``SpaceConfig``."""

    config: SpaceConfig
    bento: BentoClient | None
    prefect: PrefectClient | None
    data: DataClient
    clock: ClockControl

    @classmethod
    def from_config(cls, config: SpaceConfig) -> Clients:
        bento = (
            BentoClient(
                config.bento_url,
                api_key=config.bento_api_key,
                timeout_s=config.timeout_s,
                status_ttl_s=config.status_ttl_s,
            )
            if config.bento_url
            else None
        )
        prefect = (
            PrefectClient(
                config.prefect_api_url,
                api_key=config.prefect_api_key,
                ui_url=config.prefect_ui_url,
                timeout_s=config.timeout_s,
                status_ttl_s=config.status_ttl_s,
            )
            if config.prefect_api_url
            else None
        )
        clock = ClockControl(config.local, warehouse_url=config.warehouse_url)
        return cls(config, bento, prefect, DataClient.from_config(config), clock)

    def model(self) -> ModelInfo | Unavailable:
        if self.bento is None:
            return Unavailable("bento", "SEONGSU_BENTO_URL is not set")
        return self.bento.model()

    def forecast(self, station: str, day: dt.date | None) -> ForecastResult | Unavailable:
        if self.bento is None:
            return Unavailable("bento", "SEONGSU_BENTO_URL is not set")
        return self.bento.forecast(station, day)

    def runs(self) -> PipelineRuns | Unavailable:
        if self.prefect is None:
            return Unavailable("prefect", "PREFECT_API_URL is not set")
        return self.prefect.runs()

    def clear(self) -> None:
        """Forget every cached answer (after the replay clock moved)."""
        if self.bento:
            self.bento.clear()
        if self.prefect:
            self.prefect.clear()
        self.data.clear()


def metrics_of(metrics_json: str | None) -> dict[str, Any]:
    """``models.metrics_json`` as a dict ({} when empty or unreadable)."""
    if not metrics_json:
        return {}
    try:
        value = json.loads(metrics_json)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
