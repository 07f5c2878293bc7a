"""Train flow: a challenger is trained, backtested, compared with the champion and the best
baseline, then promoted -- or not, and then the champion or the best baseline serves.

Table of contents only -- load what was known on ``as_of`` -> (``baseline_first``, on a fresh system:
serve the best baseline at once) -> train (bounded search) -> backtest on
the newest weeks vs the baselines (``tasks.model.evaluate``) -> register the candidate (its package is on
disk before anything else can fail) -> the gate: challenger vs champion vs best baseline on the same
targets (``tasks.ops.champion``) -> promote (BentoML store, ``models`` table, ``seongsu.model.promoted``
event) or reject, packaging and serving the best baseline when no model beats it -> W&B (best
effort) -> artifacts.  The work is in ``tasks.ops.challenger``, ``tasks.ops.champion``, ``tasks.ops.registry``,
``tasks.ops.decision_report``, ``tasks.model.forecast`` and ``tasks.ops.tracking``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from prefect import flow

from tasks.core.progress import stage
from tasks.core.settings import get_settings
from tasks.ops.challenger import TrainPlan, backtest_metrics, backtest_table, window_origins
from tasks.ops.champion import Decision
from tasks.ops.decision_report import serving, track_training
from tasks.ops.orchestration import as_of_run_name
from tasks.ops.registry import Candidate, Publication
from tasks.ops.tracking import Tracker
from tasks.reports import publish_training
from tasks.steps import (
    backtest_task,
    compare_task,
    forecast_task,
    load_history_task,
    record_decision_task,
    save_candidate_task,
    serve_first_baseline_task,
    train_challenger_task,
    write_forecasts_task,
)


@flow(name="train", flow_run_name=as_of_run_name, log_prints=True)
def train(
    as_of: date | None = None,
    time_budget_s: float = 280.0,
    quick: bool = False,
    params: dict[str, Any] | None = None,
    stations: list[int] | None = None,
    max_train_rows: int | None = 300_000,
    n_origins: int = 2,
    baseline_first: bool = False,
) -> dict[str, Any]:
    """Train on what was known on ``as_of`` (default: newest data + lag, or the replay clock) and
    promote the model only if it beats the champion and the best baseline on the newest weeks.
    ``baseline_first``: when nothing serves yet, serve the best baseline before training (``up``)."""
    if quick:
        plan = TrainPlan.quick(time_budget_s)
    else:
        plan = TrainPlan(time_budget_s=time_budget_s, max_train_rows=max_train_rows, n_origins=n_origins)
    if params:
        plan = TrainPlan(**{**asdict(plan), "params": dict(params)})
    return run_training(plan, as_of, stations, baseline_first=baseline_first).summary


@dataclass(frozen=True)
class TrainingRun:
    """What one training run decided (the flow returns ``summary``; tests read the rest)."""

    candidate: Candidate
    decision: Decision
    publication: Publication
    summary: dict[str, Any]


def run_training(
    plan: TrainPlan,
    as_of: date | None = None,
    stations: list[int] | None = None,
    *,
    baseline_first: bool = False,
) -> TrainingRun:
    """The train flow's steps for any ``TrainPlan`` (the flow builds the plan from its parameters).

    A plain function so tests drive the very steps the flow runs with plans the deployment does not
    expose (a deliberately weak one, a log target); its tasks need a Prefect API, like the flow."""
    started = time.perf_counter()
    stage("features", "loading what was known on the issue date")
    loaded = load_history_task(as_of, stations)
    if baseline_first:
        stage("baseline", "if nothing serves yet, the best baseline serves while the model trains")
        serve_first_baseline_task(loaded, plan)
    tracker = Tracker.start(
        get_settings(), job_type="train", name=f"train-{loaded.as_of}", config={"plan": asdict(plan)}
    )
    try:
        challenger = train_challenger_task(loaded, plan, time.perf_counter() - started)
        forecasts = forecast_task(challenger, loaded.history, loaded.as_of)
        candidate = save_candidate_task(challenger, loaded, forecasts, tracker.run_ref)
        origins = window_origins(loaded, challenger, plan)
        stage("backtest", f"origins {', '.join(o.isoformat() for o in origins)}, model vs baselines")
        scored = backtest_task(loaded, challenger, origins, plan)
        table = backtest_table(scored)
        stage("compare", "challenger vs champion vs the best baseline on the same targets")
        decision = compare_task(candidate, loaded, scored, origins, plan)
        metrics = backtest_metrics(table, origins)
        stage(
            {"challenger": "promote", "champion": "reject", "baseline": "serve baseline"}[decision.serve],
            decision.reason,
        )
        publication = record_decision_task(candidate, decision, loaded, metrics, tracker.run_ref)
        if decision.promote:
            write_forecasts_task(forecasts, candidate.version, loaded.as_of)
        track_training(
            tracker,
            forecaster=challenger,
            loaded=loaded,
            candidate=candidate,
            table=table,
            scored=scored,
            decision=decision,
            publication=publication,
        )
    except BaseException:
        tracker.finish(exit_code=1)
        raise
    tracker.finish()
    seconds = time.perf_counter() - started
    title = f"Training {candidate.version} as of {loaded.as_of}"
    publish_training(title, decision, publication, table, as_of=loaded.as_of, seconds=seconds)
    summary = {
        "version": candidate.version,
        "as_of": loaded.as_of.isoformat(),
        "promoted": decision.promote,
        "status": publication.status,
        "decision": decision.reason,
        "bento_tag": publication.bento_tag,
        "archived": publication.archived,
        "serving": serving(decision, publication),
        "comparison": decision.comparison.as_dict(),
        "backtest": table.to_dicts(),
        "train_seconds": challenger.metadata.get("timings_s", {}).get("total"),
        "seconds": round(seconds, 1),
        "package": str(candidate.package_path),
        "wandb_run": tracker.run_ref,
        "wandb_dir": str(tracker.run_dir) if tracker.run_dir else None,
        "tracking_errors": tracker.errors,
    }
    return TrainingRun(candidate, decision, publication, summary)
