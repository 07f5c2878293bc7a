"""Monitoring: is the served model still good, and is the world still the one it learned?

Two questions, answered daily on an evaluation date ``evaluated_on`` (the monitor's as-of):

* **Accuracy** -- every forecast in the ``forecasts`` table whose target date has been published by
  ``evaluated_on`` (``date <= cutoff = evaluated_on - ridership lag``, last ``RECENT_DAYS`` target
  days) is joined to its actual in ``ridership_hourly``.  Per horizon ``h = date - as_of`` (1..7) and
  pooled over horizons (stored as ``horizon = 0``) we report WAPE ``sum|y - yhat| / sum y`` -- the
  metric the trainer optimises and the backtest reports -- and the coverage of the 80% interval
  ``[lo, hi]`` (share of actuals inside it; 0.8 when calibrated).
* **Drift** -- the population stability index (PSI) of the last ``RECENT_DAYS`` of published data
  against the ``REFERENCE_DAYS`` (8 weeks, the model's profile window) just before it: the hourly
  counts per station group (``psi_count``, the target) and the KMA weather columns (``psi_<col>``).
  PSI bins are the reference deciles, so the statistic is invariant to any monotone transform of
  the value and needs no per-feature scaling.  ``horizon = 0`` on drift rows ("not applicable").

Scopes (the ``scope`` column): ``all`` (every station), ``station:211`` (Seongsu, the product's
headline station) and one group per metro line, ``line:1`` .. ``line:8``.  Lines, not volume
terciles, because they are stable (a station never changes line, whereas terciles reshuffle as
volumes move), meaningful to an operator ("line 2 is off") and coarse enough that every group has
thousands of cells a week; disruption, construction and events also tend to hit a line at a time.

Rows go to the ``monitoring`` table keyed by (evaluated_on, metric, scope, horizon); ``n`` is the
number of hourly cells behind a value and ``model_version`` the model in production at evaluation
time -- the one an alert is about -- even when some of the scored forecasts were issued by its
predecessor (a forecast is scored as it was served).

Alerting (``Thresholds``; defaults documented on the class) turns the metrics into a decision:
when accuracy drops or the target drifts, the flow emits one Prefect event, ``RETRAIN_EVENT``,
about resource ``seongsu.model.<version>`` (at most once per model per cooldown), and the ``train``
deployment's trigger in ``prefect.yaml`` reacts to it; the decision itself is stored as the
``retrain_requested`` row.  Everything here except ``emit_retrain_event`` and the ``@task``
wrappers is a plain function of polars frames, testable on a handful of rows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import numpy as np
import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.core.schema import (
    FORECASTS,
    MODELS,
    MONITORING,
    RIDERSHIP_HOURLY,
    STATIONS,
    WEATHER_HOURLY,
    conform,
)
from tasks.data.feeds.snapshot import PUBLICATION_LAG_DAYS
from tasks.data.warehouse.base import Warehouse

SEONGSU_STATION: Final = 211
ALL_SCOPE: Final = "all"
POOLED_HORIZON: Final = 0
"""``horizon`` value of rows pooled over all horizons (accuracy) or without a horizon (drift)."""
RECENT_DAYS: Final = 7
"""Evaluation window: one of each weekday, so the weekly cycle cannot masquerade as drift."""
REFERENCE_DAYS: Final = 56
"""Drift reference: the 8 weeks before the recent window, the span the station profiles learn from
(``tasks.model.features.PROFILE_WEEKS``), i.e. "the data the model's features were shaped by"."""
PSI_BINS: Final = 10
RIDERSHIP_LAG_DAYS: Final = PUBLICATION_LAG_DAYS["ridership_hourly"]
WEATHER_STATION: Final = 108  # KMA ASOS Seoul, the station the features use
WEATHER_COLUMNS: Final = ("temp_c", "precip_mm", "humidity_pct", "wind_ms")
RETRAIN_EVENT: Final = "seongsu.monitor.retrain-needed"
MODEL_RESOURCE_PREFIX: Final = "seongsu.model."
KEYS: Final = ("date", "hour", "station_code", "direction")


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
# windows and scopes


@dataclass(frozen=True)
class Windows:
    """The dates one evaluation looks at (all inclusive)."""

    evaluated_on: date
    cutoff: date  # newest ridership day published by evaluated_on
    recent_start: date
    reference_start: date
    reference_end: date


def windows_for(
    evaluated_on: date,
    *,
    lag_days: int = RIDERSHIP_LAG_DAYS,
    recent_days: int = RECENT_DAYS,
    reference_days: int = REFERENCE_DAYS,
) -> Windows:
    cutoff = evaluated_on - timedelta(days=lag_days)
    recent_start = cutoff - timedelta(days=recent_days - 1)
    reference_end = recent_start - timedelta(days=1)
    return Windows(
        evaluated_on=evaluated_on,
        cutoff=cutoff,
        recent_start=recent_start,
        reference_start=reference_end - timedelta(days=reference_days - 1),
        reference_end=reference_end,
    )


def station_scope(code: int) -> str:
    return f"station:{code}"


def line_scope(line: str | None) -> str:
    """``1호선`` -> ``line:1`` (ASCII scopes travel well in URLs, event payloads and SQL)."""
    if not line:
        return "line:unknown"
    match = re.fullmatch(r"\s*(\d+)\s*호선\s*", line)
    return f"line:{match.group(1)}" if match else f"line:{line.strip()}"


def station_groups(stations: pl.DataFrame) -> pl.DataFrame:
    """``station_code -> scope`` for the per-line groups (one line per station code)."""
    if stations.is_empty():
        return pl.DataFrame(schema={"station_code": pl.Int32, "scope": pl.String})
    return (
        stations.select(
            pl.col("station_code").cast(pl.Int32),
            pl.col("line").map_elements(line_scope, return_dtype=pl.String).alias("scope"),
        )
        .unique("station_code", keep="first")
        .sort("station_code")
    )


def _with_scopes(frame: pl.DataFrame, groups: pl.DataFrame, focus: int = SEONGSU_STATION) -> pl.DataFrame:
    """Stack ``frame`` once per scope it belongs to: all, its line group, and Seongsu's own rows."""
    parts = [
        frame.with_columns(scope=pl.lit(ALL_SCOPE)),
        frame.filter(pl.col("station_code") == focus).with_columns(scope=pl.lit(station_scope(focus))),
    ]
    if not groups.is_empty():
        parts.append(frame.join(groups, on="station_code", how="inner"))
    return pl.concat(parts, how="vertical_relaxed")


