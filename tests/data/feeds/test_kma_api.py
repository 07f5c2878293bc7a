"""KmaApiFeed against recorded real data.go.kr payloads (ASOS hourly, village forecast, NODATA).

Fixtures are copies of ``/work/shared/data/api-samples``; ``errors.kma-gateway.xml`` is the gateway
error shape quoted in API-FORMATS.md (code 30, SERVICE_KEY_IS_NOT_REGISTERED_ERROR).  Paging,
single-object ``item`` and PCP/SNO variants re-serve or relabel those real items.  No sleeping.
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime
from typing import Any

import httpx
import polars as pl
import pytest
import respx
from pydantic import SecretStr

from tasks.data.feeds.base import (
    FeedAPIError,
    FeedAuthError,
    FeedFormatError,
    FeedUnavailableError,
    RawPayload,
)
from tasks.data.feeds.kma_api import DEFAULT_BASE_URL, KmaApiFeed, latest_issue, month_chunks
from tasks.data.feeds.kma_payload import FORECAST, FORECAST_SCHEMA, HOURLY, HOURLY_SCHEMA, parse_amount
from tests.support.feeds import (
    ApiCase,
    check_key_never_logged,
    check_retries_exhausted,
    check_retries_then_success,
)
from tests.support.paths import API_FIXTURES, api_json

# a made-up key in the shape of a data.go.kr "decoding" key (contains + / =)
KEY = "Xq9+TestOnlyKey/abcDEF0123456789zz=="
ENCODED_KEY = "Xq9%2BTestOnlyKey%2FabcDEF0123456789zz%3D%3D"  # the "encoding" form of the same key
ASOS_URL = f"{DEFAULT_BASE_URL}/AsosHourlyInfoService/getWthrDataList"
VILAGE_URL = f"{DEFAULT_BASE_URL}/VilageFcstInfoService_2.0/getVilageFcst"
NOW = datetime(2021, 10, 18, 5, 30)  # KST; the forecast sample is the 05:00 issue of this day


def asos_doc() -> dict[str, Any]:
    return api_json("AsosHourlyInfoService.getWthrDataList.seoul108.2019-01-20.json")


def vilage_doc() -> dict[str, Any]:
    return api_json("VilageFcstInfoService_2.0.getVilageFcst.2021-10-18.json")


def nodata_doc() -> dict[str, Any]:
    return api_json("errors.kma-datagokr.json")["nodata"]


GATEWAY_XML = (API_FIXTURES / "errors.kma-gateway.xml").read_bytes()


def make_feed(retries: int = 3, key: str = KEY, **kwargs: Any) -> KmaApiFeed:
    kwargs.setdefault("clock", lambda: NOW)
    return KmaApiFeed(SecretStr(key), retries=retries, wait_base_s=0.0, **kwargs)


API = ApiCase(
    make_feed, ASOS_URL, HOURLY, date(2019, 1, 20), asos_doc, 1, (KEY, ENCODED_KEY), "serviceKey=***"
)


def payload(dataset: str, doc: dict[str, Any] | bytes) -> RawPayload:
    content = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False).encode()
    return RawPayload("kma_api", dataset, "test.json", content)


def items(doc: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = doc["response"]["body"]["items"]["item"]
    return result


def params_of(route: respx.Route) -> list[dict[str, str]]:
    return [dict(call.request.url.params) for call in route.calls]


# --- ASOS hourly -> weather_hourly ------------------------------------------------------------


def test_hourly_parse_real_item() -> None:
    frame = make_feed().parse(payload(HOURLY, asos_doc()))

    assert frame.schema == HOURLY_SCHEMA
    assert frame.to_dicts() == [
        {
            "station_id": 108,
            "ts": datetime(2019, 1, 20, 1, 0),
            "temp_c": 3.6,
            "precip_mm": 0.0,  # rn "" = no precipitation
            "wind_ms": 2.5,
            "humidity_pct": 76.0,
            "snow_cm": None,  # dsnw "" = missing
            "cloud_tenths": 9.0,
        }
    ]


def test_hourly_single_object_item_is_normalised() -> None:
    doc = asos_doc()
    doc["response"]["body"]["items"]["item"] = items(doc)[0]
    frame = make_feed().parse(payload(HOURLY, doc))
    assert frame.height == 1
    assert frame["temp_c"][0] == 3.6


def test_hourly_fetch_chunks_by_month_with_the_right_params() -> None:
    with respx.mock() as router:
        route = router.get(url__startswith=ASOS_URL).mock(return_value=httpx.Response(200, json=asos_doc()))
        payloads = make_feed().fetch(HOURLY, date(2019, 1, 20), date(2019, 2, 2))

    first, second = params_of(route)
    assert first == {
        "serviceKey": KEY,
        "pageNo": "1",
        "numOfRows": "999",
        "dataType": "JSON",
        "dataCd": "ASOS",
        "dateCd": "HR",
        "stnIds": "108",
        "startDt": "20190120",
        "startHh": "00",
        "endDt": "20190131",
        "endHh": "23",
    }
    assert (second["startDt"], second["endDt"]) == ("20190201", "20190202")
    assert [p.name for p in payloads] == [
        "getWthrDataList_108_20190120-20190131_p1.json",
        "getWthrDataList_108_20190201-20190202_p1.json",
    ]
    assert all(p.source == "kma_api" and p.dataset == HOURLY for p in payloads)


def test_hourly_paging_via_total_count() -> None:
    doc = asos_doc()
    doc["response"]["body"].update({"pageNo": 1, "numOfRows": 999, "totalCount": 2500})
    body = json.dumps(doc).encode()
    with respx.mock() as router:
        route = router.get(url__startswith=ASOS_URL).mock(return_value=httpx.Response(200, content=body))
        payloads = make_feed().fetch(HOURLY, date(2019, 1, 1), date(2019, 1, 20))

    assert [p["pageNo"] for p in params_of(route)] == ["1", "2", "3"]
    assert [p.name[-8:] for p in payloads] == ["_p1.json", "_p2.json", "_p3.json"]
    assert all(p.content == body for p in payloads)


def test_hourly_end_is_clamped_to_yesterday() -> None:
    clock = lambda: datetime(2019, 1, 21, 10, 0)  # noqa: E731
    with respx.mock() as router:
        route = router.get(url__startswith=ASOS_URL).mock(return_value=httpx.Response(200, json=asos_doc()))
        make_feed(clock=clock).fetch(HOURLY, date(2019, 1, 20), date(2019, 1, 25))
        assert make_feed(clock=clock).fetch(HOURLY, date(2019, 1, 21), date(2019, 1, 25)) == []

    assert [(p["startDt"], p["endDt"]) for p in params_of(route)] == [("20190120", "20190120")]


def test_month_chunks() -> None:
    assert month_chunks(date(2024, 2, 10), date(2024, 2, 29)) == [(date(2024, 2, 10), date(2024, 2, 29))]
    assert month_chunks(date(2024, 1, 31), date(2024, 2, 1)) == [
        (date(2024, 1, 31), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 1)),
    ]


# --- village forecast -> weather_forecast -----------------------------------------------------


def test_forecast_parse_real_items_pivots_wide() -> None:
    frame = make_feed().parse(payload(FORECAST, vilage_doc()))

    assert frame.schema == FORECAST_SCHEMA
    assert frame.to_dicts() == [
        {
            "base_ts": datetime(2021, 10, 18, 5, 0),
            "fcst_ts": datetime(2021, 10, 18, 6, 0),
            "nx": 61,
            "ny": 126,
            "temp_c": 5.0,
            "precip_mm": 0.0,  # 강수없음
            "pop_pct": 0.0,
            "pty": 0,
            "sky": 1,
            "humidity_pct": None,  # REH is not among the 10 published items
            "wind_ms": 1.4,
            "snow_cm": None,
        }
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("강수없음", 0.0),
        ("1.0mm 미만", 0.5),
        ("3.2mm", 3.2),
        ("30.0~50.0mm", 40.0),
        ("50.0mm 이상", 50.0),
        ("적설없음", 0.0),
        ("1.0cm 미만", 0.5),
        ("2.4cm", 2.4),
        ("5.0cm 이상", 5.0),
        ("1~4mm", 2.5),  # the pre-2023 categorical style
        ("0", 0.0),
        ("???", None),
        ("", None),
    ],
)
def test_parse_amount(text: str, expected: float | None) -> None:
    assert parse_amount(text) == expected


def test_forecast_pcp_and_sno_text_in_a_payload() -> None:
    doc = vilage_doc()
    pcp = next(i for i in items(doc) if i["category"] == "PCP")
    pcp["fcstValue"] = "30.0~50.0mm"
    sno = {**copy.deepcopy(pcp), "category": "SNO", "fcstValue": "1.0cm 미만"}
    items(doc).append(sno)
    row = make_feed().parse(payload(FORECAST, doc)).row(0, named=True)
    assert (row["precip_mm"], row["snow_cm"]) == (40.0, 0.5)


def test_forecast_missing_marker_becomes_null() -> None:
    doc = vilage_doc()
    next(i for i in items(doc) if i["category"] == "TMP")["fcstValue"] = "-999"
    assert make_feed().parse(payload(FORECAST, doc))["temp_c"][0] is None


@pytest.mark.parametrize(
    ("at", "issue"),
    [
        (datetime(2021, 10, 18, 5, 9), datetime(2021, 10, 18, 2, 0)),
        (datetime(2021, 10, 18, 5, 10), datetime(2021, 10, 18, 5, 0)),
        (datetime(2021, 10, 18, 23, 59), datetime(2021, 10, 18, 23, 0)),
        (datetime(2021, 10, 18, 2, 0), datetime(2021, 10, 17, 23, 0)),
    ],
)
def test_latest_issue(at: datetime, issue: datetime) -> None:
    assert latest_issue(at) == issue


def test_forecast_fetch_takes_the_latest_issue_available() -> None:
    with respx.mock() as router:
        route = router.get(url__startswith=VILAGE_URL).mock(
            return_value=httpx.Response(200, json=vilage_doc())
        )
        today = make_feed().fetch(FORECAST, date(2021, 10, 18), date(2021, 10, 18))
        past = make_feed().fetch(FORECAST, date(2021, 10, 16), date(2021, 10, 16))

    sent = params_of(route)
    assert {k: sent[0][k] for k in ("base_date", "base_time", "nx", "ny", "numOfRows", "dataType")} == {
        "base_date": "20211018",
        "base_time": "0500",
        "nx": "61",
        "ny": "127",
        "numOfRows": "1000",
        "dataType": "JSON",
    }
    assert (sent[1]["base_date"], sent[1]["base_time"]) == ("20211016", "2300")
    assert today[0].name == "getVilageFcst_61_127_202110180500_p1.json"
    assert past[0].name == "getVilageFcst_61_127_202110162300_p1.json"


def test_fetch_issue_pages_and_uses_configured_grid() -> None:
    doc = vilage_doc()
    doc["response"]["body"].update({"pageNo": 1, "numOfRows": 1000, "totalCount": 1100})
    with respx.mock() as router:
        route = router.get(url__startswith=VILAGE_URL).mock(return_value=httpx.Response(200, json=doc))
        payloads = make_feed(nx=60, ny=127).fetch_issue(datetime(2021, 10, 18, 5, 0))

    assert [(p["pageNo"], p["nx"]) for p in params_of(route)] == [("1", "60"), ("2", "60")]
    assert len(payloads) == 2


# --- result codes, errors, retries, secrets ---------------------------------------------------


def test_nodata_is_an_empty_result() -> None:
    with respx.mock() as router:
        router.get(url__startswith=ASOS_URL).mock(return_value=httpx.Response(200, json=nodata_doc()))
        payloads = make_feed().fetch(HOURLY, date(2019, 1, 20), date(2019, 1, 20))

    assert len(payloads) == 1
    frame = make_feed().parse(payloads[0])
    assert frame.is_empty() and frame.schema == HOURLY_SCHEMA


def test_nodata_old_spelling_and_empty_items_string() -> None:
    doc = nodata_doc()
    doc["response"]["header"] = {"resultCode": "99", "resultMsg": "NO_DATA"}
    assert make_feed().parse(payload(FORECAST, doc)).schema == FORECAST_SCHEMA
    doc = nodata_doc()
    doc["response"]["header"]["resultCode"] = "00"
    doc["response"]["header"]["resultMsg"] = "NORMAL_SERVICE"
    doc["response"]["body"]["items"] = ""
    assert make_feed().parse(payload(HOURLY, doc)).is_empty()


def test_gateway_xml_key_error_is_an_auth_error() -> None:
    with respx.mock() as router:
        router.get(url__startswith=ASOS_URL).mock(
            return_value=httpx.Response(200, content=GATEWAY_XML, headers={"Content-Type": "text/xml"})
        )
        with pytest.raises(FeedAuthError) as info:
            make_feed().fetch(HOURLY, date(2019, 1, 20), date(2019, 1, 20))

    assert info.value.code == "30"
    assert "SERVICE_KEY_IS_NOT_REGISTERED_ERROR" in str(info.value)
    assert KEY not in str(info.value)


def test_gateway_xml_quota_error_is_unavailable() -> None:
    xml = GATEWAY_XML.replace(b">30<", b">22<")
    with pytest.raises(FeedUnavailableError, match="22"):
        make_feed().parse(payload(HOURLY, xml))


def test_other_result_code_is_an_api_error() -> None:
    doc = nodata_doc()
    doc["response"]["header"] = {"resultCode": "10", "resultMsg": "INVALID_REQUEST_PARAMETER_ERROR"}
    with pytest.raises(FeedAPIError) as info:
        make_feed().parse(payload(HOURLY, doc))
    assert info.value.code == "10"
    assert not isinstance(info.value, FeedAuthError)


@pytest.mark.parametrize(
    "content",
    [b"{garbage", b"", b"[]", b'{"response": {}}', b"<html><body>oops</body></html>", b"<unclosed"],
)
def test_unreadable_payload_is_a_format_error(content: bytes) -> None:
    with pytest.raises(FeedFormatError):
        make_feed().parse(payload(HOURLY, content))


def test_retries_on_5xx_429_and_timeout_then_succeeds() -> None:
    check_retries_then_success(API)


def test_retries_exhausted_raise_unavailable_without_the_key() -> None:
    check_retries_exhausted(API)


def test_http_401_is_an_auth_error_and_not_retried() -> None:
    with respx.mock() as router:
        route = router.get(url__startswith=ASOS_URL).mock(
            return_value=httpx.Response(401, text="Unauthorized")
        )
        with pytest.raises(FeedAuthError) as info:
            make_feed().fetch(HOURLY, date(2019, 1, 20), date(2019, 1, 20))
    assert route.call_count == 1
    assert KEY not in str(info.value) and ENCODED_KEY not in str(info.value)


def test_encoded_key_is_decoded_once_before_sending() -> None:
    with respx.mock() as router:
        route = router.get(url__startswith=ASOS_URL).mock(return_value=httpx.Response(200, json=asos_doc()))
        make_feed(key=ENCODED_KEY).fetch(HOURLY, date(2019, 1, 20), date(2019, 1, 20))
    assert params_of(route)[0]["serviceKey"] == KEY
    assert ENCODED_KEY in str(route.calls[0].request.url)  # httpx encodes it exactly once


def test_missing_key_is_a_clear_auth_error() -> None:
    with pytest.raises(FeedAuthError, match="KMA_API_KEY"):
        KmaApiFeed(None, clock=lambda: NOW).fetch(FORECAST, date(2021, 10, 18), date(2021, 10, 18))


def test_key_never_reaches_logs(caplog: pytest.LogCaptureFixture) -> None:
    check_key_never_logged(API, caplog)


def test_datasets_and_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.core.settings import Settings

    monkeypatch.setenv("KMA_API_KEY", KEY)
    feed = KmaApiFeed.from_settings(Settings())
    assert feed.datasets() == (HOURLY, FORECAST)
    assert (feed.station_id, feed.nx, feed.ny) == (108, 61, 127)
    with pytest.raises(ValueError):
        feed.fetch("ridership_daily", date(2024, 1, 1), date(2024, 1, 1))
    assert isinstance(feed.parse(payload(HOURLY, asos_doc())), pl.DataFrame)
