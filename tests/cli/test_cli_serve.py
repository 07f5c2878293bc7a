"""``seongsu serve`` itself: the command a user types starts the service on the published package.

The other service tests run the argv ``seongsu serve`` builds (``cli.serve.serve_command``); this
one runs the command end to end (settings, store check, exec into ``bentoml serve``)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.packages import AUTH, build_package, publish, running_service


def test_seongsu_serve_answers_health_and_forecast(tmp_path: Path) -> None:
    home = tmp_path / "bentoml"
    home.mkdir()
    publish(build_package(tmp_path / "package", version="test-cli"), home)
    with running_service(home, via_cli=True) as url:
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        answer = httpx.post(f"{url}/forecast", json={"station": "211"}, headers=AUTH, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_version"] == "test-cli" and body["stations"][0]["forecasts"]
        logs = "".join(p.read_text() for p in home.glob("serve-*.log"))
        assert "serving seongsu-crowding:" in logs  # the CLI's own line, before it became the server
