"""The read API over real HTTP, against the warehouse server and against chDB in-process.

Sessions are built by the real core and written by the real sink
(readside_data.write); the api.video session is the reference page's own,
taken in through the api.video dialect, so listing it is a round trip.
"""

from __future__ import annotations

import json
import logging
import resource
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from conftest import REPO, free_port
from readside_data import listening, write
from readside_serving import RecordingClient, chromium, drawn, serve  # noqa: F401 (chromium: a fixture)
from selenium import webdriver
from selenium.webdriver.common.by import By

from config.settings import Settings
from devkit.sample_retime import retimed
from ingest.dialects import musicclips, shortvideo
from ingest.dialects.apivideo import PlayerSession, PlayerSessionEvents, to_events
from ingest.dialects.context import DialectContext
from ingest.examples import reference
from processors.completeness import SHARED, Bound
from readapi.apivideo import LISTED_SQL, to_item
from readapi.app import create_app
from sinks.client import connect
from sinks.completeness import write_bounds
from sinks.migrate import migrate

pytestmark = pytest.mark.integration  # the warehouse server or chDB, and Chromium

ORG_A, ORG_B = str(uuid.uuid4()), str(uuid.uuid4())
TOKENS = {"token-of-a": ORG_A, "token-of-b": ORG_B}
A = {"Authorization": "Bearer token-of-a"}
B = {"Authorization": "Bearer token-of-b"}
APIVIDEO_SESSION = "ps5ltuhfsTOeh6bP03Tq5OWc"  # the session id in the reference's links
SHARED_CLIP = "clip-in-both-organizations"
EXTRA = [  # five more events after the reference's 25, so there are 30 as on the page
    {"type": "resume", "at": 3, "emittedAt": "2020-09-17T09:41:16.000Z"},
    {"type": "pause", "at": 8, "emittedAt": "2020-09-17T09:41:21.000Z"},
    {"type": "resume", "at": 8, "emittedAt": "2020-09-17T09:41:22.000Z"},
    {"type": "seek.backward", "from": 8, "to": 2.5, "emittedAt": "2020-09-17T09:41:22.000Z"},
    {"type": "end", "at": 30, "emittedAt": "2020-09-17T09:41:50.000Z"},
]
# What the reference page answers for its first page (its own session id).
REFERENCE_PAGINATION = {
    "currentPage": 1, "currentPageItems": 25, "itemsTotal": 30,
    "links": [{"rel": rel, "uri": f"/analytics/sessions/{APIVIDEO_SESSION}/events"
                                  f"?currentPage={page}&pageSize=25"}
              for rel, page in (("self", 1), ("first", 1), ("next", 2), ("last", 2))],
    "pageSize": 25, "pagesTotal": 2,
}


@pytest.fixture(scope="module", params=["server", "chdb"])
def backend(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Client]]:
    """Both ways Playhead reaches ClickHouse: `playhead warehouse` over HTTP, and the
    engine in this process (one client, closed at the end: chDB opens one path per
    process at a time, and other modules open theirs)."""
    if request.param == "server":
        url = request.getfixturevalue("warehouse_url")
        yield url, connect(url)
        return
    url = f"chdb://{tmp_path_factory.mktemp('read-chdb') / 'data'}"
    client = connect(url)
    try:
        yield url, client
    finally:
        client.close()


