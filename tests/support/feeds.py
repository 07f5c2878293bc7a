"""Checks every live API feed must pass the same way: retries, exhausted retries, no key in logs.

The KMA and Seoul feeds share their HTTP path (``tasks.data.feeds.http``), so the behaviour these
check is one behaviour; each feed's test module runs them through its own feed, URL and recorded
reply (``ApiCase``) instead of keeping a copy of the same test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
import respx

from tasks.data.feeds.base import FeedUnavailableError


@dataclass(frozen=True)
class ApiCase:
    """One live feed as the shared checks see it."""

    make_feed: Callable[..., Any]
    """``make_feed(retries=..., sleep=...)``: the feed with no real waits."""
    url: str
    """Prefix of the URL ``fetch(dataset, day, day)`` calls."""
    dataset: str
    day: date
    reply: Callable[[], dict[str, Any]]
    """A recorded good reply for that call, and how many rows it parses to."""
    rows: int
    secrets: tuple[str, ...]
    """Every spelling of the key that must never show."""
    redacted: str
    """How the key shows in a redacted URL."""

    def fetch(self, feed: Any) -> list[Any]:
        return list(feed.fetch(self.dataset, self.day, self.day))

    def assert_no_secret(self, text: str) -> None:
        for secret in self.secrets:
            assert secret not in text


def check_retries_then_success(case: ApiCase) -> None:
    """5xx, 429 and timeouts are retried (a zero Retry-After honoured) until a good reply."""
    waits: list[float] = []
    with respx.mock() as router:
        route = router.get(url__startswith=case.url).mock(
            side_effect=[
                httpx.Response(500),
                httpx.Response(503),
                httpx.Response(429, headers={"Retry-After": "0"}),
                httpx.ConnectTimeout("timed out"),
                httpx.ReadTimeout("timed out"),
                httpx.Response(200, json=case.reply()),
            ]
        )
        payloads = case.fetch(case.make_feed(retries=5, sleep=waits.append))

    assert route.call_count == 6
    assert waits == [0.0] * 5
    assert case.make_feed().parse(payloads[0]).height == case.rows


def check_retries_exhausted(case: ApiCase) -> None:
    """After the last retry: unavailable, with the status and the key redacted."""
    with respx.mock() as router:
        route = router.get(url__startswith=case.url).mock(return_value=httpx.Response(502))
        with pytest.raises(FeedUnavailableError) as info:
            case.fetch(case.make_feed(retries=2))

    assert route.call_count == 3
    message = str(info.value)
    assert "502" in message and "***" in message
    case.assert_no_secret(message)


def check_key_never_logged(case: ApiCase, caplog: pytest.LogCaptureFixture) -> None:
    """Our retry warning is redacted, httpx's request line is silenced by default, and someone
    lowering httpx to DEBUG to investigate still gets no key: the filter redacts it."""
    caplog.set_level(logging.DEBUG)
    feed = case.make_feed(retries=1)
    with respx.mock() as router:
        router.get(url__startswith=case.url).mock(
            side_effect=[httpx.Response(503), httpx.Response(200, json=case.reply())]
        )
        case.fetch(feed)
    assert "attempt 1 failed" in caplog.text
    assert "HTTP Request" not in caplog.text
    case.assert_no_secret(caplog.text)

    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="httpx")
    with respx.mock() as router:
        router.get(url__startswith=case.url).mock(return_value=httpx.Response(200, json=case.reply()))
        case.fetch(feed)
    assert "HTTP Request" in caplog.text and case.redacted in caplog.text
    case.assert_no_secret(caplog.text)
