"""Both deployment files deployed for real against the session's server: the root ``prefect.yaml``
(laptop, process pool) and ``infra/oci/prefect.yaml`` (the OCI box, docker pool), each with
``prefect --no-prompt deploy --all``.

What is real here: the Prefect CLI (a subprocess, as a user would run it), the YAML with its anchors,
templating of Prefect variables and environment variables, flow loading from the entrypoints,
parameter schemas, schedules, concurrency limits, triggers (as automations) and pull steps, all read
back through the Prefect client.

What is not: there is no Docker engine here, so the two prefect-docker steps are replaced -- inside
the CLI process only -- by recorders that write down the arguments they were called with, after
Prefect resolved them, and return what the real steps return.  The tests therefore prove the docker
deployments would build ``infra/docker/worker.Dockerfile`` for ``linux/arm64`` under the image name
taken from the Prefect variables and push that same image, and that the deployments point at it;
they do not prove the image builds (CI's deploy workflow does that on a Docker-enabled runner).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO

FILES = {"local": REPO / "prefect.yaml", "oci": REPO / "infra" / "oci" / "prefect.yaml"}
POOLS = {"local": "seongsu-process", "oci": "seongsu-docker"}
FLOWS = ("ingest-ridership", "ingest-weather", "daily-pipeline", "monitor", "forecast", "train")
REGISTRY, IMAGE, TAG = "registry.example.test/seongsu", "seongsu-worker", "test-sha"

pytestmark = pytest.mark.timeout(300)

# Runs the real Prefect CLI with the two docker steps swapped for recorders (see module docstring).
RECORDING_CLI = """
import json, os, sys
import prefect_docker.deployments.steps as steps

def _record(kind, **kwargs):
    with open(os.environ["SEONGSU_TEST_DOCKER_LOG"], "a") as fh:
        fh.write(json.dumps({"step": kind, **kwargs}) + "\\n")

def build_docker_image(image_name, dockerfile="Dockerfile", tag=None, **kwargs):
    _record("build", image_name=image_name, dockerfile=dockerfile, tag=tag, **kwargs)
    tag = tag or "untagged"
    return {"image_name": image_name, "tag": tag, "image": f"{image_name}:{tag}",
            "image_id": "sha256:recorded", "additional_tags": []}

def push_docker_image(image_name, tag=None, **kwargs):
    _record("push", image_name=image_name, tag=tag, **kwargs)
    return {"image_name": image_name, "tag": tag, "image": f"{image_name}:{tag}", "additional_tags": []}

steps.build_docker_image = build_docker_image
steps.push_docker_image = push_docker_image
from prefect.cli import app
sys.exit(app())
"""


def prefect_cli(*args: str, env: dict[str, str], recording: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", RECORDING_CLI] if recording else [sys.executable, "-m", "prefect"]
    return subprocess.run(
        [*cmd, "--no-prompt", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )


def cli_env(api_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "WARNING", **extra}


def ensure_pools(api_url: str) -> None:
    """What infra/oci/setup.sh and `seongsu up` do: the pool of each target."""
    from prefect.client.orchestration import get_client

    env = cli_env(api_url)
    with get_client(sync_client=True) as client:
        existing = {p.name: p.type for p in client.read_work_pools()}
    for pool_type, pool in (("process", POOLS["local"]), ("docker", POOLS["oci"])):
        if existing.get(pool) == pool_type:
            continue  # another test module of this session created it the same way
        done = prefect_cli("work-pool", "create", pool, "--type", pool_type, "--overwrite", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as client:
        assert client.read_work_pool(POOLS["oci"]).type == "docker"  # the type prefect-docker registers


@pytest.fixture(scope="module")
def deployed(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """Deploy both files once for this module; yield the docker steps' recorded calls."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import VariableCreate

    ensure_pools(prefect_server)
    with get_client(sync_client=True) as client:
        for name, value in (("seongsu_registry", REGISTRY), ("seongsu_image", IMAGE)):
            if client.read_variable_by_name(name) is None:
                client.create_variable(VariableCreate(name=name, value=value))
    log = tmp_path_factory.mktemp("docker-steps") / "calls.jsonl"
    env = cli_env(prefect_server, SEONGSU_TEST_DOCKER_LOG=str(log), SEONGSU_IMAGE_TAG=TAG)
    for target, path in FILES.items():
        args = ("deploy", "--all", "--prefect-file", str(path.relative_to(REPO)))
        done = prefect_cli(*args, env=env, recording=True)
        assert done.returncode == 0, f"{target}: {done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    yield [json.loads(line) for line in log.read_text().splitlines()]


