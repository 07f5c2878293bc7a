"""The Bento ships only what the service imports, and that is enough to run it.

``bentos/crowding/bentofile.yaml`` includes ``bentos/`` plus ``tasks.core`` and ``tasks.model``
(the layers the import-linter contract lets ``bentos/`` use), not all of ``tasks/``.  This builds
the Bento offline, as the deploy workflow does, and imports every shipped module from the built
source tree alone: a module that reaches outside the include list fails here, not in the image.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

# A stand-in for ``seongsu-crowding:latest``: ``bentoml build`` only records the model's tag.
_PLACEHOLDER_MODEL = """
from pathlib import Path
import bentoml
with bentoml.models.create("seongsu-crowding") as model:
    Path(model.path_of("placeholder.txt")).write_text("not a package", encoding="utf-8")
"""

# Import every shipped module with the repository off sys.path: only the Bento's own files count.
_IMPORT_ALL = """
import importlib, pathlib, sys
src, repo = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
sys.path[:] = [str(src)] + [p for p in sys.path if p and pathlib.Path(p).resolve() != repo]
for file in sorted(src.rglob("*.py")):
    parts = file.relative_to(src).with_suffix("").parts
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    module = importlib.import_module(name)
    assert pathlib.Path(module.__file__).is_relative_to(src), (name, module.__file__)
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in ("tasks", "bentos"))))
"""


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_bento_ships_core_model_and_bentos_only_and_imports_from_them(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    _run([sys.executable, "-c", _PLACEHOLDER_MODEL], env, tmp_path)
    _run(
        [sys.executable, "-m", "bentoml", "build", "-f", "bentos/crowding/bentofile.yaml", "."],
        env,
        REPO,
    )
    [src] = (tmp_path / "bentoml" / "bentos" / "seongsu-crowding-service").glob("*/src")
    packages = {p.relative_to(src).parent.as_posix() for p in src.rglob("*.py")}
    assert {p for p in packages if p.startswith("tasks/")} == {"tasks/core", "tasks/model"}
    assert (src / "tasks" / "__init__.py").is_file() and (src / "bentos/crowding/service.py").is_file()

    loaded = _run([sys.executable, "-c", _IMPORT_ALL, str(src), str(REPO)], env, tmp_path).split()
    assert "bentos.crowding.service" in loaded and "tasks.model.forecasters" in loaded
    assert not [m for m in loaded if m.startswith(("tasks.data", "tasks.ops", "tasks.steps"))]
