"""The BentoML crowding service: ``/forecast``, ``/predict``, ``/model``, hot-swapping the promoted package.

Serving reads nothing but the model package (``tasks/model/package.py``) saved in the BentoML model store
as ``seongsu-crowding:<version>``: no warehouse, W&B or Prefect call on the request path, so the
service keeps answering when all of them are down.

Hot swap.  A daemon thread polls the store every ``SEONGSU_RELOAD_INTERVAL_S`` seconds (default 5):
the poll reads the tiny ``latest`` pointer file the store keeps per model name, and only when it
names a new version does the thread load the package, build its ``ForecastIndex`` and the CatBoost
forecaster -- all off the request path -- and then rebind ``self._served``, one attribute, which is
atomic under the GIL.  Each request reads that reference once, so it is answered entirely by the old
or entirely by the new package, never a mix, and nothing is restarted.  A package that fails to
load is logged and skipped; the previous one keeps serving.  ``POST /reload`` runs the same check
immediately (per worker process: with several workers the others follow at their next poll).

Speed (see ``bench/serving.py`` and the README).  The ``/forecast`` handler joins pre-rendered JSON
fragments (~5 us); everything else is framework.  So: (1) ``ForecastFastPath`` answers
``POST /forecast`` inside BentoML's middleware stack (metrics, timeout and concurrency limit still
apply) but before its routing and API dispatch, which cost ~110 us of the ~190 us BentoML spent per
request; the ``@bentoml.api`` method remains the documented API and the identical fallback.  (2)
OpenTelemetry spans are not created for ``/forecast`` (4 spans per request, no exporter configured;
``SEONGSU_TRACE_FORECAST=1`` restores them) and the per-request access log is off
(``SEONGSU_ACCESS_LOG=1``).  Prometheus ``/metrics`` stays on.  (3) Long-lived objects (BentoML, the
index) are moved out of the cyclic GC's reach with ``gc.freeze()`` after each load, and BentoML's
timeout middleware is fixed to cancel its per-request timer: otherwise full collections of the
worker's heap pause every request for 100-200 ms.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any

import bentoml
import orjson
from fastapi import FastAPI, HTTPException
from pydantic import ValidationError
from starlette.responses import Response

from bentos.crowding import connections
from bentos.crowding.body import BodyRefused, read_body
from bentos.crowding.directory import InputError
from bentos.crowding.docs import DocsPage
from bentos.crowding.guard import FORECAST_BODY_LIMIT, Guard, install_log_filter
from bentos.crowding.middleware import JsonBody, fix_bentoml_timeout_middleware
from bentos.crowding.schemas import (
    ForecastRequest,
    ForecastResponse,
    ModelInfo,
    PredictRequest,
    PredictResponse,
)
from bentos.crowding.served import Served, load_served, predict_rows
from tasks.core.settings import get_settings
from tasks.model.package import BENTO_MODEL_NAME

logger = logging.getLogger("bentoml.service.crowding")

MODEL_TAG = f"{BENTO_MODEL_NAME}:latest"
JSON = "application/json"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


RELOAD_INTERVAL_S = float(os.environ.get("SEONGSU_RELOAD_INTERVAL_S", "5"))
MODEL_STORE = os.environ.get("SEONGSU_MODEL_STORE") or None
"""A BentoML model store directory to watch instead of the default one.  Needed in a container:
BentoML points a built Bento at the models packed inside it, so a registry's store mounted as a
volume is only seen through this variable."""
WORKERS = int(os.environ.get("SEONGSU_SERVE_WORKERS", "1"))
_UNTRACED = "" if _env_flag("SEONGSU_TRACE_FORECAST") else "/forecast"
FAST_PATH = os.environ.get("SEONGSU_FORECAST_FAST_PATH", "1").strip().lower() not in (
    "0",
    "false",
    "no",
    "off",
)
"""Answer ``POST /forecast`` in ``ForecastFastPath`` (default) instead of BentoML's API dispatch."""
MAX_FORECAST_BODY = FORECAST_BODY_LIMIT


def _json(status: int, payload: dict[str, Any]) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON)


_NOT_READY = orjson.dumps(
    {
        "error": f"no model package is being served yet: publish one as {BENTO_MODEL_NAME} in the "
        "BentoML model store (seongsu train / the registry); this server picks it up within "
        f"{RELOAD_INTERVAL_S:g} s or on POST /reload"
    }
)


def _not_ready() -> Response:
    return Response(_NOT_READY, status_code=503, media_type=JSON)


def answer_forecast(served: Served | None, request: ForecastRequest) -> tuple[int, bytes]:
    """(status, JSON body) of a validated ``/forecast`` request: the one implementation both entry
    points (the BentoML API and ``ForecastFastPath``) call."""
    if served is None:
        return 503, _NOT_READY
    start, end = request.date_range(served.index.first_date)
    try:
        return 200, served.index.forecast_json(
            request.stations, start, end, request.hour_start, request.hour_end
        )
    except InputError as exc:
        return exc.status, exc.body()


