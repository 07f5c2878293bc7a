"""The crowding service: the forecast index (in process) and the real Bento server (subprocess).

The package is a small REAL one (``tests/support/packages.py``): real snapshot data, a tiny CatBoost
model from ``tasks.model.train``, forecasts computed by it.  The server runs ``bentoml serve`` on a free
port with its own BENTOML_HOME, exactly as ``seongsu serve`` does.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest

from bentos.crowding.directory import InputError, UnknownStation
from bentos.crowding.lookup import ForecastIndex, load_index
from bentos.crowding.schemas import MAX_PREDICT_ROWS, FeatureRow, ForecastResponse, ModelInfo
from tasks.model.features import FEATURE_COLUMNS, build_features, cutoff_for, forecast_targets
from tasks.model.package import LEVELS, crowding_level, read_package
from tests.support.packages import (
    AUTH,
    TRAIN_AS_OF,
    build_package,
    publish,
    running_service,
    snapshot_history,
)

FIRST = TRAIN_AS_OF + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("pkg") / "package", version="test-v1")


@pytest.fixture(scope="module")
def index(package: Path) -> ForecastIndex:
    return load_index(package, "seongsu-crowding:test")


@pytest.fixture(scope="module")
def url(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("bentoml-home")
    publish(package, home)
    with running_service(home) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30.0, headers=AUTH) as c:
        yield c


# --------------------------------------------------------------------------------------------------
# the index, in process


def test_levels_follow_the_package_contract(package: Path, index: ForecastIndex) -> None:
    pkg = read_package(package)
    rows = pkg.forecasts.join(pkg.levels, on=["station_code", "direction"]).filter(pl.col("date") == FIRST)
    body = orjson.loads(
        index.forecast_json([str(c) for c in pkg.forecasts["station_code"].unique()], FIRST, FIRST, 5, 24)
    )
    got = {
        (st["station_code"], h["hour"], key): h[name]["level_index"]
        for st in body["stations"]
        for h in st["forecasts"]
        for key, name in (("board", "boardings"), ("alight", "alightings"))
    }
    assert len(got) == rows.height
    for r in rows.iter_rows(named=True):
        assert got[(r["station_code"], r["hour"], r["direction"])] == crowding_level(
            r["yhat"], r["q50"], r["q80"], r["q95"]
        )
    for st in body["stations"]:
        for h in st["forecasts"]:
            top = max(h["boardings"]["level_index"], h["alightings"]["level_index"])
            assert (h["level_index"], h["level"], h["level_en"]) == (top, *LEVELS[top])


def test_fast_path_equals_python_objects_and_schema(index: ForecastIndex) -> None:
    args = (["건대입구", "211"], FIRST, FIRST + dt.timedelta(days=2), 7, 9)
    raw = index.forecast_json(*args)
    assert orjson.loads(raw) == orjson.loads(orjson.dumps(index.forecast_data(*args)))
    parsed = ForecastResponse.model_validate_json(raw)
    assert [s.station_code for s in parsed.stations] == [212, 2729, 211]  # a name shared by two lines
    assert all(len(s.forecasts) == 3 * 3 for s in parsed.stations)
    assert {h.hour for h in parsed.stations[0].forecasts} == {7, 8, 9}


@pytest.mark.parametrize(
    "ref", ["211", "성수", "성수역", "Seongsu", "SEONGSU", " seong-su ", "seongsu station"]
)
def test_station_references(index: ForecastIndex, ref: str) -> None:
    assert [s.code for s in index.resolve([ref])] == [211]


def test_unknown_station_suggests(index: ForecastIndex) -> None:
    with pytest.raises(UnknownStation) as info:
        index.resolve(["Seongsoo"])
    assert info.value.payload()["suggestions"][0].startswith("성수 / Seongsu (211")


def test_out_of_range_names_the_forecastable_range(index: ForecastIndex) -> None:
    with pytest.raises(InputError) as info:
        index.forecast_json(["211"], FIRST + dt.timedelta(days=30), FIRST + dt.timedelta(days=30), 5, 24)
    assert info.value.payload()["forecastable"] == {
        "start": FIRST.isoformat(),
        "end": (FIRST + dt.timedelta(days=6)).isoformat(),
    }


def test_feature_row_schema_follows_feature_columns() -> None:
    assert tuple(FeatureRow.model_fields) == FEATURE_COLUMNS


# --------------------------------------------------------------------------------------------------
# the server


def test_forecast_by_code_korean_and_english_name(client: httpx.Client) -> None:
    answers = [
        client.post("/forecast", json={"station": ref, "date": FIRST.isoformat()}).json()
        for ref in ("211", "성수", "seongsu")
    ]
    assert answers[0] == answers[1] == answers[2]
    body = answers[0]
    assert body["model_version"] == "test-v1" and body["as_of"] == TRAIN_AS_OF.isoformat()
    assert body["package"].startswith("seongsu-crowding:")
    (station,) = body["stations"]
    assert (station["station_code"], station["station_name"], station["name_en"]) == (211, "성수", "Seongsu")
    assert [h["hour"] for h in station["forecasts"]] == list(range(5, 25))
    for h in station["forecasts"]:
        for d in (h["boardings"], h["alightings"]):
            assert 0 <= d["lo"] <= d["yhat"] <= d["hi"]
            assert d["level"] in {k for k, _ in LEVELS} and d["level_en"] in {e for _, e in LEVELS}


def test_default_date_range_and_hours(client: httpx.Client) -> None:
    default = client.post("/forecast", json={"station": 211, "hour_start": 8, "hour_end": 8}).json()
    assert [(h["date"], h["band"]) for h in default["stations"][0]["forecasts"]] == [
        (FIRST.isoformat(), "08:00-09:00")
    ]
    week = client.post(
        "/forecast",
        json={
            "station": ["211", "강남"],
            "start": FIRST.isoformat(),
            "end": (FIRST + dt.timedelta(days=6)).isoformat(),
        },
    ).json()
    assert [len(s["forecasts"]) for s in week["stations"]] == [7 * 20, 7 * 20]


ONE = FIRST.isoformat()
BAD_INPUTS: list[tuple[str, Any, int, str]] = [
    ("unknown station", {"station": "Seongsoo"}, 422, "did you mean 성수"),
    ("bad date", {"station": "211", "date": "2023-02-30"}, 400, "date"),
    ("range too long", {"station": "211", "start": ONE, "end": "2023-07-15"}, 400, "range too long"),
    ("end before start", {"station": "211", "start": ONE, "end": "2023-06-01"}, 400, "before `start`"),
    ("date and start", {"station": "211", "date": ONE, "start": ONE}, 400, "not both"),
    (
        "hours reversed",
        {"station": "211", "hour_start": 22, "hour_end": 6},
        400,
        "hour_start 22 is after hour_end 6",
    ),
    ("hour out of bands", {"station": "211", "hour_end": 25}, 400, "less than or equal to 24"),
    ("wrong type", {"station": {"code": 211}, "hour_start": "eight"}, 400, "a station is a code or a name"),
    ("no station", {"date": ONE}, 400, "Field required"),
    ("typo in a field", {"station": "211", "dates": ONE}, 400, "Extra inputs are not permitted"),
    ("too many stations", {"station": ["211"] * 11}, 400, "at most 10 stations"),
    (
        "not forecastable",
        {"station": "211", "date": "2023-07-20"},
        422,
        "outside what the served package can forecast",
    ),
]


@pytest.mark.parametrize(("case", "body", "status", "fragment"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_4xx_that_says_what_to_fix(
    client: httpx.Client, case: str, body: Any, status: int, fragment: str
) -> None:
    response = client.post("/forecast", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.text, response.text
    assert "error" in response.json()


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"not json", "application/json"),
        (b"--x\r\ngarbage", "multipart/form-data; boundary=x"),
        (b"garbage", "multipart/form-data"),
        (b'{"station": "211"}', "application/x-www-form-urlencoded"),  # curl -d without -H
        (b"\x80\x81\xff", "application/octet-stream"),
        (b"", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"station": "211", "hour_start": 1e309}', "application/json"),
    ],
)
def test_never_a_500_for_any_body(client: httpx.Client, content: bytes, content_type: str) -> None:
    for path in ("/forecast", "/predict"):
        response = client.post(path, content=content, headers={"content-type": content_type})
        assert response.status_code < 500, (path, response.status_code, response.text)


def test_predict_scores_rows_like_the_forecaster(client: httpx.Client, package: Path) -> None:
    from tasks.model.train import load

    history = snapshot_history().until(cutoff_for(TRAIN_AS_OF))
    targets = forecast_targets([211, 222], TRAIN_AS_OF).head(12)
    features = build_features(history.ridership, history.weather, targets)
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in features.select(FEATURE_COLUMNS).to_dicts()
    ]
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    expected = load(package / "model").predict(targets, history=history)
    assert len(got) == expected.height
    for p, (yhat, lo, hi) in zip(got, expected.select("yhat", "lo", "hi").iter_rows(), strict=True):
        assert p["yhat"] == pytest.approx(yhat, abs=0.01)
        assert p["lo"] == pytest.approx(lo, abs=0.01) and p["hi"] == pytest.approx(hi, abs=0.01)

    missing = client.post("/predict", json={"rows": [{k: v for k, v in rows[0].items() if k != "hour"}]})
    assert missing.status_code == 400 and "hour" in missing.text
    infinite = orjson.dumps({"rows": [{**rows[0], "temp_c": 1.0}]}).replace(
        b'"temp_c":1.0', b'"temp_c":1e999'
    )
    not_finite = client.post("/predict", content=infinite, headers={"content-type": "application/json"})
    assert not_finite.status_code == 400 and "finite" in not_finite.text
    too_many = client.post("/predict", json={"rows": rows[:1] * (MAX_PREDICT_ROWS + 1)})
    assert too_many.status_code == 400 and str(MAX_PREDICT_ROWS) in too_many.text


def test_model_endpoint(client: httpx.Client) -> None:
    info = ModelInfo.model_validate(client.get("/model").json())
    assert info.version == "test-v1" and info.as_of == TRAIN_AS_OF
    assert info.forecastable.start == FIRST and info.forecastable.end == FIRST + dt.timedelta(days=6)
    assert info.training_data["hash"] and info.training_data["end"] == cutoff_for(TRAIN_AS_OF).isoformat()
    assert (
        info.metrics["kind"] == "model" and info.metrics["recipe"]["params"]["depth"] == 4
    )  # what training wrote
    assert info.stations == 5


def test_health_metrics_and_docs(client: httpx.Client) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        assert client.get(path).status_code == 200
    client.post("/forecast", json={"station": "211"})
    metrics = client.get("/metrics").text
    assert "bentoml_service_request_total" in metrics and 'endpoint="/forecast"' in metrics
    spec = client.get("/docs.json").json()
    assert {"/forecast", "/predict", "/model", "/reload", "/metrics", "/readyz"} <= set(spec["paths"])
    forecast_doc = spec["paths"]["/forecast"]["post"]["description"]
    assert all(word in forecast_doc for word in ("q50", "q80", "q95", "여유", "매우혼잡", "Very busy"))
    assert client.get("/").status_code == 200  # the Swagger UI page


def test_docs_page_is_this_service_not_bentoml_boilerplate(client: httpx.Client) -> None:
    from importlib.metadata import version

    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    title = page.text.split("<title>")[1].split("</title>")[0]
    assert "Daily Seongsu" in title and "BentoML" not in title
    assert "googletagmanager" not in page.text and "github-corner" not in page.text
    spec = client.get("/docs.json").json()
    info = spec["info"]
    assert "Daily Seongsu" in info["title"]
    assert info["version"] == version("daily-seongsu")
    assert all(word in info["description"] for word in ("Seongsu", "q95", "KOGL", "80% interval"))
    assert "contact" not in info and "BentoML Team" not in json.dumps(spec)
    assert "shields.io" not in info["description"]  # BentoML's stock badges, broken offline
    schemas = spec["components"]["schemas"]
    assert {"ForecastRequest", "ForecastResponse", "PredictRequest"} <= set(schemas)
    assert not [name for name in schemas if name.endswith("IODescriptor")]
    assert "IODescriptor" not in json.dumps(spec["paths"])  # every $ref follows the rename
    # the swagger UI assets the page loads are BentoML's own, still served
    assert client.get("/static_content/swagger-ui-bundle.js").status_code == 200


def test_reload_is_a_no_op_without_a_new_version(client: httpx.Client) -> None:
    body = client.post("/reload").json()
    assert body["changed"] is False and body["version"] == "test-v1"


def test_fast_path_answers_exactly_like_the_bentoml_api(
    package: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ForecastFastPath`` must be invisible: same status and body as BentoML's own dispatch of the
    ``forecast`` API, for good requests and every kind of bad one (in process, both paths)."""
    from starlette.testclient import TestClient

    import bentos.crowding.service as service

    home = tmp_path_factory.mktemp("inproc-bentoml")
    publish(package, home)
    monkeypatch.setattr(service, "MODEL_STORE", str(home / "models"))
    bodies: list[bytes] = [orjson.dumps(b) for _, b, _, _ in BAD_INPUTS]
    bodies += [
        orjson.dumps({"station": "성수"}),
        orjson.dumps({"station": ["건대입구", 222], "start": ONE, "end": "2023-06-23", "hour_start": 23}),
        b"not json",
        b"",
        b"[]",
    ]
    with TestClient(service.CrowdingService.to_asgi(is_main=True)) as client:
        for body in bodies:
            answers = []
            for fast in (True, False):
                monkeypatch.setattr(service, "FAST_PATH", fast)
                r = client.post("/forecast", content=body, headers={"content-type": "application/json"})
                answers.append((r.status_code, r.json()))
                # BentoML's dispatch stamps its Server header; the fast path does not: both ran
                assert ("BentoML" in r.headers.get("server", "")) is not fast
            assert answers[0] == answers[1], body
            assert answers[0][0] in (200, 400, 422), answers[0]
