"""Ingest refuses to corrupt quietly: strict counts, a reason on every quarantined row, station
renames and overwritten actuals reported (renames only with an explicit flag), oversized files
refused before they reach the raw zone.  Real publisher-format files, both warehouse backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks.core.schema import INGEST_RUNS, QUARANTINE, RIDERSHIP_HOURLY, STATIONS
from tasks.data.feeds.base import FeedFormatError, FeedUnavailableError, RawPayload
from tasks.data.feeds.metro_file import FileFeed
from tasks.data.ingest import run_ingest
from tasks.data.raw_zone import LocalRawZone
from tasks.data.validate import validate
from tasks.data.warehouse import open_warehouse
from tasks.data.warehouse.base import Warehouse, WarehouseUnavailable
from tasks.reports import summary_markdown
from tests.support.paths import FILES

DAY = (date(2023, 1, 1), date(2023, 1, 2))
COUNT_COLUMN = 6  # band 06~07 of the publisher's hourly file


def _edited(tmp_path: Path, edit: Callable[[list[list[str]]], None], name: str = "edited.csv") -> Path:
    rows = [
        line.split(",") for line in (FILES / "metro_202301_sample_utf8.csv").read_text("utf-8").splitlines()
    ]
    edit(rows)
    path = tmp_path / name
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("written", ["1e3", "12.5", "n/a", "0x10", "1_000"])
def test_a_count_that_is_not_an_integer_is_quarantined(
    wh: Warehouse, raw_zone: LocalRawZone, tmp_path: Path, written: str
) -> None:
    def edit(rows: list[list[str]]) -> None:
        rows[1][COUNT_COLUMN] = written

    summary = run_ingest(FileFeed(_edited(tmp_path, edit)), "ridership_hourly", *DAY, wh, raw_zone)
    q = wh.read_table(QUARANTINE)
    assert summary.rows_quarantined >= 1
    assert any(f"({written})" in r and "count" in r for r in q["reason"]), q["reason"].to_list()
    first = FILES / "metro_202301_sample_utf8.csv"
    station = int(first.read_text("utf-8").splitlines()[1].split(",")[2])
    where = "station_code = %s and hour = %s and direction = %s and date = %s"
    loaded = wh.read_table(RIDERSHIP_HOURLY, where, [station, 6, "board", DAY[0]])
    assert loaded.is_empty()  # not loaded as 1000 / 12 / anything


def test_spelled_out_integers_still_load() -> None:
    frame = pl.DataFrame(
        {
            "date": [date(2023, 1, 1)] * 3,
            "hour": [8, 9, 10],
            "station_code": [211, 211, 211],
            "direction": ["board"] * 3,
            "count": [" 1,234 ", "71.0", "5"],
        }
    )
    result = validate(frame, RIDERSHIP_HOURLY, source="test", run_id="r", now=datetime(2026, 1, 1))
    assert result.quarantined.is_empty()
    assert result.valid["count"].to_list() == [1234, 71, 5]


def test_every_quarantined_row_has_a_reason() -> None:
    """Nulls where a typed value is required (a date or a code the parser could not read)."""
    frame = pl.DataFrame(
        {
            "date": [None, date(2023, 1, 1), None],
            "hour": [8, 8, 8],
            "station_code": [211, None, None],
            "direction": ["board", "board", None],
            "count": ["5", "5", None],
        },
        schema_overrides={"date": pl.Date, "station_code": pl.Int32},
    )
    result = validate(frame, RIDERSHIP_HOURLY, source="test", run_id="r", now=datetime(2026, 1, 1))
    reasons = result.quarantined["reason"].to_list()
    assert len(reasons) == 3
    assert all(r and r.strip() for r in reasons), reasons
    assert "date" in reasons[0] and "station_code" in reasons[1]


def _rename(rows: list[list[str]]) -> None:
    for row in rows[1:]:
        if row[2] == "211":
            row[3] = "성수(TEST)"


def test_a_station_rename_needs_the_flag_and_is_reported(
    wh: Warehouse, raw_zone: LocalRawZone, tmp_path: Path
) -> None:
    run_ingest(FileFeed(FILES / "metro_202301_sample_utf8.csv"), "stations", *DAY, wh, raw_zone)
    renamed = FileFeed(_edited(tmp_path, _rename))

    refused = run_ingest(renamed, "stations", *DAY, wh, raw_zone)
    assert refused.rows_renamed == 0 and refused.rows_quarantined == 1
    assert wh.read_table(STATIONS, "station_code = %s", [211])["station_name"].item() == "성수"
    (reason,) = wh.read_table(QUARANTINE)["reason"].to_list()
    assert "성수" in reason and "성수(TEST)" in reason and "--allow-renames" in reason

    allowed = run_ingest(renamed, "stations", *DAY, wh, raw_zone, allow_renames=True)
    assert allowed.rows_renamed == 1
    assert wh.read_table(STATIONS, "station_code = %s", [211])["station_name"].item() == "성수(TEST)"
    assert "renamed" in allowed.message and "211" in allowed.message
    assert "renamed" in summary_markdown("t", [allowed], {})
    runs = wh.read_table(INGEST_RUNS).sort("finished_at")
    assert "renamed" in runs["message"][-1]


def test_overwritten_actuals_are_reported(wh: Warehouse, raw_zone: LocalRawZone, tmp_path: Path) -> None:
    run_ingest(FileFeed(FILES / "metro_202301_sample_utf8.csv"), "ridership_hourly", *DAY, wh, raw_zone)

    def bump(rows: list[list[str]]) -> None:  # one station-day-direction: 20 bands and the total
        bands = [int(v) + 1 for v in rows[1][5:25]]
        rows[1][5:25] = [str(v) for v in bands]
        rows[1][25] = str(sum(bands))

    summary = run_ingest(FileFeed(_edited(tmp_path, bump)), "ridership_hourly", *DAY, wh, raw_zone)
    assert summary.rows_updated == 20
    assert "overwrote 20 existing" in summary.message
    assert "overwrote 20 existing" in summary_markdown("t", [summary], {})


def test_the_raw_zone_refuses_an_oversized_payload(tmp_path: Path) -> None:
    zone = LocalRawZone(tmp_path / "raw", max_bytes=1000)
    payload = RawPayload("file", "ridership_hourly", "huge.csv", b"x" * 1001, "text/csv")
    with pytest.raises(FeedFormatError, match="1,001 bytes"):
        zone.archive(payload)
    assert not list((tmp_path / "raw").rglob("*huge*"))
    small = RawPayload("file", "ridership_hourly", "ok.csv", b"x" * 1000, "text/csv")
    assert zone.archive(small)


def test_an_oversized_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEONGSU_RAW_MAX_BYTES", "1000")
    from tasks.core.settings import get_settings
    from tasks.data.ingest import open_feed

    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(ValueError, match="5,000 bytes"):
        open_feed("file", get_settings(), path=path)


# --- a warehouse that goes away ---------------------------------------------------------------------


def _killing_upserts(wh: Warehouse, admin_url: str, times: int) -> list[int]:
    """Make the first ``times`` upserts lose their connection mid-transaction (the server
    terminates the backend, as a restart or a network cut would)."""
    import psycopg

    killed: list[int] = []
    real = wh.upsert

    def upsert(table: Any, frame: pl.DataFrame) -> Any:
        if len(killed) < times:
            pid = wh.read("select pg_backend_pid() as pid")["pid"][0]
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute("select pg_terminate_backend(%s)", [pid])
            killed.append(pid)
        return real(table, frame)

    wh.upsert = upsert  # type: ignore[method-assign]
    return killed


def test_a_dropped_connection_mid_load_is_retried(postgres_url: str, raw_zone: LocalRawZone) -> None:
    wh = open_warehouse(postgres_url)
    wh.migrate()
    killed = _killing_upserts(wh, postgres_url, times=1)
    summary = run_ingest(
        FileFeed(FILES / "metro_202301_sample_utf8.csv"), "ridership_hourly", *DAY, wh, raw_zone
    )
    assert killed and summary.status == "ok" and summary.rows_inserted == 12 * 20
    assert wh.read_table(RIDERSHIP_HOURLY).height == 12 * 20
    assert wh.read_table(INGEST_RUNS)["status"].to_list() == ["ok"]
    wh.close()


def test_a_warehouse_that_stays_away_is_one_line_and_a_failed_run(
    postgres_url: str, raw_zone: LocalRawZone
) -> None:
    wh = open_warehouse(postgres_url)
    wh.migrate()
    killed = _killing_upserts(wh, postgres_url, times=3)  # every attempt; back for the failure record
    with pytest.raises(WarehouseUnavailable) as info:
        run_ingest(FileFeed(FILES / "metro_202301_sample_utf8.csv"), "ridership_hourly", *DAY, wh, raw_zone)
    message = str(info.value)
    assert len(killed) == 3 and "\n" not in message and "lost the connection" in message
    assert wh.read_table(RIDERSHIP_HOURLY).is_empty()  # nothing half-written
    runs = wh.read_table(INGEST_RUNS)
    assert runs["status"].to_list() == ["failed"] and "lost the connection" in runs["message"][0]
    wh.close()


def test_an_unreachable_storage_is_retried_then_one_line(tmp_path: Path) -> None:
    import httpx

    from tasks.data.raw_zone import SupabaseRawZone

    calls: list[str] = []

    class Bucket:
        def upload(self, key: str, content: bytes, options: dict[str, str]) -> None:
            calls.append(key)
            if len(calls) < 3:
                raise httpx.ConnectError("[Errno 111] Connection refused")

    class Client:
        class storage:
            @staticmethod
            def from_(bucket: str) -> Bucket:
                return Bucket()

    payload = RawPayload("file", "ridership_hourly", "x.csv", b"a,b\n", "text/csv")
    assert SupabaseRawZone(Client(), "raw").archive(payload).startswith("supabase://raw/")
    assert len(calls) == 3  # two refusals, then it went through

    calls.clear()
    with pytest.raises(FeedUnavailableError) as info:
        SupabaseRawZone(Client(), "raw", attempts=2).archive(payload)
    assert len(calls) == 2 and "\n" not in str(info.value) and "unreachable" in str(info.value)
