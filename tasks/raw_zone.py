"""The raw zone: every payload is archived, byte for byte, before it is parsed.

Processed tables can always be rebuilt from here.  Objects are content-addressed
(``<source>/<dataset>/<sha256[:16]>_<name>``), so fetching the same payload twice stores it once and
a re-run of an ingest writes nothing new.  Locally this is a directory in ``SEONGSU_HOME``; with
``SUPABASE_URL``/``SUPABASE_KEY`` set it is a Supabase Storage bucket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from tasks.feeds.base import RawPayload
from tasks.settings import Settings


def object_key(payload: RawPayload) -> str:
    safe_name = payload.name.replace("/", "_")
    return f"{payload.source}/{payload.dataset}/{payload.sha256[:16]}_{safe_name}"


class RawZone(Protocol):
    def archive(self, payload: RawPayload) -> str:
        """Store ``payload``; return its URI."""
        ...

    def read(self, uri: str) -> bytes: ...


class LocalRawZone:
    def __init__(self, root: Path) -> None:
        self.root = root

    def archive(self, payload: RawPayload) -> str:
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

    def __init__(self, client: Any, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    def archive(self, payload: RawPayload) -> str:
        key = object_key(payload)
        self.client.storage.from_(self.bucket).upload(
            key, payload.content, {"content-type": payload.media_type, "upsert": "true"}
        )
        return f"supabase://{self.bucket}/{key}"

    def read(self, uri: str) -> bytes:
        key = uri.removeprefix(f"supabase://{self.bucket}/")
        return bytes(self.client.storage.from_(self.bucket).download(key))


def open_raw_zone(settings: Settings) -> RawZone:
    if settings.supabase_url and settings.supabase_key:
        from supabase import create_client

        client = create_client(settings.supabase_url, settings.supabase_key.get_secret_value())
        return SupabaseRawZone(client, settings.raw_bucket)
    return LocalRawZone(settings.raw_dir)
