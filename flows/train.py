"""Train flow: a challenger is trained, backtested, compared with the champion, then promoted or not.

Table of contents only -- load what was known on ``as_of`` -> train (bounded search) -> backtest on
the newest weeks vs the baselines (``tasks.evaluate``) -> register the candidate (its package is on disk before anything
else can fail) -> champion vs challenger on the same targets -> promote (BentoML store, ``models``
table, ``seongsu.model.promoted`` event) or reject -> W&B (best effort) -> artifacts.  The work is in
``tasks.challenger`` (which uses ``tasks.registry`` and ``tasks.evaluate``),
``tasks.forecast`` and ``tasks.tracking``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import date
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.challenger import (
    TrainPlan,
    backtest_metrics,
    backtest_table,
    backtest_task,
    compare_task,
    decision_markdown,
    model_predictions,
    record_decision_task,
    save_candidate_task,
    track_training,
    train_challenger_task,
    window_origins,
)
from tasks.forecast import forecast_task, write_forecasts_task
from tasks.history import load_history_task
from tasks.orchestration import as_of_run_name
from tasks.progress import stage
from tasks.settings import get_settings
from tasks.tracking import Tracker

DECISION_KEY = "train-decision"
BACKTEST_KEY = "train-backtest"


@flow(name="train", flow_run_name=as_of_run_name, log_prints=True)
def train(
    as_of: date | None = None,
    time_budget_s: float = 300.0,
    quick: bool = False,
    params: dict[str, Any] | None = None,
    stations: list[int] | None = None,
    max_train_rows: int | None = 300_000,
    n_origins: int = 2,
) -> dict[str, Any]:
    """Train on what was known on ``as_of`` (default: newest data + lag, or the replay clock) and
    promote the model only if it beats the champion on the newest weeks."""
    started = time.perf_counter()
    if quick:
        plan = TrainPlan.quick(time_budget_s)
    else:
        plan = TrainPlan(time_budget_s=time_budget_s, max_train_rows=max_train_rows, n_origins=n_origins)
    if params:
        plan = TrainPlan(**{**asdict(plan), "params": dict(params)})
    stage("features", "loading what was known on the issue date")
    loaded = load_history_task(as_of, stations)
    tracker = Tracker.start(
        get_settings(), job_type="train", name=f"train-{loaded.as_of}", config={"plan": asdict(plan)}
    )
    try:
        challenger = train_challenger_task(loaded, plan)
        forecasts = forecast_task(challenger, loaded.history, loaded.as_of)
        candidate = save_candidate_task(challenger, loaded, forecasts, tracker.run_ref)
        origins = window_origins(loaded, challenger, plan)
        stage("backtest", f"origins {', '.join(o.isoformat() for o in origins)}, model vs baselines")
        scored = backtest_task(loaded, challenger, origins, plan)
        table = backtest_table(scored)
        stage("compare", "challenger vs champion on the same targets")
        decision = compare_task(candidate, loaded, model_predictions(scored), origins, plan)
        metrics = backtest_metrics(table, origins)
        stage("promote" if decision.promote else "reject", decision.reason)
        publication = record_decision_task(candidate, decision, metrics, tracker.run_ref)
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
        )
    except BaseException:
        tracker.finish(exit_code=1)
        raise
    tracker.finish()
    seconds = time.perf_counter() - started
    title = f"Training {candidate.version} as of {loaded.as_of}"
    create_markdown_artifact(
        key=DECISION_KEY,
        markdown=decision_markdown(decision, publication, table, as_of=loaded.as_of, seconds=seconds),
        description=title,
    )
    create_table_artifact(key=BACKTEST_KEY, table=table.to_dicts(), description=f"{title}: backtest WAPE")
    return {
        "version": candidate.version,
        "as_of": loaded.as_of.isoformat(),
        "promoted": decision.promote,
        "status": publication.status,
        "decision": decision.reason,
        "bento_tag": publication.bento_tag,
        "archived": publication.archived,
        "comparison": decision.comparison.as_dict(),
        "backtest": table.to_dicts(),
        "train_seconds": challenger.metadata.get("timings_s", {}).get("total"),
        "seconds": round(seconds, 1),
        "package": str(candidate.package_path),
        "wandb_run": tracker.run_ref,
        "wandb_dir": str(tracker.run_dir) if tracker.run_dir else None,
        "tracking_errors": tracker.errors,
    }
