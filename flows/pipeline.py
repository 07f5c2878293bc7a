"""The daily chain: ingest ridership + weather -> monitor -> forecast, as of one day.

Why one flow of subflows rather than three independent schedules: monitoring must score yesterday's
forecasts against the data that has just arrived, and today's forecasts must be issued after it,
so the order matters and one flow run shows the day end to end.  Each step is the same flow that
also has its own deployment, so a step can still be re-run alone.  Training is not in the chain: it
runs weekly and whenever the monitor's ``seongsu.monitor.retrain-needed`` event fires the ``train``
deployment's trigger (``prefect.yaml``).

``as_of`` is the simulated "today" of the snapshot replay (or the real today for the live APIs).
When it is omitted the replay clock (``pipeline_state.replay_as_of``) is used if a replay is
running; otherwise everything published so far is ingested and the rest of the chain runs as of the
day the newest ridership was published (``tasks.data.history.default_as_of``), so the three steps always
agree on one date.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from prefect import flow

from flows.forecast import forecast
from flows.ingest import ingest_ridership, ingest_weather
from flows.monitor import monitor
from tasks.ops.orchestration import as_of_run_name
from tasks.steps import default_as_of_task, replay_clock_task

INGEST_LOOKBACK_DAYS = 14
"""A daily run re-reads the last two weeks: enough to pick up a missed day or a publisher's late
correction (upserts leave unchanged rows alone), far less than the whole history."""


@flow(name="daily-pipeline", flow_run_name=as_of_run_name, log_prints=True)
def daily_pipeline(
    as_of: date | None = None,
    source: Literal["snapshot", "api"] = "snapshot",
    lookback_days: int | None = INGEST_LOOKBACK_DAYS,
) -> dict[str, Any]:
    """Ingest what was published by ``as_of``, monitor, then forecast (``lookback_days=None``: all)."""
    as_of = as_of or replay_clock_task()
    start = as_of - timedelta(days=lookback_days) if as_of and lookback_days is not None else None
    ingest_ridership(source=source, start=start, as_of=as_of)
    ingest_weather(source=source, start=start, as_of=as_of)
    day = as_of or default_as_of_task()
    if day is None:
        print("nothing ingested yet: skipping monitor and forecast")
        return {"as_of": None}
    report = monitor(as_of=day)
    forecast(as_of=day)
    return {
        "as_of": day.isoformat(),
        "retrain_requested": bool(report and report.retrain_needed),
        "alerts": [a.reason for a in report.alerts] if report else [],
    }
