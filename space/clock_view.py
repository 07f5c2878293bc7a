"""The guidebook's replay-clock panel (local runs only): status, the button's messages, the wait."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping

try:
    from space import texts
    from space.clients import Clients, ModelInfo, Unavailable
    from space.fmt import md_escape
    from space.forecast_view import parse_day
except ImportError:  # on Hugging Face the Space root is the working directory
    import texts  # type: ignore[no-redef]
    from clients import Clients, ModelInfo, Unavailable  # type: ignore[no-redef]
    from fmt import md_escape  # type: ignore[no-redef]
    from forecast_view import parse_day  # type: ignore[no-redef]


def clock_status(clients: Clients) -> str:
    clock = clients.clock
    if not clock.enabled:
        return texts.CLOCK_LOCAL_ONLY
    if not clock.available():
        return texts.CLOCK_MISSING
    today = clock.current()
    when = (
        f"재생 중인 오늘 · simulated today: **{texts.day_label(today)}**"
        if today
        else "재생이 아직 시작되지 않았습니다 · the replay has not started (`seongsu up`)"
    )
    return (
        f"{when}  \n버튼을 누르면 그날의 파이프라인(수집 → 모니터링 → 예보)이 실제로 실행됩니다 · "
        "The button runs the real daily pipeline for the next day (ingest → monitor → forecast, and a "
        "retrain if the monitor asks for one); it takes a minute or two."
    )


def advance_started(clients: Clients) -> str:
    """Shown at once when the button is pressed: the run takes minutes, say so."""
    today = clients.clock.current()
    day = f" for {today + dt.timedelta(days=1)}" if today else ""
    return (
        f"⏳ **실행 중 · Running the daily pipeline{day}** — ingest → monitor → forecast (→ retrain if "
        "the monitor asks), usually 1–3 minutes. Every tab refreshes when it is done."
    )


def wait_for_service(clients: Clients, as_of: dt.date | None, timeout_s: float = 30.0) -> None:
    """After the clock moved, wait (bounded) until the Bento service serves the new package, so
    the refreshed panels show the new forecasts rather than the old ones for another poll."""
    if as_of is None or clients.bento is None:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        clients.bento.clear()
        model = clients.model()
        if isinstance(model, ModelInfo) and model.as_of is not None and model.as_of >= as_of:
            return
        time.sleep(1.0)


def advance_clock(clients: Clients) -> str:
    result = clients.clock.advance(1)
    if isinstance(result, Unavailable):
        return texts.unavailable("clock", result.reason)
    wait_for_service(clients, parse_day(result.get("as_of")))
    clients.clear()
    lines = [
        "✅ **재생 시계를 하루 앞으로 옮겼습니다 · Replay clock advanced by one day** "
        f"— now {result.get('as_of', '?')}"
    ]
    days = result.get("days")
    for day in days if isinstance(days, list) else []:
        if not isinstance(day, Mapping):
            continue
        alerts = day.get("alerts") or []
        retrain = "retrain requested" if day.get("retrain_requested") else "no retrain needed"
        lines.append(f"- {day.get('as_of', '?')}: pipeline done, {retrain}")
        lines += [f"  - ⚠️ {md_escape(str(a))}" for a in alerts[:5]]
    if not isinstance(days, list):
        lines += [f"- {k}: `{v}`" for k, v in result.items() if k != "as_of"]
    return "\n".join(lines)
