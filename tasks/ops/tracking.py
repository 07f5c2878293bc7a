"""Experiment tracking with Weights & Biases: best effort, offline by default, never in the way.

Why a wrapper instead of calling ``wandb`` from the flows:

* **Offline first.** Without ``WANDB_API_KEY`` (``tasks.core.runtime.prepare_environment`` then sets
  ``WANDB_MODE=offline``) a run is written under ``SEONGSU_HOME/wandb`` -- config, metrics per
  horizon, the backtest table, feature importance, forecast-vs-actual plots and two artifacts: the
  training snapshot (``dataset``) and the model package (``model``).  ``wandb sync
  $SEONGSU_HOME/wandb/wandb/offline-run-*`` uploads them later, aliases included.  With a key the
  same calls go to the real service.
* **Aliases.** The model artifact is logged once the champion/challenger decision is known, with
  aliases ``candidate`` and the model version, plus ``production`` when it was promoted.  Offline,
  the aliases are recorded in the run and applied by ``wandb sync``; online, ``move_production_alias``
  also moves ``production`` on a rollback.
* **Registry.** Online, a promoted model is also linked into the W&B Registry
  (``wandb-registry-model/<collection>``, ``SEONGSU_WANDB_REGISTRY_COLLECTION``) with the
  ``production`` alias, so the organisation's registry names the served model; a rollback links the
  previous version there the same way.  Offline there is no registry to link to (``wandb sync``
  uploads the run, not links).
* **Never load-bearing.** Offline W&B can write artifacts but not read them back, so nothing that
  serves forecasts reads W&B (packages live in ``SEONGSU_HOME/models`` and the BentoML store).
  Every call here catches its own errors: a W&B failure is logged loudly (ERROR, with the
  exception) and recorded in ``Tracker.errors`` but never loses a trained model.
* **No secrets.** Only what the caller passes is logged, after ``scrub`` has dropped anything that
  looks like a key, token or password; settings objects are never logged.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import polars as pl
from pydantic import SecretStr

from tasks.core.settings import Settings

log = logging.getLogger("seongsu.tracking")

MODEL_ARTIFACT: Final = "seongsu-crowding-model"
DATASET_ARTIFACT: Final = "ridership-hourly-snapshot"
_SECRET_WORDS: Final = ("key", "secret", "token", "password", "passwd", "credential", "auth")

P = ParamSpec("P")
R = TypeVar("R")


def scrub(value: Any) -> Any:
    """A copy of ``value`` without secret-looking keys or ``SecretStr`` values (recursively)."""
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, Mapping):
        return {
            str(k): scrub(v)
            for k, v in value.items()
            if not any(word in str(k).lower() for word in _SECRET_WORDS)
        }
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The Prefect run logger inside a flow/task (so errors show in the UI), else ours."""
    try:
        from prefect import get_run_logger
        from prefect.exceptions import MissingContextError

        try:
            return get_run_logger()
        except MissingContextError:
            return log
    except Exception:
        return log


