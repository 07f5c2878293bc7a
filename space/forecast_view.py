"""The forecast tab's pure parts: station and date parsing, the hour x direction view, the summary
in words and the readable hour table.  No I/O: tested directly."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import polars as pl

try:
    from space import texts
except ImportError:  # on Hugging Face the Space root is the working directory
    import texts  # type: ignore[no-redef]

HOURS = tuple(range(texts.FIRST_BAND, texts.LAST_BAND + 1))
DAY_HOURS = tuple(range(6, 24))
"""Hours considered for "the quietest hour": the bands before 06:00 and after midnight are partial
(first and last trains) and would always win, which tells a rider nothing."""


def parse_day(value: Any) -> dt.date | None:
    """The ISO date at the start of a dropdown value or typed text ('2023-06-21 (수 Wed) ...')."""
    if isinstance(value, dt.date):
        return value
    match = re.search(r"\d{4}-\d{2}-\d{2}", str(value or ""))
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(0))
    except ValueError:
        return None


def station_choices(stations: pl.DataFrame) -> list[tuple[str, str]]:
    """Dropdown entries ``(label, code)``; searching by Korean or English name works on the label."""
    out = []
    for row in stations.sort("station_code").iter_rows(named=True):
        label = f"{row['station_name']} {row['name_en'] or ''} · {row['line']} ({row['station_code']})"
        out.append((" ".join(label.split()), str(row["station_code"])))
    return out


def resolve_station(ref: str, stations: pl.DataFrame) -> list[int]:
    """Station codes matching a code, Korean name (with or without 역 / the parenthesised suffix) or
    English name (any case) -- the same references the Bento service accepts, for the fallback path."""
    ref = ref.strip()
    if not ref:
        return []
    if ref.isdigit():
        code = int(ref)
        return [code] if stations.is_empty() or code in stations["station_code"].to_list() else []
    key = ref.removesuffix("역").lower().replace(" ", "")
    matches = []
    for row in stations.iter_rows(named=True):
        name = str(row["station_name"] or "")
        names = {name.lower(), name.split("(")[0].lower(), str(row["name_en"] or "").lower().replace(" ", "")}
        if key in names:
            matches.append(int(row["station_code"]))
    return matches


def apply_thresholds(frame: pl.DataFrame, thresholds: Mapping[str, Mapping[str, float]]) -> pl.DataFrame:
    """Crowding level per row from a station's q50/q80/q95 (for stored forecasts, which carry none)."""
    if not thresholds:
        return frame

    def level(direction: str, value: float | None) -> int | None:
        q = thresholds.get(direction)
        if q is None or value is None:
            return None
        if value >= q.get("q95", float("inf")):
            return 3
        if value >= q.get("q80", float("inf")):
            return 2
        if value >= q.get("q50", float("inf")):
            return 1
        return 0

    levels = [level(d, v) for d, v in zip(frame["direction"], frame["yhat"], strict=True)]
    return frame.with_columns(level=pl.Series(levels, dtype=pl.Int8))


def build_view(forecast: pl.DataFrame | None, actuals: pl.DataFrame | None) -> pl.DataFrame:
    """One row per hour band x direction: ``hour, direction, yhat, lo, hi, level, actual``."""
    grid = pl.DataFrame(
        {
            "hour": [h for h in HOURS for _ in texts.DIRECTIONS],
            "direction": [d for _ in HOURS for d in texts.DIRECTIONS],
        },
        schema={"hour": pl.Int16, "direction": pl.String},
    )
    fc_schema = {"yhat": pl.Float64, "lo": pl.Float64, "hi": pl.Float64, "level": pl.Int8}
    if forecast is not None and forecast.height:
        fc = forecast.select(
            pl.col("hour").cast(pl.Int16),
            "direction",
            *(pl.col(c).cast(t) for c, t in fc_schema.items()),
        )
        grid = grid.join(fc, on=["hour", "direction"], how="left")
    else:
        grid = grid.with_columns(*(pl.lit(None, dtype=t).alias(c) for c, t in fc_schema.items()))
    if actuals is not None and actuals.height:
        act = actuals.select(
            pl.col("hour").cast(pl.Int16), "direction", pl.col("count").cast(pl.Float64).alias("actual")
        )
        grid = grid.join(act, on=["hour", "direction"], how="left")
    else:
        grid = grid.with_columns(actual=pl.lit(None, dtype=pl.Float64))
    return grid


