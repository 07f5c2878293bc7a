"""Benchmark: how long a published package takes to replace the served one, under load.

The hot-swap test (tests/bentos/test_hot_swap.py) checks the behaviour -- no failed request, no thread
going back to the old version; how *fast* the swap is depends on the machine's load, so it is
measured here, not asserted there.  A real ``bentoml serve`` (reload poll ``--interval`` s) serves
v1 while ``--threads`` keep-alive clients hammer ``POST /forecast``; v2 is published and the time
until the first client, then every client, sees it is printed per round.

    uv run python bench/hot_swap.py [--rounds 3] [--threads 6] [--interval 0.5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.support.packages: build/publish/serve helpers shared with the tests


def one_round(workdir: Path, threads: int, interval: float) -> tuple[float, float, int]:
    from tests.support.packages import TRAIN_AS_OF, build_package, hammer_forecast, publish, running_service

    def hammer(url: str, stop: threading.Event, seen: dict[str, float], errors: list[str]) -> None:
        """Record when this client first saw each version."""
        hammer_forecast(
            url, stop, lambda body: seen.setdefault(body["model_version"], time.monotonic()), errors
        )

    home = workdir / "bentoml"
    v1 = build_package(workdir / "v1", version="bench-v1", as_of=TRAIN_AS_OF)
    v2 = build_package(workdir / "v2", version="bench-v2", as_of=TRAIN_AS_OF + dt.timedelta(days=1))
    publish(v1, home)
    with running_service(home, reload_interval_s=interval) as url:
        stop = threading.Event()
        seen: list[dict[str, float]] = [{} for _ in range(threads)]
        errors: list[str] = []
        pool = [threading.Thread(target=hammer, args=(url, stop, s, errors)) for s in seen]
        for t in pool:
            t.start()
        try:
            time.sleep(2.0)
            published = time.monotonic()
            publish(v2, home)
            deadline = published + 60
            while time.monotonic() < deadline and not all("bench-v2" in s for s in seen):
                time.sleep(0.05)
        finally:
            stop.set()
            for t in pool:
                t.join(timeout=30)
    times = [s["bench-v2"] - published for s in seen if "bench-v2" in s]
    if len(times) < threads:
        raise SystemExit(f"only {len(times)} of {threads} clients saw the new version within 60 s")
    return min(times), max(times), len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--interval", type=float, default=0.5, help="the service's reload poll, seconds")
    args = parser.parse_args()
    rows = []
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="seongsu-swap-") as tmp:
            rows.append(one_round(Path(tmp), args.threads, args.interval))
        print(
            f"round {n + 1}: first client {rows[-1][0]:.2f} s, every client {rows[-1][1]:.2f} s", flush=True
        )
    print(f"\n{args.threads} clients, reload poll {args.interval:g} s")
    print(f"{'round':>6} | {'first s':>8} {'all s':>8} {'errors':>6}")
    print("-" * 34)
    for n, (first, last, errors) in enumerate(rows, 1):
        print(f"{n:>6} | {first:8.2f} {last:8.2f} {errors:6d}")
    print(
        f"{'median':>6} | {statistics.median(r[0] for r in rows):8.2f} {statistics.median(r[1] for r in rows):8.2f}"
    )


if __name__ == "__main__":
    main()
