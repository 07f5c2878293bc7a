"""Formatting shared by the Space's views: every time a person reads is KST and says so.

The warehouse and Prefect store UTC (naive timestamps are UTC by the project's convention); the
Space is for people in Seoul, so one zone, labelled, everywhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

KST = dt.timezone(dt.timedelta(hours=9), "KST")


def fmt_time(value: dt.datetime | None) -> str:
    """``2023-06-21 09:30 KST`` (naive values are UTC)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(KST).strftime("%Y-%m-%d %H:%M KST")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


def md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def schedule_text(entry: dict[str, Any]) -> str:
    """A deployment schedule in words: ``30 6 * * * (Asia/Seoul)``, ``every 10 min``; ``(off)``."""
    schedule = entry.get("schedule") or {}
    if "cron" in schedule:
        text = f"{schedule['cron']} ({schedule.get('timezone') or 'UTC'})"
    elif "interval" in schedule:
        text = f"every {fmt_duration(float(schedule['interval']))}"
    else:
        text = str(schedule.get("rrule", "?"))
    return text if entry.get("active", True) else f"{text} (off)"
