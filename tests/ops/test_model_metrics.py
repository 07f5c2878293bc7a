"""``ModelMetrics``: what the registry writes to ``models.metrics_json`` is what the monitor reads.

The slow end-to-end version (a real training run registered, then the monitor's loader) is in
``test_registry.py``; this one writes the production ``backtest_metrics`` through the registry's row
writer and reads it back with the registry's lookup and the monitor's reader, on a handful of rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from tasks.data.warehouse import open_warehouse
from tasks.ops.challenger import MODEL_NAME, backtest_metrics
from tasks.ops.model_metrics import ModelMetrics
from tasks.ops.registry import ModelRecord, production_record, upsert_records


def _backtest() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model": [MODEL_NAME, MODEL_NAME, "profile_weekday"],
            "scope": ["all", "all", "all"],
            "horizon": [0, 1, 0],
            "wape": [0.123, 0.2, 0.15],
            "mae": [10.0, 12.0, 11.0],
            "coverage": [0.81, 0.7, None],
            "n": [100, 50, 100],
        }
    )


def test_the_monitor_reads_the_backtest_wape_the_registry_writes(tmp_path: Path) -> None:
    metrics = {**backtest_metrics(_backtest(), [dt.date(2023, 5, 17)]), "decision": {"promote": True}}
    record = ModelRecord("m1", "production", None, None, None, None, None, None, None, ModelMetrics(metrics))
    wh = open_warehouse(f"sqlite:///{tmp_path / 'wh.sqlite'}")
    try:
        wh.migrate()
        upsert_records(wh, [record.row(promoted_at=dt.datetime(2023, 5, 31, tzinfo=dt.UTC))])
        champion = production_record(wh)
    finally:
        wh.close()
    assert champion is not None and champion.version == "m1"
    assert champion.metrics.backtest_wape == pytest.approx(0.123)
    assert champion.metrics.backtest_coverage == pytest.approx(0.81)
    assert champion.metrics.decision == {"promote": True}


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]", '"x"', '{"wape": 0.1}'])
def test_old_or_broken_metrics_give_no_score(text: str | None) -> None:
    metrics = ModelMetrics.from_json(text)
    assert metrics.backtest_wape is None and metrics.backtest_coverage is None


def test_to_json_and_from_json_round_trip() -> None:
    written = ModelMetrics.build(backtest_wape=0.1, backtest_coverage=0.8, forecaster="catboost")
    assert ModelMetrics.from_json(written.to_json()) == written
