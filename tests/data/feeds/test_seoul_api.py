"""SeoulOpenApiFeed and the shared HTTP helper, against recorded real Seoul Open API payloads.

The payloads in ``tests/fixtures/api`` are copies of ``/work/shared/data/api-samples``; multi-page,
legacy-schema and string-number scenarios are built from those same real rows (renamed or
re-served), never from invented values.  Every test injects zero waits, so nothing sleeps.
"""

from __future__ import annotations

import json
import logging
from datetime import date
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
from tasks.data.feeds.http import build_client, get_with_retries, parse_retry_after, redact
from tasks.data.feeds.seoul_api import (
    DAILY,
    DAILY_FIELDS,
    DAILY_SCHEMA,
    DEFAULT_BASE_URL,
    HOUR_FIELDS,
    MONTHLY_HOURLY,
    MONTHLY_HOURLY_SCHEMA,
    SeoulOpenApiFeed,
    normalise_count,
    page_ranges,
)
from tests.support.feeds import (
    ApiCase,
    check_key_never_logged,
    check_retries_exhausted,
    check_retries_then_success,
)
from tests.support.paths import api_json

KEY = "5a1b2c3d4e5f60718293a4b5c6d7e8f9"  # a made-up key in the usual 32-hex shape
DAILY_URL = f"{DEFAULT_BASE_URL}/{KEY}/json/CardSubwayStatsNew/"
MONTHLY_URL = f"{DEFAULT_BASE_URL}/{KEY}/json/CardSubwayTime/"

CURRENT_TO_LEGACY_DAILY = dict(DAILY_FIELDS.values())
"""The feed's own (current, legacy) field pairs: the tests turn one recorded schema into the other."""


def daily_doc() -> dict[str, Any]:
    return api_json("CardSubwayStatsNew.2024-08-30.json")


def monthly_doc() -> dict[str, Any]:
    return api_json("CardSubwayTime.legacy-schema.2021-06.json")


def errors() -> dict[str, Any]:
    return api_json("errors.seoul-openapi.json")


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def make_feed(retries: int = 3, **kwargs: Any) -> SeoulOpenApiFeed:
    return SeoulOpenApiFeed(SecretStr(KEY), retries=retries, wait_base_s=0.0, **kwargs)


API = ApiCase(make_feed, DAILY_URL, DAILY, date(2024, 8, 30), daily_doc, 5, (KEY,), "/***/json/")


def payload(dataset: str, doc: dict[str, Any] | bytes) -> RawPayload:
    content = doc if isinstance(doc, bytes) else encode(doc)
    return RawPayload("seoul_api", dataset, "test.json", content)


def call_paths(route: respx.Route) -> list[str]:
    return [call.request.url.path for call in route.calls]


# --- CardSubwayStatsNew -> ridership_daily ----------------------------------------------------


def test_daily_parse_current_schema_with_int_values() -> None:
    frame = make_feed().parse(payload(DAILY, daily_doc()))

    assert frame.schema == DAILY_SCHEMA
    assert frame.height == 5
    assert frame.row(0) == (date(2024, 8, 30), "1호선", "서울역", "63216", "60119", date(2024, 9, 2))
    assert frame["station_name"].to_list() == ["서울역", "시청", "종각", "종로3가", "종로5가"]


def test_daily_parse_legacy_names_and_string_numbers() -> None:
    doc = daily_doc()
    rows = doc["CardSubwayStatsNew"]["row"]
    doc["CardSubwayStatsNew"]["row"] = [
        {CURRENT_TO_LEGACY_DAILY[k]: (str(v) if isinstance(v, int) else v) for k, v in r.items()}
        for r in rows
    ]
    doc["CardSubwayStatsNew"]["row"][1]["RIDE_PASGR_NUM"] = "31658.0"  # float-as-text, as in other APIs

    legacy = make_feed().parse(payload(DAILY, doc))
    current = make_feed().parse(payload(DAILY, daily_doc()))

    assert legacy.equals(current)


