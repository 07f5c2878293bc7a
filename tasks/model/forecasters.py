"""Every kind of forecaster a model package can hold, behind one loader.

Why: the gate (``tasks.ops.champion``) serves the best baseline when no trained model beats it, and a
served baseline must travel the same road as a model -- package, BentoML store, ``/forecast``, the
daily refresh, ``seongsu forecast``, rollback.  So a package's ``model/`` directory holds either

* a fitted CatBoost model (``tasks.model.train.save`` layout), kind ``model``; or
* ``baseline.json`` = ``{"kind": "baseline", "name": ..., "lag_days": ...}``, kind ``baseline``.

A baseline has no fitted state: it is a rule applied to the history known at the issue date (the
package's ``context.parquet`` when serving).  It is therefore stored by *name* and rebuilt from
``tasks.model.baselines.baselines(lag_days)`` when loaded -- the one list the gate chose it from, so the
served rule is the scored rule.  A name this code no longer knows is a clear error, not a guess.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol, TypeGuard, runtime_checkable

import polars as pl

from tasks.model.features import History

if TYPE_CHECKING:
    from tasks.model.train import CatBoostForecaster

BASELINE_FILE: Final = "baseline.json"
Kind = Literal["model", "baseline"]
UNDECLARED_HISTORY_DAYS: Final = 7 * 62
"""History a baseline that does not declare ``history_days`` is given: 62 weeks, enough for the
year-over-year rules (same week last year plus a recent level) -- too much is only slower, too little
would silently degrade the served forecasts."""


@runtime_checkable
class PackagedForecaster(Protocol):
    """What serving and the comparison need from anything a package holds (model or baseline)."""

    name: str

    def fit(self, history: History, as_of: dt.date) -> object: ...

    def predict(self, targets: pl.DataFrame, history: History | None = None) -> pl.DataFrame: ...


def kind_of(forecaster: object) -> Kind:
    """``model`` for a trained CatBoost forecaster, ``baseline`` for anything else."""
    return "model" if _is_model(forecaster) else "baseline"


def _is_model(forecaster: object) -> TypeGuard[CatBoostForecaster]:
    """A trained CatBoost forecaster?  Asked without importing CatBoost (seconds of a served baseline's
    forecast): if ``tasks.model.train`` was never imported, no such instance can exist."""
    train = sys.modules.get("tasks.model.train")
    return train is not None and isinstance(forecaster, train.CatBoostForecaster)


def lag_of(forecaster: object) -> int:
    """The publication lag the forecaster was built for (its cutoff = as_of - lag)."""
    from tasks.model.features import PUBLICATION_LAG_DAYS

    if _is_model(forecaster):
        return int(forecaster.metadata.get("lag_days", forecaster.config.lag_days))
    return int(getattr(forecaster, "lag_days", PUBLICATION_LAG_DAYS))


def context_days(forecaster: object) -> int:
    """Ridership days before ``as_of`` a forecast by ``forecaster`` reads: what its package carries
    as context and what the daily refresh and ``seongsu forecast`` load.  A baseline declares it as
    ``history_days`` (days behind its cutoff); the model needs ``tasks.core.constants.CONTEXT_DAYS``."""
    from tasks.core.constants import CONTEXT_DAYS

    if _is_model(forecaster):
        return CONTEXT_DAYS
    need = getattr(forecaster, "history_days", None)
    days = int(need) if isinstance(need, int) else UNDECLARED_HISTORY_DAYS
    return max(CONTEXT_DAYS, days + lag_of(forecaster))


def baseline_by_name(name: str, lag_days: int) -> PackagedForecaster:
    """The baseline called ``name`` in ``tasks.model.baselines.baselines(lag_days)``."""
    from tasks.model.baselines import baselines

    known = {b.name: b for b in baselines(lag_days)}
    if name not in known:
        raise ValueError(f"unknown baseline {name!r}: this code knows {', '.join(sorted(known))}")
    return known[name]


def save_baseline(baseline: PackagedForecaster, directory: Path) -> Path:
    """Write the ``model/`` directory of a baseline package (its name and lag)."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = {"kind": "baseline", "name": baseline.name, "lag_days": lag_of(baseline)}
    (directory / BASELINE_FILE).write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return directory


def load_forecaster(directory: Path) -> PackagedForecaster:
    """The forecaster in a package's ``model/`` directory, whatever its kind."""
    spec_path = directory / BASELINE_FILE
    if spec_path.exists():
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        return baseline_by_name(str(spec["name"]), int(spec["lag_days"]))
    from tasks.model.train import CatBoostForecaster

    return CatBoostForecaster.load(directory)
