"""Rebuild the shipped real-data snapshot (``data/snapshot/``) from the raw publisher files.

Why a script: the snapshot is what the project runs on without API keys (``SnapshotFeed`` replays it
day by day), so it must be reproducible from the raw files listed in ``shared/data/SOURCES.md`` with
the same parsers the live ingest uses, and checkable (``manifest.json`` records the sha256 of every
output and every input).  Running it twice on the same inputs with the same polars version gives
byte-identical parquet files.

Usage::

    uv run python scripts/build_snapshot.py [RAW_DIR] [--out data/snapshot]

RAW_DIR defaults to ``../shared/data/raw`` relative to the repository.

Outputs (zstd parquet, the warehouse table's non-audit columns and dtypes, sorted by primary key):

* ``ridership_hourly.parquet``: Seoul Metro hourly counts, all stations, 2020-01-01..2023-06-30, long
  (one row per date, hour band, station, direction): the 2020-2022 history table (19 bands, its
  ``23시이후`` = 23:00 onward stored as hour 23 with ``span_hours`` 2) and the six monthly workbooks
  2023-01..2023-06 (20 bands).  Every row's bands must add up to its published 합계 (19 or 20 bands).
  The build refuses bad values instead of quarantining them: the published files are clean, and a
  snapshot must be.
* ``stations.parquet``: every station code in those files, with its latest name.
* ``weather_hourly.parquet``: KMA ASOS station 108, every hour of 2023.
* ``weather_daily.parquet``: daily weather for the years without hourly KMA data: KMA ASOS 108 daily
  observations of 2022 (provider ``kma_asos``) and the Open-Meteo reanalysis 2016..2023 (provider
  ``open_meteo``, NOT a KMA product).
* ``ridership_daily.parquet``: the card-based daily totals of January 2023 (all operators) plus the
  성수 daily series of ``data_features_level2.csv`` (2022-11-29..2023-06-30, with gaps).  The latter
  was crawled from the same dataset's API (CardSubwayStatsNew), so on the keys both have (성수, Jan
  2023) the card file, the primary publication, wins; the series only fills the dates the card file
  does not cover.  Its ``registered_on`` is the crawler's ``created_at`` date (KST), i.e. when the
  author fetched it, not the portal's registration date.
* ``manifest.json``: per output file rows, bytes, sha256, date range and the raw inputs used; per raw
  input its sha256 and size.

Compactness: files are written by pyarrow (zstd 19, dictionary-encoded keys); the hourly counts use
the BYTE_STREAM_SPLIT encoding, which compresses them ~20 % better than plain.  Rows are sorted by
date first, so a month's rows sit in one or two row groups and the replay reads only those.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # allow `python scripts/build_snapshot.py` without installing
    sys.path.insert(0, str(REPO_ROOT))

from tasks.core.schema import (  # noqa: E402
    RIDERSHIP_DAILY,
    RIDERSHIP_HOURLY,
    STATIONS,
    WEATHER_DAILY,
    WEATHER_HOURLY,
    Table,
)
from tasks.data.feeds.card_file import parse_card_bytes  # noqa: E402
from tasks.data.feeds.kma_file import parse_asos_bytes, parse_kma_daily_bytes  # noqa: E402
from tasks.data.feeds.metro_file import parse_metro_bytes, stations_frame  # noqa: E402
from tasks.data.feeds.open_meteo_file import parse_open_meteo_daily_bytes  # noqa: E402

DEFAULT_RAW = REPO_ROOT.parent / "shared" / "data" / "raw"
DEFAULT_OUT = REPO_ROOT / "data" / "snapshot"

METRO_HISTORY_FILE = "seoul-metro-hourly-2020-2022.parquet"
METRO_FILES = (
    METRO_HISTORY_FILE,
    *(f"(홈페이지) 2023년 {m}월 역별 시간대별 이용인원.xlsx" for m in range(1, 7)),
)
KMA_DAILY_FILE = "kma-seoul108-daily-2022.csv"
OPEN_METEO_FILE = "seoul.json"
ASOS_FILE = "SURFACE_ASOS_108_HR_2023_2023_2024.csv"
CARD_FILE = "CARD_SUBWAY_MONTH_202301.csv"
SEONGSU_FILE = "data_features_level2.csv"

HOURLY_RANGE = (date(2020, 1, 1), date(2023, 6, 30))
WEATHER_RANGE = (date(2023, 1, 1), date(2023, 12, 31))
# the reanalysis from 2016 (climatology for the older years) up to the end of the hourly weather
DAILY_WEATHER_RANGE = (date(2016, 1, 1), date(2023, 12, 31))
ASOS_STATION = 108
SORT_KEYS = {
    "stations": ("station_code",),
    "ridership_hourly": ("date", "station_code", "direction", "hour"),
    "ridership_daily": ("date", "line", "station_name"),
    "weather_hourly": ("station_id", "ts"),
    "weather_daily": ("provider", "date"),
}
# columns written with BYTE_STREAM_SPLIT instead of dictionaries (high-cardinality integers)
SPLIT_COLUMNS = {"ridership_hourly": ("count",)}
ZSTD_LEVEL = 19


def sha256_bytes(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def value_frame(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """The table's non-audit columns, strictly cast (a value that does not cast fails the build)."""
    cols = [c for c in table.columns if c not in table.audit_columns]
    return frame.select([pl.col(c).cast(table.columns[c], strict=True) for c in cols])


