"""Monitor flow: score yesterday's forecasts, check drift, ask for a retrain when it matters.

Table of contents only: evaluate (and store in ``monitoring``) -> publish the report artifacts ->
emit ``seongsu.monitor.retrain-needed`` when a threshold is crossed.  The ``train`` deployment's
trigger in ``prefect.yaml`` turns that event into a training run; the work is in ``tasks.ops.monitor``.
"""

from __future__ import annotations

from datetime import date

from prefect import flow

from tasks.ops.monitor import MonitorResult
from tasks.ops.orchestration import as_of_run_name
from tasks.reports import publish_monitor
from tasks.steps import evaluate_task, request_retrain_task


@flow(name="monitor", flow_run_name=as_of_run_name, log_prints=True)
def monitor(as_of: date | None = None) -> MonitorResult | None:
    """Accuracy per horizon and station group, drift vs the 8 weeks before, retrain request."""
    result = evaluate_task(as_of)
    publish_monitor(result)
    if result is None:
        return None
    if result.retrain_needed:
        request_retrain_task(result)
    return result