def read_deployment(name: str) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def config(target: str) -> dict[str, Any]:
    return yaml.safe_load(FILES[target].read_text())


# --- the files themselves (no server) -------------------------------------------------------------------


@pytest.mark.parametrize("target", FILES)
def test_each_file_deploys_every_flow_once_to_its_pool(target: str) -> None:
    deployments = config(target)["deployments"]
    entrypoints = [d["entrypoint"] for d in deployments]
    assert len(entrypoints) == len(set(entrypoints)) == len(FLOWS), "one deployment per flow: --all is safe"
    for d in deployments:
        path, func = d["entrypoint"].split(":")
        assert f"def {func}(" in (REPO / path).read_text(), d["entrypoint"]
        assert d["name"] == target
        assert d["work_pool"]["name"] == POOLS[target]
        assert d["enforce_parameter_schema"] is True
        for schedule in d["schedules"]:
            assert schedule["timezone"] == "Asia/Seoul"


def test_both_targets_schedule_and_trigger_the_same_way() -> None:
    """The files differ in pool, image and steps only: what runs when is the same on both."""

    def behaviour(target: str) -> dict[str, Any]:
        same = ("description", "tags", "parameters", "schedules", "concurrency_limit")
        out = {}
        for d in config(target)["deployments"]:
            triggers = [{k: v for k, v in t.items() if k != "name"} for t in d.get("triggers", [])]
            out[d["entrypoint"]] = {**{k: d.get(k) for k in same}, "triggers": triggers}
        return out

    assert behaviour("local") == behaviour("oci")


def test_oci_deployments_build_an_arm64_image_from_variables() -> None:
    dockerfile = REPO / "infra" / "docker" / "worker.Dockerfile"
    workdir = next(
        line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("WORKDIR")
    )
    for d in config("local")["deployments"]:
        steps = [next(iter(s)) for s in (d.get("build") or []) + (d.get("push") or [])]
        assert not any(s.startswith("prefect_docker") for s in steps), "no docker for the process pool"
    for d in config("oci")["deployments"]:
        [build] = d["build"]
        args = build["prefect_docker.deployments.steps.build_docker_image"]
        assert args["platform"] == "linux/arm64"
        assert args["id"] == "build-image"
        assert (REPO / args["dockerfile"]).is_file()
        assert "{{ prefect.variables.seongsu_registry }}" in args["image_name"]
        assert "{{ prefect.variables.seongsu_image }}" in args["image_name"]
        [push] = d["push"]
        assert (
            push["prefect_docker.deployments.steps.push_docker_image"]["image_name"]
            == "{{ build-image.image_name }}"
        )
        assert d["work_pool"]["job_variables"]["image"] == "{{ build-image.image }}"
        [pull] = d["pull"]
        assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == workdir


# --- deployed on the server -----------------------------------------------------------------------------


def test_deploy_all_creates_every_deployment_in_its_pool(deployed: list[dict[str, Any]]) -> None:
    for flow in FLOWS:
        for env_name, pool in POOLS.items():
            d = read_deployment(f"{flow}/{env_name}")
            assert d.work_pool_name == pool
            assert d.enforce_parameter_schema
            assert "seongsu" in d.tags
            assert d.work_queue_name == "default", flow


def test_no_deployment_is_registered_twice(deployed: list[dict[str, Any]]) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        ours = [d for d in client.read_deployments() if "seongsu" in d.tags]
    for target in POOLS:
        names = sorted(d.name for d in ours if d.work_pool_name == POOLS[target])
        assert names == [target] * len(FLOWS)