# --------------------------------------------------------------------------------------------------
# accuracy

METRIC_SCHEMA: Final = {
    "metric": pl.String,
    "scope": pl.String,
    "horizon": pl.Int16,
    "value": pl.Float64,
    "n": pl.Int64,
}


def _empty_metrics() -> pl.DataFrame:
    return pl.DataFrame(schema=METRIC_SCHEMA)


def score_forecasts(forecasts: pl.DataFrame, actuals: pl.DataFrame) -> pl.DataFrame:
    """Forecast rows joined to their actual ``y`` with ``horizon = date - as_of``.

    When one issue (``as_of``) has forecasts from several model versions (a same-day re-run after a
    promotion) the latest written one is what was served, so only it is scored.
    """
    if forecasts.is_empty() or actuals.is_empty():
        return pl.DataFrame(
            schema={
                **{k: FORECASTS.columns[k] for k in (*KEYS, "as_of", "model_version", "yhat", "lo", "hi")},
                "y": pl.Float64,
                "horizon": pl.Int16,
            }
        )
    issue = ["as_of", *KEYS]
    if "created_at" in forecasts.columns:
        forecasts = forecasts.sort("created_at", nulls_last=False)
    served = forecasts.unique(issue, keep="last", maintain_order=True)
    truth = actuals.select(
        pl.col("date"),
        pl.col("hour").cast(pl.Int16),
        pl.col("station_code").cast(pl.Int32),
        pl.col("direction"),
        pl.col("count").cast(pl.Float64).alias("y"),
    )
    return (
        served.with_columns(pl.col("hour").cast(pl.Int16), pl.col("station_code").cast(pl.Int32))
        .join(truth, on=list(KEYS), how="inner")
        .with_columns(horizon=(pl.col("date") - pl.col("as_of")).dt.total_days().cast(pl.Int16))
    )


