"""The Prefect CLI as a user runs it (a subprocess from the checkout), against a given server."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.paths import REPO


def run_prefect(*args: str, api_url: str) -> None:
    """``prefect --no-prompt ARGS`` against ``api_url``; fails the test with its output otherwise."""
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, (
        f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
