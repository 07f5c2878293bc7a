"""Benchmark: the Bento crowding service vs. a plain FastAPI + uvicorn app on the same package.

Loopback load on ``POST /forecast`` (one station, one day = 20 hour bands, ~6.6 kB of JSON) at 1, 8
and 32 concurrent keep-alive clients, a few seconds per level after a short warm-up; p50, p99,
requests/s and errors per server, side by side.  Servers run one at a time (this is a 2-core box)
with the same number of worker processes, and the load generator is a separate process: a raw
asyncio HTTP/1.1 client (no httpx: its per-request cost would dominate), whose own CPU use is
reported so a saturated client cannot pass for a slow server.

Servers:
  bento           ``bentoml serve bentos.crowding.service:CrowdingService``
  fastapi         ``bench/fastapi_app.py`` idiomatic (response_model serialization)
  fastapi-bytes   the same FastAPI app returning the Bento handler's pre-rendered bytes

Before the load runs, an in-process profile drives each ASGI app directly (no sockets) to show where
a request's time goes: the lookup itself, request parsing, and each framework's stack.

    uv run python bench/serving.py [--package DIR] [--seconds 3] [--workers 1] [--servers bento,fastapi]

Without ``--package`` it serves ``seongsu-crowding:latest`` from the model store in SEONGSU_HOME if
there is one, else builds the small real test package (tests/support/packages.py).  The model store
it serves from is always a temporary copy, so the benchmark never touches yours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from asgi_profile import profile  # siblings: this script's directory is on sys.path
from loadgen import load

from cli.supervisor import stop_process_group

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.support.packages: build/publish helpers shared with the tests

LEVELS_DEFAULT = (1, 8, 32)
SERVERS = ("bento", "fastapi", "fastapi-bytes")


# --------------------------------------------------------------------------------------------------
# orchestration


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def _server_cmd(kind: str, port: int, workers: int) -> tuple[list[str], dict[str, str], str]:
    py = sys.executable
    if kind == "bento":
        cmd = [py, "-m", "bentoml", "serve", "bentos.crowding.service:CrowdingService"]
        return (
            [*cmd, "--host", "127.0.0.1", "--port", str(port)],
            {"SEONGSU_SERVE_WORKERS": str(workers)},
            "/readyz",
        )
    mode = "bytes" if kind == "fastapi-bytes" else "idiomatic"
    cmd = [py, "-m", "uvicorn", "--factory", "bench.fastapi_app:create_app_from_env"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return [*cmd, "--log-level", "warning", "--no-access-log"], {"SEONGSU_FASTAPI_MODE": mode}, "/healthz"


def start_server(
    kind: str, env: dict[str, str], workdir: Path, workers: int
) -> tuple[subprocess.Popen[bytes], int]:
    """Start one server in its own process group and wait until it is ready."""
    port = _free_port()
    cmd, extra, ready = _server_cmd(kind, port, workers)
    log = workdir / f"{kind}.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env={**env, **extra}, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}{ready}", proc, log)
    except BaseException:
        stop_process_group(proc)
        raise
    return proc, port


def load_once(port: int, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--loadgen", str(port), str(clients), str(seconds)],
        input=body,
        capture_output=True,
        check=True,
        timeout=seconds + 60,
    )
    return dict(json.loads(out.stdout))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds of rps/p50/p99 (one noisy round on a shared box cannot decide); errors summed."""

    def med(key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return statistics.median(values) if values else None

    return {
        "rps": med("rps"),
        "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"),
        "errors": sum(r["errors"] for r in runs),
        "loadgen_cpu": med("loadgen_cpu"),
        "rounds": runs,
    }


