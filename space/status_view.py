"""The banner above the tabs: one line per dependency, up or not, in plain words."""

from __future__ import annotations

try:
    from space import texts
    from space.clients import Clients, Unavailable
except ImportError:  # on Hugging Face the Space root is the working directory
    import texts  # type: ignore[no-redef]
    from clients import Clients, Unavailable  # type: ignore[no-redef]


def banner(clients: Clients) -> str:
    lines = []
    model = clients.model()
    if isinstance(model, Unavailable):
        lines.append(texts.unavailable_still_works("bento", model.reason))
    else:
        days = model.forecast_days
        span = f"{days[0]} … {days[-1]}" if days else "—"
        lines.append(texts.available("bento", f"model `{model.version}`, forecasts {span}"))
    runs = clients.runs()
    if isinstance(runs, Unavailable):
        lines.append(texts.unavailable_still_works("prefect", runs.reason))
    else:
        lines.append(
            texts.available("prefect", f"{len(runs.deployments)} deployments, {len(runs.recent)} recent runs")
        )
    fresh = clients.data.freshness()
    if isinstance(fresh, Unavailable):
        lines.append(texts.unavailable_still_works("data", fresh.reason))
    else:
        newest = next((f.newest for f in fresh if f.table == "ridership_hourly"), None)
        lines.append(texts.available("data", f"{clients.data.description}, ridership up to {newest or '—'}"))
    return "  \n".join(lines)
