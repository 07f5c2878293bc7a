"""``trailing_stats``: the window sums every profile, residual and baseline reads."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.model.trailing import trailing_stats

D0 = dt.date(2023, 5, 1)


def _hist() -> pl.DataFrame:
    """Two groups; group 1 has a gap (no 05-04) and a value after the cutoff that must not count."""
    rows = [(1, 0, 10), (1, 1, 20), (1, 2, 30), (1, 4, 50), (1, 6, 999), (2, 0, 7), (2, 5, 9)]
    return pl.DataFrame(
        {
            "g": [g for g, _, _ in rows],
            "date": [D0 + dt.timedelta(days=d) for _, d, _ in rows],
            "count": [c for _, _, c in rows],
        }
    )


def test_window_mean_std_count_and_last_value_at_the_cutoff() -> None:
    keys = pl.DataFrame({"g": [1, 2], "_cutoff": [D0 + dt.timedelta(days=5)] * 2})
    out = trailing_stats(_hist(), keys, ["g"], 4, "p", more_windows=(10,)).sort("g")
    one, two = out.row(0, named=True), out.row(1, named=True)
    # group 1, window (05-02, 05-06]: 05-03 and 05-05 -> 30, 50
    assert (one["p"], one["p_n"], one["p_last"], one["p_last_date"]) == (
        40.0,
        2.0,
        50.0,
        D0 + dt.timedelta(4),
    )
    assert one["p_std"] == pytest.approx(10.0)
    assert one["p_10d"] == pytest.approx(27.5)  # 10, 20, 30, 50
    assert (two["p"], two["p_n"], two["p_std"], two["p_last"]) == (9.0, 1.0, None, 9.0)


def test_row_order_of_the_history_does_not_matter() -> None:
    """Prepared histories come sorted by date and are not re-sorted; any other order is sorted first."""
    keys = pl.DataFrame({"g": [1, 1, 2], "_cutoff": [D0 + dt.timedelta(days=d) for d in (2, 6, 6)]})
    ordered = _hist().sort("date")
    expected = trailing_stats(ordered, keys, ["g"], 3, "p").sort("g", "_cutoff")
    for seed in range(5):
        shuffled = ordered.sample(fraction=1.0, shuffle=True, seed=seed)
        assert_frame_equal(trailing_stats(shuffled, keys, ["g"], 3, "p").sort("g", "_cutoff"), expected)
