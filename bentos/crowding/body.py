"""Reading a request body under a size limit: the one reader of the service's ASGI middlewares.

Why one: ``Guard`` (every route) and the ``/forecast`` fast path both read bodies, and two loops had
drifted -- one passed a body cut short by a disconnect on as if it were complete, the other ignored
``Content-Length``.  Every case is decided here, and each refusal is a 4xx that says what to fix:

* a ``Content-Length`` that is not a number: 400;
* a declared ``Content-Length`` over the limit: 413 before a byte is read;
* a body that grows over the limit while streaming (no or a lying ``Content-Length``): 413 at once;
* a body that ends early (the client disconnected) or differs from its ``Content-Length``: 400,
  never handed on as if complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BodyRefused:
    """Why a body was not read: the HTTP status and the one-line error for the client."""

    status: int
    error: str


def header(scope: Any, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case) in an ASGI scope."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Any, receive: Any, limit: int) -> bytes | BodyRefused:
    """The whole body of an HTTP request, or why it is refused (see the module docstring)."""
    declared = header(scope, b"content-length")
    expected: int | None = None
    if declared is not None:
        text = declared.strip()
        if not text.isdigit():
            return BodyRefused(400, "the Content-Length header is not a number of bytes")
        expected = int(text)
        if expected > limit:
            return BodyRefused(413, f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return BodyRefused(400, "the request body ended early: the client disconnected while sending it")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return BodyRefused(413, f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if expected is not None and size != expected:
        return BodyRefused(400, f"the request body has {size} bytes but its Content-Length says {expected}")
    return b"".join(chunks)
