"""The target transform and the quantile outputs of the CatBoost model: the anchor each row is a
ratio to, CatBoost pools, sorting crossed quantiles, the interval calibration, the guard and the
blend with ``profile_4w``.  Plain numpy/polars functions of ``tasks.model.train``'s fits.

Why these choices:

* **Target = ratio to the station profile minus one, weighted by the profile.**  Counts span
  0..19,000 per band; the ratio ``y / (profile + 1)`` is ~1 everywhere, so trees share structure
  across stations (holidays, rain act multiplicatively).  Weighting each row by ``profile + 1`` makes
  the pinball loss on the ratio equal to the pinball loss on raw counts, which is what WAPE
  measures; quantiles are equivariant under this per-row monotone map.  The label is ``ratio - 1``
  with ``boost_from_average=False``, i.e. boosting *starts at the profile* and only learns
  corrections to it (CatBoost's ``baseline`` is not usable with MultiQuantile at predict time).
  ``log1p`` and ``raw`` are anchored the same way (``log1p(y) - log1p(profile)``, ``y - profile``).
* **Guard.**  The labels are winsorised and every forecast clipped to the 0.1-99.9 % range of the
  training rows' ratio to their base (``RATIO_QUANTILES``, kept in the metadata): holiday targets
  (Sunday-profile base, up to 4x) and rows without a profile had taught leaves of 4-400x that an
  ordinary weekday with an unseen calendar combination fell into (2022-08-31: the whole network
  forecast at 4x, from a model trained to June 2022 -- issue 10's August horizon-5 blow-up).
* **Blend with the best baseline.**  The median is blended with ``profile_4w`` (the best
  baseline over the whole history) at the weight in 0, 0.1 .. 1 that scores best on the holdout
  (``blend_weight``), the other quantiles moved with it; the interval is calibrated after blending.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from catboost import CatBoostRegressor, FeaturesData, Pool

from tasks.model.features import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
)
from tasks.model.metrics import wape
from tasks.model.recipe import BLEND_WEIGHTS, COVERAGE_TARGET, RATIO_QUANTILES, Target


def anchor_of(features: pl.DataFrame) -> np.ndarray:
    """The per-row anchor of the target: the 3-week same-kind mean (from the ``log_base`` feature, so
    a frame of ``FEATURE_COLUMNS`` alone -- the service's /predict -- decodes too) plus one."""
    log_base = features["log_base"].fill_null(0.0).clip(lower_bound=0.0).to_numpy().astype(np.float64)
    return np.expm1(log_base) + 1.0


def ratio_bounds(y: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """``RATIO_QUANTILES`` of ``y / base`` over training rows: the range the guard allows."""
    lo, hi = np.quantile(y / base, RATIO_QUANTILES)
    return float(lo), float(hi)


def encode_target(
    y: np.ndarray, base: np.ndarray, target: Target, bounds: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(label, weight) anchored at the base: 0 means "the base".  With ``bounds`` the counts are
    first winsorised to ``bounds * base`` (a handful of outlier days must not grow leaves of 5x)."""
    if bounds is not None:
        y = np.clip(y, bounds[0] * base, bounds[1] * base)
    if target == "ratio":
        return y / base - 1.0, base
    if target == "log1p":
        return np.log1p(y) - np.log1p(base), None
    return y - base, None


def decode_target(pred: np.ndarray, base: np.ndarray, target: Target) -> np.ndarray:
    """Counts from raw model outputs of shape (n, k) -- the inverse of ``_encode_target``."""
    if target == "ratio":
        return (pred + 1.0) * base[:, None]
    if target == "log1p":
        return np.expm1(pred + np.log1p(base)[:, None])
    return pred + base[:, None]


def recency_weight(dates: pl.Series, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life), age counted from the newest date: recent rows speak louder."""
    days = dates.cast(pl.Int32).to_numpy().astype(np.float64)  # days since the epoch
    return np.power(0.5, (days.max() - days) / half_life_days)


def to_pool(
    features: pl.DataFrame, label: np.ndarray | None = None, weight: np.ndarray | None = None
) -> Pool:
    """A CatBoost pool straight from polars: float32 numerics + string categoricals, no pandas."""
    num = features.select(pl.col(c).cast(pl.Float32) for c in NUMERIC_FEATURES).to_numpy()
    cat = features.select(pl.col(c).cast(pl.String) for c in CATEGORICAL_FEATURES).to_numpy().astype(object)
    data = FeaturesData(
        num_feature_data=np.ascontiguousarray(num, dtype=np.float32),
        cat_feature_data=cat,
        num_feature_names=list(NUMERIC_FEATURES),
        cat_feature_names=list(CATEGORICAL_FEATURES),
    )
    return Pool(data, label=label, weight=weight)


def fix_up(q: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, yhat, hi) from quantile predictions: sorted per row (quantiles may cross), half-widths
    scaled by the calibration factor, clipped at zero.  Always lo <= yhat <= hi."""
    q = np.sort(q, axis=1)
    mid = q[:, q.shape[1] // 2]
    lo = mid - scale * (mid - q[:, 0])
    hi = mid + scale * (q[:, -1] - mid)
    mid = np.clip(mid, 0.0, None)
    return np.clip(lo, 0.0, None), mid, np.clip(hi, 0.0, None)


def interval_scale(y: np.ndarray, q: np.ndarray, coverage: float = COVERAGE_TARGET) -> float:
    """Smallest factor on the half-widths of [q_lo, q_hi] around the median that covers ``coverage``
    of ``y`` (split-conformal calibration on a holdout)."""
    q = np.sort(q, axis=1)
    mid = q[:, q.shape[1] // 2]
    below = np.maximum(mid - q[:, 0], 1e-9)
    above = np.maximum(q[:, -1] - mid, 1e-9)
    need = np.where(y < mid, (mid - y) / below, (y - mid) / above)
    return float(np.quantile(need, coverage))


def guard(q: np.ndarray, base: np.ndarray, bounds: tuple[float, float] | None) -> np.ndarray:
    """Quantile forecasts (n, k) clipped to ``bounds`` times the base (``None``: unchanged)."""
    if bounds is None:
        return q
    return np.clip(q, bounds[0] * base[:, None], bounds[1] * base[:, None])


def profile_4w(features: pl.DataFrame) -> np.ndarray:
    """The 4-week same-kind mean -- the ``profile_4w`` baseline, the best over the whole history --
    from the feature frame (``prof_4w`` is its log-ratio to the base; the base where it is missing)."""
    log_base = features["log_base"].fill_null(0.0).clip(lower_bound=0.0).to_numpy().astype(np.float64)
    rel = features["prof_4w"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return np.where(np.isnan(rel), np.expm1(log_base), np.expm1(np.nan_to_num(rel) + log_base))


def median_of(q: np.ndarray) -> np.ndarray:
    """The middle quantile of each row of (n, k) predictions, after sorting (quantiles may cross)."""
    return np.sort(q, axis=1)[:, q.shape[1] // 2]


def blend(q: np.ndarray, anchor: np.ndarray, weight: float) -> np.ndarray:
    """The model's quantiles moved so that their median is ``weight`` x the model's + (1 - ``weight``)
    x the baseline: the centre is blended, the model's spread kept.  (Blending every quantile alike
    shrank the interval with the weight, to zero width at weight 0 -- the fit of 2023-05-05 in a
    refit-every-4-weeks backtest chose 0 and its month's 80 % band covered 9-11 %.)"""
    mid = median_of(q)
    return q + ((1.0 - weight) * (anchor - mid))[:, None]


def blend_weight(y: np.ndarray, q: np.ndarray, anchor: np.ndarray) -> float:
    """The ``BLEND_WEIGHTS`` value whose blend of the median with the baseline has the lowest WAPE
    on a holdout: 1 = the model alone, 0 = the baseline alone (the model is never trusted further
    than the holdout says it beats the baseline)."""
    mid = median_of(q)
    return min(BLEND_WEIGHTS, key=lambda w: wape(y, w * mid + (1.0 - w) * anchor))


def predict_features(
    model: CatBoostRegressor,
    features: pl.DataFrame,
    target: Target,
    scale: float = 1.0,
    thread_count: int = 1,
    bounds: tuple[float, float] | None = None,
    weight: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, yhat, hi) for a frame of ``FEATURE_COLUMNS`` -- the single decode path of the model:
    decode, guard, blend with ``profile_4w`` at ``weight``, calibrated interval."""
    raw = np.asarray(model.predict(to_pool(features), thread_count=thread_count)).reshape(features.height, -1)
    base = anchor_of(features)
    q = guard(decode_target(raw, base, target), base, bounds)
    if weight != 1.0:
        q = blend(q, profile_4w(features), weight)
    return fix_up(q, scale)
