"""One training run, step by step: the challenger's side of champion/challenger.

Why a module of its own: ``tasks.ops.registry`` is the record (models table, packages, the BentoML
store, promotion, rollback); this is the *procedure* the train flow follows, in plain functions
with thin ``@task`` wrappers -- train within a time budget (``TrainPlan``), backtest the challenger's
recipe and the baselines on the newest weeks (``tasks.model.evaluate``), compare with the champion on the
same targets together with every baseline (the gate, ``tasks.ops.champion``), promote or reject -- or
serve the best baseline when no model beats it.  Reporting (artifact, W&B) is ``tasks.ops.decision_report``.

Budget: ``TrainPlan.time_budget_s`` bounds the whole run (``train_challenger``), every single fit is
capped at half of it; training rows are subsampled to ``max_train_rows`` (seeded) for the search and
the one backtest fit alike, so a run on the whole snapshot takes minutes on 2 cores.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import polars as pl

from tasks.core.settings import Settings
from tasks.data.history import LoadedHistory
from tasks.data.warehouse.base import Warehouse
from tasks.model.features import KEYS, PUBLICATION_LAG_DAYS, cutoff_for
from tasks.model.recipe import Target, TrainConfig
from tasks.model.train import CatBoostForecaster, train
from tasks.ops.champion import (
    Decision,
    champion_predictions,
    compare,
    comparison_origins,
    decide,
    serve_baseline,
)
from tasks.ops.identity import fit_config, recipe_of
from tasks.ops.registry import Candidate, Publication, production_record, promote, reject
from tasks.ops.store import RegistryError

log = logging.getLogger("seongsu.challenger")


# --------------------------------------------------------------------------------------------------
# the backtest report: model vs baselines on the comparison window (tasks.model.evaluate does the work)

MODEL_NAME: Final = CatBoostForecaster.name


def model_predictions(scored: pl.DataFrame, name: str = MODEL_NAME) -> pl.DataFrame:
    """One forecaster's rows of ``tasks.model.evaluate.backtest_predictions`` output, as forecasts."""
    return scored.filter(pl.col("model") == name).select(*KEYS, "as_of", "yhat", "lo", "hi")


def backtest_table(scored: pl.DataFrame) -> pl.DataFrame:
    """Tidy metrics ``model, scope, horizon, wape, mae, coverage, n`` (``tasks.model.evaluate.score``;
    scopes ``all`` and ``211``; horizon 0 = all horizons) on the targets every forecaster answered."""
    from tasks.model.evaluate import score

    return score(scored)


def backtest_pivot(table: pl.DataFrame, metric: str = "wape") -> pl.DataFrame:
    """``metric`` as model x scope rows and h1..h7 + all columns (for people, not machines)."""
    wide = table.with_columns(
        col=pl.when(pl.col("horizon") == 0).then(pl.lit("all")).otherwise(pl.format("h{}", pl.col("horizon")))
    ).pivot(on="col", index=["model", "scope"], values=metric)
    horizons = sorted((c for c in wide.columns if c.startswith("h")), key=lambda c: int(c[1:]))
    order = {name: i for i, name in enumerate([MODEL_NAME, *table["model"].unique(maintain_order=True)])}
    return (
        wide.with_columns(
            _m=pl.col("model").replace_strict(order, default=len(order)), _s=pl.col("scope") != "all"
        )
        .sort("_s", "_m")
        .select("model", "scope", *horizons, "all")
    )


# --------------------------------------------------------------------------------------------------
# one training run, step by step (the train flow calls these through the @task wrappers below)

QUICK_PARAMS: Final = {"depth": 6, "learning_rate": 0.15, "l2_leaf_reg": 3.0, "iterations": 150}


