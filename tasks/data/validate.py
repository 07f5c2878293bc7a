"""Validation before load: every row either loads or lands in quarantine with its reason.

Three layers, cheapest first:
1. types: each value is cast to the table's dtype; a value that is present but does not cast
   ("abc" in a count) is a failed row, not a null;
2. rules: per-table checks written as a pandera schema (ranges, allowed values, not-null) plus
   cross-field checks (e.g. the publisher's daily total disagreeing with the sum of its hour bands);
3. duplicates: two rows for one primary key in a batch are both quarantined when they disagree;
   an exact copy of a row is quarantined as a duplicate and the original loads.
Quarantined rows keep their original text (JSON) and are keyed by a hash of it, so re-running an
ingest of the same bad file leaves the quarantine table unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

import pandera.polars as pa
import polars as pl

from tasks.core.schema import DIRECTIONS, MERGED_LATE_BAND, QUARANTINE, TABLES, WEATHER_PROVIDERS, Table
from tasks.data.feeds.metro_file import parse_int_text

MAX_HOURLY_COUNT = 100_000  # no Seoul Metro station has moved 100k people through its gates in one hour
MAX_DAILY_COUNT = 1_000_000

_ROW = "__row"
UNEXPLAINED = "failed validation (no detail: report this as a bug)"
"""Last resort so that no quarantined row ever has an empty reason."""


def _checks(table: str) -> dict[str, pa.Column]:
    count_ok = [pa.Check.ge(0)]
    rules: dict[str, dict[str, pa.Column]] = {
        "ridership_hourly": {
            "date": pa.Column(pl.Date, nullable=False),
            "hour": pa.Column(pl.Int16, pa.Check.in_range(5, 24), nullable=False),
            "station_code": pa.Column(pl.Int32, pa.Check.gt(0), nullable=False),
            "direction": pa.Column(pl.String, pa.Check.isin(list(DIRECTIONS)), nullable=False),
            "count": pa.Column(pl.Int32, [*count_ok, pa.Check.le(MAX_HOURLY_COUNT)], nullable=False),
            "span_hours": pa.Column(pl.Int16, pa.Check.isin([1, 2]), nullable=False),
        },
        "ridership_daily": {
            "date": pa.Column(pl.Date, nullable=False),
            "line": pa.Column(pl.String, pa.Check.str_length(1, 40), nullable=False),
            "station_name": pa.Column(pl.String, pa.Check.str_length(1, 60), nullable=False),
            "boardings": pa.Column(pl.Int32, [*count_ok, pa.Check.le(MAX_DAILY_COUNT)], nullable=False),
            "alightings": pa.Column(pl.Int32, [*count_ok, pa.Check.le(MAX_DAILY_COUNT)], nullable=False),
        },
        "ridership_monthly_hourly": {
            "month": pa.Column(pl.Date, nullable=False),
            "clock_hour": pa.Column(pl.Int16, pa.Check.in_range(0, 23), nullable=False),
            "boardings": pa.Column(pl.Int64, count_ok, nullable=False),
            "alightings": pa.Column(pl.Int64, count_ok, nullable=False),
        },
        "weather_hourly": {
            "ts": pa.Column(pl.Datetime("us"), nullable=False),
            "temp_c": pa.Column(pl.Float64, pa.Check.in_range(-40, 50), nullable=True),
            "precip_mm": pa.Column(pl.Float64, pa.Check.in_range(0, 300), nullable=True),
            "wind_ms": pa.Column(pl.Float64, pa.Check.in_range(0, 80), nullable=True),
            "humidity_pct": pa.Column(pl.Float64, pa.Check.in_range(0, 100), nullable=True),
            "snow_cm": pa.Column(pl.Float64, pa.Check.in_range(0, 300), nullable=True),
        },
        "weather_daily": {
            "provider": pa.Column(pl.String, pa.Check.isin(list(WEATHER_PROVIDERS)), nullable=False),
            "date": pa.Column(pl.Date, nullable=False),
            "temp_mean_c": pa.Column(pl.Float64, pa.Check.in_range(-40, 50), nullable=True),
            "temp_min_c": pa.Column(pl.Float64, pa.Check.in_range(-40, 50), nullable=True),
            "temp_max_c": pa.Column(pl.Float64, pa.Check.in_range(-40, 50), nullable=True),
            "precip_mm": pa.Column(pl.Float64, pa.Check.in_range(0, 1000), nullable=True),
            "humidity_pct": pa.Column(pl.Float64, pa.Check.in_range(0, 100), nullable=True),
        },
        "weather_forecast": {
            "base_ts": pa.Column(pl.Datetime("us"), nullable=False),
            "fcst_ts": pa.Column(pl.Datetime("us"), nullable=False),
            "temp_c": pa.Column(pl.Float64, pa.Check.in_range(-40, 50), nullable=True),
            "pop_pct": pa.Column(pl.Float64, pa.Check.in_range(0, 100), nullable=True),
            "precip_mm": pa.Column(pl.Float64, pa.Check.in_range(0, 300), nullable=True),
        },
        "stations": {
            "station_code": pa.Column(pl.Int32, pa.Check.gt(0), nullable=False),
            "station_name": pa.Column(pl.String, pa.Check.str_length(1, 60), nullable=False),
            "line": pa.Column(pl.String, nullable=False),
        },
    }
    return rules.get(table, {})


@dataclass(frozen=True)
class ValidationResult:
    table: str
    valid: pl.DataFrame = field(repr=False)
    quarantined: pl.DataFrame = field(repr=False)  # QUARANTINE rows

    @property
    def summary(self) -> dict[str, object]:
        reasons = (
            self.quarantined.group_by("reason").len().sort("len", descending=True).head(5).rows()
            if self.quarantined.height
            else []
        )
        return {
            "table": self.table,
            "rows_in": self.valid.height + self.quarantined.height,
            "valid": self.valid.height,
            "quarantined": self.quarantined.height,
            "top_reasons": [f"{r} ({n})" for r, n in reasons],
        }


def _cast(col: str, dtype: pl.DataType) -> pl.Expr:
    """Cast tolerant of how feeds *format* numbers (" 1,234 ", "71.0" -> 1234, 71), strict about what
    they are: an integer column takes integers only, so "1e3", "12.5" or "n/a" fail and are
    quarantined instead of loading as 1000 or 12 (the publisher-file parser's own integer rule)."""
    src = pl.col(col)
    if dtype.is_integer():
        return parse_int_text(src, dtype)
    if dtype.is_float():
        return src.cast(pl.String).str.strip_chars().str.replace_all(",", "").cast(dtype, strict=False)
    if dtype == pl.Date:
        return src.cast(pl.String).str.strip_chars().str.to_date(strict=False)
    if isinstance(dtype, pl.Datetime):
        return src.cast(pl.String).str.strip_chars().str.to_datetime(time_unit="us", strict=False)
    return src.cast(dtype, strict=False)


def _prepare(frame: pl.DataFrame, table: Table) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(typed frame with row ids, per-row type failures)."""
    defaults = table.default_values
    missing = [
        c
        for c in table.columns
        if c not in frame.columns and c not in table.audit_columns and c not in defaults
    ]
    if missing:
        raise ValueError(f"{table.name}: the parsed frame lacks columns {missing}")
    raw = frame.with_row_index(_ROW)
    typed_exprs = []
    for name, dtype in table.columns.items():
        if name not in frame.columns:
            typed_exprs.append(pl.lit(defaults.get(name), dtype=dtype).alias(name))
        elif frame.schema[name] == dtype:
            typed_exprs.append(pl.col(name))
        else:
            typed_exprs.append(_cast(name, dtype).alias(name))
    typed = raw.select(pl.col(_ROW), *typed_exprs)
    failures = []
    for name in table.columns:
        if name not in frame.columns or frame.schema[name] == table.columns[name]:
            continue
        bad = raw[name].is_not_null() & typed[name].is_null()
        if name in frame.columns and frame.schema[name] == pl.String:
            bad = bad & (raw[name].str.strip_chars() != "")
        if bad.any():
            failures.append(
                raw.filter(bad).select(
                    pl.col(_ROW),
                    pl.format(
                        "{}: not a valid {} ({})",
                        pl.lit(name),
                        pl.lit(str(table.columns[name])),
                        pl.col(name).cast(pl.String),
                    ).alias("reason"),
                )
            )
    fail = pl.concat(failures) if failures else pl.DataFrame(schema={_ROW: pl.UInt32, "reason": pl.String})
    return typed, fail


def _rule_failures(typed: pl.DataFrame, table: Table) -> pl.DataFrame:
    columns = _checks(table.name)
    empty = pl.DataFrame(schema={_ROW: pl.UInt32, "reason": pl.String})
    if not columns or typed.is_empty():
        return empty
    schema = pa.DataFrameSchema(columns)
    try:
        schema.validate(typed.select(_ROW, *columns), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.filter(pl.col("index").is_not_null())
        positions = typed.select(pl.col(_ROW)).with_row_index("index")
        return (
            cases.with_columns(pl.col("index").cast(pl.UInt32))
            .join(positions, on="index")
            .select(
                pl.col(_ROW),
                pl.format(
                    "{}: failed {} ({})",
                    pl.col("column").cast(pl.String).fill_null("row"),
                    pl.col("check").cast(pl.String).fill_null("check"),
                    pl.col("failure_case").cast(pl.String).fill_null("null"),  # a null input nulls pl.format
                ).alias("reason"),
            )
        )
    return empty


def _cross_failures(frame: pl.DataFrame, typed: pl.DataFrame) -> pl.DataFrame:
    """Checks across fields and rows: the parser's total check, and the merged late band's rules."""
    parts = [pl.DataFrame(schema={_ROW: pl.UInt32, "reason": pl.String})]
    if "total_mismatch" in frame.columns:
        parts.append(
            frame.with_row_index(_ROW)
            .filter(pl.col("total_mismatch").fill_null(False))
            .select(
                pl.col(_ROW),
                pl.lit("daily total (합계) differs from the sum of its hour bands").alias("reason"),
            )
        )
    if "span_hours" in frame.columns and {"hour", "date", "station_code", "direction"} <= set(typed.columns):
        parts.append(_late_band_failures(typed))
    return pl.concat(parts)


def _late_band_failures(typed: pl.DataFrame) -> pl.DataFrame:
    """A two-hour band exists only as hour 23 ("23시 이후"), and a day that has it has no hour 24."""
    merged = (pl.col("span_hours") == 2) & (pl.col("hour") == MERGED_LATE_BAND)
    misplaced = typed.filter((pl.col("span_hours") != 1) & ~merged).select(
        pl.col(_ROW), pl.lit("span_hours: only the 23시 이후 band (hour 23) spans two hours").alias("reason")
    )
    day = ["date", "station_code", "direction"]
    merged_days = typed.filter(merged).select(day).unique()
    overlap = typed.filter(pl.col("hour") == 24).join(merged_days, on=day, how="semi")
    if overlap.height:  # both the 24 row and the merged row are suspect: neither is loaded
        overlap = typed.join(overlap.select(day), on=day, how="semi").filter((pl.col("hour") == 24) | merged)
    clash = overlap.select(
        pl.col(_ROW), pl.lit("hour 24 on a day whose 23시 이후 band already covers it").alias("reason")
    )
    return pl.concat([misplaced, clash])


def _duplicate_failures(typed: pl.DataFrame, table: Table, already_bad: pl.Series) -> pl.DataFrame:
    ok = typed.filter(~pl.col(_ROW).is_in(already_bad.implode()))
    key = list(table.primary_key)
    values = list(table.value_columns)
    dup_key = ok.select(key).is_duplicated()
    if not dup_key.any():
        return pl.DataFrame(schema={_ROW: pl.UInt32, "reason": pl.String})
    dups = ok.filter(dup_key)
    n_versions = dups.group_by(key).agg(pl.struct(values).n_unique().alias("__versions")) if values else None
    dups = (
        dups.join(n_versions, on=key)
        if n_versions is not None
        else dups.with_columns(pl.lit(1).alias("__versions"))
    )
    conflicting = dups.filter(pl.col("__versions") > 1).select(
        pl.col(_ROW), pl.lit("duplicate key with conflicting values in one batch").alias("reason")
    )
    exact = dups.filter(pl.col("__versions") == 1)
    extra = exact.filter(pl.struct(key).is_first_distinct().not_()).select(
        pl.col(_ROW), pl.lit("exact duplicate of another row in the batch").alias("reason")
    )
    return pl.concat([conflicting, extra])


def validate(
    frame: pl.DataFrame, table: Table, *, source: str, run_id: str, now: datetime
) -> ValidationResult:
    """Split ``frame`` into rows ready to load (typed as ``table``) and quarantine rows."""
    typed, type_fail = _prepare(frame, table)
    ok_for_rules = typed.filter(~pl.col(_ROW).is_in(type_fail[_ROW].implode()))
    failures = pl.concat(
        [type_fail, _rule_failures(ok_for_rules, table), _cross_failures(frame, ok_for_rules)]
    )
    failures = pl.concat([failures, _duplicate_failures(typed, table, failures[_ROW])])
    reasons = failures.group_by(_ROW).agg(
        pl.col("reason").fill_null(UNEXPLAINED).unique().sort().str.join("; ")
    )
    valid = typed.filter(~pl.col(_ROW).is_in(reasons[_ROW].implode())).drop(_ROW)
    quarantined = _quarantine_rows(frame, reasons, table, source=source, run_id=run_id, now=now)
    return ValidationResult(table.name, valid, quarantined)


def _quarantine_rows(
    frame: pl.DataFrame, reasons: pl.DataFrame, table: Table, *, source: str, run_id: str, now: datetime
) -> pl.DataFrame:
    if reasons.is_empty():
        return pl.DataFrame(schema=QUARANTINE.polars_schema)
    raw = frame.with_row_index(_ROW).join(reasons, on=_ROW).sort(_ROW)
    records = []
    for row in raw.drop(_ROW).to_dicts():
        reason = row.pop("reason")
        row_json = json.dumps(row, ensure_ascii=False, default=str, sort_keys=True)
        records.append(
            {
                "table_name": table.name,
                "row_hash": hashlib.sha256(f"{table.name}\n{row_json}".encode()).hexdigest(),
                "reason": reason,
                "row_json": row_json,
                "source": source,
                "run_id": run_id,
                "quarantined_at": now,
            }
        )
    out = pl.DataFrame(records, schema=QUARANTINE.polars_schema)
    return out.unique(subset=["table_name", "row_hash"], keep="first", maintain_order=True)


def set_aside(
    result: ValidationResult, mask: pl.Series, reasons: pl.Series, *, source: str, run_id: str, now: datetime
) -> ValidationResult:
    """Move the ``mask`` rows of ``result.valid`` to quarantine with their ``reasons``: for checks
    that need the warehouse (a station rename), decided after validation."""
    if not mask.any():
        return result
    moved = result.valid.filter(mask)
    why = pl.DataFrame(
        {_ROW: pl.int_range(moved.height, dtype=pl.UInt32, eager=True), "reason": reasons.filter(mask)}
    )
    table = TABLES[result.table]
    extra = _quarantine_rows(moved, why, table, source=source, run_id=run_id, now=now)
    return ValidationResult(result.table, result.valid.filter(~mask), pl.concat([result.quarantined, extra]))


def table(name: str) -> Table:
    return TABLES[name]
