"""Every word the Space shows, in Korean and English side by side.

Why side by side rather than a language switch: the audience is both Seoul commuters and people
reading the project in English, the page is small enough to carry both, and a toggle would double
the number of UI states to test.  Keeping the copy here (not scattered through ``app.py``) makes the
wording reviewable in one place and keeps the callbacks about data, not prose.

Nothing here imports anything but the standard library: the module is shared by the app, the charts
and the tests, locally and on Hugging Face.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

TITLE: Final = "Daily Seongsu · 오늘의 성수역"
SUBTITLE: Final = (
    "서울 지하철 역별 시간대 승하차 예보 — 실제 2023년 데이터를 하루씩 재생합니다.  \n"
    "Hourly boardings and alightings for every Seoul Metro station, forecast from real 2023 data "
    "replayed one day at a time."
)

TAB_FORECAST: Final = "예보 · Forecast"
TAB_PIPELINE: Final = "파이프라인 · Pipeline"
TAB_ACCURACY: Final = "정확도 · Accuracy"
TAB_GUIDEBOOK: Final = "안내서 · Guidebook"
TAB_IDS: Final = ("forecast", "pipeline", "accuracy", "guidebook")
"""Tab ids, also accepted as ``?tab=<id>`` in the page URL (deep links, screenshots)."""

STATION_LABEL: Final = "역 · Station"
STATION_INFO: Final = (
    "한글/영문 이름 또는 역 코드 · Korean or English name, or station code (e.g. 성수, Gangnam, 222)"
)
DATE_LABEL: Final = "날짜 · Date"
DATE_INFO: Final = (
    "예보 가능한 날 또는 최근 실적이 있는 날 · a forecastable day, or a recent day with actuals"
)
SHOW_BUTTON: Final = "보기 · Show"
REFRESH_BUTTON: Final = "새로고침 · Refresh"
REFRESH_NOTE: Final = (
    "상태는 서버에서 20초 동안 캐시됩니다 · Status is cached on the server for 20 s "
    "(Prefect Cloud rate-limits its API; every visitor shares one answer)."
)
SCOPE_LABEL: Final = "범위 · Scope"
TABLE_LABEL: Final = "시간대별 값 · Hour by hour"
FRESHNESS_LABEL: Final = "데이터 최신성 · Data freshness"
ACCURACY_TABLE_LABEL: Final = "최근 평가 · Latest evaluation"
ADVANCE_BUTTON: Final = "재생 시계 하루 앞으로 · Advance the replay clock by one day"

DEFAULT_STATION: Final = "211"
DEFAULT_STATION_NAME: Final = "성수"

WEEKDAYS_KO: Final = ("월", "화", "수", "목", "금", "토", "일")
WEEKDAYS_EN: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

LEVELS: Final = (("여유", "Quiet"), ("보통", "Normal"), ("혼잡", "Busy"), ("매우혼잡", "Very busy"))
"""Same order and words as ``tasks.model.package.LEVELS`` (copied: the Space must not import ``tasks``)."""
LEVEL_COLORS: Final = ("#2e9e6a", "#e3b505", "#ef7d22", "#d43d3d")
NO_LEVEL_COLOR: Final = "#8c9aa8"
LEVEL_NOTE: Final = (
    "혼잡도는 그 역 자신의 평소 대비입니다(승차/하차별 시간당 인원의 50·80·95번째 백분위).  \n"
    "Crowding is relative to the station's own history: below its median hour is *Quiet*, up to the "
    "80th percentile *Normal*, up to the 95th *Busy*, above that *Very busy*."
)

DIRECTIONS: Final = {"board": ("승차", "Boardings"), "alight": ("하차", "Alightings")}
FIRST_BAND: Final = 5
LAST_BAND: Final = 24


def band_label(hour: int) -> str:
    """Readable hour band, same convention as the service (5 = before 06:00, 24 = after 24:00).

    No ``~``: Gradio's Markdown reads a pair of tildes as strikethrough."""
    if hour <= FIRST_BAND:
        return "<06:00"
    if hour >= LAST_BAND:
        return "24:00+"
    return f"{hour:02d}:00-{hour + 1:02d}:00"


def band_tick(hour: int) -> str:
    """Short x-axis tick for an hour band."""
    if hour <= FIRST_BAND:
        return "<06"
    if hour >= LAST_BAND:
        return "24+"
    return f"{hour:02d}"


def band_words(hour: int) -> tuple[str, str]:
    """The band in a sentence, Korean and English."""
    if hour <= FIRST_BAND:
        return "오전 6시 이전", "before 06:00"
    if hour >= LAST_BAND:
        return "자정 이후", "after midnight"
    return f"{hour}–{hour + 1}시", f"{hour:02d}:00–{hour + 1:02d}:00"


def day_label(day: dt.date) -> str:
    """``2023-06-21 (수 Wed)``."""
    wd = day.weekday()
    return f"{day.isoformat()} ({WEEKDAYS_KO[wd]} {WEEKDAYS_EN[wd]})"


def level_words(index: int | None) -> str:
    if index is None or not 0 <= index < len(LEVELS):
        return "—"
    ko, en = LEVELS[index]
    return f"{ko} {en}"


def people(value: float) -> str:
    """A count rounded for reading: forecasts are not exact to the person."""
    if value >= 1000:
        return f"{round(value, -1):,.0f}"
    return f"{value:,.0f}"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