@pytest.fixture(scope="module")
def warehouse(backend: tuple[str, Client]) -> Iterator[tuple[Client, str]]:
    client = backend[1]
    database = f"test_read_{uuid.uuid4().hex[:10]}"
    migrate(client, database)
    try:
        yield client, database
    finally:
        client.command(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(scope="module")
def sessions(warehouse: tuple[Client, str]) -> dict[str, Any]:
    client, db = warehouse
    reference_request = reference("apivideo")
    parts = [reference_request, {**reference_request, "offset": 25, "events": EXTRA}]
    apivideo = [e for part in parts for e in to_events(
        PlayerSession(APIVIDEO_SESSION, PlayerSessionEvents.model_validate(part)),
        DialectContext(ORG_A, time.time()))]
    start = time.time() - 3 * 86400
    web = listening(ORG_A, "clip-a", [(0, 4.554), (308.053, 542.643)], start, "Web",
                    clip_length=600)
    mobile = listening(ORG_A, "clip-a", [(0, 60)], start + 86400, "MobileApp")
    short = listening(ORG_A, "clip-a", [(0, 5)], start + 86400, "Web")
    theirs = listening(ORG_B, SHARED_CLIP, [(0, 50)], start, "Web")
    ours = listening(ORG_A, SHARED_CLIP, [(10, 30)], start, "Web")
    # The short-video and music-clips references, through their own dialects: a
    # short-video session id is `<session>/<clip>`, a music-clips one `<client>:<day>`.
    # Their samples span hours; moved to just after midnight UTC they would span two
    # days (two day sessions), so in the small hours they end a minute before it.
    now = time.time()
    if now % 86400 < 6 * 3600:
        now -= now % 86400 + 60
    short_video = [e for event in retimed("shortvideo", now)["events"] for e in
                   shortvideo.to_events(shortvideo.ShortVideoEvent.model_validate(event),
                                        DialectContext(ORG_A, now))]
    music = [e for path, body in retimed("musicclips", now).items()
             for endpoint in [musicclips.Endpoint(path.strip("/"))]
             for e in musicclips.to_events(musicclips.ClipsRequest(
                 endpoint, musicclips.MODELS[endpoint].model_validate(body)),
                 DialectContext(ORG_A, now))]
    apps: dict[str, list[Any]] = {}
    for event in [*short_video, *music]:
        apps.setdefault(event.session_id, []).append(event)
    write(client, db, apivideo, web, mobile, short, theirs, ours, *apps.values())
    return {"web": web, "mobile": mobile, "theirs": theirs, "ours": ours, "days": start,
            "short_video": short_video, "music": music}


@pytest.fixture(scope="module")
def api(backend: tuple[str, Client], warehouse: tuple[Client, str], sessions: dict[str, Any]
        ) -> Iterator[tuple[str, list[str]]]:
    texts: list[str] = []
    url, client = backend
    settings = Settings(clickhouse_url=url, clickhouse_database=warehouse[1],
                        read_tokens=TOKENS, api_port=free_port())
    # A client per thread on the server, as the app makes them (the dashboard asks
    # several routes at once); chDB is one engine per process, so its one client.
    def factory() -> Client:
        return RecordingClient(connect(url) if url.startswith("http") else client, texts)  # type: ignore[return-value]

    for api_url in serve(settings, factory):
        yield api_url, texts


def get(api: tuple[str, list[str]], path: str, headers: dict[str, str] | None = None,
        **params: Any) -> httpx.Response:
    return httpx.get(api[0] + path, params=params, headers=headers, timeout=30)


def test_session_events_give_back_the_reference_page(api: tuple[str, list[str]]) -> None:
    answer = get(api, f"/analytics/sessions/{APIVIDEO_SESSION}/events", A)
    assert answer.status_code == 200
    body = answer.json()
    # The reference page's own 25 events, byte for byte: types, positions, times.
    expected = [dict(sorted(e.items())) for e in reference("apivideo")["events"]]
    assert body["data"] == expected
    assert [list(item) for item in body["data"]][:5] == [
        ["at", "emittedAt", "type"]] * 4 + [["emittedAt", "from", "to", "type"]]
    assert body["pagination"] == REFERENCE_PAGINATION
    assert list(body["pagination"]) == list(REFERENCE_PAGINATION)


def test_second_page_and_links(api: tuple[str, list[str]]) -> None:
    body = get(api, f"/analytics/sessions/{APIVIDEO_SESSION}/events", A,
               currentPage=2, pageSize=25).json()
    assert body["data"] == [dict(sorted(e.items())) for e in EXTRA]
    assert body["data"][3] == {"emittedAt": "2020-09-17T09:41:22.000Z", "from": 8, "to": 2.5,
                               "type": "seek.backward"}
    pages = {link["rel"]: link["uri"] for link in body["pagination"]["links"]}
    assert list(pages) == ["self", "first", "previous", "last"]
    assert pages["previous"].endswith("?currentPage=1&pageSize=25")
    assert body["pagination"]["currentPageItems"] == 5
    small = get(api, f"/analytics/sessions/{APIVIDEO_SESSION}/events", A,
                currentPage=3, pageSize=7).json()["pagination"]
    assert (small["pagesTotal"], small["currentPageItems"]) == (5, 7)
    assert [link["rel"] for link in small["links"]] == ["self", "first", "previous", "next",
                                                        "last"]
    beyond = get(api, f"/analytics/sessions/{APIVIDEO_SESSION}/events", A, currentPage=9).json()
    assert beyond["data"] == [] and beyond["pagination"]["itemsTotal"] == 30


def test_unknown_session_is_404_and_bad_paging_is_400(api: tuple[str, list[str]]) -> None:
    missing = get(api, "/analytics/sessions/no-such-session/events", A)
    assert missing.status_code == 404
    assert missing.json()["name"] == "sessionId" and missing.json()["status"] == 404
    for params in ({"pageSize": 101}, {"pageSize": 0}, {"currentPage": 0},
                   {"currentPage": "x"}):
        refused = get(api, f"/analytics/sessions/{APIVIDEO_SESSION}/events", A, **params)
        assert refused.status_code == 400, params
        assert refused.json()["name"] == next(iter(params))


def test_video_sessions_with_period_and_filters_kept_in_links(
    api: tuple[str, list[str]], sessions: dict[str, Any]
) -> None:
    everything = get(api, "/analytics/videos/clip-a", A).json()
    ids = [item["session"]["sessionId"] for item in everything["data"]]
    assert len(ids) == 3 and ids[0] == sessions["web"][0].session_id
    first = everything["data"][0]
    assert first["session"]["loadedAt"].endswith("Z") and first["session"]["metadata"] == []
    assert first["playhead"] == {"source": "Web", "listenedSeconds": 239.144, "kept": True}

    day = time.strftime("%Y-%m-%d", time.gmtime(sessions["days"]))
    one_day = get(api, "/analytics/videos/clip-a", A, period=day, pageSize=1).json()
    assert [item["session"]["sessionId"] for item in one_day["data"]] == ids[:1]
    assert one_day["pagination"]["links"][0]["uri"] == (
        f"/analytics/videos/clip-a?period={day}&currentPage=1&pageSize=1")
    assert get(api, "/analytics/videos/clip-a", A, period="2019").json()["data"] == []
    bad = get(api, "/analytics/videos/clip-a", A, period="last week")
    assert bad.status_code == 400 and bad.json()["name"] == "period"
    assert get(api, "/analytics/videos/no-such-clip", A).status_code == 404


def test_clip_consumption_totals_and_curve(
    api: tuple[str, list[str]], sessions: dict[str, Any]
) -> None:
    body = get(api, "/api/consumption/clips/clip-a", A).json()
    assert body["totals"] == {
        "sessions": 3, "keptSessions": 2, "listenedSeconds": 299.144,
        "listenedHours": round(299.144 / 3600, 6),
        # The clip is 600 s (reported by one session, used for both).
        "averageConsumptionShare": pytest.approx((239.144 / 600 + 60 / 600) / 2),
        "completionRate": 0.0,
    }
    assert [s["source"] for s in body["sources"]] == ["MobileApp", "Web"]
    curve = body["histogram"]
    assert len(curve) == 600  # to the clip's end, silent buckets included
    shares = {p["bucket"]: p["shareOfSessions"] for p in curve}
    assert shares[0] == shares[4] == 1.0 and shares[5] == shares[59] == 0.5
    assert shares[60] == shares[307] == 0.0 and shares[308] == shares[542] == 0.5
    assert shares[543] == 0.0

    web = get(api, "/api/consumption/clips/clip-a", A, source="Web").json()
    assert (web["totals"]["sessions"], web["totals"]["keptSessions"]) == (2, 1)
    assert web["histogram"][5]["listeners"] == 0 and web["histogram"][0]["shareOfSessions"] == 1
    day_two = time.strftime("%Y-%m-%d", time.gmtime(sessions["days"] + 86400))
    later = get(api, "/api/consumption/clips/clip-a", A, **{"from": day_two}).json()
    assert later["totals"]["sessions"] == 2 and later["firstDay"] == day_two
    assert get(api, "/api/consumption/clips/clip-a", A, to="2019-13-01").status_code == 400


def test_days_out_of_range_are_400_naming_the_parameter(api: tuple[str, list[str]]) -> None:
    # 9999-W52 ends in year 10000: once a plain-text 500.
    days = "between 1970-01-01 and 2149-06-06"
    for path, params, name, said in (
        ("/analytics/videos/clip-a", {"period": "9999-W52"}, "period", days),
        ("/analytics/videos/clip-a", {"period": "2200"}, "period", days),
        ("/analytics/videos/clip-a", {"period": "1969-12-31/1970-01-02"}, "period", days),
        ("/api/consumption/clips/clip-a", {"from": "9999-12-31"}, "from", days),
        ("/api/consumption/clips/clip-a", {"to": "1969-12-31"}, "to", days),
        ("/api/consumption/clips/clip-a", {"from": "2024-05-02", "to": "2024-05-01"}, "to",
         "swap them"),
        ("/api/consumption/clips/clip-a", {"from": "10000-01-01"}, "from", "valid date"),
    ):
        refused = get(api, path, A, **params)
        assert refused.status_code == 400, (params, refused.text)
        body = refused.json()
        assert (body["status"], body["name"]) == (400, name), params
        assert said in body["detail"], (params, body)


HUGE_EDGE = 1_000_000_000  # a session "heard" up to bucket 1e9


def session_row(org: str, clip: str, session: str, edge: int, clip_length: float | None
                ) -> dict[str, Any]:
    """A session_versions row as the sink writes one: listened [0, edge), one interval."""
    started = datetime(2024, 5, 1, 12, tzinfo=UTC)
    return {"organization_id": org, "clip_id": clip, "session_id": session, "source": "Web",
            "day": started.date(), "started_at": started, "ended_at": started,
            "duration_seconds": float(edge), "kept": 1, "interval_starts": [0.0],
            "interval_ends": [float(edge)], "version": 2, "unique_seconds": float(edge),
            "furthest_seconds": float(edge), "clip_length_seconds": clip_length,
            "edges": [0, edge], "listener_steps": [1, -1], "listen_steps": [1, -1]}


def test_a_huge_session_answers_a_bounded_curve(
    api: tuple[str, list[str]], warehouse: tuple[Client, str]
) -> None:
    # Written before the bounds existed, or by a producer that skipped them: an
    # mParticle clip length of 1e10 ms and a session reaching bucket 1e9, next
    # to an ordinary 30 s session. Building it bucket by bucket took 47 s and
    # a 918 MB body; now the timeline stops at the longest clip (86,400 s by
    # default) in at most maxPoints points, summed in ClickHouse.
    client, db = warehouse
    rows = [session_row(ORG_A, "clip-huge", "huge", HUGE_EDGE, 1e7),
            session_row(ORG_A, "clip-huge", "ordinary", 30, None)]
    client.insert(f"{db}.session_versions", [list(r.values()) for r in rows],
                  column_names=list(rows[0]))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    answer = get(api, "/api/consumption/clips/clip-huge", A)
    assert answer.status_code == 200, answer.text
    assert len(answer.content) < 200_000
    body = answer.json()
    curve = body["histogram"]
    assert (body["pointBuckets"], body["curveEndSeconds"], body["curveTruncated"]) == (
        87, 86_400, True)
    assert len(curve) == 994  # ceil(86,400 / 87): at most 1,000 points
    # The first point's 87 buckets: both sessions at its peak, the ordinary one
    # for 30 of them.
    assert curve[0] == {"bucket": 0, "startSeconds": 0, "listeners": 2, "listens": 2,
                        "meanListeners": round(1 + 30 / 87, 6), "shareOfSessions": 1.0}
    assert {p["listeners"] for p in curve[1:]} == {1}
    assert curve[-1]["bucket"] == 993 * 87
    assert body["totals"]["keptSessions"] == 2

    most = get(api, "/api/consumption/clips/clip-huge", A, maxPoints=10_000)
    assert len(most.json()["histogram"]) == 9600 and len(most.content) < 2_000_000
    assert most.json()["pointBuckets"] == 9
    few = get(api, "/api/consumption/clips/clip-huge", A, maxPoints=3).json()
    assert [p["bucket"] for p in few["histogram"]] == [0, 28_800, 57_600]
    for points in (10_001, 0, -1, "all"):
        refused = get(api, "/api/consumption/clips/clip-huge", A, maxPoints=points)
        assert refused.status_code == 400 and refused.json()["name"] == "maxPoints", points
    # The listings of that clip are pages as ever.
    listing = get(api, "/analytics/videos/clip-huge", A).json()
    assert listing["pagination"]["itemsTotal"] == 2
    # Peak memory of this process (server and, with chDB, warehouse) stays flat:
    # the dense curve grew it by gigabytes.
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 256 * 1024


def test_the_dashboard_draws_a_huge_session_in_bounded_points(
    api: tuple[str, list[str]], warehouse: tuple[Client, str], browser: webdriver.Chrome
) -> None:
    client, db = warehouse
    row = session_row(ORG_A, "clip-huge-drawn", "huge", HUGE_EDGE, 1e7)
    client.insert(f"{db}.session_versions", [list(row.values())], column_names=list(row))
    browser.get(f"{api[0]}/dashboard/clips/clip-huge-drawn?token=token-of-a")
    page = drawn(browser)
    # The timeline ends at the longest clip (a day), not at 1e9 s, in 994 points.
    assert page["xMax"] == 86_400 and len(page["points"]) == 994
    assert all(y == 100 for _, y, _ in page["points"])
    assert "each point shows the peak of 1:27" in page["footer"]
    assert "the curve stops at 24:00:00, the longest clip accepted" in page["footer"]


class FailingClient:
    """A real client, except that a query about clip ``explode`` raises what no handler
    expects (the stand-in for a bug), and one about clip ``slow`` is a query too slow
    for its time limit (1 s here, the API's own settings otherwise)."""

    def __init__(self, client: Client):
        self._client = client

    def query(self, query: str, *args: Any, **kwargs: Any) -> Any:
        clip = kwargs.get("parameters", {}).get("clip")
        if clip == "explode":
            raise ZeroDivisionError("a bug in the read API")
        if clip == "slow":
            return self._client.query(
                "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 3",
                settings={**kwargs["settings"], "max_execution_time": 1})
        return self._client.query(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_unexpected_errors_and_timeouts_are_json_and_the_pooled_client_goes_on(
    backend: tuple[str, Client], warehouse: tuple[Client, str], sessions: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, client = backend
    settings = Settings(clickhouse_url=url, clickhouse_database=warehouse[1],
                        read_tokens=TOKENS, api_port=free_port())
    with caplog.at_level(logging.ERROR, logger="playhead.readapi"):
        for api_url in serve(settings, lambda: FailingClient(client)):  # type: ignore[arg-type,return-value]
            with httpx.Client(base_url=api_url, headers=A, timeout=30) as pooled:
                for _ in range(2):  # a failure never poisons the next request
                    failed = pooled.get("/api/consumption/clips/explode")
                    assert failed.status_code == 500
                    assert failed.headers["content-type"] == "application/json"
                    assert failed.headers["connection"] == "close"
                    body = failed.json()
                    assert (body["type"], body["status"]) == ("internal_error", 500)
                    assert "log" in body["detail"] and "a bug" not in body["detail"]
                    after = pooled.get("/api/consumption/clips/clip-a")
                    assert after.status_code == 200 and after.json()["totals"]["sessions"] == 3
                slow = pooled.get("/api/consumption/clips/slow")
                assert slow.status_code == 503 and slow.headers["retry-after"] == "30"
                assert "took longer than 30 s" in slow.json()["detail"]
                assert pooled.get("/analytics/videos/clip-a").status_code == 200
    logged = [r for r in caplog.records if r.name == "playhead.readapi" and r.exc_info]
    assert len(logged) == 2 and "/api/consumption/clips/explode" in logged[0].getMessage()
    assert isinstance(logged[0].exc_info[1], ZeroDivisionError)  # type: ignore[index]


def test_a_token_reads_its_own_organization_only(
    api: tuple[str, list[str]], sessions: dict[str, Any]
) -> None:
    theirs = sessions["theirs"][0].session_id
    # B's session id, guessed or leaked, is unknown to A's token.
    assert get(api, f"/analytics/sessions/{theirs}/events", A).status_code == 404
    assert get(api, f"/analytics/sessions/{theirs}/events", B).status_code == 200
    assert get(api, f"/analytics/sessions/{APIVIDEO_SESSION}/events", B).status_code == 404
    assert get(api, "/api/consumption/clips/clip-a", B).status_code == 404
    # A clip id both organizations use: each sees its own sessions only.
    mine = get(api, "/api/consumption/clips/" + SHARED_CLIP, A).json()
    other = get(api, "/api/consumption/clips/" + SHARED_CLIP, B).json()
    assert mine["totals"]["listenedSeconds"] == 20 and other["totals"]["listenedSeconds"] == 50
    videos = get(api, "/analytics/videos/" + SHARED_CLIP, A).json()["data"]
    assert [v["session"]["sessionId"] for v in videos] == [sessions["ours"][0].session_id]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"},
                    {"Authorization": "Bearer " + ORG_A}):
        refused = get(api, "/api/consumption/clips/clip-a", headers)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"


HOSTILE = ["' OR 1=1 --", "x') OR ('1'='1", "{org:String}') OR 1=1 --", "\\' OR 1=1 #", "a\nb",
           "'; DROP TABLE session_versions; --", "%27%20OR%201%3D1", "ü' UNION SELECT 1 --"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_input_is_a_value_never_sql(api: tuple[str, list[str]], value: str) -> None:
    before = len(api[1])
    quoted = quote(value, safe="")
    assert get(api, f"/analytics/sessions/{quoted}/events", A).status_code == 404
    assert get(api, f"/analytics/videos/{quoted}", A).status_code == 404
    assert get(api, "/api/consumption/clips/clip-a", A, source=value).json()["totals"][
        "sessions"] == 0
    assert get(api, f"/api/consumption/clips/{quoted}", B).status_code == 404
    sent = api[1][before:]
    assert sent and not any(value in text for text in sent)
    # Nothing was harmed: A's data still reads the same.
    assert get(api, "/api/consumption/clips/clip-a", A).json()["totals"]["sessions"] == 3


def test_listed_events_agree_with_the_sql_filter(warehouse: tuple[Client, str]) -> None:
    # The count in `pagination` comes from LISTED_SQL, the items from to_item:
    # every combination must be listed by both or by neither.
    client, _ = warehouse
    kinds = ["START", "STOP", "SEEK", "HEARTBEAT", "OTHER", ""]
    actions = ["play", "resume", "pause", "end", "ready", "seek", "progress", "like", "",
               "clip_play", "track_play", "app_start", "app_close", "add", "share", "download"]
    originals = ["", "play", "seek.backward", "Media Content End"]
    cases = [(k, a, s, o) for k in kinds for a in actions for s in (None, 3.0) for o in originals]
    rows = client.query(
        "SELECT kind, action, seek_to_seconds, attributes, " + LISTED_SQL + " FROM (SELECT "
        "tupleElement(c, 1) AS kind, tupleElement(c, 2) AS action, "
        "tupleElement(c, 3) AS seek_to_seconds, if(tupleElement(c, 4) = '', map(), "
        "map('event', tupleElement(c, 4))) AS attributes FROM (SELECT arrayJoin({cases:Array("
        "Tuple(String, String, Nullable(Float64), String))}) AS c))", parameters={"cases": cases}
    ).result_rows
    assert len(rows) == len(cases)
    for kind, action, seek_to, attributes, listed in rows:
        item = to_item(kind, action, 5.0, seek_to, datetime(2024, 1, 1), attributes)
        assert bool(listed) == (item is not None), (kind, action, seek_to, attributes)


def test_dashboard_page_needs_a_token_and_locks_down_its_sources(
    api: tuple[str, list[str]]
) -> None:
    refused = get(api, "/dashboard/clips/clip-a")
    assert refused.status_code == 401 and "read token" in refused.text
    page = get(api, "/dashboard/clips/clip-a", token="token-of-a")
    assert page.status_code == 200 and "chart.umd.min.js" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    library = get(api, "/assets/chart.umd.min.js")
    assert library.status_code == 200 and "Chart" in library.text[:2000]
    assert get(api, "/assets/dashboard.js").headers["content-type"].startswith("text/javascript")
    for name in ("..%2Fpyproject.toml", "package.json", "nope.js"):
        assert get(api, f"/assets/{name}").status_code == 404


def test_a_session_id_with_a_slash_lists_as_is_and_percent_encoded(
    api: tuple[str, list[str]], sessions: dict[str, Any]
) -> None:
    session = sessions["short_video"][0].session_id
    assert "/" in session
    raw = get(api, f"/analytics/sessions/{session}/events", A)
    encoded = get(api, f"/analytics/sessions/{quote(session, safe='')}/events", A)
    assert raw.status_code == encoded.status_code == 200, raw.text
    assert raw.json() == encoded.json()
    types = [item["type"] for item in raw.json()["data"]]
    assert types and types[0] == "play"
    assert raw.json()["pagination"]["links"][0]["uri"].startswith(
        f"/analytics/sessions/{quote(session, safe='')}/events?")
    # Its clip lists it, and a clip id with a slash is a clip id like any other.
    clip = sessions["short_video"][0].clip_id
    listed = get(api, f"/analytics/videos/{clip}", A).json()["data"]
    assert session in [item["session"]["sessionId"] for item in listed]
    assert get(api, "/analytics/videos/no/such/clip", A).status_code == 404
    assert get(api, f"/analytics/sessions/{session}/events", B).status_code == 404


def test_music_clips_sessions_list_their_events(
    api: tuple[str, list[str]], sessions: dict[str, Any]
) -> None:
    music = sessions["music"]
    by_session: dict[str, list[Any]] = {}
    for event in music:
        by_session.setdefault(event.session_id, []).append(event)
    names = {"app-start": "ready", "play": "play", "track-play": "play", "add": "add",
             "share": "share", "download": "download", "app-close": "end"}
    for session, events in by_session.items():
        body = get(api, f"/analytics/sessions/{quote(session, safe='')}/events", A).json()
        ordered = sorted(events, key=lambda e: (e.sequence_number, e.timestamp, e.event_id))
        assert [item["type"] for item in body["data"]] == [
            names[e.attributes["event"]] for e in ordered], session
        assert body["pagination"]["itemsTotal"] == len(events)
    # A clip the app session played (filed under the session's first event, the app's
    # start, which names no clip) lists that session.
    played = next(e for e in music if e.action == "clip_play")
    listed = get(api, f"/analytics/videos/{played.clip_id}", A).json()["data"]
    assert [item["session"]["sessionId"] for item in listed] == [played.session_id]


def test_live_streams_answer_404_saying_why(api: tuple[str, list[str]]) -> None:
    answer = get(api, "/analytics/live-streams/li400mYKSgQ6xs7taUeSaEKr", A)
    assert answer.status_code == 404
    assert answer.json()["name"] == "liveStreamId"
    assert "not live streams" in answer.json()["detail"]
    assert get(api, "/analytics/live-streams/li400mYKSgQ6xs7taUeSaEKr").status_code == 401


def test_quality_engagement_and_royalties_of_a_clip(
    api: tuple[str, list[str]], sessions: dict[str, Any]
) -> None:
    # The oracle is the short-video request itself: what its player reported.
    batch = retimed("shortvideo", time.time())["events"]
    clip = batch[0]["contentId"]
    mine = [e for e in batch if e.get("contentId") == clip]
    quality = get(api, f"/api/quality/clips/{clip}", A).json()
    starts = [e["data"]["startupTime"] for e in mine if e["eventType"] == "playStart"]
    stalls = [e["data"]["duration"] for e in mine if e["eventType"] == "rebuffer"]
    assert quality["clipId"] == clip and quality["fromDay"] is None
    q = quality["quality"]
    assert q["sessions"] == 1 and q["startupMeasured"] == 1
    assert q["averageStartupMs"] == starts[0]
    assert (q["rebuffers"], q["rebufferSeconds"]) == (len(stalls), sum(stalls) / 1000)
    assert q["qualityChanges"] == sum(e["eventType"] == "qualityChange" for e in mine)
    assert q["sessionsWithRebuffersShare"] == (1.0 if stalls else 0.0)
    engagement = get(api, f"/api/engagement/clips/{clip}", A).json()["engagement"]
    assert engagement["likes"] == sum(e["eventType"] == "like" for e in mine)
    assert engagement["impressions"] == sum(e["eventType"] == "impression" for e in mine)
    assert get(api, f"/api/engagement/clips/{clip}", A, source="Web").json()[
        "engagement"]["likes"] == 0
    assert get(api, f"/api/quality/clips/{clip}", A, **{"from": "2001-01-01",
                                                       "to": "2001-01-02"}).json()[
        "quality"]["sessions"] == 0

    # Royalties: the music-clips reference's play, add and download of their clips.
    music = sessions["music"]
    played = next(e for e in music if e.action == "clip_play")
    royalties = get(api, f"/api/royalties/clips/{played.clip_id}", A).json()
    expected = {"clipPlays": 0, "deniedPlays": 0, "trackPlays": 0, "adds": 0, "downloads": 0}
    keys = {"clip_play": "clipPlays", "add": "adds", "download": "downloads"}
    for event in music:
        if event.clip_id == played.clip_id and event.action in keys:
            expected[keys[event.action]] += 1
    assert royalties["totals"] == expected and expected["clipPlays"] == 1
    assert sum(row["clipPlays"] for row in royalties["byPlatform"]) == 1
    track = next(e for e in music if e.action == "track_play")
    assert get(api, f"/api/royalties/clips/{track.clip_id}", A).json()["totals"][
        "trackPlays"] == 1
    # Organization-scoped, and the same refusals as the other routes.
    for route in ("quality", "engagement", "royalties"):
        assert get(api, f"/api/{route}/clips/{clip}", B).status_code == 404
        assert get(api, f"/api/{route}/clips/{clip}").status_code == 401
        bad = get(api, f"/api/{route}/clips/{clip}", A, to="2200-01-01")
        assert bad.status_code == 400 and bad.json()["name"] == "to"


def test_answers_and_the_dashboard_say_until_when_figures_are_final(
    api: tuple[str, list[str]], warehouse: tuple[Client, str], sessions: dict[str, Any],
    browser: webdriver.Chrome
) -> None:
    client, db = warehouse
    client.command(f"TRUNCATE TABLE {db}.completeness_bounds")
    routes = [f"/api/{route}/clips/clip-a"
              for route in ("consumption", "quality", "engagement", "royalties")]
    assert [get(api, route, A).json()["completeThrough"] for route in routes] == [None] * 4
    browser.get(f"{api[0]}/dashboard/clips/clip-a?token=token-of-a")
    drawn(browser)
    assert browser.find_element(By.ID, "final").text.startswith("No figure is final yet")
    # Three partitions of four reported: nothing is known yet.
    mark = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC).timestamp()
    write_bounds(client, db, [Bound(p, 4, SHARED, mark + 100, mark + 50) for p in range(3)])
    assert get(api, routes[0], A).json()["completeThrough"] is None
    write_bounds(client, db, [Bound(3, 4, SHARED, mark + 100, mark + 60),
                              Bound(3, 4, ORG_A, mark + 100, mark)])
    assert [get(api, route, A).json()["completeThrough"] for route in routes] == [
        "2026-01-02T03:04:05.678Z"] * 4
    # Another organization without sessions held back: the partitions' shared bound.
    assert get(api, f"/api/consumption/clips/{SHARED_CLIP}", B).json()[
        "completeThrough"] == "2026-01-02T03:04:55.678Z"
    browser.get(f"{api[0]}/dashboard/clips/clip-a?token=token-of-a")
    drawn(browser)
    assert browser.find_element(By.ID, "final").text == (
        "Final through 2026-01-02 03:04 UTC: figures of sessions started before it will "
        "not change")


def test_published_openapi_document_is_current() -> None:
    published = json.loads((REPO / "docs" / "read-openapi.json").read_text())
    assert published == create_app(Settings()).openapi(), (
        "regenerate it: .venv/bin/playhead api --openapi > docs/read-openapi.json")
    paths = published["paths"]
    assert {"/analytics/sessions/{sessionId}/events", "/analytics/videos/{videoId}",
            "/api/consumption/clips/{clipId}", "/analytics/live-streams/{liveStreamId}",
            "/api/quality/clips/{clipId}", "/api/engagement/clips/{clipId}",
            "/api/royalties/clips/{clipId}"} <= set(paths)
    assert "HTTPBearer" in json.dumps(published["components"]["securitySchemes"])


def test_reader_refuses_a_database_name_that_is_not_an_identifier() -> None:
    from readapi.queries import Reader

    with pytest.raises(ValueError, match="identifier"):
        Reader(None, "playhead; DROP")  # type: ignore[arg-type]

