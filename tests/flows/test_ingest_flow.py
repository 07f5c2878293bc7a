"""The ingest flows on a real Prefect server: task runs, artifacts, failure states."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import FILES


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEONGSU_HOME", str(tmp_path))
    return tmp_path


def test_ridership_flow_publishes_a_summary_artifact(fresh_home: Path, prefect_server: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.ingest import ingest_ridership

    summaries = ingest_ridership(source="file", path=str(FILES / "metro_202301_sample.xlsx"))
    assert [s.dataset for s in summaries] == ["stations", "ridership_hourly"]
    assert summaries[1].rows_inserted == 240

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(  # newest first: other tests share the server
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-ridership"])),
            sort=ArtifactSort.CREATED_DESC,
        )
    assert artifacts, "the flow publishes a keyed markdown artifact"
    text = str(artifacts[0].data)
    assert "| ridership_hourly | file | 240 | 240 | 0 | 0 |" in text
    assert "Freshness" in text and "2023-01-02" in text


def test_weather_flow_rejects_a_file_source(fresh_home: Path, prefect_server: str) -> None:
    from flows.ingest import ingest_weather

    with pytest.raises(ValueError, match="weather comes from"):
        ingest_weather(source="file")


def test_an_ingest_waits_while_another_holds_the_ingest_slot(fresh_home: Path, prefect_server: str) -> None:
    """The global concurrency limit `seongsu-ingest` (1 slot): whoever holds it -- another ingest
    deployment, or the pipeline's in-process ingest subflow -- an ingest flow writes only after it
    is released."""
    import contextvars
    import datetime as dt
    import threading
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectNotFound

    from flows.ingest import ingest_weather
    from tasks.core.settings import get_settings
    from tasks.data.warehouse import open_warehouse
    from tasks.ops.orchestration import INGEST_LIMIT

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(INGEST_LIMIT)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=INGEST_LIMIT, limit=1))

    def weather_rows() -> int:
        wh = open_warehouse(get_settings().resolved_warehouse_url)
        try:
            wh.migrate()
            return int(wh.read("select count(*) as n from weather_hourly")["n"][0])
        finally:
            wh.close()

    day = dt.date(2023, 5, 10)
    finished = threading.Event()

    def other_ingest() -> None:
        ingest_weather(source="snapshot", start=day - dt.timedelta(days=2), as_of=day)
        finished.set()

    with concurrency(INGEST_LIMIT, occupy=1):
        # the session's Prefect settings live in a context variable: the thread gets a copy
        thread = threading.Thread(target=contextvars.copy_context().run, args=(other_ingest,))
        thread.start()
        time.sleep(8)  # long enough for the flow to start and reach the slot; it must still wait
        assert not finished.is_set() and weather_rows() == 0, "an ingest wrote while the slot was held"
    thread.join(timeout=120)
    assert finished.is_set() and weather_rows() > 0
