"""The gate: challenger, champion and the best baseline on the same window; who serves next.

Why it works this way:

* **Same window, same targets, same scoring.**  Forecast origins ``data_end - 7k`` (``k = 1..n``;
  horizons 1..7, every station, targets up to ``data_end``).  The challenger's recipe and *every*
  baseline of ``tasks.model.baselines.baselines()`` are refit at each origin on what was known there (the
  rolling-origin backtest of ``tasks.model.evaluate``, run by ``tasks.ops.challenger``); the champion is its
  fitted artifact when it was trained only on data known at that origin (how it would really have
  served), else its recipe refit there with the same bounds -- or, when that recipe is the
  challenger's (same parameters and feature/training code fingerprint), the challenger's own
  backtest (a tie).  A champion that is a baseline is that baseline's rows.  All of them are joined on
  the rows every one answered and scored by one WAPE (``compare``).
* **The best baseline is a contender, not a footnote.**  It is the minimum WAPE over all baselines on
  those rows -- never a hand-picked one.  ``decide``: the challenger is promoted only if it is
  strictly better than the champion *and* than the best baseline (by a relative ``min_improvement``
  if given; ties are rejections).  Otherwise the champion keeps serving if it is not worse than the
  best baseline; if it is (or there is none), no model beats the baseline, so the baseline itself is
  packaged (``tasks.model.forecasters``) and served like any model: same package contract, ``/forecast``,
  daily refresh, rollback.  A baseline champion of the same name ties itself and stays.
* Consequence worth knowing: retraining the same recipe on data that overlaps the window cannot win
  (it *is* the champion's recipe on the same data); it can once the champion is older than the
  window, or when the recipe (search result, code) improves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import polars as pl

from tasks.model.evaluate import SEONGSU
from tasks.model.features import (
    KEYS,
    MAX_HORIZON,
    PUBLICATION_LAG_DAYS,
    History,
    cutoff_for,
    forecast_targets,
)
from tasks.model.forecasters import PackagedForecaster, baseline_by_name, lag_of, load_forecaster
from tasks.model.metrics import wape
from tasks.model.package import read_package
from tasks.model.recipe import TrainConfig
from tasks.model.train import CatBoostForecaster, train
from tasks.ops.identity import fit_config, json_safe, recipe_fingerprint, recipe_of
from tasks.ops.packaging import save_candidate
from tasks.ops.registry import ModelRecord, Publication, promote
from tasks.ops.store import RegistryError, find_package

if TYPE_CHECKING:
    from tasks.core.settings import Settings
    from tasks.data.history import LoadedHistory
    from tasks.data.warehouse.base import Warehouse

EPS: Final = 1e-9
Serves = Literal["challenger", "champion", "baseline"]
BASELINE_PREFIX: Final = "baseline:"


# --------------------------------------------------------------------------------------------------
# the window


def comparison_origins(data_end: dt.date, n_origins: int = 2, horizon: int = MAX_HORIZON) -> list[dt.date]:
    """Forecast origins whose 1..horizon targets fill the last ``n_origins * horizon`` known days
    (``tasks.model.evaluate.rolling_origins``: the backtest's own definition)."""
    from tasks.model.evaluate import rolling_origins

    return rolling_origins(data_end, n_origins, horizon)


def fit_at(history: History, origin: dt.date, config: TrainConfig) -> CatBoostForecaster:
    """The recipe in ``config`` fitted on what was known at ``origin`` (no search)."""
    return train(history, origin, config, grid=None, time_budget_s=None)


def predict_at(
    forecaster: PackagedForecaster, history: History, origin: dt.date, stations: Sequence[int]
) -> pl.DataFrame:
    """Forecasts issued on ``origin`` for horizons 1..7 from the history known then."""
    targets = forecast_targets(list(stations), origin)
    return forecaster.predict(targets, history=history.until(cutoff_for(origin, lag_of(forecaster))))


# --------------------------------------------------------------------------------------------------
# scoring


def _wape(actual: np.ndarray, pred: np.ndarray) -> float:
    return wape(actual, pred)  # tasks.metrics: the one WAPE (refuses NaN forecasts)


@dataclass(frozen=True)
class Comparison:
    """Challenger vs champion (None: nothing to beat) vs every baseline, on identical targets."""

    origins: list[dt.date]
    n_targets: int
    challenger_wape: float | None
    champion_version: str | None = None
    champion_wape: float | None = None
    champion_method: dict[str, str] = field(default_factory=dict)
    per_horizon: list[dict[str, Any]] = field(default_factory=list)
    seongsu: dict[str, float | None] = field(default_factory=dict)
    champion_kind: str | None = None
    champion_forecaster: str | None = None
    best_baseline: str | None = None
    best_baseline_wape: float | None = None
    baselines: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(json_safe(asdict(self)))


def score_window(
    challenger: pl.DataFrame | None,
    champion: pl.DataFrame | None,
    actuals: pl.DataFrame,
    baselines: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, int]:
    """Join every forecast and the actuals on (target, as_of); only rows all of them have count.

    ``baselines``: rows of ``tasks.model.evaluate.backtest_predictions`` (a ``model`` column per baseline);
    each becomes a ``baseline:<name>`` column.  ``challenger`` None: the baselines alone (before the
    first model exists).
    """
    keys = [*KEYS, "as_of"]
    if challenger is None and (baselines is None or not baselines.height):
        raise RegistryError("nothing to score: no challenger and no baselines")
    rows = (
        challenger.select(*keys, pl.col("yhat").alias("challenger"))
        if challenger is not None
        else baselines.select(*keys).unique()  # type: ignore[union-attr]
    )
    frame = rows.join(
        actuals.select(
            pl.col("date"),
            pl.col("hour").cast(pl.Int16),
            pl.col("station_code").cast(pl.Int32),
            pl.col("direction"),
            pl.col("count").cast(pl.Float64).alias("actual"),
        ),
        on=list(KEYS),
        how="inner",
    )
    if champion is not None:
        frame = frame.join(champion.select(*keys, pl.col("yhat").alias("champion")), on=keys, how="inner")
    if baselines is not None and baselines.height:
        wide = baselines.select(
            *keys, (pl.lit(BASELINE_PREFIX) + pl.col("model")).alias("model"), "yhat"
        ).pivot(on="model", index=keys, values="yhat")
        frame = frame.join(wide, on=keys, how="inner").drop_nulls()
    frame = frame.with_columns(horizon=(pl.col("date") - pl.col("as_of")).dt.total_days().cast(pl.Int16))
    return frame, frame.height


def compare(
    challenger_preds: pl.DataFrame | None,
    history: History,
    origins: Sequence[dt.date],
    *,
    champion: ModelRecord | None = None,
    champion_preds: pl.DataFrame | None = None,
    champion_method: Mapping[str, str] | None = None,
    baseline_preds: pl.DataFrame | None = None,
) -> Comparison:
    """WAPE of every contender on the same targets: overall, per horizon and for Seongsu (211)."""
    frame, n = score_window(challenger_preds, champion_preds, history.ridership, baseline_preds)
    if n == 0:
        raise RegistryError(f"no actuals for the comparison window (origins {list(origins)})")
    names = [c.removeprefix(BASELINE_PREFIX) for c in frame.columns if c.startswith(BASELINE_PREFIX)]
    y = frame["actual"].to_numpy()
    scores = {b: _wape(y, frame[BASELINE_PREFIX + b].to_numpy()) for b in names}
    best = min(sorted(scores), key=lambda b: scores[b]) if scores else None
    columns = {
        "challenger": "challenger" if challenger_preds is not None else None,
        "champion": "champion" if champion_preds is not None else None,
        "baseline": None if best is None else BASELINE_PREFIX + best,
    }

    def wapes(part: pl.DataFrame) -> dict[str, float | None]:
        py = part["actual"].to_numpy()
        return {
            role: None if col is None else _wape(py, part[col].to_numpy()) for role, col in columns.items()
        }

    per_h = [
        {"horizon": int(h), **wapes(part)}
        for (h,), part in sorted(frame.group_by("horizon"), key=lambda kv: kv[0][0])
    ]
    s = frame.filter(pl.col("station_code") == SEONGSU)
    return Comparison(
        origins=list(origins),
        n_targets=n,
        challenger_wape=_wape(y, frame["challenger"].to_numpy()) if challenger_preds is not None else None,
        champion_version=champion.version if champion else None,
        champion_wape=_wape(y, frame["champion"].to_numpy()) if champion_preds is not None else None,
        champion_method=dict(champion_method or {}),
        per_horizon=per_h,
        seongsu=wapes(s) if s.height else {},
        champion_kind=champion.kind if champion else None,
        champion_forecaster=_forecaster_name(champion),
        best_baseline=best,
        best_baseline_wape=scores[best] if best is not None else None,
        baselines=scores,
    )


def _forecaster_name(record: ModelRecord | None) -> str | None:
    if record is None:
        return None
    return record.metrics.forecaster or (CatBoostForecaster.name if record.kind == "model" else None)


def champion_predictions(
    settings: Settings,
    champion: ModelRecord,
    history: History,
    origins: Sequence[dt.date],
    *,
    challenger_recipe: Mapping[str, Any],
    challenger_preds: pl.DataFrame,
    bounds: TrainConfig,
    baseline_preds: pl.DataFrame | None = None,
    stations: Sequence[int] | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """The champion's out-of-sample forecasts at ``origins`` (artifact, recipe refit, or -- for a
    baseline champion -- that baseline's backtest rows) and how each origin's were made."""
    package = read_package(find_package(settings, champion.version))
    fitted = load_forecaster(package.model_dir)
    codes = stations or history.ridership.get_column("station_code").unique().sort().to_list()
    frames, methods = [], {}
    if not isinstance(fitted, CatBoostForecaster):
        scored = baseline_preds.filter(pl.col("model") == fitted.name) if baseline_preds is not None else None
        for origin in origins:
            rows = scored.filter(pl.col("as_of") == origin) if scored is not None else None
            if rows is not None and rows.height:
                frames.append(rows.select(*KEYS, "as_of", "yhat", "lo", "hi"))
                methods[origin.isoformat()] = "same-baseline"
            else:
                frames.append(predict_at(fitted, history, origin, codes))
                methods[origin.isoformat()] = "baseline"
        return pl.concat(frames, how="vertical_relaxed").select(*KEYS, "as_of", "yhat", "lo", "hi"), methods
    recipe = champion.metrics.recipe or recipe_of(fitted)
    same_recipe = champion.metrics.recipe_fingerprint == recipe_fingerprint() and json_safe(
        recipe
    ) == json_safe(dict(challenger_recipe))
    lag = lag_of(fitted)
    for origin in origins:
        if champion.data_end is not None and champion.data_end <= cutoff_for(origin, lag):
            frames.append(predict_at(fitted, history, origin, codes))
            methods[origin.isoformat()] = "artifact"
        elif same_recipe:
            frames.append(challenger_preds.filter(pl.col("as_of") == origin))
            methods[origin.isoformat()] = "same-recipe"
        else:
            refit = fit_at(history, origin, fit_config(recipe, bounds))
            frames.append(predict_at(refit, history, origin, codes))
            methods[origin.isoformat()] = "refit"
    return pl.concat(frames).select(*KEYS, "as_of", "yhat", "lo", "hi"), methods


# --------------------------------------------------------------------------------------------------
# the decision


@dataclass(frozen=True)
class Decision:
    """``promote``: the challenger serves.  ``serve``: who serves after this run (``baseline``: the
    comparison's best baseline is packaged and promoted)."""

    version: str
    promote: bool
    reason: str
    comparison: Comparison
    serve: Serves = "challenger"

    @property
    def baseline(self) -> str | None:
        """The baseline to package and serve, if that is the decision."""
        return self.comparison.best_baseline if self.serve == "baseline" else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "promote": self.promote,
            "serve": self.serve,
            "reason": self.reason,
            "comparison": self.comparison.as_dict(),
        }


def _verdict(a: float, b: float) -> str:
    return "ties" if abs(a - b) <= EPS else "does not beat"


def decide(version: str, comparison: Comparison, min_improvement: float = 0.0) -> Decision:
    """Who serves next (see the module docstring): the challenger iff strictly better than the
    champion and the best baseline; else the champion unless the best baseline beats it; else the
    best baseline.  No challenger (``compare`` of the baselines alone): the best baseline serves."""
    c = comparison
    ch, cp, bw, best = c.challenger_wape, c.champion_wape, c.best_baseline_wape, c.best_baseline
    on = f"on {c.n_targets:,} targets"
    if ch is None:
        if bw is None:
            raise RegistryError("no challenger and no baseline: nothing to decide")
        reason = f"no model trained yet: the best baseline {best} (WAPE {bw:.4f} {on}) is packaged and served"
        return Decision(version, False, reason, c, "baseline")

    def beats(other: float | None) -> bool:
        return other is None or ch < other * (1.0 - min_improvement) - EPS

    if beats(cp) and beats(bw):
        won = [
            f"no champion yet (window WAPE {ch:.4f})"
            if cp is None
            else f"beats champion {c.champion_version}: WAPE {ch:.4f} < {cp:.4f}"
        ]
        if bw is not None:
            won.append(f"beats the best baseline {best}: WAPE {ch:.4f} < {bw:.4f}")
        return Decision(version, True, f"{'; '.join(won)} {on}: promoted", comparison, "challenger")
    lost = []
    if bw is not None and not beats(bw):
        lost.append(f"{_verdict(ch, bw)} the best baseline {best}: WAPE {ch:.4f} vs {bw:.4f}")
    if cp is not None and not beats(cp):
        lost.append(f"{_verdict(ch, cp)} champion {c.champion_version}: WAPE {ch:.4f} vs {cp:.4f}")
    reason = f"{'; '.join(lost)} {on}"
    if cp is not None and (bw is None or cp <= bw + EPS):
        holds = "" if bw is None else f" (not worse than the best baseline {best}: {cp:.4f} vs {bw:.4f})"
        reason = f"{reason}; champion {c.champion_version} keeps serving{holds}"
        return Decision(version, False, reason, c, "champion")
    holder = (
        "there is no champion"
        if cp is None
        else f"champion {c.champion_version} does not beat it either ({cp:.4f})"
    )
    return Decision(
        version, False, f"{reason}; {holder}: the baseline {best} is packaged and served", c, "baseline"
    )


# --------------------------------------------------------------------------------------------------
# serving the baseline


def serve_baseline(
    settings: Settings,
    warehouse: Warehouse,
    loaded: LoadedHistory,
    decision: Decision,
    *,
    metrics: Mapping[str, Any] | None = None,
    wandb_run: str | None = None,
    lag_days: int = PUBLICATION_LAG_DAYS,
) -> Publication:
    """Package ``decision.baseline`` issued on ``loaded.as_of`` with the production builder
    (``tasks.ops.packaging.save_candidate``), promote it and write its forecasts to the warehouse
    ``forecasts`` table, as a promoted model's are.  ``lag_days``: the lag the window's baselines
    were built with (the challenger's)."""
    from tasks.data.forecasts import write_forecasts
    from tasks.model.forecast import forecast

    name = decision.baseline
    if name is None:
        raise RegistryError(f"decision for {decision.version} does not serve a baseline")
    baseline = baseline_by_name(name, lag_days)
    forecasts = forecast(baseline, loaded.history, loaded.as_of, stations="all")
    c = decision.comparison
    extra = {
        **dict(metrics or {}),
        "backtest_wape": c.best_baseline_wape,
        **({"baseline_of": decision.version} if decision.version else {}),
        "forecaster": name,
    }
    candidate = save_candidate(
        settings, warehouse, baseline, loaded, forecasts=forecasts, metrics=extra, wandb_run=wandb_run
    )
    served = promote(settings, warehouse, candidate, decision, wandb_run=wandb_run)
    with warehouse.transaction():
        write_forecasts(warehouse, forecasts, model_version=served.version, as_of=loaded.as_of)
    return served