def _best_effort(default: Any = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator for ``Tracker`` methods: exceptions are logged at ERROR and recorded, not raised."""

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            tracker = args[0]
            assert isinstance(tracker, Tracker)
            if tracker.run is None:
                return default
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                message = f"W&B {method.__name__} failed: {type(exc).__name__}: {exc}"
                tracker.errors.append(message)
                _run_logger().error("%s (tracking is best effort; the model is unaffected)", message)
                return default

        return inner

    return wrap


def wandb_mode(settings: Settings) -> str:
    """``WANDB_MODE`` if set (``offline``/``online``/``disabled``), else online iff a key is set."""
    return os.environ.get("WANDB_MODE") or ("online" if settings.wandb_api_key else "offline")


@dataclass
class Tracker:
    """One W&B run (or none, if W&B could not start: every method is then a no-op)."""

    run: Any | None
    mode: str
    directory: Path
    errors: list[str] = field(default_factory=list)
    registry_path: str | None = None
    """``wandb-registry-model/<collection>``: where a promoted model is linked (online only)."""

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        job_type: str,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> Tracker:
        """Start a run in ``SEONGSU_HOME/wandb``; on any failure return a disabled tracker."""
        directory = settings.home / "wandb"
        mode = wandb_mode(settings)
        registry = registry_path(settings)
        if mode == "disabled":
            return cls(None, mode, directory, registry_path=registry)
        try:
            import wandb

            directory.mkdir(parents=True, exist_ok=True)
            run = wandb.init(
                project=settings.wandb_project,
                entity=settings.wandb_entity,
                dir=str(directory),
                mode=mode,  # type: ignore[arg-type]
                job_type=job_type,
                name=name,
                tags=tags,
                config=scrub(dict(config or {})),
                reinit="create_new",
                settings=wandb.Settings(
                    silent=True,
                    console="off",
                    x_disable_stats=True,
                    x_disable_machine_info=True,
                    save_code=False,
                    disable_code=True,
                    disable_job_creation=True,
                ),
            )
        except Exception as exc:
            message = f"W&B init failed ({mode}): {type(exc).__name__}: {exc}"
            _run_logger().error("%s -- continuing without tracking", message)
            return cls(None, mode, directory, [message], registry)
        return cls(run, mode, directory, registry_path=registry)

    @property
    def enabled(self) -> bool:
        return self.run is not None

    @property
    def run_ref(self) -> str | None:
        """What the ``models`` table records: ``entity/project/id`` online, the run dir offline."""
        if self.run is None:
            return None
        try:
            if self.mode == "offline":
                return f"offline:{Path(self.run.dir).parent.name}"
            return str(self.run.path)
        except Exception:
            return None

    @property
    def run_dir(self) -> Path | None:
        """The run's directory (``.../wandb/offline-run-...``), where ``wandb sync`` looks."""
        if self.run is None:
            return None
        try:
            return Path(self.run.dir).parent
        except Exception:
            return None

    @_best_effort()
    def finish(self, exit_code: int = 0) -> None:
        assert self.run is not None
        self.run.finish(exit_code=exit_code)

    # -- values --------------------------------------------------------------------------------
    @_best_effort()
    def log_config(self, config: Mapping[str, Any]) -> None:
        assert self.run is not None
        self.run.config.update(scrub(dict(config)), allow_val_change=True)

    @_best_effort()
    def log_metrics(self, metrics: Mapping[str, float | int | None], prefix: str = "") -> None:
        """Scalars (None dropped) under ``prefix/``; also copied to the run summary."""
        assert self.run is not None
        clean = {f"{prefix}{k}": float(v) for k, v in metrics.items() if v is not None}
        if clean:
            self.run.log(clean)
            self.run.summary.update(clean)

    @_best_effort()
    def log_summary(self, values: Mapping[str, Any]) -> None:
        assert self.run is not None
        self.run.summary.update(scrub(dict(values)))

    @_best_effort()
    def log_table(self, key: str, frame: pl.DataFrame) -> None:
        import wandb

        assert self.run is not None
        rows = [[_plain(v) for v in row] for row in frame.iter_rows()]
        self.run.log({key: wandb.Table(columns=list(frame.columns), data=rows)})

    @_best_effort()
    def log_feature_importance(self, importance: pl.DataFrame, key: str = "feature_importance") -> None:
        """``importance`` has columns feature, importance: a table and a bar chart."""
        import wandb

        assert self.run is not None
        frame = importance.sort("importance", descending=True)
        table = wandb.Table(
            columns=["feature", "importance"],
            data=[[str(f), float(v)] for f, v in frame.select("feature", "importance").iter_rows()],
        )
        self.run.log(
            {
                key: table,
                f"{key}_chart": wandb.plot.bar(table, "feature", "importance", title="Feature importance"),
            }
        )

    @_best_effort()
    def log_forecast_plot(self, key: str, frame: pl.DataFrame, title: str) -> None:
        """Forecast vs actual for one series: columns ts (datetime), actual, yhat, lo, hi.

        A matplotlib image when matplotlib is installed (it is, via gradio), else a W&B line chart.
        """
        import wandb

        assert self.run is not None
        self.run.log({key: _forecast_chart(wandb, frame.sort("ts"), title)})

    # -- artifacts -----------------------------------------------------------------------------
    @_best_effort()
    def log_dataset(self, ridership: pl.DataFrame, *, data_hash: str, metadata: Mapping[str, Any]) -> None:
        """The training snapshot (ridership_hourly columns) as a parquet ``dataset`` artifact."""
        import wandb

        assert self.run is not None
        with tempfile.TemporaryDirectory(prefix="seongsu-wandb-") as tmp:
            path = Path(tmp) / "ridership_hourly.parquet"
            ridership.write_parquet(path, compression="zstd")
            artifact = wandb.Artifact(
                DATASET_ARTIFACT,
                type="dataset",
                description="ridership_hourly rows the model was trained on (as of the training date)",
                metadata=scrub({**metadata, "data_hash": data_hash, "rows": ridership.height}),
            )
            artifact.add_file(str(path))  # policy "mutable": copied to W&B's staging area right here
            self._log_artifact(artifact, ["latest", f"sha-{data_hash[:12]}"])

    @_best_effort()
    def log_model(
        self, package_dir: Path, *, version: str, metadata: Mapping[str, Any], promoted: bool
    ) -> None:
        """The model package directory as a ``model`` artifact (``candidate`` [+ ``production``]);
        online, a promoted one is also linked into the W&B Registry as ``production``."""
        import wandb

        assert self.run is not None
        aliases = ["candidate", _alias(version)] + (["production"] if promoted else [])
        artifact = wandb.Artifact(
            MODEL_ARTIFACT,
            type="model",
            description="Daily Seongsu model package (CatBoost model + forecasts + context)",
            metadata=scrub({**metadata, "version": version, "promoted": promoted}),
        )
        artifact.add_dir(str(package_dir))
        logged = self._log_artifact(artifact, aliases)
        if promoted and self.mode == "online" and self.registry_path:
            self.run.link_artifact(logged, target_path=self.registry_path, aliases=["production"])

    def _log_artifact(self, artifact: Any, aliases: list[str]) -> Any:
        assert self.run is not None
        logged = self.run.log_artifact(artifact, aliases=aliases)
        if self.mode == "online":  # offline there is nothing to wait for (wandb sync uploads later)
            logged.wait()
        return logged


def move_production_alias(settings: Settings, version: str) -> bool:
    """Online only: point the ``production`` alias at ``version``'s model artifact (rollbacks).

    Offline runs cannot read artifacts back, so there the warehouse ``models`` table and the BentoML
    store are the record of a rollback.  Returns whether the alias was moved; never raises.
    """
    if wandb_mode(settings) != "online":
        return False
    try:
        import wandb

        api = wandb.Api()
        prefix = f"{settings.wandb_entity}/" if settings.wandb_entity else ""
        artifact = api.artifact(f"{prefix}{settings.wandb_project}/{MODEL_ARTIFACT}:{_alias(version)}")
        if "production" not in artifact.aliases:
            artifact.aliases.append("production")
            artifact.save()
        artifact.link(registry_path(settings), aliases=["production"])
        return True
    except Exception as exc:
        _run_logger().error("W&B: could not move the production alias to %s: %s", version, exc)
        return False


def registry_path(settings: Settings) -> str:
    """The W&B Registry collection promoted models are linked into (registry ``model``)."""
    return f"wandb-registry-model/{settings.wandb_registry_collection}"


def _alias(version: str) -> str:
    return f"v-{version}"


def _plain(value: Any) -> Any:
    """Table cells W&B can serialise: dates/datetimes as ISO strings."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _forecast_chart(wandb: Any, frame: pl.DataFrame, title: str) -> Any:
    """What ``Tracker.log_forecast_plot`` logs: a matplotlib image, else a W&B line chart."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return wandb.plot.line_series(
            xs=list(range(frame.height)),
            ys=[frame["actual"].fill_null(0).to_list(), frame["yhat"].to_list()],
            keys=["actual", "forecast"],
            title=title,
            xname="hour index",
        )
    fig, ax = plt.subplots(figsize=(11, 3.5), dpi=100)
    ts = frame["ts"].to_list()
    ax.fill_between(ts, frame["lo"].to_list(), frame["hi"].to_list(), alpha=0.25, label="80% interval")
    ax.plot(ts, frame["yhat"].to_list(), label="forecast (median)", linewidth=1.4)
    ax.plot(ts, frame["actual"].to_list(), label="actual", linewidth=1.0, color="black")
    ax.set_title(title)
    ax.set_ylabel("riders per hour band")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        return wandb.Image(fig)
    finally:
        plt.close(fig)
