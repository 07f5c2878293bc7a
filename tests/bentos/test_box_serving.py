"""How the Bento service on the OCI box receives a newly promoted package.

On the box the flows (containers, ``SEONGSU_HOME=/data`` -> ``BENTOML_HOME=/data/bentoml``) and the
Bento container share the volume ``/var/lib/seongsu``.  The Bento container has its own BentoML home
(the models packed into the Bento at build time) and watches the shared store named by
``SEONGSU_MODEL_STORE=/data/bentoml/models`` (infra/README.md, deploy.yml).  Here: a real ``bentoml
serve`` with exactly that split; a promotion publishes through the registry's own ``publish_package``
into the shared store; the service serves it without a restart.  Both containers run as the uid that
owns the store (setup.sh), or the service could not read it.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import httpx
import pytest

from tasks.core.settings import get_settings
from tasks.ops.store import publish_package
from tests.support.packages import AUTH, TRAIN_AS_OF, build_package, publish, running_service
from tests.support.paths import REPO

pytestmark = pytest.mark.timeout(300)


def test_a_promotion_in_the_shared_store_reaches_the_running_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "var-lib-seongsu"  # the volume: SEONGSU_HOME of the flows
    own_home = tmp_path / "bento-container-home"  # the Bento container's BentoML home
    own_home.mkdir()
    v1 = build_package(tmp_path / "v1", version="test-v1", as_of=TRAIN_AS_OF)
    v2 = build_package(tmp_path / "v2", version="test-v2", as_of=TRAIN_AS_OF + dt.timedelta(days=1))
    publish(v1, shared / "bentoml")
    env = {"SEONGSU_MODEL_STORE": str(shared / "bentoml" / "models")}
    with running_service(own_home, reload_interval_s=0.5, env=env) as url:
        assert httpx.get(f"{url}/model", headers=AUTH, timeout=10).json()["version"] == "test-v1"
        # the train flow on the box: SEONGSU_HOME=/data, BENTOML_HOME=/data/bentoml
        monkeypatch.setenv("SEONGSU_HOME", str(shared))
        monkeypatch.setenv("BENTOML_HOME", str(shared / "bentoml"))
        tag = publish_package(get_settings(), v2, kind="promotion")
        deadline = time.monotonic() + 30
        served = None
        while time.monotonic() < deadline and served != "test-v2":
            time.sleep(0.5)
            served = httpx.get(f"{url}/model", headers=AUTH, timeout=10).json()["version"]
        assert served == "test-v2"
        assert httpx.get(f"{url}/model", headers=AUTH, timeout=10).json()["package"] == tag
    assert not (own_home / "models" / "seongsu-crowding").exists(), "nothing came from the own home"


def test_the_bento_container_runs_as_the_owner_of_the_store() -> None:
    """setup.sh makes uid 10001 own /var/lib/seongsu (mode 0750); the Bento container must run as it
    (BentoML images default to another uid) and the flow image too."""
    setup = (REPO / "infra" / "oci" / "setup.sh").read_text()
    [uid] = re.findall(r"^SEONGSU_UID=(\d+)$", setup, re.M)
    for path in (REPO / ".github" / "workflows" / "deploy.yml", REPO / "infra" / "README.md"):
        runs = [
            line for line in path.read_text().splitlines() if "docker run" in line and "seongsu-bento" in line
        ]
        assert runs and all(f"--user {uid}:{uid}" in line for line in runs), path
    dockerfile = (REPO / "infra" / "docker" / "worker.Dockerfile").read_text()
    assert re.search(rf"^USER {uid}$", dockerfile, re.M), "the flow image writes the store as the same uid"
