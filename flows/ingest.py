"""Ingest flows: ridership (daily) and weather (hourly) into the warehouse.

Each flow is a table of contents: which datasets a source provides, one task per dataset (written
while holding the ``seongsu-ingest`` concurrency slot, so two ingests never overlap), one artifact
summarising the run.  The work itself lives in ``tasks.data.ingest``.

A snapshot ingest without ``as_of`` while a replay is running (``seongsu up``) reads as of the replay
clock: the scheduled deployments never publish the replay's future.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from prefect import flow

from tasks.core.settings import get_settings
from tasks.data.ingest import IngestSummary
from tasks.data.status import freshness
from tasks.data.warehouse import warehouse_session
from tasks.ops.orchestration import as_of_run_name, ingest_slot
from tasks.reports import publish_ingest
from tasks.steps import ingest_dataset, replay_clock_task

Source = Literal["snapshot", "api", "file"]

RIDERSHIP_DATASETS: dict[str, tuple[str, ...]] = {
    "snapshot": ("stations", "ridership_hourly", "ridership_daily"),
    "file": ("stations", "ridership_hourly"),
    "api": ("ridership_daily",),
}
WEATHER_DATASETS: dict[str, tuple[str, ...]] = {
    "snapshot": ("weather_hourly", "weather_daily"),
    "api": ("weather_hourly", "weather_forecast"),
}


def _publish(title: str, key: str, summaries: list[IngestSummary]) -> None:
    with warehouse_session(get_settings(), migrate=False) as warehouse:
        fresh = freshness(warehouse)
    publish_ingest(title, key, summaries, fresh)


@flow(name="ingest-ridership", flow_run_name=as_of_run_name, log_prints=True)
def ingest_ridership(
    source: Source = "snapshot",
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    path: str | None = None,
    allow_renames: bool = False,
) -> list[IngestSummary]:
    """Ridership: stations + hourly counts (snapshot/file) or daily card totals (Seoul Open API).
    A station rename loads only with ``allow_renames`` (otherwise it is quarantined)."""
    if source == "snapshot" and as_of is None:
        as_of = replay_clock_task()
    with ingest_slot():
        summaries = [
            ingest_dataset(source, dataset, start, end, as_of, path, allow_renames)
            for dataset in RIDERSHIP_DATASETS[source]
        ]
    _publish(f"Ridership ingest ({source})", "ingest-ridership", summaries)
    return summaries


@flow(name="ingest-weather", flow_run_name=as_of_run_name, log_prints=True)
def ingest_weather(
    source: Source = "snapshot",
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
) -> list[IngestSummary]:
    """Weather: KMA ASOS hourly observations, daily weather of the older years (snapshot), and the
    short-term forecast (live API)."""
    if source not in WEATHER_DATASETS:
        raise ValueError(f"weather comes from {' or '.join(WEATHER_DATASETS)}, not {source!r}")
    if source == "snapshot" and as_of is None:
        as_of = replay_clock_task()
    with ingest_slot():
        summaries = [
            ingest_dataset(source, dataset, start, end, as_of) for dataset in WEATHER_DATASETS[source]
        ]
    _publish(f"Weather ingest ({source})", "ingest-weather", summaries)
    return summaries
