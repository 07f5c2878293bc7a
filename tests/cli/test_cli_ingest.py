"""The CLI as a person uses it: real flows on a real Prefect server, readable errors, JSON status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tasks.data.warehouse.migrations import list_migrations
from tests.support.paths import FILES

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEONGSU_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "--source", "ftp"], "--source must be snapshot, api or file"),
        (["ingest", "--source", "file"], "--source file needs --path"),
        (["ingest", "--source", "file", "--path", "/nope/missing.xlsx"], "no such file"),
        (["ingest", "--start", "2023-02-01", "--end", "2023-01-01"], "is after --end"),
        (["ingest", "--start", "2023-13-01"], "2023-13-01 is not a date: month 13"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(fresh_home: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "rows", "days"),
    [
        ("metro_202301_sample_utf8.csv", 12 * 20, ("2023-01-01", "2023-01-02")),
        # the 2022 publisher layout: 06시-07시 headers, 연번, no total, one band from 23:00 (19 bands)
        ("metro_202205_sample.xlsx", 12 * 19, ("2022-05-01", "2022-05-02")),
    ],
)
def test_file_ingest_then_status_json(
    fresh_home: Path, prefect_server: str, name: str, rows: int, days: tuple[str, str]
) -> None:
    result = runner.invoke(app, ["ingest", "--source", "file", "--path", str(FILES / name)])
    assert result.exit_code == 0, result.output
    assert "ridership_hourly" in result.output
    status = runner.invoke(app, ["db", "status", "--json"])
    assert status.exit_code == 0, status.output
    info = json.loads(status.output)
    assert info["backend"] == "sqlite"
    assert info["tables"]["ridership_hourly"] == {"rows": rows, "min": days[0], "max": days[1]}
    assert info["tables"]["stations"]["rows"] == 3
    assert info["last_ingest"]["ridership_hourly"]["status"] == "ok"


def test_corrupted_file_is_a_clear_error_and_loads_nothing(
    fresh_home: Path, prefect_server: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    shutil.copy(FILES / "metro_202301_sample_utf8.csv", bad)
    bad.write_text(bad.read_text(encoding="utf-8").replace("역번호", "번호"), encoding="utf-8")
    result = runner.invoke(app, ["ingest", "--source", "file", "--path", str(bad)])
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output
    info = json.loads(runner.invoke(app, ["db", "status", "--json"]).output)
    assert info["tables"]["ridership_hourly"]["rows"] == 0
    assert info["last_ingest"]["stations"]["status"] == "failed"  # the first dataset read from the file


def test_db_migrate_reports_once(fresh_home: Path) -> None:
    first = runner.invoke(app, ["db", "migrate"])
    assert first.exit_code == 0 and "applied 20260101000000" in first.output
    assert list_migrations()[-1].version in first.output
    second = runner.invoke(app, ["db", "migrate"])
    assert second.exit_code == 0 and "up to date" in second.output


def test_unreachable_warehouse_is_reported(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEONGSU_WAREHOUSE_URL", "postgresql://nobody:s3cret@127.0.0.1:1/none")
    result = runner.invoke(app, ["db", "status"])
    assert result.exit_code == 1
    assert "cannot connect" in result.output and "s3cret" not in result.output
