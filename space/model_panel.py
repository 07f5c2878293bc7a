"""The production model in numbers: backtest WAPE (all stations, 성수) against the best baseline,
interval coverage and the live WAPE, from what the registry and the monitor really store.

``metrics_json`` of a ``models`` row (``tasks.ops.challenger.backtest_metrics`` + the decision) holds
``backtest_wape``, ``backtest_coverage`` and the tidy ``backtest`` table (one row per model x scope x
horizon, ``horizon = 0`` pooled; scope ``all`` or ``211``); the monitor's rows (``api_monitoring``)
hold the live scores.  Hyperparameters (``recipe``) are not metrics and are never shown here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

try:
    from space import texts
except ImportError:  # on Hugging Face the Space root is the working directory
    import texts  # type: ignore[no-redef]

SEONGSU_SCOPES = ("211", "station:211")
DEFAULT_MODEL = "catboost"


@dataclass(frozen=True)
class Score:
    wape: float | None
    baseline: str | None = None
    baseline_wape: float | None = None


@dataclass(frozen=True)
class Headline:
    """The numbers a person asks about a model, each ``None`` when not (yet) known."""

    model: str | None
    all_stations: Score
    seongsu: Score
    coverage: float | None
    origins: Sequence[str]
    live_day: dt.date | None
    live_wape: float | None
    live_coverage: float | None
    live_seongsu_wape: float | None

    @property
    def empty(self) -> bool:
        return self.all_stations.wape is None and self.live_wape is None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _pooled(rows: Sequence[Mapping[str, Any]], scopes: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    return {
        str(r.get("model")): r
        for r in rows
        if str(r.get("scope")) in scopes
        and int(r.get("horizon") or 0) == 0
        and _num(r.get("wape")) is not None
    }


def _model_name(metrics: Mapping[str, Any], pooled_all: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The served forecaster's row: the one the registry names (``forecaster``), else the one
    matching ``backtest_wape``; every other row is a baseline to compare with."""
    named = metrics.get("forecaster")
    if isinstance(named, str) and named in pooled_all:
        return named
    wape = _num(metrics.get("backtest_wape"))
    if wape is not None:
        for name, row in pooled_all.items():
            if abs(float(row["wape"]) - wape) < 1e-12:
                return name
    return DEFAULT_MODEL if DEFAULT_MODEL in pooled_all else None


def _score(pooled: Mapping[str, Mapping[str, Any]], model: str | None) -> Score:
    own = _num(pooled[model]["wape"]) if model is not None and model in pooled else None
    baselines = {name: float(r["wape"]) for name, r in pooled.items() if name != model}
    if not baselines:
        return Score(own)
    best = min(baselines, key=lambda name: baselines[name])
    return Score(own, best, baselines[best])


def _live(monitoring: pl.DataFrame | None) -> tuple[dt.date | None, dict[tuple[str, str], float]]:
    if monitoring is None or monitoring.is_empty():
        return None, {}
    pooled = monitoring.filter((pl.col("horizon") == 0) & pl.col("metric").is_in(["wape", "coverage"]))
    if pooled.is_empty():
        return None, {}
    day = pooled["evaluated_on"].max()
    latest = pooled.filter(pl.col("evaluated_on") == day)
    values = {
        (str(r["scope"]), str(r["metric"])): float(r["value"])
        for r in latest.iter_rows(named=True)
        if r["value"] is not None
    }
    return day, values  # type: ignore[return-value]