def accuracy_metrics(scored: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """WAPE and 80%-interval coverage per (scope, horizon) and pooled over horizons (horizon 0)."""
    if scored.is_empty():
        return _empty_metrics()
    rows = _with_scopes(
        scored.select(
            "station_code",
            "horizon",
            abs_err=(pl.col("y") - pl.col("yhat")).abs(),
            y=pl.col("y"),
            covered=((pl.col("y") >= pl.col("lo")) & (pl.col("y") <= pl.col("hi"))).cast(pl.Int64),
        ),
        groups,
    )
    sums = [
        pl.col("abs_err").sum().alias("abs_err"),
        pl.col("y").sum().alias("y"),
        pl.col("covered").sum().alias("covered"),
        pl.len().cast(pl.Int64).alias("n"),
    ]
    per_h = rows.group_by("scope", "horizon").agg(sums)
    pooled = rows.group_by("scope").agg(sums).with_columns(horizon=pl.lit(POOLED_HORIZON, pl.Int16))
    agg = pl.concat([per_h, pooled.select(per_h.columns)], how="vertical_relaxed")
    wape = agg.select(
        metric=pl.lit("wape"),
        scope="scope",
        horizon=pl.col("horizon").cast(pl.Int16),
        value=pl.when(pl.col("y") > 0).then(pl.col("abs_err") / pl.col("y")).otherwise(None),
        n="n",
    )
    coverage = agg.select(
        metric=pl.lit("coverage"),
        scope="scope",
        horizon=pl.col("horizon").cast(pl.Int16),
        value=pl.col("covered") / pl.col("n"),
        n="n",
    )
    return (
        pl.concat([wape, coverage])
        .cast(METRIC_SCHEMA)  # type: ignore[arg-type]
        .sort("metric", "scope", "horizon")
    )


# --------------------------------------------------------------------------------------------------
# drift


def psi(
    reference: Sequence[float] | np.ndarray, recent: Sequence[float] | np.ndarray, bins: int = PSI_BINS
) -> float:
    """Population stability index of ``recent`` against ``reference``.

    ``sum((p_recent - p_ref) * ln(p_recent / p_ref))`` over bins ``(-inf, e1], (e1, e2], ...,
    (ek, inf)`` whose edges are the reference's deciles.  Ties -- the many 0 mm precipitation hours,
    a constant reference -- merge edges rather than create empty bins, and a value equal to an edge
    falls in the bin below it, so "0 mm" stays apart from "any rain".  A floor of 1e-4 on each share
    keeps an empty bin finite.  NaN when either side is empty.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(recent, dtype=np.float64)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return math.nan
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    n_bins = edges.size + 1
    p_ref = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=n_bins) / ref.size
    p_cur = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=n_bins) / cur.size
    p_ref, p_cur = np.maximum(p_ref, 1e-4), np.maximum(p_cur, 1e-4)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def target_drift(ridership: pl.DataFrame, groups: pl.DataFrame, windows: Windows) -> pl.DataFrame:
    """``psi_count`` per scope: hourly counts of the recent window vs the reference window.

    Both windows hold whole weeks and every hour band, so the hour-of-day and day-of-week mix is the
    same on both sides and a high PSI means the level or shape of demand really moved.
    """
    if ridership.is_empty():
        return _empty_metrics()
    frame = ridership.select(
        pl.col("station_code").cast(pl.Int32),
        pl.col("count").cast(pl.Float64),
        recent=pl.col("date").is_between(windows.recent_start, windows.cutoff),
        reference=pl.col("date").is_between(windows.reference_start, windows.reference_end),
    ).filter(pl.col("recent") | pl.col("reference"))
    rows = []
    for (scope,), part in _with_scopes(frame, groups).group_by("scope"):
        ref = part.filter(pl.col("reference"))["count"].to_numpy()
        cur = part.filter(pl.col("recent"))["count"].to_numpy()
        value = psi(ref, cur)
        rows.append({"metric": "psi_count", "scope": scope, "horizon": 0, "value": value, "n": cur.size})
    return _metrics_frame(rows)


def weather_drift(
    weather: pl.DataFrame, windows: Windows, columns: Sequence[str] = WEATHER_COLUMNS
) -> pl.DataFrame:
    """``psi_<column>`` (scope ``all``: one weather station serves the whole network)."""
    if weather.is_empty():
        return _empty_metrics()
    day = pl.col("ts").dt.date()
    recent = weather.filter(day.is_between(windows.recent_start, windows.cutoff))
    reference = weather.filter(day.is_between(windows.reference_start, windows.reference_end))
    rows = []
    for col in columns:
        if col not in weather.columns:
            continue
        cur = recent[col].cast(pl.Float64).drop_nulls().to_numpy()
        ref = reference[col].cast(pl.Float64).drop_nulls().to_numpy()
        rows.append(
            {"metric": f"psi_{col}", "scope": ALL_SCOPE, "horizon": 0, "value": psi(ref, cur), "n": cur.size}
        )
    return _metrics_frame(rows)


def _metrics_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return _empty_metrics()
    frame = pl.DataFrame(rows, schema=METRIC_SCHEMA, orient="row")
    return frame.with_columns(pl.col("value").fill_nan(None)).sort("metric", "scope")


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


def backtest_wape(metrics: Mapping[str, Any] | None) -> float | None:
    """The model's own backtest WAPE from ``models.metrics_json``, wherever the registry put it.

    Accepts ``{"wape": x}``, ``{"backtest_wape": x}``, ``{"backtest": {"wape": x}}`` or
    ``{"backtest": {"overall": {"wape": x}}}``; None when absent (the relative rule is skipped).
    """
    if not metrics:
        return None
    candidates: list[Any] = [metrics.get("backtest_wape"), metrics.get("wape")]
    backtest = metrics.get("backtest")
    if isinstance(backtest, Mapping):
        overall = backtest.get("overall")
        candidates += [backtest.get("wape"), overall.get("wape") if isinstance(overall, Mapping) else None]
    for value in candidates:
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return float(value)
    return None


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


# --------------------------------------------------------------------------------------------------
# warehouse I/O and one evaluation end to end


@dataclass(frozen=True)
class MonitorInputs:
    forecasts: pl.DataFrame
    ridership: pl.DataFrame  # reference_start .. cutoff
    weather: pl.DataFrame  # reference_start .. cutoff (station 108)
    stations: pl.DataFrame
    model_version: str | None  # production model, else the newest one that forecast
    model_metrics: dict[str, Any] = field(default_factory=dict)
    previous_requests: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"evaluated_on": pl.Date, "model_version": pl.String, "value": pl.Float64}
        )
    )


def production_model(warehouse: Warehouse) -> tuple[str, dict[str, Any]] | None:
    """Version and metrics of the model in production (the newest promotion wins)."""
    models = warehouse.read_table(MODELS, "status = %s", ["production"])
    if models.is_empty():
        return None
    row = models.sort("promoted_at", "trained_at", nulls_last=False).row(-1, named=True)
    try:
        metrics = json.loads(row["metrics_json"] or "{}")
    except json.JSONDecodeError:
        metrics = {}
    return str(row["version"]), metrics if isinstance(metrics, dict) else {}


def load_inputs(warehouse: Warehouse, windows: Windows) -> MonitorInputs:
    """Read exactly the rows one evaluation needs (about 9 weeks of ridership).

    Weather is cut at the ridership cutoff too although it is published sooner: drift compares the
    same days on both sides.
    """
    lo, hi = windows.reference_start.isoformat(), windows.cutoff.isoformat()
    forecasts = warehouse.read_table(
        FORECASTS, '"date" between %s and %s', [windows.recent_start.isoformat(), hi]
    )
    ridership = warehouse.read_table(RIDERSHIP_HOURLY, "date between %s and %s and span_hours = 1", [lo, hi])
    weather = warehouse.read_table(
        WEATHER_HOURLY,
        "station_id = %s and ts >= %s and ts < %s",
        [WEATHER_STATION, lo, (windows.cutoff + timedelta(days=1)).isoformat()],
    )
    stations = warehouse.read_table(STATIONS)
    previous = warehouse.read_table(
        MONITORING,
        "metric = %s and evaluated_on >= %s",
        [REQUEST_METRIC, (windows.evaluated_on - timedelta(days=60)).isoformat()],
    ).select("evaluated_on", "model_version", "value")
    prod = production_model(warehouse)
    if prod is not None:
        version: str | None = prod[0]
        metrics = prod[1]
    else:
        version = forecasts.sort("as_of")["model_version"][-1] if forecasts.height else None
        metrics = {}
    return MonitorInputs(forecasts, ridership, weather, stations, version, metrics, previous)


@dataclass(frozen=True)
class MonitorResult:
    windows: Windows
    model_version: str | None
    metrics: pl.DataFrame = field(repr=False)
    alerts: tuple[Alert, ...]
    backtest_wape: float | None
    thresholds: Thresholds = THRESHOLDS
    cooldown_since: date | None = None  # an earlier request for this model holds this one back

    @property
    def retrain_needed(self) -> bool:
        """Alerts, and no request for the same model within the cooldown: emit the event."""
        return bool(self.alerts) and self.cooldown_since is None

    def value(self, metric: str, scope: str = ALL_SCOPE, horizon: int = POOLED_HORIZON) -> float | None:
        return result_value(self.metrics, metric, scope, horizon)


def evaluate(inputs: MonitorInputs, windows: Windows, thresholds: Thresholds = THRESHOLDS) -> MonitorResult:
    """All metrics and the alert decision for one evaluation date (pure: frames in, result out)."""
    groups = station_groups(inputs.stations)
    actuals = inputs.ridership.filter(pl.col("date").is_between(windows.recent_start, windows.cutoff))
    scored = score_forecasts(inputs.forecasts, actuals)
    metrics = pl.concat(
        [
            accuracy_metrics(scored, groups),
            target_drift(inputs.ridership, groups, windows),
            weather_drift(inputs.weather, windows),
        ]
    )
    bt = backtest_wape(inputs.model_metrics)
    alerts = tuple(find_alerts(metrics, thresholds, bt))
    held = (
        cooldown_since(
            inputs.previous_requests, inputs.model_version, windows.evaluated_on, thresholds.cooldown_days
        )
        if alerts
        else None
    )
    decision = pl.DataFrame(
        {
            "metric": [REQUEST_METRIC],
            "scope": [ALL_SCOPE],
            "horizon": [POOLED_HORIZON],
            "value": [1.0 if alerts and held is None else 0.0],
            "n": [len(alerts)],
        },
        schema=METRIC_SCHEMA,
    )
    metrics = pl.concat([metrics, decision])
    return MonitorResult(windows, inputs.model_version, metrics, alerts, bt, thresholds, held)


def monitoring_rows(result: MonitorResult, now: datetime | None = None) -> pl.DataFrame:
    """The result as ``monitoring`` table rows."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    return conform(
        result.metrics.with_columns(
            evaluated_on=pl.lit(result.windows.evaluated_on, pl.Date),
            model_version=pl.lit(result.model_version, pl.String),
            created_at=pl.lit(now),
        ),
        MONITORING,
    )


