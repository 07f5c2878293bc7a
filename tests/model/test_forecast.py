"""``forecast`` and ``seongsu forecast``: the output contract, the as-of guarantee, fresh actuals
without retraining, and readable errors.  One production package on a real slice serves them all: a
tiny model put through the gate (on this slice the best baseline wins and is what serves)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli import app
from tasks.core.schema import RIDERSHIP_HOURLY, WEATHER_FORECAST, WEATHER_HOURLY, conform
from tasks.data.history import FORECAST_WEATHER_NOTE, OBSERVED_WEATHER_NOTE, data_hash, load_history
from tasks.model.features import MAX_HORIZON, cutoff_for
from tasks.model.forecast import FORECAST_SCHEMA, ORDER, ForecastInputError, forecast
from tasks.ops.registry import list_models, production_package
from tests.support.homes import (
    SLICE_STATIONS,
    TRAIN_AS_OF,
    Home,
    clone_home,
    loaded_history,
    metro_csv,
    prepared_home,
    seed_warehouse,
)

runner = CliRunner(env={"COLUMNS": "200"})
COLUMNS = "date,hour,station_code,station_name,direction,yhat,lo,hi"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, prefect_server: str) -> Iterator[Home]:
    with pytest.MonkeyPatch.context() as mp:
        yield prepared_home(tmp_path_factory.mktemp("served"), mp)


@pytest.fixture
def private(served: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    return clone_home(served, tmp_path / "home", monkeypatch)


def _cli_forecast(out: Path, as_of: str, *extra: str) -> pl.DataFrame:
    result = runner.invoke(app, ["forecast", "--as-of", as_of, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return pl.read_csv(out, try_parse_dates=True)


def test_forecast_frame_contract(private: Home) -> None:
    warehouse = private.open()
    try:
        package = production_package(private.settings, warehouse)
    finally:
        warehouse.close()
    loaded = loaded_history(private)
    frame = forecast(package, loaded.history, TRAIN_AS_OF, days=MAX_HORIZON, stations="all")
    assert frame.schema == FORECAST_SCHEMA  # names, order and dtypes
    assert frame.height == len(SLICE_STATIONS) * MAX_HORIZON * 20 * 2
    assert frame.equals(frame.sort(ORDER))
    assert set(frame["hour"].unique()) == set(range(5, 25))
    assert set(frame["direction"].unique()) == {"board", "alight"}
    assert frame["date"].min() == TRAIN_AS_OF + dt.timedelta(days=1)
    assert frame["date"].max() == TRAIN_AS_OF + dt.timedelta(days=MAX_HORIZON)
    assert frame.filter(pl.col("station_code") == 211)["station_name"].unique().to_list() == ["성수"]
    assert (frame["lo"] >= 0).all()
    assert (frame["lo"] <= frame["yhat"]).all() and (frame["yhat"] <= frame["hi"]).all()
    # the package's own table and the computed forecasts agree (same model, same as-of, same data)
    cached = forecast(package, None, TRAIN_AS_OF, stations=[211])
    assert cached.equals(frame.filter(pl.col("station_code") == 211))


def test_cli_writes_exact_columns_and_a_sidecar(private: Home, tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    result = runner.invoke(
        app,
        [
            "forecast",
            "--as-of",
            "2023-06-03",
            "--start",
            "2023-06-05",
            "--days",
            "3",
            "--stations",
            "211,222",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 240 rows" in result.output
    assert out.read_text(encoding="utf-8").splitlines()[0] == COLUMNS
    frame = pl.read_csv(out, try_parse_dates=True)
    assert frame["date"].unique().sort().to_list() == [dt.date(2023, 6, d) for d in (5, 6, 7)]
    assert sorted(frame["station_code"].unique().to_list()) == [211, 222]
    meta = json.loads(out.with_name("f.csv.meta.json").read_text(encoding="utf-8"))
    warehouse = private.open()
    try:
        production = list_models(warehouse).filter(status="production")["version"].item()
    finally:
        warehouse.close()
    assert meta["model_version"] == production
    assert meta["as_of"] == "2023-06-03" and meta["rows"] == 240
    assert meta["weather"] == OBSERVED_WEATHER_NOTE and meta["weather_source"] == "observed"
    assert meta["newest_ridership_used"] == "2023-05-31"


def test_data_after_the_as_of_cannot_change_the_forecast(private: Home, tmp_path: Path) -> None:
    as_of = dt.date(2023, 5, 20)
    before = _cli_forecast(tmp_path / "before.csv", as_of.isoformat())
    cutoff = cutoff_for(as_of)
    warehouse = private.open()
    try:
        poisoned = warehouse.read_table(RIDERSHIP_HOURLY, "date > %s", [cutoff]).with_columns(
            count=pl.col("count") * 100 + 7
        )
        late_weather = warehouse.read_table(
            # from 01:00 after the last target day (00:00 is band 24's hour); an exclusive bound because
            # SQLite compares timestamps as text (see tasks.data.history.load_weather)
            WEATHER_HOURLY,
            "ts >= %s",
            [dt.datetime.combine(as_of + dt.timedelta(days=8), dt.time(1))],
        ).with_columns(temp_c=pl.lit(45.0), precip_mm=pl.lit(300.0))
        with warehouse.transaction():
            assert warehouse.upsert(RIDERSHIP_HOURLY, poisoned).updated == poisoned.height > 0
            assert warehouse.upsert(WEATHER_HOURLY, late_weather).updated > 0
    finally:
        warehouse.close()
    after = _cli_forecast(tmp_path / "after.csv", as_of.isoformat())
    assert after.equals(before)


def test_new_actuals_change_the_next_forecast_without_retraining(
    private: Home, tmp_path: Path, prefect_server: str
) -> None:
    as_of = "2023-06-10"  # cutoff 06-07; the warehouse holds data up to 05-31
    warehouse = private.open()
    try:
        registered = list_models(warehouse).height
    finally:
        warehouse.close()
    before = _cli_forecast(tmp_path / "before.csv", as_of)
    meta_before = json.loads((tmp_path / "before.csv.meta.json").read_text())
    assert meta_before["newest_ridership_used"] == "2023-05-31"
    new_file = metro_csv(tmp_path / "june.csv", SLICE_STATIONS, dt.date(2023, 6, 1), dt.date(2023, 6, 7))
    ingest = runner.invoke(app, ["ingest", "--source", "file", "--path", str(new_file)])
    assert ingest.exit_code == 0, ingest.output
    after = _cli_forecast(tmp_path / "after.csv", as_of)
    meta_after = json.loads((tmp_path / "after.csv.meta.json").read_text())
    assert meta_after["newest_ridership_used"] == "2023-06-07"
    assert meta_after["model_version"] == meta_before["model_version"]  # same model: no retraining
    assert before.select("date", "hour", "station_code", "direction").equals(
        after.select("date", "hour", "station_code", "direction")
    )
    changed = (before["yhat"] - after["yhat"]).abs() > 1e-6
    assert changed.mean() > 0.5  # type: ignore[operator]  # the fresh week moved most forecasts
    warehouse = private.open()
    try:
        assert list_models(warehouse).height == registered  # nothing was trained or registered
    finally:
        warehouse.close()


def test_a_served_baseline_forecasts_without_importing_catboost(private: Home, tmp_path: Path) -> None:
    """CatBoost (and pandas under it) took seconds of every ``seongsu forecast`` while a baseline serves
    (the gate's fallback): a fresh process must not import it for one."""
    warehouse = private.open()
    try:
        assert production_package(private.settings, warehouse).metadata.kind == "baseline"
    finally:
        warehouse.close()
    out = tmp_path / "f.csv"
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cli import app\n"
        f"r = CliRunner().invoke(app, ['forecast', '--as-of', '{TRAIN_AS_OF}', '--out', {str(out)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('catboost', 'pandas')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert pl.read_csv(out).height == len(SLICE_STATIONS) * MAX_HORIZON * 20 * 2


def test_a_rejected_challenger_forecasts_on_request(private: Home, tmp_path: Path) -> None:
    """``--model VERSION`` forecasts with any registered version (here the challenger the gate
    rejected) without changing what serves; an unknown version is a bad argument."""
    warehouse = private.open()
    try:
        models = list_models(warehouse)
    finally:
        warehouse.close()
    rejected = models.filter(status="rejected", kind="model")["version"].item()
    serving = models.filter(status="production")["version"].item()
    challenger = _cli_forecast(tmp_path / "c.csv", str(TRAIN_AS_OF), "--model", rejected)
    champion = _cli_forecast(tmp_path / "p.csv", str(TRAIN_AS_OF))
    assert json.loads((tmp_path / "c.csv.meta.json").read_text())["model_version"] == rejected
    assert json.loads((tmp_path / "p.csv.meta.json").read_text())["model_version"] == serving != rejected
    assert challenger.columns == champion.columns and challenger.height == champion.height
    assert not challenger["yhat"].equals(champion["yhat"])  # a different forecaster answered
    unknown = runner.invoke(
        app,
        ["forecast", "--as-of", str(TRAIN_AS_OF), "--out", str(tmp_path / "u.csv"), "--model", "v0-nosuch"],
    )
    assert unknown.exit_code == 2, unknown.output
    assert "no model 'v0-nosuch' in the registry" in unknown.output and "Traceback" not in unknown.output
    assert not (tmp_path / "u.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2023-06-03"], "must be after as_of"),
        (["--days", "0"], "days must be between 1 and 7"),
        (["--days", "8"], "days must be between 1 and 7"),
        (["--start", "2023-06-08", "--days", "5"], "beyond as_of+7"),
        (["--stations", "211,abc"], "station codes must be numbers"),
        (["--stations", "211,99999,88888"], "unknown station code(s): 88888, 99999"),
    ],
)
def test_bad_arguments_exit_2(private: Home, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["forecast", "--as-of", "2023-06-03", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_bad_date_and_stale_data_are_clear_errors(private: Home, tmp_path: Path) -> None:
    out = str(tmp_path / "f.csv")
    bad = runner.invoke(app, ["forecast", "--as-of", "2023-13-01", "--out", out])
    assert bad.exit_code == 2 and "2023-13-01 is not a date: month 13" in bad.output
    stale = runner.invoke(app, ["forecast", "--as-of", "2023-09-01", "--out", out])
    assert stale.exit_code == 2 and "ingest newer data" in stale.output, stale.output
    early = runner.invoke(app, ["forecast", "--as-of", "2023-02-01", "--out", out])
    assert early.exit_code == 2 and "no ridership published by 2023-02-01" in early.output


def test_without_a_production_model(home: Home, tmp_path: Path) -> None:
    warehouse = home.open()
    try:
        seed_warehouse(warehouse)
    finally:
        warehouse.close()
    result = runner.invoke(app, ["forecast", "--as-of", "2023-06-03", "--out", str(tmp_path / "f.csv")])
    assert result.exit_code == 1
    assert "no production model yet" in result.output and "Traceback" not in result.output


def test_forecast_function_validates_inputs(private: Home) -> None:
    warehouse = private.open()
    try:
        package = production_package(private.settings, warehouse)
    finally:
        warehouse.close()
    with pytest.raises(ForecastInputError, match="must be after"):
        forecast(package, None, TRAIN_AS_OF, start=TRAIN_AS_OF)
    with pytest.raises(ForecastInputError, match="unknown station"):
        forecast(package, None, TRAIN_AS_OF, stations=[1])


def test_history_prefers_the_kma_forecast_issued_on_the_as_of(home: Home) -> None:
    as_of = dt.date(2023, 5, 20)
    warehouse = home.open()
    try:
        seed_warehouse(warehouse)
        observed = load_history(warehouse, as_of)
        assert observed.weather_source == "observed" and observed.weather_note == OBSERVED_WEATHER_NOTE
        assert observed.history.ridership["date"].max() == as_of
        assert observed.history.weather["ts"].max() == dt.datetime(2023, 5, 28)  # band 24 of the last day
        hours = pl.datetime_range(
            dt.datetime(2023, 5, 21), dt.datetime(2023, 5, 28), interval="1h", eager=True
        ).alias("fcst_ts")
        issued = pl.DataFrame(hours).with_columns(
            base_ts=pl.lit(dt.datetime(2023, 5, 20, 5)),
            nx=pl.lit(61),
            ny=pl.lit(127),
            temp_c=pl.lit(-40.0),
            precip_mm=pl.lit(0.0),
            source=pl.lit("test"),
        )
        late = issued.with_columns(base_ts=pl.lit(dt.datetime(2023, 5, 21, 5)), temp_c=pl.lit(99.0))
        warehouse.upsert(WEATHER_FORECAST, conform(pl.concat([issued, late]), WEATHER_FORECAST))
        loaded = load_history(warehouse, as_of)
    finally:
        warehouse.close()
    assert loaded.weather_source == "kma_forecast" and loaded.weather_note == FORECAST_WEATHER_NOTE
    target = loaded.history.weather.filter(pl.col("ts") >= dt.datetime(2023, 5, 21))
    assert target.height == hours.len() and (target["temp_c"] == -40.0).all()  # not the later issue
    before = loaded.history.weather.filter(pl.col("ts") < dt.datetime(2023, 5, 21))
    assert before.height == observed.history.weather.filter(pl.col("ts") < dt.datetime(2023, 5, 21)).height
    # the data hash depends on the rows, not on their order or the backend's types
    rid = loaded.history.ridership
    assert data_hash(rid) == data_hash(rid.reverse().with_columns(pl.col("count").cast(pl.Int64)))
    assert data_hash(rid) != data_hash(rid.with_columns(pl.col("count") + 1))


def test_station_selection() -> None:
    from tasks.model.forecast import resolve_stations

    known = pl.DataFrame({"station_code": [211, 222, 2758]})
    assert resolve_stations("all", known, {211, 222}) == [211, 222]  # 2758 reports sporadically
    assert resolve_stations(" 222, 211,211 ", known, {211, 222}) == [211, 222]
    with pytest.raises(ForecastInputError, match=r"no ridership for station\(s\) 2758"):
        resolve_stations([2758], known, {211, 222})
    with pytest.raises(ForecastInputError, match=r"unknown station code\(s\): 5"):
        resolve_stations([5, 211], known, {211, 222})
