"""Ingest end to end on real data: snapshot replay, publisher files, corrupted inputs, idempotency."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import polars as pl
import pytest
import respx
from pydantic import SecretStr

from tasks.core.schema import (
    INGEST_RUNS,
    QUARANTINE,
    RIDERSHIP_DAILY,
    RIDERSHIP_HOURLY,
    STATIONS,
    TABLES,
)
from tasks.core.settings import REPO_ROOT
from tasks.data.feeds.base import FeedError, FeedFormatError
from tasks.data.feeds.metro_file import FileFeed
from tasks.data.feeds.seoul_api import SeoulOpenApiFeed
from tasks.data.feeds.snapshot import SnapshotFeed
from tasks.data.ingest import run_ingest
from tasks.data.raw_zone import LocalRawZone
from tasks.data.warehouse.base import Warehouse
from tests.support.paths import FILES

SNAPSHOT = REPO_ROOT / "data" / "snapshot"


def _fingerprint(wh: Warehouse, names: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in names:
        table = TABLES[name]
        frame = wh.read_table(table).drop(table.audit_columns).sort(table.primary_key)
        out[name] = hashlib.sha256(frame.write_csv().encode()).hexdigest()
    return out


def test_snapshot_replay_loads_what_was_published_and_reruns_change_nothing(
    wh: Warehouse, raw_zone: LocalRawZone
) -> None:
    feed = SnapshotFeed(SNAPSHOT, as_of=date(2023, 1, 20))
    first = run_ingest(feed, "ridership_hourly", date(2023, 1, 1), date(2023, 1, 31), wh, raw_zone)
    expected = (
        pl.scan_parquet(SNAPSHOT / "ridership_hourly.parquet")
        .filter(pl.col("date").is_between(date(2023, 1, 1), date(2023, 1, 17)))  # as_of - 3-day lag
        .collect()
        .height
    )
    assert first.rows_inserted == expected > 0
    assert first.data_max_date == date(2023, 1, 17)
    before = _fingerprint(wh, ("ridership_hourly", "quarantine"))
    second = run_ingest(feed, "ridership_hourly", date(2023, 1, 1), date(2023, 1, 31), wh, raw_zone)
    assert (second.rows_inserted, second.rows_updated, second.rows_quarantined) == (0, 0, 0)
    assert _fingerprint(wh, ("ridership_hourly", "quarantine")) == before
    runs = wh.read_table(INGEST_RUNS)
    assert runs.height == 2 and set(runs["status"]) == {"ok"}
    # the raw zone holds what was served, once (content-addressed)
    assert len(list((raw_zone.root).rglob("*.parquet"))) == first.payloads == second.payloads


def test_publisher_file_loads_bands_and_stations(wh: Warehouse, raw_zone: LocalRawZone) -> None:
    feed = FileFeed(FILES / "metro_202301_sample_cp949.csv")
    run_ingest(feed, "stations", date(2023, 1, 1), date(2023, 1, 2), wh, raw_zone)
    summary = run_ingest(feed, "ridership_hourly", date(2023, 1, 1), date(2023, 1, 2), wh, raw_zone)
    assert summary.rows_quarantined == 0 and summary.rows_inserted == 12 * 20
    seongsu = wh.read_table(RIDERSHIP_HOURLY, "station_code = %s and date = %s", [211, "2023-01-01"])
    daily = seongsu.group_by("direction").agg(pl.col("count").sum())
    totals = dict(daily.iter_rows())
    assert totals == {"board": 12778, "alight": 13719}  # the file's own 합 계 for 성수 on 2023-01-01
    stations = wh.read_table(STATIONS)
    assert stations.filter(pl.col("station_code") == 211)["station_name"].item() == "성수"


def _corrupt(tmp_path: Path, transform: Callable[[list[str]], list[str]]) -> Path:
    lines = (FILES / "metro_202301_sample_utf8.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "corrupt.csv"
    path.write_text("\n".join(transform(lines)) + "\n", encoding="utf-8")
    return path


def test_bad_header_fails_clearly_and_loads_nothing(
    wh: Warehouse, raw_zone: LocalRawZone, tmp_path: Path
) -> None:
    path = _corrupt(tmp_path, lambda ls: [ls[0].replace("07 ~ 08", "07 ~ 09"), *ls[1:]])
    with pytest.raises(FeedFormatError):
        run_ingest(FileFeed(path), "ridership_hourly", date(2023, 1, 1), date(2023, 1, 2), wh, raw_zone)
    assert wh.read_table(RIDERSHIP_HOURLY).is_empty()
    assert wh.read_table(STATIONS).is_empty()
    runs = wh.read_table(INGEST_RUNS)
    assert runs["status"].to_list() == ["failed"] and runs["message"][0]
    assert list(raw_zone.root.rglob("*corrupt.csv")), "the bad payload is archived for inspection"


def test_bad_values_are_quarantined_with_reasons_and_the_rest_loads(
    wh: Warehouse, raw_zone: LocalRawZone, tmp_path: Path
) -> None:
    def damage(lines: list[str]) -> list[str]:
        row1 = lines[1].split(",")
        row1[6] = "-145"  # negative count in band 06~07
        row2 = lines[2].split(",")
        row2[7] = "abc"  # text in band 07~08
        return [lines[0], ",".join(row1), ",".join(row2), *lines[3:]]

    path = _corrupt(tmp_path, damage)
    summary = run_ingest(FileFeed(path), "ridership_hourly", date(2023, 1, 1), date(2023, 1, 2), wh, raw_zone)
    q = wh.read_table(QUARANTINE)
    assert summary.rows_quarantined == q.height > 0
    reasons = " | ".join(q["reason"].to_list())
    assert "not a valid Int32 (abc)" in reasons
    assert "greater_than_or_equal_to(0)" in reasons
    assert "합계" in reasons  # the damaged rows' other bands no longer add up to the published total
    loaded = wh.read_table(RIDERSHIP_HOURLY)
    assert loaded.height + q.height == summary.rows_in == 12 * 20
    assert (loaded["count"] >= 0).all()
    # a second run of the same bad file changes nothing anywhere
    before = _fingerprint(wh, ("ridership_hourly", "quarantine"))
    run_ingest(FileFeed(path), "ridership_hourly", date(2023, 1, 1), date(2023, 1, 2), wh, raw_zone)
    assert _fingerprint(wh, ("ridership_hourly", "quarantine")) == before


@respx.mock
def test_garbage_api_payload_fails_and_loads_nothing(wh: Warehouse, raw_zone: LocalRawZone) -> None:
    respx.get(url__regex=r"http://openapi\.seoul\.go\.kr:8088/.*").mock(
        return_value=httpx.Response(200, text="<html>maintenance</html>")
    )
    feed = SeoulOpenApiFeed(SecretStr("k3y-not-real"), wait_base_s=0)
    with pytest.raises(FeedError) as info:
        run_ingest(feed, "ridership_daily", date(2024, 8, 30), date(2024, 8, 30), wh, raw_zone)
    assert "k3y-not-real" not in str(info.value)
    assert wh.read_table(RIDERSHIP_DAILY).is_empty()
    assert wh.read_table(INGEST_RUNS)["status"].to_list() == ["failed"]


def test_snapshot_ingest_across_the_layout_change_is_idempotent(
    wh: Warehouse, raw_zone: LocalRawZone
) -> None:
    """Two weeks around 2023-01-01: 19 bands a day before, 20 after; a re-run changes nothing.

    (The whole 13M-row snapshot is loaded by ``bench/ingest.py``, not by the test suite.)
    """
    feed = SnapshotFeed(SNAPSHOT)
    window = (date(2022, 12, 25), date(2023, 1, 7))
    datasets = ("stations", "ridership_hourly", "ridership_daily", "weather_hourly", "weather_daily")
    for dataset in datasets:
        run_ingest(feed, dataset, *window, wh, raw_zone)
    expected = pl.scan_parquet(SNAPSHOT / "ridership_hourly.parquet").filter(
        pl.col("date").is_between(*window)
    )
    loaded = wh.read_table(RIDERSHIP_HOURLY)
    assert loaded.height == expected.collect().height
    per_day = loaded.group_by("date", "station_code", "direction").len()
    bands = dict(per_day.group_by(pl.col("date").dt.year()).agg(pl.col("len").unique()).iter_rows())
    assert {year: sorted(v) for year, v in bands.items()} == {2022: [19], 2023: [20]}
    before = _fingerprint(wh, (*datasets, "quarantine"))
    for dataset in datasets:
        again = run_ingest(feed, dataset, *window, wh, raw_zone)
        assert (again.rows_inserted, again.rows_updated) == (0, 0)
    assert _fingerprint(wh, (*datasets, "quarantine")) == before


def test_may_2022_publisher_file_loads_with_its_single_late_band(
    wh: Warehouse, raw_zone: LocalRawZone
) -> None:
    feed = FileFeed(FILES / "metro_202205_sample.xlsx")
    run_ingest(feed, "stations", date(2022, 5, 1), date(2022, 5, 2), wh, raw_zone)
    summary = run_ingest(feed, "ridership_hourly", date(2022, 5, 1), date(2022, 5, 2), wh, raw_zone)
    assert (summary.rows_inserted, summary.rows_quarantined) == (12 * 19, 0)
    late = wh.read_table(RIDERSHIP_HOURLY, "hour >= %s", [23])
    assert late.height == 12 and set(late["hour"]) == {23} and set(late["span_hours"]) == {2}
    assert set(wh.read_table(STATIONS)["line"]) == {"1호선", "2호선"}


def test_merged_band_rules_quarantine_what_contradicts_them(wh: Warehouse, raw_zone: LocalRawZone) -> None:
    """Only hour 23 may span two hours, and a day with the merged band cannot also have hour 24."""
    hourly = FileFeed(FILES / "metro_202205_sample.xlsx").parse(
        FileFeed(FILES / "metro_202205_sample.xlsx").fetch(
            "ridership_hourly", date(2022, 5, 1), date(2022, 5, 1)
        )[0]
    )
    seongsu = (
        (pl.col("station_code") == 211)
        & (pl.col("direction") == "board")
        & (pl.col("date") == date(2022, 5, 1))
    )
    bad = pl.concat(
        [
            hourly.with_columns(  # 22:00-23:00 claimed to span two hours
                span_hours=pl.when(seongsu & (pl.col("hour") == 22))
                .then(2)
                .otherwise("span_hours")
                .cast(pl.Int16)
            ),
            hourly.filter(seongsu, pl.col("hour") == 22).with_columns(
                hour=pl.lit(24, pl.Int16), span_hours=pl.lit(1, pl.Int16)
            ),
        ]
    )

    class OneFrame(FileFeed):
        def parse(self, payload: object) -> pl.DataFrame:
            return bad

    summary = run_ingest(
        OneFrame(FILES / "metro_202205_sample.xlsx"),
        "ridership_hourly",
        date(2022, 5, 1),
        date(2022, 5, 2),
        wh,
        raw_zone,
    )
    reasons = wh.read_table(QUARANTINE)["reason"].to_list()
    assert summary.rows_quarantined == 3 == len(reasons)  # the 22 row, the 24 row and the 23 it overlaps
    assert sum("only the 23시 이후 band" in r for r in reasons) == 1
    assert sum("already covers it" in r for r in reasons) == 2
    assert summary.rows_inserted == 12 * 19 - 2
