"""KMA weather on data.go.kr (``apis.data.go.kr/1360000``): ASOS hourly observations and the
short-range village forecast, the weather covariates of the crowding model.

* ``weather_hourly`` <- ``AsosHourlyInfoService/getWthrDataList`` (Seoul ASOS station 108 by default).
  One request series per calendar month (<= 744 rows, under the 999-row page cap), paged via
  ``totalCount``.  The service only has data up to yesterday (KST), so ``end`` is clamped there.
* ``weather_forecast`` <- ``VilageFcstInfoService_2.0/getVilageFcst`` for the Seongsu grid cell
  (nx=61, ny=127).  Issues are 02, 05, ..., 23 h KST, usable ~10 minutes later; ``fetch`` takes the
  latest issue available at the end of ``end`` (or now, if earlier), ``fetch_issue`` a given one.
  data.go.kr keeps only about the last day of issues [unverified], so history cannot be backfilled.

Why the parsing looks like this (see ``/work/shared/data/API-FORMATS.md``): every value is a string
and ``""`` means missing, except ASOS ``rn`` where ``""`` means no precipitation (-> 0.0).  The
forecast's PCP/SNO are text (``강수없음``, ``1.0mm 미만``, ``30.0~50.0mm``, ``50.0mm 이상``) and are
mapped to numbers (none -> 0, below x -> x/2, range -> midpoint, x or more -> x); numeric forecast
values of +-900 or beyond are KMA's missing marker and become null.  Weather values come out as
Float64: unreadable text becomes null rather than quarantining the row (a covariate, not a target).

Result codes: ``00`` ok; ``03``/``NODATA_ERROR``/``NO_DATA`` -> empty frame.  Key problems are
reported by the data.go.kr gateway as XML even when JSON was asked for; codes 20/30/31/32 raise
``FeedAuthError``.  Code 22 (daily quota exhausted) raises ``FeedUnavailableError``: the key is
fine and the same call works after the quota resets, so the run should fail as "unavailable", not as
"fix your key".  Other codes raise ``FeedAPIError``.  The key travels as the ``serviceKey`` query
parameter; every message is redacted through ``tasks.data.feeds.http``.
"""

from __future__ import annotations

import json
import math
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Self
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import httpx
import polars as pl
from pydantic import SecretStr

from tasks.data.feeds.base import (
    FeedAPIError,
    FeedAuthError,
    FeedFormatError,
    FeedUnavailableError,
    RawPayload,
)
from tasks.data.feeds.http import DEFAULT_TIMEOUT_S, ClientOwner, get_with_retries
from tasks.core.settings import Settings
from tasks.core.schema import WEATHER_FORECAST, WEATHER_HOURLY

DEFAULT_BASE_URL = "http://apis.data.go.kr/1360000"
SOURCE = "kma_api"
KST = ZoneInfo("Asia/Seoul")

HOURLY = "weather_hourly"
FORECAST = "weather_forecast"
ASOS_PATH = "AsosHourlyInfoService/getWthrDataList"
VILAGE_PATH = "VilageFcstInfoService_2.0/getVilageFcst"
ASOS_ROWS, VILAGE_ROWS = 999, 1000

OK = "00"
NO_DATA_CODES = frozenset({"03"})
NO_DATA_MESSAGES = frozenset({"NODATA_ERROR", "NO_DATA"})
AUTH_CODES = frozenset({"20", "30", "31", "32"})
QUOTA_CODES = frozenset({"22"})

ISSUE_HOURS = (2, 5, 8, 11, 14, 17, 20, 23)
ISSUE_DELAY = timedelta(minutes=10)
MISSING_THRESHOLD = 900.0  # KMA forecast: values >= +900 or <= -900 are "missing"

HOURLY_SCHEMA = pl.Schema({c: WEATHER_HOURLY.columns[c] for c in WEATHER_HOURLY.data_columns})
FORECAST_SCHEMA = pl.Schema({c: WEATHER_FORECAST.columns[c] for c in WEATHER_FORECAST.data_columns})
_SCHEMAS = {HOURLY: HOURLY_SCHEMA, FORECAST: FORECAST_SCHEMA}
# ASOS item field -> output column (rn handled separately: "" means 0)
ASOS_FIELDS = {
    "ta": "temp_c",
    "ws": "wind_ms",
    "hm": "humidity_pct",
    "dsnw": "snow_cm",
    "dc10Tca": "cloud_tenths",
}


