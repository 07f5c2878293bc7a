"""Monitor flow: score yesterday's forecasts, check drift, ask for a retrain when it matters.

Table of contents only: evaluate (and store in ``monitoring``) -> publish the report artifacts ->
emit ``seongsu.monitor.retrain-needed`` when a threshold is crossed.  The ``train`` deployment's
trigger in ``prefect.yaml`` turns that event into a training run; the work is in ``tasks.ops.monitor``.
"""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.ops.monitor import (
    MonitorResult,
    evaluate_task,
    metrics_table,
    report_markdown,
    request_retrain_task,
)
from tasks.ops.orchestration import as_of_run_name

REPORT_KEY = "monitor-report"
METRICS_KEY = "monitor-metrics"


@flow(name="monitor", flow_run_name=as_of_run_name, log_prints=True)
def monitor(as_of: date | None = None) -> MonitorResult | None:
    """Accuracy per horizon and station group, drift vs the 8 weeks before, retrain request."""
    result = evaluate_task(as_of)
    if result is None:
        create_markdown_artifact(
            key=REPORT_KEY,
            markdown="# Monitoring\n\nNo ridership in the warehouse yet.",
            description="Monitoring",
        )
        return None
    title = f"Monitoring as of {result.windows.evaluated_on}"
    create_markdown_artifact(key=REPORT_KEY, markdown=report_markdown(result), description=title)
    create_table_artifact(key=METRICS_KEY, table=metrics_table(result), description=title)
    if result.retrain_needed:
        request_retrain_task(result)
    return result
