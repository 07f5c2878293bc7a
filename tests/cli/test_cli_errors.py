"""The CLI as a person meets it in a real terminal: one line per mistake, no traceback, full tables.

These run ``python -m cli`` in a subprocess on purpose: Prefect's log handlers write to the
process's real stderr, which ``CliRunner`` does not capture, so only a real process shows whether a
failing flow run still prints its traceback over the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cli import app
from cli.common import parse_day, run_app
from tests.support.paths import FILES, REPO


def seongsu(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``seongsu ARGS`` with stdout and stderr piped (not a terminal), as a script would see it."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "SEONGSU_DEBUG")}
    environ.update(SEONGSU_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2023-13-01", "2023-13-01 is not a date: month 13"),
        ("2023-02-30", "February 2023 has 28 days, not 30"),
        ("21/06/2023", "write it as YYYY-MM-DD"),
    ],
)
def test_bad_dates_are_explained_in_words(text: str, message: str) -> None:
    with pytest.raises(typer.BadParameter, match=message):
        parse_day(text)


def test_good_dates_parse() -> None:
    assert parse_day("2024-02-29").isoformat() == "2024-02-29"


def test_help_shows_no_bool_placeholder(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--help"], ["ingest", "--help"], ["db", "status", "--help"], ["model", "list", "--help"]):
        assert run_app(app, args) == 0
        out = capsys.readouterr().out
        assert "--help" in out and "<bool>" not in out, args


def test_usage_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["SEONGSU_HOME"] = str(tmp_path)
    assert run_app(app, ["ingest", "--as-of", "2023-13-01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error:") and "month 13" in err


def test_bad_file_is_one_line_without_traceback(tmp_path: Path, prefect_server: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        (FILES / "metro_202301_sample_utf8.csv").read_text(encoding="utf-8").replace("역번호", "번호"),
        encoding="utf-8",
    )
    result = seongsu(
        tmp_path, "ingest", "--source", "file", "--path", str(bad), PREFECT_API_URL=prefect_server
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and "역번호" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    # only the dataset the failed run read is marked failed
    status = seongsu(tmp_path, "db", "status", "--json")
    import json

    last = json.loads(status.stdout)["last_ingest"]
    assert set(last) == {"stations"} and last["stations"]["status"] == "failed"


def test_missing_key_and_unreachable_prefect_are_one_line(tmp_path: Path) -> None:
    no_key = seongsu(tmp_path, "ingest", "--source", "api", "--no-weather", SEOUL_DATA_API_KEY="")
    assert no_key.returncode == 2
    assert no_key.stderr.strip() == "error: --source api needs SEOUL_DATA_API_KEY (set it in the environment)"
    down = seongsu(
        tmp_path,
        "ingest",
        "--source",
        "file",
        "--path",
        str(FILES / "metro_202301_sample_utf8.csv"),
        PREFECT_API_URL="http://127.0.0.1:9/api",
    )
    assert down.returncode == 1
    lines = [line for line in down.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "seongsu up" in lines[0], down.stderr
    assert "Traceback" not in down.stderr
    debug = seongsu(tmp_path, "--debug", "ingest", "--source", "api", "--no-weather", SEOUL_DATA_API_KEY="")
    assert debug.returncode == 2  # --debug is accepted anywhere and changes nothing for usage errors


def test_piped_table_is_not_cut(tmp_path: Path) -> None:
    result = seongsu(tmp_path, "db", "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "table" in line and "status" in line)
    assert "last ingest (UTC)" in header  # at 80 columns rich wrapped or cut this header
    assert any("ridership_monthly_hourly" in line for line in lines)
    assert "…" not in result.stdout
