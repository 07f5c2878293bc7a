"""The Guidebook tab: the pipeline step by step, every step with its live numbers.

Each step says what it does in Korean and English, then what the system shows right now -- or, when
a number does not exist yet, what will appear and when.
"""

from __future__ import annotations

from typing import Any

import polars as pl

try:
    from space import texts
    from space.clients import Clients, ModelInfo, PipelineRuns, Unavailable
    from space.fmt import fmt_time
    from space.model_panel import coverage_line, headline, headline_lines, served_metrics
except ImportError:  # on Hugging Face the Space root is the working directory
    import texts  # type: ignore[no-redef]
    from clients import Clients, ModelInfo, PipelineRuns, Unavailable  # type: ignore[no-redef]
    from fmt import fmt_time  # type: ignore[no-redef]
    from model_panel import coverage_line, headline, headline_lines, served_metrics  # type: ignore[no-redef]


def guidebook_markdown(clients: Clients) -> str:
    """The pipeline step by step, each step with its live numbers (or what is missing and why)."""
    data = clients.data
    runs = data.ingest_runs(50)
    fresh = data.freshness()
    models = data.models()
    monitoring = data.monitoring()
    model = clients.model()
    prefect = clients.runs()
    out = [
        "## 데이터가 예보가 되기까지 · From data to forecast, step by step",
        "숫자는 지금 이 순간의 실제 값입니다 · The numbers below are live.",
    ]

    # 1. ingest
    out.append("\n### 1. 수집 · Ingest")
    out.append(
        "서울 열린데이터광장·서울교통공사의 역별 시간대 승하차와 기상청 날씨를 받아, 원본을 그대로 보관한 뒤 "
        "적재합니다. Ridership (Seoul Open Data, Seoul Metro) and KMA weather are fetched, every payload "
        "is archived as received, then upserted into the warehouse."
    )
    if isinstance(runs, pl.DataFrame) and runs.height:
        latest = runs.sort("started_at", descending=True, nulls_last=True).unique("dataset", keep="first")
        for r in latest.sort("dataset").iter_rows(named=True):
            upto = f"; data up to {r['data_max_date']}" if r["data_max_date"] else ""
            out.append(
                f"- `{r['dataset']}`: last run {fmt_time(r['started_at'])} ({r['status']}) — "
                f"{(r['rows_in'] or 0):,} rows read, {(r['rows_inserted'] or 0):,} new, "
                f"{(r['rows_updated'] or 0):,} updated{upto}"
            )
    elif isinstance(runs, Unavailable):
        out.append(texts.unavailable("data", runs.reason))
    if isinstance(fresh, list):
        total = next((f.rows for f in fresh if f.table == "ridership_hourly"), None)
        if total:
            out.append(f"- 시간대별 승하차 누적 · hourly ridership rows in the warehouse: **{total:,}**")

    # 2. validate
    out.append("\n### 2. 검증 · Validate")
    out.append(
        "형식·범위·중복을 검사하고, 하루 합계와 시간대 합이 맞는지 확인합니다. 통과하지 못한 행은 이유와 함께 "
        "격리됩니다. Types, ranges and duplicates are checked, and the hourly bands must add up to the "
        "published daily total; rows that fail go to quarantine with the reason — never silently dropped."
    )
    if isinstance(runs, pl.DataFrame) and runs.height:
        q = int(runs["rows_quarantined"].fill_null(0).sum())
        out.append(
            f"- 최근 {runs.height}회 적재에서 격리된 행 · rows quarantined in the last {runs.height} loads: **{q:,}**"
        )
    if isinstance(fresh, list):
        qrows = next((f.rows for f in fresh if f.table == "quarantine"), None)
        if qrows is not None:
            out.append(f"- 격리 테이블 전체 · quarantine table: {qrows:,} rows")

    # 3. features
    out.append("\n### 3. 특징 · Features (as of a day)")
    out.append(
        "모든 특징은 '그날 알 수 있었던 것'만으로 만듭니다: 승하차 자료는 약 3일 뒤에 공개되므로, 예보일 기준 "
        "3일 전까지의 실적, 같은 요일·시간대의 평소 값, 공휴일, 날씨. Every feature is computed as of the "
        "issue date and can only see data published by then (ridership appears about 3 days later): recent "
        "actuals, the station's usual weekday/hour profile, holidays and weather."
    )

    # 4. train + backtest
    out.append("\n### 4. 학습과 백테스트 · Train and backtest")
    out.append(
        "CatBoost가 시간대별 인원의 중앙값과 10%·90% 분위수(80% 구간)를 학습하고, 과거 여러 시점에서 "
        "다시 예보해 보는 백테스트로 단순 기준선(지난주 같은 시간 등)과 비교합니다. A CatBoost model learns "
        "the median and the 10%/90% quantiles (the 80% band); a rolling-origin backtest replays past issue "
        "dates and compares it with naive baselines (e.g. same hour last week)."
    )
    prod_row: dict[str, Any] | None = None
    if isinstance(models, pl.DataFrame) and models.height:
        prod = models.filter(pl.col("status") == "production")
        prod_row = prod.row(0, named=True) if prod.height else None
    served = model if isinstance(model, ModelInfo) else None
    metrics = served_metrics(models if isinstance(models, pl.DataFrame) else None, served)
    out += headline_lines(headline(metrics, monitoring if isinstance(monitoring, pl.DataFrame) else None))

    # 5. promote
    out.append("\n### 5. 승격 · Promote (champion / challenger)")
    out.append(
        "새 모델(도전자)은 같은 백테스트에서 현재 모델(챔피언)과 가장 좋은 기준선보다 모두 나을 때만 운영에 "
        "올라갑니다. 어떤 모델도 기준선을 이기지 못하면 그 기준선이 서빙됩니다. A new model (challenger) replaces "
        "the champion only if it beats both the champion and the best baseline on the same backtest; if no "
        "model beats the best baseline, that baseline is packaged and served."
    )
    if isinstance(models, pl.DataFrame) and models.height:
        newest = models.sort("trained_at", descending=True, nulls_last=True).row(0, named=True)
        decision = {
            "production": "승격됨 · promoted",
            "rejected": "탈락 · rejected (the champion or the best baseline serves)",
            "candidate": "평가 중 · candidate",
            "archived": "보관됨 · archived",
        }.get(str(newest["status"]), str(newest["status"]))
        out.append(
            f"- 최근 학습 · latest trained: `{newest['version']}` ({fmt_time(newest['trained_at'])}) → **{decision}**"
        )
        if prod_row:
            out.append(
                f"- 현재 챔피언 · champion: `{prod_row['version']}` ({prod_row.get('kind') or 'model'}), "
                f"promoted {fmt_time(prod_row['promoted_at'])}"
            )
        counts = models.group_by("status").len().sort("status")
        out.append(
            "- 레지스트리 · registry: "
            + ", ".join(f"{r['status']} {r['len']}" for r in counts.iter_rows(named=True))
        )
    elif isinstance(models, Unavailable):
        out.append(texts.unavailable("data", models.reason))
    else:
        out.append("- 아직 학습된 모델이 없습니다 · no model trained yet.")

    # 6. serve
    out.append("\n### 6. 서빙 · Serve")
    out.append(
        "승격된 모델은 모든 역·7일치 예보를 미리 계산한 패키지로 저장되고, BentoML 서비스가 재시작 없이 "
        "바꿔 끼웁니다. The promoted model is published as a package with every station's forecasts for "
        "the next 7 days; the BentoML service swaps it in without a restart — this page asks it."
    )
    if isinstance(model, ModelInfo):
        out.append(
            f"- 서빙 중 · serving `{model.version}` as of {model.as_of}: forecasts {model.forecast_start} … "
            f"{model.forecast_end}"
        )
        stations = data.stations()
        known = stations.height if isinstance(stations, pl.DataFrame) and stations.height else None
        line = coverage_line(model.stations, known)
        out.append(line or f"- {model.stations or '?'} stations")
    else:
        out.append(texts.unavailable("bento", model.reason))

    # 7. monitor
    out.append("\n### 7. 모니터링 · Monitor")
    out.append(
        "실적이 공개되면 지난 예보를 채점하고(WAPE, 80% 구간 포함률), 승하차 분포의 변화(PSI)를 봅니다. "
        "Once actuals are published, past forecasts are scored (WAPE, interval coverage) and drift is "
        "measured (PSI) — see the Accuracy tab."
    )
    if isinstance(monitoring, pl.DataFrame) and monitoring.height:
        day: Any = monitoring["evaluated_on"].max()
        last = monitoring.filter(
            (pl.col("evaluated_on") == day) & (pl.col("scope") == "all") & (pl.col("horizon") == 0)
        )
        vals = {r["metric"]: r["value"] for r in last.iter_rows(named=True)}
        psi = f"PSI {vals['psi_count']:.4f}" if vals.get("psi_count") is not None else ""
        if vals.get("wape") is None:
            out.append(
                f"- {day}: "
                + (f"{psi} (drift); " if psi else "")
                + texts.MONITORING_EMPTY.replace("  \n", " ")
            )
        else:
            out.append(
                f"- {day}: WAPE {texts.percent(vals.get('wape'))}, coverage {texts.percent(vals.get('coverage'))}"
                + (f", {psi}" if psi else "")
            )
    elif isinstance(monitoring, Unavailable):
        out.append(texts.unavailable("data", monitoring.reason))
    else:
        out.append("- " + texts.MONITORING_EMPTY.replace("  \n", " "))

    # 8. retrain
    out.append("\n### 8. 재학습 · Retrain")
    out.append(
        "정확도가 기준 아래로 떨어지거나 분포가 크게 바뀌면 모니터가 이벤트를 보내고, Prefect가 학습을 "
        "시작합니다(매주 월요일 정기 학습도 있음). When accuracy drops below its thresholds or the data "
        "drifts, the monitor emits an event and Prefect starts a training run (besides the weekly one)."
    )
    if isinstance(prefect, PipelineRuns):
        by_flow = prefect.latest_by_flow
        for flow in ("daily-pipeline", "train", "monitor", "forecast"):
            run = by_flow.get(flow)
            if run:
                out.append(
                    f"- `{flow}`: {texts.STATE_ICONS.get(run.state_type, '⚪')} {run.state_name}, {fmt_time(run.start)}"
                )
    else:
        out.append(texts.unavailable("prefect", prefect.reason))
    return "\n".join(out)
