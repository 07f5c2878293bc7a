"""Seoul card-based daily CSV (OA-12914) parser, on real lines of CARD_SUBWAY_MONTH_202301.csv."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tasks.core.schema import RIDERSHIP_DAILY
from tasks.data.feeds.base import FeedFormatError
from tasks.data.feeds.card_file import CardFileFeed, parse_card_bytes
from tests.support.paths import FILES

SAMPLE = FILES / "card_202301_sample.csv"


def test_parse_real_lines() -> None:
    raw = SAMPLE.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, and every data line ends with an empty column
    daily = parse_card_bytes(raw, SAMPLE.name)
    expected = [c for c in RIDERSHIP_DAILY.columns if c not in RIDERSHIP_DAILY.audit_columns]
    assert daily.columns == expected
    assert daily.height == 12
    assert daily.schema["date"] == pl.Date()
    assert daily.schema["registered_on"] == pl.Date()
    seongsu = daily.filter(pl.col("station_name") == "성수", pl.col("date") == date(2023, 1, 2))
    assert seongsu.row(0, named=True) == {
        "date": date(2023, 1, 2),
        "line": "2호선",
        "station_name": "성수",
        "boardings": "39658",
        "alightings": "42521",
        "registered_on": date(2023, 1, 5),
    }
    # 건대입구 is on two lines: two keys
    assert daily.filter(pl.col("station_name") == "건대입구", pl.col("date") == date(2023, 1, 1)).height == 2


def test_cp949_gives_the_same_frame() -> None:
    text = SAMPLE.read_bytes().decode("utf-8-sig")
    assert parse_card_bytes(text.encode("cp949")).equals(parse_card_bytes(SAMPLE.read_bytes()))


def test_missing_column_raises() -> None:
    text = SAMPLE.read_text("utf-8-sig").replace('"승차총승객수"', '"승차인원"', 1)
    with pytest.raises(FeedFormatError, match="승차총승객수"):
        parse_card_bytes(text.encode("utf-8"), "bad.csv")


def test_registered_on_is_optional() -> None:
    frame = pl.read_csv(SAMPLE.read_bytes(), infer_schema=False, extra_columns="ignore").drop("등록일자")
    daily = parse_card_bytes(frame.write_csv().encode("utf-8"))
    assert daily["registered_on"].null_count() == daily.height


def test_bad_values_pass_through() -> None:
    text = SAMPLE.read_text("utf-8-sig").replace('"12685","13631"', '"-5","없음"', 1)
    daily = parse_card_bytes(text.encode("utf-8"))
    assert daily.height == 12
    row = daily.filter(pl.col("station_name") == "성수", pl.col("date") == date(2023, 1, 1))
    assert row["boardings"].item() == "-5"
    assert row["alightings"].item() == "없음"


def test_feed(tmp_path: Path) -> None:
    path = tmp_path / SAMPLE.name
    path.write_bytes(SAMPLE.read_bytes())
    feed = CardFileFeed(path)
    (payload,) = feed.fetch("ridership_daily", date(2023, 1, 1), date(2023, 1, 31))
    assert payload.dataset == "ridership_daily"
    assert payload.media_type == "text/csv"
    assert feed.parse(payload).height == 12
    assert feed.datasets() == ("ridership_daily",)
    with pytest.raises(ValueError, match="CardFileFeed serves ridership_daily"):
        feed.fetch("weather_hourly", date(2023, 1, 1), date(2023, 1, 31))
