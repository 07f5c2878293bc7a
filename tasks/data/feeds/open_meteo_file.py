"""Open-Meteo daily weather for Seoul (``seoul.json``): a reanalysis, NOT a KMA observation.

Why it is here at all: KMA hourly observations could be obtained for 2023 only and KMA daily ones for
2022 only (``shared/data/SOURCES.md`` §2, §9), but the history reaches back to 2020.  The Open-Meteo
Historical Weather API (ERA5-based reanalysis, CC BY 4.0) gives one consistent daily series for
2016-2025 at the city-centre point 37.5665 N, 126.978 E; a collector saved it as ``seoul.json``.
It is labelled everywhere as provider ``open_meteo`` so no one mistakes it for KMA data.

Layout: ``{"source": "open-meteo", "lat", "lon", "daily": [{"date", "temp": {"max", "min", "avg"},
"humidity", "precipitation_mm", "weather": {"code", "label"}, ...}]}``.  Anything else is a
``FeedFormatError``.  ``weather.code`` is the WMO weather-interpretation code Open-Meteo reports.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from tasks.data.feeds.base import FeedFormatError

OPEN_METEO_PROVIDER = "open_meteo"


def parse_open_meteo_daily_bytes(content: bytes, filename: str = "seoul.json") -> pl.DataFrame:
    """weather_daily's non-audit columns (provider ``open_meteo``) from an Open-Meteo daily JSON."""
    try:
        doc: Any = json.loads(content)
        if doc.get("source") != "open-meteo":
            raise FeedFormatError(f"{filename}: source is {doc.get('source')!r}, not 'open-meteo'")
        records = [
            {
                "date": day["date"],
                "temp_mean_c": day["temp"]["avg"],
                "temp_min_c": day["temp"]["min"],
                "temp_max_c": day["temp"]["max"],
                "precip_mm": day["precipitation_mm"],
                "humidity_pct": day["humidity"],
                "weather_code": (day.get("weather") or {}).get("code"),
            }
            for day in doc["daily"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FeedFormatError(f"{filename}: not an Open-Meteo daily file ({exc!r})") from exc
    schema = {
        "date": pl.String,
        "temp_mean_c": pl.Float64,
        "temp_min_c": pl.Float64,
        "temp_max_c": pl.Float64,
        "precip_mm": pl.Float64,
        "humidity_pct": pl.Float64,
        "weather_code": pl.Int16,
    }
    frame = pl.DataFrame(records, schema=schema, orient="row")
    return frame.select(
        pl.lit(OPEN_METEO_PROVIDER).alias("provider"),
        pl.col("date").str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        pl.exclude("date"),
    )
