"""Idle and half-open connections cannot exhaust the worker: a header-read deadline and a cap.

Why this exists.  uvicorn 0.54 starts its keep-alive timer only after a response, so a connection
that sends nothing, or trickles a request's headers, is held forever; 20k such connections used up
the worker's file descriptors and every real request failed.  BentoML 1.4.39 passes uvicorn only
``timeout_keep_alive``, ``backlog`` and its own per-request ``traffic`` limits (which start after
the headers are in); neither has a header-read timeout or a connection cap to set.  So this module
adds them in the one place uvicorn lets a server choose its behaviour, its HTTP protocol class:

* every connection must deliver a request's complete headers within ``header_timeout_s`` of
  connecting (or of the request's first byte on a kept-alive connection), else it is closed;
* beyond ``max_connections`` open connections, the oldest one still waiting for headers is closed
  to make room (the newcomer itself only if every connection is busy in a request), so real clients
  are not locked out by idle ones.

``install`` points uvicorn's ``auto`` protocol at ``GuardedHttpToolsProtocol``; the BentoML worker
builds its ``uvicorn.Config`` after importing the service, so the service module calls it.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header-read deadline and a connection cap."""

    header_timeout_s: float = 10.0
    max_connections: int = 1000
    _waiting: ClassVar[dict[GuardedHttpToolsProtocol, None]] = {}  # oldest first: awaiting headers

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._await_headers()
        if len(self.connections) > self.max_connections:
            victim = next(iter(self._waiting), self)
            victim._drop()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_headers()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def _await_headers(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout_s, self._drop)
            self._waiting[self] = None

    def _stop_waiting(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting.pop(self, None)

    def _drop(self) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.close()


def install(header_timeout_s: float, max_connections: int) -> None:
    """Make uvicorn's default (``auto``) HTTP protocol the guarded one, with these limits."""
    from uvicorn import config

    GuardedHttpToolsProtocol.header_timeout_s = header_timeout_s
    GuardedHttpToolsProtocol.max_connections = max_connections
    config.HTTP_PROTOCOLS["auto"] = f"{__name__}:GuardedHttpToolsProtocol"
