"""``models.metrics_json`` as one typed object, written by the registry and read by everyone.

Why: the row was parsed in four places and the monitor grew readers for shapes production never
writes.  Production writes ``tasks.ops.challenger.backtest_metrics`` (``backtest_wape``,
``backtest_coverage``, the tidy ``backtest`` table, ``origins``) plus the decision; that is the one
shape read here.  Other keys (decision, forecaster, rollbacks, ...) ride along untouched in ``raw``.
Old or unknown shapes give None for the typed fields, never a crash.  (``space/`` keeps its own
reader of the same keys: it must not import ``tasks`` outside local mode.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _score(value: Any) -> float | None:
    """A usable score: a finite positive number (bools, strings, NaN and 0 are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


@dataclass(frozen=True)
class ModelMetrics:
    """The parsed ``metrics_json`` of one ``models`` row."""

    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls, *, backtest_wape: float | None, backtest_coverage: float | None, **rest: Any
    ) -> ModelMetrics:
        """The production shape (what ``backtest_metrics`` returns), for callers without a backtest."""
        return cls({"backtest_wape": backtest_wape, "backtest_coverage": backtest_coverage, **rest})

    @classmethod
    def of(cls, metrics: Mapping[str, Any] | ModelMetrics | None) -> ModelMetrics:
        if isinstance(metrics, ModelMetrics):
            return metrics
        return cls(dict(metrics) if isinstance(metrics, Mapping) else {})

    @classmethod
    def from_json(cls, text: str | None) -> ModelMetrics:
        """Parse a ``metrics_json`` cell; empty, broken or non-object JSON gives no metrics."""
        try:
            parsed = json.loads(text or "{}")
        except (json.JSONDecodeError, TypeError):
            parsed = {}
        return cls.of(parsed if isinstance(parsed, dict) else None)

    def to_json(self) -> str:
        return json.dumps(dict(self.raw), default=str, ensure_ascii=False, sort_keys=True)

    def merged(self, extra: Mapping[str, Any]) -> ModelMetrics:
        """These metrics with ``extra``'s keys added or replaced (the row is rewritten whole)."""
        return ModelMetrics({**self.raw, **extra})

    @property
    def forecaster(self) -> str | None:
        value = self.raw.get("forecaster")
        return value if isinstance(value, str) and value else None

    @property
    def recipe(self) -> Mapping[str, Any] | None:
        value = self.raw.get("recipe")
        return value if isinstance(value, Mapping) and value else None

    @property
    def recipe_fingerprint(self) -> str | None:
        value = self.raw.get("recipe_fingerprint")
        return value if isinstance(value, str) else None

    @property
    def decision(self) -> Mapping[str, Any]:
        """The gate's decision as recorded (empty when none was)."""
        value = self.raw.get("decision")
        return value if isinstance(value, Mapping) else {}

    @property
    def rollbacks(self) -> list[Any]:
        value = self.raw.get("rollbacks")
        return list(value) if isinstance(value, list) else []

    @property
    def backtest_wape(self) -> float | None:
        """The model's own backtest WAPE (pooled over stations and horizons); None when absent."""
        return _score(self.raw.get("backtest_wape"))

    @property
    def backtest_coverage(self) -> float | None:
        return _score(self.raw.get("backtest_coverage"))
