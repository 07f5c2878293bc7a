"""The service's front door: API key, body limits, the OpenAPI document, one-line client-error logs.

``Guard`` is the outermost of the service's own ASGI middlewares (inside BentoML's metrics, timeout
and concurrency limit), so nothing behind it -- the ``/forecast`` fast path, BentoML's dispatch, the
mounted admin app -- ever sees an unauthenticated costly request or an oversized body:

* **API key.**  ``SEONGSU_BENTO_API_KEY`` (the settings object), sent as ``Authorization: Bearer``.
  Everything is protected except ``PUBLIC`` (``/forecast``, the health probes, metrics and the docs);
  ``SEONGSU_BENTO_AUTH_EVERYWHERE=1`` protects those too, except the probes.  With no key configured
  the protected routes are closed (401 says how to open them), never silently open.  The comparison
  is constant-time (``hmac.compare_digest``).
* **Body limits.**  Every request with a body is read here (``body.read_body``) up to its route's
  limit and answered 413 beyond it -- before a byte is parsed (a declared Content-Length over the
  limit is refused unread); a body cut short or unlike its Content-Length is a 400.
* **Logs.**  Client errors (401/413 here, validation errors in BentoML) are one INFO line with the
  reason; BentoML logs them at ERROR with a traceback (``ClientErrorLogFilter``).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import orjson
from pydantic import ValidationError

from bentos.crowding.body import BodyRefused, header, read_body
from tasks.core.settings import Settings, get_settings

logger = logging.getLogger("bentoml.service.crowding")

PROBES = frozenset({"/livez", "/readyz", "/healthz"})
PUBLIC = PROBES | {"/forecast", "/metrics", "/docs.json", "/", "/schema.json"}
PUBLIC_PREFIXES = ("/static_content/",)
FORECAST_BODY_LIMIT = 64 * 1024
PREDICT_BODY_LIMIT = 2 * 1024 * 1024
"""1000 feature rows of real values are ~0.6 MB of JSON; 2 MiB leaves room for formatting."""
BODY_LIMITS = {"/forecast": FORECAST_BODY_LIMIT, "/predict": PREDICT_BODY_LIMIT}
DEFAULT_BODY_LIMIT = 64 * 1024
SCHEME = "ApiKey"


def is_public(path: str, everywhere: bool) -> bool:
    """Whether ``path`` is answered without the API key."""
    if path in PROBES:
        return True
    return not everywhere and (path in PUBLIC or path.startswith(PUBLIC_PREFIXES))


async def _answer(send: Any, status: int, payload: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    body = orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: authentication and body limits."""

    def __init__(self, app: Any, settings: Settings | None = None) -> None:
        self.app = app
        settings = settings or get_settings()
        key = settings.bento_api_key.get_secret_value() if settings.bento_api_key else ""
        self._key = key.encode() if key.strip() else None
        self._everywhere = settings.bento_auth_everywhere

    def _authorized(self, scope: Any) -> bool:
        given = header(scope, b"authorization") or b""
        scheme, _, token = given.partition(b" ")
        return (
            self._key is not None
            and scheme.lower() == b"bearer"
            and hmac.compare_digest(token.strip(), self._key)
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if not is_public(path, self._everywhere) and not self._authorized(scope):
            reason = (
                "this server has no API key configured: set SEONGSU_BENTO_API_KEY to use it"
                if self._key is None
                else "missing or wrong API key: send 'Authorization: Bearer <SEONGSU_BENTO_API_KEY>'"
            )
            logger.info("client error 401 on %s %s: %s", method, path, reason.split(":")[0])
            return await _answer(
                send,
                401,
                {"error": f"{path} needs the API key; {reason}"},
                [(b"www-authenticate", b"Bearer")],
            )
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            limit = BODY_LIMITS.get(path, DEFAULT_BODY_LIMIT)
            body = await read_body(scope, receive, limit)
            if isinstance(body, BodyRefused):
                logger.info("client error %d on %s %s: %s", body.status, method, path, body.error)
                return await _answer(send, body.status, {"error": body.error}, [(b"connection", b"close")])
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the already-read body over once, then waits on the real one."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class ClientErrorLogFilter(logging.Filter):
    """Turns BentoML's ERROR-with-traceback for a request that failed validation into one INFO line.

    BentoML 1.4.39 logs every ``ValidationError`` (a 400: the client's mistake) through
    ``log_exception`` at ERROR with a ~2 kB traceback.  Installed on that logger, this filter
    rewrites such records to ``client error 400 on POST /predict: rows.0.hour: Field required``;
    real server errors pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            path_method = (
                record.args if isinstance(record.args, tuple) and len(record.args) == 2 else ("?", "?")
            )
            record.msg = "client error 400 on %s %s: %s: %s%s"
            record.args = (path_method[1], path_method[0], where, first["msg"], more)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
        return True


def install_log_filter() -> None:
    """Attach ``ClientErrorLogFilter`` to BentoML's request-exception logger (once)."""
    target = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, ClientErrorLogFilter) for f in target.filters):
        target.addFilter(ClientErrorLogFilter())