def run_monitor(
    warehouse: Warehouse, evaluated_on: date, thresholds: Thresholds = THRESHOLDS
) -> MonitorResult:
    """Load, evaluate and store one evaluation (re-running a date replaces its rows)."""
    windows = windows_for(evaluated_on)
    result = evaluate(load_inputs(warehouse, windows), windows, thresholds)
    with warehouse.transaction():
        warehouse.upsert(MONITORING, monitoring_rows(result))
    return result


# --------------------------------------------------------------------------------------------------
# reporting


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}"


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
        f"(backtest WAPE {_fmt(result.backtest_wape)}), coverage ≥ {t.coverage_min:.0%}, "
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
                cells.append(f"{_fmt(wape, pct=True)} / {_fmt(cov, pct=True)}")
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
                lines.append(f"| {metric} | {scope} | {_fmt(row['value'])}{flag} | {row['n']:,} |")
        lines += [
            "",
            "Weather PSI is informational: the season moves it every spring and autumn, and the model "
            "reads weather as a feature; only the target's drift requests a retrain.",
        ]
    return "\n".join(lines)


def result_value(metrics: pl.DataFrame, metric: str, scope: str, horizon: int) -> float | None:
    hit = metrics.filter(
        (pl.col("metric") == metric) & (pl.col("scope") == scope) & (pl.col("horizon") == horizon)
    )
    return hit["value"][0] if hit.height else None


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