def test_schedules_run_on_seoul_time(deployed: list[dict[str, Any]]) -> None:
    expected = {
        "ingest-ridership": ("10 6 * * *", False),
        "ingest-weather": ("20 * * * *", True),
        "daily-pipeline": ("30 6 * * *", True),
        "monitor": ("40 6 * * *", False),
        "forecast": ("0 7 * * *", False),
        "train": ("0 3 * * 1", True),
    }
    for flow, (cron, active) in expected.items():
        for env_name in POOLS:
            [schedule] = read_deployment(f"{flow}/{env_name}").schedules
            assert schedule.schedule.cron == cron, flow
            assert schedule.schedule.timezone == "Asia/Seoul", flow
            assert schedule.active is active, flow


def test_parameters_are_typed_and_validated(deployed: list[dict[str, Any]]) -> None:
    ridership = read_deployment("ingest-ridership/local")
    assert ridership.parameters == {"source": "snapshot"}
    props = ridership.parameter_openapi_schema["properties"]
    assert props["source"]["enum"] == ["snapshot", "api", "file"]
    assert any(t.get("format") == "date" for t in props["as_of"]["anyOf"])
    pipeline = read_deployment("daily-pipeline/oci")
    assert pipeline.parameters == {"source": "snapshot", "lookback_days": 14}
    assert any(
        t.get("format") == "date" for t in pipeline.parameter_openapi_schema["properties"]["as_of"]["anyOf"]
    )
    monitor = read_deployment("monitor/local")
    assert "as_of" in monitor.parameter_openapi_schema["properties"]


def test_runs_of_one_deployment_never_overlap(deployed: list[dict[str, Any]]) -> None:
    for env_name in POOLS:
        for flow in ("ingest-ridership", "ingest-weather", "daily-pipeline"):
            d = read_deployment(f"{flow}/{env_name}")
            assert d.global_concurrency_limit is not None and d.global_concurrency_limit.limit == 1
            assert d.concurrency_options.collision_strategy == "ENQUEUE"
    train = read_deployment("train/local")
    assert train.concurrency_options.collision_strategy == "CANCEL_NEW"


def test_triggers_become_automations_that_run_the_deployment(deployed: list[dict[str, Any]]) -> None:
    from prefect.client.orchestration import get_client

    for env_name in POOLS:
        for flow, event, parameters in (
            ("train", "seongsu.monitor.retrain-needed", {"as_of": "{{ event.payload.as_of }}"}),
            ("forecast", "seongsu.model.promoted", {"as_of": "{{ event.payload.as_of }}"}),
        ):
            d = read_deployment(f"{flow}/{env_name}")
            with get_client(sync_client=True) as client:
                automations = client.read_resource_related_automations(f"prefect.deployment.{d.id}")
            [automation] = automations
            assert automation.enabled
            assert automation.trigger.expect == {event}  # type: ignore[union-attr]
            assert automation.trigger.posture == "Reactive"  # type: ignore[union-attr]
            [action] = automation.actions
            assert action.type == "run-deployment"
            assert action.deployment_id == d.id
            assert action.parameters == parameters


def test_docker_steps_resolved_variables_and_platform(deployed: list[dict[str, Any]]) -> None:
    builds = [c for c in deployed if c["step"] == "build"]
    pushes = [c for c in deployed if c["step"] == "push"]
    image_name = f"{REGISTRY}/{IMAGE}"
    assert len(builds) == len(pushes) == len(FLOWS)  # one per oci deployment (prefect-docker caches)
    for call in builds:
        assert call == {
            "step": "build",
            "image_name": image_name,
            "dockerfile": "infra/docker/worker.Dockerfile",
            "tag": TAG,
            "platform": "linux/arm64",
        }
    for call in pushes:
        assert call == {"step": "push", "image_name": image_name, "tag": TAG}
    for flow in FLOWS:
        d = read_deployment(f"{flow}/oci")
        assert d.job_variables["image"] == f"{image_name}:{TAG}"
        assert "/etc/seongsu/flows.env:/run/secrets/seongsu.env:ro" in d.job_variables["volumes"]
        assert d.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/seongsu"}}
        ]


def test_local_deployments_run_from_the_checkout(deployed: list[dict[str, Any]]) -> None:
    for flow in FLOWS:
        d = read_deployment(f"{flow}/local")
        assert d.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]
        assert d.job_variables == {}
