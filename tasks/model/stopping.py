"""CatBoost callbacks that decide when a fit stops: a wall-clock allowance, and early stopping with
a floor on the tree count.

Why a floor: early stopping on the 14-day holdout is a noisy judge of the tree count.  At the
4-week refit cadence the fit of 2023-02-10 (holdout just after Seollal) stopped at 8 trees and
2023-04-07 at 109, while the other fits ran to 381-399 (README, "Refit cadence"); keeping every tree
under-covers instead.  So the holdout may still stop a fit and choose its size, but only among
``floor`` trees or more.
"""

from __future__ import annotations

import math
import time
from typing import Any


class TimeLimit:
    """Stops a fit once its wall-clock allowance is spent."""

    def __init__(self, seconds: float | None) -> None:
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.stopped_early = False

    def after_iteration(self, info: Any) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.stopped_early = True
            return False
        return True


class Patience:
    """Stops a fit once the holdout loss has not improved for ``rounds`` trees, never before
    ``floor`` trees; ``best`` is the size to shrink the model to (the best holdout loss among the
    sizes of ``floor`` trees or more; 0 until the floor is reached)."""

    def __init__(self, rounds: int, floor: int) -> None:
        self.rounds, self.floor = rounds, max(floor, 1)
        self.best, self._best_loss = 0, math.inf

    def after_iteration(self, info: Any) -> bool:
        values = next(iter(info.metrics.get("validation", {}).values()), None)
        if not values:
            return True
        trees = len(values)
        if trees >= self.floor and values[-1] < self._best_loss:
            self.best, self._best_loss = trees, values[-1]
        return not (self.best and trees - self.best >= self.rounds)
