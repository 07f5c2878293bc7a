"""KMA ASOS hourly CSV parser, on 25 real hours of station 108 cut from the 2023 portal download."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from tasks.core.schema import WEATHER_HOURLY
from tasks.data.feeds.base import FeedFormatError
from tasks.data.feeds.kma_file import KmaFileFeed, parse_asos_bytes
from tests.support.paths import FILES

SAMPLE = FILES / "asos_108_sample.csv"


def _hour(frame: pl.DataFrame, ts: datetime) -> dict[str, object]:
    return frame.filter(pl.col("ts") == ts).row(0, named=True)


def test_parse_real_hours() -> None:
    weather = parse_asos_bytes(SAMPLE.read_bytes(), SAMPLE.name)
    expected = [c for c in WEATHER_HOURLY.columns if c not in WEATHER_HOURLY.audit_columns]
    assert weather.columns == expected
    assert weather.schema["ts"] == pl.Datetime("us")
    assert weather.schema["station_id"] == pl.Int32()
    assert weather.height == 25
    first = _hour(weather, datetime(2023, 1, 1, 0))
    assert first == {
        "station_id": 108,
        "ts": datetime(2023, 1, 1, 0),
        "temp_c": 0.9,  # published as ".9"
        "precip_mm": 0.0,  # empty: no precipitation
        "wind_ms": 1.4,
        "humidity_pct": 72.0,
        "snow_cm": 0.0,  # empty: no snow cover
        "cloud_tenths": 9.0,
    }
    snowy = _hour(weather, datetime(2023, 1, 7, 0))
    assert snowy["precip_mm"] == 2.9
    assert snowy["snow_cm"] == 3.6


def test_missing_wind_stays_null() -> None:
    weather = parse_asos_bytes(SAMPLE.read_bytes(), SAMPLE.name)
    no_wind = weather.filter(pl.col("ts").dt.date() == date(2023, 12, 10), pl.col("ts").dt.hour() >= 1)
    assert no_wind.height == 5
    assert no_wind["wind_ms"].null_count() == 5
    assert weather["precip_mm"].null_count() == 0


def test_cp949_and_bom_give_the_same_frame() -> None:
    text = SAMPLE.read_text("utf-8")
    reference = parse_asos_bytes(text.encode("utf-8"))
    assert parse_asos_bytes(text.encode("cp949")).equals(reference)
    assert parse_asos_bytes(b"\xef\xbb\xbf" + text.encode("utf-8")).equals(reference)


@pytest.mark.parametrize(
    ("old", "new"), [("일시,", "시각,"), ("기온(°C)", "온도(°C)"), ("전운량(10분위),", "")]
)
def test_bad_header_raises(old: str, new: str) -> None:
    lines = SAMPLE.read_text("utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace(old, new, 1)
    with pytest.raises(FeedFormatError, match="missing ASOS column"):
        parse_asos_bytes("".join(lines).encode("utf-8"), "bad.csv")


def test_unit_spelling_variant_is_accepted() -> None:
    text = SAMPLE.read_text("utf-8").replace("기온(°C)", "기온(℃)", 1)
    assert parse_asos_bytes(text.encode("utf-8"))["temp_c"][0] == 0.9


def test_feed(tmp_path: Path) -> None:
    path = tmp_path / SAMPLE.name
    path.write_bytes(SAMPLE.read_bytes())
    feed = KmaFileFeed(path)
    (payload,) = feed.fetch("weather_hourly", date(2023, 1, 1), date(2023, 1, 2))
    assert payload.content == SAMPLE.read_bytes()
    assert payload.source == "file"
    assert payload.media_type == "text/csv"
    assert feed.parse(payload).height == 25
    assert feed.datasets() == ("weather_hourly",)
    with pytest.raises(ValueError, match="KmaFileFeed serves weather_hourly"):
        feed.fetch("ridership_daily", date(2023, 1, 1), date(2023, 1, 2))
