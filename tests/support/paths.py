"""Where the tests find the repository, the snapshot and the recorded inputs (one place, so a test
module can move between folders without its paths breaking)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = REPO / "data" / "snapshot"
FIXTURES = REPO / "tests" / "fixtures"
FILES = FIXTURES / "files"
"""Real files cut from the publishers' downloads (``files/make_fixtures.py``)."""
API_FIXTURES = FIXTURES / "api"
"""Recorded API payloads."""


def api_json(name: str) -> dict[str, Any]:
    """One recorded API payload from ``tests/fixtures/api``, parsed (a fresh copy every call)."""
    return cast(dict[str, Any], json.loads((API_FIXTURES / name).read_text(encoding="utf-8")))
