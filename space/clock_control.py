"""The replay clock button's backend: moves the simulated "today" forward, in local runs only."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

try:
    from space.client_base import Unavailable
except ImportError:  # on Hugging Face the Space root is the working directory
    from client_base import Unavailable  # type: ignore[no-redef]


class ClockControl:
    """Moves the snapshot replay's simulated "today" forward, in local runs only.

    It calls ``flows.replay.advance_clock(days) -> dict`` (the local stack's own function, which
    decides how the day is advanced -- e.g. by triggering the daily-pipeline deployment as of the
    new day).  It is imported when the button is pressed, so a checkout without it shows
    "not available" instead of failing at start-up, and the hosted Space never offers it.
    """

    service = "clock"

    def __init__(
        self,
        enabled: bool,
        loader: Callable[[], Callable[..., Any]] | None = None,
        warehouse_url: str | None = None,
    ) -> None:
        self.enabled = enabled
        self._loader = loader or self._load
        self._warehouse_url = warehouse_url

    @staticmethod
    def _load() -> Callable[..., Any]:
        module = importlib.import_module("flows.replay")
        return cast(Callable[..., Any], module.advance_clock)

    def available(self) -> bool:
        if not self.enabled:
            return False
        try:
            self._loader()
        except (ImportError, AttributeError):
            return False
        return True

    def current(self) -> dt.date | None:
        """The replay's simulated today (``tasks.data.clock.read_clock``), None when unknown or not local."""
        if not self.enabled or not self._warehouse_url:
            return None
        if (
            self._warehouse_url.startswith("sqlite:///")
            and not Path(self._warehouse_url.removeprefix("sqlite:///")).is_file()
        ):
            return None
        try:
            from tasks.data.clock import read_clock
            from tasks.data.warehouse import open_warehouse

            warehouse = open_warehouse(self._warehouse_url)
            try:
                return read_clock(warehouse)
            finally:
                warehouse.close()
        except Exception:  # no clock yet, no table, no module: simply unknown
            return None

    def advance(self, days: int = 1) -> Mapping[str, Any] | Unavailable:
        if not self.enabled:
            return Unavailable(self.service, "only in a local run (SEONGSU_SPACE_LOCAL=1)")
        try:
            advance_clock = self._loader()
        except (ImportError, AttributeError):
            return Unavailable(self.service, "this checkout has no flows.replay.advance_clock yet")
        try:
            result = advance_clock(days=days)
        except ValueError as exc:  # the stack's own, written-for-people refusals ("not started yet")
            return Unavailable(self.service, " ".join(str(exc).split())[:300], rejected=True)
        except Exception as exc:
            return Unavailable(self.service, f"advancing the clock failed ({type(exc).__name__})")
        return dict(result) if isinstance(result, Mapping) else {"result": str(result)}
