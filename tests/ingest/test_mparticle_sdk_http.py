"""The mParticle web SDK's routes (ingest/routes/mparticle_sdk.py), on the in-process app.

The batches here are what @mparticle/web-sdk 2.68.0 with @mparticle/web-media-sdk 1.4.7
uploaded from headless Chromium (recorded from tests/e2e/mparticle_sdk/player.html),
trimmed to the fields that matter; tests/e2e/test_mparticle_sdk.py drives the real SDKs.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from fake_gateway import KeepingPublisher, client

from ingest.dialects import mparticle_sdk
from ingest.publisher import PublishUnavailable
from schemas.event import EventKind

NOW_MS = int(time.time() * 1000)
MEDIA_SESSION = "2d76b3f5-9520-4e31-adca-733a341c3a7c"
APP_SESSION = "F2011AF7-41F6-4180-BE74-28FF4EF5D34E"
UPLOAD = "/webevents/v3/JS/acme/events"
TEXT = {"Content-Type": "text/plain;charset=UTF-8"}  # what the SDK sends, beacons too


def media(name: str, ms: int, message_id: str, **attributes: Any) -> dict[str, Any]:
    return {"event_type": "custom_event", "data": {
        "custom_event_type": "media", "custom_flags": {}, "event_name": name,
        "timestamp_unixtime_ms": NOW_MS + ms, "session_uuid": APP_SESSION,
        "session_start_unixtime_ms": NOW_MS - 2000, "location": None,
        "source_message_id": message_id,
        "custom_attributes": {"content_title": "Title", "content_duration": 600000,
                              "content_id": "clip-x", "content_type": "Video",
                              "stream_type": "OnDemand", "media_session_id": MEDIA_SESSION,
                              **attributes}}}


SESSION_START = {"event_type": "session_start", "data": {
    "timestamp_unixtime_ms": NOW_MS - 2000, "session_uuid": APP_SESSION,
    "custom_attributes": None, "location": None,
    "source_message_id": "ddbc2fb3-b26e-4d11-c0ac-249799b504fc"}}
APP_STATE = {"event_type": "application_state_transition", "data": {
    "application_transition_type": "application_initialized", "is_first_run": True,
    "timestamp_unixtime_ms": NOW_MS - 1990, "session_uuid": APP_SESSION,
    "source_message_id": "f59abc33-193a-4b54-69ea-7c25dbd2c8b6"}}


def batch(*events: dict[str, Any]) -> dict[str, Any]:
    return {"source_request_id": "4f40eb2a-34de-4f5b-b887-47b28d0a3062",
            "mpid": "5687575366925465823", "timestamp_unixtime_ms": NOW_MS,
            "environment": "production", "events": list(events),
            "mp_deviceid": "0e3ed663-7a70-4b6b-8efe-0206344d9fa5", "sdk_version": "2.68.0",
            "application_info": {}, "device_info": {"platform": "web"},
            "user_attributes": {}, "user_identities": None, "consent_state": None,
            "integration_attributes": {}}


PLAYED = batch(
    SESSION_START, APP_STATE,
    media("Media Session Start", 0, "1fbb227d-e3a2-426f-62fb-313044e8d817"),
    media("Play", 20, "6631e8cc-54f6-4bb6-6582-0122f585c879"),  # at 0: the SDK omits it
    media("Pause", 60, "4abf6dc0-c5f2-4094-1874-db91f838ee2c", playhead_position=30000),
    media("Media Session Summary", 90, "5270ff8c-27af-4d42-66fd-8c306a1aeb43",
          playhead_position=30000, media_time_spent=178, media_content_complete=False))


def identify_body(stamp: str | None) -> dict[str, Any]:
    known = {"device_application_stamp": stamp} if stamp else {}
    return {"client_sdk": {"platform": "web", "sdk_vendor": "mparticle",
                           "sdk_version": "2.68.0"},
            "context": None, "environment": "production", "request_id": "8470aff1",
            "request_timestamp_ms": NOW_MS, "previous_mpid": None, "known_identities": known}


def metric(text: str, line_start: str) -> float:
    found = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def test_identify_gives_each_device_one_stable_mpid() -> None:
    with client() as (app, _):
        def mpid(path: str, stamp: str | None, key: str = "acme") -> str:
            answer = app.post(path, json=identify_body(stamp), headers={"x-mp-key": key})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["is_logged_in"], body["matched_identities"]) == (False, {})
            return str(body["mpid"])
        first = mpid("/identity/v1/identify", "device-1")
        assert int(first) != 0
        assert mpid("/identity/v1/identify", "device-1") == first
        assert mpid("/identity/v1/login", "device-1") == first  # login changes no user
        assert mpid("/identity/v1/logout", "device-1") == first
        assert mpid("/identity/v1/identify", "device-2") != first
        assert mpid("/identity/v1/identify", "device-1", key="other-org") != first
        modified = app.post(f"/identity/v1/{first}/modify", headers={"x-mp-key": "acme"},
                            json={"identity_changes": []})
        assert modified.status_code == 200 and modified.json() == {"change_results": []}


def test_the_identity_preflight_allows_the_sdks_key_header() -> None:
    with client() as (app, _):
        answer = app._runner.run(app._client.options(  # noqa: SLF001 (no sync OPTIONS helper)
            "/identity/v1/identify", headers={
                "Origin": "https://player.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-mp-key"}))
        assert answer.status_code == 200, answer.text
        assert "x-mp-key" in answer.headers["access-control-allow-headers"].lower()


def test_keys_decide_the_organization_and_an_unknown_key_is_a_401() -> None:
    with client(write_keys={"mp-key-1": "acme"}) as (app, publisher):
        assert app.post("/identity/v1/identify", json=identify_body("d"),
                        headers={"x-mp-key": "mp-key-1"}).status_code == 200
        for key in ("nope", None):
            headers = {"x-mp-key": key} if key else {}
            refused = app.post("/identity/v1/identify", json=identify_body("d"), headers=headers)
            assert refused.status_code == 401 and "key" in refused.json()["error"]
        # 401 and above: the SDK drops the batch instead of retrying it for ever.
        refused = app.post("/webevents/v3/JS/nope/events", content=json.dumps(PLAYED),
                           headers=TEXT)
        assert refused.status_code == 401 and "PLAYHEAD_WRITE_KEYS" in refused.json()["error"]
        assert app.get("/tags/JS/v2/nope/config?env=0").status_code == 401
        taken = app.post("/webevents/v3/JS/mp-key-1/events", content=json.dumps(PLAYED),
                         headers=TEXT)
        assert taken.status_code == 202, taken.text
        events, _ = publisher.take()
        assert {e.organization_id for e in events} == {"acme"}


def test_without_write_keys_the_api_key_names_the_organization() -> None:
    with client() as (app, publisher):
        assert app.post(UPLOAD, content=json.dumps(PLAYED), headers=TEXT).status_code == 202
        events, _ = publisher.take()
        assert {e.organization_id for e in events} == {"acme"}
        too_long = app.post(f"/webevents/v3/JS/{'k' * 129}/events", content=json.dumps(PLAYED),
                            headers=TEXT)
        # Not an organization id: refused as invalid (422), which the SDK drops as it does 401.
        assert too_long.status_code == 422 and "apiKey" in too_long.text
        unnamed = app.post("/identity/v1/identify", json=identify_body("d"),
                           headers={"x-mp-key": "a/b"})
        assert unnamed.status_code == 401 and "organization" in unnamed.json()["error"]


def test_the_config_answer_sets_a_batching_interval() -> None:
    with client() as (app, _):
        answer = app.get("/tags/JS/v2/acme/config", params={"env": "0"})
        assert answer.status_code == 200
        interval = answer.json()["flags"]["eventBatchingIntervalMillis"]
        assert int(interval) == mparticle_sdk.BATCHING_INTERVAL_MILLIS >= 500  # SDK's minimum


def test_an_upload_stores_media_events_under_their_message_ids_and_skips_the_rest() -> None:
    with client() as (app, publisher):
        answer = app.post(UPLOAD, content=json.dumps(PLAYED), headers=TEXT)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"accepted": 4, "rejected": [], "skipped": 2}
        events, _ = publisher.take()
        assert [(e.kind, e.action, e.position_seconds) for e in events] == [
            (EventKind.OTHER, "session_start", 0.0), (EventKind.START, "play", 0.0),
            (EventKind.STOP, "pause", 30.0), (EventKind.OTHER, "summary", 30.0)]
        assert [e.event_id for e in events] == [
            "mparticle:1fbb227d-e3a2-426f-62fb-313044e8d817",
            "mparticle:6631e8cc-54f6-4bb6-6582-0122f585c879",
            "mparticle:4abf6dc0-c5f2-4094-1874-db91f838ee2c",
            "mparticle:5270ff8c-27af-4d42-66fd-8c306a1aeb43"]
        assert {(e.session_id, e.clip_id, e.clip_length_seconds) for e in events} == {
            (MEDIA_SESSION, "clip-x", 600.0)}
        # A retry of the same batch makes the same events: the workers count them once.
        assert app.post(UPLOAD, content=json.dumps(PLAYED), headers=TEXT).status_code == 202
        again, _ = publisher.take()
        assert [e.event_id for e in again] == [e.event_id for e in events]
        metrics = app.get("/metrics").text
        for event_type in ("session_start", "application_state_transition"):
            assert metric(metrics, 'playhead_gateway_events_skipped_total{dialect="mparticle",'
                                   f'event_type="{event_type}"}}') == 2.0


def test_a_batch_without_media_events_is_accepted_and_stores_nothing() -> None:
    with client() as (app, publisher):
        screen = {"event_type": "screen_view", "data": {"screen_name": "home"}}
        navigation = {"event_type": "custom_event",
                      "data": {"custom_event_type": "navigation", "event_name": "Menu"}}
        odd = {"event_type": "something_new", "data": {}}
        answer = app.post(UPLOAD, content=json.dumps(
            batch(SESSION_START, APP_STATE, screen, navigation, odd)), headers=TEXT)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"accepted": 0, "rejected": [], "skipped": 5}
        assert publisher.take() == ([], [])
        metrics = app.get("/metrics").text
        for event_type in ("screen_view", "custom_event", "other"):
            assert metric(metrics, 'playhead_gateway_events_skipped_total{dialect="mparticle",'
                                   f'event_type="{event_type}"}}') == 1.0
        empty = app.post(UPLOAD, content=json.dumps(batch()), headers=TEXT)
        assert empty.status_code == 202 and empty.json()["accepted"] == 0


def test_bad_media_events_are_named_by_their_index_in_the_whole_batch() -> None:
    bad = media("Play", 30, "bad-1")
    del bad["data"]["custom_attributes"]["content_id"]
    with client() as (app, publisher):
        body = batch(SESSION_START, bad, *PLAYED["events"][2:])
        answer = app.post(UPLOAD, content=json.dumps(body), headers=TEXT)
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 4 and answer.json()["skipped"] == 1
        [refused] = answer.json()["rejected"]
        assert refused["index"] == 1
        assert refused["problems"][0]["path"] == "events[1].data.custom_attributes.content_id"
        publisher.take()
        # Nothing storable, and a retry cannot change it: 422, which the SDK drops.
        only_bad = app.post(UPLOAD, content=json.dumps(batch(SESSION_START, bad)), headers=TEXT)
        assert only_bad.status_code == 422


def test_kafka_down_is_a_503_the_sdk_retries() -> None:
    with client(publisher=KeepingPublisher(fail_with=PublishUnavailable("down"))) as (app, _):
        answer = app.post(UPLOAD, content=json.dumps(PLAYED), headers=TEXT)
        assert answer.status_code == 503 and answer.headers["retry-after"]


def test_web_sdk_quirks_are_read_as_the_player_meant_them() -> None:
    before_start = media("Play", 10, "m-1", playhead_position=5000)
    before_start["data"]["custom_attributes"]["media_session_id"] = ""
    to_zero = media("Seek End", 20, "m-2", playhead_position=30000)  # seek_position 0 omitted
    ad = media("Media Ad Summary", 30, "m-3", ad_content_id="ad-1")
    segment = media("Media Segment Summary", 40, "m-4", segment_index=1)
    with client() as (app, publisher):
        answer = app.post(UPLOAD, content=json.dumps(batch(before_start, to_zero, ad, segment)),
                          headers=TEXT)
        assert answer.status_code == 202 and answer.json()["accepted"] == 4, answer.text
        play, seek, *summaries = publisher.take()[0]
        assert play.session_id == f"{APP_SESSION}/clip-x"  # the app session and the clip
        assert (seek.kind, seek.position_seconds, seek.seek_to_seconds) == (
            EventKind.SEEK, 0.0, 0.0)
        assert {(e.kind, e.action) for e in summaries} == {(EventKind.OTHER, "summary")}


def test_as_dialect_event_leaves_the_senders_event_alone() -> None:
    event = media("Seek End", 0, "m-9")
    kept = copy.deepcopy(event)
    shaped = mparticle_sdk.as_dialect_event(event)
    assert event == kept
    assert shaped["data"]["event_id"] == "m-9"
    assert shaped["data"]["custom_attributes"]["seek_position"] == 0


def test_an_mpid_without_a_device_stamp_keeps_the_one_the_sdk_has() -> None:
    assert mparticle_sdk.mpid("acme", {"previous_mpid": "-42"}) == "-42"
    fresh = mparticle_sdk.mpid("acme", {"previous_mpid": None, "known_identities": {}})
    assert fresh == mparticle_sdk.mpid("acme", {}) and -2**63 <= int(fresh) < 2**63
    assert mparticle_sdk.mpid("acme", {"known_identities": "not an object"}) == fresh
