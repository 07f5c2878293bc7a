"""CatBoost training: one global model for every station, hour band, direction and horizon 1..7.

Why these choices:

* **One model, quantile loss.** ``MultiQuantile:alpha=0.1,0.5,0.9`` fits the 10/50/90% quantiles in
  one set of trees: the median is the point forecast (it minimises absolute error, i.e. WAPE, the
  metric we report) and [q10, q90] is the 80% interval.  Quantile crossings are possible in
  principle, so predictions are sorted per row ("fix-up") before use.
* **Anchored at the strongest simple forecast.**  The base is the 3-week same-kind mean (the best
  baseline of issue 10); every profile feature is a log-ratio to it, and the recent-residual and
  year-ago features (``tasks.model.trailing``) are ratios too.  So the model learns *corrections* (holiday
  and bridge-day effects, the level drift of the last days, the vacation weeks a year ago) and the
  COVID years 2020-2021 teach the calendar's shape, their level cancelled by the ratio, **weighted
  by recency** (half-life 180 d): at full weight their waves taught pandemic seasons (February 2023
  under-forecast by 8 %).  Whole-history backtest gain over the best baseline, all stations / 성수:
  365 d +7.0 % / +3.9 %, 180 d +7.9 % / +4.6 %, 90 d about the same; out of season 180 d loses
  (+6.4 % / +0.3 % vs +7.5 % / +3.4 %) -- README.  Without the year-ago features +4.9 % / +0.5 %.
* **성수 in full.**  The training rows (``tasks.model.training_set``) keep every row of the
  product's own station, its newest year at every horizon; the others are sampled.
* **Holdout, early stopping, calibrated intervals.**  The newest ``valid_days`` of target dates are
  held out: early stopping, the search's score, and the interval scale.
  Quantile models fit on stationary-looking labels give too narrow [q10, q90]; the half-widths are
  scaled by the factor that makes the holdout coverage 80 % (split-conformal style).
* **Target, guard, blend.**  See ``tasks.model.quantile``: a ratio to the profile, clipped to the
  training ratios, blended with ``profile_4w`` at the holdout's best weight.
* **Bounded search.** ``DEFAULT_GRID``'s configurations in order on that split, each fit capped by a
  wall-clock callback, rows and search by ``time_budget_s`` (``room_for_fit``); the best fit is kept
  (no refit: the profile features still read the newest data, only the corrections skip the last
  ``valid_days``).  Seeds are fixed; ``thread_count`` defaults to 2.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import catboost
import numpy as np
import polars as pl
from catboost import CatBoostRegressor

from tasks.core import progress
from tasks.model.features import (
    CATEGORICAL_FEATURES,
    MAX_HORIZON,
    NUMERIC_FEATURES,
    TARGET_COLUMNS,
    History,
    build_features,
    cutoff_for,
)
from tasks.model.metrics import pinball, wape
from tasks.model.quantile import (
    anchor_of,
    blend,
    blend_weight,
    decode_target,
    encode_target,
    fix_up,
    guard,
    interval_scale,
    predict_features,
    profile_4w,
    ratio_bounds,
    to_pool,
)
from tasks.model.recipe import (
    DEFAULT_GRID,
    LOSS,
    METADATA_FILE,
    MODEL_FILE,
    QUANTILES,
    RESERVED_PARAMS,
    WEATHER_NOTE,
    TrainConfig,
    room_for_fit,
)
from tasks.model.stopping import Patience, TimeLimit
from tasks.model.training_set import TrainingRows, row_weight, training_frame

# --------------------------------------------------------------------------------------------------
# the forecaster


class CatBoostForecaster:
    """Fitted global model + the metadata to reproduce and audit it.

    Implements the evaluation protocol: ``fit(history, as_of)`` trains only on ridership dated
    ``<= as_of - lag`` (the history is cut again here, whatever the caller passed) and
    ``predict(targets)`` returns ``yhat, lo, hi`` per target row.  After ``load`` there is no
    history in memory: pass the current one to ``predict(targets, history=...)``.
    """

    name = "catboost"

    def __init__(
        self,
        config: TrainConfig | None = None,
        grid: tuple[dict[str, Any], ...] | None = None,
        time_budget_s: float | None = None,
        rows: TrainingRows | None = None,
        reserve_fits: int = 0,
    ) -> None:
        self.config = config or TrainConfig()
        self.grid = grid
        self.time_budget_s = time_budget_s
        """Seconds for building the rows and the search (``room_for_fit`` keeps ``reserve_fits`` fits' room)."""
        self.reserve_fits = reserve_fits
        self.rows = rows
        """Training rows to fit from (``TrainingRows.known_at``) instead of building them."""
        self.training_rows: TrainingRows | None = None
        """The rows of the last fit (not saved with the model)."""
        self.model: CatBoostRegressor | None = None
        self.metadata: dict[str, Any] = {}
        self._history: History | None = None

    # -- protocol ------------------------------------------------------------------------------
    def fit(self, history: History, as_of: dt.date) -> CatBoostForecaster:
        cutoff = cutoff_for(as_of, self.config.lag_days)
        known = history.until(cutoff)
        t_start = time.perf_counter()
        progress.step("features", 1, 1, f"training rows as of {as_of}")
        config, rows = self.config, self.rows
        frame = training_frame(known, as_of, config) if rows is None else rows.known_at(as_of, config)
        t_features = time.perf_counter() - t_start
        left = None if self.time_budget_s is None else self.time_budget_s - t_features
        self.model, self.metadata = _train(frame, known, as_of, config, self.grid, left, self.reserve_fits)
        timings = self.metadata["timings_s"]
        timings.update(features=round(t_features, 2), total=round(timings["total"] + t_features, 2))
        if self.rows is not None:
            self.metadata["rows_reused_from"] = self.rows.as_of.isoformat()
        self.training_rows = TrainingRows(frame, as_of, self.config)
        self._history = known
        return self

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        if self.model is None:
            raise RuntimeError("model is not fitted")
        hist = history or self._history
        if hist is None:
            raise ValueError("no history: pass history= (needed for the profile/lag features)")
        lag = int(self.metadata.get("lag_days", self.config.lag_days))
        weather_h = int(self.metadata.get("weather_horizon", self.config.weather_horizon))
        feats = build_features(
            hist.ridership,
            hist.weather,
            targets.select(TARGET_COLUMNS),
            lag_days=lag,
            weather_horizon=weather_h,
        )
        lo, yhat, hi = self.decode(feats)
        return feats.select(TARGET_COLUMNS).with_columns(
            yhat=pl.Series(yhat), lo=pl.Series(lo), hi=pl.Series(hi)
        )

    def decode(self, features: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lo, yhat, hi) for a frame of ``FEATURE_COLUMNS`` with this model's target, interval
        scale and guard (``predict_features``): what ``predict`` and the service's /predict use."""
        if self.model is None:
            raise RuntimeError("model is not fitted")
        bounds = self.metadata.get("ratio_bounds")
        return predict_features(
            self.model,
            features,
            self.metadata.get("target", self.config.target),
            float(self.metadata.get("interval_scale", 1.0)),
            self.config.thread_count,
            None if bounds is None else (float(bounds[0]), float(bounds[1])),
            float(self.metadata.get("blend_weight", 1.0)),
        )

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        return save(self, directory)

    @classmethod
    def load(cls, directory: str | Path) -> CatBoostForecaster:
        return load(directory)


def _fit_one(
    train: pl.DataFrame,
    valid: pl.DataFrame | None,
    params: dict[str, Any],
    config: TrainConfig,
    time_limit_s: float | None,
) -> tuple[CatBoostRegressor, dict[str, Any]]:
    y = train["y"].to_numpy().astype(np.float64)
    base = anchor_of(train)
    bounds = ratio_bounds(y, base) if config.guard else None
    label, weight = encode_target(y, base, config.target, bounds)
    pool = to_pool(train, label, (weight if weight is not None else 1.0) * row_weight(train, config))
    eval_pool = None
    if valid is not None and valid.height:
        vlabel, vweight = encode_target(
            valid["y"].to_numpy().astype(np.float64), anchor_of(valid), config.target
        )
        eval_pool = to_pool(valid, vlabel, vweight)
    tree_params = {k: v for k, v in params.items() if k not in RESERVED_PARAMS}
    model = CatBoostRegressor(
        loss_function=LOSS,
        boost_from_average=False,
        random_seed=config.seed,
        thread_count=config.thread_count,
        allow_writing_files=False,
        verbose=0,
        **tree_params,
    )
    limit = TimeLimit(time_limit_s)
    t0 = time.perf_counter()
    stop = config.early_stopping_rounds if eval_pool is not None else None
    patience = None if stop is None else Patience(stop, config.min_trees)
    callbacks = [limit] if patience is None else [limit, patience]
    model.fit(pool, eval_set=eval_pool, use_best_model=False, callbacks=callbacks)
    if patience is not None and 0 < patience.best < (model.tree_count_ or 0):
        model.shrink(patience.best)
    info: dict[str, Any] = {
        "params": params,
        "fit_s": round(time.perf_counter() - t0, 2),
        "trees": int(model.tree_count_ or 0),
        "stopped_by_time": limit.stopped_early,
        "interval_scale": 1.0,
        "ratio_bounds": None if bounds is None else list(bounds),
        "blend_weight": 1.0,
    }
    if valid is not None and valid.height:
        raw = np.asarray(model.predict(eval_pool, thread_count=config.thread_count)).reshape(valid.height, -1)
        q = guard(decode_target(raw, anchor_of(valid), config.target), anchor_of(valid), bounds)
        yv = valid["y"].to_numpy().astype(np.float64)
        if config.blend:
            anchor = profile_4w(valid)
            info["blend_weight"] = blend_weight(yv, q, anchor)
            q = blend(q, anchor, info["blend_weight"])
        scale = interval_scale(yv, q) if config.calibrate else 1.0
        lo, yhat, hi = fix_up(q, scale)
        info.update(
            valid_wape=wape(yv, yhat),
            valid_pinball={str(a): v for a, v in pinball(yv, np.sort(q, 1), QUANTILES).items()},
            valid_coverage_raw=float(((yv >= np.sort(q, 1)[:, 0]) & (yv <= np.sort(q, 1)[:, -1])).mean()),
            valid_coverage=float(((yv >= lo) & (yv <= hi)).mean()),
            interval_scale=scale,
        )
    return model, info


def _train(
    frame: pl.DataFrame,
    history: History,
    as_of: dt.date,
    config: TrainConfig,
    grid: tuple[dict[str, Any], ...] | None,
    time_budget_s: float | None,
    reserve_fits: int = 0,
) -> tuple[CatBoostRegressor, dict[str, Any]]:
    t_start = time.perf_counter()
    last: dt.date = frame["date"].max()  # type: ignore[assignment]
    split = last - dt.timedelta(days=config.valid_days)
    train_part = frame.filter(pl.col("date") <= split)
    valid_part: pl.DataFrame | None = frame.filter(pl.col("date") > split)
    if config.valid_days <= 0 or train_part.is_empty() or valid_part is None or valid_part.is_empty():
        train_part, valid_part = frame, None
    candidates = list(grid) if grid else [dict(config.params)]
    search: list[dict[str, Any]] = []
    best: tuple[CatBoostRegressor, dict[str, Any]] | None = None
    t_search, longest = time.perf_counter(), 0.0
    for k, cand in enumerate(candidates, 1):
        started = time.perf_counter()
        remaining = None if time_budget_s is None else time_budget_s - (started - t_search)
        if best is not None and not room_for_fit(remaining, longest, reserve_fits):
            search.append({"params": cand, "skipped": "time budget spent"})
            progress.step("search", k, len(candidates), "skipped: time budget spent")
            continue
        progress.step("search", k, len(candidates), "fitting a hyperparameter candidate")
        share = None if remaining is None else remaining / (1 + reserve_fits)  # the reserved fits' room kept
        caps = [c for c in (share, config.fit_time_limit_s) if c is not None]
        model, info = _fit_one(train_part, valid_part, cand, config, max(min(caps), 1.0) if caps else None)
        longest = max(longest, time.perf_counter() - started)
        search.append(info)
        if best is None or info.get("valid_wape", math.inf) < best[1].get("valid_wape", math.inf):
            best = (model, info)
    assert best is not None
    model, info = best
    total = time.perf_counter() - t_start
    cutoff = cutoff_for(as_of, config.lag_days)
    metadata: dict[str, Any] = {
        "model": CatBoostForecaster.name,
        "as_of": as_of.isoformat(),
        "cutoff": cutoff.isoformat(),
        "lag_days": config.lag_days,
        "weather_horizon": config.weather_horizon,
        "max_horizon": MAX_HORIZON,
        "target": config.target,
        "loss": LOSS,
        "quantiles": list(QUANTILES),
        "interval_scale": info["interval_scale"],
        "ratio_bounds": info["ratio_bounds"],
        "blend_weight": info["blend_weight"],
        "params": {**info["params"], "thread_count": config.thread_count, "random_seed": config.seed},
        "config": {k: v for k, v in asdict(config).items() if k != "params"},
        "features": {"numeric": list(NUMERIC_FEATURES), "categorical": list(CATEGORICAL_FEATURES)},
        "train_rows": train_part.height,
        "holdout_rows": 0 if valid_part is None else valid_part.height,
        "train_stations": int(frame["station_code"].n_unique()),
        "train_date_range": _span(train_part),
        "holdout_date_range": None if valid_part is None else _span(valid_part),
        "history_date_range": _span(history.ridership),
        "holdout": {
            k: info[k]
            for k in ("valid_wape", "valid_pinball", "valid_coverage", "valid_coverage_raw")
            if k in info
        },
        "search": search,
        "timings_s": {
            "fits": round(sum(s.get("fit_s", 0.0) for s in search), 2),
            "total": round(total, 2),
        },
        "trees": info["trees"],
        "stopped_by_time": info["stopped_by_time"],
        "weather_note": WEATHER_NOTE,
        "catboost_version": catboost.__version__,
        "polars_version": pl.__version__,
    }
    return model, metadata


def _span(frame: pl.DataFrame) -> list[str]:
    return [frame["date"].min().isoformat(), frame["date"].max().isoformat()]  # type: ignore[union-attr]


def train(
    history: History,
    as_of: dt.date,
    config: TrainConfig | None = None,
    *,
    grid: tuple[dict[str, Any], ...] | None = DEFAULT_GRID,
    time_budget_s: float | None = 240.0,
    reserve_fits: int = 0,
) -> CatBoostForecaster:
    """Fit on everything known at ``as_of`` (rows and search of ``grid`` within ``time_budget_s``).

    ``grid=None`` fits ``config.params`` alone (what the backtest does at every origin).  The first
    candidate always runs; a later one only if it and ``reserve_fits`` more fits as long as the
    longest so far still end within the budget (``room_for_fit``).  ``.metadata`` holds
    params, rows, date ranges, features, timings, holdout scores and the search log.
    """
    forecaster = CatBoostForecaster(config, grid=grid, time_budget_s=time_budget_s, reserve_fits=reserve_fits)
    return forecaster.fit(history, as_of)


# --------------------------------------------------------------------------------------------------
# persistence


def save(forecaster: CatBoostForecaster, directory: str | Path) -> Path:
    """Write ``model.cbm`` (CatBoost native) and ``metadata.json`` into ``directory``."""
    if forecaster.model is None:
        raise RuntimeError("model is not fitted")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    forecaster.model.save_model(str(out / MODEL_FILE), format="cbm")
    meta = {**forecaster.metadata, "train_config": asdict(forecaster.config)}
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str, ensure_ascii=False))
    return out


def load(directory: str | Path) -> CatBoostForecaster:
    """Inverse of ``save``; the loaded forecaster needs ``predict(targets, history=...)``."""
    src = Path(directory)
    meta = json.loads((src / METADATA_FILE).read_text())
    cfg = dict(meta.get("train_config") or {})
    known = set(TrainConfig.__dataclass_fields__)
    config = TrainConfig(**{k: v for k, v in cfg.items() if k in known})
    model = CatBoostRegressor()
    model.load_model(str(src / MODEL_FILE), format="cbm")
    forecaster = CatBoostForecaster(config)
    forecaster.model = model
    forecaster.metadata = meta
    return forecaster
