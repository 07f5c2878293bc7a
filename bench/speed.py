"""Benchmark: the speed targets of issue 10 on a fresh temporary ``SEONGSU_HOME``.

Each step is the production command line in a child process (no re-implementation): ``seongsu
ingest`` of the whole snapshot, ``seongsu train`` (features, bounded search, backtest, comparison,
promotion), ``seongsu forecast`` of every station x 7 days (and again with ``--model`` for the
trained model when the gate served a baseline: the heavier path) and, with ``--up``, a first ``seongsu up``
on a second fresh home (it starts servers: the benchmark interrupts it once it is up, as Ctrl-C
would, and the command stops what it started).  Per step: wall seconds, CPU seconds (user + sys of
the process and its children -- on a shared machine the wall time includes waiting for a core, the
CPU time does not) and peak RSS of the process tree (sampled every 0.2 s), next to the target.  The
train step is broken down by the stages the flow announces (``tasks.core.progress``).

Per-dataset and per-backend ingest numbers without Prefect in the loop: ``bench/ingest.py``.

    nice -n 5 uv run python bench/speed.py [--as-of 2023-06-01] [--time-budget 280] [--up] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[1]
TARGETS = {  # issue 10, "Speed"
    "ingest_rows_s": 250_000,
    "train_s": 300.0,
    "up_s": 240.0,
    "forecast_s": 10.0,
    "rss_gb": 6.0,
}
TRAIN_BUDGET_S = 280.0
"""The train flow's whole-run budget as deployed (``TrainPlan.time_budget_s``, also ``up``'s first
training): the train step runs what the weekly deployment runs."""
STAGE_LINE = re.compile(r"^\s*([\d.]+)s (\w[\w ]*?)(?::(.*)|$)")


@dataclass
class Run:
    """One measured child process."""

    wall_s: float
    cpu_s: float
    rss_bytes: int
    returncode: int
    stdout: str
    stderr: str
    interrupted: bool = False


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a child that exited meanwhile
            total += p.memory_info().rss
    return total


def measure(
    cmd: list[str], env: dict[str, str], *, until: str | None = None, timeout_s: float = 3600.0
) -> Run:
    """Run ``cmd``: its wall time and the peak RSS of its process tree (the CPU time is the caller's
    ``ChildCpu``).  ``until``: interrupt it (SIGINT, as Ctrl-C) once a stdout line contains this --
    the wall time is taken there; the CPU time includes the shutdown."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    ps = psutil.Process(proc.pid)
    peak = 0
    out: list[str] = []
    err: list[str] = []
    reached = threading.Event()
    ready_at: list[float] = []

    def read_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if until and until in line and not reached.is_set():
                ready_at.append(time.perf_counter() - started)
                reached.set()

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)

    readers = [threading.Thread(target=f, daemon=True) for f in (read_out, read_err)]
    for t in readers:
        t.start()
    interrupted = False
    try:
        while proc.poll() is None:
            peak = max(peak, _tree_rss(ps))
            if reached.is_set() and not interrupted:
                proc.send_signal(signal.SIGINT)
                interrupted = True
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"{' '.join(cmd)} took over {timeout_s:.0f} s")
            time.sleep(0.2)
    finally:
        if proc.poll() is None:  # timeout or Ctrl-C of the benchmark itself: stop the whole session
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    wall = ready_at[0] if ready_at else time.perf_counter() - started
    for t in readers:
        t.join(5)
    return Run(wall, 0.0, peak, proc.returncode, "".join(out), "".join(err), interrupted)


class ChildCpu:
    """User + sys CPU seconds of every child reaped between ``start`` and ``stop``."""

    def __enter__(self) -> ChildCpu:
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._t0 = usage.ru_utime + usage.ru_stime
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.seconds = usage.ru_utime + usage.ru_stime - self._t0


def seongsu(args: list[str], env: dict[str, str], **kw: object) -> Run:
    """``seongsu ARGS`` in the benchmark's environment, measured."""
    with ChildCpu() as cpu:
        run = measure([sys.executable, "-m", "cli", *args], env, **kw)  # type: ignore[arg-type]
    run.cpu_s = cpu.seconds
    if run.returncode != 0 and not (run.interrupted and run.returncode in (-signal.SIGINT, 130)):
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
        raise SystemExit(f"seongsu {' '.join(args)} failed with exit code {run.returncode}")
    return run


