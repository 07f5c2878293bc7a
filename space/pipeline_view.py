"""The pipeline tab: the latest run of each deployment, data freshness per table, the production model."""

from __future__ import annotations

from typing import Any

import polars as pl

try:
    from space import texts
    from space.clients import Clients, ModelInfo, PipelineRuns, Unavailable, parse_timestamp
    from space.fmt import fmt_duration, fmt_time, md_escape, schedule_text
    from space.model_panel import coverage_line, headline, headline_lines, served_metrics
except ImportError:  # on Hugging Face the Space root is the working directory
    import texts  # type: ignore[no-redef]
    from clients import (  # type: ignore[no-redef]
        Clients,
        ModelInfo,
        PipelineRuns,
        Unavailable,
        parse_timestamp,
    )
    from fmt import (  # type: ignore[no-redef]
        fmt_duration,
        fmt_time,
        md_escape,
        schedule_text,
    )
    from model_panel import (  # type: ignore[no-redef]
        coverage_line,
        headline,
        headline_lines,
        served_metrics,
    )


FRESHNESS_COLUMNS = (
    "테이블 Table",
    "최신 날짜 Newest",
    "행 수 Rows",
    "마지막 적재 Last load (KST)",
    "상태 Status",
)


LOCAL_TIME_TABLES = ("weather_hourly", "weather_forecast")
"""Tables whose timestamps are Korean wall-clock times (KMA observations and forecasts); the
system's own timestamps (loads, models) are UTC."""


def _newest(table: str, value: str | None) -> str:
    """A date stays a date; a timestamp is shown in KST, labelled (converted when it is UTC)."""
    if not value:
        return "—"
    if len(value.strip()) <= 10:
        return value
    if table in LOCAL_TIME_TABLES:
        return f"{value.strip()[:16]} KST"
    return fmt_time(parse_timestamp(value))


def empty_freshness_table() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(FRESHNESS_COLUMNS, pl.String))


def pipeline(clients: Clients) -> tuple[str, pl.DataFrame, str]:
    try:
        return runs_markdown(clients), freshness_table(clients), model_markdown(clients)
    except Exception as exc:
        message = f"파이프라인 정보를 그리지 못했습니다 · Could not show the pipeline ({type(exc).__name__})."
        return message, empty_freshness_table(), ""


def _run_row(label: str, run: Any) -> str:
    if run is None:
        return f"| {label} | ⚪ 아직 없음 · never run | — | — | — |"
    icon = texts.STATE_ICONS.get(run.state_type, "⚪")
    link = f"[open]({run.url})" if run.url else "—"
    return (
        f"| {label} | {icon} {md_escape(run.state_name)} | {fmt_time(run.start)} | "
        f"{fmt_duration(run.duration_s)} | {link} |"
    )


def runs_markdown(clients: Clients) -> str:
    runs = clients.runs()
    if isinstance(runs, Unavailable):
        return texts.unavailable_still_works("prefect", runs.reason)
    assert isinstance(runs, PipelineRuns)
    head = [
        "#### 최근 실행 (배포·흐름별) · Latest run per deployment / flow",
        "| 흐름/배포 Flow/deployment | 상태 State | 시작 Start | 소요 Duration | Prefect UI |",
        "|---|---|---|---|---|",
    ]
    rows = [
        _run_row(f"`{d.full_name}`" + (" (일시정지 paused)" if d.paused else ""), d.latest)
        for d in runs.deployments
    ]
    undeployed = {flow: run for flow, run in runs.latest_by_flow.items() if run.deployment is None}
    rows += [_run_row(f"`{flow}` (배포 없음 · ad hoc)", run) for flow, run in sorted(undeployed.items())]
    if not rows:
        return "\n".join([head[0], texts.RUNS_EMPTY])
    schedules = [
        "#### 배포와 일정 · Deployments and schedules",
        "| 배포 Deployment | 일정 Schedule | 다음 실행 Next run | 작업 풀 Work pool |",
        "|---|---|---|---|",
    ] + [
        f"| `{d.full_name}` | {md_escape('; '.join(map(schedule_text, d.schedules))) or '—'} | "
        f"{fmt_time(d.next_run) if d.next_run else '—'} | {md_escape(d.work_pool or '—')} |"
        for d in runs.deployments
    ]
    head = ([*schedules, ""] if runs.deployments else []) + head
    recent = [
        "",
        "#### 최근 실행 · Recent runs",
        "| 흐름 Flow | 실행 Run | 상태 State | 시작 Start | 소요 Duration |",
        "|---|---|---|---|---|",
    ]
    for run in runs.recent[:10]:
        name = f"[{md_escape(run.name)}]({run.url})" if run.url else md_escape(run.name)
        recent.append(
            f"| `{run.flow}` | {name} | {texts.STATE_ICONS.get(run.state_type, '⚪')} "
            f"{md_escape(run.state_name)} | {fmt_time(run.start)} | {fmt_duration(run.duration_s)} |"
        )
    return "\n".join(head + rows + (recent if runs.recent else []))


