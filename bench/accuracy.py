"""Accuracy benchmark: every baseline and the model over the whole history (``tasks.model.accuracy``).

    uv run python bench/accuracy.py                    # full: 2021-01 .. 2023-06, refit every 13 weeks
    uv run python bench/accuracy.py --first 2023-01-01 --refit-weeks 26   # shorter
    uv run python bench/accuracy.py --no-model         # baselines only (minutes)

Reads ``data/snapshot`` (ridership 2020-01 .. 2023-06; the merged 2020-2022 late band is not
model-facing, Contract 1).  Weekly origins; every forecaster sees ridership dated <= origin - 3
days (publication lag); the model is refit every ``--refit-weeks`` weeks on what was known then
and is never given anything newer.  Prints, for all stations and for 성수 (211): every forecaster
overall (WAPE, MAE, bias, 80 % coverage), the best baseline (minimum over all of them), and the
model against it per season, year, horizon, day class and hour band; the out-of-season fold (model
trained before 2022-06-01, scored July-August 2022); and the weather-honesty comparison (weather
for h <= 2 only vs observed weather at every horizon).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time
from pathlib import Path

import polars as pl

from tasks.model.accuracy import (
    FIRST_ORIGIN,
    REFIT_WEEKS,
    SLICES,
    Frozen,
    best_baselines,
    compare,
    fit_as_of_for_out_of_season,
    out_of_season_origins,
    run_fold,
)
from tasks.model.baselines import baselines
from tasks.model.evaluate import SEONGSU, Forecaster, report, spread_origins
from tasks.model.features import MAX_HORIZON, History
from tasks.model.recipe import TrainConfig
from tasks.model.train import CatBoostForecaster

ROOT = Path(__file__).resolve().parent.parent
MODEL = CatBoostForecaster.name
OBSERVED = "catboost_obs_weather"


def load_snapshot(directory: Path) -> History:
    """The snapshot as the model sees it: span-1 hour bands only (Contract 1)."""
    ridership = pl.read_parquet(directory / "ridership_hourly.parquet")
    if "span_hours" in ridership.columns:
        ridership = ridership.filter(pl.col("span_hours") == 1)
    weather = pl.read_parquet(directory / "weather_hourly.parquet")
    stations_path = directory / "stations.parquet"
    stations = pl.read_parquet(stations_path) if stations_path.exists() else None
    return History(ridership, weather, stations)


def _pct(v: float | None) -> str:
    return "     -" if v is None else f"{100 * v:5.1f}%"


def _scope_title(scope: str) -> str:
    return "all stations" if scope == "all" else f"{scope} (Seongsu)" if scope == str(SEONGSU) else scope


def render_overall(sums: pl.DataFrame, best: dict[str, str]) -> list[str]:
    out = []
    table = report(sums, ["model", "scope"])
    for scope in ("all", str(SEONGSU)):
        rows = table.filter(pl.col("scope") == scope).sort("wape")
        if rows.is_empty():
            continue
        n = int(rows["n"].max())  # type: ignore[arg-type]
        out.append(f"\n== {_scope_title(scope)}: n = {n:,} rows per forecaster ==")
        out.append(f"{'forecaster':<22}{'WAPE':>8}{'MAE':>9}{'bias':>8}{'cov80':>8}")
        for r in rows.iter_rows(named=True):
            mark = "  <- best baseline" if r["model"] == best.get(scope) else ""
            out.append(
                f"{r['model']:<22}{_pct(r['wape']):>8}{r['mae']:9.1f}{_pct(r['bias']):>8}{_pct(r['coverage']):>8}{mark}"
            )
    return out


def render_compare(
    sums: pl.DataFrame, model: str, best: dict[str, str], title: str, by: list[str]
) -> list[str]:
    table = compare(sums, model, best, by)
    if table.is_empty():
        return []
    out = [f"\n-- {model} vs best baseline by {title} --"]
    head = (
        f"{'scope':<7}{'slice':<14}{'model':>8}{'best':>8}{'gain':>8}{'bias':>8}{'cov80':>8}  best baseline"
    )
    out.append(head)
    for r in table.iter_rows(named=True):
        label = "all" if not by else " ".join(str(r[k]) for k in by)
        out.append(
            f"{r['scope']:<7}{label:<14}{_pct(r['model_wape']):>8}{_pct(r['baseline_wape']):>8}"
            f"{_pct(r['gain']):>8}{_pct(r['model_bias']):>8}{_pct(r['coverage']):>8}  {r['best_baseline']}"
        )
    return out


def model_config(args: argparse.Namespace, weather_horizon: int | None = None) -> TrainConfig:
    base = TrainConfig(thread_count=args.threads, max_train_rows=args.max_train_rows)
    if weather_horizon is None:
        return base
    from dataclasses import replace

    return replace(base, weather_horizon=weather_horizon)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshot", type=Path, default=ROOT / "data" / "snapshot")
    ap.add_argument("--first", type=dt.date.fromisoformat, default=FIRST_ORIGIN, help="first origin")
    ap.add_argument("--refit-weeks", type=int, default=REFIT_WEEKS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-train-rows", type=int, default=TrainConfig().max_train_rows)
    ap.add_argument("--no-model", action="store_true", help="baselines only")
    ap.add_argument(
        "--folds",
        default="main,oos,weather",
        help="comma list of main (whole history), oos (out of season), weather (weather honesty)",
    )
    ap.add_argument("--out", type=Path, default=None, help="write the sums table (parquet)")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    history = load_snapshot(args.snapshot)
    last: dt.date = history.ridership["date"].max()  # type: ignore[assignment]
    origins = spread_origins(args.first, last, MAX_HORIZON)
    print(
        f"snapshot: {history.ridership.height:,} rows {history.ridership['date'].min()!s} .. {last}; "
        f"{len(origins)} weekly origins {origins[0]} .. {origins[-1]}, refit every {args.refit_weeks} weeks"
    )
    names = [b.name for b in baselines()]
    forecasters: list[Forecaster] = list(baselines())
    if not args.no_model:
        forecasters.append(CatBoostForecaster(model_config(args)))
    folds = set(args.folds.split(","))
    lines: list[str] = []
    main_fold = None
    if "main" in folds:
        main_fold = run_fold(
            "whole history", forecasters, history, origins, refit_every=args.refit_weeks, log=True
        )
        best = best_baselines(main_fold.sums, names)
        lines += [f"\n######## {main_fold.name} ########", *render_overall(main_fold.sums, best)]
        if not args.no_model:
            for title, by in SLICES.items():
                lines += render_compare(main_fold.sums, MODEL, best, title, by)
    if not args.no_model:
        oos = out_of_season_origins(last) if "oos" in folds else []
        if oos:
            frozen = Frozen(CatBoostForecaster(model_config(args)), fit_as_of_for_out_of_season())
            fold = run_fold("out of season", [*baselines(), frozen], history, oos, refit_every=len(oos))
            fbest = best_baselines(fold.sums, names)
            lines += [
                f"\n######## out-of-season fold: trained < 2022-06-01, scored {oos[0]} .. {oos[-1]} + 7 ########"
            ]
            lines += render_overall(fold.sums, fbest)
            lines += render_compare(fold.sums, MODEL, fbest, "horizon", ["horizon"])
        # weather honesty on the origins with hourly weather observations
        w_first = history.weather["ts"].min().date()  # type: ignore[union-attr]
        w_origins = [o for o in origins if o >= w_first] if "weather" in folds else []
        if w_origins:
            honest = CatBoostForecaster(model_config(args))
            observed = CatBoostForecaster(model_config(args, weather_horizon=MAX_HORIZON))
            observed.name = OBSERVED
            fold = run_fold("weather", [honest, observed], history, w_origins, refit_every=args.refit_weeks)
            lines += [f"\n######## weather honesty: {w_origins[0]} .. {w_origins[-1]} ########"]
            table = report(fold.sums, ["model", "scope", "horizon"])
            for scope in ("all", str(SEONGSU)):
                lines.append(f"\n{_scope_title(scope)}: WAPE by horizon (0 = all)")
                for m, label in ((MODEL, "weather h<=2 (honest)"), (OBSERVED, "observed weather all h")):
                    row = table.filter(pl.col("model") == m, pl.col("scope") == scope).sort("horizon")
                    lines.append(f"  {label:<24}" + "".join(f"{_pct(v):>8}" for v in row["wape"].to_list()))
    print("\n".join(lines))
    if main_fold is not None:
        secs = ", ".join(f"{k} {v:.0f}s" for k, v in main_fold.seconds.items())
        print(f"\nseconds (fit + predict over all origins): {secs}")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"total {time.perf_counter() - t_start:.0f}s, peak RSS {peak_gb:.1f} GB")
    if args.out and main_fold is not None:
        main_fold.sums.write_parquet(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