@dataclass(frozen=True)
class TrainPlan:
    """How much work one training run may do.  ``params`` skips the search (tests, ``--quick``).

    ``time_budget_s`` bounds the whole run: loading, training rows, search, the backtest fit and
    what follows it (``FINISH_S``); every single fit is capped at half of it.  280 s by default: with
    the 10-17 s Prefect start-up of a command the run stays inside the 5-minute target (issue 10).
    """

    time_budget_s: float = 280.0
    params: dict[str, Any] | None = None
    max_train_rows: int | None = 300_000
    train_days: int | None = None
    n_origins: int = 2
    min_improvement: float = 0.0
    thread_count: int = 2
    target: Target = "ratio"
    min_trees: int = TrainConfig.min_trees

    @classmethod
    def quick(cls, time_budget_s: float = 120.0) -> TrainPlan:
        return cls(
            time_budget_s=time_budget_s, params=dict(QUICK_PARAMS), max_train_rows=150_000, n_origins=1
        )

    def config(self) -> TrainConfig:
        base = TrainConfig(
            target=self.target,
            thread_count=self.thread_count,
            max_train_rows=self.max_train_rows,
            train_days=self.train_days,
            fit_time_limit_s=max(30.0, self.time_budget_s / 2),
            min_trees=self.min_trees,
        )
        return replace(base, params=dict(self.params)) if self.params else base


FINISH_S: Final = 30.0
"""Kept from the run's budget for the steps after the backtest fit: forecasts, the candidate's
package, the gate, promotion or serving the baseline, W&B (11-20 s measured on 2 cores)."""


def train_challenger(loaded: LoadedHistory, plan: TrainPlan, spent_s: float = 0.0) -> CatBoostForecaster:
    """Search (unless ``plan.params``) on everything known at as_of in what is left of the run's
    budget after ``spent_s``, keeping room for one more fit (the backtest's) and ``FINISH_S``; the best
    fit is kept as it is (``tasks.model.train``: no refit)."""
    grid = None if plan.params else _default_grid()
    budget = plan.time_budget_s - spent_s - FINISH_S
    return train(loaded.history, loaded.as_of, plan.config(), grid=grid, time_budget_s=budget, reserve_fits=1)


def _default_grid() -> tuple[dict[str, Any], ...]:
    from tasks.model.recipe import DEFAULT_GRID

    return DEFAULT_GRID


def window_origins(loaded: LoadedHistory, forecaster: CatBoostForecaster, plan: TrainPlan) -> list[dt.date]:
    """The comparison window of the challenger (``window_end`` at its publication lag)."""
    lag = int(forecaster.metadata.get("lag_days", forecaster.config.lag_days))
    return comparison_origins(window_end(loaded, lag), plan.n_origins)


def window_end(loaded: LoadedHistory, lag_days: int) -> dt.date:
    """The comparison window ends on the newest ridership known at as_of (the cutoff, or earlier
    when the feeds lag behind)."""
    cutoff = cutoff_for(loaded.as_of, lag_days)
    newest = loaded.history.ridership.filter(pl.col("date") <= cutoff)["date"].max()
    return min(cutoff, newest) if isinstance(newest, dt.date) else cutoff


def backtest_window(
    loaded: LoadedHistory, forecaster: CatBoostForecaster, origins: Sequence[dt.date], plan: TrainPlan
) -> pl.DataFrame:
    """The challenger's recipe and the baselines through ``tasks.model.evaluate``'s rolling-origin backtest
    at ``origins`` (every forecaster fit once on what was known at the first of them, scored on the
    same observed rows of every origin; each origin's features read only what was known at it).

    Returns the scored rows (``model, date, hour, station_code, direction, as_of, horizon, y, yhat,
    lo, hi``).
    """
    from tasks.model.baselines import baselines
    from tasks.model.evaluate import backtest_predictions

    lag = int(forecaster.metadata.get("lag_days", forecaster.config.lag_days))
    # one fit at the window's first origin scores every origin of it (as bench/accuracy.py's blocks
    # do): the later weeks are still out of sample, and a refit per origin doubled the flow's fits;
    # its training rows are the challenger's known at that origin (no second feature build)
    config = fit_config(recipe_of(forecaster), plan.config())
    rows = forecaster.training_rows
    recipe = CatBoostForecaster(config, rows=None if rows is None or rows.differ(config) else rows)
    scored, seconds = backtest_predictions(
        [recipe, *baselines(lag)], loaded.history, origins, lag_days=lag, refit_every=len(origins)
    )
    log.info(
        "backtest at %s: %s", [o.isoformat() for o in origins], {k: round(v, 1) for k, v in seconds.items()}
    )
    return scored


def feature_importance(forecaster: CatBoostForecaster) -> pl.DataFrame:
    """CatBoost's PredictionValuesChange importance per feature, largest first."""
    if forecaster.model is None:
        return pl.DataFrame(schema={"feature": pl.String, "importance": pl.Float64})
    names = list(forecaster.model.feature_names_)
    values = [float(v) for v in forecaster.model.get_feature_importance()]
    return pl.DataFrame({"feature": names, "importance": values}).sort("importance", descending=True)