def test_daily_unparseable_count_is_kept_for_the_validator() -> None:
    doc = daily_doc()
    doc["CardSubwayStatsNew"]["row"][0]["GTON_TNOPE"] = "n/a"
    frame = make_feed().parse(payload(DAILY, doc))
    assert frame["boardings"][0] == "n/a"
    assert frame["boardings"].cast(pl.Int32, strict=False).null_count() == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(63216, "63216"), ("17354", "17354"), (71.0, "71"), ("71.0", "71"), ("1,234", "1234"), (None, None)],
)
def test_normalise_count(raw: Any, expected: str | None) -> None:
    assert normalise_count(raw) == expected


def test_daily_paging_uses_list_total_count() -> None:
    doc = daily_doc()
    doc["CardSubwayStatsNew"]["list_total_count"] = 2500
    body = encode(doc)
    with respx.mock(assert_all_called=True) as router:
        route = router.get(url__startswith=DAILY_URL).mock(return_value=httpx.Response(200, content=body))
        payloads = make_feed().fetch(DAILY, date(2024, 8, 30), date(2024, 8, 30))

    assert call_paths(route) == [
        f"/{KEY}/json/CardSubwayStatsNew/1/1000/20240830",
        f"/{KEY}/json/CardSubwayStatsNew/1001/2000/20240830",
        f"/{KEY}/json/CardSubwayStatsNew/2001/2500/20240830",
    ]
    assert [p.name for p in payloads] == [f"CardSubwayStatsNew_20240830_p{i}.json" for i in (1, 2, 3)]
    assert all(p.content == body and p.source == "seoul_api" and p.dataset == DAILY for p in payloads)


def test_page_ranges() -> None:
    assert page_ranges(618) == [(1, 618)]
    assert page_ranges(1000) == [(1, 1000)]
    assert page_ranges(1001) == [(1, 1000), (1001, 1001)]
    assert page_ranges(0) == []


def test_daily_fetch_one_series_per_day() -> None:
    with respx.mock() as router:
        route = router.get(url__startswith=DAILY_URL).mock(return_value=httpx.Response(200, json=daily_doc()))
        payloads = make_feed().fetch(DAILY, date(2024, 8, 30), date(2024, 9, 1))

    assert [p.rsplit("/", 1)[1] for p in call_paths(route)] == ["20240830", "20240831", "20240901"]
    assert [p.name for p in payloads] == [
        "CardSubwayStatsNew_20240830_p1.json",
        "CardSubwayStatsNew_20240831_p1.json",
        "CardSubwayStatsNew_20240901_p1.json",
    ]


def test_info_200_inside_service_is_an_empty_result() -> None:
    no_data = errors()["no_data_inside_service"]
    with respx.mock() as router:
        router.get(url__startswith=DAILY_URL).mock(return_value=httpx.Response(200, json=no_data))
        payloads = make_feed().fetch(DAILY, date(2026, 3, 1), date(2026, 3, 1))

    assert len(payloads) == 1
    frame = make_feed().parse(payloads[0])
    assert frame.is_empty()
    assert frame.schema == DAILY_SCHEMA


def test_info_200_at_top_level_is_an_empty_result() -> None:
    doc = {"RESULT": errors()["no_data_inside_service"]["CardSubwayStatsNew"]["RESULT"]}
    assert make_feed().parse(payload(MONTHLY_HOURLY, doc)).schema == MONTHLY_HOURLY_SCHEMA


def test_top_level_error_raises_api_error_with_code() -> None:
    with respx.mock() as router:
        router.get(url__startswith=DAILY_URL).mock(
            return_value=httpx.Response(200, json=errors()["error_top_level"])
        )
        with pytest.raises(FeedAPIError) as info:
            make_feed().fetch(DAILY, date(2024, 8, 30), date(2024, 8, 30))

    assert info.value.code == "ERROR-336"
    assert not isinstance(info.value, FeedAuthError)