def fail_if(condition: bool, message: str) -> None:
    if condition:
        raise SystemExit(f"build_snapshot: {message}")


def build_hourly(raw: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    hourly_parts, station_parts = [], []
    for name in METRO_FILES:
        parsed = parse_metro_bytes((raw / name).read_bytes(), name)
        hourly_parts.append(parsed.hourly)
        # each file's latest name per code, dated by the file's last day so the newest file wins below
        station_parts.append(parsed.stations.drop("name_en").with_columns(date=parsed.hourly["date"].max()))
    hourly = pl.concat(hourly_parts)
    fail_if(hourly["total_mismatch"].fill_null(True).any(), "a row's bands do not add up to 합계")
    late = hourly.filter(pl.col("span_hours") != 1)
    fail_if(not (late["hour"] == 23).all(), "a two-hour band that is not 23시 이후")
    fail_if(not hourly["direction"].is_in(["board", "alight"]).all(), "unknown 구분 value")
    hourly = value_frame(hourly, RIDERSHIP_HOURLY)
    fail_if(hourly.null_count().sum_horizontal().item() > 0, "null values in ridership_hourly")
    fail_if(bool((hourly["count"] < 0).any()), "negative counts")
    hourly = hourly.filter(pl.col("date").is_between(*HOURLY_RANGE))
    fail_if(hourly.select(pl.struct(RIDERSHIP_HOURLY.primary_key).is_duplicated().any()).item(), "dup keys")

    stations = stations_frame(pl.concat(station_parts))
    return hourly, value_frame(stations, STATIONS)


def build_weather(raw: Path) -> pl.DataFrame:
    weather = value_frame(parse_asos_bytes((raw / ASOS_FILE).read_bytes(), ASOS_FILE), WEATHER_HOURLY)
    weather = weather.filter(
        pl.col("station_id") == ASOS_STATION, pl.col("ts").dt.date().is_between(*WEATHER_RANGE)
    )
    fail_if(weather["ts"].null_count() > 0, "unreadable ASOS timestamps")
    fail_if(weather.select(pl.struct("station_id", "ts").is_duplicated().any()).item(), "dup ASOS hours")
    return weather


def build_weather_daily(raw: Path) -> pl.DataFrame:
    kma = parse_kma_daily_bytes((raw / KMA_DAILY_FILE).read_bytes(), KMA_DAILY_FILE)
    reanalysis = parse_open_meteo_daily_bytes((raw / OPEN_METEO_FILE).read_bytes(), OPEN_METEO_FILE)
    daily = value_frame(pl.concat([kma, reanalysis]), WEATHER_DAILY)
    daily = daily.filter(pl.col("date").is_between(*DAILY_WEATHER_RANGE))
    fail_if(daily["date"].null_count() > 0, "unreadable daily weather dates")
    fail_if(daily.select(pl.struct("provider", "date").is_duplicated().any()).item(), "dup weather days")
    return daily


def build_daily(raw: Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    card = value_frame(parse_card_bytes((raw / CARD_FILE).read_bytes(), CARD_FILE), RIDERSHIP_DAILY)
    fail_if(card.null_count().sum_horizontal().item() > 0, "null values in the card file")

    seongsu_raw = pl.read_csv(raw / SEONGSU_FILE, infer_schema=False)
    fail_if(set(seongsu_raw["station_name"].unique()) != {"성수"}, "data_features_level2 is not 성수-only")
    fail_if(set(seongsu_raw["line_number"].unique()) != {"2호선"}, "data_features_level2 is not 2호선")
    seongsu = value_frame(
        seongsu_raw.select(
            pl.col("date").str.strptime(pl.Date, "%Y-%m-%d"),
            pl.lit("2호선").alias("line"),
            pl.lit("성수").alias("station_name"),
            pl.col("boarding_count").alias("boardings"),
            pl.col("alighting_count").alias("alightings"),
            pl.col("created_at")
            .str.to_datetime(time_zone="UTC")
            .dt.convert_time_zone("Asia/Seoul")
            .dt.date()
            .alias("registered_on"),
        ),
        RIDERSHIP_DAILY,
    )
    key = list(RIDERSHIP_DAILY.primary_key)
    overlap = seongsu.join(card, on=key, how="inner", suffix="_card")
    disagree = overlap.filter(
        (pl.col("boardings") != pl.col("boardings_card"))
        | (pl.col("alightings") != pl.col("alightings_card"))
    )
    daily = pl.concat([card, seongsu.join(card, on=key, how="anti")])
    fail_if(daily.select(pl.struct(key).is_duplicated().any()).item(), "dup daily keys")
    notes = {
        "seongsu_series_rows": seongsu.height,
        "seongsu_rows_overridden_by_card_file": overlap.height,
        "seongsu_overridden_rows_with_different_counts": disagree.height,
    }
    return daily, notes


def parquet_bytes(frame: pl.DataFrame, split: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    pq.write_table(
        frame.to_arrow(),
        buf,
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        use_dictionary=[c for c in frame.columns if c not in split],
        column_encoding=dict.fromkeys(split, "BYTE_STREAM_SPLIT"),
        write_statistics=True,
    )
    return buf.getvalue()


def date_range(frame: pl.DataFrame, table: str) -> list[str] | None:
    col = {
        "ridership_hourly": "date",
        "ridership_daily": "date",
        "weather_hourly": "ts",
        "weather_daily": "date",
    }.get(table)
    if col is None:
        return None
    values = frame[col].cast(pl.Date) if col == "ts" else frame[col]
    return [str(values.min()), str(values.max())]


def build(raw: Path, out: Path) -> dict[str, Any]:
    for name in (*METRO_FILES, ASOS_FILE, CARD_FILE, SEONGSU_FILE, KMA_DAILY_FILE, OPEN_METEO_FILE):
        fail_if(not (raw / name).is_file(), f"missing raw file {raw / name}")
    hourly, stations = build_hourly(raw)
    weather = build_weather(raw)
    weather_daily = build_weather_daily(raw)
    daily, daily_notes = build_daily(raw)

    outputs: dict[str, tuple[pl.DataFrame, tuple[str, ...]]] = {
        "stations": (stations, METRO_FILES),
        "ridership_hourly": (hourly, METRO_FILES),
        "ridership_daily": (daily, (CARD_FILE, SEONGSU_FILE)),
        "weather_hourly": (weather, (ASOS_FILE,)),
        "weather_daily": (weather_daily, (KMA_DAILY_FILE, OPEN_METEO_FILE)),
    }
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for table, (frame, sources) in outputs.items():
        frame = frame.sort(SORT_KEYS[table])
        content = parquet_bytes(frame, SPLIT_COLUMNS.get(table, ()))
        (out / f"{table}.parquet").write_bytes(content)
        files[f"{table}.parquet"] = {
            "table": table,
            "rows": frame.height,
            "bytes": len(content),
            "sha256": sha256_bytes(content),
            "date_range": date_range(frame, table),
            "sources": list(sources),
        }
    files["ridership_daily.parquet"]["notes"] = daily_notes

    used = sorted({s for _, sources in outputs.values() for s in sources})
    manifest = {
        "built_by": "scripts/build_snapshot.py",
        "polars_version": pl.__version__,
        "pyarrow_version": pa.__version__,
        "files": files,
        "raw_sources": {
            name: {"sha256": sha256_bytes((raw / name).read_bytes()), "bytes": (raw / name).stat().st_size}
            for name in used
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("raw_dir", nargs="?", type=Path, default=DEFAULT_RAW, help="shared/data/raw")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    manifest = build(args.raw_dir, args.out)
    for name, info in manifest["files"].items():
        print(f"{name:28s} {info['rows']:>10,d} rows {info['bytes']:>10,d} bytes {info['date_range']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