def validation_error_body(exc: ValidationError) -> bytes:
    """The 400 body BentoML gives for a request that fails pydantic validation, byte for byte."""
    return orjson.dumps(
        {
            "error": f"{exc.error_count()} validation error for {exc.title}",
            "detail": exc.errors(include_context=False, include_input=False),
        }
    )


class ForecastFastPath:
    """ASGI middleware answering ``POST /forecast`` before BentoML's routing and API dispatch.

    Why: ``/forecast`` is a ~5 us lookup, and BentoML's dispatch around it (Starlette routing and
    exception middleware, the request context, IODescriptor construction, serde selection, and a
    ``simple_di``-injected header helper that calls ``inspect.signature`` on every response) costs
    more than the rest of the request together; see the README's performance section.  This
    middleware sits *inside* BentoML's own stack -- Prometheus metrics, the timeout and the
    concurrency limit still apply, ``/metrics`` counts these requests per status code -- and
    does exactly what the ``forecast`` API does: the same pydantic model parses the body (as JSON,
    whatever the Content-Type), ``answer_forecast`` answers, and validation errors have BentoML's
    400 format.  The ``@bentoml.api`` method stays the documented API and the fallback
    (``SEONGSU_FORECAST_FAST_PATH=0``); ``tests/bentos/test_service.py`` checks both give identical answers.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not (
            FAST_PATH
            and scope["type"] == "http"
            and scope["path"] == "/forecast"
            and scope["method"] == "POST"
        ):
            return await self.app(scope, receive, send)
        body = await read_body(scope, receive, MAX_FORECAST_BODY)
        if isinstance(body, BodyRefused):
            status, payload = body.status, orjson.dumps({"error": body.error})
        else:
            try:
                request = ForecastRequest.model_validate_json(body or b"{}")
            except ValidationError as exc:
                status, payload = 400, validation_error_body(exc)
            else:
                status, payload = answer_forecast(None if _instance is None else _instance._served, request)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


fix_bentoml_timeout_middleware()
connections.install(get_settings().serve_header_timeout_s, get_settings().serve_max_connections)


# --------------------------------------------------------------------------------------------------
# GET /model and POST /reload: BentoML APIs are POST-only, so these live in a small FastAPI app
# mounted into the service (BentoML adds its routes to the same OpenAPI document).

admin = FastAPI(title="crowding admin", docs_url=None, redoc_url=None, openapi_url=None)
_instance: Crowding | None = None


def _service() -> Crowding:
    if _instance is None:
        raise HTTPException(503, "service is starting")
    return _instance


@admin.get("/model", response_model=ModelInfo, tags=["Service APIs"], summary="The model being served")
async def get_model() -> Any:
    """Version, promotion time, metrics, training data range and hash, as_of and the forecastable
    date range of the package this worker is serving."""
    served = _service()._served
    if served is None:
        raise HTTPException(503, "no model package is being served yet")
    return served.index.model_info()


@admin.post("/reload", tags=["Service APIs"], summary="Check the model store for a new package now")
def reload_model() -> dict[str, Any]:
    """Admin: load ``seongsu-crowding:latest`` now if it is newer than what this worker serves
    (otherwise the watcher does it within a few seconds).  Safe to call any time: it only re-reads
    the local model store."""
    svc = _service()
    try:
        changed = svc.refresh()
    except Exception as exc:  # a broken package: report it, keep serving the old one
        raise HTTPException(409, f"could not load the latest package: {exc}") from exc
    served = svc._served
    return {
        "changed": changed,
        "package": served.tag if served else None,
        "version": served.version if served else None,
    }


class Crowding:
    """Hourly boardings/alightings and crowding levels for every Seoul Metro station, from the
    promoted model package; hot-swaps new packages without a restart."""

    def __init__(self) -> None:
        global _instance
        self._served: Served | None = None
        self._lock = threading.Lock()
        self._failed: set[str] = set()
        self._latest_file: Path | None = None
        self._stop = threading.Event()
        install_log_filter()
        try:
            self.refresh()
        except Exception:
            logger.exception("the latest package could not be loaded; waiting for a new one")
        if self._served is None:
            logger.warning("no %s in the model store yet: /forecast answers 503 until one appears", MODEL_TAG)
        self._watcher = threading.Thread(target=self._watch, name="package-watcher", daemon=True)
        self._watcher.start()
        _instance = self

    # -- hot swap ------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Load ``seongsu-crowding:latest`` if it differs from what is served; True if swapped."""
        with self._lock:
            current = self._served.tag if self._served else None
            if current is not None and self._latest_file is not None:
                try:  # cheap path: the store's pointer file still names the served version
                    if f"{BENTO_MODEL_NAME}:{self._latest_file.read_text().strip()}" == current:
                        return False
                except OSError:
                    pass
            try:
                model = self._get_model()
            except bentoml.exceptions.NotFound:
                return False
            tag = str(model.tag)
            if tag == current or tag in self._failed:
                return False
            try:
                served = load_served(Path(model.path), tag)
            except Exception:
                self._failed.add(tag)
                raise
            self._served = served  # the swap: one reference, atomic
            self._latest_file = Path(model.path).parent / "latest"
        logger.info(
            "serving %s (model %s, as_of %s, forecasts %s..%s)%s",
            tag,
            served.version,
            served.index.metadata.as_of,
            served.index.first_date,
            served.index.last_date,
            f" replacing {current}" if current else "",
        )
        # Old package: freed by refcounting once in-flight requests finish.  New one: out of the
        # cyclic GC's scans, so full collections stay short (see the module docstring).
        gc.collect(1)
        gc.freeze()
        return True

    def _get_model(self) -> bentoml.Model:
        if MODEL_STORE is None:
            return bentoml.models.get(MODEL_TAG)
        from bentoml._internal.models import ModelStore

        return bentoml.models.get(MODEL_TAG, _model_store=ModelStore(MODEL_STORE))

    def _watch(self) -> None:
        while not self._stop.wait(RELOAD_INTERVAL_S):
            try:
                self.refresh()
            except Exception:
                logger.exception("loading the latest package failed; still serving the previous one")

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self._stop.set()

    def __is_ready__(self) -> bool:
        """/readyz is 200 only once a package is loaded."""
        return self._served is not None

    # -- APIs ----------------------------------------------------------------------------------
    @bentoml.api(route="/forecast", output_spec=ForecastResponse)
    async def forecast(self, request: ForecastRequest, /) -> Response:
        """Hourly forecast per station: boardings and alightings (yhat, 80% interval lo..hi) and a
        crowding level per hour band.

        Stations by code ('211'), Korean name ('성수') or English name ('Seongsu'); one `date`, a
        `start`..`end` range (at most 7 days) or nothing (= the package's next day, as_of + 1);
        optional `hour_start`..`hour_end` (bands 5 = before 06:00 .. 24 = after midnight).

        Crowding levels are relative to each station's own history, per direction: thresholds are
        the 50th, 80th and 95th percentiles (q50/q80/q95) of that station's hourly counts in the
        training data. yhat below q50 is 여유 (Quiet), q50..q80 보통 (Normal), q80..q95 혼잡 (Busy),
        q95 and above 매우혼잡 (Very busy). The row `level` is the busier of the two directions.
        The thresholds are returned with each station.

        Errors: 400 for a malformed request (types, hour bands, range too long), 422 for an unknown
        station (with suggestions) or dates outside the package's forecastable range (given in the
        answer), 503 before a package is loaded.
        """
        status, body = answer_forecast(self._served, request)
        return Response(body, status_code=status, media_type=JSON)

    @bentoml.api(route="/predict", input_spec=PredictRequest, output_spec=PredictResponse)
    def predict(self, rows: list[Any]) -> Response:
        """Score explicit feature rows (tasks.model.features.FEATURE_COLUMNS, all required, numeric ones
        nullable) with the served CatBoost model: yhat and the 80% interval per row, in order.
        At most 1000 rows per call.  For clients that build their own features (what-if analyses);
        everyone else wants /forecast.  409 while a baseline is served (GET /model says
        `kind: baseline`): a baseline has no feature model to score rows with."""
        served = self._served
        if served is None:
            return _not_ready()
        if served.predict_problem:
            return _json(409, {"error": served.predict_problem})
        predictions = predict_rows(served.forecaster, [r.model_dump() for r in rows])
        unscored = [i for i, p in enumerate(predictions) if not all(map(math.isfinite, p.values()))]
        if unscored:
            return _json(
                422, {"error": f"rows {unscored[:10]} have no finite prediction: check their feature values"}
            )
        return _json(
            200, {"model_version": served.version, "package": served.tag, "predictions": predictions}
        )


CrowdingService = bentoml.asgi_app(admin, path="/")(
    bentoml.service(
        name="crowding",
        workers=WORKERS,
        traffic={"timeout": 30},
        logging={"access": {"enabled": _env_flag("SEONGSU_ACCESS_LOG")}},
        tracing={"excluded_urls": _UNTRACED},
    )(Crowding)
)
"""What ``bentoml serve bentos.crowding.service:CrowdingService`` (and ``seongsu serve``) runs."""
CrowdingService.add_asgi_middleware(Guard)  # outermost: API key and body limits before anything
CrowdingService.add_asgi_middleware(ForecastFastPath)  # next: /forecast stops here
CrowdingService.add_asgi_middleware(JsonBody, paths=("/forecast", "/predict"))
CrowdingService.add_asgi_middleware(DocsPage)  # our title/description on / and /docs.json
