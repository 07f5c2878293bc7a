"""Seoul Open Data Plaza general Open API (``openapi.seoul.go.kr:8088``): subway card ridership.

Two services feed the warehouse:

* ``CardSubwayStatsNew`` (one call series per day) -> ``ridership_daily``;
* ``CardSubwayTime`` (one call series per month, 48 hour-band columns) -> ``ridership_monthly_hourly``,
  melted to one row per station and clock hour.

Why it is written this way (see ``/work/shared/data/API-FORMATS.md``):

* The API caps a call at 1000 rows, so each series is paged 1-1000, 1001-2000, ... using the
  ``list_total_count`` of the first page; ``fetch`` returns each page's bytes untouched for the raw
  zone and ``parse`` reads one page.
* The field names changed (``USE_DT``/``LINE_NUM``... -> ``USE_YMD``/``SBWY_ROUT_LN_NM``...) and
  values arrive as ints, strings or floats like ``71.0`` depending on the response, so both name
  sets are mapped and counts are emitted as normalised *strings* (``71.0`` -> ``"71"``): the
  validator casts them and quarantines whatever does not cast, instead of us guessing.
* Errors come in two envelopes (inside the service object, or a bare top-level ``RESULT``).
  ``INFO-200`` (no data, e.g. a day not loaded yet: publication lags ~3 days) is an empty result;
  ``INFO-100``/``INFO-300`` are key problems; other codes are API errors.
* The key is a URL path segment: every message is redacted through ``tasks.data.feeds.http``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Self
from urllib.parse import quote

import httpx
import polars as pl
from pydantic import SecretStr

from tasks.core.settings import Settings
from tasks.data.feeds.base import FeedAPIError, FeedAuthError, FeedFormatError, RawPayload
from tasks.data.feeds.http import DEFAULT_TIMEOUT_S, ClientOwner, get_with_retries, load_json_object

DEFAULT_BASE_URL = "http://openapi.seoul.go.kr:8088"
PAGE_SIZE = 1000  # the API's hard cap per call (ERROR-336 above it)
SOURCE = "seoul_api"

DAILY = "ridership_daily"
MONTHLY_HOURLY = "ridership_monthly_hourly"
SERVICES = {DAILY: "CardSubwayStatsNew", MONTHLY_HOURLY: "CardSubwayTime"}

OK, NO_DATA = "INFO-000", "INFO-200"
AUTH_CODES = frozenset({"INFO-100", "INFO-300"})

# (current name, legacy name) for each output column
DAILY_FIELDS: dict[str, tuple[str, str]] = {
    "date": ("USE_YMD", "USE_DT"),
    "line": ("SBWY_ROUT_LN_NM", "LINE_NUM"),
    "station_name": ("SBWY_STNS_NM", "SUB_STA_NM"),
    "boardings": ("GTON_TNOPE", "RIDE_PASGR_NUM"),
    "alightings": ("GTOFF_TNOPE", "ALIGHT_PASGR_NUM"),
    "registered_on": ("REG_YMD", "WORK_DT"),
}
MONTHLY_KEY_FIELDS: dict[str, tuple[str, str]] = {
    "month": ("USE_MM", "USE_MON"),
    "line": ("SBWY_ROUT_LN_NM", "LINE_NUM"),
    "station_name": ("STTN", "SUB_STA_NM"),
}
# legacy hour-band prefixes; HR_h / <WORD>_ covers clock hour [h, h+1)
_LEGACY_HOUR_WORDS = [
    "MIDNIGHT",
    "ONE",
    "TWO",
    "THREE",
    "FOUR",
    "FIVE",
    "SIX",
    "SEVEN",
    "EIGHT",
    "NINE",
    "TEN",
    "ELEVEN",
    "TWELVE",
    "THIRTEEN",
    "FOURTEEN",
    "FIFTEEN",
    "SIXTEEN",
    "SEVENTEEN",
    "EIGHTEEN",
    "NINETEEN",
    "TWENTY",
    "TWENTY_ONE",
    "TWENTY_TWO",
    "TWENTY_THREE",
]
# clock hour -> ((current boardings, legacy boardings), (current alightings, legacy alightings))
HOUR_FIELDS: dict[int, tuple[tuple[str, str], tuple[str, str]]] = {
    h: ((f"HR_{h}_GET_ON_NOPE", f"{w}_RIDE_NUM"), (f"HR_{h}_GET_OFF_NOPE", f"{w}_ALIGHT_NUM"))
    for h, w in enumerate(_LEGACY_HOUR_WORDS)
}

DAILY_SCHEMA = pl.Schema(
    {
        "date": pl.Date(),
        "line": pl.String(),
        "station_name": pl.String(),
        "boardings": pl.String(),
        "alightings": pl.String(),
        "registered_on": pl.Date(),
    }
)
MONTHLY_HOURLY_SCHEMA = pl.Schema(
    {
        "month": pl.Date(),
        "line": pl.String(),
        "station_name": pl.String(),
        "clock_hour": pl.Int16(),
        "boardings": pl.String(),
        "alightings": pl.String(),
    }
)
_SCHEMAS = {DAILY: DAILY_SCHEMA, MONTHLY_HOURLY: MONTHLY_HOURLY_SCHEMA}
_INTEGRAL_FLOAT = re.compile(r"^([+-]?\d+)\.0*$")


# --- envelope ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """The parts of a Seoul Open API reply we use."""

    code: str
    message: str
    total: int
    rows: list[dict[str, Any]]


def read_envelope(content: bytes, service: str) -> Envelope:
    """Decode one reply and raise the right ``FeedError`` for error codes; INFO-200 -> no rows."""
    body = _service_body(load_json_object(content, service), service)
    result = body.get("RESULT")
    if not isinstance(result, dict) or not isinstance(result.get("CODE"), str):
        raise FeedFormatError(f"{service}: reply has no RESULT.CODE")
    code, message = result["CODE"].strip(), str(result.get("MESSAGE", "")).strip()
    _raise_for_code(code, message, service)
    if code == NO_DATA:
        return Envelope(code, message, 0, [])
    return Envelope(code, message, _total(body, service), _rows(body, service))


def _service_body(doc: dict[str, Any], service: str) -> dict[str, Any]:
    """The service object, or the document itself for the top-level ``{"RESULT": ...}`` shape."""
    body = doc.get(service)
    if isinstance(body, dict):
        return body
    if "RESULT" in doc:
        return doc
    raise FeedFormatError(f"{service}: reply has neither a {service!r} object nor a top-level RESULT")


def _raise_for_code(code: str, message: str, service: str) -> None:
    if code in (OK, NO_DATA):
        return
    if code in AUTH_CODES:
        raise FeedAuthError(code, f"{message} (check SEOUL_DATA_API_KEY)", service=service)
    raise FeedAPIError(code, message, service=service)


def _total(body: dict[str, Any], service: str) -> int:
    try:
        return int(body["list_total_count"])
    except (KeyError, TypeError, ValueError):
        raise FeedFormatError(f"{service}: reply has no usable list_total_count") from None


def _rows(body: dict[str, Any], service: str) -> list[dict[str, Any]]:
    rows = body.get("row")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise FeedFormatError(f"{service}: reply has no 'row' list")
    return rows


# --- value normalisation ----------------------------------------------------------------------


def normalise_count(value: Any) -> str | None:
    """A count as text for the validator: ``71.0``/``"71.0"``/``"1,234"`` -> ``"71"``/``"1234"``.

    Anything else (fractions, words) is returned as-is so the validator quarantines the row.
    """
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip().replace(",", "")
    if not text:
        return None
    match = _INTEGRAL_FLOAT.match(text)
    return match.group(1) if match else text


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _pick(row: dict[str, Any], names: tuple[str, str]) -> Any:
    """The first of (current, legacy) field names present in ``row``."""
    for name in names:
        if name in row:
            return row[name]
    return None


def _as_date(column: str, fmt: str = "%Y%m%d") -> pl.Expr:
    """YYYYMMDD (dashes tolerated) text -> Date; unreadable -> null (the validator rejects it)."""
    digits = pl.col(column).str.replace_all(r"[^0-9]", "")
    return digits.str.strptime(pl.Date, fmt, strict=False).alias(column)


# --- row mapping ------------------------------------------------------------------------------


def daily_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """``CardSubwayStatsNew`` rows (either schema) -> ``ridership_daily`` columns."""
    records = [
        {
            "date": _text(_pick(r, DAILY_FIELDS["date"])),
            "line": _text(_pick(r, DAILY_FIELDS["line"])),
            "station_name": _text(_pick(r, DAILY_FIELDS["station_name"])),
            "boardings": normalise_count(_pick(r, DAILY_FIELDS["boardings"])),
            "alightings": normalise_count(_pick(r, DAILY_FIELDS["alightings"])),
            "registered_on": _text(_pick(r, DAILY_FIELDS["registered_on"])),
        }
        for r in rows
    ]
    frame = pl.DataFrame(records, schema={c: pl.String() for c in DAILY_SCHEMA})
    return frame.with_columns(_as_date("date"), _as_date("registered_on")).select(DAILY_SCHEMA.names())


def _melt_row(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    keys = {col: _text(_pick(row, names)) for col, names in MONTHLY_KEY_FIELDS.items()}
    for hour, (board_names, alight_names) in HOUR_FIELDS.items():
        yield {
            **keys,
            "clock_hour": hour,
            "boardings": normalise_count(_pick(row, board_names)),
            "alightings": normalise_count(_pick(row, alight_names)),
        }


def monthly_hourly_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """``CardSubwayTime`` rows (either schema) melted to one row per station and clock hour."""
    records = [rec for r in rows for rec in _melt_row(r)]
    schema = {**{c: pl.String() for c in MONTHLY_HOURLY_SCHEMA}, "clock_hour": pl.Int16()}
    frame = pl.DataFrame(records, schema=schema)
    month = pl.col("month").str.replace_all(r"[^0-9]", "").str.slice(0, 6) + "01"
    return frame.with_columns(month.str.strptime(pl.Date, "%Y%m%d", strict=False).alias("month"))


# --- call planning ----------------------------------------------------------------------------


def days(start: date, end: date) -> list[date]:
    """Every day in [start, end]."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def months(start: date, end: date) -> list[date]:
    """First day of every month touching [start, end]."""
    out, cur = [], start.replace(day=1)
    while cur <= end:
        out.append(cur)
        cur = (cur + timedelta(days=32)).replace(day=1)
    return out


