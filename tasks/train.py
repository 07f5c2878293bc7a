"""CatBoost training: one global model for every station, hour band, direction and horizon 1..7.

Why these choices:

* **One model, quantile loss.** ``MultiQuantile:alpha=0.1,0.5,0.9`` fits the 10/50/90% quantiles in
  one set of trees: the median is the point forecast (it minimises absolute error, i.e. WAPE, the
  metric we report) and [q10, q90] is the 80% interval.  Quantile crossings are possible in
  principle, so predictions are sorted per row ("fix-up") before use.
* **Target = ratio to the station profile, weighted by the profile.**  Counts span 0..19,000 per
  band; the ratio ``y / (profile + 1)`` is ~1 everywhere, so trees share structure across stations
  (holidays, rain, trends act multiplicatively).  Weighting each row by ``profile + 1`` makes the
  pinball loss on the ratio equal to the pinball loss on raw counts, which is what WAPE measures.
  Quantiles are equivariant under this per-row monotone map, so the ratio quantiles times the base
  are the count quantiles.  ``log1p`` and ``raw`` are kept as options for comparison (see
  ``bench/accuracy.py`` and the docstring of ``TrainConfig``).
* **Bounded search.** A handful of configurations on a time-based split (the last
  ``valid_days`` of target dates), early stopping on it, each fit capped by a wall-clock callback,
  the whole search capped by ``time_budget_s``; then one refit on all rows with the best
  configuration and its best iteration count.  Seeds are fixed; ``thread_count`` defaults to 2.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import catboost
import numpy as np
import polars as pl
from catboost import CatBoostRegressor, FeaturesData, Pool

from tasks.features import (
    CATEGORICAL_FEATURES,
    MAX_HORIZON,
    NUMERIC_FEATURES,
    PUBLICATION_LAG_DAYS,
    TARGET_COLUMNS,
    History,
    build_features,
    cutoff_for,
    training_targets,
)

QUANTILES: Final = (0.1, 0.5, 0.9)
LOSS: Final = "MultiQuantile:alpha=" + ",".join(str(q) for q in QUANTILES)
MODEL_FILE: Final = "model.cbm"
METADATA_FILE: Final = "metadata.json"
WEATHER_NOTE: Final = (
    "Weather features at target hours are observations in training and backtests; in production they "
    "are KMA forecasts. Backtest accuracy is therefore slightly optimistic about weather."
)

Target = Literal["ratio", "log1p", "raw"]


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of one training run (hyperparameters of the trees live in ``params``).

    ``warmup_days``: the first days of history only feed features (profiles need a few weeks).
    ``train_days``: keep only the newest N days of targets (None = all) -- bounds backtest cost.
    ``max_train_rows``: uniform row subsample (seeded) on top of that, for the same reason.
    """

    params: dict[str, Any] = field(
        default_factory=lambda: {"depth": 8, "learning_rate": 0.1, "l2_leaf_reg": 3.0, "iterations": 800}
    )
    target: Target = "ratio"
    thread_count: int = 2
    seed: int = 0
    lag_days: int = PUBLICATION_LAG_DAYS
    warmup_days: int = 28
    train_days: int | None = None
    max_train_rows: int | None = None
    valid_days: int = 14
    early_stopping_rounds: int = 50
    fit_time_limit_s: float | None = None


DEFAULT_GRID: Final[tuple[dict[str, Any], ...]] = (
    {"depth": 8, "learning_rate": 0.1, "l2_leaf_reg": 3.0, "iterations": 800},
    {"depth": 6, "learning_rate": 0.15, "l2_leaf_reg": 3.0, "iterations": 800},
    {"depth": 10, "learning_rate": 0.1, "l2_leaf_reg": 10.0, "iterations": 600},
    {"depth": 8, "learning_rate": 0.05, "l2_leaf_reg": 10.0, "iterations": 1200},
)


class _TimeLimit:
    """CatBoost callback that stops a fit once its wall-clock allowance is spent."""

    def __init__(self, seconds: float | None) -> None:
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.stopped_early = False

    def after_iteration(self, info: Any) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.stopped_early = True
            return False
        return True


