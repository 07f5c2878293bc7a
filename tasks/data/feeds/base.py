"""What every feed (live API, publisher file, snapshot replay) has in common.

A feed does two separate things so the raw zone can sit between them:
``fetch`` returns the payloads exactly as received (bytes), which the ingest archives before anything
else happens; ``parse`` turns one payload into a polars frame whose columns are the target table's
non-audit columns (values may still be strings: validation casts them and quarantines what does not
cast).  A payload that cannot be read at all (bad header, garbage JSON, an API error) raises a
``FeedError`` subclass and nothing of that ingest is loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import ClassVar, Protocol

import polars as pl


class FeedError(Exception):
    """Base class: a feed could not deliver usable data."""


class FeedFormatError(FeedError):
    """The payload is not what the publisher's format promises (bad header, garbage JSON...)."""


class FeedAPIError(FeedError):
    """The API answered with an error result code (not a transient failure)."""

    def __init__(self, code: str, message: str, *, service: str = "") -> None:
        self.code, self.message, self.service = code, message, service
        super().__init__(f"{service + ': ' if service else ''}{code} {message}".strip())


class FeedAuthError(FeedAPIError):
    """The key is missing, invalid, blocked or not registered: fix the key, retrying will not help."""


class FeedUnavailableError(FeedError):
    """Transient failures (timeouts, 429, 5xx) persisted through every retry."""


@dataclass(frozen=True)
class RawPayload:
    """One payload exactly as fetched; archived to the raw zone before it is parsed."""

    source: str  # seoul_api | kma_api | file | snapshot
    dataset: str  # target table name, e.g. ridership_hourly
    name: str  # file name in the raw zone, e.g. CardSubwayStatsNew_20240830_p1.json
    content: bytes = field(repr=False)
    media_type: str = "application/json"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class Feed(Protocol):
    """A source of payloads for one or more warehouse tables."""

    source: str

    def datasets(self) -> tuple[str, ...]:
        """Table names this feed can fill."""
        ...

    def fetch(self, dataset: str, start: date, end: date) -> list[RawPayload]:
        """Payloads covering [start, end] (inclusive) for ``dataset``."""
        ...

    def parse(self, payload: RawPayload) -> pl.DataFrame:
        """Frame with the target table's non-audit columns; raises FeedFormatError on unreadable input."""
        ...


CSV_MEDIA_TYPE = "text/csv"


class WholeFileFeed:
    """A publisher's file on disk as a Feed.

    The file is the publisher's unit of publication, so ``fetch`` returns it whole, byte for byte, as
    one payload whatever ``start``/``end`` ask for, and ``parse`` does not filter by date either: the
    raw zone archives exactly what was published and loading the rows outside the window is harmless
    because loads are upserts on the primary key.  Subclasses name the datasets (``served``) and parse.
    """

    source = "file"
    served: ClassVar[tuple[str, ...]]

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def datasets(self) -> tuple[str, ...]:
        return self.served

    def fetch(self, dataset: str, start: date, end: date) -> list[RawPayload]:
        if dataset not in self.served:
            raise ValueError(f"{type(self).__name__} serves {', '.join(self.served)}, not {dataset!r}")
        content = self.path.read_bytes()
        return [RawPayload(self.source, dataset, self.path.name, content, self.media_type(content))]

    def media_type(self, content: bytes) -> str:
        """The payload's media type: CSV unless the subclass can tell otherwise."""
        return CSV_MEDIA_TYPE
