"""Actuals, forecasts, monitoring, models and freshness from whichever data source is configured."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import polars as pl

try:
    from space.client_base import (
        DEFAULT_DATA_TTL_S,
        DEFAULT_STATUS_TTL_S,
        DEFAULT_TIMEOUT_S,
        TTLCache,
        Unavailable,
    )
    from space.space_config import SpaceConfig
    from space.supabase_backend import SupabaseBackend
    from space.view_schemas import Backend, BackendError, Freshness
    from space.warehouse_backend import WarehouseBackend
except ImportError:  # on Hugging Face the Space root is the working directory
    from client_base import (  # type: ignore[no-redef]
        DEFAULT_DATA_TTL_S,
        DEFAULT_STATUS_TTL_S,
        DEFAULT_TIMEOUT_S,
        TTLCache,
        Unavailable,
    )
    from space_config import SpaceConfig  # type: ignore[no-redef]
    from supabase_backend import SupabaseBackend  # type: ignore[no-redef]
    from view_schemas import Backend, BackendError, Freshness  # type: ignore[no-redef]
    from warehouse_backend import WarehouseBackend  # type: ignore[no-redef]


T = TypeVar("T")


class DataClient:
    """Actuals, stored forecasts, monitoring, models and freshness from whichever source is configured.

    Reads run on a small thread pool with a deadline, so a warehouse that hangs (a Postgres host
    that drops packets) costs the page a few seconds, not a frozen tab.
    """

    service = "data"

    def __init__(
        self,
        backend: Backend | None,
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
        backend: Backend | None = None
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

    def _run(self, fn: Callable[[Backend], T]) -> T | Unavailable:
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
