"""One simulated day of the daily chain, end to end on the session's Prefect server.

Starts from a small real warehouse (the snapshot slice) with a production package issued as of
``TRAIN_AS_OF``; runs ``daily_pipeline`` four days later and checks what a user sees afterwards: the
day's newly published ridership in the warehouse, yesterday's forecasts scored in ``monitoring``,
a fresh week of forecasts, and the served package moved to the new day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tasks.model.features import PUBLICATION_LAG_DAYS
from tasks.ops.store import latest_published
from tests.support.homes import SLICE_END, TRAIN_AS_OF, Home, prepared_home

pytestmark = pytest.mark.timeout(300)

DAY = TRAIN_AS_OF + dt.timedelta(days=4)
"""The first day whose newly published actuals (``DAY - lag``) fall inside the week the package's
forecasts cover (``TRAIN_AS_OF + 1 ..``), so the monitor has something to score."""


def _count(home: Home, sql: str) -> dict[str, object]:
    warehouse = home.open()
    try:
        return warehouse.read(sql).to_dicts()[0]
    finally:
        warehouse.close()


def test_one_day_of_the_daily_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> None:
    from flows.pipeline import daily_pipeline

    home = prepared_home(tmp_path / "home", monkeypatch)
    before = latest_published(home.settings)
    assert before is not None and before.info.labels["as_of"] == TRAIN_AS_OF.isoformat()
    published = DAY - dt.timedelta(days=PUBLICATION_LAG_DAYS)
    assert published > SLICE_END
    assert _count(home, f"select count(*) as n from ridership_hourly where date = '{published}'")["n"] == 0
    assert _count(home, "select count(*) as n from monitoring")["n"] == 0

    result = daily_pipeline(as_of=DAY)

    assert result["as_of"] == DAY.isoformat()
    # the actuals published by DAY are in, Seongsu's among them
    newest = _count(
        home,
        "select max(date) as newest, sum(case when station_code = 211 then 1 else 0 end) as seongsu "
        f"from ridership_hourly where date > '{SLICE_END}'",
    )
    assert str(newest["newest"]) == published.isoformat()
    assert int(str(newest["seongsu"])) > 0
    # the package's forecasts for the days now known were scored, under the served model's version
    scored = _count(
        home,
        "select count(*) as n, count(distinct model_version) as versions, min(model_version) as version "
        f"from monitoring where evaluated_on = '{DAY}' and metric = 'wape'",
    )
    assert int(str(scored["n"])) > 0 and scored["versions"] == 1
    assert scored["version"] == before.info.labels["model_version"]
    # a new week of forecasts as of DAY: 7 target days after it, all stations with history
    issued = _count(
        home,
        "select count(*) as n, min(date) as first, max(date) as last, "
        "count(distinct station_code) as stations "
        f"from forecasts where as_of = '{DAY}'",
    )
    assert int(str(issued["n"])) > 0
    assert str(issued["first"]) == (DAY + dt.timedelta(days=1)).isoformat()
    assert str(issued["last"]) == (DAY + dt.timedelta(days=7)).isoformat()
    assert int(str(issued["stations"])) >= 4
    # the served package now answers as of DAY, with the same model
    after = latest_published(home.settings)
    assert after is not None
    assert after.info.labels["as_of"] == DAY.isoformat()
    assert after.info.labels["model_version"] == before.info.labels["model_version"]
