"""The README's "Operating it" commands, run verbatim against a fresh Prefect server.

The lines are read from the README (the bash block after the ``operating-commands`` marker) and run
in one bash script, in order, from the repository root; the two long-running ones (the server and
the worker) go to the background, and the script waits for each to be ready before the next line --
that glue is the only thing added.  Then: exactly the six local deployments and their two
automations exist (no duplicates, also after deploying again), the ingest limit is there, the worker
is online, and it runs a deployment from the checkout to completion.

The commands name port 4200 (Prefect's default), so the test needs it free: it skips on a laptop
where something already listens there and fails in CI.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.ops.orchestration import INGEST_LIMIT, LOCAL_DEPLOYMENTS, LOCAL_POOL
from tests.support.paths import REPO
from tests.support.prefect_api import prefect_api

MARKER = "<!-- operating-commands: run verbatim by tests/cli/test_operating.py -->"
API = "http://127.0.0.1:4200/api"
LONG_RUNNING = {"prefect server start": f"{API}/health", "prefect worker start": None}

pytestmark = pytest.mark.timeout(420)


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert block is not None, "no bash block after the operating-commands marker"
    return [
        line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def script(lines: list[str], workdir: Path) -> str:
    """The README lines verbatim, with waits after the background ones."""
    out = ["set -euo pipefail"]
    for line in lines:
        kind = next((k for k in LONG_RUNNING if k in line), None)
        if kind is None:
            out.append(line)
            continue
        log = workdir / (kind.split()[1] + ".log")
        out.append(f"{{\n{line}\n}} > {log} 2>&1 &")  # a new line: the README's comment stays a comment
        health = LONG_RUNNING[kind]
        if health:
            out.append(
                f"for _ in $(seq 180); do curl -sf {health} >/dev/null && break; sleep 1; done; "
                f"curl -sf {health} >/dev/null"
            )
    return "\n".join(out) + "\n"


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def operated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Run the README's lines; yield the environment they ran with (the fresh server's URL in it)."""
    if port_in_use(4200):
        message = "port 4200 (the README's Prefect port) is in use"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    work = tmp_path_factory.mktemp("operating")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {
        "PREFECT_HOME": str(work / "prefect"),  # a fresh server: its own database
        "SEONGSU_HOME": str(work / "home"),
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    body = script(readme_commands(), work)
    proc = subprocess.Popen(
        ["bash", "-c", body],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the server and worker stay in this group: killed together below
    )
    try:
        output, _ = proc.communicate(timeout=360)
        assert proc.returncode == 0, f"the README commands failed:\n{output[-4000:]}"
        yield {**env, "PREFECT_API_URL": API}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(3)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def api(method: str, path: str, body: dict[str, object] | None = None) -> Any:
    return prefect_api(API, method, path, body)


def ours() -> list[dict[str, object]]:
    return [d for d in api("POST", "/deployments/filter", {})]


def full_names(deployments: list[dict[str, object]]) -> list[str]:
    flows = {f["id"]: f["name"] for f in api("POST", "/flows/filter", {})}
    return sorted(f"{flows[d['flow_id']]}/{d['name']}" for d in deployments)


def automations() -> list[dict[str, object]]:
    return api("POST", "/automations/filter", {})


def test_the_readme_lines_are_what_an_engineer_types() -> None:
    lines = readme_commands()
    assert any(line.startswith("export PREFECT_API_URL=") for line in lines)
    order = [
        next(i for i, line in enumerate(lines) if key in line)
        for key in (
            "server start",
            "export PREFECT_API_URL",
            "work-pool create",
            "global-concurrency-limit create",
            "deploy --all",
            "worker start",
        )
    ]
    assert order == sorted(order)


def test_the_readme_commands_give_each_deployment_once(operated: dict[str, str]) -> None:
    assert full_names(ours()) == sorted(LOCAL_DEPLOYMENTS)
    pools = {d["work_pool_name"] for d in ours()}
    assert pools == {LOCAL_POOL}
    names = sorted(str(a["name"]) for a in automations())
    assert len(names) == 2 and len(set(names)) == 2, names  # retrain trigger + promotion trigger
    limit = api("GET", f"/v2/concurrency_limits/{INGEST_LIMIT}")
    assert limit["limit"] == 1 and limit["active"]


def test_deploying_again_replaces_rather_than_duplicates(operated: dict[str, str]) -> None:
    before = {d["id"] for d in ours()}
    [deploy] = [line for line in readme_commands() if "deploy --all" in line]
    done = subprocess.run(
        ["bash", "-c", deploy], cwd=REPO, env=operated, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {d["id"] for d in ours()} == before
    assert len(automations()) == 2


def test_the_worker_runs_a_deployment_from_the_checkout(operated: dict[str, str]) -> None:
    workers = api("POST", f"/work_pools/{LOCAL_POOL}/workers/filter", {})
    assert any(w["status"] == "ONLINE" for w in workers), workers
    [monitor] = [d for d in ours() if d["name"] == "local" and "monitor" in str(d["entrypoint"])]
    run = api("POST", f"/deployments/{monitor['id']}/create_flow_run", {"parameters": {}})
    deadline = time.monotonic() + 180
    state = None
    while time.monotonic() < deadline:
        state = api("GET", f"/flow_runs/{run['id']}")["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        time.sleep(2)
    assert state == "COMPLETED"
    finished = api("GET", f"/flow_runs/{run['id']}")
    assert finished["infrastructure_pid"], "started by the process worker"
    assert finished["name"] == "monitor as of latest"
