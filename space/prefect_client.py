"""Flow runs and deployments from the Prefect REST API (plain httpx: the Space does not install Prefect).

Status calls are memoised for ``status_ttl_s``: Prefect Cloud rate-limits its API, and a popular
Space must not multiply its traffic by its visitors.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import httpx

try:
    from space.client_base import (
        DEFAULT_STATUS_TTL_S,
        DEFAULT_TIMEOUT_S,
        TTLCache,
        Unavailable,
        parse_timestamp,
    )
    from space.http_service import HttpService
except ImportError:  # on Hugging Face the Space root is the working directory
    from client_base import (  # type: ignore[no-redef]
        DEFAULT_STATUS_TTL_S,
        DEFAULT_TIMEOUT_S,
        TTLCache,
        Unavailable,
        parse_timestamp,
    )
    from http_service import HttpService  # type: ignore[no-redef]


@dataclass(frozen=True)
class FlowRunInfo:
    id: str
    name: str
    flow: str
    deployment: str | None
    state_type: str
    state_name: str
    start: dt.datetime | None
    end: dt.datetime | None
    duration_s: float | None
    url: str | None


@dataclass(frozen=True)
class DeploymentInfo:
    id: str
    name: str
    flow: str
    paused: bool
    latest: FlowRunInfo | None
    schedules: tuple[dict[str, Any], ...] = ()  # as the API returns them: {"schedule": ..., "active": ...}
    next_run: dt.datetime | None = None  # the earliest scheduled run
    work_pool: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


@dataclass(frozen=True)
class PipelineRuns:
    deployments: list[DeploymentInfo]
    recent: list[FlowRunInfo]  # newest first, scheduled-but-not-started runs excluded

    @property
    def latest_by_flow(self) -> dict[str, FlowRunInfo]:
        """The newest run of each flow (deployed or not)."""
        out: dict[str, FlowRunInfo] = {}
        for run in self.recent:
            out.setdefault(run.flow, run)
        return out


_CLOUD_API = re.compile(r"^https://api\.prefect\.cloud/api/accounts/([^/]+)/workspaces/([^/]+)/?$")


def prefect_ui_base(api_url: str, ui_url: str | None = None) -> str | None:
    """Where the Prefect UI lives for an API URL (Prefect Cloud or a self-hosted server)."""
    if ui_url:
        return ui_url.rstrip("/")
    api_url = api_url.rstrip("/")
    cloud = _CLOUD_API.match(api_url)
    if cloud:
        return f"https://app.prefect.cloud/account/{cloud.group(1)}/workspace/{cloud.group(2)}"
    if api_url.endswith("/api"):
        return api_url[: -len("/api")]
    return None


class PrefectClient(HttpService):
    """Flow runs and deployments from the Prefect REST API (plain httpx: no Prefect install needed)."""

    service = "prefect"

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        ui_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        status_ttl_s: float = DEFAULT_STATUS_TTL_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        super().__init__(api_url, headers=headers, timeout_s=timeout_s, transport=transport)
        self.ui_base = prefect_ui_base(api_url, ui_url)
        self._status = TTLCache(status_ttl_s)

    def run_url(self, run_id: str) -> str | None:
        return f"{self.ui_base}/runs/flow-run/{run_id}" if self.ui_base else None

    def runs(self, limit: int = 60) -> PipelineRuns | Unavailable:
        """Deployments with their latest run, and the most recent runs (cached for the status TTL)."""
        return self._status.get(("runs", limit), lambda: self._fetch_runs(limit))

    def _fetch_runs(self, limit: int) -> PipelineRuns | Unavailable:
        flows = self._json("POST", "/flows/filter", json={"limit": 200})
        if isinstance(flows, Unavailable):
            return flows
        deployments = self._json("POST", "/deployments/filter", json={"limit": 200})
        if isinstance(deployments, Unavailable):
            return deployments
        runs = self._json(
            "POST",
            "/flow_runs/filter",
            json={
                "limit": limit,
                "sort": "EXPECTED_START_TIME_DESC",
                "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED"]}}},
            },
        )
        if isinstance(runs, Unavailable):
            return runs
        upcoming = self._json(
            "POST",
            "/flow_runs/filter",
            json={
                "limit": 200,
                "sort": "EXPECTED_START_TIME_ASC",
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
            },
        )
        if isinstance(upcoming, Unavailable):
            return upcoming
        if not all(isinstance(x, list) for x in (flows, deployments, runs, upcoming)):
            return Unavailable(self.service, f"{self.host} sent an unexpected answer")
        flow_names = {f["id"]: f.get("name", "?") for f in flows}
        dep_names = {d["id"]: d.get("name", "?") for d in deployments}
        now = dt.datetime.now(dt.UTC)
        parsed: list[FlowRunInfo] = []
        for r in runs:
            state = r.get("state") or {}
            start = parse_timestamp(r.get("start_time"))
            end = parse_timestamp(r.get("end_time"))
            state_type = str(r.get("state_type") or state.get("type") or "UNKNOWN")
            duration: float | None = None
            if start is not None:
                if end is not None:
                    duration = (end - start).total_seconds()
                elif state_type == "RUNNING":
                    duration = (now - start).total_seconds()
            parsed.append(
                FlowRunInfo(
                    id=str(r.get("id")),
                    name=str(r.get("name", "")),
                    flow=flow_names.get(r.get("flow_id"), "?"),
                    deployment=dep_names.get(r.get("deployment_id")) if r.get("deployment_id") else None,
                    state_type=state_type,
                    state_name=str(r.get("state_name") or state.get("name") or state_type.title()),
                    start=start,
                    end=end,
                    duration_s=duration,
                    url=self.run_url(str(r.get("id"))),
                )
            )
        latest_by_deployment: dict[str, FlowRunInfo] = {}
        for raw, run in zip(runs, parsed, strict=True):
            dep_id = raw.get("deployment_id")
            if dep_id and dep_id not in latest_by_deployment:
                latest_by_deployment[dep_id] = run
        next_run: dict[str, dt.datetime] = {}
        for raw in upcoming:
            when = parse_timestamp(raw.get("expected_start_time") or raw.get("next_scheduled_start_time"))
            if raw.get("deployment_id") and when is not None:
                next_run.setdefault(raw["deployment_id"], when)
        infos = [
            DeploymentInfo(
                id=str(d["id"]),
                name=str(d.get("name", "?")),
                flow=flow_names.get(d.get("flow_id"), "?"),
                paused=bool(d.get("paused", False)),
                latest=latest_by_deployment.get(d["id"]),
                schedules=tuple(d.get("schedules") or ()),
                next_run=next_run.get(d["id"]),
                work_pool=d.get("work_pool_name"),
            )
            for d in deployments
        ]
        infos.sort(key=lambda d: d.full_name)
        return PipelineRuns(deployments=infos, recent=parsed)

    def clear(self) -> None:
        self._status.clear()
