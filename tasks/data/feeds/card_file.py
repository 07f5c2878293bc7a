"""Seoul's card-based daily boardings/alightings per station, monthly CSV download (OA-12914).

Why: 서울 열린데이터 광장's "서울시 지하철호선별 역별 승하차 인원 정보" is the daily series behind the
``CardSubwayStatsNew`` API, covering every operator and line in the Seoul area (Korail, 9호선 ...),
not just Seoul Metro's lines 1-8.  History is easiest to bootstrap from the portal's monthly file
``CARD_SUBWAY_MONTH_YYYYMM.csv``: UTF-8 with a BOM, every field quoted, and a trailing comma on every
data row (an unnamed empty column), which is dropped.

Columns: 사용일자 (day of use), 노선명, 역명, 승차총승객수, 하차총승객수, 등록일자 (the day the row was
registered on the portal; in the 2023-01 file always 사용일자 + 3 days).  A header without the first
five raises ``FeedFormatError``; 등록일자 is optional (null when absent).

As with the metro file, bad values are passed through for the validator to quarantine: ``boardings``
and ``alightings`` are kept as text (formatting cleaned only), dates that cannot be read become null.
"""

from __future__ import annotations

import polars as pl

from tasks.data.feeds.base import FeedFormatError, RawPayload, WholeFileFeed
from tasks.data.feeds.metro_file import clean_number_text, parse_date_text, read_publisher_csv

REQUIRED = ("사용일자", "노선명", "역명", "승차총승객수", "하차총승객수")
REGISTERED = "등록일자"


def parse_card_bytes(content: bytes, filename: str = "card.csv") -> pl.DataFrame:
    """ridership_daily's non-audit columns from one CARD_SUBWAY_MONTH CSV (UTF-8/BOM/CP949)."""
    raw = read_publisher_csv(content, filename)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise FeedFormatError(f"{filename}: missing column(s) {missing}; header was {raw.columns}")
    registered = (
        parse_date_text(pl.col(REGISTERED)) if REGISTERED in raw.columns else pl.lit(None, dtype=pl.Date)
    )
    return raw.select(
        parse_date_text(pl.col("사용일자")).alias("date"),
        pl.col("노선명").str.strip_chars().alias("line"),
        pl.col("역명").str.strip_chars().alias("station_name"),
        clean_number_text(pl.col("승차총승객수")).alias("boardings"),
        clean_number_text(pl.col("하차총승객수")).alias("alightings"),
        registered.alias("registered_on"),
    )


class CardFileFeed(WholeFileFeed):
    """A CARD_SUBWAY_MONTH CSV on disk as a Feed (dataset ``ridership_daily``); whole file, unfiltered."""

    served = ("ridership_daily",)

    def parse(self, payload: RawPayload) -> pl.DataFrame:
        return parse_card_bytes(payload.content, payload.name)
