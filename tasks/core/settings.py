"""The one settings object for every part of Daily Seongsu.

Everything configurable comes from the environment (prefix ``SEONGSU_`` for our own knobs, the
services' usual names for their keys) so that the same code runs on a laptop with no keys, in CI
against a real Postgres, and on the OCI worker with Supabase, W&B and Prefect Cloud.  Secrets are
held as ``SecretStr`` so they never show up in reprs, logs or Prefect artifacts.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("daily-seongsu", appauthor=False))


class Settings(BaseSettings):
    """Typed, frozen configuration read once from the environment."""

    model_config = SettingsConfigDict(env_prefix="SEONGSU_", frozen=True, extra="ignore")

    home: Path = Field(default_factory=_default_home, description="State dir: warehouse, raw zone, models.")
    warehouse_url: str | None = Field(
        default=None,
        description="postgresql://... for Postgres/Supabase; sqlite:///path for the embedded store. "
        "Default: the embedded store in SEONGSU_HOME.",
    )
    snapshot_dir: Path = Field(
        default=REPO_ROOT / "data" / "snapshot", description="The shipped real-data snapshot (parquet)."
    )
    raw_bucket: str = Field(default="raw", description="Supabase Storage bucket for the raw zone.")
    keep_model_versions: int = Field(
        default=5,
        ge=1,
        description="Recent BentoML store versions kept by pruning (plus the champion and the previous one).",
    )
    raw_max_bytes: int = Field(
        default=100 * 1024 * 1024, gt=0, description="Largest payload or file the raw zone accepts."
    )
    http_timeout_s: float = 20.0
    http_retries: int = 4

    # --- keys of the real services (never logged) ---------------------------------------------
    seoul_data_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SEOUL_DATA_API_KEY", "SEONGSU_SEOUL_DATA_API_KEY")
    )
    kma_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KMA_API_KEY", "SEONGSU_KMA_API_KEY")
    )
    supabase_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SUPABASE_URL", "SEONGSU_SUPABASE_URL")
    )
    supabase_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SUPABASE_KEY", "SEONGSU_SUPABASE_KEY")
    )
    wandb_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("WANDB_API_KEY", "SEONGSU_WANDB_API_KEY")
    )
    wandb_project: str = "daily-seongsu"
    wandb_entity: str | None = None
    wandb_registry_collection: str = Field(
        default="seongsu-crowding",
        description="W&B Registry collection (registry `model`) a promoted model is linked into, online.",
    )
    bento_api_key: SecretStr | None = Field(
        default=None,
        description="API key of the crowding service (SEONGSU_BENTO_API_KEY): clients send it as "
        "'Authorization: Bearer <key>'. Required on /predict, /reload and /model; with no key set "
        "those answer 401.",
    )
    bento_auth_everywhere: bool = Field(
        default=False,
        description="Require the API key on /forecast, /metrics and the docs too (health probes stay open).",
    )
    serve_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a connection to the crowding service has to send a request's headers.",
    )
    serve_max_connections: int = Field(
        default=1000,
        ge=16,
        description="Open connections per service worker; beyond it the oldest idle one is closed.",
    )
    prefect_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("PREFECT_API_URL", "SEONGSU_PREFECT_API_URL")
    )
    prefect_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PREFECT_API_KEY", "SEONGSU_PREFECT_API_KEY")
    )

    @cached_property
    def resolved_warehouse_url(self) -> str:
        """The warehouse to use: the configured one, else the embedded SQLite file in ``home``."""
        return self.warehouse_url or f"sqlite:///{self.home / 'warehouse.sqlite'}"

    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


def get_settings() -> Settings:
    """Read the settings from the current environment (no caching: tests change the env)."""
    return Settings()
