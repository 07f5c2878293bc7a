"""Benchmark: full snapshot ingest (validate + bulk upsert) into each warehouse backend.

Prints rows/s for the first load (all inserts) and for a re-run (all rows unchanged), per dataset,
for the embedded SQLite store and for Postgres (``--postgres URL``; default the local server; the
benchmark creates and drops its own database).  No Prefect in the loop: this measures our code.

    uv run python bench/ingest.py [--postgres postgresql://postgres@127.0.0.1:5432/test] [--no-postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tasks.feeds.snapshot import SnapshotFeed
from tasks.ingest import run_ingest
from tasks.raw_zone import LocalRawZone
from tasks.settings import get_settings
from tasks.warehouse.base import open_warehouse

DATASETS = ("stations", "ridership_hourly", "ridership_daily", "weather_hourly", "weather_daily")


def bench_backend(url: str, raw_root: Path) -> list[tuple[str, str, int, float]]:
    feed = SnapshotFeed(get_settings().snapshot_dir)
    rows = []
    warehouse = open_warehouse(url)
    warehouse.migrate()
    try:
        for label in ("first load", "re-run"):
            for dataset in DATASETS:
                lo, hi = feed.coverage(dataset)
                start = time.perf_counter()
                summary = run_ingest(feed, dataset, lo, hi, warehouse, LocalRawZone(raw_root))
                rows.append((label, dataset, summary.rows_in, time.perf_counter() - start))
    finally:
        warehouse.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[tuple[str, str, int, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite (embedded)"] = bench_backend(f"sqlite:///{tmp}/bench.sqlite", Path(tmp) / "raw")
        if not args.no_postgres:
            import psycopg

            name = f"seongsu_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'create database "{name}"')
            try:
                url = f"{args.postgres.rpartition('/')[0]}/{name}"
                results["postgres"] = bench_backend(url, Path(tmp) / "raw")
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'drop database if exists "{name}" with (force)')
    table = Table(title="Snapshot ingest: fetch + archive + parse + validate + upsert")
    for col in ("backend", "run", "dataset", "rows", "seconds", "rows/s"):
        table.add_column(col, justify="right" if col in ("rows", "seconds", "rows/s") else "left")
    for backend, rows in results.items():
        for label, dataset, n, secs in rows:
            table.add_row(backend, label, dataset, f"{n:,}", f"{secs:.2f}", f"{n / secs:,.0f}")
        total_first = [r for r in rows if r[0] == "first load"]
        n = sum(r[2] for r in total_first)
        secs = sum(r[3] for r in total_first)
        table.add_row(backend, "first load", "[b]all[/b]", f"{n:,}", f"{secs:.2f}", f"[b]{n / secs:,.0f}[/b]")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
