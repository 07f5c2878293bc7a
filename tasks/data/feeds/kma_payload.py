"""Reading KMA replies (data.go.kr): the envelope, its result codes, and the items as frames.

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

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from tasks.core.schema import WEATHER_FORECAST, WEATHER_HOURLY
from tasks.data.feeds.base import (
    FeedAPIError,
    FeedAuthError,
    FeedFormatError,
    FeedUnavailableError,
)
from tasks.data.feeds.http import load_json_object

KST = ZoneInfo("Asia/Seoul")
HOURLY = "weather_hourly"
FORECAST = "weather_forecast"

OK = "00"
NO_DATA_CODES = frozenset({"03"})
NO_DATA_MESSAGES = frozenset({"NODATA_ERROR", "NO_DATA"})
AUTH_CODES = frozenset({"20", "30", "31", "32"})
QUOTA_CODES = frozenset({"22"})


MISSING_THRESHOLD = 900.0  # KMA forecast: values >= +900 or <= -900 are "missing"

HOURLY_SCHEMA = pl.Schema({c: WEATHER_HOURLY.columns[c] for c in WEATHER_HOURLY.data_columns})
FORECAST_SCHEMA = pl.Schema({c: WEATHER_FORECAST.columns[c] for c in WEATHER_FORECAST.data_columns})
SCHEMAS = {HOURLY: HOURLY_SCHEMA, FORECAST: FORECAST_SCHEMA}
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
    doc = load_json_object(content, service)
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
