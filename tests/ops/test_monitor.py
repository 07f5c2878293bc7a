"""Monitoring: the metrics on hand-computable frames, the alert rules, and one evaluation stored in
both warehouse backends."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tasks.core.schema import FORECASTS, MODELS, MONITORING, RIDERSHIP_HOURLY, conform
from tasks.data.history import default_as_of
from tasks.data.warehouse import open_warehouse
from tasks.ops.alerts import (
    RETRAIN_EVENT,
    Alert,
    Thresholds,
    cooldown_since,
    find_alerts,
    retrain_request,
)
from tasks.ops.model_metrics import ModelMetrics
from tasks.ops.monitor import MonitorInputs, evaluate, run_monitor
from tasks.ops.scores import (
    accuracy_metrics,
    line_scope,
    psi,
    result_value,
    score_forecasts,
    station_groups,
    target_drift,
    weather_drift,
    windows_for,
)
from tasks.reports import report_markdown
from tests.support.monitoring import forecasts_of, production_model, seed_monitored

STATIONS_FRAME = pl.DataFrame(
    {
        "station_code": [150, 211, 212],
        "station_name": ["서울역", "성수", "건대입구"],
        "line": ["1호선", "2호선", "2호선"],
        "name_en": ["Seoul Station", "Seongsu", "Konkuk Univ."],
    }
)


def metric_rows(rows: list[tuple[str, str, int, float, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "metric": pl.String,
            "scope": pl.String,
            "horizon": pl.Int16,
            "value": pl.Float64,
            "n": pl.Int64,
        },
        orient="row",
    )


# --- windows and scopes -------------------------------------------------------------------------------


def test_windows_follow_the_publication_lag() -> None:
    w = windows_for(date(2023, 3, 20))
    assert w.cutoff == date(2023, 3, 17)  # ridership is published 3 days later
    assert (w.recent_start, w.cutoff) == (date(2023, 3, 11), date(2023, 3, 17))  # one whole week
    assert (w.reference_start, w.reference_end) == (date(2023, 1, 14), date(2023, 3, 10))  # 8 weeks
    assert (w.reference_end - w.reference_start).days + 1 == 56


def test_station_groups_are_lines() -> None:
    assert line_scope("2호선") == "line:2"
    assert line_scope(None) == "line:unknown"
    groups = station_groups(STATIONS_FRAME)
    assert dict(zip(groups["station_code"], groups["scope"], strict=True)) == {
        150: "line:1",
        211: "line:2",
        212: "line:2",
    }


# --- accuracy -------------------------------------------------------------------------------------------


def test_score_forecasts_keeps_the_served_forecast_and_computes_horizons() -> None:
    key = {"hour": 8, "station_code": 211, "direction": "board"}
    forecasts = pl.DataFrame(
        [
            {"model_version": "old", "as_of": date(2023, 3, 9), "date": date(2023, 3, 10), **key,
             "yhat": 90.0, "lo": 80.0, "hi": 100.0, "created_at": datetime(2023, 3, 9, 6)},
            # same issue re-run after a promotion: this one was served
            {"model_version": "new", "as_of": date(2023, 3, 9), "date": date(2023, 3, 10), **key,
             "yhat": 110.0, "lo": 100.0, "hi": 120.0, "created_at": datetime(2023, 3, 9, 9)},
            {"model_version": "new", "as_of": date(2023, 3, 7), "date": date(2023, 3, 10), **key,
             "yhat": 95.0, "lo": 90.0, "hi": 99.0, "created_at": datetime(2023, 3, 7, 6)},
            # no actual published for this one: not scored
            {"model_version": "new", "as_of": date(2023, 3, 9), "date": date(2023, 3, 11), **key,
             "yhat": 1.0, "lo": 0.0, "hi": 2.0, "created_at": datetime(2023, 3, 9, 9)},
        ]
    )  # fmt: skip
    actuals = pl.DataFrame([{"date": date(2023, 3, 10), **key, "count": 100}])
    scored = score_forecasts(forecasts, actuals).sort("horizon")
    assert scored["horizon"].to_list() == [1, 3]
    assert scored["model_version"].to_list() == ["new", "new"]
    assert scored["yhat"].to_list() == [110.0, 95.0]
    assert scored["y"].to_list() == [100.0, 100.0]


def test_wape_and_coverage_per_horizon_scope_and_pooled() -> None:
    scored = pl.DataFrame(
        {
            "station_code": [211, 211, 150, 150],
            "horizon": [1, 2, 1, 2],
            "y": [100.0, 100.0, 300.0, 100.0],
            "yhat": [110.0, 70.0, 300.0, 100.0],
            "lo": [90.0, 80.0, 250.0, 0.0],
            "hi": [120.0, 90.0, 350.0, 50.0],
        },
        schema_overrides={"station_code": pl.Int32, "horizon": pl.Int16},
    )
    m = accuracy_metrics(scored, station_groups(STATIONS_FRAME))
    # all stations, h=1: |10| + |0| over 400; h=2: |30| + 0 over 200; pooled: 40 / 600
    assert result_value(m, "wape", "all", 1) == pytest.approx(10 / 400)
    assert result_value(m, "wape", "all", 2) == pytest.approx(30 / 200)
    assert result_value(m, "wape", "all", 0) == pytest.approx(40 / 600)
    assert result_value(m, "wape", "station:211", 0) == pytest.approx(40 / 200)
    assert result_value(m, "wape", "line:2", 0) == pytest.approx(40 / 200)
    assert result_value(m, "wape", "line:1", 0) == pytest.approx(0.0)
    # covered: 211 h1 yes, 211 h2 no (100 > 90), 150 h1 yes, 150 h2 no (100 > 50)
    assert result_value(m, "coverage", "all", 0) == pytest.approx(0.5)
    assert result_value(m, "coverage", "station:211", 1) == pytest.approx(1.0)
    assert m.filter((pl.col("scope") == "all") & (pl.col("horizon") == 0))["n"].to_list() == [4, 4]


def test_wape_is_null_when_nothing_was_ridden() -> None:
    scored = pl.DataFrame(
        {"station_code": [211], "horizon": [1], "y": [0.0], "yhat": [3.0], "lo": [0.0], "hi": [5.0]},
        schema_overrides={"station_code": pl.Int32, "horizon": pl.Int16},
    )
    m = accuracy_metrics(scored, station_groups(STATIONS_FRAME))
    assert result_value(m, "wape", "all", 0) is None
    assert result_value(m, "coverage", "all", 0) == 1.0


# --- drift ----------------------------------------------------------------------------------------------


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(100, 10, 5000)
    assert psi(reference, rng.normal(100, 10, 1000)) < 0.05
    assert psi(reference, rng.normal(115, 10, 1000)) > 0.2  # +1.5 sd
    assert math.isnan(psi(reference, []))


def test_psi_handles_heavy_ties() -> None:
    reference = np.r_[np.zeros(900), np.linspace(0.1, 5, 100)]  # 90% dry hours
    same = psi(reference, reference)
    wet_week = psi(reference, np.r_[np.zeros(50), np.linspace(0.1, 5, 50)])
    assert same == pytest.approx(0.0)
    assert math.isfinite(wet_week) and wet_week > 0.2


def _ridership(days: list[date], level: dict[int, float]) -> pl.DataFrame:
    rows = [
        {"date": d, "hour": h, "station_code": code, "direction": direction,
         "count": int(base * (1 + h % 5) + (d.toordinal() * 7 + h) % 11)}
        for d in days for h in range(5, 25) for code, base in level.items() for direction in ("board", "alight")
    ]  # fmt: skip
    return pl.DataFrame(
        rows, schema_overrides={"hour": pl.Int16, "station_code": pl.Int32, "count": pl.Int32}
    )


def test_target_drift_flags_the_group_that_moved() -> None:
    w = windows_for(date(2023, 3, 20))
    ref_days = [w.reference_start + timedelta(days=i) for i in range(56)]
    recent_days = [w.recent_start + timedelta(days=i) for i in range(7)]
    ridership = pl.concat(
        [
            _ridership(ref_days, {150: 100.0, 211: 100.0, 212: 80.0}),
            _ridership(recent_days, {150: 180.0, 211: 100.0, 212: 80.0}),  # line 1 surges
            _ridership(
                [w.cutoff + timedelta(days=1)], {150: 1.0, 211: 1.0, 212: 1.0}
            ),  # unpublished: ignored
        ]
    )
    drift = target_drift(ridership, station_groups(STATIONS_FRAME), w)
    assert result_value(drift, "psi_count", "line:1", 0) > 0.2  # type: ignore[operator]
    assert result_value(drift, "psi_count", "line:2", 0) < 0.05  # type: ignore[operator]
    assert result_value(drift, "psi_count", "station:211", 0) < 0.05  # type: ignore[operator]
    assert drift.filter(pl.col("scope") == "line:2")["n"].item() == 7 * 20 * 2 * 2


def test_weather_drift_compares_the_same_windows() -> None:
    w = windows_for(date(2023, 3, 20))
    start = datetime.combine(w.reference_start, datetime.min.time())
    hours = (w.cutoff - w.reference_start).days * 24 + 24
    ts = [start + timedelta(hours=i) for i in range(hours)]
    temps = [0.0 if t.date() < w.recent_start else 12.0 for t in ts]  # spring arrives
    weather = pl.DataFrame({"ts": ts, "temp_c": temps, "precip_mm": [0.0] * hours})
    drift = weather_drift(weather, w)
    assert result_value(drift, "psi_temp_c", "all", 0) > 0.2  # type: ignore[operator]
    assert result_value(drift, "psi_precip_mm", "all", 0) == pytest.approx(0.0)
    assert drift.filter(pl.col("metric") == "psi_temp_c")["n"].item() == 7 * 24


# --- decisions ------------------------------------------------------------------------------------------


def test_alert_rules() -> None:
    t = Thresholds(min_rows=100)
    metrics = metric_rows(
        [
            ("wape", "all", 0, 0.40, 5000),  # above the 0.20 ceiling and 0.40 > 0.2 * 1.25
            ("wape", "all", 3, 0.90, 5000),  # per-horizon rows never alert on their own
            ("wape", "line:2", 0, 0.90, 5000),  # not an alerting scope by default
            ("coverage", "all", 0, 0.55, 5000),
            ("psi_count", "line:1", 0, 0.25, 1000),
            ("psi_count", "station:211", 0, 0.90, 50),  # too few rows to act on
            ("psi_temp_c", "all", 0, 3.00, 168),  # weather drift is reported, not alerted
        ]
    )
    alerts = find_alerts(metrics, t, backtest_wape=0.20)
    assert sorted((a.rule, a.scope) for a in alerts) == [
        ("coverage_min", "all"),
        ("psi_max", "line:1"),
        ("wape_max", "all"),
        ("wape_vs_backtest", "all"),
    ]
    vs_backtest = next(a for a in alerts if a.rule == "wape_vs_backtest")
    assert vs_backtest.threshold == pytest.approx(0.25)


def test_relative_rule_catches_degradation_below_the_ceiling() -> None:
    metrics = metric_rows([("wape", "all", 0, 0.15, 5000), ("coverage", "all", 0, 0.78, 5000)])
    assert find_alerts(metrics, backtest_wape=0.13) == []  # 0.15 <= 0.13 * 1.25
    [alert] = find_alerts(metrics, backtest_wape=0.11)  # 0.15 > 0.11 * 1.25
    assert alert.rule == "wape_vs_backtest"
    assert find_alerts(metrics, backtest_wape=None) == []


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"backtest_wape": 0.16, "backtest": [{"model": "x", "wape": 0.3}]}, 0.16),
        ({"backtest_wape": None}, None),
        ({"backtest_wape": float("nan")}, None),
        ({"backtest_wape": "0.2"}, None),
        # shapes production never wrote: no score (the relative rule is skipped), no crash
        ({"wape": 0.15}, None),
        ({"backtest": {"overall": {"wape": 0.17}}}, None),
        ({}, None),
        (None, None),
    ],
)
def test_backtest_wape_is_read_from_the_models_metrics(metrics: dict | None, expected: float | None) -> None:
    assert ModelMetrics.of(metrics).backtest_wape == expected


def test_retrain_request_is_one_event_about_the_model() -> None:
    alerts = [
        Alert("wape_max", "wape", "all", 0, 0.41, 0.20, 5000),
        Alert("psi_max", "psi_count", "line:2", 0, 0.3, 0.2, 1000),
    ]
    req = retrain_request("20230320T060000-abc123", date(2023, 3, 20), alerts)
    assert req.event == RETRAIN_EVENT == "seongsu.monitor.retrain-needed"
    assert req.resource["prefect.resource.id"] == "seongsu.model.20230320T060000-abc123"
    assert all(isinstance(v, str) for v in req.resource.values())  # Prefect resource labels are strings
    assert req.payload["as_of"] == "2023-03-20"
    assert "wape 0.410 for all above the ceiling 0.200" in req.payload["reason"]
    assert "psi_count 0.300 for line:2" in req.payload["reason"]
    assert len(req.payload["alerts"]) == 2
    json.dumps(req.payload)  # the payload must serialise as is


# --- one evaluation against the warehouse (both backends) ----------------------------------------------


def _scenario(warehouse_url: str, evaluated_on: date, error: float) -> None:
    """Stations, 9 weeks of ridership, a week of forecasts off by ``error``, a production model."""
    w = windows_for(evaluated_on)
    days = [w.reference_start + timedelta(days=i) for i in range((w.cutoff - w.reference_start).days + 1)]
    ridership = _ridership(days, {150: 100.0, 211: 120.0, 212: 80.0})
    recent = ridership.filter(pl.col("date") >= w.recent_start)
    factor = pl.col("count") * (1 + error)
    forecasts = forecasts_of(recent, "m1", (1, 2), yhat=factor, lo=factor * 0.9, hi=factor * 1.1)
    model = production_model("m1", datetime(2023, 1, 1), datetime(2023, 1, 2), backtest_wape=0.12)
    seed_monitored(
        warehouse_url,
        stations=STATIONS_FRAME,
        ridership=ridership,
        forecasts=forecasts,
        model=model,
        source="test",
    )


def test_run_monitor_stores_metrics_and_decides(warehouse_url: str) -> None:
    evaluated_on = date(2023, 3, 20)
    _scenario(warehouse_url, evaluated_on, error=0.5)
    wh = open_warehouse(warehouse_url)
    try:
        assert default_as_of(wh) == evaluated_on  # newest ridership (03-17) + 3 days: what the flow uses
        result = run_monitor(wh, evaluated_on)
        stored = wh.read_table(MONITORING)
        again = run_monitor(wh, evaluated_on)  # idempotent: same keys, rows replaced
        assert wh.read_table(MONITORING).height == stored.height
    finally:
        wh.close()
    assert result.model_version == "m1" and result.backtest_wape == 0.12
    # yhat = 1.5 y everywhere: WAPE 0.5, and y is below lo = 1.35 y, so coverage 0
    assert result.value("wape") == pytest.approx(0.5)
    assert result.value("wape", "line:2", 2) == pytest.approx(0.5)
    assert result.value("coverage", "station:211") == 0.0
    assert {a.rule for a in result.alerts} == {"wape_max", "wape_vs_backtest", "coverage_min"}
    assert result.value("psi_count") is not None and result.value("psi_count") < 0.2  # type: ignore[operator]
    assert set(stored["evaluated_on"].to_list()) == {evaluated_on}
    assert set(stored["model_version"].to_list()) == {"m1"}
    assert {"wape", "coverage", "psi_count"} <= set(stored["metric"].to_list())
    scopes = set(stored["scope"].to_list())
    assert {"all", "station:211", "line:1", "line:2"} <= scopes
    # 7 recent days x 20 bands x 2 directions x 3 stations, each forecast at horizons 1 and 2
    n = stored.filter((pl.col("metric") == "wape") & (pl.col("scope") == "all") & (pl.col("horizon") == 0))
    assert n["n"].item() == 7 * 20 * 2 * 3 * 2
    assert again.alerts == result.alerts
    text = report_markdown(result)
    assert "Retrain requested" in text and "| station:211 |" in text and "h=2" in text


def test_a_good_model_raises_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    evaluated_on = date(2023, 3, 20)
    _scenario(url, evaluated_on, error=0.05)
    wh = open_warehouse(url)
    try:
        result = run_monitor(wh, evaluated_on)
    finally:
        wh.close()
    assert result.value("wape") == pytest.approx(0.05)
    assert result.value("coverage") == 1.0
    assert result.alerts == ()
    assert "No action" in report_markdown(result)


def test_evaluate_with_nothing_to_score() -> None:
    w = windows_for(date(2023, 3, 20))
    empty = evaluate(
        MonitorInputs(
            pl.DataFrame(schema=FORECASTS.polars_schema),
            pl.DataFrame(schema=RIDERSHIP_HOURLY.polars_schema),
            pl.DataFrame(),
            STATIONS_FRAME,
            None,
        ),
        w,
    )
    assert empty.metrics["metric"].to_list() == ["retrain_requested"] and empty.alerts == ()
    assert not empty.retrain_needed
    assert "No forecast could be scored" in report_markdown(empty)


# --- one request per model per cooldown ------------------------------------------------------------------


def test_cooldown_holds_back_repeated_requests_for_the_same_model() -> None:
    previous = pl.DataFrame(
        {
            "evaluated_on": [date(2023, 3, 14), date(2023, 3, 16), date(2023, 3, 17)],
            "model_version": ["m1", "m1", "m0"],
            "value": [1.0, 0.0, 1.0],  # 03-16 evaluated without requesting
        }
    )
    assert cooldown_since(previous, "m1", date(2023, 3, 20), 7) == date(2023, 3, 14)
    assert cooldown_since(previous, "m1", date(2023, 3, 21), 7) is None  # 7 days later: ask again
    assert cooldown_since(previous, "m2", date(2023, 3, 18), 7) is None  # a new model starts afresh
    assert cooldown_since(previous, "m1", date(2023, 3, 14), 7) is None  # re-running the same day
    assert cooldown_since(previous, "m1", date(2023, 3, 15), 0) is None


def test_run_monitor_requests_once_per_model(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    _scenario(url, date(2023, 3, 20), error=0.5)
    wh = open_warehouse(url)
    try:
        first = run_monitor(wh, date(2023, 3, 20))
        second = run_monitor(wh, date(2023, 3, 21))
        promoted = {
            "version": "m2",
            "status": "production",
            "trained_at": datetime(2023, 3, 21),
            "promoted_at": datetime(2023, 3, 21, 1),
            "metrics_json": ModelMetrics.build(backtest_wape=0.1, backtest_coverage=0.8).to_json(),
        }
        wh.upsert(MODELS, conform(pl.DataFrame([promoted]), MODELS))
        third = run_monitor(wh, date(2023, 3, 22))
        decisions = wh.read_table(MONITORING, "metric = %s", ["retrain_requested"]).sort("evaluated_on")
    finally:
        wh.close()
    assert first.retrain_needed and first.cooldown_since is None
    assert second.alerts and not second.retrain_needed and second.cooldown_since == date(2023, 3, 20)
    assert "Retrain already requested on 2023-03-20" in report_markdown(second)
    assert third.model_version == "m2" and third.retrain_needed  # still bad, but a different model
    assert decisions["value"].to_list() == [1.0, 0.0, 1.0]
    assert decisions["n"].to_list() == [len(first.alerts), len(second.alerts), len(third.alerts)]