# --------------------------------------------------------------------------------------------------
# target transform and pools


def _base(features: pl.DataFrame) -> np.ndarray:
    """The per-row scale of the ratio target: the profile, falling back to coarser profiles."""
    base = features.select(
        pl.coalesce("prof_kind", "prof_type", "prof_weekday", "last_kind", pl.lit(0.0)).clip(lower_bound=0.0)
        + 1.0
    ).to_series()
    return base.to_numpy().astype(np.float64)


def _encode_target(y: np.ndarray, base: np.ndarray, target: Target) -> tuple[np.ndarray, np.ndarray | None]:
    if target == "ratio":
        return y / base, base
    if target == "log1p":
        return np.log1p(y), None
    return y, None


def _decode(pred: np.ndarray, base: np.ndarray, target: Target) -> np.ndarray:
    if target == "ratio":
        return pred * base[:, None]
    if target == "log1p":
        return np.expm1(pred)
    return pred


def _pool(features: pl.DataFrame, label: np.ndarray | None = None, weight: np.ndarray | None = None) -> Pool:
    """A CatBoost pool straight from polars: float32 numerics + string categoricals, no pandas."""
    num = features.select(pl.col(c).cast(pl.Float32) for c in NUMERIC_FEATURES).to_numpy()
    cat = features.select(pl.col(c).cast(pl.String) for c in CATEGORICAL_FEATURES).to_numpy().astype(object)
    data = FeaturesData(
        num_feature_data=np.ascontiguousarray(num, dtype=np.float32),
        cat_feature_data=cat,
        num_feature_names=list(NUMERIC_FEATURES),
        cat_feature_names=list(CATEGORICAL_FEATURES),
    )
    return Pool(data, label=label, weight=weight)


