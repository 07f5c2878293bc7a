"""The service's own docs page: ``GET /`` and ``GET /docs.json`` say what this service is.

BentoML serves a fixed page at ``/`` ("BentoML Prediction Service", BentoML's tracking script, a
GitHub corner) and, when run from source (``bentoml serve module:Service``, what ``seongsu serve``
does), an OpenAPI ``info`` with a stock README, version "None" and "Contact BentoML Team"; its
request/response schemas are named after BentoML's wrapper classes (``ForecastRequestIODescriptor``).
BentoML 1.4 has no setting for any of this (a built Bento takes its description from the bentofile,
but the title, contact and schema names stay).  So ``DocsPage``, an ASGI middleware added with the
public ``Service.add_asgi_middleware``, answers ``GET /`` with our page (same Swagger UI assets
BentoML ships) and rewrites the ``info`` and schema names of BentoML's own ``/docs.json`` on its way
out; every path, schema and example stays BentoML's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bentos.crowding.contract import amend_openapi
from bentos.crowding.schemas import LEVEL_DEFINITION

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TITLE = "Daily Seongsu · 성수역 혼잡 예보 — crowding service"
WRAPPER_SUFFIX = "IODescriptor"

DESCRIPTION = f"""\
Hourly **boardings and alightings** for the next 7 days — a median forecast with an **80% interval**
and a **crowding level** per hour band — for Seongsu Station (성수, line 2, code 211) and every other
Seoul Metro station, from the model package the Daily Seongsu pipeline last promoted.  Forecasts are
precomputed when a model is promoted, so `POST /forecast` is a lookup; `GET /model` says which model
and data are being served.

**Crowding levels 0–3** (여유 quiet … 매우혼잡 very busy). {LEVEL_DEFINITION}

**Data licence.** Ridership: Seoul Metro (서울교통공사) and the Seoul Metropolitan Government (서울 열린데이터
광장); weather: Korea Meteorological Administration (기상청).  The portals publish these under
공공누리 (KOGL) Type 1 — reuse with attribution: *Source: Seoul Metro, Seoul Metropolitan Government
(Seoul Open Data Plaza), Korea Meteorological Administration*.  Forecasts are this project's own
model output.  Code: Apache-2.0.
"""


def package_version() -> str:
    """The installed ``daily-seongsu`` version (what the page and the spec show as the API version)."""
    try:
        return version("daily-seongsu")
    except PackageNotFoundError:
        return "unknown"


def customize_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """BentoML's OpenAPI document with our ``info`` and the wrapper suffix off the schema names."""
    schemas = spec.get("components", {}).get("schemas", {})
    renames = {
        name: name.removesuffix(WRAPPER_SUFFIX)
        for name in schemas
        if name.endswith(WRAPPER_SUFFIX) and name.removesuffix(WRAPPER_SUFFIX) not in schemas
    }
    text = json.dumps(spec)
    for old, new in renames.items():  # schema keys, titles and $refs
        text = text.replace(f'"{old}"', f'"{new}"').replace(f'/schemas/{old}"', f'/schemas/{new}"')
    out: dict[str, Any] = json.loads(text)
    out["info"] = {
        "title": TITLE,
        "version": package_version(),
        "description": DESCRIPTION,
        "license": {"name": "Code: Apache-2.0 · data: KOGL Type 1 (attribution)"},
    }
    return out


def index_html() -> str:
    """BentoML's Swagger UI assets under our title, without its tracking script and GitHub corner."""
    return f"""<!DOCTYPE html>
<html lang="ko">
  <head>
    <meta charset="UTF-8">
    <title>{TITLE}</title>
    <meta name="description" content="Hourly crowding forecasts for every Seoul Metro station (v{package_version()})">
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
    <link rel="stylesheet" type="text/css" href="./static_content/index.css" />
    <link rel="icon" type="image/png" href="./static_content/favicon-light-32x32.png" sizes="32x32" />
  </head>
  <body>
    <header style="max-width:1460px;margin:24px auto 0;padding:0 20px;font-family:sans-serif">
      <h1 style="margin:0;font-size:28px">{TITLE}</h1>
      <p style="margin:6px 0 0;color:#555">v{package_version()} · hourly crowding forecasts for every Seoul
      Metro station · <a href="./docs.json">OpenAPI</a></p>
    </header>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"""


class DocsPage:
    """ASGI middleware for ``GET /`` (our page) and ``GET /docs.json`` (BentoML's spec, our info)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            return await self.app(scope, receive, send)
        path = scope.get("path")
        if path == "/":
            return await _respond(send, 200, "text/html; charset=utf-8", index_html().encode())
        if path == "/docs.json":
            return await self._docs(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") != 200:
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            return await send({"type": "http.response.body", "body": body})
        spec = amend_openapi(customize_spec(json.loads(body)))
        await _respond(send, 200, "application/json", json.dumps(spec, ensure_ascii=False).encode())


async def _respond(send: Send, status: int, content_type: str, body: bytes) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