@pytest.mark.parametrize("code", ["INFO-100", "INFO-300"])
@pytest.mark.parametrize("inside", [True, False])
def test_key_errors_raise_auth_error_without_the_key(code: str, inside: bool) -> None:
    result = {"RESULT": {"CODE": code, "MESSAGE": "인증키가 유효하지 않습니다."}}
    doc = {"CardSubwayStatsNew": result} if inside else result
    with respx.mock() as router:
        router.get(url__startswith=DAILY_URL).mock(return_value=httpx.Response(200, json=doc))
        with pytest.raises(FeedAuthError) as info:
            make_feed().fetch(DAILY, date(2024, 8, 30), date(2024, 8, 30))

    assert info.value.code == code
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        b"<html>502 Bad Gateway</html>",
        b"",
        b"[1, 2]",
        b'{"something": "else"}',
        b'{"CardSubwayStatsNew": {"RESULT": {"CODE": "INFO-000"}, "row": []}}',  # no list_total_count
        b'{"CardSubwayStatsNew": {"list_total_count": 5, "RESULT": {"CODE": "INFO-000"}}}',  # no row
        b'{"CardSubwayStatsNew": {"list_total_count": 5, "row": []}}',  # no RESULT
    ],
)
def test_unreadable_payload_raises_format_error(content: bytes) -> None:
    with pytest.raises(FeedFormatError):
        make_feed().parse(payload(DAILY, content))


def test_garbage_json_on_fetch_raises_format_error() -> None:
    with respx.mock() as router:
        router.get(url__startswith=DAILY_URL).mock(return_value=httpx.Response(200, content=b"{not json"))
        with pytest.raises(FeedFormatError):
            make_feed().fetch(DAILY, date(2024, 8, 30), date(2024, 8, 30))


# --- CardSubwayTime -> ridership_monthly_hourly -----------------------------------------------


def legacy_to_current(doc: dict[str, Any]) -> dict[str, Any]:
    """The same real rows under the current field names (USE_MM, STTN, HR_h_GET_ON_NOPE...)."""
    renames = {"USE_MON": "USE_MM", "LINE_NUM": "SBWY_ROUT_LN_NM", "SUB_STA_NM": "STTN", "WORK_DT": "JOB_YMD"}
    for (current_on, legacy_on), (current_off, legacy_off) in HOUR_FIELDS.values():
        renames[legacy_on], renames[legacy_off] = current_on, current_off
    rows = doc["CardSubwayTime"]["row"]
    doc["CardSubwayTime"]["row"] = [{renames[k]: v for k, v in r.items()} for r in rows]
    return doc


def test_monthly_legacy_schema_melts_to_clock_hours() -> None:
    frame = make_feed().parse(payload(MONTHLY_HOURLY, monthly_doc()))

    assert frame.schema == MONTHLY_HOURLY_SCHEMA
    assert frame.height == 5 * 24
    assert frame["month"].unique().to_list() == [date(2021, 6, 1)]
    jongno = frame.filter(pl.col("station_name") == "종로5가").sort("clock_hour")
    assert jongno["clock_hour"].to_list() == list(range(24))
    assert jongno.row(4)[3:] == (4, "71", "0")  # FOUR_RIDE_NUM 71.0, FOUR_ALIGHT_NUM 0.0
    assert jongno.row(0)[3:] == (0, "4", "268")  # MIDNIGHT_
    assert jongno.row(8)[3:] == (8, "7414", "103060")  # EIGHT_


def test_monthly_current_schema_matches_legacy() -> None:
    legacy = make_feed().parse(payload(MONTHLY_HOURLY, monthly_doc()))
    current = make_feed().parse(payload(MONTHLY_HOURLY, legacy_to_current(monthly_doc())))
    assert current.equals(legacy)


def test_monthly_fetch_one_series_per_month_touching_the_range() -> None:
    with respx.mock() as router:
        route = router.get(url__startswith=MONTHLY_URL).mock(
            return_value=httpx.Response(200, json=monthly_doc())
        )
        payloads = make_feed().fetch(MONTHLY_HOURLY, date(2021, 5, 31), date(2021, 6, 1))

    assert call_paths(route) == [
        f"/{KEY}/json/CardSubwayTime/1/1000/202105",
        f"/{KEY}/json/CardSubwayTime/1/1000/202106",
    ]
    assert [p.name for p in payloads] == ["CardSubwayTime_202105_p1.json", "CardSubwayTime_202106_p1.json"]


