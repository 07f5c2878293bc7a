"""One ingest, end to end: fetch -> archive raw -> parse -> validate -> load (one transaction).

Why this order: payloads reach the raw zone before any parsing, so a parser bug never loses data; all
payloads of a run are parsed and validated before the first row is written, and the writes happen in
one transaction, so a corrupted payload means a clear error and no partial load.  Every run, failed
or not, leaves a row in ``ingest_runs``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from tasks.core.schema import INGEST_RUNS, QUARANTINE, STATIONS, TABLES, conform
from tasks.core.settings import Settings
from tasks.data.feeds.base import Feed, FeedError
from tasks.data.raw_zone import RawZone, check_size, open_raw_zone
from tasks.data.validate import set_aside, validate
from tasks.data.warehouse.base import Warehouse, WarehouseError, WarehouseUnavailable, with_reconnects

Progress = Callable[[str, int, int], None]  # (step description, done, total)

SOURCES = ("snapshot", "api", "file")


@dataclass(frozen=True)
class IngestSummary:
    run_id: str
    dataset: str
    source: str
    status: str
    rows_in: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_quarantined: int = 0
    rows_renamed: int = 0
    data_min_date: date | None = None
    data_max_date: date | None = None
    payloads: int = 0
    raw_uris: tuple[str, ...] = field(default=())
    message: str = ""
    top_reasons: tuple[str, ...] = field(default=())

    @property
    def date_range(self) -> str:
        """``2023-01-01 .. 2023-06-30``, or what a table without dates (stations) holds."""
        if self.data_min_date is None:
            return "no dates (reference table)" if self.status == "ok" else "-"
        return f"{self.data_min_date} .. {self.data_max_date}"

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["raw_uris"] = list(self.raw_uris[:3]) + (["..."] if len(self.raw_uris) > 3 else [])
        return out


def open_feed(
    source: str, settings: Settings, *, as_of: date | None = None, path: Path | None = None
) -> Feed:
    """The feed behind a ``--source`` name."""
    if source == "snapshot":
        from tasks.data.feeds.snapshot import SnapshotFeed

        return SnapshotFeed(settings.snapshot_dir, as_of)
    if source == "file":
        if path is None:
            raise ValueError("--source file needs --path FILE (a Seoul Metro hourly xlsx/csv)")
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        check_size(path.name, path.stat().st_size, settings.raw_max_bytes, error=ValueError)
        from tasks.data.feeds.metro_file import FileFeed

        return FileFeed(path)
    if source == "api":
        raise ValueError("use open_api_feed(dataset, settings): the API source has one feed per publisher")
    raise ValueError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")


def open_api_feed(dataset: str, settings: Settings) -> Feed:
    if dataset in ("ridership_daily", "ridership_monthly_hourly"):
        from tasks.data.feeds.seoul_api import SeoulOpenApiFeed

        return SeoulOpenApiFeed.from_settings(settings)
    if dataset in ("weather_hourly", "weather_forecast"):
        from tasks.data.feeds.kma_api import KmaApiFeed

        return KmaApiFeed.from_settings(settings)
    raise ValueError(f"no live API publishes {dataset!r}")


def _date_column(frame: pl.DataFrame) -> pl.Series | None:
    for name in ("date", "ts", "month", "fcst_ts"):
        if name in frame.columns:
            col = frame[name]
            return col.dt.date() if col.dtype != pl.Date else col
    return None


def run_ingest(
    feed: Feed,
    dataset: str,
    start: date,
    end: date,
    warehouse: Warehouse,
    raw_zone: RawZone,
    *,
    progress: Progress | None = None,
    run_id: str | None = None,
    allow_renames: bool = False,
) -> IngestSummary:
    """Fetch, archive, parse, validate and load ``dataset`` for [start, end].

    Changes to data already loaded are reported in the summary's ``message`` (and so in
    ``ingest_runs`` and the run's artifact): overwritten actuals, and station renames -- which only
    load with ``allow_renames``; otherwise the renamed rows are quarantined and the old name stays.
    """
    table = TABLES[dataset]
    run_id = run_id or f"{dataset}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    started = datetime.now(UTC).replace(tzinfo=None)
    try:
        payloads = feed.fetch(dataset, start, end)
        uris = [raw_zone.archive(p) for p in payloads]
        frames = []
        for i, payload in enumerate(payloads, 1):
            frames.append(feed.parse(payload))
            if progress:
                progress(f"{dataset}: parsed {payload.name}", i, len(payloads))
    except FeedError as exc:
        _record_run(
            warehouse, IngestSummary(run_id, dataset, feed.source, status="failed", message=str(exc)), started
        )
        raise
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=table.polars_schema)
    now = datetime.now(UTC).replace(tzinfo=None)
    result = validate(frame, table, source=feed.source, run_id=run_id, now=now)
    renames = (
        _station_renames(warehouse, result.valid) if table is STATIONS else pl.Series([], dtype=pl.String)
    )
    if renames.len() and not allow_renames:
        result = set_aside(
            result,
            renames.is_not_null(),
            renames + " (a rename needs --allow-renames: check the publisher really renamed it)",
            source=feed.source,
            run_id=run_id,
            now=now,
        )
        renames = pl.Series([], dtype=pl.String)
    valid = result.valid.with_columns(pl.lit(feed.source).alias("source"), pl.lit(now).alias("ingested_at"))
    valid = conform(valid, table)

    def load() -> IngestSummary:
        with warehouse.transaction():
            loaded = warehouse.upsert(table, valid)
            if result.quarantined.height:
                warehouse.upsert(QUARANTINE, result.quarantined)
            dates = _date_column(result.valid)
            renamed = renames.drop_nulls()
            changes = (
                [f"renamed {renamed.len()} station(s): {'; '.join(renamed.head(5))}"] if renamed.len() else []
            )
            if loaded.updated and table is not STATIONS:
                changes.append(f"overwrote {loaded.updated:,} existing {dataset} rows with different values")
            summary = IngestSummary(
                run_id,
                dataset,
                feed.source,
                status="ok",
                rows_in=frame.height,
                rows_inserted=loaded.inserted,
                rows_updated=loaded.updated,
                rows_quarantined=result.quarantined.height,
                rows_renamed=renamed.len(),
                data_min_date=dates.min() if dates is not None and dates.len() else None,  # type: ignore[arg-type]
                data_max_date=dates.max() if dates is not None and dates.len() else None,  # type: ignore[arg-type]
                payloads=len(payloads),
                raw_uris=tuple(uris),
                top_reasons=tuple(str(r) for r in result.summary["top_reasons"]),  # type: ignore[attr-defined]
                message="; ".join(changes),
            )
            _record_run(warehouse, summary, started)
        return summary

    try:
        return with_reconnects(warehouse, load)
    except WarehouseUnavailable as exc:
        failed = IngestSummary(run_id, dataset, feed.source, status="failed", message=str(exc))
        with contextlib.suppress(WarehouseError):  # recorded if the warehouse is back, else only reported
            warehouse.reconnect()
            _record_run(warehouse, failed, started)
        raise


def _station_renames(warehouse: Warehouse, valid: pl.DataFrame) -> pl.Series:
    """Per row of a validated ``stations`` batch: "211 성수 -> 성수(TEST)" when it renames a stored
    station, else null."""
    stored = warehouse.read_table(STATIONS).select("station_code", pl.col("station_name").alias("__stored"))
    joined = valid.select("station_code", "station_name").join(stored, on="station_code", how="left")
    renamed = joined["__stored"].is_not_null() & (joined["__stored"] != joined["station_name"])
    text = pl.format("{} {} -> {}", joined["station_code"], joined["__stored"], joined["station_name"])
    return joined.select(pl.when(renamed).then(text).alias("rename"))["rename"]


def _record_run(warehouse: Warehouse, summary: IngestSummary, started: datetime) -> None:
    row = {
        "run_id": summary.run_id,
        "dataset": summary.dataset,
        "source": summary.source,
        "started_at": started,
        "finished_at": datetime.now(UTC).replace(tzinfo=None),
        "status": summary.status,
        "rows_in": summary.rows_in,
        "rows_inserted": summary.rows_inserted,
        "rows_updated": summary.rows_updated,
        "rows_quarantined": summary.rows_quarantined,
        "data_min_date": summary.data_min_date,
        "data_max_date": summary.data_max_date,
        "raw_uri": summary.raw_uris[0] if summary.raw_uris else None,
        "message": summary.message[:2000],
    }
    warehouse.upsert(INGEST_RUNS, conform(pl.DataFrame([row]), INGEST_RUNS))


def default_range(feed: Feed, dataset: str, start: date | None, end: date | None) -> tuple[date, date]:
    """Fill a missing start/end: the feed's whole coverage (snapshot) or the last week (live feeds)."""
    coverage = getattr(feed, "coverage", None)
    if coverage is not None and (start is None or end is None):
        lo, hi = coverage(dataset)
        latest = getattr(feed, "latest_visible_date", None)
        hi = min(hi, latest(dataset)) if latest is not None and latest(dataset) is not None else hi
        return start or lo, end or hi
    today = datetime.now(UTC).date()
    end = end or today - timedelta(days=1)
    return start or end - timedelta(days=6), end


# The progress callback of ``seongsu ingest`` travels in a ContextVar because Prefect task
# parameters must stay serialisable (``tasks.steps.ingest_dataset`` reads it).
PROGRESS: ContextVar[Progress | None] = ContextVar("seongsu_ingest_progress", default=None)


def ingest_configured(
    settings: Settings,
    source: str,
    dataset: str,
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    path: str | None = None,
    allow_renames: bool = False,
) -> IngestSummary:
    """One dataset from one source into the configured warehouse (the ``ingest-dataset`` step)."""
    from tasks.data.warehouse import warehouse_session

    if source == "api":
        feed = open_api_feed(dataset, settings)
    else:
        feed = open_feed(source, settings, as_of=as_of, path=Path(path) if path else None)
    lo, hi = default_range(feed, dataset, start, end)
    with warehouse_session(settings) as warehouse:
        return run_ingest(
            feed,
            dataset,
            lo,
            hi,
            warehouse,
            open_raw_zone(settings),
            progress=PROGRESS.get(),
            allow_renames=allow_renames,
        )
