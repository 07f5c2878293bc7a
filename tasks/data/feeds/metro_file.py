"""Seoul Metro's "역별 일별 시간대별 승하차인원" file, in every layout the publisher ships it.

Why a file parser at all: the hourly per-station counts we forecast are published by Seoul Metro
(서울교통공사) as files, not through an API: monthly xlsx workbooks on its homepage and yearly CSVs on
data.go.kr (15048032) / data.seoul.go.kr (OA-12921).  The CSVs come in UTF-8, UTF-8 with a BOM and
CP949 depending on the year and the portal, and their headers are spelled slightly differently from
year to year (``06시 이전``/``06시이전``, ``06 ~ 07``/``06~07``/``06-07``, ``합 계``/``합계``).

Two rules shape this module:

* A header we do not fully understand is fatal (``FeedFormatError``).  Mapping the 20 hour bands by
  position or by a loose guess could silently shift a whole file by an hour, which no downstream check
  would notice; so every band column must be recognised, none may be missing or duplicated, and an
  unknown column that looks like a band (it contains a digit) is an error.  Columns without digits
  that we do not use (``연번``, a trailing empty column) are ignored.
* A bad *value* is not fatal and is never fixed here.  Counts are passed through as text (``count`` is
  ``pl.String``: negative numbers, ``"n/a"``, empty cells all survive) and an unknown ``구분`` value is
  passed through as-is in ``direction``, so the validator can quarantine each such row with a reason.
  The only normalisation is of *formatting*: surrounding whitespace, thousands separators (``1,234``)
  and Excel's ``150.0`` rendering of integers.

Two band layouts, both real: from 2023 the publisher splits the late evening into ``23 ~ 24`` and
``24시 이후`` (20 bands); the 2020-2022 files (yearly CSVs and monthly workbooks such as
``subway_202205.xlsx``, whose headers read ``06시 이전, 06시-07시, …, 23시 이후`` with a ``연번`` column
and no total) have ONE late band, ``23시 이후`` = 23:00 onward (19 bands).  That band is kept as
published: ``hour`` 23 with ``span_hours`` 2 and no hour-24 row (never split into invented values).
A header mixing the two layouts is fatal.

Daily-total check: the file's ``합계`` column is the sum of its 20 (or 19) bands.  Every long row carries
``total_mismatch`` (``pl.Boolean``): ``True`` when the source row's bands do not add up to its total,
``False`` when they do, null when it cannot be checked (no total column, or a band/total that is not
an integer; those rows are quarantined for their bad value anyway).  The column is not part of the
``ridership_hourly`` table: the validator reads it before conforming the frame.

Output of :func:`parse_metro_bytes` (``MetroFile``):

* ``hourly``: one row per (date, hour band, station, direction): ``date`` (``pl.Date``, null when the
  date cell cannot be read), ``hour`` (``pl.Int16``: 5 = before 06:00, 6..23 = the clock hour
  ``HH ~ HH+1``, 24 = after midnight), ``station_code`` (``pl.Int32``, from 역번호), ``direction``
  (``board`` for 승차, ``alight`` for 하차, anything else verbatim), ``count`` (``pl.String``),
  ``span_hours`` (``pl.Int16``: 1, or 2 for the merged ``23시 이후`` band) and ``total_mismatch``.
* ``stations``: ``station_code, station_name, line, name_en`` with the name as of the last date in the
  file and ``name_en`` romanised with korean_romanizer (Revised Romanization) and title-cased.
  ``line`` is spelled as in the newer files (``2호선``) even where an old file writes ``2``.

Inputs: xlsx workbooks, CSVs, and the 2020-2022 history as one parquet table in the publisher's
wide layout (``shared/data/raw/seoul-metro-hourly-2020-2022.parquet``, read as text like the rest).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import lru_cache

import polars as pl
from korean_romanizer.romanizer import Romanizer

from tasks.data.feeds.base import CSV_MEDIA_TYPE, FeedFormatError, RawPayload, WholeFileFeed

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# canonical name -> accepted header spellings (compared with all whitespace removed)
_ID_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("날짜", "수송일자", "일자"),
    "line": ("호선", "호선명"),
    "station_code": ("역번호",),
    "station_name": ("역명",),
    "direction": ("구분", "승하차구분"),
}
_TOTAL_ALIASES = ("합계",)
_BEFORE_6 = re.compile(r"^0?6시이전(시간대)?$")
_AFTER_24 = re.compile(r"^24시이후(시간대)?$")
_AFTER_23 = re.compile(r"^23시이후(시간대)?$")  # 2020-2022: one band from 23:00 onward
_BAND = re.compile(r"^(\d{1,2})시?[~\-－～](\d{1,2})시?(시간대)?$")
_WS = re.compile(r"[\s\u00a0\ufeff]+")

DIRECTION_MAP = {"승차": "board", "하차": "alight"}
HOURS = tuple(range(5, 25))
MERGED_HOURS = tuple(range(5, 24))  # the 19-band layout: 23 is "23시 이후", there is no 24
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class MetroFile:
    """One parsed publisher file: the long hourly frame and the stations it mentions."""

    hourly: pl.DataFrame
    stations: pl.DataFrame


# --------------------------------------------------------------------------------------------------
# shared helpers for the publishers' CSVs (also used by kma_file and card_file)


def decode_publisher_text(content: bytes, filename: str = "") -> str:
    """Decode a publisher CSV: UTF-8 (with or without BOM) first, then CP949 (EUC-KR superset).

    Polars reads only UTF-8, and the Korean portals still hand out CP949 files, so decoding happens
    here in Python.  UTF-8 is tried first because CP949 would "decode" many UTF-8 byte sequences into
    garbage instead of failing.
    """
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FeedFormatError(f"{filename or 'payload'}: neither UTF-8 nor CP949 text")


def read_publisher_csv(content: bytes, filename: str = "") -> pl.DataFrame:
    """Every cell as text, header names with whitespace removed, unnamed (empty) columns dropped."""
    text = decode_publisher_text(content, filename)
    if not text.strip():
        raise FeedFormatError(f"{filename or 'payload'}: empty file")
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            infer_schema=False,
            extra_columns="ignore",  # the portals end every data row with a comma
            missing_columns="insert",  # a short row keeps its key; the missing values become null
        )
    except pl.exceptions.PolarsError as exc:
        raise FeedFormatError(f"{filename or 'payload'}: unreadable CSV ({exc})") from exc
    return _clean_headers(frame, filename)


def _clean_headers(frame: pl.DataFrame, filename: str) -> pl.DataFrame:
    renamed = {c: _WS.sub("", c) for c in frame.columns}
    keep = [c for c in frame.columns if renamed[c] and not renamed[c].startswith("_duplicated_")]
    if len({renamed[c] for c in keep}) != len(keep):
        raise FeedFormatError(
            f"{filename}: duplicate column names after removing whitespace: {frame.columns}"
        )
    return frame.select(keep).rename({c: renamed[c] for c in keep})


def clean_number_text(expr: pl.Expr) -> pl.Expr:
    """Formatting-only cleanup of a numeric cell kept as text; bad values pass through unchanged."""
    s = expr.cast(pl.String).str.strip_chars()
    s = (
        pl.when(s.str.contains(r"^-?\d{1,3}(,\d{3})+$"))
        .then(s.str.replace_all(",", "", literal=True))
        .otherwise(s)
    )
    s = pl.when(s.str.contains(r"^-?\d+\.0+$")).then(s.str.replace(r"\.0+$", "")).otherwise(s)
    return pl.when(s == "").then(None).otherwise(s)


def parse_date_text(expr: pl.Expr) -> pl.Expr:
    """``2023-01-01``, ``20230101``, ``2023.01.01``, ``2023-01-01 00:00:00`` -> pl.Date (else null)."""
    s = expr.cast(pl.String).str.strip_chars().str.replace(r"[ T].*$", "").str.replace_all(r"[-./]", "")
    return s.str.strptime(pl.Date, "%Y%m%d", strict=False)


def parse_int_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Integer code or count from text; null when it is not an integer."""
    return clean_number_text(expr).cast(dtype, strict=False)


