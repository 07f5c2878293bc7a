"""Process set-up shared by the CLI, the Bento service and the Space.

Third-party tools keep state in their own home directories and phone home by default.  Before any of
them is imported we point their homes into ``SEONGSU_HOME`` (never the source tree), switch analytics
off and put W&B offline unless a key is configured.  Values already in the environment win.
"""

from __future__ import annotations

import os
from pathlib import Path

from tasks.core.settings import Settings

PREFECT_URL_FILE = "prefect-server.url"


def prepare_environment(settings: Settings) -> None:
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # a run's own records (stages, printed progress) belong in its log in the Prefect UI; the
        # CLI keeps them off the terminal (cli.common.quiet_run_logs)
        "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO",
        "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO",
        "WANDB_DIR": str(home / "wandb"),
        "WANDB_CACHE_DIR": str(home / "wandb" / "cache"),
        "WANDB_CONFIG_DIR": str(home / "wandb" / "config"),
        "WANDB_DATA_DIR": str(home / "wandb" / "data"),
        "WANDB_SILENT": "true",
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    if settings.wandb_api_key is None:
        defaults["WANDB_MODE"] = "offline"
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if "PREFECT_API_URL" not in os.environ:
        url = local_prefect_url(home)
        if url:
            os.environ["PREFECT_API_URL"] = url


def local_prefect_url(home: Path) -> str | None:
    """The API URL of the local Prefect server started by ``seongsu up``, if it is running."""
    path = home / PREFECT_URL_FILE
    if not path.exists():
        return None
    url = path.read_text().strip()
    import httpx

    try:
        ok = httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        ok = False
    return url if ok else None
