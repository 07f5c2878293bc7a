"""The serving benchmark's in-process profile: where one request's time goes, without sockets.

Drives each ASGI app directly (``bench/serving.py --profile KIND``): the lookup itself, request
parsing, and each framework's stack around the same handler.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any


async def _asgi_per_request(app: Any, body: bytes, n: int) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/forecast",
        "raw_path": b"/forecast",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"x"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 3000),
    }
    statuses: list[int] = []

    async def call() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(dict(scope), receive, send)

    lifespan_in: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    lifespan_out: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await lifespan_in.put({"type": "lifespan.startup"})
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan_in.get, lifespan_out.put)
    )
    started = await lifespan_out.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"lifespan failed: {started}")
    for _ in range(300):
        await call()
    statuses.clear()
    t0 = time.perf_counter()
    for _ in range(n):
        await call()
    per = (time.perf_counter() - t0) / n
    if set(statuses) != {200}:
        raise RuntimeError(f"profile got statuses {set(statuses)}")
    await lifespan_in.put({"type": "lifespan.shutdown"})
    await lifespan_out.get()
    task.cancel()
    return per


def profile(kind: str, package: Path, body: bytes) -> dict[str, float]:
    """Microseconds per request of one piece of the request path, measured in this process."""
    import timeit

    out: dict[str, float] = {}
    if kind == "lookup":
        from bentos.crowding.lookup import load_index
        from bentos.crowding.schemas import ForecastRequest

        index = load_index(package, "bench")
        req = ForecastRequest.model_validate_json(body)
        start, end = req.date_range(index.first_date)
        n = 20000
        args = (req.stations, start, end, req.hour_start, req.hour_end)
        out["forecast_json (bento handler)"] = timeit.timeit(lambda: index.forecast_json(*args), number=n) / n
        out["forecast_data (python objects)"] = (
            timeit.timeit(lambda: index.forecast_data(*args), number=2000) / 2000
        )
        out["ForecastRequest.model_validate_json"] = (
            timeit.timeit(lambda: ForecastRequest.model_validate_json(body), number=n) / n
        )
    elif kind == "bento":
        from _bentoml_impl.loader import import_service
        from bentoml._internal.context import server_context

        svc = import_service("bentos.crowding.service:CrowdingService")
        server_context.service_name = svc.name
        server_context.service_type = "entry_service"
        server_context.worker_index = 1
        app = svc.to_asgi(is_main=True)
        out["bento ASGI stack + handler"] = asyncio.run(_asgi_per_request(app, body, 3000))
    else:
        from fastapi_app import create_app

        app = create_app(package, "bytes" if kind == "fastapi-bytes" else "idiomatic")
        out[f"{kind} ASGI stack + handler"] = asyncio.run(_asgi_per_request(app, body, 3000))
    return {k: v * 1e6 for k, v in out.items()}