def _resolve_package(arg: str | None, workdir: Path) -> Path:
    if arg:
        return Path(arg)
    from tasks.core.runtime import prepare_environment
    from tasks.core.settings import get_settings

    prepare_environment(get_settings())
    try:
        import bentoml

        from bentos.crowding.lookup import package_root

        return package_root(Path(bentoml.models.get("seongsu-crowding:latest").path))
    except Exception:
        from tests.support.packages import build_package

        print(
            "no seongsu-crowding:latest in the model store: building the small test package", file=sys.stderr
        )
        return build_package(workdir / "package")


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", help="a package directory (default: see the module docstring)")
    parser.add_argument("--seconds", type=float, default=2.5, help="measured seconds per level and round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the median is reported")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS_DEFAULT)))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--loadgen", nargs=3, metavar=("PORT", "CLIENTS", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", nargs=2, metavar=("KIND", "PACKAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.loadgen:
        port, clients, seconds = int(args.loadgen[0]), int(args.loadgen[1]), float(args.loadgen[2])
        print(json.dumps(asyncio.run(load(port, sys.stdin.buffer.read(), clients, seconds, warmup=0.5))))
        return
    if args.profile:
        print(json.dumps(profile(args.profile[0], Path(args.profile[1]), sys.stdin.buffer.read())))
        return

    levels = tuple(int(x) for x in args.levels.split(","))
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers {sorted(unknown)}; choose from {SERVERS}")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seongsu-bench-") as tmp:
        workdir = Path(tmp)
        package = _resolve_package(args.package, workdir)
        from bentos.crowding.lookup import load_index

        index = load_index(package, "bench")
        body = json.dumps({"station": "211", "date": index.first_date.isoformat()}).encode()
        home = workdir / "bentoml"
        env = {
            **os.environ,
            "BENTOML_HOME": str(home),
            "BENTOML_DO_NOT_TRACK": "true",
            "SEONGSU_FASTAPI_PACKAGE": str(package),
            "PYTHONPATH": str(REPO),
        }
        subprocess.run(
            [sys.executable, "-c", "import sys; from tests.support.packages import publish; "
             "from pathlib import Path; print(publish(Path(sys.argv[1]), Path(sys.argv[2])))",
             str(package), str(home)],
            cwd=REPO, env=env, check=True, capture_output=True,
        )  # fmt: skip

        print(f"package: {package} (model {index.metadata.version}, {index.station_count} stations)")
        print(
            f"request: POST /forecast {body.decode()}  ->  {len(index.forecast_json(['211'], index.first_date, index.first_date, 5, 24))} bytes\n"
        )

        prof: dict[str, float] = {}
        for kind in ("lookup", *servers):
            out = subprocess.run(
                [sys.executable, __file__, "--profile", kind, str(package)],
                input=body, env=env, cwd=REPO, capture_output=True, check=True, timeout=300,
            )  # fmt: skip
            prof.update(json.loads(out.stdout.splitlines()[-1]))
        print("where a request's time goes (in-process, no sockets), microseconds per request:")
        for name, us in prof.items():
            print(f"  {name:<42} {us:9.1f}")
        print()

        # All servers up at once (idle ones cost nothing), then rounds that interleave them level by
        # level: the other engineers' load on this shared machine hits every server alike.
        procs: dict[str, subprocess.Popen[bytes]] = {}
        ports: dict[str, int] = {}
        raw: dict[str, dict[int, list[dict[str, Any]]]] = {k: {c: [] for c in levels} for k in servers}
        try:
            for kind in servers:
                procs[kind], ports[kind] = start_server(kind, env, workdir, args.workers)
            for _ in range(args.rounds):
                for clients in levels:
                    for kind in servers:
                        raw[kind][clients].append(load_once(ports[kind], body, clients, args.seconds))
        finally:
            for proc in procs.values():
                stop_process_group(proc)
        results = {k: [summarize(raw[k][c]) for c in levels] for k in servers}

    header = f"{'clients':>7} | " + " | ".join(f"{k + f' ({args.workers}w)':^36}" for k in servers)
    sub = f"{'':>7} | " + " | ".join(
        f"{'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} {'gen%':>5}" for _ in servers
    )
    print(header)
    print(sub)
    print("-" * len(sub))
    for i, clients in enumerate(levels):
        cells = []
        for kind in servers:
            r = results[kind][i]
            cells.append(
                f"{r['rps']:8.0f} {_fmt(r['p50_ms']):>7} {_fmt(r['p99_ms']):>7} {r['errors']:4d} {100 * r['loadgen_cpu']:5.0f}"
            )
        print(f"{clients:>7} | " + " | ".join(cells))
    if "bento" in results:
        for other in (k for k in servers if k != "bento"):
            ratios = [
                results["bento"][i]["rps"] / max(results[other][i]["rps"], 1e-9) for i in range(len(levels))
            ]
            print(
                f"bento / {other} throughput: "
                + ", ".join(f"{c} clients {r:.2f}x" for c, r in zip(levels, ratios, strict=True))
            )
    print(
        f"\n(median of {args.rounds} interleaved rounds of {args.seconds:g} s; gen% = the load generator's "
        f"own CPU use; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        f"total {time.perf_counter() - t_start:.0f} s)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"profile_us": prof, "results": results}, indent=2))


if __name__ == "__main__":
    main()
