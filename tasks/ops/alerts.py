"""Monitoring decisions: when the scores mean "retrain", and the one Prefect event that asks for it.

Alerting (``Thresholds``; defaults documented on the class) turns the metrics into a decision:
when accuracy drops or the target drifts, the flow emits one Prefect event, ``RETRAIN_EVENT``,
about resource ``seongsu.model.<version>`` (at most once per model per cooldown), and the ``train``
deployment's trigger in ``prefect.yaml`` reacts to it; the decision itself is stored as the
``retrain_requested`` row.  Everything here except ``emit_retrain_event`` and the ``@task``
wrappers is a plain function of polars frames, testable on a handful of rows.

"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Final

import polars as pl

from tasks.ops.scores import ALL_SCOPE, POOLED_HORIZON

RETRAIN_EVENT: Final = "seongsu.monitor.retrain-needed"
MODEL_RESOURCE_PREFIX: Final = "seongsu.model."


@dataclass(frozen=True)
class Thresholds:
    """When a metric means "retrain".  Why these defaults:

    * ``wape_max = 0.20``: a hard ceiling on pooled WAPE for the ``alert_scopes``.  The seasonal-naive
      forecast (the same band one week earlier) scores 0.10 over Feb-Jun 2023 in the snapshot and
      0.16 in its worst month (May, three public holidays); a model above 0.20 is worse than that
      naive forecast on its worst month, i.e. no longer worth serving.
    * ``wape_vs_backtest = 0.25``: live WAPE more than 25% above the model's own backtest WAPE
      (``models.metrics_json``) means the world moved away from what the backtest saw, even if
      the absolute level still looks fine.
    * ``coverage_min = 0.60``: the 80% interval holding fewer than 60% of the actuals means the
      uncertainty the app shows is badly overconfident.
    * ``psi_max = 0.20``: the conventional "significant shift" level of the PSI (0.1-0.2 moderate).
      Only the metrics in ``alert_psi_metrics`` raise alerts: the target (``psi_count``) does.
      Weather PSI is reported but not alerted on -- temperature drifts every spring and autumn by
      design, and the model reads weather as a feature, so a seasonal shift is not by itself a
      reason to retrain; the accuracy rules catch it if it hurts.
    * ``min_rows = 400``: a metric computed on fewer hourly cells (about one station-week in both
      directions = 280) is too noisy to act on; it is still stored and shown.
    * ``cooldown_days = 7``: once a retrain was requested for a model, the same model is not asked
      for again for 7 evaluation days (dates, so a replay behaves like real time).  The alerts are
      still reported.  A retrain needs its run, and the registry may rightly reject the challenger
      (same recipe, overlapping data: a tie); re-requesting it every morning would only burn the box
      on identical trainings.  A promotion changes the model version and so ends the cooldown.
    """

    wape_max: float = 0.20
    wape_vs_backtest: float = 0.25
    coverage_min: float = 0.60
    psi_max: float = 0.20
    min_rows: int = 400
    alert_scopes: tuple[str, ...] = (ALL_SCOPE,)
    alert_psi_metrics: tuple[str, ...] = ("psi_count",)
    cooldown_days: int = 7


THRESHOLDS: Final = Thresholds()
REQUEST_METRIC: Final = "retrain_requested"
"""Monitoring row recording the decision: value 1 when an event was emitted, n = number of alerts."""


# --------------------------------------------------------------------------------------------------
# decisions


@dataclass(frozen=True)
class Alert:
    rule: str  # wape_max | wape_vs_backtest | coverage_min | psi_max
    metric: str
    scope: str
    horizon: int
    value: float
    threshold: float
    n: int

    @property
    def reason(self) -> str:
        what = {
            "wape_max": "above the ceiling",
            "wape_vs_backtest": "worse than the backtest allows",
            "coverage_min": "below the floor",
            "psi_max": "drifted past",
        }[self.rule]
        return f"{self.metric} {self.value:.3f} for {self.scope} {what} {self.threshold:.3f} (n={self.n})"


def find_alerts(
    metrics: pl.DataFrame, thresholds: Thresholds = THRESHOLDS, backtest_wape: float | None = None
) -> list[Alert]:
    """The rules of ``Thresholds`` applied to a metrics frame (metric, scope, horizon, value, n)."""
    alerts: list[Alert] = []
    usable = metrics.filter(pl.col("value").is_not_null() & (pl.col("n") >= thresholds.min_rows))
    pooled = usable.filter(
        (pl.col("horizon") == POOLED_HORIZON) & pl.col("scope").is_in(list(thresholds.alert_scopes))
    )
    for row in pooled.iter_rows(named=True):
        common = {
            "metric": row["metric"],
            "scope": row["scope"],
            "horizon": 0,
            "value": row["value"],
            "n": row["n"],
        }
        if row["metric"] == "wape":
            if row["value"] > thresholds.wape_max:
                alerts.append(Alert("wape_max", threshold=thresholds.wape_max, **common))
            if backtest_wape is not None:
                limit = backtest_wape * (1 + thresholds.wape_vs_backtest)
                if row["value"] > limit:
                    alerts.append(Alert("wape_vs_backtest", threshold=limit, **common))
        elif row["metric"] == "coverage" and row["value"] < thresholds.coverage_min:
            alerts.append(Alert("coverage_min", threshold=thresholds.coverage_min, **common))
    drift = usable.filter(pl.col("metric").is_in(list(thresholds.alert_psi_metrics)))
    for row in drift.iter_rows(named=True):
        if row["value"] > thresholds.psi_max:
            alerts.append(
                Alert("psi_max", row["metric"], row["scope"], 0, row["value"], thresholds.psi_max, row["n"])
            )
    return alerts


def cooldown_since(
    previous: pl.DataFrame, model_version: str | None, evaluated_on: date, cooldown_days: int
) -> date | None:
    """The earlier request that still holds this one back, if any.

    ``previous``: ``monitoring`` rows of metric ``REQUEST_METRIC`` (evaluated_on, model_version,
    value).  Only requests for the same model, strictly before ``evaluated_on`` and less than
    ``cooldown_days`` before it count (re-running a day re-emits; a new model starts afresh).
    """
    if previous.is_empty() or cooldown_days <= 0:
        return None
    hits = previous.filter(
        (pl.col("value") >= 1)
        & (pl.col("model_version") == (model_version or ""))
        & (pl.col("evaluated_on") < evaluated_on)
        & (pl.col("evaluated_on") > evaluated_on - timedelta(days=cooldown_days))
    )
    return hits["evaluated_on"].max() if hits.height else None  # type: ignore[return-value]


@dataclass(frozen=True)
class RetrainRequest:
    """The event ``emit_retrain_event`` sends: the arguments of ``prefect.events.emit_event``."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any]


def retrain_request(model_version: str, evaluated_on: date, alerts: Sequence[Alert]) -> RetrainRequest:
    """One event per monitor run, whatever the number of alerts: retraining is one decision.

    ``payload.as_of`` lets the trigger pass the evaluation date on to ``train``; ``reason`` is a
    human-readable summary, ``alerts`` the structured list.
    """
    return RetrainRequest(
        event=RETRAIN_EVENT,
        resource={
            "prefect.resource.id": f"{MODEL_RESOURCE_PREFIX}{model_version}",
            "prefect.resource.name": model_version,
            "prefect.resource.role": "model",
        },
        payload={
            "as_of": evaluated_on.isoformat(),
            "model_version": model_version,
            "reason": "; ".join(a.reason for a in alerts),
            "alerts": [asdict(a) for a in alerts],
        },
    )


def emit_retrain_event(request: RetrainRequest) -> str | None:
    """Send the event to the Prefect API; returns its id (None when no API is configured)."""
    from prefect.events import emit_event

    event = emit_event(event=request.event, resource=request.resource, payload=request.payload)
    return str(event.id) if event is not None else None
