"""The accuracy report: every baseline and the model over the whole history, sliced every way.

Why a module of its own: ``bench/accuracy.py`` prints it, but what it computes -- which origins,
which folds, which baseline is "the best" -- is product logic the gate and the README quote, so it
lives here as plain functions over ``tasks.model.evaluate``.

* ``whole_history``: weekly origins from ``FIRST_ORIGIN`` (a year of history exists: the year-ago
  baseline and features have something to read) to the end, in blocks of ``refit_every`` weeks;
* ``out_of_season``: the model trained once on data before 2022-06-01 (``Frozen``), scored on the
  July-August 2022 weeks it never saw a summer of recent data for -- the baselines as usual;
* ``weather_honesty``: the model with target-day weather for h <= 2 only (Contract 3) and with the
  observation at every horizon, on the same origins, so the cost of honesty is visible.

"The best baseline" is always the minimum WAPE over every baseline on the same rows and scope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from tasks.model.evaluate import Forecaster, backtest_sums, report
from tasks.model.features import PUBLICATION_LAG_DAYS, History, cutoff_for

FIRST_ORIGIN: Final = dt.date(2021, 1, 3)
OUT_OF_SEASON_TRAIN_END: Final = dt.date(2022, 6, 1)
OUT_OF_SEASON_SCORE: Final = (dt.date(2022, 7, 1), dt.date(2022, 8, 31))
REFIT_WEEKS: Final = 13
SLICES: Final = {
    "overall": [],
    "season": ["season"],
    "year": ["year"],
    "horizon": ["horizon"],
    "day class": ["day_class"],
    "hour band": ["band"],
}


class Frozen:
    """A forecaster fit once, on the history known at ``fit_as_of``, whatever later origins offer."""

    def __init__(self, inner: Forecaster, fit_as_of: dt.date, name: str | None = None) -> None:
        self.inner = inner
        self.fit_as_of = fit_as_of
        self.name = name or inner.name
        self._fitted = False

    def fit(self, history: History, as_of: dt.date) -> Frozen:
        if as_of < self.fit_as_of:
            raise ValueError(f"origin {as_of} is before the frozen fit date {self.fit_as_of}")
        if not self._fitted:
            self.inner.fit(history.until(cutoff_for(self.fit_as_of)), self.fit_as_of)
            self._fitted = True
        return self

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame:
        return self.inner.predict(targets, history=history)


def with_slices(sums: pl.DataFrame) -> pl.DataFrame:
    """Add ``season`` and ``year`` (from ``month``) to a ``backtest_sums`` table."""
    from tasks.model.evaluate import SEASONS

    month = pl.col("month").str.slice(5, 2).cast(pl.Int8)
    return sums.with_columns(
        season=month.replace_strict(SEASONS, return_dtype=pl.String), year=pl.col("month").str.slice(0, 4)
    )


def best_baselines(sums: pl.DataFrame, baseline_names: Sequence[str]) -> dict[str, str]:
    """Per scope: the baseline with the lowest pooled WAPE on these rows."""
    overall = report(sums.filter(pl.col("model").is_in(list(baseline_names))), ["model", "scope"])
    best = overall.sort("wape").group_by("scope", maintain_order=True).first()
    return dict(zip(best["scope"].to_list(), best["model"].to_list(), strict=True))


def compare(sums: pl.DataFrame, model: str, best: dict[str, str], by: Sequence[str]) -> pl.DataFrame:
    """The model next to the best baseline of each scope per slice ``by``: both WAPEs and the gain
    (``1 - model / best``; +10 % = the issue's target)."""
    keys = ["scope", *by]
    table = report(sums, ["model", *keys])
    if "horizon" in by:
        table = table.filter(pl.col("horizon") != 0)
    m = table.filter(pl.col("model") == model).select(
        *keys, pl.col("wape").alias("model_wape"), pl.col("bias").alias("model_bias"), "coverage"
    )
    b = pl.concat(
        [
            table.filter(pl.col("scope") == scope, pl.col("model") == name).select(
                *keys, pl.lit(name).alias("best_baseline"), pl.col("wape").alias("baseline_wape")
            )
            for scope, name in best.items()
        ]
    )
    return (
        m.join(b, on=keys, how="inner")
        .with_columns(gain=1.0 - pl.col("model_wape") / pl.col("baseline_wape"))
        .sort(keys)
    )


@dataclass(frozen=True)
class Fold:
    """A named backtest: its sums (with slices) and the seconds per forecaster."""

    name: str
    sums: pl.DataFrame
    seconds: dict[str, float]


def run_fold(
    name: str,
    forecasters: Sequence[Forecaster],
    history: History,
    origins: Sequence[dt.date],
    *,
    refit_every: int = REFIT_WEEKS,
    log: bool = False,
) -> Fold:
    sums, seconds = backtest_sums(forecasters, history, origins, refit_every=refit_every, log=log)
    return Fold(name, with_slices(sums), seconds)


def out_of_season_origins(last_date: dt.date) -> list[dt.date]:
    """Weekly origins whose target weeks fall in July-August 2022 (empty if the history ends earlier)."""
    first, last = OUT_OF_SEASON_SCORE
    if last_date < last:
        return []
    out, o = [], first - dt.timedelta(days=1)
    while o + dt.timedelta(days=7) <= last:
        out.append(o)
        o += dt.timedelta(days=7)
    return out


def fit_as_of_for_out_of_season() -> dt.date:
    """The issue date whose cutoff is the last day before ``OUT_OF_SEASON_TRAIN_END``."""
    return OUT_OF_SEASON_TRAIN_END + dt.timedelta(days=PUBLICATION_LAG_DAYS - 1)
