"""SIGTERM to the CLI mid-run stops Prefect's temporary API server instead of orphaning it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.paths import REPO


def _temporary_server(cli: psutil.Process) -> psutil.Process | None:
    for child in cli.children(recursive=True):
        try:
            if "uvicorn" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


@pytest.mark.timeout(240)
def test_sigterm_stops_the_temporary_prefect_server(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SEONGSU_HOME": str(tmp_path / "home"),
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",  # no server configured: Prefect starts its own
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_HOME", None)
    log = (tmp_path / "cli.log").open("w")
    cli = subprocess.Popen(
        [sys.executable, "-m", "cli", "ingest", "--source", "snapshot", "--as-of", "2023-03-01"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        server = None
        while server is None and time.monotonic() < deadline and cli.poll() is None:
            server = _temporary_server(psutil.Process(cli.pid))
            time.sleep(0.2)
        assert server is not None, (tmp_path / "cli.log").read_text()[-2000:]
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=60) == 130  # like Ctrl-C, not killed by the signal
        server.wait(timeout=30)  # gone, not orphaned
    finally:
        if cli.poll() is None:
            cli.kill()
        log.close()