def evaluate_challenger(
    settings: Settings,
    warehouse: Warehouse,
    candidate: Candidate,
    loaded: LoadedHistory,
    scored: pl.DataFrame,
    origins: Sequence[dt.date],
    plan: TrainPlan,
) -> Decision:
    """The gate (``tasks.ops.champion``): challenger vs champion vs every baseline on the window.

    ``scored``: ``backtest_window``'s rows (the challenger's recipe and every baseline)."""
    challenger_preds = model_predictions(scored)
    baseline_preds = scored.filter(pl.col("model") != MODEL_NAME)
    champion = production_record(warehouse)
    if champion is not None and champion.version == candidate.version:
        champion = None
    champion_preds: pl.DataFrame | None = None
    methods: dict[str, str] = {}
    if champion is not None:
        try:
            champion_preds, methods = champion_predictions(
                settings,
                champion,
                loaded.history,
                origins,
                challenger_recipe=candidate.recipe,
                challenger_preds=challenger_preds,
                baseline_preds=baseline_preds,
                bounds=plan.config(),
            )
        except (RegistryError, FileNotFoundError, ValueError) as exc:
            log.error("champion %s cannot be evaluated (%s): treating as absent", champion.version, exc)
            champion = None
    comparison = compare(
        challenger_preds,
        loaded.history,
        origins,
        champion=champion,
        champion_preds=champion_preds,
        champion_method=methods,
        baseline_preds=baseline_preds,
    )
    return decide(candidate.version, comparison, plan.min_improvement)


def record_decision(
    settings: Settings,
    warehouse: Warehouse,
    candidate: Candidate,
    decision: Decision,
    *,
    loaded: LoadedHistory,
    metrics: Mapping[str, Any] | None = None,
    wandb_run: str | None = None,
) -> Publication:
    """Promote or reject the challenger; when the gate says so, package and serve the best baseline
    (its forecasts go to the warehouse ``forecasts`` table, as a promoted model's do)."""
    if decision.promote:
        return promote(settings, warehouse, candidate, decision, metrics=metrics, wandb_run=wandb_run)
    rejected = reject(warehouse, candidate, decision, metrics=metrics, wandb_run=wandb_run)
    if decision.baseline is None:
        return rejected
    served = serve_baseline(
        settings, warehouse, loaded, decision, wandb_run=wandb_run, lag_days=candidate_lag(candidate)
    )
    return replace(rejected, baseline=served)


def serve_first_baseline(
    settings: Settings, warehouse: Warehouse, loaded: LoadedHistory, plan: TrainPlan
) -> Publication | None:
    """Before any forecaster serves: score every baseline on the comparison window and serve the
    best one (packaged, promoted, its forecasts written), so a fresh system answers ``/forecast``
    within a minute while its first model trains.  None (nothing done) once something serves."""
    from tasks.model.baselines import baselines
    from tasks.model.evaluate import backtest_predictions

    if production_record(warehouse) is not None:
        return None
    lag = plan.config().lag_days
    origins = comparison_origins(window_end(loaded, lag), plan.n_origins)
    scored, _ = backtest_predictions(
        baselines(lag), loaded.history, origins, lag_days=lag, refit_every=len(origins)
    )
    decision = decide("", compare(None, loaded.history, origins, baseline_preds=scored))
    return serve_baseline(settings, warehouse, loaded, decision, lag_days=lag)


def candidate_lag(candidate: Candidate) -> int:
    """The publication lag the candidate's window was scored with (its baselines used the same)."""
    return int(candidate.recipe.get("lag_days", PUBLICATION_LAG_DAYS))


def backtest_metrics(table: pl.DataFrame, origins: Sequence[dt.date]) -> dict[str, Any]:
    """What ``metrics_json`` keeps of a backtest (``backtest_wape`` is what the monitor reads)."""
    overall = table.filter(pl.col("model") == MODEL_NAME, pl.col("scope") == "all", pl.col("horizon") == 0)
    return {
        "backtest_wape": float(overall["wape"].item()) if overall.height else None,
        "backtest_coverage": float(overall["coverage"].item()) if overall.height else None,
        "backtest": table.to_dicts(),
        "origins": [o.isoformat() for o in origins],
    }
