"""The plain FastAPI + uvicorn baseline serving the same package -- for ``bench/serving.py`` only.

Two flavours, chosen with ``SEONGSU_FASTAPI_MODE``:

* ``idiomatic`` (default): what a FastAPI service is usually written like -- the request is a
  pydantic body, the handler returns Python objects built per request from the same
  ``ForecastIndex`` (``forecast_data``), and FastAPI validates and serializes them through
  ``response_model=ForecastResponse``.
* ``bytes``: the Bento service's own fast path (``forecast_json`` bytes in a raw ``Response``), so
  the benchmark can also show the pure framework overhead with identical handler work.

Not a second production server: no hot swap, no ``/predict``; it serves one package directory
(``SEONGSU_FASTAPI_PACKAGE``) for the whole life of the process.

    SEONGSU_FASTAPI_PACKAGE=/path/to/package uvicorn --factory bench.fastapi_app:create_app_from_env
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.responses import Response

from bentos.crowding.directory import InputError
from bentos.crowding.lookup import load_index
from bentos.crowding.schemas import LEVEL_DEFINITION, ForecastRequest, ForecastResponse, ModelInfo

Mode = Literal["idiomatic", "bytes"]


def create_app(package: Path, mode: Mode = "idiomatic") -> FastAPI:
    """A FastAPI app answering ``/forecast`` and ``/model`` from the package at ``package``."""
    index = load_index(package, f"file:{package}")
    app = FastAPI(title="crowding (FastAPI baseline)", description=LEVEL_DEFINITION)

    @app.exception_handler(InputError)
    async def _input_error(_: Any, exc: InputError) -> JSONResponse:
        return JSONResponse(exc.payload(), status_code=exc.status)

    if mode == "bytes":

        @app.post("/forecast", response_model=ForecastResponse)
        async def forecast_bytes(request: ForecastRequest) -> Response:
            start, end = request.date_range(index.first_date)
            body = index.forecast_json(request.stations, start, end, request.hour_start, request.hour_end)
            return Response(body, media_type="application/json")

    else:

        @app.post("/forecast", response_model=ForecastResponse)
        async def forecast(request: ForecastRequest) -> Any:
            start, end = request.date_range(index.first_date)
            return index.forecast_data(request.stations, start, end, request.hour_start, request.hour_end)

    @app.get("/model", response_model=ModelInfo)
    async def model() -> Any:
        return index.model_info()

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b"\n", media_type="text/plain")

    return app


def create_app_from_env() -> FastAPI:
    """uvicorn ``--factory`` entry point: ``SEONGSU_FASTAPI_PACKAGE`` and ``SEONGSU_FASTAPI_MODE``."""
    mode = os.environ.get("SEONGSU_FASTAPI_MODE", "idiomatic")
    if mode not in ("idiomatic", "bytes"):
        raise ValueError(f"SEONGSU_FASTAPI_MODE must be idiomatic or bytes, not {mode!r}")
    return create_app(Path(os.environ["SEONGSU_FASTAPI_PACKAGE"]), mode)  # type: ignore[arg-type]