# --------------------------------------------------------------------------------------------------
# header recognition


def _band_hour(name: str) -> tuple[int, int] | None:
    """(hour band, hours spanned) of a whitespace-free column name, or None if it is not a band."""
    if _BEFORE_6.match(name):
        return 5, 1
    if _AFTER_24.match(name):
        return 24, 1
    if _AFTER_23.match(name):
        return 23, 2
    m = _BAND.match(name)
    if m:
        start, end = int(m.group(1)), int(m.group(2))
        if 6 <= start <= 23 and end == start + 1:
            return start, 1
    return None


@dataclass(frozen=True)
class _Header:
    ids: dict[str, str]  # canonical id -> column
    hours: dict[int, str]  # hour band -> column
    total: str | None
    merged_late: bool  # the 19-band layout ("23시 이후")

    @property
    def band_hours(self) -> tuple[int, ...]:
        return MERGED_HOURS if self.merged_late else HOURS


def _map_columns(columns: list[str], filename: str) -> _Header:
    """The header's meaning, or FeedFormatError naming the problem."""
    ids: dict[str, str] = {}
    hours: dict[int, str] = {}
    spans: dict[int, int] = {}
    total: str | None = None
    unknown_bands: list[str] = []
    for col in columns:
        canonical = next((k for k, names in _ID_ALIASES.items() if col in names), None)
        if canonical is not None:
            if canonical in ids:
                raise FeedFormatError(f"{filename}: two columns for {canonical}: {ids[canonical]!r}, {col!r}")
            ids[canonical] = col
            continue
        if col in _TOTAL_ALIASES:
            total = col
            continue
        band = _band_hour(col)
        if band is not None:
            hour, span = band
            if hour in hours:
                raise FeedFormatError(
                    f"{filename}: two columns for hour band {hour}: {hours[hour]!r}, {col!r}"
                )
            hours[hour], spans[hour] = col, span
        elif any(ch.isdigit() for ch in col):
            unknown_bands.append(col)
        # anything else (연번, 비고, ...) is not ours and is ignored
    if unknown_bands:
        raise FeedFormatError(f"{filename}: unknown hour column(s) {unknown_bands}")
    missing_ids = [k for k in _ID_ALIASES if k not in ids]
    if missing_ids:
        wanted = ", ".join("/".join(_ID_ALIASES[k]) for k in missing_ids)
        raise FeedFormatError(f"{filename}: missing column(s) {wanted}; header was {columns}")
    merged = spans.get(23) == 2
    if merged and 24 in hours:
        raise FeedFormatError(
            f"{filename}: both {hours[23]!r} (23:00 onward) and {hours[24]!r}: the bands overlap"
        )
    header = _Header(ids, hours, total, merged)
    missing_hours = [h for h in header.band_hours if h not in hours]
    if missing_hours:
        raise FeedFormatError(f"{filename}: missing hour band column(s) for hour(s) {missing_hours}")
    return header


