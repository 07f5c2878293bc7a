"""The Space's model panel and empty states, from what the pipeline really stores.

``registry_metrics`` is built by the train flow's own functions (``tasks.model.evaluate.score`` ->
``tasks.ops.challenger.backtest_metrics``), so the panel is tested against the layout the registry
writes to ``models.metrics_json`` -- not a layout invented for the test.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from space import texts
from space.app import ACCURACY_COLUMNS, FRESHNESS_COLUMNS, SpaceApp
from space.clients import Clients, SpaceConfig
from space.forecast_view import HOUR_COLUMNS
from space.model_panel import coverage_line, headline, headline_lines, served_metrics
from tasks.model.evaluate import score
from tasks.ops.challenger import backtest_metrics

ORIGINS = [dt.date(2023, 6, 3), dt.date(2023, 6, 10)]
RECIPE = {"params": {"depth": 8, "learning_rate": 0.05, "l2_leaf_reg": 10.0}}


def scored() -> pl.DataFrame:
    """Three forecasters on two stations (성수 211 and 강남 222), two horizons."""
    rows = []
    for model, bias in (("catboost", 0.05), ("seasonal_naive", 0.30), ("profile_weekday", 0.20)):
        for code, y in ((211, 1000.0), (222, 5000.0)):
            for horizon in (1, 2):
                factor = 1 + bias * (1 if horizon == 1 else -1)
                rows.append(
                    {
                        "model": model,
                        "station_code": code,
                        "horizon": horizon,
                        "y": y,
                        "yhat": y * factor,
                        "lo": y * 0.9 if model == "catboost" else None,
                        "hi": y * (1.2 if code == 211 else 0.95) if model == "catboost" else None,
                    }
                )
    return pl.DataFrame(rows)


def registry_metrics() -> dict[str, Any]:
    """``metrics_json`` as the train flow writes it (backtest + recipe), JSON round-tripped."""
    table = score(scored())
    stored = {**backtest_metrics(table, ORIGINS), "recipe": RECIPE, "recipe_fingerprint": "abc"}
    return dict(json.loads(json.dumps(stored, default=str)))


def pooled(table: pl.DataFrame, model: str, scope: str, column: str = "wape") -> float:
    row = table.filter((pl.col("model") == model) & (pl.col("scope") == scope) & (pl.col("horizon") == 0))
    return float(row[column].item())


def test_panel_shows_backtest_wape_against_the_best_baseline_and_coverage() -> None:
    table = score(scored())
    h = headline(registry_metrics())
    assert h.model == "catboost"
    assert h.all_stations.wape == pooled(table, "catboost", "all")
    assert h.all_stations.baseline == "profile_weekday"  # the better of the two baselines
    assert h.seongsu.wape == pooled(table, "catboost", "211")
    assert h.coverage == pooled(table, "catboost", "all", "coverage")
    text = "\n".join(headline_lines(h))
    assert texts.percent(pooled(table, "catboost", "all")) in text
    assert texts.percent(pooled(table, "catboost", "211")) in text
    assert texts.percent(pooled(table, "profile_weekday", "all")) in text
    assert texts.percent(h.coverage) in text and "coverage" in text
    assert "성수" in text and "2023-06-03" in text
    for hyperparameter in ("recipe", "depth", "learning_rate", "l2_leaf_reg"):
        assert hyperparameter not in text


def test_live_wape_comes_from_the_latest_monitoring_day() -> None:
    monitoring = pl.DataFrame(
        {
            "evaluated_on": [dt.date(2023, 6, 20), dt.date(2023, 6, 21), dt.date(2023, 6, 21)],
            "metric": ["wape", "wape", "coverage"],
            "scope": ["all", "all", "all"],
            "horizon": [0, 0, 0],
            "value": [0.3, 0.2, 0.75],
        }
    )
    h = headline(registry_metrics(), monitoring)
    assert (h.live_day, h.live_wape, h.live_coverage) == (dt.date(2023, 6, 21), 0.2, 0.75)
    text = "\n".join(headline_lines(h))
    assert "2023-06-21" in text and texts.percent(0.2) in text and texts.percent(0.75) in text


def test_nothing_recorded_yet_says_when_it_will_be() -> None:
    text = "\n".join(headline_lines(headline({})))
    assert "not recorded yet" in text and "3 days after the day" in text


def test_registry_row_of_the_served_version_wins() -> None:
    models = pl.DataFrame(
        {
            "version": ["old", "new"],
            "status": ["archived", "production"],
            "metrics_json": [json.dumps({"backtest_wape": 0.5}), json.dumps(registry_metrics())],
        }
    )

    class Served:
        version = "old"
        metrics: ClassVar[dict[str, Any]] = {}

    assert served_metrics(models, Served())["backtest_wape"] == 0.5
    assert "backtest" in served_metrics(models, None)  # no served model: the production row


def test_a_served_baseline_borrows_the_backtest_that_chose_it() -> None:
    """When the gate serves a baseline, its registry row holds only its WAPE and ``baseline_of``;
    the panel shows the backtest of the run that chose it, with the baseline as the served row."""
    table = score(scored())
    chooser = {**registry_metrics(), "forecaster": "catboost", "kind": "model"}
    baseline = {"backtest_wape": pooled(table, "profile_weekday", "all"), "forecaster": "profile_weekday"}
    models = pl.DataFrame(
        {
            "version": ["cand", "base"],
            "status": ["rejected", "production"],
            "metrics_json": [json.dumps(chooser), json.dumps({**baseline, "baseline_of": "cand"})],
        }
    )
    h = headline(served_metrics(models, None))
    assert h.model == "profile_weekday"
    assert h.all_stations.wape == pooled(table, "profile_weekday", "all")
    assert h.seongsu.wape == pooled(table, "profile_weekday", "211")
    assert h.all_stations.baseline == "catboost"  # the next best forecaster, here the model
    assert "served forecaster `profile_weekday`" in "\n".join(headline_lines(h))


def test_station_coverage_is_explained() -> None:
    line = coverage_line(272, 282)
    assert line is not None and "272" in line and "282" in line and "28 days" in line
    assert coverage_line(5, 5) is not None and "all" in str(coverage_line(5, 5))


def test_empty_states_have_headers_and_say_what_comes(tmp_path: Path) -> None:
    """A fresh local warehouse, no service, no orchestrator: every table keeps its real column
    names (Gradio shows "1 | 2 | 3" for a frame without columns) and the text says what will come."""
    from tasks.data.warehouse import open_warehouse

    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    warehouse = open_warehouse(url)
    try:
        warehouse.migrate()
    finally:
        warehouse.close()
    config = SpaceConfig(warehouse_url=url, local=True)
    app = SpaceApp(Clients.from_config(config))
    _, table, note = app.accuracy("all")
    assert tuple(table.columns) == ACCURACY_COLUMNS and table.is_empty()
    assert "4 replayed days" in note and "3 days after the day" in note
    _, summary, hours, _ = app.forecast("211", "2023-06-21")
    assert tuple(hours.columns) == HOUR_COLUMNS
    assert summary
    _, freshness, model_md = app.pipeline()
    assert tuple(freshness.columns) == FRESHNESS_COLUMNS
    assert "Forecast service (Bento) is unavailable" in model_md
