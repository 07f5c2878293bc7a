"""What a training run tells people: the Prefect decision artifact, W&B, and who serves now.

Why one module: the artifact, the W&B run, the CLI printout and the flow's return value must tell the
same story -- challenger, champion and best baseline side by side on the same window, the gate's
call (``tasks.ops.champion.decide``) and which *kind* serves afterwards (a trained model or a baseline,
and which one) -- so all of them read ``serving`` and ``contenders`` from here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from tasks.data.history import LoadedHistory
from tasks.model.evaluate import SEONGSU
from tasks.model.features import MAX_HORIZON
from tasks.model.package import BENTO_MODEL_NAME
from tasks.model.train import CatBoostForecaster
from tasks.ops.challenger import MODEL_NAME, backtest_pivot, feature_importance
from tasks.ops.champion import Decision
from tasks.ops.registry import Candidate, Publication
from tasks.ops.tracking import Tracker


def serving(decision: Decision, publication: Publication) -> dict[str, Any]:
    """Who serves after this run: ``kind`` (model | baseline), ``version``, ``forecaster``, the store
    tag when this run published it, and ``why`` (the gate's reason)."""
    c = decision.comparison
    kind: str | None
    version: str | None
    name: str | None
    if decision.serve == "challenger":
        kind, version, name, tag = "model", decision.version, MODEL_NAME, publication.bento_tag
    elif decision.serve == "baseline" and publication.baseline is not None:
        kind, version, name = "baseline", publication.baseline.version, decision.baseline
        tag = publication.baseline.bento_tag
    else:
        kind, version, name, tag = c.champion_kind, c.champion_version, c.champion_forecaster, None
    return {"kind": kind, "version": version, "forecaster": name, "bento_tag": tag, "why": decision.reason}


def contenders(decision: Decision) -> list[dict[str, Any]]:
    """Challenger, champion (if any) and best baseline: WAPE overall, for Seongsu and per horizon."""
    c = decision.comparison
    rows = [
        ("challenger", f"{decision.version} ({MODEL_NAME})", "model", c.challenger_wape),
        ("champion", f"{c.champion_version} ({c.champion_forecaster})", c.champion_kind, c.champion_wape),
        ("best baseline", c.best_baseline, "baseline", c.best_baseline_wape),
    ]
    role_key = {"challenger": "challenger", "champion": "champion", "best baseline": "baseline"}
    out = []
    for role, who, kind, wape in rows:
        if wape is None:
            continue
        key = role_key[role]
        out.append(
            {
                "role": role,
                "who": who,
                "kind": kind,
                "wape": wape,
                "wape_211": c.seongsu.get(key),
                **{f"h{r['horizon']}": r.get(key) for r in c.per_horizon},
            }
        )
    return out


def decision_markdown(
    decision: Decision, publication: Publication, table: pl.DataFrame, *, as_of: dt.date, seconds: float
) -> str:
    """The Prefect artifact of a training run: the three contenders side by side, the call, who
    serves now, then the whole backtest table."""
    c = decision.comparison
    now = serving(decision, publication)
    verdict = "**PROMOTED**" if decision.promote else "**REJECTED**"
    lines = [
        f"# Training {decision.version} (as of {as_of})",
        "",
        f"{verdict}: {decision.reason}.",
        "",
        f"**Serving now: {now['kind']} `{now['forecaster']}`** (version {now['version']})"
        + (
            f", published as `{now['bento_tag']}` (now `{BENTO_MODEL_NAME}:latest`)"
            if now["bento_tag"]
            else ""
        ),
        "",
        f"## Champion, challenger and best baseline (WAPE, lower is better; origins "
        f"{', '.join(o.isoformat() for o in c.origins)}, horizons 1..{MAX_HORIZON}, {c.n_targets:,} "
        "identical targets)",
        "",
    ]
    lines += _markdown_table(pl.DataFrame(contenders(decision)).rename({"wape_211": "211 성수"}))
    if c.baselines:
        lines += [
            "",
            "Every baseline on the same targets: "
            + ", ".join(
                f"{name} {wape:.4f}" for name, wape in sorted(c.baselines.items(), key=lambda kv: kv[1])
            ),
        ]
    if c.champion_method:
        lines.append(
            "Champion forecasts: " + ", ".join(f"{k}: {v}" for k, v in sorted(c.champion_method.items()))
        )
    if publication.archived or (publication.baseline and publication.baseline.archived):
        archived = publication.archived or (publication.baseline.archived if publication.baseline else [])
        lines.append(f"Archived: {', '.join(archived)}")
    lines += ["", f"Run time {seconds:.0f} s.", "", "## Backtest WAPE (lower is better)", ""]
    lines += _markdown_table(backtest_pivot(table))
    coverage = table.filter(
        pl.col("scope") == "all", pl.col("horizon") == 0, pl.col("coverage").is_not_null()
    )
    if coverage.height:
        lines += [
            "",
            "80% interval coverage (all stations, all horizons): "
            + ", ".join(f"{m} {c:.1%}" for m, c in coverage.select("model", "coverage").iter_rows()),
        ]
    return "\n".join(lines)


def _markdown_table(table: pl.DataFrame) -> list[str]:
    cols = table.columns
    text = ("model", "role", "who", "kind", "scope")
    out = [
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" if c in text else "---:" for c in cols) + "|",
    ]
    for row in table.iter_rows():
        out.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}" if value >= 1000 else str(value)
    return str(value)


