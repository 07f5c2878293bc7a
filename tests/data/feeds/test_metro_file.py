"""Seoul Metro hourly file parser: real rows in every publisher layout, strict headers, tolerant values.

Fixtures (tests/fixtures/files, cut from the real January 2023 workbook by make_fixtures.py): the
workbook itself cut to 12 rows (xlsx), and the same rows as UTF-8, UTF-8-BOM and CP949 CSV with the
header spellings of the publisher's other files; and the May 2022 publisher file (the 2020-2022 layout
with one late band) cut to 12 rows.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tasks.data.feeds.base import FeedFormatError
from tasks.data.feeds.metro_file import FileFeed, parse_metro_bytes, read_metro_wide, romanize_name
from tests.support.paths import FILES, REPO

RAW = REPO.parent / "shared" / "data" / "raw"
LAYOUTS = (
    "metro_202301_sample.xlsx",
    "metro_202301_sample_utf8.csv",
    "metro_202301_sample_bom.csv",
    "metro_202301_sample_cp949.csv",
)
UTF8 = FILES / "metro_202301_sample_utf8.csv"


def _parse(name: str) -> pl.DataFrame:
    return parse_metro_bytes((FILES / name).read_bytes(), name).hourly


def _count(frame: pl.DataFrame, day: date, code: int, direction: str, hour: int) -> str:
    row = frame.filter(
        pl.col("date") == day,
        pl.col("station_code") == code,
        pl.col("direction") == direction,
        pl.col("hour") == hour,
    )
    assert row.height == 1
    return str(row["count"].item())


def _utf8_with(old: str, new: str, *, header: bool = False) -> bytes:
    lines = UTF8.read_text("utf-8").splitlines(keepends=True)
    if header:
        lines[0] = lines[0].replace(old, new)
    else:
        lines[1:] = [line.replace(old, new, 1) for line in lines[1:]]
    return "".join(lines).encode("utf-8")


@pytest.mark.parametrize("name", LAYOUTS)
def test_bands_mapped_to_hours_in_every_layout(name: str) -> None:
    hourly = _parse(name)
    assert hourly.height == 12 * 20
    assert hourly.schema["date"] == pl.Date()
    assert hourly.schema["hour"] == pl.Int16()
    assert hourly.schema["station_code"] == pl.Int32()
    assert sorted(hourly["hour"].unique()) == list(range(5, 25))
    # 성수 (211), 2023-01-01 승차, values as in the publisher's workbook
    d1 = date(2023, 1, 1)
    assert _count(hourly, d1, 211, "board", 5) == "152"  # 06시 이전
    assert _count(hourly, d1, 211, "board", 6) == "148"  # 06 ~ 07
    assert _count(hourly, d1, 211, "board", 17) == "1257"  # 17 ~ 18
    assert _count(hourly, d1, 211, "board", 23) == "255"  # 23 ~ 24
    assert _count(hourly, d1, 211, "board", 24) == "1"  # 24시 이후
    assert _count(hourly, d1, 211, "alight", 5) == "28"
    # the Monday peaks: alighting 08-09, boarding 18-19
    d2 = date(2023, 1, 2)
    assert _count(hourly, d2, 211, "alight", 8) == "12630"
    assert _count(hourly, d2, 211, "board", 18) == "11456"
    assert not hourly["total_mismatch"].any()
    assert hourly["total_mismatch"].null_count() == 0


def test_all_layouts_parse_to_the_same_frame() -> None:
    frames = [_parse(name).sort("date", "station_code", "direction", "hour") for name in LAYOUTS]
    for frame in frames[1:]:
        assert frame.equals(frames[0])


def test_encodings_are_really_different() -> None:
    assert (FILES / "metro_202301_sample_bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    cp949 = (FILES / "metro_202301_sample_cp949.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        cp949.decode("utf-8")


def test_stations_frame() -> None:
    stations = parse_metro_bytes(UTF8.read_bytes(), UTF8.name).stations
    assert stations.columns == ["station_code", "station_name", "line", "name_en"]
    row = stations.filter(pl.col("station_code") == 211).row(0, named=True)
    assert row == {"station_code": 211, "station_name": "성수", "line": "2호선", "name_en": "Seongsu"}
    assert stations.height == 3
    assert romanize_name("종로3가") == "Jongro3ga"
    assert romanize_name("왕십리(성동구청)") == "Wangsipri(Seongdonggucheong)"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (",13 ~ 14,", ",13 ~ 15,", "unknown hour column"),  # a band that is not one hour wide
        (",06 ~ 07,", ",05 ~ 06,", "unknown hour column"),  # a band we have no hour for
        (",24시 이후,", ",00 ~ 01,", "unknown hour column"),
        (",14 ~ 15,", ",13-14,", "two columns for hour band 13"),  # a spelling variant, duplicated
        (",14 ~ 15,", ",13~14,", "duplicate column names"),
        (",역번호,", ",역코드번호,", "역번호"),
        (",구분,", ",방향,", "구분"),
    ],
)
def test_bad_header_raises(old: str, new: str, message: str) -> None:
    with pytest.raises(FeedFormatError, match=message):
        parse_metro_bytes(_utf8_with(old, new, header=True), "bad.csv")


def test_missing_band_column_raises() -> None:
    text = UTF8.read_text("utf-8")
    frame = pl.read_csv(text.encode(), infer_schema=False).drop("13 ~ 14")
    with pytest.raises(FeedFormatError, match=r"missing hour band.*\[13\]"):
        parse_metro_bytes(frame.write_csv().encode(), "missing.csv")


def test_garbage_raises() -> None:
    with pytest.raises(FeedFormatError):
        parse_metro_bytes(b"PK\x03\x04 not a workbook", "broken.xlsx")
    with pytest.raises(FeedFormatError):
        parse_metro_bytes(b"", "empty.csv")


def test_bad_values_are_passed_through_not_dropped() -> None:
    # 서울역 2023-01-01 승차 has 215 before 06:00 and 145 in 06-07: make them negative / text
    content = _utf8_with("승차,215,145,", "승차,-215,n/a,")
    content = content.replace("하차,154,636,".encode(), "환승,154,636,".encode())  # unknown 구분
    hourly = parse_metro_bytes(content, "values.csv").hourly
    assert hourly.height == 12 * 20
    d1 = date(2023, 1, 1)
    assert _count(hourly, d1, 150, "board", 5) == "-215"
    assert _count(hourly, d1, 150, "board", 6) == "n/a"
    assert hourly.filter(pl.col("direction") == "환승").height == 20
    # the board row cannot be checked (text band), the others still add up
    seoul_board = hourly.filter(
        pl.col("date") == d1, pl.col("station_code") == 150, pl.col("direction") == "board"
    )
    assert seoul_board["total_mismatch"].null_count() == 20
    assert hourly["total_mismatch"].sum() == 0


def test_total_mismatch_flags_the_row() -> None:
    content = _utf8_with(",255,1,12778", ",255,1,12779")  # 성수 2023-01-01 승차 합계 off by one
    hourly = parse_metro_bytes(content, "total.csv").hourly
    flagged = hourly.filter(pl.col("total_mismatch"))
    assert flagged.height == 20
    assert set(flagged["station_code"]) == {211}
    assert set(flagged["direction"]) == {"board"}


def test_formatting_is_normalised() -> None:
    content = _utf8_with("승차,215,145,", '승차," 215 ","1,145",')
    hourly = parse_metro_bytes(content, "fmt.csv").hourly
    assert _count(hourly, date(2023, 1, 1), 150, "board", 5) == "215"
    assert _count(hourly, date(2023, 1, 1), 150, "board", 6) == "1145"


def test_file_feed(tmp_path: Path) -> None:
    path = tmp_path / "metro.xlsx"
    path.write_bytes((FILES / "metro_202301_sample.xlsx").read_bytes())
    feed = FileFeed(path)
    assert feed.source == "file"
    payloads = feed.fetch("ridership_hourly", date(2023, 1, 1), date(2023, 1, 1))
    assert len(payloads) == 1
    payload = payloads[0]
    assert payload.content == path.read_bytes()
    assert payload.dataset == "ridership_hourly"
    assert payload.name == "metro.xlsx"
    assert "spreadsheetml" in payload.media_type
    # not filtered to the window: the whole file is parsed
    assert feed.parse(payload).height == 240
    stations = feed.parse(feed.fetch("stations", date(2023, 1, 1), date(2023, 1, 1))[0])
    assert stations.height == 3
    with pytest.raises(ValueError):
        feed.fetch("weather_hourly", date(2023, 1, 1), date(2023, 1, 1))


@pytest.mark.skipif(not RAW.is_dir(), reason="shared/data/raw not present")
def test_real_january_workbook() -> None:
    name = "(홈페이지) 2023년 1월 역별 시간대별 이용인원.xlsx"
    parsed = parse_metro_bytes((RAW / name).read_bytes(), name)
    assert parsed.hourly.height == 16_920 * 20
    assert parsed.hourly["total_mismatch"].sum() == 0
    seongsu = parsed.hourly.filter(pl.col("station_code") == 211)
    assert seongsu.height == 31 * 2 * 20
    assert _count(parsed.hourly, date(2023, 1, 1), 211, "board", 5) == "152"


# --- the 2020-2022 layout: one late band "23시 이후", older header spelling -------------------------

OLD_LAYOUT = "metro_202205_sample.xlsx"  # cut from subway_202205.xlsx (May 2022 publisher file)


def test_old_layout_keeps_the_merged_late_band_as_published() -> None:
    hourly = _parse(OLD_LAYOUT)
    assert hourly.height == 12 * 19  # 연번 ignored, 06시 이전 .. 22시-23시 + 23시 이후
    assert set(hourly["hour"]) == set(range(5, 24))  # no hour 24
    late = hourly.filter(pl.col("hour") == 23)
    assert set(late["span_hours"]) == {2}
    assert set(hourly.filter(pl.col("hour") < 23)["span_hours"]) == {1}
    assert hourly["total_mismatch"].null_count() == hourly.height  # the file has no total column
    assert _count(hourly, date(2022, 5, 1), 150, "board", 5) == "184"  # 06시 이전
    assert _count(hourly, date(2022, 5, 1), 150, "board", 23) == "669"  # 23시 이후
    stations = parse_metro_bytes((FILES / OLD_LAYOUT).read_bytes(), OLD_LAYOUT).stations
    assert set(stations["line"]) == {"1호선", "2호선"}  # the file writes 1 / 2


def test_old_layout_agrees_with_the_shipped_history() -> None:
    """The May 2022 workbook and the 2020-2022 history in the snapshot are the same numbers."""
    parsed = _parse(OLD_LAYOUT).select(
        "date", "hour", "station_code", "direction", pl.col("count").cast(pl.Int32), "span_hours"
    )
    keys = ["date", "hour", "station_code", "direction"]
    shipped = (
        pl.scan_parquet(REPO / "data" / "snapshot" / "ridership_hourly.parquet")
        .filter(pl.col("date").is_in([date(2022, 5, 1), date(2022, 5, 2)]))
        .collect()
        .join(parsed.select(keys), on=keys, how="semi")
    )
    assert shipped.sort(keys).equals(parsed.sort(keys))


def _old_layout_csv(total: bool) -> pl.DataFrame:
    wide = read_metro_wide((FILES / OLD_LAYOUT).read_bytes(), OLD_LAYOUT)
    if total:
        bands = [c for c in wide.columns if "시" in c]
        wide = wide.with_columns(합계=pl.sum_horizontal(pl.col(bands).cast(pl.Int64)).cast(pl.String))
    return wide


def test_nineteen_bands_add_up_to_the_total() -> None:
    wide = _old_layout_csv(total=True)
    assert parse_metro_bytes(wide.write_csv().encode(), "yearly.csv").hourly["total_mismatch"].sum() == 0
    off = wide.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("1")).otherwise(pl.col("합계")).alias("합계")
    )
    flagged = parse_metro_bytes(off.write_csv().encode(), "yearly.csv").hourly.filter("total_mismatch")
    assert flagged.height == 19


def test_history_parquet_in_the_publishers_layout_parses_like_the_workbook() -> None:
    wide = _old_layout_csv(total=True)  # headers as the history table spells them (23시이후, 합계)
    buf = io.BytesIO()
    wide.write_parquet(buf)
    from_parquet = parse_metro_bytes(buf.getvalue(), "history.parquet").hourly.drop("total_mismatch")
    assert from_parquet.equals(_parse(OLD_LAYOUT).drop("total_mismatch"))


def test_both_late_layouts_in_one_header_is_fatal() -> None:
    wide = _old_layout_csv(total=False).with_columns(pl.lit("1").alias("24시 이후"))
    with pytest.raises(FeedFormatError, match="overlap"):
        parse_metro_bytes(wide.write_csv().encode(), "mixed.csv")
    with pytest.raises(FeedFormatError, match=r"missing hour band.*\[22\]"):
        parse_metro_bytes(wide.drop("22시-23시", "24시 이후").write_csv().encode(), "short.csv")


@pytest.mark.slow
@pytest.mark.skipif(not RAW.is_dir(), reason="shared/data/raw not present")
def test_real_may_2022_file() -> None:
    name = "subway_202205.xlsx"
    parsed = parse_metro_bytes((RAW / name).read_bytes(), name)
    assert parsed.hourly.height == 16_912 * 19
    assert parsed.stations.height == 275