def fresh_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEONGSU_", "PREFECT_"))}
    env.update(
        SEONGSU_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        GRADIO_ANALYTICS_ENABLED="False",
        BENTOML_DO_NOT_TRACK="true",
        WANDB_MODE="offline",
        COLUMNS="400",
        # a loaded machine starts the commands' ephemeral Prefect server slower than the 20 s default
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    return env


def stage_times(stderr: str, total_s: float) -> list[tuple[str, float]]:
    """Seconds per stage from the ``  12.3s stage: detail`` lines the CLI prints (consecutive lines of
    one stage merged; the first span is start-up, the last runs to the end of the command; "search"
    includes the final forecasts and the candidate's package, "backtest" the recipe's one fit for the
    comparison window and every baseline)."""
    marks = [
        (float(m.group(1)), "load history" if (m.group(3) or "").startswith(" loading") else m.group(2))
        for m in map(STAGE_LINE.match, stderr.splitlines())
        if m
    ]
    spans: list[tuple[str, float]] = []
    previous, name = 0.0, "start-up (Prefect, imports)"
    for at, stage in [*marks, (total_s, "")]:
        if spans and spans[-1][0] == name:
            spans[-1] = (name, spans[-1][1] + at - previous)
        elif at > previous or not spans:
            spans.append((name, at - previous))
        previous = at
        name = stage
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", default="2023-06-01", help="Issue date of the train and forecast runs.")
    parser.add_argument("--time-budget", type=float, default=TRAIN_BUDGET_S, help="Train run budget (s).")
    parser.add_argument("--up", action="store_true", help="Also time a first `seongsu up` (starts servers).")
    parser.add_argument(
        "--keep", action="store_true", help="Keep the temporary homes (their paths are printed)."
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="seongsu-speed-"))
    rows: list[tuple[str, float, float, int, str, bool | None]] = []
    try:
        env = fresh_env(root / "home")
        ingest = seongsu(["ingest", "--json"], env)
        n = sum(int(s["rows_in"]) for s in json.loads(ingest.stdout))
        rate = n / ingest.wall_s
        rows.append(
            (
                f"ingest, whole snapshot ({n:,} rows): {rate:,.0f} rows/s wall, {n / ingest.cpu_s:,.0f} per CPU s",
                ingest.wall_s,
                ingest.cpu_s,
                ingest.rss_bytes,
                f">= {TARGETS['ingest_rows_s']:,} rows/s",
                rate >= TARGETS["ingest_rows_s"],
            )
        )
        train = seongsu(
            ["train", "--as-of", args.as_of, "--time-budget", str(args.time_budget), "--json"], env
        )
        result = json.loads(train.stdout)
        rows.append(
            (
                f"train flow ({'promoted' if result['promoted'] else 'rejected'}; serving {result['serving'].get('forecaster')})",
                train.wall_s,
                train.cpu_s,
                train.rss_bytes,
                f"<= {TARGETS['train_s']:.0f} s",
                train.wall_s <= TARGETS["train_s"],
            )
        )
        for stage, seconds in stage_times(train.stderr, train.wall_s):
            rows.append((f"  {stage}", seconds, float("nan"), 0, "", None))
        out = root / "forecast.csv"
        fc = seongsu(["forecast", "--as-of", args.as_of, "--out", str(out)], env)
        rows.append(
            (
                f"forecast, all stations x 7 days ({sum(1 for _ in out.open()) - 1:,} rows)",
                fc.wall_s,
                fc.cpu_s,
                fc.rss_bytes,
                f"<= {TARGETS['forecast_s']:.0f} s",
                fc.wall_s <= TARGETS["forecast_s"],
            )
        )
        runs = [ingest, train, fc]
        if result["serving"].get("version") != result["version"]:
            # the gate served a baseline: time the trained model too (`--model`), the heavier path
            model_out = root / "forecast-model.csv"
            fm = seongsu(
                ["forecast", "--as-of", args.as_of, "--out", str(model_out), "--model", result["version"]],
                env,
            )
            rows.append(
                (
                    f"forecast by the trained model (`--model`, {result['version']}), all stations x 7 days",
                    fm.wall_s,
                    fm.cpu_s,
                    fm.rss_bytes,
                    f"<= {TARGETS['forecast_s']:.0f} s",
                    fm.wall_s <= TARGETS["forecast_s"],
                )
            )
            runs.append(fm)
        if args.up:
            up_env = fresh_env(root / "home-up")
            ports = ["--prefect-port", "--bento-port", "--space-port"]
            cmd = ["up", *(x for p in ports for x in (p, str(free_port())))]
            first_up = seongsu(cmd, up_env, until="Ctrl-C stops everything", timeout_s=3600.0)
            rows.append(
                (
                    "first `seongsu up`, fresh home (to the URLs)",
                    first_up.wall_s,
                    first_up.cpu_s,
                    first_up.rss_bytes,
                    f"<= {TARGETS['up_s']:.0f} s",
                    first_up.wall_s <= TARGETS["up_s"],
                )
            )
            runs.append(first_up)
        peak = max(r.rss_bytes for r in runs)
        rows.append(
            (
                "peak memory (process tree, any step)",
                float("nan"),
                float("nan"),
                peak,
                f"<= {TARGETS['rss_gb']:.0f} GB",
                peak <= TARGETS["rss_gb"] * 1e9,
            )
        )
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    load_after = os.getloadavg()
    table = Table(
        title=f"Speed on {os.cpu_count()} cores; load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
        f"(1 min); train/forecast as of {args.as_of}, train run budget {args.time_budget:.0f} s"
    )
    for col in ("step", "wall s", "CPU s", "peak RSS", "target", "met?"):
        table.add_column(col, justify="left" if col in ("step", "target") else "right")
    for step, wall, cpu, rss, target, met in rows:
        table.add_row(
            step,
            "" if wall != wall else f"{wall:.1f}",
            "" if cpu != cpu else f"{cpu:.1f}",
            f"{rss / 1e9:.2f} GB" if rss else "",
            target,
            "" if met is None else ("yes" if met else "[red]no[/red]"),
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
