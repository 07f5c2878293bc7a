"""The local stack's cheap parts: the replayed clock, replay's argument checks, process reuse."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import cast

import click
import pytest
import typer
from typer.testing import CliRunner

from cli import app
from cli.supervisor import Stack, StackError
from flows.replay import advance_clock
from tasks.core.settings import get_settings
from tasks.data.clock import read_clock, set_clock
from tasks.data.warehouse import open_warehouse

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEONGSU_HOME", str(tmp_path))
    return tmp_path


def test_clock_round_trips_on_both_backends(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url)
    wh.migrate()
    assert read_clock(wh) is None
    set_clock(wh, date(2023, 6, 1))
    set_clock(wh, date(2023, 6, 2))
    assert read_clock(wh) == date(2023, 6, 2)
    wh.close()


def _named_options(text: str) -> set[tuple[str, str]]:
    """(command, --option) pairs a hint names: `seongsu CMD` then the `--options` after it."""
    pairs: set[tuple[str, str]] = set()
    command = ""
    for quoted in re.findall(r"`([^`]+)`", text):
        words = quoted.split()
        if words[:1] == ["seongsu"] and len(words) > 1:
            command = words[1]
            pairs.add((command, ""))
        pairs |= {(command, w) for w in words if w.startswith("--")}
    return pairs


def test_replay_before_up_is_a_clear_error_with_a_hint_that_works(fresh_home: Path) -> None:
    with pytest.raises(ValueError, match="has not started") as info:
        advance_clock(1)
    result = runner.invoke(app, ["replay", "--days", "1"])
    assert result.exit_code == 2 and "has not started" in result.output
    named = _named_options(str(info.value))
    assert ("up", "") in named  # the hint says how to start
    group = cast(click.Group, typer.main.get_command(app))
    for command, option in named:
        assert command in group.commands, f"the hint names a missing command: seongsu {command}"
        options = {o for p in group.commands[command].params for o in p.opts}
        assert not option or option in options, f"the hint names a missing option: {command} {option}"


@pytest.mark.parametrize("days", ["0", "32", "many"])
def test_replay_rejects_bad_day_counts(fresh_home: Path, days: str) -> None:
    result = runner.invoke(app, ["replay", "--days", days])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_a_process_that_dies_at_start_up_is_reported_with_its_log(fresh_home: Path) -> None:
    stack = Stack(get_settings())
    with pytest.raises(StackError, match="exited during start-up") as info:
        stack._spawn(
            "broken",
            ["python3", "-c", "raise SystemExit('no model here')"],
            {},
            "http://127.0.0.1:9",
            "http://127.0.0.1:9/",
            30,
        )
    assert "no model here" in str(info.value)
    stack.stop()
