"""The Accuracy tab: rolling WAPE and interval coverage per horizon from the monitor's rows, the
served model's backtest WAPE as the reference, and -- until the first forecasts are scored -- when
they will be (actuals are published about 3 days after the day)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

try:
    from space import charts, texts
    from space.clients import Clients, ModelInfo, Unavailable
    from space.forecast_view import parse_day
    from space.model_panel import headline, served_metrics
except ImportError:  # on Hugging Face the Space root is the working directory
    import charts  # type: ignore[no-redef]
    import texts  # type: ignore[no-redef]
    from clients import Clients, ModelInfo, Unavailable  # type: ignore[no-redef]
    from forecast_view import parse_day  # type: ignore[no-redef]
    from model_panel import headline, served_metrics  # type: ignore[no-redef]

ACCURACY_COLUMNS = ("시점 Horizon", "WAPE", "포함률 Coverage", "n")
SCOPES_DEFAULT = ("all", "station:211", *(f"line:{n}" for n in range(1, 9)))


def empty_accuracy_table() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(ACCURACY_COLUMNS, pl.String))


def scope_options(clients: Clients) -> list[tuple[str, str]]:
    monitoring = clients.data.monitoring()
    scopes = list(SCOPES_DEFAULT)
    if isinstance(monitoring, pl.DataFrame) and monitoring.height:
        present = monitoring["scope"].unique().to_list()
        scopes = [s for s in scopes if s in present] + sorted(s for s in present if s not in scopes)
    return [(texts.scope_label(s), s) for s in scopes]


def accuracy_view(clients: Clients, scope: str | None) -> tuple[Any, pl.DataFrame, str]:
    """Chart, latest-evaluation table and notes of one scope; never a stack trace on the page."""
    try:
        return _accuracy(clients, scope or "all")
    except Exception as exc:
        message = f"정확도를 그리지 못했습니다 · Could not show accuracy ({type(exc).__name__})."
        return charts.message_figure(message), empty_accuracy_table(), message


def backtest_wape(clients: Clients) -> float | None:
    """The served model's backtest WAPE (all stations), drawn as the reference line."""
    model = clients.model()
    models = clients.data.models()
    metrics = served_metrics(
        models if isinstance(models, pl.DataFrame) else None,
        model if isinstance(model, ModelInfo) else None,
    )
    return headline(metrics).all_stations.wape


def _accuracy(clients: Clients, scope: str) -> tuple[Any, pl.DataFrame, str]:
    monitoring = clients.data.monitoring()
    if isinstance(monitoring, Unavailable):
        message = texts.unavailable("data", monitoring.reason)
        return (
            charts.message_figure("데이터 저장소를 읽을 수 없습니다 · warehouse unavailable"),
            empty_accuracy_table(),
            message,
        )
    backtest = backtest_wape(clients)
    figure = charts.accuracy_figure(monitoring, scope, backtest)
    part = monitoring.filter(
        (pl.col("scope") == scope) & pl.col("metric").is_in(["wape", "coverage", "psi_count"])
    )
    if part.filter(pl.col("metric") != "psi_count").is_empty():  # drift alone: nothing scored yet
        return figure, empty_accuracy_table(), texts.ACCURACY_INTRO + "\n\n" + accuracy_empty(clients)
    latest_day: Any = part["evaluated_on"].max()
    latest = part.filter(pl.col("evaluated_on") == latest_day)
    rows = []
    for horizon in sorted(latest["horizon"].unique().to_list()):
        one = latest.filter(pl.col("horizon") == horizon)
        values = {r["metric"]: r for r in one.iter_rows(named=True)}
        if "wape" not in values and "coverage" not in values:
            continue
        wape, cov = values.get("wape"), values.get("coverage")
        rows.append(
            dict(
                zip(
                    ACCURACY_COLUMNS,
                    (
                        "전체 · pooled" if horizon == 0 else f"{horizon}일 전 · {horizon} d",
                        texts.percent(wape["value"]) if wape else "—",
                        texts.percent(cov["value"]) if cov else "—",
                        f"{(wape or cov or {}).get('n') or 0:,}",
                    ),
                    strict=True,
                )
            )
        )
    lines = [
        texts.ACCURACY_INTRO,
        "",
        f"**최근 평가 · latest evaluation: {latest_day}** ({texts.scope_label(scope)})",
    ]
    pooled = latest.filter((pl.col("metric") == "wape") & (pl.col("horizon") == 0))
    if pooled.height:
        lines.append(f"- 전체 WAPE · pooled WAPE: **{texts.percent(pooled['value'][0])}**")
    if backtest is not None:
        lines.append(f"- 백테스트 WAPE · backtest WAPE of the served model: {texts.percent(backtest)}")
    psi = latest.filter(pl.col("metric") == "psi_count")
    if psi.height and psi["value"][0] is not None:
        value = float(psi["value"][0])
        word = (
            "안정 · stable"
            if value < 0.1
            else ("주의 · moderate shift" if value < 0.2 else "변화 큼 · large shift")
        )
        lines.append(f"- 승하차 분포 변화(PSI) · ridership drift (PSI): {value:.4f} — {word}")
    return figure, pl.DataFrame(rows) if rows else empty_accuracy_table(), "\n".join(lines)


def accuracy_empty(clients: Clients) -> str:
    """What will appear here, and when: forecasts are scored once their actuals are published."""
    lines = [texts.MONITORING_EMPTY]
    fresh = clients.data.freshness()
    newest = None
    if not isinstance(fresh, Unavailable):
        newest = parse_day(next((f.newest for f in fresh if f.table == "ridership_hourly"), None))
    today = clients.clock.current()
    model = clients.model()
    first = model.forecast_start if isinstance(model, ModelInfo) else None
    if newest is not None:
        lines.append(f"- 공개된 실적 · actual counts published up to **{newest}**")
    if today is not None:
        lines.append(f"- 재생 중인 오늘 · simulated today: **{today}**")
    if first is not None and newest is not None and first > newest:
        due = first + dt.timedelta(days=texts.PUBLICATION_LAG_DAYS)
        lines.append(
            f"- 서비스 중인 첫 예보일 {first}의 실적은 {due}에 공개됩니다 · The first day the served "
            f"forecasts cover, {first}, gets its actuals on about **{due}** — the scores appear when the "
            "replay clock reaches that day."
        )
    return "  \n".join(lines)
