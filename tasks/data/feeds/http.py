"""The HTTP plumbing the live API feeds share: one client factory, one retrying GET, key redaction.

Why a module of its own: both public APIs we call put the key *in the URL* (Seoul as a path segment,
data.go.kr as the ``serviceKey`` query parameter), so every place a URL can surface (exception text,
our retry warnings, httpx's own ``HTTP Request: GET <url>`` INFO line) is a place the key can leak
into Prefect logs and artifacts.  Everything that turns a URL into text goes through ``redact``
here, and the client factory quiets httpx/httpcore and attaches a redacting filter to them.

Retry policy: timeouts, transport errors, HTTP 429 and 5xx are transient and retried with
exponential backoff (a small ``Retry-After`` is honoured); after the last try the caller gets
``FeedUnavailableError``.  Any other 4xx is not going to get better by retrying: 401/403 raise
``FeedAuthError``, the rest ``FeedAPIError`` with code ``HTTP-<status>``.  ``retries`` counts the
*re*-tries, so ``retries=4`` means at most 5 requests.  Waits and the sleep function are parameters
so tests run with zero waits.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import quote, quote_plus

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from tasks.data.feeds.base import (
    FeedAPIError,
    FeedAuthError,
    FeedError,
    FeedFormatError,
    FeedUnavailableError,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 20.0
USER_AGENT = "daily-seongsu (+https://github.com/daily-seongsu)"
REDACTED = "***"
# loggers that print request URLs (httpx at INFO) or connection details (httpcore at DEBUG)
_HTTP_LOGGERS = ("httpx", "httpcore")

Params = Mapping[str, str | int | float]


# --- redaction --------------------------------------------------------------------------------


def _variants(secret: str) -> set[str]:
    """The forms a secret can take once it is in a URL (raw, percent-encoded, form-encoded)."""
    return {v for v in (secret, quote(secret, safe=""), quote(secret), quote_plus(secret)) if v}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (in any URL encoding) replaced by ``***``."""
    forms = sorted({v for s in secrets if s for v in _variants(s)}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, REDACTED)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites log records of the HTTP libraries so registered secrets never reach a handler."""

    def __init__(self) -> None:
        super().__init__("redact-secrets")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
        return True


_REDACTOR = _RedactingFilter()


def protect_logs(secrets: Iterable[str] = (), *, quiet: bool = True) -> None:
    """Redact ``secrets`` from whatever httpx/httpcore log and (``quiet``) raise them to WARNING.

    This changes process-wide logger configuration on purpose: httpx logs every request URL at
    INFO, and with our APIs the URL contains the key.  Someone who lowers the level again for
    debugging is still protected by the redacting filter.
    """
    _REDACTOR.secrets.update(s for s in secrets if s)
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if quiet and logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def build_client(timeout_s: float = DEFAULT_TIMEOUT_S, *, secrets: Iterable[str] = ()) -> httpx.Client:
    """An ``httpx.Client`` for the feeds (pass ``settings.http_timeout_s``); also calls ``protect_logs``."""
    protect_logs(secrets)
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s), headers={"User-Agent": USER_AGENT}, follow_redirects=True
    )


# --- retrying GET -----------------------------------------------------------------------------


class _TransientError(Exception):
    """Internal: a failure worth retrying (already redacted)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Backoff:
    """tenacity wait: ``Retry-After`` when it is small, else ``base * 2**(n-1)`` capped at ``max_s``."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self.base_s, self.max_s = base_s, max_s

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after_s if isinstance(exc, _TransientError) else None
        if retry_after is not None and retry_after <= self.max_s:
            return retry_after
        return float(min(self.max_s, self.base_s * 2 ** (state.attempt_number - 1)))


def _status_error(response: httpx.Response, where: str, service: str) -> FeedError:
    status = response.status_code
    message = f"HTTP {status} {response.reason_phrase} for {where}"
    if status in (401, 403):
        return FeedAuthError(f"HTTP-{status}", message + " (check the API key)", service=service)
    return FeedAPIError(f"HTTP-{status}", message, service=service)


def _send_once(
    client: httpx.Client, url: str, params: Params | None, secrets: list[str], service: str
) -> httpx.Response:
    where = redact(str(httpx.URL(url, params=dict(params or {}))), secrets)
    try:
        response = client.get(url, params=dict(params) if params else None)
    except httpx.TimeoutException as exc:
        raise _TransientError(f"{type(exc).__name__} for {where}") from None
    except httpx.TransportError as exc:
        detail = redact(str(exc), secrets)
        raise _TransientError(f"{type(exc).__name__} ({detail}) for {where}") from None
    except httpx.HTTPError as exc:
        prefix = f"{service}: " if service else ""
        raise FeedError(f"{prefix}{type(exc).__name__} ({redact(str(exc), secrets)}) for {where}") from None
    status = response.status_code
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise _TransientError(f"HTTP {status} for {where}", retry_after)
    if status >= 400:
        raise _status_error(response, where, service)
    return response


def get_with_retries(
    client: httpx.Client,
    url: str,
    params: Params | None = None,
    *,
    retries: int,
    redact: Iterable[str] = (),
    wait_base_s: float = 1.0,
    max_wait_s: float = 30.0,
    sleep: Callable[[float], Any] = time.sleep,
    service: str = "",
) -> httpx.Response:
    """GET ``url`` with retries on transient failures; see the module docstring for the policy.

    ``redact`` lists the secrets in ``url``/``params``: they are masked in every message we raise
    or log.  Raises ``FeedUnavailableError`` when the last try still failed transiently,
    ``FeedAuthError`` on 401/403 and ``FeedAPIError`` on any other 4xx.
    """
    secrets = [s for s in redact if s]
    protect_logs(secrets, quiet=False)  # register the secrets; leave the levels to the factory
    retrying = Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=_Backoff(wait_base_s, max_wait_s),
        retry=retry_if_exception_type(_TransientError),
        sleep=sleep,
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return retrying(_send_once, client, url, params, secrets, service)
    except _TransientError as exc:
        prefix = f"{service}: " if service else ""
        raise FeedUnavailableError(f"{prefix}gave up after {retries + 1} attempts: {exc}") from None


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("attempt %d failed (%s); retrying in %.1fs", state.attempt_number, exc, wait)


class ClientOwner:
    """Base of the live feeds: an httpx client the feed either builds (and closes) or borrows.

    Tests and callers may inject a client; a feed closes only the one it built.  Building also
    installs the log redaction for the feed's secrets before any request can be logged.
    """

    _client: httpx.Client
    _owns_client: bool

    def _attach_client(self, client: httpx.Client | None, timeout_s: float, secrets: list[str]) -> None:
        protect_logs(secrets)
        self._owns_client = client is None
        self._client = client or build_client(timeout_s, secrets=secrets)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_json_object(content: bytes, service: str) -> dict[str, Any]:
    """A JSON object reply, else ``FeedFormatError`` (never quoting the body: an error page could
    echo the request URL, i.e. the key)."""
    try:
        doc = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedFormatError(f"{service}: reply is not JSON ({exc}; {len(content)} bytes)") from None
    if not isinstance(doc, dict):
        raise FeedFormatError(f"{service}: reply is JSON but not an object")
    return doc
