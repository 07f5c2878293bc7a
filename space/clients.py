"""The Space's only windows on the rest of the system: the Bento service, the Prefect API, the data.

Why a layer of its own:

* **Never raise into the UI.**  Every public method returns a typed result or ``Unavailable(reason)``
  with a plain-words reason; the page shows it where the data would have been.
* **Short timeouts, server-side TTL caches.**  A page view fans out to three services; each call has
  a 3 s budget, status calls are memoised (Prefect Cloud rate-limits), failures only for a few seconds.
* **Light to deploy.**  On Hugging Face the Space does not install this project: only httpx and
  polars.  ``tasks`` is imported lazily, in local mode only (``warehouse_backend``, ``clock_control``).

One module per backend (``bento_client``, ``prefect_client``, ``supabase_backend``,
``warehouse_backend``, ``clock_control``); this one puts them together and re-exports the names the
views use.  Configuration comes only from the environment: see ``space_config``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

try:
    from space.bento_client import BentoClient, ForecastResult, ModelInfo, StationForecast
    from space.client_base import TTLCache, Unavailable, ok, parse_date, parse_timestamp
    from space.clock_control import ClockControl
    from space.data_client import DataClient
    from space.prefect_client import DeploymentInfo, FlowRunInfo, PipelineRuns, PrefectClient, prefect_ui_base
    from space.space_config import SpaceConfig
    from space.view_schemas import Freshness
except ImportError:  # on Hugging Face the Space root is the working directory
    from bento_client import (  # type: ignore[no-redef]
        BentoClient,
        ForecastResult,
        ModelInfo,
        StationForecast,
    )
    from client_base import (  # type: ignore[no-redef]
        TTLCache,
        Unavailable,
        ok,
        parse_date,
        parse_timestamp,
    )
    from clock_control import ClockControl  # type: ignore[no-redef]
    from data_client import DataClient  # type: ignore[no-redef]
    from prefect_client import (  # type: ignore[no-redef]
        DeploymentInfo,
        FlowRunInfo,
        PipelineRuns,
        PrefectClient,
        prefect_ui_base,
    )
    from space_config import SpaceConfig  # type: ignore[no-redef]
    from view_schemas import Freshness  # type: ignore[no-redef]

__all__ = [
    "BentoClient",
    "Clients",
    "ClockControl",
    "DataClient",
    "DeploymentInfo",
    "FlowRunInfo",
    "ForecastResult",
    "Freshness",
    "ModelInfo",
    "PipelineRuns",
    "PrefectClient",
    "SpaceConfig",
    "StationForecast",
    "TTLCache",
    "Unavailable",
    "ok",
    "parse_date",
    "parse_timestamp",
    "prefect_ui_base",
]


@dataclass
class Clients:
    """The app's handles on the outside world, built from one ``SpaceConfig``."""

    config: SpaceConfig
    bento: BentoClient | None
    prefect: PrefectClient | None
    data: DataClient
    clock: ClockControl

    @classmethod
    def from_config(cls, config: SpaceConfig) -> Clients:
        bento = (
            BentoClient(
                config.bento_url,
                api_key=config.bento_api_key,
                timeout_s=config.timeout_s,
                status_ttl_s=config.status_ttl_s,
            )
            if config.bento_url
            else None
        )
        prefect = (
            PrefectClient(
                config.prefect_api_url,
                api_key=config.prefect_api_key,
                ui_url=config.prefect_ui_url,
                timeout_s=config.timeout_s,
                status_ttl_s=config.status_ttl_s,
            )
            if config.prefect_api_url
            else None
        )
        clock = ClockControl(config.local, warehouse_url=config.warehouse_url)
        return cls(config, bento, prefect, DataClient.from_config(config), clock)

    def model(self) -> ModelInfo | Unavailable:
        if self.bento is None:
            return Unavailable("bento", "SEONGSU_BENTO_URL is not set")
        return self.bento.model()

    def forecast(self, station: str, day: dt.date | None) -> ForecastResult | Unavailable:
        if self.bento is None:
            return Unavailable("bento", "SEONGSU_BENTO_URL is not set")
        return self.bento.forecast(station, day)

    def runs(self) -> PipelineRuns | Unavailable:
        if self.prefect is None:
            return Unavailable("prefect", "PREFECT_API_URL is not set")
        return self.prefect.runs()

    def clear(self) -> None:
        """Forget every cached answer (after the replay clock moved)."""
        if self.bento:
            self.bento.clear()
        if self.prefect:
            self.prefect.clear()
        self.data.clear()
