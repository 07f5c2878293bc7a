"""One ``httpx.Client`` per service, where every failure becomes a safe, plain sentence.

Reasons are written from the exception *type* and the HTTP status, never from ``str(exc)`` of a
transport error, so neither stack traces nor keys can leak into the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

try:
    from space.client_base import DEFAULT_TIMEOUT_S, Unavailable
except ImportError:  # on Hugging Face the Space root is the working directory
    from client_base import DEFAULT_TIMEOUT_S, Unavailable  # type: ignore[no-redef]


def host_of(url: str) -> str:
    """``host:port`` of a URL, without credentials or path: safe to show."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return netloc or "the server"


def transport_reason(exc: httpx.HTTPError, host: str, timeout_s: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {host} within {timeout_s:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {host}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{host} closed the connection"
    return f"could not talk to {host} ({type(exc).__name__})"


def short_error(response: httpx.Response) -> str | None:
    """The ``error``/``message``/``detail`` text of a JSON error body, when short and present."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            text = body.get(key)
            if isinstance(text, str) and text.strip():
                text = " ".join(text.split())
                return text if len(text) <= 300 else text[:297] + "..."
    return None


def status_reason(response: httpx.Response, host: str, *, show_body: bool) -> str:
    code = response.status_code
    if code in (401, 403):
        return f"{host} refused the credentials (HTTP {code}): check the API key"
    if code == 404:
        return f"{host} has no {response.request.url.path} (HTTP 404): check the URL"
    if code == 429:
        return f"{host} is rate limiting this Space (HTTP 429): trying again shortly"
    text = short_error(response) if show_body else None
    base = f"{host} answered HTTP {code}"
    return f"{base}: {text}" if text else base


class HttpService:
    """An ``httpx.Client`` bound to one service; every call returns JSON or ``Unavailable``."""

    service = "http"
    show_error_bodies = False

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = host_of(self.base_url)
        self.timeout_s = timeout_s
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | Unavailable:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            return Unavailable(self.service, transport_reason(exc, self.host, self.timeout_s))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        if isinstance(response, Unavailable):
            return response
        if response.status_code >= 400:
            return Unavailable(
                self.service, status_reason(response, self.host, show_body=self.show_error_bodies)
            )
        try:
            return response.json()
        except ValueError:
            return Unavailable(self.service, f"{self.host} sent an answer that is not JSON")

    def close(self) -> None:
        self._client.close()
