"""Visible stages of a long run: the terminal (when a command is watching) and the run's log.

Training takes minutes; a spinner with no words says nothing.  The train flow announces its stages
(features -> search k/n -> backtest -> compare -> promote) through ``stage``; each goes to the Prefect
run log (INFO) and, when a CLI command installed a ``Watcher`` (``watching``), to the terminal too.
The watcher also remembers the current stage, so the model's own steps (``step``: features, search
k/n) are not reported again while the backtest refits the recipe at every origin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Watcher:
    show: Callable[[str], None] | None = None
    stage: str | None = None


_WATCHER: ContextVar[Watcher | None] = ContextVar("seongsu_progress", default=None)


@contextmanager
def watching(show: Callable[[str], None] | None = None) -> Iterator[Watcher]:
    """Show stages with ``show`` (and track the current one) for the duration of the block."""
    watcher = Watcher(show)
    token = _WATCHER.set(watcher)
    try:
        yield watcher
    finally:
        _WATCHER.reset(token)


def _log(text: str) -> None:
    try:
        from prefect import get_run_logger
        from prefect.exceptions import MissingContextError

        try:
            get_run_logger().info("stage: %s", text)
            return
        except MissingContextError:
            pass
    except ImportError:  # pragma: no cover - prefect is a dependency
        pass
    logging.getLogger("seongsu.progress").info("stage: %s", text)


def stage(name: str, detail: str = "") -> None:
    """Announce a stage (``detail``: e.g. what it works on)."""
    text = f"{name}: {detail}" if detail else name
    _log(text)
    watcher = _WATCHER.get()
    if watcher is None:  # nobody watching (a deployment run): still track the stage for ``step``
        watcher = Watcher()
        _WATCHER.set(watcher)
    watcher.stage = name
    if watcher.show is not None:
        watcher.show(text)


REFIT_STAGES = ("backtest", "compare")
"""Stages that refit the model internally: its ``step`` calls there are not the training's own."""


def step(name: str, done: int, total: int, detail: str = "") -> None:
    """Progress ``done/total`` of the model's own step ``name`` (ignored inside ``REFIT_STAGES``)."""
    watcher = _WATCHER.get()
    if watcher is not None and watcher.stage in REFIT_STAGES:
        return
    stage(name, f"{done}/{total}" + (f" {detail}" if detail else ""))
