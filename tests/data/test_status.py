"""What the warehouse reports about itself: ``freshness`` (ingest artifacts) agrees with
``table_status`` (``seongsu db status``) on real snapshot rows, on both backends."""

from __future__ import annotations

from datetime import date

from tasks.data.feeds.snapshot import SnapshotFeed
from tasks.data.ingest import run_ingest
from tasks.data.raw_zone import LocalRawZone
from tasks.data.status import freshness, table_status
from tasks.data.warehouse.base import Warehouse
from tests.data.test_ingest import SNAPSHOT


def test_freshness_is_the_newest_date_db_status_reports(wh: Warehouse, raw_zone: LocalRawZone) -> None:
    assert freshness(wh) == dict.fromkeys(freshness(wh))  # migrated, empty: every table known, no dates
    feed = SnapshotFeed(SNAPSHOT, as_of=date(2023, 1, 20))
    run_ingest(feed, "ridership_hourly", date(2023, 1, 1), date(2023, 1, 31), wh, raw_zone)
    run_ingest(feed, "weather_hourly", date(2023, 1, 1), date(2023, 1, 31), wh, raw_zone)
    fresh = freshness(wh)
    status = table_status(wh)
    assert fresh["ridership_hourly"] == "2023-01-17"  # as_of - the 3-day publication lag
    assert fresh["weather_hourly"] == "2023-01-19 23:00:00"  # observed up to the issue date
    assert fresh == {name: status[name]["max"] for name in fresh}
    assert fresh["ridership_daily"] is None