def _fix_up(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted, non-negative (lo, yhat, hi) from raw quantile predictions."""
    q = np.sort(np.clip(q, 0.0, None), axis=1)
    return q[:, 0], q[:, 1], q[:, 2]


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
    ) -> None:
        self.config = config or TrainConfig()
        self.grid = grid
        self.time_budget_s = time_budget_s
        self.model: CatBoostRegressor | None = None
        self.metadata: dict[str, Any] = {}
        self._history: History | None = None

    # -- protocol ------------------------------------------------------------------------------
    def fit(self, history: History, as_of: dt.date) -> CatBoostForecaster:
        cutoff = cutoff_for(as_of, self.config.lag_days)
        known = history.until(cutoff)
        self.model, self.metadata = _train(known, as_of, self.config, self.grid, self.time_budget_s)
        self._history = known
        return self

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        if self.model is None:
            raise RuntimeError("model is not fitted")
        hist = history or self._history
        if hist is None:
            raise ValueError("no history: pass history= (needed for the profile/lag features)")
        target: Target = self.metadata.get("target", self.config.target)
        lag = int(self.metadata.get("lag_days", self.config.lag_days))
        feats = build_features(hist.ridership, hist.weather, targets.select(TARGET_COLUMNS), lag_days=lag)
        raw = np.asarray(self.model.predict(_pool(feats), thread_count=self.config.thread_count))
        lo, yhat, hi = _fix_up(_decode(raw.reshape(len(feats), -1), _base(feats), target))
        return feats.select(TARGET_COLUMNS).with_columns(
            yhat=pl.Series(yhat), lo=pl.Series(lo), hi=pl.Series(hi)
        )

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        return save(self, directory)

    @classmethod
    def load(cls, directory: str | Path) -> CatBoostForecaster:
        return load(directory)


def _training_frame(history: History, as_of: dt.date, config: TrainConfig) -> pl.DataFrame:
    """Features + label for every observed row whose target date is known at ``as_of``'s cutoff."""
    cutoff = cutoff_for(as_of, config.lag_days)
    rid = history.ridership.filter(pl.col("date") <= cutoff)
    if rid.is_empty():
        raise ValueError(f"no ridership on or before the cutoff {cutoff}")
    first: dt.date = rid["date"].min() + dt.timedelta(days=config.warmup_days)  # type: ignore[operator]
    if config.train_days is not None:
        first = max(first, cutoff - dt.timedelta(days=config.train_days - 1))
    targets = training_targets(rid, first, cutoff, seed=config.seed, max_horizon=MAX_HORIZON)
    if config.max_train_rows is not None and targets.height > config.max_train_rows:
        targets = targets.sample(config.max_train_rows, seed=config.seed).sort("date", "station_code")
    if targets.is_empty():
        raise ValueError(f"no training targets between {first} and {cutoff}")
    return build_features(rid, history.weather, targets, lag_days=config.lag_days)


def _fit_one(
    train: pl.DataFrame,
    valid: pl.DataFrame | None,
    params: dict[str, Any],
    config: TrainConfig,
    time_limit_s: float | None,
) -> tuple[CatBoostRegressor, dict[str, Any]]:
    y = train["y"].to_numpy().astype(np.float64)
    label, weight = _encode_target(y, _base(train), config.target)
    pool = _pool(train, label, weight)
    eval_pool = None
    if valid is not None:
        vlabel, vweight = _encode_target(
            valid["y"].to_numpy().astype(np.float64), _base(valid), config.target
        )
        eval_pool = _pool(valid, vlabel, vweight)
    model = CatBoostRegressor(
        loss_function=LOSS,
        random_seed=config.seed,
        thread_count=config.thread_count,
        allow_writing_files=False,
        verbose=0,
        **params,
    )
    limit = _TimeLimit(time_limit_s)
    t0 = time.perf_counter()
    model.fit(
        pool,
        eval_set=eval_pool,
        early_stopping_rounds=config.early_stopping_rounds if eval_pool is not None else None,
        use_best_model=eval_pool is not None,
        callbacks=[limit],
    )
    info: dict[str, Any] = {
        "params": params,
        "fit_s": round(time.perf_counter() - t0, 2),
        "trees": int(model.tree_count_ or 0),
        "stopped_by_time": limit.stopped_early,
    }
    if valid is not None:
        raw = np.asarray(model.predict(eval_pool)).reshape(valid.height, -1)
        lo, yhat, hi = _fix_up(_decode(raw, _base(valid), config.target))
        yv = valid["y"].to_numpy()
        info["valid_wape"] = float(np.abs(yv - yhat).sum() / max(yv.sum(), 1e-9))
        info["valid_coverage"] = float(((yv >= lo) & (yv <= hi)).mean())
        info["best_iteration"] = int(model.get_best_iteration() or model.tree_count_ or 0)
    return model, info


def _train(
    history: History,
    as_of: dt.date,
    config: TrainConfig,
    grid: tuple[dict[str, Any], ...] | None,
    time_budget_s: float | None,
) -> tuple[CatBoostRegressor, dict[str, Any]]:
    t_start = time.perf_counter()
    frame = _training_frame(history, as_of, config)
    t_features = time.perf_counter() - t_start
    params = dict(config.params)
    search: list[dict[str, Any]] = []
    if grid:
        split = frame["date"].max() - dt.timedelta(days=config.valid_days)  # type: ignore[operator]
        train_part = frame.filter(pl.col("date") <= split)
        valid_part = frame.filter(pl.col("date") > split)
        t_search = time.perf_counter()
        for i, cand in enumerate(grid):
            spent = time.perf_counter() - t_search
            remaining = None if time_budget_s is None else time_budget_s - spent
            if remaining is not None and remaining <= 0:
                search.append({"params": cand, "skipped": "time budget spent"})
                continue
            cap = (
                remaining
                if config.fit_time_limit_s is None
                else min(remaining or math.inf, config.fit_time_limit_s)
            )
            _, info = _fit_one(train_part, valid_part, cand, config, cap)
            info["rank_input"] = i
            search.append(info)
        scored = [s for s in search if "valid_wape" in s]
        best = min(scored, key=lambda s: s["valid_wape"])
        # refit on everything with the best config; scale the tree count to the extra data
        n_ratio = frame.height / max(train_part.height, 1)
        params = {**best["params"], "iterations": max(50, int(best["best_iteration"] * n_ratio) + 1)}
    model, fit_info = _fit_one(frame, None, params, config, config.fit_time_limit_s)
    total = time.perf_counter() - t_start
    cutoff = cutoff_for(as_of, config.lag_days)
    metadata: dict[str, Any] = {
        "model": CatBoostForecaster.name,
        "as_of": as_of.isoformat(),
        "cutoff": cutoff.isoformat(),
        "lag_days": config.lag_days,
        "max_horizon": MAX_HORIZON,
        "target": config.target,
        "loss": LOSS,
        "quantiles": list(QUANTILES),
        "params": {**params, "thread_count": config.thread_count, "random_seed": config.seed},
        "config": {k: v for k, v in asdict(config).items() if k != "params"},
        "features": {"numeric": list(NUMERIC_FEATURES), "categorical": list(CATEGORICAL_FEATURES)},
        "train_rows": frame.height,
        "train_stations": int(frame["station_code"].n_unique()),
        "train_date_range": [frame["date"].min().isoformat(), frame["date"].max().isoformat()],  # type: ignore[union-attr]
        "history_date_range": [
            history.ridership["date"].min().isoformat(),  # type: ignore[union-attr]
            history.ridership["date"].max().isoformat(),  # type: ignore[union-attr]
        ],
        "search": search,
        "timings_s": {
            "features": round(t_features, 2),
            "search": round(sum(s.get("fit_s", 0.0) for s in search), 2),
            "final_fit": fit_info["fit_s"],
            "total": round(total, 2),
        },
        "final_trees": fit_info["trees"],
        "final_stopped_by_time": fit_info["stopped_by_time"],
        "weather_note": WEATHER_NOTE,
        "catboost_version": catboost.__version__,
        "polars_version": pl.__version__,
    }
    return model, metadata


def train(
    history: History,
    as_of: dt.date,
    config: TrainConfig | None = None,
    *,
    grid: tuple[dict[str, Any], ...] | None = DEFAULT_GRID,
    time_budget_s: float | None = 300.0,
) -> CatBoostForecaster:
    """Search (``grid`` within ``time_budget_s``), refit on all rows known at ``as_of``, return it.

    ``grid=None`` skips the search and fits ``config.params`` as is (what the backtest does for
    every origin, with the parameters chosen once here).  ``model.metadata`` holds params, rows,
    date ranges, features, timings and the search log.
    """
    return CatBoostForecaster(config, grid=grid, time_budget_s=time_budget_s).fit(history, as_of)


def with_params(config: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """``config`` with its tree parameters replaced (e.g. by the winner of a search)."""
    return replace(config, params=dict(params))


# --------------------------------------------------------------------------------------------------
# persistence


def save(forecaster: CatBoostForecaster, directory: str | Path) -> Path:
    """Write ``model.cbm`` (CatBoost native) and ``metadata.json`` into ``directory``."""
    if forecaster.model is None:
        raise RuntimeError("model is not fitted")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    forecaster.model.save_model(str(out / MODEL_FILE), format="cbm")
    meta = {**forecaster.metadata, "train_config": {**asdict(forecaster.config)}}
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str, ensure_ascii=False))
    return out


def load(directory: str | Path) -> CatBoostForecaster:
    """Inverse of ``save``; the loaded forecaster needs ``predict(targets, history=...)``."""
    src = Path(directory)
    meta = json.loads((src / METADATA_FILE).read_text())
    cfg = dict(meta.get("train_config", {}))
    config = TrainConfig(**cfg) if cfg else TrainConfig()
    model = CatBoostRegressor()
    model.load_model(str(src / MODEL_FILE), format="cbm")
    forecaster = CatBoostForecaster(config)
    forecaster.model = model
    forecaster.metadata = meta
    return forecaster
