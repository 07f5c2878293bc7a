"""The crowding service under hostile or careless clients: API key, body limits, huge numbers,
unbounded names, slow headers, and what ends up in the log (a real ``bentoml serve``)."""

from __future__ import annotations

import asyncio
import math
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from bentos.crowding.directory import Station, StationDirectory, UnknownStation
from bentos.crowding.guard import FORECAST_BODY_LIMIT, Guard
from tasks.model.features import FEATURE_COLUMNS, build_features, cutoff_for, forecast_targets
from tests.support.packages import (
    AUTH,
    TRAIN_AS_OF,
    build_package,
    publish,
    running_service,
    snapshot_history,
)

HEADER_TIMEOUT_S = 2
MAX_CONNECTIONS = 64


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, server log) of a service with an API key and a short header-read timeout."""
    home = tmp_path_factory.mktemp("guard-bentoml")
    publish(build_package(tmp_path_factory.mktemp("pkg") / "package", version="guard-v1"), home)
    env = {
        "SEONGSU_SERVE_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "SEONGSU_SERVE_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    with running_service(home, env=env) as url:
        yield url, home / f"serve-{urlsplit(url).port}.log"


@pytest.fixture(scope="module")
def url(served: tuple[str, Path]) -> str:
    return served[0]


@pytest.fixture(scope="module")
def row() -> dict[str, Any]:
    """One valid /predict feature row from the real feature builder."""
    history = snapshot_history().until(cutoff_for(TRAIN_AS_OF))
    targets = forecast_targets([211], TRAIN_AS_OF).head(1)
    features = build_features(history.ridership, history.weather, targets).select(FEATURE_COLUMNS)
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in features.to_dicts()[0].items()
    }


# --- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", "/predict"), ("POST", "/reload"), ("GET", "/model")])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-bento-key"}]
)
def test_costly_and_state_changing_routes_need_the_key(
    url: str, method: str, path: str, headers: dict[str, str], row: dict[str, Any]
) -> None:
    response = httpx.request(method, f"{url}{path}", headers=headers, json={"rows": [row]}, timeout=30)
    assert response.status_code == 401, response.text
    assert "API key" in response.json()["error"] and response.headers["www-authenticate"] == "Bearer"
    allowed = httpx.request(method, f"{url}{path}", headers=AUTH, json={"rows": [row]}, timeout=30)
    assert allowed.status_code == 200, allowed.text


def test_forecast_and_health_stay_public(url: str) -> None:
    assert httpx.post(f"{url}/forecast", json={"station": "211"}, timeout=30).status_code == 200
    for path in ("/livez", "/readyz", "/healthz", "/docs.json"):
        assert httpx.get(f"{url}{path}", timeout=30).status_code == 200, path


def test_openapi_declares_the_key_and_the_error_answers(url: str) -> None:
    spec = httpx.get(f"{url}/docs.json", timeout=30).json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {"type": "http", "scheme": "bearer"}
    predict = spec["paths"]["/predict"]["post"]
    assert predict["security"] == [{"ApiKey": []}] and {"401", "413"} <= set(predict["responses"])
    assert "security" not in spec["paths"]["/forecast"]["post"]
    detail = spec["components"]["schemas"]["InvalidArgument"]["properties"]["detail"]
    assert detail["type"] == "array"  # what a 400 really carries: pydantic's error list


# --- bounded inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [2**31, -(2**31) - 1, 10**30])
def test_a_huge_station_code_is_a_400_not_a_500(url: str, row: dict[str, Any], code: int) -> None:
    response = httpx.post(
        f"{url}/predict", headers=AUTH, json={"rows": [{**row, "station_code": code}]}, timeout=30
    )
    assert response.status_code == 400, response.text
    assert "station_code" in response.text


def test_an_oversized_body_is_a_413_before_it_is_read(url: str) -> None:
    big = b'{"rows": [' + b'{"hour": 8},' * 400_000 + b"{}]}"  # ~4.8 MB
    for path, headers in (("/predict", AUTH), ("/forecast", {})):
        response = httpx.post(
            f"{url}{path}", content=big, headers={**headers, "content-type": "application/json"}, timeout=30
        )
        assert response.status_code == 413, (path, response.text)
        assert "bytes" in response.json()["error"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(100):
            yield b" " * 65536

    response = httpx.post(f"{url}/predict", content=chunked(), headers=AUTH, timeout=30)
    assert response.status_code == 413, response.text


def test_an_empty_station_name_is_refused_as_the_schema_says(url: str) -> None:
    spec = httpx.get(f"{url}/docs.json", timeout=30).json()
    body = spec["paths"]["/forecast"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    station = body["properties"]["station"]
    text_forms = [s for s in station.get("anyOf", [station]) if s.get("type") == "string"]
    assert text_forms and all(s.get("minLength") == 1 for s in text_forms)
    assert httpx.post(f"{url}/forecast", json={"station": ""}, timeout=30).status_code == 400


def test_long_unknown_names_are_a_422_without_a_suggestion_hunt(url: str) -> None:
    body = {"station": ["\ufdfa" * 60] * 10}
    response = httpx.post(f"{url}/forecast", json=body, timeout=30)
    assert response.status_code == 422 and response.json()["suggestions"] == []


def test_suggestions_have_a_cpu_budget() -> None:
    """Past its per-second budget the directory answers without scoring; the budget refills."""
    now = [0.0]

    def clock() -> float:  # every reading moves 0.1 s: each scoring "costs" 0.1 s, over the budget
        now[0] += 0.1
        return now[0]

    stations = [Station(211, "성수", "Seongsu", "2"), Station(222, "강남", "Gangnam", "2")]
    directory = StationDirectory(stations, clock=clock)
    assert directory.suggest("Seongsoo")[0].startswith("성수")
    assert directory.suggest("Seongsoo") == []  # budget spent
    with pytest.raises(UnknownStation, match="unknown station"):
        directory.resolve("Seongsoo")  # still a clear answer, only without suggestions
    now[0] += 10.0
    assert directory.suggest("Seongsoo")[0].startswith("성수")


# --- connections --------------------------------------------------------------------------------


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b"" or True  # EOF or an error answer: the server let go
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_partial_headers_are_cut_off(url: str) -> None:
    parsed = urlsplit(url)
    with socket.create_connection((parsed.hostname, parsed.port)) as sock:
        sock.sendall(b"POST /forecast HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert _closed_within(sock, HEADER_TIMEOUT_S * 10)


def test_idle_connections_beyond_the_limit_make_room_for_real_clients(url: str) -> None:
    parsed = urlsplit(url)
    idle = [socket.create_connection((parsed.hostname, parsed.port)) for _ in range(3 * MAX_CONNECTIONS)]
    try:
        for sock in idle:
            sock.sendall(b"GET /livez HTTP/1.1\r\n")  # a request line, then silence
        response = httpx.post(f"{url}/forecast", json={"station": "211"}, timeout=30)
        assert response.status_code == 200
        dropped = sum(_closed_within(sock, 0.05) for sock in idle)
        assert dropped >= len(idle) - MAX_CONNECTIONS  # the server holds at most its cap
    finally:
        for sock in idle:
            sock.close()


# --- the body reader (in process: the cases a real client rarely produces) --------------------------


def _post(
    middleware: Any, headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]]
) -> tuple[int, Any, int]:
    """(status, JSON answer, messages read) of one POST /forecast through ``middleware``."""
    scope = {"type": "http", "method": "POST", "path": "/forecast", "headers": headers}
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], orjson.loads(body), len(messages) - len(pending)


class _App:
    """The ASGI app behind the middleware: records whether a request reached it."""

    def __init__(self) -> None:
        self.reached = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.reached = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


CUT_SHORT = [{"type": "http.request", "body": b'{"station"', "more_body": True}, {"type": "http.disconnect"}]


@pytest.mark.parametrize(
    ("headers", "messages", "status", "fragment"),
    [
        ([(b"content-length", b"100")], CUT_SHORT, 400, "ended early"),
        ([], CUT_SHORT, 400, "ended early"),
        (
            [(b"content-length", b"5")],
            [{"type": "http.request", "body": b'{"a": 1}'}],
            400,
            "Content-Length says 5",
        ),
        (
            [(b"content-length", b"12")],
            [{"type": "http.request", "body": b"{}"}],
            400,
            "Content-Length says 12",
        ),
        ([(b"content-length", b"ten")], [{"type": "http.request", "body": b"{}"}], 400, "not a number"),
        ([(b"content-length", b"-1")], [{"type": "http.request", "body": b"{}"}], 400, "not a number"),
        ([(b"content-length", str(FORECAST_BODY_LIMIT + 1).encode())], [], 413, "over"),
        ([], [{"type": "http.request", "body": b" " * (FORECAST_BODY_LIMIT + 1)}], 413, "over"),
    ],
    ids=[
        "cut-short",
        "cut-short-chunked",
        "longer",
        "shorter",
        "not-a-number",
        "negative",
        "declared-over",
        "over",
    ],
)
def test_a_bad_body_is_a_4xx_and_never_reaches_the_app(
    headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]], status: int, fragment: str
) -> None:
    """Guard (every route) and the /forecast fast path read bodies with the one reader: a body that
    is cut short, unlike its Content-Length or over the limit is a clear 4xx from both, and what is
    behind them never sees it."""
    from bentos.crowding.service import ForecastFastPath

    for middleware in (Guard, ForecastFastPath):
        app = _App()
        got, answer, _ = _post(middleware(app), headers, messages)
        assert (got, app.reached) == (status, False), (middleware.__name__, answer)
        assert fragment in answer["error"]


def test_a_declared_oversize_is_refused_unread() -> None:
    app = _App()
    headers = [(b"content-length", str(FORECAST_BODY_LIMIT + 1).encode())]
    status, _, read = _post(Guard(app), headers, [{"type": "http.request", "body": b"{}"}])
    assert (status, read, app.reached) == (413, 0, False)


def test_a_whole_body_is_handed_on() -> None:
    app = _App()
    body = b'{"station": "211"}'
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": body[:5], "more_body": True},
        {"type": "http.request", "body": body[5:]},
    ]
    status, _, read = _post(Guard(app), [(b"content-length", str(len(body)).encode())], messages)
    assert (status, read, app.reached) == (200, 2, True)


# --- logs ---------------------------------------------------------------------------------------


def test_client_errors_are_one_info_line(served: tuple[str, Path], row: dict[str, Any]) -> None:
    url, log = served
    marker = f"hour-{time.monotonic_ns()}"
    bad = {k: v for k, v in row.items() if k != "hour"} | {"direction": marker}
    assert httpx.post(f"{url}/predict", headers=AUTH, json={"rows": [bad]}, timeout=30).status_code == 400
    assert httpx.post(f"{url}/reload", timeout=30).status_code == 401
    time.sleep(0.5)
    text = log.read_text()
    lines = [
        line for line in text.splitlines() if "/predict" in line and ("400" in line or "validation" in line)
    ]
    assert lines and all(re.search(r"\bINFO\b", line) for line in lines), lines
    assert "Traceback" not in text and "ERROR" not in text
    assert any("401" in line and "/reload" in line for line in text.splitlines())


def test_request_bodies_are_required_in_the_document(url: str) -> None:
    spec = httpx.get(f"{url}/docs.json", timeout=30).json()
    for path in ("/forecast", "/predict"):
        assert spec["paths"][path]["post"]["requestBody"]["required"] is True
        assert httpx.post(f"{url}{path}", headers=AUTH, timeout=30).status_code == 400
