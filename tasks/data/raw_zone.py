"""The raw zone: every payload is archived, byte for byte, before it is parsed.

Processed tables can always be rebuilt from here.  Objects are content-addressed
(``<source>/<dataset>/<sha256[:16]>_<name>``), so fetching the same payload twice stores it once and
a re-run of an ingest writes nothing new.  Locally this is a directory in ``SEONGSU_HOME``; with
``SUPABASE_URL``/``SUPABASE_KEY`` set it is a Supabase Storage bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import tenacity

from tasks.core.settings import Settings
from tasks.data.feeds.base import FeedFormatError, FeedUnavailableError, RawPayload

DEFAULT_MAX_BYTES = 100 * 1024 * 1024


def check_size(name: str, size: int, limit: int, error: type[Exception] = FeedFormatError) -> None:
    """Refuse a payload over ``limit`` bytes before it is stored or parsed (garbage is not archived
    again and again, and a huge file cannot exhaust memory or the bucket)."""
    if size > limit:
        raise error(
            f"{name} is {size:,} bytes, over the raw zone's limit of {limit:,} "
            "(SEONGSU_RAW_MAX_BYTES): not archived, not loaded"
        )


def object_key(payload: RawPayload) -> str:
    safe_name = payload.name.replace("/", "_")
    return f"{payload.source}/{payload.dataset}/{payload.sha256[:16]}_{safe_name}"


class RawZone(Protocol):
    def archive(self, payload: RawPayload) -> str:
        """Store ``payload``; return its URI."""
        ...

    def read(self, uri: str) -> bytes: ...


class LocalRawZone:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root, self.max_bytes = root, max_bytes

    def archive(self, payload: RawPayload) -> str:
        check_size(payload.name, len(payload.content), self.max_bytes)
        path = self.root / object_key(payload)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(payload.content)
            tmp.replace(path)  # atomic: a crash never leaves a half-written object under its final name
        return path.as_uri()

    def read(self, uri: str) -> bytes:
        return Path(uri.removeprefix("file://")).read_bytes()


class SupabaseRawZone:
    """Supabase Storage through the official ``supabase`` client."""

    def __init__(
        self, client: Any, bucket: str, max_bytes: int = DEFAULT_MAX_BYTES, attempts: int = 3
    ) -> None:
        self.client, self.bucket, self.max_bytes, self.attempts = client, bucket, max_bytes, attempts

    def archive(self, payload: RawPayload) -> str:
        check_size(payload.name, len(payload.content), self.max_bytes)
        key = object_key(payload)
        bucket = self.client.storage.from_(self.bucket)
        options = {"content-type": payload.media_type, "upsert": "true"}
        self._call(f"upload {key}", lambda: bucket.upload(key, payload.content, options))
        return f"supabase://{self.bucket}/{key}"

    def read(self, uri: str) -> bytes:
        key = uri.removeprefix(f"supabase://{self.bucket}/")
        return bytes(
            self._call(f"download {key}", lambda: self.client.storage.from_(self.bucket).download(key))
        )

    def _call(self, what: str, operation: Callable[[], Any]) -> Any:
        """Retry transport failures (safe: uploads are content-addressed upserts, downloads read);
        a Storage that stays unreachable is one ``FeedUnavailableError`` line, not a traceback."""
        try:
            for attempt in tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(httpx.TransportError),
                stop=tenacity.stop_after_attempt(self.attempts),
                wait=tenacity.wait_exponential(multiplier=0.5, max=4),
                reraise=True,
            ):
                with attempt:
                    return operation()
        except httpx.TransportError as exc:
            raise FeedUnavailableError(
                f"Supabase Storage unreachable ({type(exc).__name__}) for {what} in bucket {self.bucket!r} "
                f"after {self.attempts} attempts"
            ) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")


def open_raw_zone(settings: Settings) -> RawZone:
    if settings.supabase_url and settings.supabase_key:
        from supabase import create_client

        client = create_client(settings.supabase_url, settings.supabase_key.get_secret_value())
        return SupabaseRawZone(client, settings.raw_bucket, settings.raw_max_bytes)
    return LocalRawZone(settings.raw_dir, settings.raw_max_bytes)
