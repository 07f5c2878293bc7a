"""Request and response models of the crowding service (pydantic v2).

They are the single source of truth for validation *and* documentation: BentoML and the FastAPI
baseline both derive their OpenAPI schemas from these classes, and the service's hand-assembled
JSON bytes are checked against ``ForecastResponse`` in the tests, so the fast path cannot drift
from what the docs promise.

Validation here is everything that can be decided from the request alone (types, hour bands,
range length, date/start/end combinations).  What needs the served package -- does the station
exist, can the package forecast those dates -- is checked by ``lookup.ForecastIndex`` and answered
with a 422 naming what to change.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    create_model,
    field_validator,
    model_validator,
)

from tasks.core.schema import DIRECTIONS, HOUR_BANDS
from tasks.model.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from tasks.model.package import LEVELS

FIRST_BAND = HOUR_BANDS[0]
LAST_BAND = HOUR_BANDS[-1]
MAX_RANGE_DAYS = 7
"""Longest date range of one request: the model's horizon, so one call can fetch a whole package."""
MAX_STATIONS = 10
"""Station references per request; a name may expand to several codes (transfer stations)."""
MAX_STATION_CHARS = 60
"""Longest station reference (a code or a name) accepted."""
INT32_MAX = 2**31 - 1
"""Station codes are int32 in the warehouse and the model; anything larger is not a station."""
MAX_PREDICT_ROWS = 1000
"""Rows per ``/predict`` call: bounds CatBoost time per request (~ms per 1000 rows)."""

LEVEL_DEFINITION = (
    "Crowding levels are relative to each station's own history, per direction: the thresholds "
    "are the 50th, 80th and 95th percentiles (q50/q80/q95) of that station's hourly counts in the "
    "training data (levels.parquet of the model package). A forecast (yhat) below q50 is "
    f"{LEVELS[0][0]} ({LEVELS[0][1]}), q50..q80 {LEVELS[1][0]} ({LEVELS[1][1]}), q80..q95 "
    f"{LEVELS[2][0]} ({LEVELS[2][1]}), q95 and above {LEVELS[3][0]} ({LEVELS[3][1]}). "
    "'Busy' at a small station can be fewer people than 'Quiet' at Gangnam: the level says how "
    "unusual the hour is for that station, not how many people are there. The row-level `level` "
    "is the busier of boardings and alightings."
)


def band_label(hour: int) -> str:
    """Human label of a publisher hour band: 5 is everything before 06:00, 24 everything after 24:00."""
    if hour == FIRST_BAND:
        return "before 06:00"
    if hour == LAST_BAND:
        return "after 24:00"
    return f"{hour:02d}:00-{hour + 1:02d}:00"


# --------------------------------------------------------------------------------------------------
# /forecast

StationRef = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STATION_CHARS, pattern=r"\S")]
"""A station code or name as text: what the schema promises is exactly what the validator accepts."""
StationCode = Annotated[int, Field(ge=1, le=INT32_MAX)]


