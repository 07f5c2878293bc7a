"""Soak under attack: does one hostile client hurt everyone else?

Two phases against one ``bentoml serve`` of the crowding service (the same server, back to back):

* ``baseline``  32 keep-alive clients on ``POST /forecast`` (bench/serving.py's load generator) for
  ``--seconds`` (default 60);
* ``hostile``   the same 32 clients, plus in parallel one hostile process doing both attacks of the
  hardening issue: requests with ten long unknown station names each (random mixes of U+FDFA,
  Hangul and Latin; the suggestion search used to run unbounded on the event loop) back to back on
  one connection, and a slowloris that keeps opening connections and trickles request headers
  into them without ever finishing (``--slow-connections`` at a time, replaced when the server
  drops one).

Printed: the normal clients' req/s, p50/p99 and errors per phase, the throughput drop, what the
hostile process got done, and the server process tree's open file descriptors and RSS (sampled
every 0.5 s).  Targets (issue 13): drop <= 20 %, 0 errors, descriptors bounded (the server's
connection cap, ``SEONGSU_SERVE_MAX_CONNECTIONS``, plus its own files).

    nice -n 10 uv run python bench/soak.py [--seconds 60] [--clients 32] [--slow-connections 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from serving import REPO, _resolve_package, load_once, start_server

from cli.supervisor import stop_process_group

TRICKLE_S = 5.0
"""Seconds between the header lines a slowloris connection trickles (classic slowloris: 5-15 s)."""
NAME_ALPHABET = "\ufdfa" * 8 + "가나다라마바사아자차카타파하성수역" + "abcdefghijklmnopqrstuvwxyz"


# --------------------------------------------------------------------------------------------------
# the hostile client (its own process: ``--hostile PORT SECONDS SLOW``)


async def _unknown_names(port: int, stop_at: float, stats: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random(13)
    try:
        while time.monotonic() < stop_at:
            names = ["".join(rng.choice(NAME_ALPHABET) for _ in range(60)) for _ in range(10)]
            body = json.dumps({"station": names}).encode()
            writer.write(
                b"POST /forecast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            status = int(head.split()[1])
            stats[f"names_{status}"] = stats.get(f"names_{status}", 0) + 1
    finally:
        writer.close()


async def _slow_headers(port: int, stop_at: float, stats: dict[str, int]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        stats["slow_refused"] = stats.get("slow_refused", 0) + 1
        return
    stats["slow_opened"] = stats.get("slow_opened", 0) + 1
    try:
        writer.write(b"POST /forecast HTTP/1.1\r\nHost: x\r\n")
        while time.monotonic() < stop_at:
            await asyncio.sleep(TRICKLE_S)
            writer.write(b"X-Slow: a\r\n")
            await writer.drain()
            if reader.at_eof():
                break
        else:
            return
        stats["slow_dropped_by_server"] = stats.get("slow_dropped_by_server", 0) + 1
    except (ConnectionError, OSError):
        stats["slow_dropped_by_server"] = stats.get("slow_dropped_by_server", 0) + 1
    finally:
        writer.close()


async def _hostile(port: int, seconds: float, slow: int, names_on: bool) -> dict[str, Any]:
    cpu0 = time.process_time()
    stop_at = time.monotonic() + seconds
    stats: dict[str, int] = {}
    slowloris: set[asyncio.Task[None]] = set()
    names = asyncio.create_task(_unknown_names(port, stop_at, stats) if names_on else asyncio.sleep(0))
    while time.monotonic() < stop_at:
        while len(slowloris) < slow and time.monotonic() < stop_at:
            task = asyncio.create_task(_slow_headers(port, stop_at, stats))
            slowloris.add(task)
            task.add_done_callback(slowloris.discard)
            if len(slowloris) % 50 == 0:
                await asyncio.sleep(0.05)  # ~1000 new connections/s at most
        await asyncio.sleep(0.2)
    await asyncio.gather(names, *slowloris, return_exceptions=True)
    return {**stats, "cpu_share": round((time.process_time() - cpu0) / seconds, 2)}


# --------------------------------------------------------------------------------------------------
# measurement


class TreeSampler(threading.Thread):
    """Max open file descriptors and RSS over a process and its children, sampled every 0.5 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.stop = threading.Event()
        self.max_fds = 0
        self.max_rss_mb = 0.0
        self.cpu_s = 0.0  # CPU seconds the server tree used while sampled
        self._cpu: dict[int, float] = {}

    def run(self) -> None:
        while not self.stop.wait(0.5):
            fds, rss = 0, 0
            for proc in [self.root, *self.root.children(recursive=True)]:
                try:
                    fds += proc.num_fds()
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                    used = times.user + times.system
                except psutil.Error:
                    continue
                self.cpu_s += used - self._cpu.get(proc.pid, used)
                self._cpu[proc.pid] = used
            self.max_fds = max(self.max_fds, fds)
            self.max_rss_mb = max(self.max_rss_mb, rss / 2**20)


