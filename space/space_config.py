"""Everything the Space reads from the environment (Space secrets), resolved once per app.

``tasks`` is imported only when it is importable (a local checkout), to find the local warehouse
URL; on Hugging Face it is absent and the Space reads Supabase's public views instead.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

try:
    from space.client_base import DEFAULT_DATA_TTL_S, DEFAULT_STATUS_TTL_S, DEFAULT_TIMEOUT_S, LOCAL_BENTO_URL
except ImportError:  # on Hugging Face the Space root is the working directory
    from client_base import (  # type: ignore[no-redef]
        DEFAULT_DATA_TTL_S,
        DEFAULT_STATUS_TTL_S,
        DEFAULT_TIMEOUT_S,
        LOCAL_BENTO_URL,
    )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _tasks_available() -> bool:
    """Whether this project's library is importable (locally yes; on Hugging Face no)."""
    try:
        importlib.import_module("tasks.core.settings")
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class SpaceConfig:
    """Everything the Space reads from the environment, resolved once per app.

    Secrets are ``repr=False`` so a config printed in a log or an error never shows them.
    """

    bento_url: str | None = None
    bento_api_key: str | None = field(default=None, repr=False)
    prefect_api_url: str | None = None
    prefect_api_key: str | None = field(default=None, repr=False)
    prefect_ui_url: str | None = None
    supabase_url: str | None = None
    supabase_anon_key: str | None = field(default=None, repr=False)
    warehouse_url: str | None = field(default=None, repr=False)  # may hold a password
    local: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    status_ttl_s: float = DEFAULT_STATUS_TTL_S
    data_ttl_s: float = DEFAULT_DATA_TTL_S

    @property
    def uses_supabase(self) -> bool:
        return bool(self.supabase_url and self.supabase_anon_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SpaceConfig:
        """Read the Space secrets / local environment.

        Without Supabase the Space reads the local warehouse and defaults to the local Bento URL.
        The replay-clock control (it runs the whole pipeline) needs explicit local mode,
        ``SEONGSU_SPACE_LOCAL=1`` (what ``seongsu up`` sets): never inferred.
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        supabase = bool(get("SUPABASE_URL") and get("SUPABASE_ANON_KEY"))
        warehouse_url = None
        if not supabase:
            warehouse_url = get("SEONGSU_WAREHOUSE_URL")
            if warehouse_url is None and _tasks_available():
                from tasks.core.settings import get_settings

                try:
                    warehouse_url = get_settings().resolved_warehouse_url
                except Exception:  # invalid settings: the data source reports itself unavailable
                    warehouse_url = None
        local = _truthy(get("SEONGSU_SPACE_LOCAL"))
        on_this_machine = local or (not supabase and warehouse_url is not None)
        bento_url = get("SEONGSU_BENTO_URL") or (LOCAL_BENTO_URL if on_this_machine else None)
        return cls(
            bento_url=bento_url,
            bento_api_key=get("SEONGSU_BENTO_API_KEY"),
            prefect_api_url=get("PREFECT_API_URL"),
            prefect_api_key=get("PREFECT_API_KEY"),
            prefect_ui_url=get("PREFECT_UI_URL"),
            supabase_url=get("SUPABASE_URL") if supabase else None,
            supabase_anon_key=get("SUPABASE_ANON_KEY") if supabase else None,
            warehouse_url=warehouse_url,
            local=local,
            timeout_s=float(get("SEONGSU_SPACE_TIMEOUT_S") or DEFAULT_TIMEOUT_S),
            status_ttl_s=float(get("SEONGSU_SPACE_STATUS_TTL_S") or DEFAULT_STATUS_TTL_S),
        )
