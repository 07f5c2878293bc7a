"""What every client shares: the ``Unavailable`` result, the time budgets, date parsing, the TTL cache.

Why a result instead of an exception: the page must never get a stack trace.  Each public client
method returns its value or ``Unavailable(reason)``, one plain sentence shown where the data would
have been, so one dependency down leaves every other panel working.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_STATUS_TTL_S = 20.0
DEFAULT_DATA_TTL_S = 120.0
FAILURE_TTL_S = 5.0
LOCAL_BENTO_URL = "http://127.0.0.1:3000"


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