# --------------------------------------------------------------------------------------------------
# Prefect wrappers (thin: open what the run needs, call the functions above)


@task(name="evaluate-monitoring", cache_policy=NO_CACHE)
def evaluate_task(as_of: date | None = None) -> MonitorResult | None:
    """Prefect task: evaluate ``as_of`` and store it.  The default is every flow's default
    (``tasks.data.history.default_as_of``): the replay clock if one is set, else the day the newest
    ridership was published, so the monitor follows the data rather than the wall clock."""
    from tasks.core.settings import get_settings
    from tasks.data.history import default_as_of
    from tasks.data.warehouse.base import open_warehouse

    warehouse = open_warehouse(get_settings().resolved_warehouse_url)
    try:
        warehouse.migrate()
        evaluated_on = as_of or default_as_of(warehouse)
        if evaluated_on is None:
            get_run_logger().warning("no ridership in the warehouse yet: nothing to monitor")
            return None
        result = run_monitor(warehouse, evaluated_on)
    finally:
        warehouse.close()
    get_run_logger().info(
        "monitoring %s: WAPE %s, coverage %s, %d alert(s)",
        evaluated_on,
        _fmt(result.value("wape")),
        _fmt(result.value("coverage")),
        len(result.alerts),
    )
    return result


@task(name="request-retrain", cache_policy=NO_CACHE)
def request_retrain_task(result: MonitorResult) -> str | None:
    """Prefect task: emit ``RETRAIN_EVENT`` (inside the flow run, so Prefect links the two)."""
    request = retrain_request(result.model_version or "none", result.windows.evaluated_on, result.alerts)
    event_id = emit_retrain_event(request)
    get_run_logger().warning(
        "retrain requested for %s: %s", request.resource["prefect.resource.id"], request.payload["reason"]
    )
    return event_id


@task(name="replay-clock", cache_policy=NO_CACHE)
def replay_clock_task() -> date | None:
    """Prefect task: the snapshot replay's simulated today (``pipeline_state``), None when no replay
    is running -- the one as-of that must be known *before* ingesting."""
    from tasks.core.settings import get_settings
    from tasks.data.clock import read_clock
    from tasks.data.warehouse.base import open_warehouse

    warehouse = open_warehouse(get_settings().resolved_warehouse_url)
    try:
        warehouse.migrate()
        return read_clock(warehouse)
    finally:
        warehouse.close()


@task(name="default-as-of", cache_policy=NO_CACHE)
def default_as_of_task() -> date | None:
    """Prefect task: ``tasks.data.history.default_as_of`` of the configured warehouse (None when empty)."""
    from tasks.core.settings import get_settings
    from tasks.data.history import default_as_of
    from tasks.data.warehouse.base import open_warehouse

    warehouse = open_warehouse(get_settings().resolved_warehouse_url)
    try:
        warehouse.migrate()
        return default_as_of(warehouse)
    finally:
        warehouse.close()
