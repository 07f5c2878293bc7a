"""Accuracy benchmark: rolling-origin backtest of the CatBoost model vs the naive baselines.

    uv run python bench/accuracy.py            # 8 weekly origins over the snapshot's last 8 weeks
    uv run python bench/accuracy.py --quick    # 3 origins
    uv run python bench/accuracy.py --origins 4 --threads 2 --out /tmp/acc.parquet

Reads ``data/snapshot/{ridership_hourly,weather_hourly}.parquet``.  Every forecaster is refit at
every origin on ridership dated <= origin - 3 days (the publication lag) and scored on the observed
rows of the 7 following days.  Observed weather stands in for the weather forecast at the target
hours, which flatters the model's weather features slightly.  Prints WAPE / MAE / 80% coverage for
all stations and for Seongsu (211), overall and per horizon, and the model's gain over the best
classical baseline (seasonal naive, weekday profile); the holiday-aware profile is shown as well.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import polars as pl

from tasks.baselines import ProfileMean, SeasonalNaive
from tasks.evaluate import SEONGSU, Forecaster, backtest_predictions, rolling_origins, score
from tasks.features import History
from tasks.train import CatBoostForecaster, TrainConfig

ROOT = Path(__file__).resolve().parent.parent
CLASSICAL = ("seasonal_naive", "profile_weekday")


def load_snapshot(directory: Path) -> History:
    ridership = pl.read_parquet(directory / "ridership_hourly.parquet")
    weather = pl.read_parquet(directory / "weather_hourly.parquet")
    stations_path = directory / "stations.parquet"
    stations = pl.read_parquet(stations_path) if stations_path.exists() else None
    return History(ridership, weather, stations)


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None:
        return "   -  "
    return f"{100 * v:5.1f}%" if pct else f"{v:7.1f}"


def render(metrics: pl.DataFrame) -> str:
    """Plain-text tables: one block per scope, rows = models, columns = overall + horizons 1..7."""
    lines: list[str] = []
    horizons = sorted(metrics["horizon"].unique().to_list())
    models = metrics["model"].unique(maintain_order=True).to_list()
    for scope in metrics["scope"].unique(maintain_order=True).to_list():
        sub = metrics.filter(pl.col("scope") == scope)
        title = (
            "all stations"
            if scope == "all"
            else f"station {scope}" + (" (Seongsu)" if scope == str(SEONGSU) else "")
        )
        n = int(sub.filter(pl.col("horizon") == 0)["n"].max())  # type: ignore[arg-type]
        lines.append(f"\n== {title}: WAPE (n={n} rows per model) ==")
        head = f"{'model':<17}" + "".join(f"{'all' if h == 0 else 'h' + str(h):>8}" for h in horizons)
        lines.append(head + f"{'MAE':>9}{'cov80':>8}")
        for m in models:
            row = sub.filter(pl.col("model") == m)
            cells = {r["horizon"]: r for r in row.iter_rows(named=True)}
            overall = cells.get(0)
            line = f"{m:<17}" + "".join(
                f"{_fmt(cells[h]['wape']) if h in cells else '':>8}" for h in horizons
            )
            if overall is not None:
                line += f"{_fmt(overall['mae'], pct=False):>9}{_fmt(overall['coverage']):>8}"
            lines.append(line)
        best = (
            sub.filter(pl.col("horizon") == 0, pl.col("model").is_in(CLASSICAL))
            .sort("wape")
            .head(1)
            .to_dicts()
        )
        model = sub.filter(pl.col("horizon") == 0, pl.col("model") == CatBoostForecaster.name).to_dicts()
        if best and model:
            gain = 1 - model[0]["wape"] / best[0]["wape"]
            lines.append(
                f"-> catboost vs best classical baseline ({best[0]['model']}): {100 * gain:+.1f}% WAPE reduction"
            )
        hol = sub.filter(pl.col("horizon") == 0, pl.col("model") == "profile_holiday").to_dicts()
        if hol and model:
            lines.append(
                f"-> catboost vs holiday-aware profile: {100 * (1 - model[0]['wape'] / hol[0]['wape']):+.1f}%"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshot", type=Path, default=ROOT / "data" / "snapshot")
    ap.add_argument("--quick", action="store_true", help="3 origins instead of 8")
    ap.add_argument("--origins", type=int, default=None, help="number of weekly origins (default 8, quick 3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-train-rows", type=int, default=TrainConfig().max_train_rows)
    ap.add_argument("--fit-time-limit", type=float, default=300.0, help="wall-clock cap per CatBoost fit (s)")
    ap.add_argument("--no-model", action="store_true", help="baselines only")
    ap.add_argument("--out", type=Path, default=None, help="write the metrics table (parquet)")
    args = ap.parse_args(argv)

    history = load_snapshot(args.snapshot)
    n = args.origins or (3 if args.quick else 8)
    last: dt.date = history.ridership["date"].max()  # type: ignore[assignment]
    origins = rolling_origins(last, n)
    print(
        f"snapshot: {history.ridership.height:,} rows up to {last}; origins {[o.isoformat() for o in origins]}"
    )
    forecasters: list[Forecaster] = [SeasonalNaive(), ProfileMean(), ProfileMean(holiday_aware=True)]
    if not args.no_model:
        config = TrainConfig(
            thread_count=args.threads,
            max_train_rows=args.max_train_rows,
            fit_time_limit_s=args.fit_time_limit,
        )
        forecasters.append(CatBoostForecaster(config))
    t0 = time.perf_counter()
    scored, seconds = backtest_predictions(forecasters, history, origins, log=True)
    metrics = score(scored)
    print(render(metrics))
    print("\nseconds (fit + predict, all origins): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    print(
        f"total {time.perf_counter() - t0:.0f}s; weather at target hours = observations (flatters the model)"
    )
    if args.out:
        metrics.write_parquet(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