# --- retries, errors, secrets -----------------------------------------------------------------


def test_retries_on_503_429_and_timeout_then_succeeds() -> None:
    check_retries_then_success(API)


def test_retries_exhausted_raise_unavailable_without_the_key() -> None:
    check_retries_exhausted(API)


def test_transport_errors_exhausted_raise_unavailable() -> None:
    with respx.mock() as router:
        router.get(url__startswith=DAILY_URL).mock(side_effect=httpx.ConnectError(f"refused {KEY}"))
        with pytest.raises(FeedUnavailableError) as info:
            make_feed(retries=1).fetch(DAILY, date(2024, 8, 30), date(2024, 8, 30))
    assert KEY not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_other_4xx_is_not_retried() -> None:
    with respx.mock() as router:
        route = router.get(url__startswith=DAILY_URL).mock(return_value=httpx.Response(404))
        with pytest.raises(FeedAPIError) as info:
            make_feed().fetch(DAILY, date(2024, 8, 30), date(2024, 8, 30))

    assert route.call_count == 1
    assert info.value.code == "HTTP-404"
    assert KEY not in str(info.value)


def test_missing_key_is_a_clear_auth_error() -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.get(url__startswith=DEFAULT_BASE_URL)
        with pytest.raises(FeedAuthError, match="SEOUL_DATA_API_KEY"):
            SeoulOpenApiFeed(None).fetch(DAILY, date(2024, 8, 30), date(2024, 8, 30))
    assert route.call_count == 0


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError):
        make_feed().fetch("weather_hourly", date(2024, 8, 30), date(2024, 8, 30))
    assert make_feed().datasets() == (DAILY, MONTHLY_HOURLY)


def test_key_never_reaches_logs(caplog: pytest.LogCaptureFixture) -> None:
    check_key_never_logged(API, caplog)


def test_from_settings_reads_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.core.settings import Settings

    monkeypatch.setenv("SEOUL_DATA_API_KEY", KEY)
    monkeypatch.setenv("SEONGSU_HTTP_RETRIES", "2")
    feed = SeoulOpenApiFeed.from_settings(Settings())
    with respx.mock() as router:
        route = router.get(url__startswith=DAILY_URL).mock(return_value=httpx.Response(200, json=daily_doc()))
        feed.fetch(DAILY, date(2024, 8, 30), date(2024, 8, 30))
    assert route.call_count == 1
    assert feed.retries == 2


# --- tasks.data.feeds.http helpers -----------------------------------------------------------------


def test_redact_covers_url_encodings() -> None:
    secret = "ab+c/d=="
    text = "k=ab+c/d== k=ab%2Bc%2Fd%3D%3D k=ab%2Bc/d%3D%3D"
    assert redact(text, [secret]) == "k=*** k=*** k=***"
    assert redact("nothing here", []) == "nothing here"


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_retry_after_is_honoured_when_small_and_ignored_when_huge() -> None:
    waits: list[float] = []
    client = build_client(5.0)
    with respx.mock() as router:
        router.get("http://example.test/x").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "7"}),
                httpx.Response(429, headers={"Retry-After": "3600"}),
                httpx.Response(200, text="ok"),
            ]
        )
        response = get_with_retries(
            client, "http://example.test/x", retries=2, wait_base_s=0.5, sleep=waits.append
        )
    assert response.text == "ok"
    assert waits == [7.0, 1.0]  # Retry-After 7s; then backoff 0.5 * 2**1 instead of an hour


def test_client_factory_quiets_httpx() -> None:
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    client = build_client(3.0, secrets=[KEY])
    assert logging.getLogger("httpx").level == logging.WARNING
    assert client.timeout.read == 3.0