def phase(pid: int, port: int, body: bytes, args: argparse.Namespace, hostile: bool) -> dict[str, Any]:
    sampler = TreeSampler(pid)
    sampler.start()
    attacker = None
    if hostile:
        attacker = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--hostile",
                str(port),
                str(args.seconds + 1),
                str(args.slow_connections if args.attack in ("both", "slow") else 0),
                str(int(args.attack in ("both", "names"))),
            ],
            stdout=subprocess.PIPE,
        )
        time.sleep(1.0)  # the attack is under way before the normal clients start
    result = load_once(port, body, args.clients, args.seconds)
    if attacker is not None:
        out, _ = attacker.communicate(timeout=120)
        result["hostile"] = json.loads(out)
    sampler.stop.set()
    sampler.join()
    result.update(
        max_fds=sampler.max_fds, max_rss_mb=sampler.max_rss_mb, server_cpu=sampler.cpu_s / args.seconds
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", help="a package directory (default: as bench/serving.py)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--slow-connections", type=int, default=3000)
    parser.add_argument(
        "--attack", choices=("both", "names", "slow"), default="both", help="which attacks run"
    )
    parser.add_argument(
        "--hostile", nargs=4, metavar=("PORT", "SECONDS", "SLOW", "NAMES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.hostile:
        port, seconds, slow = int(args.hostile[0]), float(args.hostile[1]), int(args.hostile[2])
        print(json.dumps(asyncio.run(_hostile(port, seconds, slow, args.hostile[3] == "1"))))
        return

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seongsu-soak-") as tmp:
        workdir = Path(tmp)
        package = _resolve_package(args.package, workdir)
        from bentos.crowding.lookup import load_index
        from tests.support.packages import publish

        index = load_index(package, "soak")
        body = json.dumps({"station": "211", "date": index.first_date.isoformat()}).encode()
        home = workdir / "bentoml"
        publish(package, home)
        env = {
            **os.environ,
            "BENTOML_HOME": str(home),
            "BENTOML_DO_NOT_TRACK": "true",
            "PYTHONPATH": str(REPO),
        }
        proc, port = start_server("bento", env, workdir, 1)
        try:
            runs = {
                name: phase(proc.pid, port, body, args, name == "hostile") for name in ("baseline", "hostile")
            }
        finally:
            stop_process_group(proc)

    base, attacked = runs["baseline"], runs["hostile"]
    print(
        f"{args.clients} clients x {args.seconds:g} s on POST /forecast {body.decode()}; attack: {args.attack}\n"
    )
    print(
        f"{'phase':<9} | {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} | {'max fds':>7} {'max RSS MB':>10} {'server CPU':>10}"
    )
    print("-" * 80)
    for name, r in runs.items():
        print(
            f"{name:<9} | {r['rps']:7.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['errors']:6d} | "
            f"{r['max_fds']:7d} {r['max_rss_mb']:10.0f} {100 * r['server_cpu']:9.0f}%"
        )
    drop = 1 - attacked["rps"] / base["rps"]
    print(f"\nthroughput drop under attack: {100 * drop:.1f} % (target <= 20 %)")
    print(f"hostile process: {json.dumps(attacked.get('hostile', {}), sort_keys=True)}")
    print(
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; total {time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