class ForecastRequest(BaseModel):
    """Which stations, which days and which hour bands to return."""

    # title: names the model in validation errors ("1 validation error for ForecastRequest") even
    # through BentoML's IODescriptor subclass; "example" (singular): BentoML emits OpenAPI 3.0.
    model_config = ConfigDict(
        extra="forbid",
        title="ForecastRequest",
        json_schema_extra={"example": {"station": "성수", "hour_start": 7, "hour_end": 9}},
    )

    station: StationRef | StationCode | list[StationRef | StationCode] = Field(
        description="One station or a list (at most 10): a station code ('211'), a Korean name ('성수', "
        "'성수역') or an English name ('Seongsu', case-insensitive). A name shared by several lines "
        "(e.g. 건대입구 on lines 2 and 7) returns every matching station.",
    )
    date: dt.date | None = Field(
        default=None,
        description="One day (YYYY-MM-DD). Omit date, start and end for the package's next day (as_of + 1).",
    )
    start: dt.date | None = Field(default=None, description="First day of a range (instead of `date`).")
    end: dt.date | None = Field(
        default=None,
        description=f"Last day of the range, inclusive (default: start); at most {MAX_RANGE_DAYS} days.",
    )
    hour_start: int = Field(
        default=FIRST_BAND,
        ge=FIRST_BAND,
        le=LAST_BAND,
        description="First hour band (5 = before 06:00, 6..23 = that clock hour, 24 = after midnight).",
    )
    hour_end: int = Field(
        default=LAST_BAND, ge=FIRST_BAND, le=LAST_BAND, description="Last hour band, inclusive."
    )

    @field_validator("station", mode="before")
    @classmethod
    def _station_refs(cls, value: Any) -> Any:
        """Accept ``211`` as well as ``"211"``; reject empty and oversized lists with a usable message."""
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValueError('give at least one station, e.g. "station": "성수"')
        if len(items) > MAX_STATIONS:
            raise ValueError(
                f"at most {MAX_STATIONS} stations per request, got {len(items)}: split the request"
            )
        out: list[Any] = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise ValueError(
                    f'a station is a code or a name (string), not {type(item).__name__}: e.g. "211" or "성수"'
                )
            text = str(item).strip()
            if not text or len(text) > MAX_STATION_CHARS:
                raise ValueError(
                    f"station {item!r} is empty or too long: use a code ('211') or a name ('성수')"
                )
            out.append(text)
        return out if isinstance(value, list) else out[0]

    @model_validator(mode="after")
    def _ranges(self) -> ForecastRequest:
        if self.date is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either `date` or `start`/`end`, not both")
        if self.end is not None and self.start is None:
            raise ValueError("`end` needs a `start` (or use `date` for a single day)")
        if self.start is not None and self.end is not None:
            if self.end < self.start:
                raise ValueError(f"`end` {self.end} is before `start` {self.start}: swap them")
            days = (self.end - self.start).days + 1
            if days > MAX_RANGE_DAYS:
                last = self.start + dt.timedelta(days=MAX_RANGE_DAYS - 1)
                raise ValueError(
                    f"range too long: {days} days (at most {MAX_RANGE_DAYS}); e.g. end={last.isoformat()}"
                )
        if self.hour_start > self.hour_end:
            raise ValueError(
                f"hour_start {self.hour_start} is after hour_end {self.hour_end}: bands run from "
                f"{FIRST_BAND} (before 06:00) to {LAST_BAND} (after midnight) and do not wrap"
            )
        return self

    @property
    def stations(self) -> list[str]:
        """The station references as a list of strings (after validation)."""
        return [str(s) for s in self.station] if isinstance(self.station, list) else [str(self.station)]

    def date_range(self, default: dt.date) -> tuple[dt.date, dt.date]:
        """(first, last) requested day; ``default`` (the package's next day) when none was given."""
        if self.date is not None:
            return self.date, self.date
        if self.start is not None:
            return self.start, self.end or self.start
        return default, default


class DirectionForecast(BaseModel):
    yhat: float = Field(description="Median forecast of the hourly count.")
    lo: float = Field(description="Lower end of the 80% interval (10th percentile).")
    hi: float = Field(description="Upper end of the 80% interval (90th percentile).")
    level: str | None = Field(description="Crowding level in Korean: 여유 / 보통 / 혼잡 / 매우혼잡.")
    level_en: str | None = Field(description="Quiet / Normal / Busy / Very busy.")
    level_index: int | None = Field(description="0..3, see the level definition.")


class HourForecast(BaseModel):
    date: dt.date
    hour: int = Field(description="Publisher hour band 5..24.")
    band: str = Field(description="Readable band, e.g. '08:00-09:00'.")
    boardings: DirectionForecast | None
    alightings: DirectionForecast | None
    level: str | None = Field(description="The busier of the two directions.")
    level_en: str | None
    level_index: int | None


class Thresholds(BaseModel):
    q50: float
    q80: float
    q95: float


