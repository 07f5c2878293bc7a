"""The Prefect REST API as a client sees it, for tests that set up or read a real server."""

from __future__ import annotations

from typing import Any

import httpx
import tenacity


def _busy(exc: BaseException) -> bool:
    """A server error or 429: the session's shared server (its store busy under the whole suite's
    load) answered once with a 503, once with a deployment without an ``id``."""
    if not isinstance(exc, httpx.HTTPStatusError):
        return False
    return exc.response.status_code >= 500 or exc.response.status_code == 429


@tenacity.retry(
    retry=tenacity.retry_if_exception(_busy),
    wait=tenacity.wait_exponential(multiplier=0.5, max=8),
    stop=tenacity.stop_after_attempt(6),
    reraise=True,
)
def prefect_api(base_url: str, method: str, path: str, body: object = None) -> Any:
    """``METHOD base_url+path`` with a JSON body; retried while the server is busy, as Prefect's own
    client does (``prefect.client.base``); any other error fails at once, saying what it answered."""
    answer = httpx.request(method, f"{base_url}{path}", json=body, timeout=10)
    if answer.is_error:
        raise httpx.HTTPStatusError(
            f"{answer.status_code} from {method} {path}: {answer.text[:300]}",
            request=answer.request,
            response=answer,
        )
    return answer.json()