# --------------------------------------------------------------------------------------------------
# parsing


def _is_parquet(content: bytes) -> bool:
    return content[:4] == PARQUET_MAGIC and content[-4:] == PARQUET_MAGIC


def _read_parquet(content: bytes, filename: str) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(io.BytesIO(content))
    except Exception as exc:  # polars/arrow raise various types for corrupt parquet
        raise FeedFormatError(f"{filename}: unreadable parquet ({exc})") from exc
    return _clean_headers(frame.select(pl.all().cast(pl.String)), filename)


def _is_xlsx(content: bytes, filename: str) -> bool:
    return content[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm"))


def _read_xlsx(content: bytes, filename: str) -> pl.DataFrame:
    try:
        # every cell as text: counts are validated downstream, never coerced here
        frame = pl.read_excel(content, read_options={"dtypes": "string"})
    except Exception as exc:  # calamine raises its own exception types
        raise FeedFormatError(f"{filename}: unreadable workbook ({exc})") from exc
    return _clean_headers(frame, filename)


def read_metro_wide(content: bytes, filename: str) -> pl.DataFrame:
    """The file as published (one row per date x station x 승차/하차), all cells text, headers cleaned."""
    if _is_parquet(content):
        return _read_parquet(content, filename)
    if _is_xlsx(content, filename):
        return _read_xlsx(content, filename)
    return read_publisher_csv(content, filename)


def parse_metro_bytes(content: bytes, filename: str) -> MetroFile:
    """Parse one Seoul Metro hourly file (xlsx, or CSV in UTF-8 / UTF-8-BOM / CP949)."""
    wide = read_metro_wide(content, filename)
    header = _map_columns(wide.columns, filename)
    ids, hours, total, band_hours = header.ids, header.hours, header.total, header.band_hours

    band_ints = [parse_int_text(pl.col(hours[h]), pl.Int64()) for h in band_hours]
    if total is None:
        mismatch = pl.lit(None, dtype=pl.Boolean)
    else:
        band_sum = pl.sum_horizontal(band_ints, ignore_nulls=False)
        mismatch = band_sum != parse_int_text(pl.col(total), pl.Int64())
    direction_raw = pl.col(ids["direction"]).str.strip_chars()
    line = pl.col(ids["line"]).str.strip_chars()

    keyed = wide.select(
        parse_date_text(pl.col(ids["date"])).alias("date"),
        parse_int_text(pl.col(ids["station_code"]), pl.Int32()).alias("station_code"),
        direction_raw.replace(DIRECTION_MAP).alias("direction"),
        mismatch.alias("total_mismatch"),
        pl.col(ids["station_name"]).str.strip_chars().alias("station_name"),
        pl.when(line.str.contains(r"^\d+$")).then(line + "호선").otherwise(line).alias("line"),
        *[clean_number_text(pl.col(hours[h])).alias(str(h)) for h in band_hours],
    )

    merged_span = 2 if header.merged_late else 1
    hourly = (
        keyed.unpivot(
            index=["date", "station_code", "direction", "total_mismatch"],
            on=[str(h) for h in band_hours],
            variable_name="hour",
            value_name="count",
        )
        .with_columns(pl.col("hour").cast(pl.Int16))
        .with_columns(span_hours=pl.when(pl.col("hour") == 23).then(merged_span).otherwise(1).cast(pl.Int16))
        .select("date", "hour", "station_code", "direction", "count", "span_hours", "total_mismatch")
    )
    return MetroFile(hourly=hourly, stations=stations_frame(keyed))


def stations_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``stations`` rows from a frame with date, station_code, station_name, line (latest name wins)."""
    latest = (
        frame.filter(pl.col("station_code").is_not_null(), pl.col("station_name").is_not_null())
        .sort("date", nulls_last=False, maintain_order=True)
        .unique("station_code", keep="last", maintain_order=False)
        .sort("station_code")
        .select(
            pl.col("station_code").cast(pl.Int32),
            pl.col("station_name"),
            pl.col("line"),
        )
    )
    return latest.with_columns(
        pl.col("station_name").map_elements(romanize_name, return_dtype=pl.String).alias("name_en")
    )


_WORD_START = re.compile(r"(^|[\s(\-·/,])([a-z])")


@lru_cache(maxsize=4096)
def romanize_name(name: str) -> str:
    """Revised Romanization, each word capitalised: 성수 -> Seongsu, 잠실(송파구청) -> Jamsil(Songpagucheong).

    ``str.title`` is not used because it capitalises after digits (종로3가 -> Jongro3Ga).
    """
    roman = Romanizer(name).romanize()
    return _WORD_START.sub(lambda m: m.group(1) + m.group(2).upper(), roman)


# --------------------------------------------------------------------------------------------------
# the feed


class FileFeed(WholeFileFeed):
    """A Seoul Metro hourly file on disk as a :class:`~tasks.data.feeds.base.WholeFileFeed` (CSV or
    XLSX).  ``fetch("stations", ...)`` returns the same bytes labelled ``stations`` and ``parse`` then
    gives the stations frame.
    """

    served = ("ridership_hourly", "stations")

    def media_type(self, content: bytes) -> str:
        return XLSX_MEDIA_TYPE if _is_xlsx(content, self.path.name) else CSV_MEDIA_TYPE

    def parse(self, payload: RawPayload) -> pl.DataFrame:
        parsed = parse_metro_bytes(payload.content, payload.name)
        if payload.dataset == "stations":
            return parsed.stations
        if payload.dataset == "ridership_hourly":
            return parsed.hourly
        raise ValueError(f"FileFeed cannot parse dataset {payload.dataset!r}")