def page_ranges(total: int, page_size: int = PAGE_SIZE) -> list[tuple[int, int]]:
    """1-based inclusive index ranges covering ``total`` rows: (1, 1000), (1001, 2000), ..."""
    return [(s, min(s + page_size - 1, total)) for s in range(1, total + 1, page_size)]


# --- the feed ---------------------------------------------------------------------------------


class SeoulOpenApiFeed(ClientOwner):
    """Live feed for ``ridership_daily`` and ``ridership_monthly_hourly`` (Feed protocol)."""

    source = SOURCE

    def __init__(
        self,
        api_key: SecretStr | None,
        *,
        client: httpx.Client | None = None,
        base_url: str = DEFAULT_BASE_URL,
        retries: int = 4,
        wait_base_s: float = 1.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self._key = api_key.get_secret_value().strip() if api_key else ""
        self._attach_client(client, timeout_s, [self._key])
        self.base_url = base_url.rstrip("/")
        self.retries, self.wait_base_s, self._sleep = retries, wait_base_s, sleep

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            settings.seoul_data_api_key, retries=settings.http_retries, timeout_s=settings.http_timeout_s
        )

    def datasets(self) -> tuple[str, ...]:
        return (DAILY, MONTHLY_HOURLY)

    def fetch(self, dataset: str, start: date, end: date) -> list[RawPayload]:
        """Every page of every day (``ridership_daily``) or month touching [start, end]."""
        service = _service(dataset)
        if dataset == DAILY:
            args = [d.strftime("%Y%m%d") for d in days(start, end)]
        else:
            args = [m.strftime("%Y%m") for m in months(start, end)]
        return [p for arg in args for p in self.fetch_series(dataset, service, arg)]

    def fetch_series(self, dataset: str, service: str, arg: str) -> list[RawPayload]:
        """All pages of one ``/{service}/{s}/{e}/{arg}`` series; raises on any error code."""
        first = self._get_page(service, 1, PAGE_SIZE, arg)
        envelope = read_envelope(first, service)
        pages = [first]
        for s, e in page_ranges(envelope.total)[1:]:
            content = self._get_page(service, s, e, arg)
            read_envelope(content, service)
            pages.append(content)
        return [
            RawPayload(SOURCE, dataset, f"{service}_{arg}_p{i}.json", content)
            for i, content in enumerate(pages, start=1)
        ]

    def parse(self, payload: RawPayload) -> pl.DataFrame:
        """One page -> frame with the target table's non-audit columns (counts still as text)."""
        service = _service(payload.dataset)
        rows = read_envelope(payload.content, service).rows
        if not rows:
            return pl.DataFrame(schema=_SCHEMAS[payload.dataset])
        frame = daily_frame(rows) if payload.dataset == DAILY else monthly_hourly_frame(rows)
        return frame.select(_SCHEMAS[payload.dataset].names())

    def _get_page(self, service: str, s: int, e: int, arg: str) -> bytes:
        if not self._key:
            raise FeedAuthError(
                "NO-KEY", "no Seoul Open API key configured: set SEOUL_DATA_API_KEY", service=service
            )
        url = f"{self.base_url}/{quote(self._key, safe='')}/json/{service}/{s}/{e}/{arg}"
        response = get_with_retries(
            self._client,
            url,
            retries=self.retries,
            redact=[self._key],
            wait_base_s=self.wait_base_s,
            sleep=self._sleep,
            service=service,
        )
        return response.content


def _service(dataset: str) -> str:
    try:
        return SERVICES[dataset]
    except KeyError:
        raise ValueError(f"seoul_api cannot fill {dataset!r}; datasets: {sorted(SERVICES)}") from None
