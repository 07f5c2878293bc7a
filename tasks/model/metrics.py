"""The forecast metrics, once: additive sums per group, then the ratios.

Why sums: a backtest over three years of weekly origins scores ~14 M rows per forecaster; keeping
them all for a dozen forecasters would not fit in memory.  Every reported metric is a ratio of sums
that add up across origins, so each block of origins is reduced to these sums per group (model,
scope, horizon, month, day kind, hour band...) and the blocks are added:

* WAPE = sum|y - yhat| / sum y -- scale-free across stations, dominated by the busy hours;
* MAE = sum|y - yhat| / n (riders per hour band);
* bias = sum yhat / sum y - 1 (> 0: over-forecast);
* coverage = share of y inside [lo, hi] (null when the forecaster gives no interval);
* pinball loss per quantile (``pinball``, scikit-learn): the training holdout's quantile quality.

``wape``/``summarise`` on arrays go through the same expressions, so the gate, the monitor and the
accuracy report cannot disagree on a definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import polars as pl

SUM_COLUMNS: Final = ("abs_err", "sum_y", "sum_yhat", "n", "inside", "n_interval")
METRICS: Final = ("wape", "mae", "bias", "coverage")


def sums(frame: pl.DataFrame | pl.LazyFrame, by: Sequence[str]) -> pl.DataFrame:
    """The additive sums of a frame with ``y, yhat, lo, hi`` per group ``by`` (rows with a null
    ``y`` are not scored).  A null/NaN/infinite ``yhat`` is an error, never a row that silently
    drops out of (null) or poisons (NaN) a sum."""
    has_interval = pl.col("lo").is_not_null() & pl.col("hi").is_not_null()
    inside = (pl.col("y") >= pl.col("lo")) & (pl.col("y") <= pl.col("hi"))
    lazy = frame.lazy().filter(pl.col("y").is_not_null())
    yhat = pl.col("yhat").cast(pl.Float64)
    out = (
        lazy.group_by(list(by))
        .agg(
            (yhat.is_null() | yhat.is_nan() | yhat.is_infinite()).cast(pl.Int64).sum().alias("_bad"),
            (pl.col("y") - pl.col("yhat")).abs().sum().alias("abs_err"),
            pl.col("y").sum().alias("sum_y"),
            pl.col("yhat").sum().alias("sum_yhat"),
            pl.len().cast(pl.Int64).alias("n"),
            (inside & has_interval).cast(pl.Int64).sum().alias("inside"),
            has_interval.cast(pl.Int64).sum().alias("n_interval"),
        )
        .collect()
    )
    bad = int(out["_bad"].sum())
    if bad:
        raise ValueError(f"{bad} forecasts are null, NaN or infinite: a forecaster failed on some rows")
    return out.drop("_bad")


def add(parts: Sequence[pl.DataFrame], by: Sequence[str]) -> pl.DataFrame:
    """Sums of several blocks added per group."""
    return (
        pl.concat(parts, how="vertical_relaxed").group_by(list(by)).agg(pl.col(c).sum() for c in SUM_COLUMNS)
    )


def finish(frame: pl.DataFrame) -> pl.DataFrame:
    """Metrics from sums (``SUM_COLUMNS`` dropped; ``n`` kept)."""
    return frame.with_columns(
        wape=pl.col("abs_err") / pl.col("sum_y"),
        mae=pl.col("abs_err") / pl.col("n"),
        bias=pl.col("sum_yhat") / pl.col("sum_y") - 1.0,
        coverage=pl.when(pl.col("n_interval") == pl.col("n")).then(pl.col("inside") / pl.col("n")),
    ).drop(c for c in SUM_COLUMNS if c != "n")


def summarise(
    y: np.ndarray, yhat: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None
) -> dict[str, float | None]:
    """The metrics of plain arrays (one group)."""
    n = len(y)
    frame = pl.DataFrame(
        {
            "y": np.asarray(y, dtype=np.float64),
            "yhat": np.asarray(yhat, dtype=np.float64),
            "lo": np.full(n, np.nan) if lo is None else np.asarray(lo, dtype=np.float64),
            "hi": np.full(n, np.nan) if hi is None else np.asarray(hi, dtype=np.float64),
        }
    ).with_columns(pl.col("lo").fill_nan(None), pl.col("hi").fill_nan(None), _g=pl.lit(0))
    row = finish(sums(frame, ["_g"])).row(0, named=True)
    return {k: row[k] for k in METRICS}


def pinball(y: np.ndarray, q: np.ndarray, alphas: Sequence[float]) -> dict[float, float]:
    """Mean pinball loss of each quantile column of ``q`` (n, k) at its ``alphas`` (riders per row):
    how good a quantile forecast is as a quantile (scikit-learn's ``mean_pinball_loss``).  Imported
    here: only training scores quantiles, and scikit-learn took ~1 s of every command's start-up."""
    from sklearn.metrics import mean_pinball_loss

    return {a: float(mean_pinball_loss(y, q[:, i], alpha=a)) for i, a in enumerate(alphas)}


def wape(y: np.ndarray, yhat: np.ndarray) -> float:
    """sum|y - yhat| / sum y of two arrays."""
    value = summarise(y, yhat)["wape"]
    return float("nan") if value is None else float(value)