# --- status messages (the page says plainly what is down; the rest keeps working) -------------------

SERVICE_NAMES: Final = {
    "bento": ("예보 서비스", "Forecast service (Bento)"),
    "prefect": ("파이프라인 오케스트레이터", "Pipeline orchestrator (Prefect)"),
    "data": ("데이터 저장소", "Data warehouse"),
    "clock": ("재생 시계", "Replay clock"),
}


def serving_kind(kind: str, forecaster: str) -> str:
    """Which kind serves: a trained model, or the baseline the gate fell back to (and which)."""
    if kind == "baseline":
        return f"기준선 · baseline **`{forecaster}`** (학습 모델이 이기지 못함 · no trained model beat it)"
    return f"학습 모델 · trained model `{forecaster}`"


def unavailable(service: str, reason: str) -> str:
    ko, en = SERVICE_NAMES.get(service, (service, service))
    return f"⚠️ **{ko}에 연결할 수 없습니다 · {en} is unavailable** — {reason}"


def available(service: str, detail: str) -> str:
    ko, en = SERVICE_NAMES.get(service, (service, service))
    return f"✅ **{ko} · {en}** — {detail}"


STILL_WORKS: Final = {
    "bento": "저장된 예보와 실적으로 보여 드립니다 · showing stored forecasts and actuals instead.",
    "prefect": "실행 기록만 빠집니다 · only the run history is missing; everything else still works.",
    "data": "실적·정확도·최신성은 잠시 볼 수 없습니다 · actuals, accuracy and freshness are missing for now.",
}


def unavailable_still_works(service: str, reason: str) -> str:
    """What is down, why, and what the page does instead."""
    return f"{unavailable(service, reason)}. {STILL_WORKS[service]}"


NO_FORECAST: Final = (
    "이 날의 예보가 없습니다 · No forecast for this day: pick a date from the list (the service "
    "forecasts up to 7 days after its issue date; past days need stored forecasts)."
)
NO_DATA_AT_ALL: Final = "이 역·날짜에 보여 드릴 값이 없습니다 · Nothing to show for this station and day."
BAD_DATE: Final = "날짜는 YYYY-MM-DD 형식으로 · Please give the date as YYYY-MM-DD"
SOURCE_LIVE: Final = "예보: 실시간 서비스 · Forecast: live service"
SOURCE_STORED: Final = "예보: 저장된 예보 · Forecast: stored in the warehouse"

RUNS_EMPTY: Final = (
    "아직 실행 기록이 없습니다 · No flow runs yet: they appear here as soon as a flow runs — `seongsu up` "
    "ingests and trains, each replayed day runs the daily pipeline, and a deployment runs on its schedule."
)
MONITORING_EMPTY_CHART: Final = (
    "아직 채점된 예보가 없습니다 · No forecast has been scored yet<br>"
    "(actuals are published about 3 days after the day — see the note)"
)
LOADING: Final = "⏳ 불러오는 중 · Loading…"
PUBLICATION_LAG_DAYS: Final = 3
"""Seoul Metro publishes a day's hourly counts about 3 days later (``tasks.model.features``; the Space
cannot import the project on Hugging Face, so the number is repeated here)."""
MONITORING_EMPTY: Final = (
    "아직 평가 기록이 없습니다 · **No scores yet.** 예보는 그날의 실적이 공개된 뒤(약 3일 후) 채점됩니다. "
    "Forecasts are scored once their day's actual counts are published, about 3 days after the day: "
    "the first forecasts of `seongsu up` are scored after **4 replayed days** (`seongsu replay --days 4`, "
    "or the Guidebook's button four times). WAPE and 80%-interval coverage per horizon will appear here."
)
CLOCK_LOCAL_ONLY: Final = "재생 시계는 로컬 실행에서만 · The replay clock can only be moved in a local run."
CLOCK_MISSING: Final = (
    "사용할 수 없음 · not available: this checkout has no `flows.replay.advance_clock` yet."
)

STATE_ICONS: Final = {
    "COMPLETED": "🟢",
    "RUNNING": "🔵",
    "PENDING": "🔵",
    "SCHEDULED": "⚪",
    "PAUSED": "🟡",
    "CANCELLING": "🟡",
    "CANCELLED": "⚫",
    "FAILED": "🔴",
    "CRASHED": "🔴",
}

ACCURACY_INTRO: Final = (
    "예보가 실제와 얼마나 달랐는지 — 최근 7일 기준, 예보 시점(며칠 전 예보인지)별.  \n"
    "How far the forecasts were from what really happened, over the last 7 target days, per horizon "
    "(how many days ahead the forecast was issued). **WAPE** = Σ|actual − forecast| / Σ actual: "
    "lower is better. **Coverage** = share of actual hours inside the 80% band: 80% is calibrated."
)

SCOPE_NAMES: Final = {"all": "전체 역 · all stations", "station:211": "성수 · Seongsu"}


def scope_label(scope: str) -> str:
    if scope in SCOPE_NAMES:
        return SCOPE_NAMES[scope]
    if scope.startswith("line:"):
        n = scope.split(":", 1)[1]
        return f"{n}호선 · Line {n}"
    if scope.startswith("station:"):
        return f"역 {scope.split(':', 1)[1]} · station {scope.split(':', 1)[1]}"
    return scope
