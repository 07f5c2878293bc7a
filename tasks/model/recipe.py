"""What defines a trained model besides its data: the quantiles it fits, the knobs of a run
(``TrainConfig``) and the search grid.  ``tasks.model.train`` trains by it; the registry compares
recipes (``tasks.ops.identity``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from tasks.core.constants import SEONGSU
from tasks.model.features import (
    PUBLICATION_LAG_DAYS,
    WEATHER_MAX_HORIZON,
)

QUANTILES: Final = (0.1, 0.5, 0.9)
LOSS: Final = "MultiQuantile:alpha=" + ",".join(str(q) for q in QUANTILES)
COVERAGE_TARGET: Final = QUANTILES[-1] - QUANTILES[0]
RATIO_QUANTILES: Final = (0.001, 0.999)
"""The guard's range: a forecast's ratio to its base is clipped to these quantiles of the training
labels' ratios (and the labels are winsorised to them), so no single input -- a calendar
combination the trees never saw, a profile from a short window -- yields an absurd forecast."""
BLEND_WEIGHTS: Final = tuple(k / 10 for k in range(11))
MODEL_FILE: Final = "model.cbm"
METADATA_FILE: Final = "metadata.json"
WEATHER_NOTE: Final = (
    f"Target-day weather is used only for horizons <= {WEATHER_MAX_HORIZON} (a short-range forecast's "
    "reach); observations stand in for that forecast in training and backtests, later horizons get none."
)

Target = Literal["ratio", "log1p", "raw"]


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of one training run (tree hyperparameters live in ``params``).

    ``warmup_days``: the first days of history only feed features (profiles need a few weeks).
    ``train_days``: keep only the newest N days of targets (None = all).
    ``max_train_rows``: uniform row subsample (seeded).  Rows of one station-hour are highly
      redundant; 400k of the ~1.5M half-year rows gave the same backtest WAPE at a quarter of the time.
    ``valid_days``: newest target days held out for early stopping / search / interval calibration.
    ``weather_horizon``: target-day weather only for horizons up to it (Contract 3; 7 = the
      flattering variant the accuracy bench reports once).
    ``guard``: winsorise the labels and clip forecasts to ``RATIO_QUANTILES`` of the training
      ratios (``guard``); off only to measure what it prevents.
    ``blend``: blend the model with ``profile_4w`` at the weight that scores best on the holdout
      (``blend_weight``), the interval calibrated after blending.
    ``fit_time_limit_s``: wall-clock cap of one CatBoost fit (a callback stops it).
    ``min_trees``: early stopping never leaves fewer trees (``tasks.model.stopping`` says why).
    ``half_life_days``: recency weighting of the training rows (a row this many days older than the
      newest counts half; ``tasks.model.train`` says why 180); None = every year alike.
    ``focus_stations`` / ``focus_days`` / ``focus_weight``: the product's own station is never
      subsampled, its newest ``focus_days`` (None: all) enter at every horizon, its rows weigh ``focus_weight``
      (``tasks.model.training_set`` says why).
    """

    params: dict[str, Any] = field(
        default_factory=lambda: {"depth": 6, "learning_rate": 0.05, "l2_leaf_reg": 10.0, "iterations": 400}
    )
    target: Target = "ratio"
    thread_count: int = 2
    seed: int = 0
    lag_days: int = PUBLICATION_LAG_DAYS
    warmup_days: int = 28
    train_days: int | None = None
    max_train_rows: int | None = 400_000
    valid_days: int = 14
    early_stopping_rounds: int | None = 50
    min_trees: int = 150
    weather_horizon: int = WEATHER_MAX_HORIZON
    calibrate: bool = True
    guard: bool = True
    blend: bool = True
    fit_time_limit_s: float | None = None
    half_life_days: float | None = 180.0
    focus_stations: tuple[int, ...] = (SEONGSU,)
    focus_days: int | None = 365
    focus_weight: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "focus_stations", tuple(self.focus_stations))  # JSON gives lists


DEFAULT_GRID: Final[tuple[dict[str, Any], ...]] = (
    {"depth": 6, "learning_rate": 0.05, "l2_leaf_reg": 10.0, "iterations": 400},
    {"depth": 8, "learning_rate": 0.05, "l2_leaf_reg": 10.0, "iterations": 400},
    {"depth": 6, "learning_rate": 0.1, "l2_leaf_reg": 3.0, "iterations": 300},
    {"depth": 4, "learning_rate": 0.1, "l2_leaf_reg": 10.0, "iterations": 400},
)


RESERVED_PARAMS: Final = frozenset(
    {"loss_function", "boost_from_average", "random_seed", "thread_count", "allow_writing_files", "verbose"}
)
"""Set by the trainer itself (from ``TrainConfig``); ignored if they come back in a params dict."""


def room_for_fit(remaining_s: float | None, longest_fit_s: float, reserve_fits: int = 0) -> bool:
    """Whether the search may start another candidate: it and ``reserve_fits`` more fits (the train
    flow's backtest fit), each as long as the longest so far, must end in ``remaining_s``.  Why not
    just start while time is left: a fit cut short by the clock is a worse fit, and the run's later
    steps would overrun the budget (the weekly run took 361 s against a 300 s target)."""
    return remaining_s is None or remaining_s >= longest_fit_s * (1 + reserve_fits)