def hourly_totals(view: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per hour: boardings, alightings, their sum and the busier direction's level."""
    wide = view.group_by("hour").agg(
        board=pl.col(column).filter(pl.col("direction") == "board").first(),
        alight=pl.col(column).filter(pl.col("direction") == "alight").first(),
        level=pl.col("level").max(),
    )
    return wide.with_columns(total=pl.col("board").fill_null(0) + pl.col("alight").fill_null(0)).sort("hour")


def summary_markdown(view: pl.DataFrame, title: str) -> str:
    """The quietest and busiest hours in words, Korean and English, with the day's totals."""
    column = "yhat" if view["yhat"].is_not_null().any() else "actual"
    what_ko, what_en = ("예보", "forecast") if column == "yhat" else ("실제", "actual")
    totals = hourly_totals(view, column).filter(
        pl.col("board").is_not_null() | pl.col("alight").is_not_null()
    )
    lines = [f"### {title}"]
    if totals.is_empty():
        return "\n".join([*lines, texts.NO_DATA_AT_ALL])
    busiest = totals.sort("total", descending=True).row(0, named=True)
    daytime = totals.filter(pl.col("hour").is_in(DAY_HOURS))
    quietest = (daytime if daytime.height else totals).sort("total").row(0, named=True)

    def describe(row: Mapping[str, Any]) -> tuple[str, str]:
        ko_band, en_band = texts.band_words(int(row["hour"]))
        board, alight = texts.people(row["board"] or 0), texts.people(row["alight"] or 0)
        level = row["level"]
        ko_level = f" — {texts.LEVELS[level][0]}" if level is not None else ""
        en_level = f" — {texts.LEVELS[level][1]}" if level is not None else ""
        ko = f"{ko_band}, 승차 약 {board}명 · 하차 약 {alight}명{ko_level}"
        en = f"{en_band}, about {board} boarding and {alight} alighting{en_level}"
        return ko, en

    busy_ko, busy_en = describe(busiest)
    quiet_ko, quiet_en = describe(quietest)
    day_board = texts.people(float(totals["board"].fill_null(0).sum()))
    day_alight = texts.people(float(totals["alight"].fill_null(0).sum()))
    lines += [
        f"🔺 **가장 붐비는 시간**: {busy_ko}  ",
        f"🔻 **가장 한산한 시간** (6–24시): {quiet_ko}  ",
        f"하루 {what_ko} 합계: 승차 {day_board}명 · 하차 {day_alight}명",
        "",
        f"🔺 **Busiest hour**: {busy_en}  ",
        f"🔻 **Quietest hour** (06:00–24:00): {quiet_en}  ",
        f"Day total ({what_en}): {day_board} boardings · {day_alight} alightings",
    ]
    if column == "yhat" and view["actual"].is_not_null().any():
        act = hourly_totals(view, "actual")
        lines.append(
            f"  \n실제 · actual: 승차 boardings {texts.people(float(act['board'].fill_null(0).sum()))} · "
            f"하차 alightings {texts.people(float(act['alight'].fill_null(0).sum()))}"
        )
    return "\n".join(lines)


HOUR_COLUMNS = (
    "시간대 Hour",
    "승차 예보 Boardings (80%)",
    "하차 예보 Alightings (80%)",
    "혼잡도 Crowding",
    "실제 승차 Actual board",
    "실제 하차 Actual alight",
)


def hour_table(view: pl.DataFrame) -> pl.DataFrame:
    """The chart's numbers as a readable table (rounded people, intervals, level words)."""

    def fmt(y: float | None, lo: float | None, hi: float | None) -> str:
        if y is None:
            return ""
        if lo is None or hi is None:
            return texts.people(y)
        return f"{texts.people(y)} ({texts.people(lo)}–{texts.people(hi)})"

    rows = []
    for hour in HOURS:
        part = {r["direction"]: r for r in view.filter(pl.col("hour") == hour).iter_rows(named=True)}
        b, a = part.get("board", {}), part.get("alight", {})
        levels = [x for x in (b.get("level"), a.get("level")) if x is not None]
        cells = (
            texts.band_label(hour),
            fmt(b.get("yhat"), b.get("lo"), b.get("hi")),
            fmt(a.get("yhat"), a.get("lo"), a.get("hi")),
            texts.level_words(max(levels)) if levels else "",
            texts.people(b["actual"]) if b.get("actual") is not None else "",
            texts.people(a["actual"]) if a.get("actual") is not None else "",
        )
        rows.append(dict(zip(HOUR_COLUMNS, cells, strict=True)))
    return pl.DataFrame(rows)


def empty_hour_table() -> pl.DataFrame:
    """The hour table's columns with no rows (Gradio shows "1 | 2 | 3" for a frame without columns)."""
    return pl.DataFrame(schema=dict.fromkeys(HOUR_COLUMNS, pl.String))
