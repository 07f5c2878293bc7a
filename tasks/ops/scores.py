"""Monitoring scores: accuracy of served forecasts and drift of the data, per scope.

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
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import numpy as np
import polars as pl

from tasks.core.constants import PUBLICATION_LAG_DAYS, SEONGSU
from tasks.core.schema import (
    FORECASTS,
)
from tasks.model.metrics import finish, sums

ALL_SCOPE: Final = "all"
POOLED_HORIZON: Final = 0
"""``horizon`` value of rows pooled over all horizons (accuracy) or without a horizon (drift)."""
RECENT_DAYS: Final = 7
"""Evaluation window: one of each weekday, so the weekly cycle cannot masquerade as drift."""
REFERENCE_DAYS: Final = 56
"""Drift reference: the 8 weeks before the recent window, the span the station profiles learn from
(``tasks.model.features.PROFILE_WEEKS``), i.e. "the data the model's features were shaped by"."""
PSI_BINS: Final = 10
WEATHER_COLUMNS: Final = ("temp_c", "precip_mm", "humidity_pct", "wind_ms")
KEYS: Final = ("date", "hour", "station_code", "direction")


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
    lag_days: int = PUBLICATION_LAG_DAYS,
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


def _with_scopes(frame: pl.DataFrame, groups: pl.DataFrame, focus: int = SEONGSU) -> pl.DataFrame:
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
    """WAPE and 80%-interval coverage per (scope, horizon) and pooled over horizons (horizon 0), by
    the one definition of ``tasks.model.metrics``."""
    if scored.is_empty():
        return _empty_metrics()
    rows = _with_scopes(scored.select("station_code", "horizon", "y", "yhat", "lo", "hi"), groups)
    per_h = sums(rows, ["scope", "horizon"])
    pooled = sums(rows, ["scope"]).with_columns(horizon=pl.lit(POOLED_HORIZON, pl.Int16))
    agg = finish(pl.concat([per_h, pooled.select(per_h.columns)], how="vertical_relaxed"))
    wape = agg.select(
        metric=pl.lit("wape"),
        scope="scope",
        horizon=pl.col("horizon").cast(pl.Int16),
        value=pl.when(pl.col("wape").is_finite()).then(pl.col("wape")),  # no riders: no WAPE
        n="n",
    )
    coverage = agg.select(
        metric=pl.lit("coverage"),
        scope="scope",
        horizon=pl.col("horizon").cast(pl.Int16),
        value=pl.col("coverage"),
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


def result_value(metrics: pl.DataFrame, metric: str, scope: str, horizon: int) -> float | None:
    hit = metrics.filter(
        (pl.col("metric") == metric) & (pl.col("scope") == scope) & (pl.col("horizon") == horizon)
    )
    return hit["value"][0] if hit.height else None


def fmt_metric(value: float | None, pct: bool = False) -> str:
    """A metric for reports and logs: ``–`` when missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}"
