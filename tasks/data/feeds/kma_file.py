"""KMA ASOS hourly observations as downloaded from the 기상자료개방포털 (data.kma.go.kr).

Why: the hourly model's weather covariates come from KMA's ASOS station 108 (Seoul).  The API gives
the same numbers, but history is most easily bootstrapped from the portal's CSV download
(``SURFACE_ASOS_108_HR_<years>.csv``): Korean headers with units in parentheses, CP949 as served
(UTF-8 once someone re-saves it), one row per station and hour.

Header matching uses the name before the unit (``기온(°C)`` -> ``기온``) so unit-spelling variants
(``°C``/``℃``, stray spaces) do not matter; a file missing any of the columns we load raises
``FeedFormatError``.  Columns we do not load (기압, 일조, 지중온도 ...) are ignored.

Values:

* ``ts`` is the portal's ``일시`` as a naive KST wall-clock ``pl.Datetime("us")``, unshifted.  (KMA
  labels an hourly observation with its observation time; accumulated elements such as 강수량 cover
  the hour *ending* at that label.  No shift is applied here so the number is exactly the portal's.)
* ``precip_mm``: an empty cell means no precipitation was recorded (the portal leaves the element
  empty on dry hours), so it becomes ``0.0``.  ``snow_cm`` (적설, snow depth) follows the same portal
  convention and an empty cell becomes ``0.0`` too.
* the other elements: empty means not observed (e.g. the anemometer's 37 missing hours in 2023) and
  stays null.  A cell that is not a number also becomes null: weather columns are nullable in the
  table, and a rejected weather value should not quarantine the whole hour.
"""

from __future__ import annotations

import re

import polars as pl

from tasks.data.feeds.base import FeedFormatError, RawPayload, WholeFileFeed
from tasks.data.feeds.metro_file import decode_publisher_text, read_publisher_csv

# weather_hourly column -> ASOS header (the part before the unit in parentheses)
COLUMNS: dict[str, str] = {
    "station_id": "지점",
    "ts": "일시",
    "temp_c": "기온",
    "precip_mm": "강수량",
    "wind_ms": "풍속",
    "humidity_pct": "습도",
    "snow_cm": "적설",
    "cloud_tenths": "전운량",
}
ZERO_WHEN_EMPTY = ("precip_mm", "snow_cm")
_UNIT = re.compile(r"\(.*\)$")
_TS_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M", "%Y/%m/%d %H:%M")


def _base_name(header: str) -> str:
    return _UNIT.sub("", header)


def parse_asos_bytes(content: bytes, filename: str = "asos.csv") -> pl.DataFrame:
    """weather_hourly's non-audit columns from one ASOS hourly CSV (UTF-8, UTF-8-BOM or CP949)."""
    raw = read_publisher_csv(content, filename)
    by_base: dict[str, str] = {}
    for col in raw.columns:
        by_base.setdefault(_base_name(col), col)
    missing = [asos for asos in COLUMNS.values() if asos not in by_base]
    if missing:
        raise FeedFormatError(f"{filename}: missing ASOS column(s) {missing}; header was {raw.columns}")

    def text(name: str) -> pl.Expr:
        return pl.col(by_base[COLUMNS[name]]).str.strip_chars()

    ts_text = text("ts")
    ts = pl.coalesce([ts_text.str.strptime(pl.Datetime("us"), fmt, strict=False) for fmt in _TS_FORMATS])
    values = []
    for name in ("temp_c", "precip_mm", "wind_ms", "humidity_pct", "snow_cm", "cloud_tenths"):
        value = text(name).cast(pl.Float64, strict=False)
        if name in ZERO_WHEN_EMPTY:
            value = pl.when(text(name).fill_null("") == "").then(pl.lit(0.0)).otherwise(value)
        values.append(value.alias(name))
    return raw.select(
        text("station_id").cast(pl.Int32, strict=False).alias("station_id"),
        ts.alias("ts"),
        *values,
    )


class KmaFileFeed(WholeFileFeed):
    """An ASOS hourly CSV on disk as a Feed (dataset ``weather_hourly``); whole file, unfiltered."""

    served = ("weather_hourly",)

    def parse(self, payload: RawPayload) -> pl.DataFrame:
        return parse_asos_bytes(payload.content, payload.name)


# --------------------------------------------------------------------------------------------------
# KMA ASOS daily observations (the portal's daily CSV, e.g. kma-seoul108-daily-2022.csv)

# weather_daily column -> header of the portal's daily file (before the unit)
DAILY_COLUMNS: dict[str, str] = {
    "date": "날짜",
    "temp_mean_c": "평균기온",
    "temp_min_c": "최저기온",
    "temp_max_c": "최고기온",
    "precip_mm": "강수량",
}
DAILY_TEMPS = ("temp_mean_c", "temp_min_c", "temp_max_c")
KMA_DAILY_PROVIDER = "kma_asos"


def parse_kma_daily_bytes(
    content: bytes, filename: str = "kma_daily.csv", station_id: int = 108
) -> pl.DataFrame:
    """weather_daily's non-audit columns (provider ``kma_asos``) from the portal's daily CSV.

    The portal writes its search conditions above the table (7 lines in the 2022 download) and
    prefixes each date with a tab; the header row is the one that starts with ``날짜``.  An empty
    강수량 means no precipitation was recorded (the portal's convention, as in the hourly file): 0.0.
    Only ``station_id``'s rows are kept (a download can hold several stations).
    """
    lines = decode_publisher_text(content, filename).splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip('"').startswith("날짜")), None)
    if start is None:
        raise FeedFormatError(f"{filename}: no header row starting with 날짜 (not a KMA daily file)")
    raw = read_publisher_csv("\n".join(lines[start:]).encode("utf-8"), filename)
    by_base = {_base_name(c): c for c in raw.columns}
    missing = [h for h in (*DAILY_COLUMNS.values(), "지점") if h not in by_base]
    if missing:
        raise FeedFormatError(f"{filename}: missing KMA daily column(s) {missing}; header was {raw.columns}")

    def text(header: str) -> pl.Expr:
        return pl.col(by_base[header]).str.strip_chars()

    precip = text(DAILY_COLUMNS["precip_mm"])
    temps = [text(DAILY_COLUMNS[c]).cast(pl.Float64, strict=False).alias(c) for c in DAILY_TEMPS]
    return raw.filter(text("지점").cast(pl.Int32, strict=False) == station_id).select(
        pl.lit(KMA_DAILY_PROVIDER).alias("provider"),
        text(DAILY_COLUMNS["date"]).str.strptime(pl.Date, "%Y-%m-%d", strict=False).alias("date"),
        *temps,
        pl.when(precip.fill_null("") == "")
        .then(0.0)
        .otherwise(precip.cast(pl.Float64, strict=False))
        .alias("precip_mm"),
        pl.lit(None, dtype=pl.Float64).alias("humidity_pct"),
        pl.lit(None, dtype=pl.Int16).alias("weather_code"),
    )
