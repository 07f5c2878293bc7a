"""Every Prefect artifact of the flows: the markdown and tables a run leaves in the Prefect UI.

Why one module: the flows stay tables of contents, and what an operator reads after a run (ingest,
forecast, monitor) is written in one place from the plain results of ``tasks.data`` and ``tasks.ops``.
The train run's decision report is ``tasks.ops.decision_report`` (it also feeds W&B).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.core.constants import SEONGSU
from tasks.data.ingest import IngestSummary
from tasks.ops.alerts import RETRAIN_EVENT
from tasks.ops.champion import Decision
from tasks.ops.decision_report import decision_markdown
from tasks.ops.monitor import MonitorResult
from tasks.ops.registry import Publication
from tasks.ops.scores import ALL_SCOPE, POOLED_HORIZON, fmt_metric, result_value

MONITOR_REPORT_KEY = "monitor-report"
MONITOR_METRICS_KEY = "monitor-metrics"
FORECAST_REPORT_KEY = "forecast-report"
TRAIN_DECISION_KEY = "train-decision"
TRAIN_BACKTEST_KEY = "train-backtest"


def publish_ingest(
    title: str, key: str, summaries: list[IngestSummary], freshness: dict[str, str | None]
) -> None:
    """The ingest run's artifact (``key``: ``ingest-ridership`` / ``ingest-weather``)."""
    create_markdown_artifact(
        key=key, markdown=summary_markdown(title, summaries, freshness), description=title
    )


def publish_forecast(
    frame: pl.DataFrame, *, version: str, as_of: dt.date, weather_note: str, written: int, tag: str | None
) -> None:
    """The forecast run's artifact."""
    create_markdown_artifact(
        key=FORECAST_REPORT_KEY,
        markdown=forecast_markdown(
            frame, version=version, as_of=as_of, weather_note=weather_note, written=written, tag=tag
        ),
        description=f"Forecasts issued {as_of} by {version}",
    )


def publish_monitor(result: MonitorResult | None) -> None:
    """The monitor run's report and metrics table (a one-line report on an empty warehouse)."""
    if result is None:
        create_markdown_artifact(
            key=MONITOR_REPORT_KEY,
            markdown="# Monitoring\n\nNo ridership in the warehouse yet.",
            description="Monitoring",
        )
        return
    title = f"Monitoring as of {result.windows.evaluated_on}"
    create_markdown_artifact(key=MONITOR_REPORT_KEY, markdown=report_markdown(result), description=title)
    create_table_artifact(key=MONITOR_METRICS_KEY, table=metrics_table(result), description=title)


def publish_training(
    title: str,
    decision: Decision,
    publication: Publication,
    table: pl.DataFrame,
    *,
    as_of: dt.date,
    seconds: float,
) -> None:
    """The train run's decision report and its backtest table."""
    create_markdown_artifact(
        key=TRAIN_DECISION_KEY,
        markdown=decision_markdown(decision, publication, table, as_of=as_of, seconds=seconds),
        description=title,
    )
    create_table_artifact(
        key=TRAIN_BACKTEST_KEY, table=table.to_dicts(), description=f"{title}: backtest WAPE"
    )


def summary_markdown(title: str, summaries: list[IngestSummary], freshness: dict[str, str | None]) -> str:
    """The Prefect artifact of an ingest run: what came in, what changed, what was set aside."""
    lines = [
        f"# {title}",
        "",
        "| dataset | source | rows in | inserted | updated | quarantined | data range |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.dataset} | {s.source} | {s.rows_in:,} | {s.rows_inserted:,} | {s.rows_updated:,} | "
            f"{s.rows_quarantined:,} | {s.date_range} |"
        )
    changes = [f"{s.dataset}: {s.message}" for s in summaries if s.status == "ok" and s.message]
    if changes:
        lines += ["", "**Changes to data already loaded:** " + "; ".join(changes)]
    reasons = [r for s in summaries for r in s.top_reasons]
    if reasons:
        lines += ["", "**Quarantine reasons:** " + "; ".join(reasons)]
    lines += ["", "**Freshness (latest data date per table):** "]
    lines += [f"- {k}: {v or 'empty'}" for k, v in freshness.items()]
    return "\n".join(lines)


def forecast_markdown(
    frame: pl.DataFrame, *, version: str, as_of: dt.date, weather_note: str, written: int, tag: str | None
) -> str:
    """The Prefect artifact of a forecast run: what was issued, by which model, and Seongsu's week."""
    seongsu = (
        frame.filter(pl.col("station_code") == SEONGSU)
        .group_by("date", "direction")
        .agg(pl.col("yhat").sum().round(0))
        .pivot(on="direction", index="date", values="yhat")
        .sort("date")
    )
    lines = [
        f"# Forecasts issued {as_of} by model {version}",
        "",
        f"- {frame.height:,} rows: {frame['station_code'].n_unique()} stations x "
        f"{frame['date'].n_unique()} days x 20 hour bands x 2 directions "
        f"({frame['date'].min()!s} .. {frame['date'].max()!s})",
        f"- weather: {weather_note}",
        f"- warehouse `forecasts`: {written:,} rows inserted/updated",
        f"- BentoML: {'`' + tag + '` (now latest)' if tag else 'latest already serves this model and as-of'}",
    ]
    if seongsu.height:
        lines += [
            "",
            f"## Seongsu ({SEONGSU}), daily totals",
            "",
            "| date | board | alight |",
            "|---|---:|---:|",
        ]
        for row in seongsu.iter_rows(named=True):
            lines.append(f"| {row['date']} | {row.get('board') or 0:,.0f} | {row.get('alight') or 0:,.0f} |")
    return "\n".join(lines)


