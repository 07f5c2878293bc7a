"""The OpenAPI document is the contract: schemathesis (an external client) fuzzes the live service.

Every check (``--checks all``: no 5xx, documented status codes, content types and headers, response
bodies valid against their schemas, schema-invalid requests refused, schema-valid ones accepted as
configured in ``schemathesis.toml``, the API key really enforced), with a bounded, deterministic
number of examples per operation so the run stays well under a minute.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.packages import API_KEY, build_package, publish, running_service
from tests.support.paths import REPO


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("contract-bentoml")
    publish(build_package(tmp_path_factory.mktemp("pkg") / "package", version="contract-v1"), home)
    with running_service(home) as base:
        yield base


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_failure(url: str, tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(cli),
            "--config-file",
            str(REPO / "schemathesis.toml"),
            "run",
            f"{url}/docs.json",
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--header",
            f"Authorization: Bearer {API_KEY}",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,  # its cache directory lands here, not in the repository
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "generated" in result.stdout