class StationForecast(BaseModel):
    station_code: int
    station_name: str
    name_en: str
    line: str
    thresholds: dict[str, Thresholds] = Field(
        description="Level thresholds per direction ('board', 'alight') of this station."
    )
    forecasts: list[HourForecast]


class DateRange(BaseModel):
    start: dt.date
    end: dt.date


class ForecastResponse(BaseModel):
    model_version: str
    package: str = Field(description="The BentoML model tag the answer came from.")
    as_of: dt.date = Field(description="Issue date of the forecasts.")
    interval: float = Field(description="Coverage of [lo, hi].")
    forecastable: DateRange
    stations: list[StationForecast]


# --------------------------------------------------------------------------------------------------
# /predict

_FEATURE_DOCS: dict[str, str] = {
    "station_code": "Station code (categorical).",
    "direction": "'board' or 'alight' (categorical).",
    "hour": "Hour band 5..24.",
    "horizon": "Days between as_of and the target date (1..7).",
}


FEATURE_ABS_MAX = 1e9
"""Largest magnitude of a numeric feature: far above any real count, small enough that the model's
target decoding stays finite (1e300 lags overflowed to null predictions)."""
FeatureValue = Annotated[float, Strict(), Field(ge=-FEATURE_ABS_MAX, le=FEATURE_ABS_MAX, allow_inf_nan=False)]
"""A JSON number (not a boolean or a numeric string, which lax parsing would coerce)."""


def _feature_field(name: str) -> tuple[Any, Any]:
    doc = _FEATURE_DOCS.get(name, "Numeric feature; null when unknown (see tasks/model/features.py).")
    if name == "station_code":
        return int, Field(ge=1, le=INT32_MAX, description=doc)
    if name == "direction":
        return Literal[DIRECTIONS], Field(description=doc)
    if name in CATEGORICAL_FEATURES:
        return Annotated[str, Strict()], Field(description=doc)
    return FeatureValue | None, Field(description=doc)


FeatureRow: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "FeatureRow",
    __config__=ConfigDict(extra="forbid"),
    __doc__="One row of model features (tasks.model.features.FEATURE_COLUMNS); every column is required, "
    "numeric ones may be null.",
    **{name: _feature_field(name) for name in FEATURE_COLUMNS},
)
"""Built from ``FEATURE_COLUMNS`` so the request schema follows the feature code automatically."""

PredictRequest: type[BaseModel] = create_model(
    "PredictRequest",
    __config__=ConfigDict(extra="forbid", title="PredictRequest"),
    __doc__=f"Feature rows to score, 1..{MAX_PREDICT_ROWS} per call.",
    rows=(list[FeatureRow], Field(min_length=1, max_length=MAX_PREDICT_ROWS)),  # type: ignore[valid-type]
)


class Prediction(BaseModel):
    yhat: float
    lo: float
    hi: float


class PredictResponse(BaseModel):
    model_version: str
    package: str
    predictions: list[Prediction]


# --------------------------------------------------------------------------------------------------
# /model


class ModelInfo(BaseModel):
    version: str
    package: str = Field(description="BentoML model tag being served.")
    promoted_at: dt.datetime | None
    trained_at: dt.datetime
    metrics: dict[str, Any]
    training_data: dict[str, Any] = Field(description="start, end and sha256 of the training snapshot.")
    as_of: dt.date
    horizon_days: int
    forecastable: DateRange
    stations: int
    code_version: str
    weather_source: str
    wandb_run: str | None
    loaded_at: dt.datetime = Field(description="When this server process swapped the package in (UTC).")
    kind: str = Field(
        "model",
        description="What serves: 'model' (a trained forecaster) or 'baseline' (no trained model beat "
        "the best baseline on the promotion window, so that baseline is packaged and served).",
    )
    forecaster: str = Field(
        "catboost", description="The model's or the baseline's name, e.g. 'profile_holiday'."
    )
    why: str | None = Field(None, description="The promotion decision that put this package in service.")


class ErrorResponse(BaseModel):
    error: str
    suggestions: list[str] | None = None
    forecastable: DateRange | None = None
