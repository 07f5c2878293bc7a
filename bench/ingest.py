"""Benchmark: full snapshot ingest (validate + bulk upsert) into each warehouse backend.

Prints rows/s for the first load (all inserts) and for a re-run (all rows unchanged), per dataset,
with this process's CPU seconds next to the wall time (on a shared machine the wall time includes
waiting for a core; Postgres' own work is in the server process, not in that column),
for the embedded SQLite store and for Postgres (``--postgres URL``; default the local server; the
benchmark creates and drops its own database).  No Prefect in the loop: this measures our code.

    uv run python bench/ingest.py [--postgres postgresql://postgres@127.0.0.1:5432/test] [--no-postgres]
                                  [--no-sqlite]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tasks.core.settings import get_settings
from tasks.data.feeds.snapshot import SnapshotFeed
from tasks.data.ingest import run_ingest
from tasks.data.raw_zone import LocalRawZone
from tasks.data.warehouse import open_warehouse

DATASETS = ("stations", "ridership_hourly", "ridership_daily", "weather_hourly", "weather_daily")


Row = tuple[str, str, int, float, float]  # run, dataset, rows, wall s, this process's CPU s


def bench_backend(url: str, raw_root: Path) -> list[Row]:
    feed = SnapshotFeed(get_settings().snapshot_dir)
    rows = []
    warehouse = open_warehouse(url)
    warehouse.migrate()
    try:
        for label in ("first load", "re-run"):
            for dataset in DATASETS:
                lo, hi = feed.coverage(dataset)
                start, cpu = time.perf_counter(), time.process_time()
                summary = run_ingest(feed, dataset, lo, hi, warehouse, LocalRawZone(raw_root))
                elapsed = (time.perf_counter() - start, time.process_time() - cpu)
                rows.append((label, dataset, summary.rows_in, *elapsed))
    finally:
        warehouse.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[Row]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
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
    numeric = ("rows", "seconds", "rows/s", "cpu s (this process)")
    for col in ("backend", "run", "dataset", *numeric):
        table.add_column(col, justify="right" if col in numeric else "left")
    for backend, rows in results.items():
        for label, dataset, n, secs, cpu in rows:
            table.add_row(backend, label, dataset, f"{n:,}", f"{secs:.2f}", f"{n / secs:,.0f}", f"{cpu:.1f}")
        for label in ("first load", "re-run"):
            runs = [r for r in rows if r[0] == label]
            n, secs, cpu = sum(r[2] for r in runs), sum(r[3] for r in runs), sum(r[4] for r in runs)
            table.add_row(
                backend, label, "[b]all[/b]", f"{n:,}", f"{secs:.2f}", f"[b]{n / secs:,.0f}[/b]", f"{cpu:.1f}"
            )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