# --- text -> numbers --------------------------------------------------------------------------


def to_float(value: Any) -> float | None:
    """A KMA value as float; ``""``/None/unreadable -> None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_UNIT = r"\s*(?:mm|cm)?\s*"
_BELOW = re.compile(rf"^{_NUM}{_UNIT}미만$")
_RANGE = re.compile(rf"^{_NUM}{_UNIT}~\s*{_NUM}{_UNIT}$")
_AT_LEAST = re.compile(rf"^{_NUM}{_UNIT}이상$")
_PLAIN = re.compile(rf"^{_NUM}{_UNIT}$")
_NONE_WORDS = frozenset({"강수없음", "적설없음", "-"})


def parse_amount(text: Any) -> float | None:
    """PCP/SNO text -> mm/cm: none -> 0, ``x미만`` -> x/2, ``a~b`` -> midpoint, ``x이상`` -> x."""
    if text is None:
        return None
    value = str(text).strip()
    if value in _NONE_WORDS:
        return 0.0
    if m := _BELOW.match(value):
        return float(m.group(1)) / 2
    if m := _RANGE.match(value):
        return (float(m.group(1)) + float(m.group(2))) / 2
    if (m := _AT_LEAST.match(value)) or (m := _PLAIN.match(value)):
        return float(m.group(1))
    return None


def _forecast_number(value: Any) -> float | None:
    number = to_float(value)
    return None if number is None or abs(number) >= MISSING_THRESHOLD else number


# category -> (output column, converter)
FORECAST_CATEGORIES: dict[str, tuple[str, Callable[[Any], float | None]]] = {
    "TMP": ("temp_c", _forecast_number),
    "PCP": ("precip_mm", parse_amount),
    "POP": ("pop_pct", _forecast_number),
    "PTY": ("pty", _forecast_number),
    "SKY": ("sky", _forecast_number),
    "REH": ("humidity_pct", _forecast_number),
    "WSD": ("wind_ms", _forecast_number),
    "SNO": ("snow_cm", parse_amount),
}


# --- envelope ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """The parts of a data.go.kr reply we use."""

    code: str
    message: str
    total: int | None  # None when the reply carries no totalCount
    items: list[dict[str, Any]]


def read_envelope(content: bytes, service: str) -> Envelope:
    """Decode one reply (JSON, or the gateway's XML error) and raise for error codes."""
    if content.lstrip()[:1] == b"<":
        return _xml_envelope(content, service)
    doc = _load_json(content, service)
    try:
        header, body = doc["response"]["header"], doc["response"].get("body") or {}
        code = str(header["resultCode"]).strip()
        message = str(header.get("resultMsg", "")).strip()
    except (KeyError, TypeError, AttributeError):
        raise FeedFormatError(f"{service}: reply has no response.header.resultCode") from None
    if code in NO_DATA_CODES or message in NO_DATA_MESSAGES:
        return Envelope(code, message, 0, [])
    _raise_for_code(code, message, service)
    return Envelope(code, message, _total(body), _items(body, service))


def _load_json(content: bytes, service: str) -> dict[str, Any]:
    try:
        doc = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # no excerpt of the body: an error page could echo the request URL, i.e. the key
        raise FeedFormatError(f"{service}: reply is not JSON ({exc}; {len(content)} bytes)") from None
    if not isinstance(doc, dict):
        raise FeedFormatError(f"{service}: reply is JSON but not an object")
    return doc


def _xml_envelope(content: bytes, service: str) -> Envelope:
    """An XML reply: the gateway's ``OpenAPI_ServiceResponse`` error, or a ``response`` we did not ask for.

    No-data is still an empty result; any other code raises; XML carrying data is a format error
    (we always ask for JSON).
    """
    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        raise FeedFormatError(f"{service}: reply is neither JSON nor well-formed XML") from None
    code = (root.findtext(".//returnReasonCode") or root.findtext(".//resultCode") or "").strip()
    texts = (root.findtext(".//errMsg"), root.findtext(".//returnAuthMsg"), root.findtext(".//resultMsg"))
    message = " ".join(t.strip() for t in texts if t and t.strip())
    if not code:
        raise FeedFormatError(f"{service}: XML/HTML reply without a result code ({len(content)} bytes)")
    if code in NO_DATA_CODES or message in NO_DATA_MESSAGES:
        return Envelope(code, message, 0, [])
    _raise_for_code(code, message, service)
    raise FeedFormatError(f"{service}: got XML instead of JSON ({code} {message})")


def _raise_for_code(code: str, message: str, service: str) -> None:
    if code == OK:
        return
    if code in AUTH_CODES:
        raise FeedAuthError(code, f"{message} (check KMA_API_KEY)", service=service)
    if code in QUOTA_CODES:
        raise FeedUnavailableError(f"{service}: {code} {message} (daily request quota exhausted)")
    raise FeedAPIError(code, message, service=service)


def _total(body: dict[str, Any]) -> int | None:
    try:
        return int(body["totalCount"])
    except (KeyError, TypeError, ValueError):
        return None


def _items(body: dict[str, Any], service: str) -> list[dict[str, Any]]:
    """``body.items.item`` as a list: a single object is wrapped, ``""``/missing items -> []."""
    items = body.get("items")
    if not items:
        return []
    if not isinstance(items, dict):
        raise FeedFormatError(f"{service}: body.items is not an object")
    item = items.get("item")
    if item is None or item == "":
        return []
    rows = [item] if isinstance(item, dict) else item
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise FeedFormatError(f"{service}: body.items.item is neither an object nor a list of objects")
    return rows


# --- item mapping -----------------------------------------------------------------------------


def hourly_frame(items: list[dict[str, Any]], default_station: int) -> pl.DataFrame:
    """ASOS items -> ``weather_hourly`` columns."""
    records = [
        {
            "station_id": int(to_float(i.get("stnId")) or default_station),
            "ts": _kst(i.get("tm"), "%Y-%m-%d %H:%M"),
            "precip_mm": 0.0 if str(i.get("rn", "")).strip() == "" else to_float(i.get("rn")),
            **{col: to_float(i.get(field)) for field, col in ASOS_FIELDS.items()},
        }
        for i in items
    ]
    return pl.DataFrame(records, schema=HOURLY_SCHEMA).select(HOURLY_SCHEMA.names())


def _kst(text: Any, fmt: str) -> datetime:
    try:
        return datetime.strptime(str(text).strip(), fmt)
    except ValueError:
        raise FeedFormatError(f"unreadable KMA timestamp {text!r} (expected {fmt})") from None


def _grid(value: Any) -> int:
    number = to_float(value)
    if number is None:
        raise FeedFormatError(f"unreadable KMA grid coordinate {value!r}")
    return int(number)


def forecast_frame(items: list[dict[str, Any]]) -> pl.DataFrame:
    """Village-forecast items (one per category and hour) pivoted wide, one row per valid hour."""
    rows: dict[tuple[datetime, datetime, int, int], dict[str, Any]] = {}
    for item in items:
        category = FORECAST_CATEGORIES.get(str(item.get("category", "")))
        if category is None:
            continue
        key = (
            _kst(f"{item.get('baseDate')}{item.get('baseTime')}", "%Y%m%d%H%M"),
            _kst(f"{item.get('fcstDate')}{item.get('fcstTime')}", "%Y%m%d%H%M"),
            _grid(item.get("nx")),
            _grid(item.get("ny")),
        )
        row = rows.setdefault(key, dict(zip(("base_ts", "fcst_ts", "nx", "ny"), key, strict=True)))
        column, convert = category
        row[column] = convert(item.get("fcstValue"))
    frame = pl.DataFrame(list(rows.values()), schema=FORECAST_SCHEMA, strict=False)
    return frame.select(FORECAST_SCHEMA.names()).sort("base_ts", "fcst_ts")


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
        if payload.dataset not in _SCHEMAS:
            raise ValueError(f"kma_api cannot parse dataset {payload.dataset!r}")
        items = read_envelope(payload.content, _path(payload.dataset)).items
        if not items:
            return pl.DataFrame(schema=_SCHEMAS[payload.dataset])
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
