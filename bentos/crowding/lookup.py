"""The in-memory forecast index: everything ``/forecast`` needs, precomputed from one model package.

Why precompute: a forecast request is a lookup into ``forecasts.parquet`` (the package already holds
every station x day x hour band x direction for its horizon), so the only per-request work left is
resolving the station names and concatenating bytes.  At load time each (station, day, hour band) row
is rendered once -- both directions, the crowding levels from the station's thresholds, the band
label -- and serialized with orjson; a request joins ~20 ready-made fragments per station-day.  This
keeps the handler in the tens of microseconds and makes its cost independent of the package size.

It is also why the index is pure Python (polars + orjson only, no BentoML, no CatBoost): the Bento
service, the FastAPI baseline and the tests share it, and it is built off the request path by the
hot-swap watcher, then published by swapping a single reference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bentos.crowding.directory import InputError, OutOfRange, Station, StationDirectory
from bentos.crowding.schemas import FIRST_BAND, LAST_BAND, band_label
from tasks.core.schema import DIRECTIONS
from tasks.model.package import LEVELS, ModelPackage, crowding_level, read_package

INTERVAL = 0.8
"""Coverage of [lo, hi]: the package stores the 10% and 90% quantiles (tasks.model.recipe.QUANTILES)."""
N_BANDS = LAST_BAND - FIRST_BAND + 1

Cell = tuple[float, float, float, int | None]
"""One direction of one hour: yhat, lo, hi, level index (None when the station has no thresholds)."""


# --------------------------------------------------------------------------------------------------
# rendering


def _cell_obj(cell: Cell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    yhat, lo, hi, level = cell
    return {
        "yhat": round(yhat, 1),
        "lo": round(lo, 1),
        "hi": round(hi, 1),
        "level": None if level is None else LEVELS[level][0],
        "level_en": None if level is None else LEVELS[level][1],
        "level_index": level,
    }


def _row_obj(day: dt.date, hour: int, board: Cell | None, alight: Cell | None) -> dict[str, Any]:
    levels = [c[3] for c in (board, alight) if c is not None and c[3] is not None]
    top = max(levels) if levels else None
    return {
        "date": day,
        "hour": hour,
        "band": band_label(hour),
        "boardings": _cell_obj(board),
        "alightings": _cell_obj(alight),
        "level": None if top is None else LEVELS[top][0],
        "level_en": None if top is None else LEVELS[top][1],
        "level_index": top,
    }


@dataclass(frozen=True, slots=True)
class _Hour:
    board: Cell | None
    alight: Cell | None
    json: bytes


# --------------------------------------------------------------------------------------------------
# the index


class ForecastIndex:
    """All forecasts of one package, keyed by (station code, date), rendered once.

    ``forecast_json`` is the service's fast path (bytes out); ``forecast_data`` returns the same
    answer as Python objects (what a conventional handler would build per request; the FastAPI
    baseline uses it).  Both raise ``InputError`` for stations or dates the package cannot answer.
    """

    def __init__(self, package: ModelPackage, tag: str) -> None:
        meta = package.metadata
        self.metadata = meta
        self.tag = tag
        self.loaded_at = datetime.now(UTC)
        stations = [
            Station(
                int(r["station_code"]), str(r["station_name"]), str(r["name_en"] or ""), str(r["line"] or "")
            )
            for r in package.stations.iter_rows(named=True)
        ]
        self.directory = StationDirectory(stations)

        self.thresholds: dict[int, dict[str, tuple[float, float, float]]] = {}
        for code, direction, q50, q80, q95 in package.levels.select(
            "station_code", "direction", "q50", "q80", "q95"
        ).iter_rows():
            if q50 is not None and q80 is not None and q95 is not None:
                self.thresholds.setdefault(int(code), {})[str(direction)] = (
                    float(q50),
                    float(q80),
                    float(q95),
                )

        fc = package.forecasts.select("station_code", "date", "hour", "direction", "yhat", "lo", "hi")
        if fc.is_empty():
            raise ValueError(f"package {tag} has no forecasts")
        self.first_date: dt.date = fc["date"].min()  # type: ignore[assignment]
        self.last_date: dt.date = fc["date"].max()  # type: ignore[assignment]

        cells: dict[tuple[int, dt.date, int], dict[str, Cell]] = {}
        for code, day, hour, direction, yhat, lo, hi in fc.iter_rows():
            if yhat is None:
                continue
            th = self.thresholds.get(code, {}).get(direction)
            level = None if th is None else crowding_level(yhat, *th)
            lo_ = yhat if lo is None else lo
            hi_ = yhat if hi is None else hi
            cells.setdefault((code, day, hour), {})[direction] = (yhat, lo_, hi_, level)

        days: dict[tuple[int, dt.date], list[_Hour | None]] = {}
        for (code, day, hour), dirs in cells.items():
            if not FIRST_BAND <= hour <= LAST_BAND:
                continue
            board, alight = dirs.get("board"), dirs.get("alight")
            slot = days.setdefault((code, day), [None] * N_BANDS)
            slot[hour - FIRST_BAND] = _Hour(board, alight, orjson.dumps(_row_obj(day, hour, board, alight)))
        self._days = {k: tuple(v) for k, v in days.items()}
        self._codes = {code for code, _ in self._days}

        by_code = {st.code: st for st in stations}
        self._stations = {code: by_code.get(code, Station(code, str(code), "", "")) for code in self._codes}
        self._station_head = {
            code: orjson.dumps(self._station_obj(st))[:-2] for code, st in self._stations.items()
        }  # '{..., "forecasts":[' : rows and b"]}" are appended per request
        self._head = orjson.dumps(self._envelope())[:-2]  # '{..., "stations":['

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def station_count(self) -> int:
        return len(self._codes)

    @property
    def forecastable(self) -> dict[str, dt.date]:
        return {"start": self.first_date, "end": self.last_date}

    def _envelope(self) -> dict[str, Any]:
        return {
            "model_version": self.metadata.version,
            "package": self.tag,
            "as_of": self.metadata.as_of,
            "interval": INTERVAL,
            "forecastable": self.forecastable,
            "stations": [],
        }

    def _station_obj(self, st: Station) -> dict[str, Any]:
        th = self.thresholds.get(st.code, {})
        return {
            "station_code": st.code,
            "station_name": st.name,
            "name_en": st.name_en,
            "line": st.line,
            "thresholds": {
                d: {"q50": th[d][0], "q80": th[d][1], "q95": th[d][2]} for d in DIRECTIONS if d in th
            },
            "forecasts": [],
        }

    # -- request handling ------------------------------------------------------------------------
    def resolve(self, refs: Sequence[str]) -> list[Station]:
        """Stations for the references, in request order, without duplicates; InputError if unknown."""
        out: list[Station] = []
        for ref in refs:
            found = [st for st in self.directory.resolve(ref) if st.code in self._codes]
            if not found:
                matches = ", ".join(st.label for st in self.directory.resolve(ref))
                raise InputError(f"{matches} has no forecasts in package {self.tag}")
            out.extend(st for st in found if st not in out)
        return out

    def check_range(self, start: dt.date, end: dt.date) -> None:
        if start < self.first_date or end > self.last_date:
            asked = start.isoformat() if start == end else f"{start}..{end}"
            raise OutOfRange(
                f"{asked} is outside what the served package can forecast: {self.first_date}.."
                f"{self.last_date} (as_of {self.metadata.as_of}, model {self.metadata.version}); "
                "ask for dates in that range",
                forecastable={"start": self.first_date.isoformat(), "end": self.last_date.isoformat()},
            )

    def _hours(
        self, code: int, start: dt.date, end: dt.date, hour_start: int, hour_end: int
    ) -> Iterable[_Hour]:
        lo, hi = hour_start - FIRST_BAND, hour_end - FIRST_BAND + 1
        day = start
        one = dt.timedelta(days=1)
        while day <= end:
            hours = self._days.get((code, day))
            if hours is not None:
                yield from (h for h in hours[lo:hi] if h is not None)
            day += one

    def forecast_json(
        self, refs: Sequence[str], start: dt.date, end: dt.date, hour_start: int, hour_end: int
    ) -> bytes:
        """The ``ForecastResponse`` JSON for a validated request, assembled from prerendered rows."""
        stations = self.resolve(refs)
        self.check_range(start, end)
        parts = [self._head]
        for i, st in enumerate(stations):
            if i:
                parts.append(b",")
            parts.append(self._station_head[st.code])
            parts.append(b",".join(h.json for h in self._hours(st.code, start, end, hour_start, hour_end)))
            parts.append(b"]}")
        parts.append(b"]}")
        return b"".join(parts)

    def forecast_data(
        self, refs: Sequence[str], start: dt.date, end: dt.date, hour_start: int, hour_end: int
    ) -> dict[str, Any]:
        """Same answer as ``forecast_json`` as Python objects, built per call."""
        stations = self.resolve(refs)
        self.check_range(start, end)
        body = self._envelope()
        for st in stations:
            obj = self._station_obj(st)
            obj["forecasts"] = [
                _row_obj(day, hour, h.board, h.alight)
                for day, hour, h in self._hours_with_keys(st.code, start, end, hour_start, hour_end)
            ]
            body["stations"].append(obj)
        return body

    def _hours_with_keys(
        self, code: int, start: dt.date, end: dt.date, hour_start: int, hour_end: int
    ) -> Iterable[tuple[dt.date, int, _Hour]]:
        day = start
        while day <= end:
            hours = self._days.get((code, day))
            if hours is not None:
                for hour in range(hour_start, hour_end + 1):
                    h = hours[hour - FIRST_BAND]
                    if h is not None:
                        yield day, hour, h
            day += dt.timedelta(days=1)

    def model_info(self) -> dict[str, Any]:
        """What ``GET /model`` returns (``schemas.ModelInfo``)."""
        m = self.metadata
        return {
            "version": m.version,
            "package": self.tag,
            "promoted_at": _utc(m.promoted_at),
            "trained_at": _utc(m.trained_at),
            "metrics": m.metrics,
            "training_data": {"start": m.data_start, "end": m.data_end, "hash": m.data_hash},
            "as_of": m.as_of,
            "horizon_days": m.horizon_days,
            "forecastable": self.forecastable,
            "stations": self.station_count,
            "code_version": m.code_version,
            "weather_source": m.weather_source,
            "wandb_run": m.wandb_run,
            "loaded_at": self.loaded_at,
            "kind": m.kind,
            "forecaster": m.forecaster,
            "why": (m.metrics.get("decision") or {}).get("reason"),
        }


def _utc(at: dt.datetime | None) -> dt.datetime | None:
    """The registry stores UTC wall time without an offset; ``/model`` promises RFC 3339 date-times."""
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


def package_root(path: Path) -> Path:
    """The package directory inside a BentoML model directory (the files, or one level down)."""
    if (path / "metadata.json").exists():
        return path
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        if (child / "metadata.json").exists() and (child / "forecasts.parquet").exists():
            return child
    raise FileNotFoundError(f"{path} holds no model package (no metadata.json)")


def load_index(path: Path, tag: str) -> ForecastIndex:
    """Read the package at ``path`` (a package dir or a BentoML model dir) and index it."""
    return ForecastIndex(read_package(package_root(path)), tag)
