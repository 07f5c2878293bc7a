"""KMA weather on data.go.kr (``apis.data.go.kr/1360000``): ASOS hourly observations and the
short-range village forecast, the weather covariates of the crowding model.

The replies are read and mapped to frames by ``tasks.data.feeds.kma_payload``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Self
from urllib.parse import unquote

import httpx
import polars as pl
from pydantic import SecretStr

from tasks.core.settings import Settings
from tasks.data.feeds.base import (
    FeedAuthError,
    RawPayload,
)
from tasks.data.feeds.http import DEFAULT_TIMEOUT_S, ClientOwner, get_with_retries
from tasks.data.feeds.kma_payload import (
    FORECAST,
    HOURLY,
    KST,
    SCHEMAS,
    forecast_frame,
    hourly_frame,
    read_envelope,
)

DEFAULT_BASE_URL = "http://apis.data.go.kr/1360000"
SOURCE = "kma_api"

ASOS_PATH = "AsosHourlyInfoService/getWthrDataList"
VILAGE_PATH = "VilageFcstInfoService_2.0/getVilageFcst"
ASOS_ROWS, VILAGE_ROWS = 999, 1000

ISSUE_HOURS = (2, 5, 8, 11, 14, 17, 20, 23)
ISSUE_DELAY = timedelta(minutes=10)
# --- call planning ----------------------------------------------------------------------------


def latest_issue(at: datetime) -> datetime:
    """The newest village-forecast issue (KST, naive) fetchable at KST wall-clock time ``at``."""
    for day in (at.date(), at.date() - timedelta(days=1)):
        for hour in reversed(ISSUE_HOURS):
            issue = datetime(day.year, day.month, day.day, hour)
            if issue + ISSUE_DELAY <= at:
                return issue
    raise AssertionError("unreachable: the previous day's 23h issue is always available")


def month_chunks(start: date, end: date) -> list[tuple[date, date]]:
    """[start, end] cut at month boundaries."""
    chunks, cur = [], start
    while cur <= end:
        next_month = (cur.replace(day=1) + timedelta(days=32)).replace(day=1)
        chunks.append((cur, min(end, next_month - timedelta(days=1))))
        cur = next_month
    return chunks


def now_kst() -> datetime:
    """Current KST wall-clock time (naive, like every timestamp in the warehouse)."""
    return datetime.now(KST).replace(tzinfo=None)


# --- the feed ---------------------------------------------------------------------------------


class KmaApiFeed(ClientOwner):
    """Live feed for ``weather_hourly`` and ``weather_forecast`` (Feed protocol)."""

    source = SOURCE

    def __init__(
        self,
        api_key: SecretStr | None,
        *,
        client: httpx.Client | None = None,
        base_url: str = DEFAULT_BASE_URL,
        station_id: int = 108,
        nx: int = 61,
        ny: int = 127,
        retries: int = 4,
        wait_base_s: float = 1.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], datetime] = now_kst,
    ) -> None:
        raw = api_key.get_secret_value().strip() if api_key else ""
        # data.go.kr hands out an "encoding" (percent-encoded) and a "decoding" key; httpx encodes
        # params itself, so an already-encoded key would be double-encoded (-> code 30): decode it.
        self._key = unquote(raw) if "%" in raw else raw
        self._secrets = [s for s in {raw, self._key} if s]
        self._attach_client(client, timeout_s, self._secrets)
        self.base_url = base_url.rstrip("/")
        self.station_id, self.nx, self.ny = station_id, nx, ny
        self.retries, self.wait_base_s, self._sleep, self._clock = retries, wait_base_s, sleep, clock

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings.kma_api_key, retries=settings.http_retries, timeout_s=settings.http_timeout_s)

    def datasets(self) -> tuple[str, ...]:
        return (HOURLY, FORECAST)

    def fetch(self, dataset: str, start: date, end: date) -> list[RawPayload]:
        """ASOS hours of [start 00h, end 23h] (up to yesterday), or the latest forecast issue at ``end``."""
        if dataset == HOURLY:
            return self.fetch_hourly(start, end)
        if dataset == FORECAST:
            at = min(datetime(end.year, end.month, end.day, 23, 59), self._clock())
            return self.fetch_issue(latest_issue(at))
        raise ValueError(f"kma_api cannot fill {dataset!r}; datasets: {[HOURLY, FORECAST]}")

    def fetch_hourly(self, start: date, end: date) -> list[RawPayload]:
        """ASOS observations, one request series per calendar month."""
        end = min(end, self._clock().date() - timedelta(days=1))
        payloads = []
        for first, last in month_chunks(start, end):
            params = {
                "dataCd": "ASOS",
                "dateCd": "HR",
                "stnIds": self.station_id,
                "startDt": first.strftime("%Y%m%d"),
                "startHh": "00",
                "endDt": last.strftime("%Y%m%d"),
                "endHh": "23",
            }
            name = f"getWthrDataList_{self.station_id}_{first:%Y%m%d}-{last:%Y%m%d}"
            payloads += self._fetch_pages(HOURLY, ASOS_PATH, params, ASOS_ROWS, name)
        return payloads

    def fetch_issue(self, base_dt: datetime) -> list[RawPayload]:
        """Every page of one village-forecast issue (``base_dt`` in KST, e.g. 2024-08-30 05:00)."""
        params = {
            "base_date": base_dt.strftime("%Y%m%d"),
            "base_time": base_dt.strftime("%H%M"),
            "nx": self.nx,
            "ny": self.ny,
        }
        name = f"getVilageFcst_{self.nx}_{self.ny}_{base_dt:%Y%m%d%H%M}"
        return self._fetch_pages(FORECAST, VILAGE_PATH, params, VILAGE_ROWS, name)

    def parse(self, payload: RawPayload) -> pl.DataFrame:
        """One page -> frame with the target table's non-audit columns."""
        if payload.dataset not in SCHEMAS:
            raise ValueError(f"kma_api cannot parse dataset {payload.dataset!r}")
        items = read_envelope(payload.content, _path(payload.dataset)).items
        if not items:
            return pl.DataFrame(schema=SCHEMAS[payload.dataset])
        if payload.dataset == HOURLY:
            return hourly_frame(items, self.station_id)
        return forecast_frame(items)

    def _fetch_pages(
        self, dataset: str, path: str, params: dict[str, Any], rows: int, name: str
    ) -> list[RawPayload]:
        first = self._get_page(path, params, 1, rows)
        total = read_envelope(first, path).total or 0
        pages = [first]
        for page_no in range(2, math.ceil(total / rows) + 1):
            content = self._get_page(path, params, page_no, rows)
            read_envelope(content, path)
            pages.append(content)
        return [
            RawPayload(SOURCE, dataset, f"{name}_p{i}.json", content) for i, content in enumerate(pages, 1)
        ]

    def _get_page(self, path: str, params: dict[str, Any], page_no: int, rows: int) -> bytes:
        if not self._key:
            raise FeedAuthError("NO-KEY", "no data.go.kr key configured: set KMA_API_KEY", service=path)
        query = {"serviceKey": self._key, "pageNo": page_no, "numOfRows": rows, "dataType": "JSON", **params}
        response = get_with_retries(
            self._client,
            f"{self.base_url}/{path}",
            query,
            retries=self.retries,
            redact=self._secrets,
            wait_base_s=self.wait_base_s,
            sleep=self._sleep,
            service=path,
        )
        return response.content


def _path(dataset: str) -> str:
    return ASOS_PATH if dataset == HOURLY else VILAGE_PATH
