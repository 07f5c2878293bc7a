"""Big SQLite reads through the ADBC driver, in a child process of their own.

Why: the stdlib ``sqlite3`` hands every value to Python one object at a time -- the training
history (13 M ridership rows) took 30-38 s of the train flow that way, a forecast's 1.2 M-row context
3-4 s.  The ADBC SQLite driver fills Arrow columns in C (13 M rows in ~13 s).  Why a child process:
that driver links its own SQLite, and two SQLite libraries on one file in one process do not share
their POSIX locks (tried in-process: stale reads, then ``disk I/O error``); across processes the
locks work as for any other reader.  The child opens the file read-only, runs one query and streams
the result to an Arrow IPC file the parent reads.

Run as a script (``python sqlite_bulk.py`` with a JSON job on stdin): it imports nothing of the
project, so it starts in well under a second.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

log = logging.getLogger("seongsu.warehouse")

CHILD_TIMEOUT_S = 900


def read_in_child(path: Path, sql: str, params: Sequence[Any]) -> pl.DataFrame | None:
    """Rows of ``sql`` (``?`` placeholders, ``params`` already SQLite values) as the committed file
    holds them, or None when the child cannot answer (no driver, an error): the caller then reads
    on its own connection, so a missing driver costs time, never rows."""
    with tempfile.TemporaryDirectory(prefix="seongsu-read-") as tmp:
        out = Path(tmp) / "rows.arrow"
        job = {
            "uri": path.resolve().as_uri() + "?mode=ro",
            "sql": sql,
            "params": list(params),
            "out": str(out),
        }
        try:
            done = subprocess.run(
                [sys.executable, __file__],
                input=json.dumps(job),
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("bulk read child failed to run: %s", exc)
            return None
        if done.returncode != 0 or not out.exists():
            log.debug("bulk read child failed (%s): %s", done.returncode, done.stderr.strip()[-500:])
            return None
        return pl.read_ipc(out)


def _child() -> None:
    job = json.load(sys.stdin)
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow.ipc as ipc

    with adbc.connect(job["uri"]) as conn, conn.cursor() as cur:
        cur.execute(job["sql"], tuple(job["params"]))
        reader = cur.fetch_record_batch()
        with ipc.new_file(job["out"], reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)


if __name__ == "__main__":
    _child()