def report_markdown(result: MonitorResult) -> str:
    """The monitor's Prefect artifact: headline, per-horizon accuracy, drift, decision."""
    w, m, t = result.windows, result.metrics, result.thresholds
    lines = [
        f"# Monitoring as of {w.evaluated_on}",
        "",
        f"Model **{result.model_version or 'none'}** · forecasts for {w.recent_start} .. {w.cutoff} "
        f"scored against published actuals · drift: {w.recent_start} .. {w.cutoff} vs "
        f"{w.reference_start} .. {w.reference_end}",
        "",
    ]
    if result.retrain_needed:
        lines += [f"**Retrain requested** (`{RETRAIN_EVENT}`):", ""]
        lines += [f"- {a.reason}" for a in result.alerts]
    elif result.alerts:
        lines += [
            f"**Retrain already requested on {result.cooldown_since}** for this model (cooldown "
            f"{t.cooldown_days} days): no new event.  Still alerting:",
            "",
        ]
        lines += [f"- {a.reason}" for a in result.alerts]
    else:
        lines += ["**No action**: every alerting metric is within its threshold."]
    lines += [
        "",
        f"Thresholds: WAPE ≤ {t.wape_max:.2f} and ≤ backtest × {1 + t.wape_vs_backtest:.2f} "
        f"(backtest WAPE {fmt_metric(result.backtest_wape)}), coverage ≥ {t.coverage_min:.0%}, "
        f"PSI ≤ {t.psi_max:.2f} on {', '.join(t.alert_psi_metrics)}; n ≥ {t.min_rows}; "
        f"one request per model per {t.cooldown_days} days.",
        "",
    ]
    acc = m.filter(pl.col("metric").is_in(["wape", "coverage"]))
    if acc.is_empty():
        lines += ["_No forecast could be scored yet (no forecasts with published actuals)._", ""]
    else:
        horizons = sorted(h for h in acc["horizon"].unique().to_list() if h != POOLED_HORIZON)
        lines += [
            "## Accuracy (WAPE / 80% coverage)",
            "",
            "| scope | all horizons | " + " | ".join(f"h={h}" for h in horizons) + " | n |",
            "|---|---|" + "---|" * len(horizons) + "---:|",
        ]
        for scope in _scope_order(acc["scope"].unique().to_list()):
            cells = []
            for h in [POOLED_HORIZON, *horizons]:
                wape = result_value(acc, "wape", scope, h)
                cov = result_value(acc, "coverage", scope, h)
                cells.append(f"{fmt_metric(wape, pct=True)} / {fmt_metric(cov, pct=True)}")
            n = acc.filter((pl.col("scope") == scope) & (pl.col("horizon") == POOLED_HORIZON))["n"]
            lines.append(f"| {scope} | " + " | ".join(cells) + f" | {n[0] if n.len() else 0:,} |")
        lines.append("")
    drift = m.filter(pl.col("metric").str.starts_with("psi_"))
    if not drift.is_empty():
        lines += [
            "## Drift (PSI, recent week vs 8 weeks before)",
            "",
            "| metric | scope | PSI | n |",
            "|---|---|---:|---:|",
        ]
        for metric in sorted(drift["metric"].unique().to_list()):
            part = drift.filter(pl.col("metric") == metric)
            for scope in _scope_order(part["scope"].to_list()):
                row = part.filter(pl.col("scope") == scope).row(0, named=True)
                over = row["value"] is not None and row["value"] > t.psi_max
                flag = (" ⚠" if metric in t.alert_psi_metrics else " (info)") if over else ""
                lines.append(f"| {metric} | {scope} | {fmt_metric(row['value'])}{flag} | {row['n']:,} |")
        lines += [
            "",
            "Weather PSI is informational: the season moves it every spring and autumn, and the model "
            "reads weather as a feature; only the target's drift requests a retrain.",
        ]
    return "\n".join(lines)


def _scope_order(scopes: Sequence[str]) -> list[str]:
    def key(scope: str) -> tuple[int, int, str]:
        if scope == ALL_SCOPE:
            return (0, 0, scope)
        if scope.startswith("station:"):
            return (1, 0, scope)
        digits = scope.removeprefix("line:")
        return (2, int(digits) if digits.isdigit() else 99, scope)

    return sorted(set(scopes), key=key)


def metrics_table(result: MonitorResult) -> list[dict[str, Any]]:
    """Rows for the Prefect table artifact (plain JSON values)."""
    return [
        {**row, "value": None if row["value"] is None else round(row["value"], 4)}
        for row in result.metrics.iter_rows(named=True)
    ]