def track_training(
    tracker: Tracker,
    *,
    forecaster: CatBoostForecaster,
    loaded: LoadedHistory,
    candidate: Candidate,
    table: pl.DataFrame,
    scored: pl.DataFrame,
    decision: Decision,
    publication: Publication,
) -> None:
    """Everything a training run tells W&B (each call is best effort, see ``tasks.ops.tracking``)."""
    tracker.log_config(
        {
            "version": candidate.version,
            "as_of": loaded.as_of.isoformat(),
            "recipe": candidate.recipe,
            "recipe_fingerprint": candidate.fingerprint,
            "code_version": candidate.metadata.code_version,
            "data_hash": candidate.metadata.data_hash,
            "weather_source": loaded.weather_source,
            "train": {k: forecaster.metadata.get(k) for k in ("train_rows", "train_stations", "timings_s")},
        }
    )
    for row in table.iter_rows(named=True):
        horizon = "all" if row["horizon"] == 0 else f"h{row['horizon']}"
        prefix = f"backtest/{row['model']}/{row['scope']}/{horizon}/"
        tracker.log_metrics({k: row[k] for k in ("wape", "mae", "coverage")}, prefix=prefix)
    tracker.log_table("backtest", table)
    tracker.log_table("backtest_wape", backtest_pivot(table))
    c = decision.comparison
    now = serving(decision, publication)
    tracker.log_metrics(
        {
            "challenger_wape": c.challenger_wape,
            "champion_wape": c.champion_wape,
            "best_baseline_wape": c.best_baseline_wape,
            "promoted": int(decision.promote),
            "serving_baseline": int(now["kind"] == "baseline"),
        },
        prefix="decision/",
    )
    tracker.log_table("decision_contenders", pl.DataFrame(contenders(decision)))
    tracker.log_summary(
        {
            "decision": decision.reason,
            "version": candidate.version,
            "best_baseline": c.best_baseline,
            "serving_kind": now["kind"],
            "serving_version": now["version"],
            "serving_forecaster": now["forecaster"],
        }
    )
    tracker.log_feature_importance(feature_importance(forecaster))
    for direction in ("board", "alight"):
        series = (
            scored.filter(
                pl.col("model") == MODEL_NAME,
                pl.col("station_code") == SEONGSU,
                pl.col("direction") == direction,
            )
            .with_columns(ts=pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("hour")))
            .rename({"y": "actual"})
        )
        if series.height:
            tracker.log_forecast_plot(
                f"forecast_vs_actual/211_{direction}",
                series,
                title=f"Seongsu (211) {direction}: backtest forecasts vs actuals ({candidate.version})",
            )
    cutoff = candidate.metadata.data_end
    tracker.log_dataset(
        loaded.history.ridership.filter(pl.col("date") <= cutoff),
        data_hash=candidate.metadata.data_hash,
        metadata={
            "as_of": loaded.as_of.isoformat(),
            "data_start": candidate.metadata.data_start.isoformat(),
            "data_end": cutoff.isoformat(),
        },
    )
    common = {"as_of": loaded.as_of.isoformat(), "data_hash": candidate.metadata.data_hash}
    tracker.log_model(
        candidate.package_path,
        version=candidate.version,
        metadata={**common, "kind": "model", "forecaster": MODEL_NAME, "decision": decision.reason},
        promoted=decision.promote,
    )
    if publication.baseline is not None:  # the baseline now serving: W&B's `production` alias follows
        tracker.log_model(
            candidate.package_path.parent / publication.baseline.version,
            version=publication.baseline.version,
            metadata={
                **common,
                "kind": "baseline",
                "forecaster": now["forecaster"],
                "decision": decision.reason,
            },
            promoted=True,
        )
