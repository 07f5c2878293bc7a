"""The serving benchmark's load generator: a raw asyncio HTTP/1.1 client on ``POST /forecast``.

No httpx: its per-request cost would dominate what is measured.  Runs in its own process
(``bench/serving.py --loadgen``), and reports its own CPU use so a saturated client cannot pass for
a slow server.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any


async def _client(
    port: int, request: bytes, warm_until: float, stop_at: float, lat: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length, chunked = 0, False
            for line in lines[1:]:
                key, _, value = line.partition(b":")
                key = key.strip().lower()
                if key == b"content-length":
                    length = int(value)
                elif key == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            t1 = time.perf_counter()
            if t0 >= warm_until:
                lat.append(t1 - t0)
                if status != 200:
                    errors.append(status)
    finally:
        writer.close()


async def load(port: int, body: bytes, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    request = (
        b"POST /forecast HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    lat: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    warm_until = start + warmup
    stop_at = warm_until + seconds
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    results = await asyncio.gather(
        *(_client(port, request, warm_until, stop_at, lat, errors) for _ in range(clients)),
        return_exceptions=True,
    )
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    failures = [r for r in results if isinstance(r, BaseException)]
    lat.sort()
    n = len(lat)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "clients": clients,
        "requests": n,
        "rps": n / seconds,
        "p50_ms": 1e3 * lat[n // 2] if n else None,
        "p99_ms": 1e3 * lat[min(n - 1, int(n * 0.99))] if n else None,
        "max_ms": 1e3 * lat[-1] if n else None,
        "errors": len(errors) + len(failures),
        "client_failures": [repr(f) for f in failures[:3]],
        "loadgen_cpu": cpu / (seconds + warmup),
    }
