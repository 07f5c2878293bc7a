"""SnapshotFeed replays the shipped snapshot with publication lags; the snapshot matches its manifest."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from tasks.core.schema import TABLES
from tasks.data.feeds.base import FeedFormatError, RawPayload
from tasks.data.feeds.snapshot import (
    PARQUET_MEDIA_TYPE,
    PROVIDER_LAG_DAYS,
    PUBLICATION_LAG_DAYS,
    SnapshotFeed,
)
from tests.support.paths import REPO

SNAPSHOT = REPO / "data" / "snapshot"
RAW = REPO.parent / "shared" / "data" / "raw"
WIDE = (date(2000, 1, 1), date(2030, 12, 31))


def _value_schema(dataset: str) -> dict[str, pl.DataType]:
    table = TABLES[dataset]
    return {c: t for c, t in table.columns.items() if c not in table.audit_columns}


def test_lags_are_the_documented_ones() -> None:
    assert PUBLICATION_LAG_DAYS == {
        "ridership_daily": 3,
        "ridership_hourly": 3,
        "weather_hourly": 1,
        "weather_daily": 1,
    }
    assert PROVIDER_LAG_DAYS == {"kma_asos": 1, "open_meteo": 5}


def test_as_of_hides_what_is_not_published_yet() -> None:
    feed = SnapshotFeed(SNAPSHOT, as_of=date(2023, 3, 10))
    assert feed.latest_visible_date("ridership_hourly") == date(2023, 3, 7)
    assert feed.latest_visible_date("ridership_daily") == date(2023, 3, 7)
    assert feed.latest_visible_date("weather_hourly") == date(2023, 3, 9)

    hourly = feed.fetch("ridership_hourly", date(2023, 1, 1), WIDE[1])
    assert [p.name for p in hourly] == [
        "ridership_hourly_2023-01-01_2023-01-31.parquet",
        "ridership_hourly_2023-02-01_2023-02-28.parquet",
        "ridership_hourly_2023-03-01_2023-03-07.parquet",
    ]
    assert max(feed.parse(p)["date"].max() for p in hourly) == date(2023, 3, 7)  # type: ignore[type-var]

    (weather,) = feed.fetch("weather_hourly", *WIDE)
    assert weather.name == "weather_hourly_2023-01-01_2023-03-09.parquet"
    assert feed.parse(weather)["ts"].max() == datetime(2023, 3, 9, 23)

    (daily,) = feed.fetch("ridership_daily", *WIDE)
    assert feed.parse(daily)["date"].max() == date(2023, 3, 7)


def test_window_inside_the_visible_range() -> None:
    feed = SnapshotFeed(SNAPSHOT, as_of=date(2023, 3, 10))
    (payload,) = feed.fetch("ridership_hourly", date(2023, 1, 1), date(2023, 1, 1))
    frame = feed.parse(payload)
    assert frame["date"].unique().to_list() == [date(2023, 1, 1)]
    seongsu = frame.filter(pl.col("station_code") == 211, pl.col("direction") == "board", pl.col("hour") == 5)
    assert seongsu["count"].item() == 152
    assert feed.fetch("ridership_hourly", date(2023, 3, 8), date(2023, 3, 31)) == []


def test_nothing_published_yet() -> None:
    feed = SnapshotFeed(SNAPSHOT, as_of=date(2020, 1, 2))
    assert feed.latest_visible_date("ridership_hourly") is None
    assert feed.fetch("ridership_hourly", *WIDE) == []
    assert feed.latest_visible_date("weather_hourly") is None  # hourly KMA weather starts in 2023


def test_daily_weather_follows_each_providers_lag() -> None:
    feed = SnapshotFeed(SNAPSHOT, as_of=date(2022, 6, 10))
    (payload,) = feed.fetch("weather_daily", date(2022, 6, 1), WIDE[1])
    newest = dict(feed.parse(payload).group_by("provider").agg(pl.col("date").max()).iter_rows())
    assert newest == {"kma_asos": date(2022, 6, 9), "open_meteo": date(2022, 6, 5)}
    everything = SnapshotFeed(SNAPSHOT).fetch("weather_daily", *WIDE)
    frame = pl.concat([feed.parse(p) for p in everything])
    assert frame.filter(pl.col("provider") == "kma_asos")["date"].dt.year().unique().to_list() == [2022]
    assert frame.filter(pl.col("provider") == "open_meteo")["date"].min() == date(2016, 1, 1)


def test_history_keeps_the_merged_late_band_as_published() -> None:
    """2020-2022: one band from 23:00 (hour 23, span 2) and no hour 24; 2023: two one-hour bands."""
    feed = SnapshotFeed(SNAPSHOT)
    days = {date(2022, 5, 2): {23: 2}, date(2023, 5, 1): {23: 1, 24: 1}}
    for day, late in days.items():
        (payload,) = feed.fetch("ridership_hourly", day, day)
        seongsu = feed.parse(payload).filter(pl.col("station_code") == 211, pl.col("direction") == "board")
        assert dict(seongsu.filter(pl.col("hour") >= 23).select("hour", "span_hours").iter_rows()) == late
        assert seongsu["hour"].min() == 5 and seongsu.height == 18 + len(late)


def test_as_of_none_serves_everything() -> None:
    feed = SnapshotFeed(SNAPSHOT, as_of=None)
    assert feed.coverage("ridership_hourly") == (date(2020, 1, 1), date(2023, 6, 30))
    assert feed.coverage("weather_hourly") == (date(2023, 1, 1), date(2023, 12, 31))
    assert feed.coverage("ridership_daily") == (date(2022, 11, 29), date(2023, 6, 30))
    assert feed.latest_visible_date("ridership_hourly") == date(2023, 6, 30)
    assert len(feed.fetch("ridership_hourly", date(2023, 1, 1), WIDE[1])) == 6
    (stations,) = feed.fetch("stations", *WIDE)
    assert feed.parse(stations).filter(pl.col("station_code") == 211)["name_en"].item() == "Seongsu"


@pytest.mark.parametrize(
    "dataset", ["stations", "ridership_hourly", "ridership_daily", "weather_hourly", "weather_daily"]
)
def test_payload_round_trip(dataset: str) -> None:
    feed = SnapshotFeed(SNAPSHOT, as_of=date(2023, 2, 15))
    payloads = feed.fetch(dataset, date(2023, 2, 1), date(2023, 2, 28))
    assert payloads
    for payload in payloads:
        assert payload.source == "snapshot"
        assert payload.dataset == dataset
        assert payload.media_type == PARQUET_MEDIA_TYPE
        assert payload.name.endswith(".parquet")
        raw = pl.read_parquet(io.BytesIO(payload.content))  # the archived bytes are plain parquet
        parsed = feed.parse(payload)
        assert dict(parsed.schema) == _value_schema(dataset)
        assert parsed.equals(raw.select(list(_value_schema(dataset))))
    if dataset == "ridership_hourly":
        (payload,) = payloads
        direct = pl.read_parquet(SNAPSHOT / "ridership_hourly.parquet").filter(
            pl.col("date").is_between(date(2023, 2, 1), date(2023, 2, 12))
        )
        assert feed.parse(payload).equals(direct)


def test_parse_rejects_garbage() -> None:
    feed = SnapshotFeed(SNAPSHOT)
    with pytest.raises(FeedFormatError):
        feed.parse(RawPayload("snapshot", "weather_hourly", "x.parquet", b"not parquet", PARQUET_MEDIA_TYPE))


def test_daily_card_file_wins_over_crawled_series() -> None:
    daily = pl.read_parquet(SNAPSHOT / "ridership_daily.parquet")
    seongsu = daily.filter(pl.col("station_name") == "성수", pl.col("line") == "2호선")
    jan2 = seongsu.filter(pl.col("date") == date(2023, 1, 2)).row(0, named=True)
    assert (jan2["boardings"], jan2["alightings"], jan2["registered_on"]) == (39658, 42521, date(2023, 1, 5))
    assert seongsu.filter(pl.col("date") > date(2023, 1, 31)).height > 100  # from the crawled series
    assert daily.select(pl.struct("date", "line", "station_name").is_duplicated().any()).item() is False


def test_manifest_matches_the_files() -> None:
    manifest = json.loads((SNAPSHOT / "manifest.json").read_text("utf-8"))
    assert set(manifest["files"]) == {f"{d}.parquet" for d in SnapshotFeed(SNAPSHOT).datasets()}
    for name, info in manifest["files"].items():
        content = (SNAPSHOT / name).read_bytes()
        assert hashlib.sha256(content).hexdigest() == info["sha256"], name
        assert len(content) == info["bytes"]
        assert pl.scan_parquet(SNAPSHOT / name).select(pl.len()).collect().item() == info["rows"]
        for source in info["sources"]:
            assert source in manifest["raw_sources"]
    # every station-day-direction row of the publisher's files x its bands (19 until 2022, then 20)
    assert manifest["files"]["ridership_hourly.parquet"]["rows"] == 593_913 * 19 + 98_776 * 20
    total = sum(p.stat().st_size for p in SNAPSHOT.iterdir())
    assert total < 20_000_000


@pytest.mark.slow
@pytest.mark.skipif(not RAW.is_dir(), reason="shared/data/raw not present")
def test_build_is_reproducible(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_snapshot
    finally:
        sys.path.remove(str(REPO / "scripts"))
    manifest = build_snapshot.build(RAW, tmp_path)
    shipped = json.loads((SNAPSHOT / "manifest.json").read_text("utf-8"))
    assert manifest == shipped
    for name in shipped["files"]:
        assert (tmp_path / name).read_bytes() == (SNAPSHOT / name).read_bytes()
