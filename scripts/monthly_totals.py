"""Print the snapshot's monthly ridership totals (network and 성수) as the Markdown table of data/DATA.md.

Why: the COVID-19 years are documented with numbers (data/DATA.md, "What the data shows about the
COVID-19 years"); this regenerates them from ``data/snapshot/ridership_hourly.parquet``.  The
comparison is per day against the same month of the last year in the snapshot (2023, no distancing).

    uv run python scripts/monthly_totals.py [--station 211]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

SNAPSHOT = Path(__file__).resolve().parent.parent / "data" / "snapshot" / "ridership_hourly.parquet"


def monthly(path: Path, station: int) -> pl.DataFrame:
    month = pl.col("date").dt.truncate("1mo").alias("month")
    totals = (
        pl.scan_parquet(path)
        .group_by(month)
        .agg(
            total=pl.col("count").sum(),
            station=pl.col("count").filter(pl.col("station_code") == station).sum(),
            days=pl.col("date").n_unique(),
        )
        .sort("month")
        .collect()
    )
    per_day = totals.with_columns(
        per_day=pl.col("total") / pl.col("days"), station_per_day=pl.col("station") / pl.col("days")
    )
    last_year = per_day["month"].dt.year().max()
    ref = per_day.filter(pl.col("month").dt.year() == last_year).select(
        pl.col("month").dt.month().alias("m"), ref=pl.col("per_day"), station_ref=pl.col("station_per_day")
    )
    return (
        per_day.with_columns(m=pl.col("month").dt.month())
        .join(ref, on="m", how="left")
        .with_columns(
            vs=pl.when(pl.col("month").dt.year() < last_year).then(pl.col("per_day") / pl.col("ref") - 1),
            station_vs=pl.when(pl.col("month").dt.year() < last_year).then(
                pl.col("station_per_day") / pl.col("station_ref") - 1
            ),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--station", type=int, default=211)
    args = parser.parse_args()
    print("| month | total (M) | per day (M) | vs same month 2023 | station total (k) | station vs 2023 |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in monthly(SNAPSHOT, args.station).iter_rows(named=True):
        vs = f"{r['vs']:+.0%}" if r["vs"] is not None else ""
        svs = f"{r['station_vs']:+.0%}" if r["station_vs"] is not None else ""
        print(
            f"| {r['month']:%Y-%m} | {r['total'] / 1e6:.1f} | {r['per_day'] / 1e6:.2f} | {vs} | "
            f"{r['station'] / 1e3:.0f} | {svs} |"
        )


if __name__ == "__main__":
    main()
