"""The ingest flows on a real Prefect server: task runs, artifacts, failure states."""

from __future__ import annotations

from pathlib import Path

import pytest

FILES = Path(__file__).parent / "fixtures" / "files"


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
        ingest_weather(source="file")  # type: ignore[arg-type]