def headline(metrics: Mapping[str, Any], monitoring: pl.DataFrame | None = None) -> Headline:
    """The headline numbers of a registry ``metrics_json`` (parsed) and the monitor's rows."""
    rows = metrics.get("backtest")
    rows = [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []
    pooled_all = _pooled(rows, ("all",))
    model = _model_name(metrics, pooled_all)
    everywhere = _score(pooled_all, model)
    if everywhere.wape is None:
        everywhere = Score(_num(metrics.get("backtest_wape")), everywhere.baseline, everywhere.baseline_wape)
    coverage = _num(metrics.get("backtest_coverage"))
    if coverage is None and model in pooled_all:
        coverage = _num(pooled_all[model].get("coverage"))
    origins = metrics.get("origins")
    day, live = _live(monitoring)
    return Headline(
        model=model,
        all_stations=everywhere,
        seongsu=_score(_pooled(rows, SEONGSU_SCOPES), model),
        coverage=coverage,
        origins=[str(o) for o in origins] if isinstance(origins, list) else [],
        live_day=day,
        live_wape=live.get(("all", "wape")),
        live_coverage=live.get(("all", "coverage")),
        live_seongsu_wape=live.get(("station:211", "wape")),
    )


def served_metrics(models: pl.DataFrame | None, served: Any = None) -> dict[str, Any]:
    """``metrics_json`` of the served model's registry row (else the production row), parsed; the
    service's own ``/model`` metrics when the registry cannot be read or lacks the row."""
    import json

    if models is not None and models.height and "metrics_json" in models.columns:
        version = getattr(served, "version", None)
        row = models.filter(pl.col("version") == version) if version else models.clear()
        if row.is_empty():
            row = models.filter(pl.col("status") == "production")
        if row.height:
            try:
                parsed = json.loads(row["metrics_json"][0] or "{}")
            except (TypeError, ValueError):
                parsed = {}
            if isinstance(parsed, dict) and parsed:
                return _with_backtest_of(models, parsed)
    metrics = getattr(served, "metrics", None)
    return dict(metrics) if isinstance(metrics, Mapping) else {}


def _with_backtest_of(models: pl.DataFrame, metrics: dict[str, Any]) -> dict[str, Any]:
    """A served baseline's row names the training run whose backtest chose it (``baseline_of``);
    the backtest table lives on that run's row, so borrow it (the baseline's own keys win)."""
    import json

    source = metrics.get("baseline_of")
    if "backtest" in metrics or not isinstance(source, str):
        return metrics
    row = models.filter(pl.col("version") == source)
    if row.is_empty():
        return metrics
    try:
        other = json.loads(row["metrics_json"][0] or "{}")
    except (TypeError, ValueError):
        return metrics
    if not isinstance(other, dict):
        return metrics
    keep = {k: other[k] for k in ("backtest", "origins") if k in other}
    return {**keep, **metrics}


def _versus(score: Score, served_model: bool = True) -> str:
    if score.wape is None:
        return "—"
    text = f"**{texts.percent(score.wape)}**"
    if score.baseline is not None and score.baseline_wape is not None:
        better = "✓ 더 정확 · better" if score.wape < score.baseline_wape else "✗ 더 나쁨 · worse"
        other = "best baseline" if served_model else "next best"
        text += f" vs {other} `{score.baseline}` {texts.percent(score.baseline_wape)} ({better})"
    return text


def headline_lines(h: Headline) -> list[str]:
    """Markdown bullets, Korean and English; say what is missing and when it will come."""
    window = f" (origins {', '.join(h.origins)})" if h.origins else ""
    served_model = h.model in (None, DEFAULT_MODEL)
    if h.model is not None and not served_model:
        window += f", served forecaster `{h.model}`"
    lines = []
    if h.all_stations.wape is None:
        lines.append(
            "- 백테스트 · backtest: 아직 없음 · not recorded yet — it is written when a training run "
            "finishes its backtest (`seongsu train`, or the first `seongsu up`)."
        )
    else:
        lines += [
            f"- 백테스트 WAPE · backtest WAPE{window}, lower is better:",
            f"  - 전체 역 · all stations: {_versus(h.all_stations, served_model)}",
            f"  - 성수 · Seongsu (211): {_versus(h.seongsu, served_model)}",
        ]
        if h.coverage is not None:
            lines.append(
                f"- 80% 구간 포함률 · 80%-interval coverage (backtest): **{texts.percent(h.coverage)}** "
                "(80% = calibrated)"
            )
    if h.live_wape is None and h.live_coverage is None:
        lines.append(
            "- 실제 성능 · live WAPE: 아직 없음 · not yet — a forecast is scored once its day's actual "
            "counts are published, about 3 days after the day (so 4 replayed days after the first forecast)."
        )
    else:
        seongsu = (
            f", 성수 · Seongsu {texts.percent(h.live_seongsu_wape)}"
            if h.live_seongsu_wape is not None
            else ""
        )
        lines.append(
            f"- 실제 성능 · live ({h.live_day}, last 7 scored days): WAPE **{texts.percent(h.live_wape)}**"
            f"{seongsu}, coverage {texts.percent(h.live_coverage)}"
        )
    return lines


def coverage_line(served: int | None, known: int | None) -> str | None:
    """Served vs known stations, and why they differ."""
    if served is None or known is None:
        return None
    if served >= known:
        return f"- 역 · stations: all **{known}** known stations are forecast."
    return (
        f"- 역 · stations: **{served}** of {known} known stations are forecast. 나머지 {known - served}개 역은 "
        "예보일 전 28일 동안 공개된 승하차 자료가 없어 예보하지 않습니다 · The other "
        f"{known - served} had no ridership published in the 28 days before the issue date (Seoul Metro "
        "publishes some stations, e.g. the Bucheon end of line 7, only on some days), so the model has "
        "no recent level to start from; they come back as soon as their counts do."
    )
