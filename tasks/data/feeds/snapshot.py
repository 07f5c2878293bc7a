"""Replay the shipped real-data snapshot as if it were being published day by day.

Why: the pipeline (ingest -> validate -> train -> forecast -> monitor) has to run end to end without
API keys, in CI and on a laptop, on *real* data, and it has to be testable as of any day: "what did we
know on 2023-03-10?".  ``SnapshotFeed`` serves the parquet files written by
``scripts/build_snapshot.py`` (``data/snapshot/``) through the same ``Feed`` contract as the live
feeds, and hides what would not yet have been published on the simulated date ``as_of``.

Visibility rule: data for day ``d`` is visible when ``as_of >= d + PUBLICATION_LAG_DAYS[dataset]``,
so the latest visible day is ``as_of - lag``.  ``as_of=None`` serves everything in the snapshot.

Payloads are the parquet bytes of the served slice (so the raw zone archives exactly what was
served); ``ridership_hourly`` is cut into one payload per calendar month so a long backfill can show
progress.  A window with nothing visible yields no payload.  ``stations`` is not dated: it is served
whole, and its coverage / latest visible date are those of ``ridership_hourly``, the files it comes
from.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from tasks.core.constants import PUBLICATION_LAG_DAYS as RIDERSHIP_LAG_DAYS
from tasks.core.schema import TABLES
from tasks.data.feeds.base import FeedFormatError, RawPayload

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"

PUBLICATION_LAG_DAYS: dict[str, int] = {
    # Seoul's card-based daily counts (OA-12914 / CardSubwayStatsNew) are registered three days
    # after the day of use: 등록일자 = 사용일자 + 3 on every row of CARD_SUBWAY_MONTH_202301.csv.
    "ridership_daily": RIDERSHIP_LAG_DAYS,
    # Seoul Metro's hourly per-station counts really appear as monthly/yearly files, weeks later.
    # The replay deliberately uses the card-based daily lag for them too, so a simulated day sees
    # hourly data as recent as the daily totals: an optimistic simplification (the project's
    # choice, not a publisher promise) that keeps the daily forecast loop meaningful.
    "ridership_hourly": RIDERSHIP_LAG_DAYS,
    # KMA ASOS hourly observations: the data portal / ASOS hourly API serve observations up to the
    # previous day (전날 자료까지), so day d is complete on d+1.
    "weather_hourly": 1,
    # Daily weather: the fastest of its providers (KMA daily, next day); each provider's own lag is
    # applied row by row (PROVIDER_LAG_DAYS).
    "weather_daily": 1,
}
"""Days between the day of use/observation and the day the publisher makes it available."""

PROVIDER_LAG_DAYS: dict[str, int] = {
    # KMA ASOS daily statistics: like the hourly observations, served up to the previous day.
    "kma_asos": 1,
    # Open-Meteo's historical (ERA5-based reanalysis) archive trails real time by about five days.
    "open_meteo": 5,
}
"""Per-provider lags of ``weather_daily`` (a row of day d is visible on ``as_of >= d + lag``)."""

DATASETS = ("stations", "ridership_hourly", "ridership_daily", "weather_hourly", "weather_daily")
_DATE_COLUMN = {
    "ridership_hourly": "date",
    "ridership_daily": "date",
    "weather_hourly": "ts",
    "weather_daily": "date",
}
_MONTHLY = ("ridership_hourly",)


def _value_columns(dataset: str) -> dict[str, pl.DataType]:
    table = TABLES[dataset]
    return {c: t for c, t in table.columns.items() if c not in table.audit_columns}


def _month_chunks(start: date, end: date) -> list[tuple[date, date]]:
    chunks, cur = [], start
    while cur <= end:
        next_month = (cur.replace(day=1) + timedelta(days=32)).replace(day=1)
        chunk_end = min(end, next_month - timedelta(days=1))
        chunks.append((cur, chunk_end))
        cur = next_month
    return chunks


class SnapshotFeed:
    """The snapshot's tables as a Feed, as published on ``as_of`` (None: everything)."""

    source = "snapshot"

    def __init__(self, snapshot_dir: Path | str, as_of: date | None = None) -> None:
        self.snapshot_dir = Path(snapshot_dir)
        self.as_of = as_of
        self._coverage: dict[str, tuple[date, date]] = {}

    def datasets(self) -> tuple[str, ...]:
        return DATASETS

    # -- what exists / what is visible -----------------------------------------------------------

    def _path(self, dataset: str) -> Path:
        if dataset not in DATASETS:
            raise ValueError(f"SnapshotFeed serves {DATASETS}, not {dataset!r}")
        path = self.snapshot_dir / f"{dataset}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"snapshot file missing: {path} (run scripts/build_snapshot.py)")
        return path

    def _dated(self, dataset: str) -> str:
        """The dataset whose dates govern ``dataset`` (stations follow ridership_hourly)."""
        self._path(dataset)
        return "ridership_hourly" if dataset == "stations" else dataset

    def coverage(self, dataset: str) -> tuple[date, date]:
        """First and last day in the snapshot, regardless of ``as_of``."""
        dated = self._dated(dataset)
        if dated not in self._coverage:
            day = pl.col(_DATE_COLUMN[dated]).cast(pl.Date)
            row = pl.scan_parquet(self._path(dated)).select(day.min().alias("lo"), day.max().alias("hi"))
            lo, hi = row.collect().row(0)
            if lo is None or hi is None:
                raise FeedFormatError(f"{dated}.parquet is empty")
            self._coverage[dated] = (lo, hi)
        return self._coverage[dated]

    def latest_visible_date(self, dataset: str) -> date | None:
        """Last day published by ``as_of`` (None when nothing in the snapshot is published yet)."""
        dated = self._dated(dataset)
        lo, hi = self.coverage(dated)
        if self.as_of is None:
            return hi
        latest = min(hi, self.as_of - timedelta(days=PUBLICATION_LAG_DAYS[dated]))
        return latest if latest >= lo else None

    # -- Feed ------------------------------------------------------------------------------------

    def fetch(self, dataset: str, start: date, end: date) -> list[RawPayload]:
        """Parquet payloads of the visible part of [start, end]; one per month for ridership_hourly."""
        path = self._path(dataset)
        if dataset == "stations":
            frame = pl.read_parquet(path)
            return [self._payload(dataset, f"{dataset}.parquet", frame)]
        lo, _ = self.coverage(dataset)
        latest = self.latest_visible_date(dataset)
        if latest is None:
            return []
        start, end = max(start, lo), min(end, latest)
        if start > end:
            return []
        chunks = _month_chunks(start, end) if dataset in _MONTHLY else [(start, end)]
        day = pl.col(_DATE_COLUMN[dataset]).cast(pl.Date)
        payloads = []
        for chunk_start, chunk_end in chunks:
            scan = pl.scan_parquet(path).filter(day.is_between(chunk_start, chunk_end))
            frame = self._published(dataset, scan).collect()
            if frame.is_empty():
                continue
            payloads.append(self._payload(dataset, f"{dataset}_{chunk_start}_{chunk_end}.parquet", frame))
        return payloads

    def _published(self, dataset: str, scan: pl.LazyFrame) -> pl.LazyFrame:
        """Rows whose provider had published them by ``as_of`` (per-provider lags, weather_daily)."""
        if dataset != "weather_daily" or self.as_of is None:
            return scan
        lag = pl.col("provider").replace_strict(PROVIDER_LAG_DAYS, return_dtype=pl.Int32)
        return scan.filter(pl.col("date") <= pl.lit(self.as_of) - pl.duration(days=lag))

    def _payload(self, dataset: str, name: str, frame: pl.DataFrame) -> RawPayload:
        buf = io.BytesIO()
        frame.write_parquet(buf, compression="zstd", statistics=True)
        return RawPayload(self.source, dataset, name, buf.getvalue(), PARQUET_MEDIA_TYPE)

    def parse(self, payload: RawPayload) -> pl.DataFrame:
        """The payload's rows with the table's non-audit columns and dtypes."""
        if payload.dataset not in DATASETS:
            raise ValueError(f"SnapshotFeed cannot parse dataset {payload.dataset!r}")
        try:
            frame = pl.read_parquet(io.BytesIO(payload.content))
        except Exception as exc:  # polars/arrow raise various types for corrupt parquet
            raise FeedFormatError(f"{payload.name}: not a readable parquet file ({exc})") from exc
        columns = _value_columns(payload.dataset)
        defaults = TABLES[payload.dataset].default_values  # payloads archived before a column existed
        missing = [c for c in columns if c not in frame.columns and c not in defaults]
        if missing:
            raise FeedFormatError(f"{payload.name}: missing column(s) {missing}")
        return frame.select(
            [
                (pl.col(c) if c in frame.columns else pl.lit(defaults[c])).cast(t).alias(c)
                for c, t in columns.items()
            ]
        )
