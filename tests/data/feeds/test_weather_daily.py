"""Daily weather of the older years: KMA daily CSV and the Open-Meteo reanalysis (NOT KMA), real rows.

Fixtures (cut by tests/fixtures/files/make_fixtures.py): the KMA portal's 2022 daily download (its
preamble, header and 5 days byte for byte) and 5 records of ``seoul.json``.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from tasks.core.schema import WEATHER_DAILY
from tasks.data.feeds.base import FeedFormatError
from tasks.data.feeds.kma_file import parse_kma_daily_bytes
from tasks.data.feeds.open_meteo_file import parse_open_meteo_daily_bytes
from tasks.data.validate import validate
from tests.support.paths import FILES

KMA = FILES / "kma_daily_2022_sample.csv"
OPEN_METEO = FILES / "open_meteo_seoul_sample.json"


def _day(frame: pl.DataFrame, day: date) -> dict[str, object]:
    return frame.filter(pl.col("date") == day).row(0, named=True)


def test_kma_daily_file_skips_its_preamble_and_reads_the_days() -> None:
    frame = parse_kma_daily_bytes(KMA.read_bytes(), KMA.name)
    assert frame.columns == list(WEATHER_DAILY.data_columns)
    assert frame.height == 5 and set(frame["provider"]) == {"kma_asos"}
    assert _day(frame, date(2022, 1, 1)) | {"provider": None} == {
        "provider": None,
        "date": date(2022, 1, 1),
        "temp_mean_c": -4.3,
        "temp_min_c": -10.2,
        "temp_max_c": 2.3,
        "precip_mm": 0.0,  # empty: no precipitation recorded
        "humidity_pct": None,
        "weather_code": None,
    }
    flood = _day(frame, date(2022, 8, 8))
    assert (flood["precip_mm"], flood["temp_min_c"]) == (129.6, None)  # a missing minimum stays missing


def test_open_meteo_file_is_labelled_as_such() -> None:
    frame = parse_open_meteo_daily_bytes(OPEN_METEO.read_bytes(), OPEN_METEO.name)
    assert frame.columns == list(WEATHER_DAILY.data_columns)
    assert set(frame["provider"]) == {"open_meteo"}
    first = _day(frame, date(2016, 1, 1))
    assert (first["temp_mean_c"], first["humidity_pct"], first["weather_code"]) == (0.5, 77.0, 3)


@pytest.mark.parametrize(
    ("content", "parser"),
    [
        (b'{"source": "kma", "daily": []}', parse_open_meteo_daily_bytes),
        (b'{"source": "open-meteo", "daily": [{"date": "2020-01-01"}]}', parse_open_meteo_daily_bytes),
        (b"not json", parse_open_meteo_daily_bytes),
        ("지점,일시,기온\n108,2022-01-01,1\n".encode(), parse_kma_daily_bytes),
    ],
)
def test_unreadable_files_fail_clearly(content: bytes, parser: object) -> None:
    with pytest.raises(FeedFormatError):
        parser(content, "bad")  # type: ignore[operator]


def test_both_providers_validate_and_keep_their_own_rows() -> None:
    frame = pl.concat(
        [
            parse_kma_daily_bytes(KMA.read_bytes(), KMA.name),
            parse_open_meteo_daily_bytes(OPEN_METEO.read_bytes(), OPEN_METEO.name),
        ]
    )
    result = validate(frame, WEATHER_DAILY, source="file", run_id="t", now=datetime(2026, 1, 1))
    assert result.quarantined.height == 0
    assert result.valid.filter(pl.col("date") == date(2022, 8, 8)).height == 2  # one row per provider