def freshness_table(clients: Clients) -> pl.DataFrame:
    fresh = clients.data.freshness()
    columns = list(FRESHNESS_COLUMNS)
    if isinstance(fresh, Unavailable):
        return pl.DataFrame(
            [{columns[0]: "—", columns[1]: fresh.reason, columns[2]: "", columns[3]: "", columns[4]: "⚠️"}]
        )
    rows = [
        {
            columns[0]: f.table,
            columns[1]: _newest(f.table, f.newest),
            columns[2]: f"{f.rows:,}" if f.rows is not None else "",
            columns[3]: fmt_time(parse_timestamp(f.last_load)) if f.last_load else "",
            columns[4]: f.status or "",
        }
        for f in fresh
    ]
    return (
        pl.DataFrame(rows)
        if rows
        else pl.DataFrame({c: [] for c in columns}, schema=dict.fromkeys(columns, pl.String))
    )


def model_markdown(clients: Clients) -> str:
    lines = ["#### 운영 모델 · Production model"]
    model = clients.model()
    if isinstance(model, Unavailable):
        lines.append(texts.unavailable("bento", model.reason))
    else:
        lines += [
            f"- 서빙 중 · serving: **`{model.version}`** (package `{model.package}`) — "
            + texts.serving_kind(model.kind, model.forecaster),
            f"- 승격 · promoted: {fmt_time(model.promoted_at)} · 학습 · trained: {fmt_time(model.trained_at)}",
            f"- 학습 데이터 · training data: {model.data_start} … {model.data_end}",
            f"- 예보 가능 · forecastable: {model.forecast_start} … {model.forecast_end} (as of {model.as_of})",
        ]
        stations = clients.data.stations()
        known = stations.height if isinstance(stations, pl.DataFrame) and stations.height else None
        lines.append(coverage_line(model.stations, known) or f"- {model.stations or '?'} stations")
        if model.why:
            lines.append(f"- 이유 · why: {model.why}")
    models = clients.data.models()
    monitoring = clients.data.monitoring()
    metrics = served_metrics(
        models if isinstance(models, pl.DataFrame) else None,
        model if isinstance(model, ModelInfo) else None,
    )
    lines += headline_lines(headline(metrics, monitoring if isinstance(monitoring, pl.DataFrame) else None))
    if isinstance(models, pl.DataFrame) and models.height:
        prod = models.filter(pl.col("status") == "production")
        if prod.height:
            row = prod.row(0, named=True)
            agree = ""
            if isinstance(model, ModelInfo) and model.version != row["version"]:
                agree = " — ⚠️ 서빙 중인 모델과 다름 · differs from the served model (the service picks it up shortly)"
            lines.append(f"- 레지스트리 · registry: production **`{row['version']}`**{agree}")
    elif isinstance(models, Unavailable):
        lines.append(texts.unavailable("data", models.reason))
    return "\n".join(lines)
