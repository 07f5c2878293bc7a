"""The Space installs and starts the way Hugging Face builds it: nothing but ``space/``.

Hugging Face reads the README front matter (``python_version``, ``sdk_version``), creates a fresh
environment with that Python, installs Gradio at ``sdk_version`` plus ``requirements.txt`` and runs
``python app.py`` in a directory holding only the folder's files.  This test does the same with
``uv venv`` + ``uv pip install`` (PyPI or uv's cache; bounded by timeouts), so a requirement that
only this project's lock provides, a Python feature newer than the declared version or an import of
``tasks`` at start-up fails here, not on the Space.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.packages import stop_process_group
from tests.support.paths import REPO
from tests.support.ports import free_port

SPACE = REPO / "space"


def front_matter() -> dict[str, str]:
    text = (SPACE / "README.md").read_text(encoding="utf-8")
    block = text.split("---", 2)[1]
    return {
        m.group(1): m.group(2).strip().strip('"')
        for m in re.finditer(r"^([a-z_]+):\s*(.+)$", block, flags=re.MULTILINE)
    }


def test_front_matter_declares_what_the_code_needs() -> None:
    meta = front_matter()
    assert meta["python_version"] == "3.11"  # polars 2 and datetime.UTC need 3.11; HF defaults to 3.10
    assert meta["app_file"] == "app.py" and meta["sdk"] == "gradio"
    readme = (SPACE / "README.md").read_text(encoding="utf-8")
    assert "hf upload" in readme and "huggingface-cli upload" not in readme  # huggingface_hub ships `hf`


def test_space_installs_alone_and_serves(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the Space's environment (it is the project's installer)")
    meta = front_matter()
    venv = tmp_path / "venv"
    app_dir = tmp_path / "space"
    app_dir.mkdir()
    for path in SPACE.iterdir():
        if path.is_file() and path.name != "__init__.py":
            shutil.copy(path, app_dir / path.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEONGSU_", "VIRTUAL_ENV", "PYTHONPATH"))}
    subprocess.run(
        [uv, "venv", "--quiet", "--python", meta["python_version"], str(venv)],
        check=True,
        env=env,
        timeout=120,
    )
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "-r",
            str(app_dir / "requirements.txt"),
            f"gradio=={meta['sdk_version']}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    version = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == meta["python_version"]
    port = free_port()
    log = (tmp_path / "space.log").open("w")
    proc = subprocess.Popen(
        [str(python), "app.py"],
        cwd=app_dir,
        env={**env, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        page = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                if page.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        output = (tmp_path / "space.log").read_text()
        assert page is not None and page.status_code == 200, f"the Space did not start:\n{output[-3000:]}"
        assert "Daily Seongsu" in page.text
        info = httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=10).json()
        assert "/forecast" in info["named_endpoints"]
        assert "Traceback" not in output, output[-3000:]
    finally:
        stop_process_group(proc)
        log.close()
