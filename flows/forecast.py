"""Forecast flow: the champion's forecasts for the next 7 days, every station, as of one day.

Table of contents only -- pick the as-of (given, else the replay clock, else the newest data + lag)
-> the production package (``SEONGSU_HOME/models`` or the BentoML store; never W&B) -> what was known
on that day (recent context only) -> forecast -> ``forecasts`` table -> publish the refreshed package
(same model, new as-of: no retraining) as ``seongsu-crowding:latest`` -> prune old store versions
(``tasks.ops.model_store``).  Work in ``tasks.model.forecast``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow

from tasks.model.forecast import package_context_days
from tasks.ops.orchestration import as_of_run_name
from tasks.reports import publish_forecast
from tasks.steps import (
    forecast_task,
    load_history_task,
    production_package_task,
    prune_store_task,
    publish_refresh_task,
    write_forecasts_task,
)


@flow(name="forecast", flow_run_name=as_of_run_name, log_prints=True)
def forecast(as_of: date | None = None) -> dict[str, Any]:
    """Issue and store the champion's forecasts for as_of+1..as_of+7 and publish them for serving."""
    package = production_package_task()
    loaded = load_history_task(as_of, context_days=package_context_days(package))
    frame = forecast_task(package, loaded.history, loaded.as_of)
    version = package.metadata.version
    written = write_forecasts_task(frame, version, loaded.as_of)
    tag = publish_refresh_task(package, loaded, frame)
    prune_store_task()
    publish_forecast(
        frame, version=version, as_of=loaded.as_of, weather_note=loaded.weather_note, written=written, tag=tag
    )
    return {
        "as_of": loaded.as_of.isoformat(),
        "model_version": version,
        "rows": frame.height,
        "written": written,
        "bento_tag": tag,
        "weather": loaded.weather_note,
    }
