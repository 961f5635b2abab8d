"""The music clips models, their mapping onto canonical events and the rights catalogue (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from devkit.sample_retime import retimed
from ingest.dialects.context import DialectContext
from ingest.dialects.musicclips import (
    MODELS,
    ClipsRequest,
    Endpoint,
    PlayAnswer,
    app_id,
    to_events,
)
from ingest.examples import reference
from ingest.policy import EventRejected, TimestampPolicy
from ingest.rights import UNCHECKED, CatalogueError, FailureCode, identifier, load, parse
from schemas.event import EventKind

ORG = "acme-records"
NOW = datetime(2024, 10, 26, 10, 10, tzinfo=UTC).timestamp()  # minutes after the examples
POLICY = TimestampPolicy()
CATALOGUE = parse({"clips": [
    {"clipId": 123, "rights": True, "tracks": [789]},
    {"clipId": "124", "rights": False},
    {"clipId": "125", "rights": False, "code": "TRACK_NOT_FOUND", "reason": "Track retired"},
]})


def example(endpoint: Endpoint) -> dict[str, Any]:
    body: dict[str, Any] = reference("musicclips")[f"/{endpoint}"]
    return body


def event_of(endpoint: Endpoint, body: dict[str, Any] | None = None, received_at: float = NOW,
             **options: Any) -> Any:
    model = MODELS[endpoint].model_validate(example(endpoint) if body is None else body)
    [event] = to_events(ClipsRequest(endpoint, model, **options),
                        DialectContext(ORG, received_at, POLICY))
    return event


@pytest.mark.parametrize("endpoint, action, clip, attributes", [
    (Endpoint.APP_START, "app_start", "", {"platform": "ios"}),
    (Endpoint.APP_CLOSE, "app_close", "", {}),
    (Endpoint.PLAY, "clip_play", "123", {"method": "Stream", "preview": "false",
                                         "offline": "false", "rights": "unchecked"}),
    (Endpoint.TRACK_PLAY, "track_play", "track:789", {"trackId": "789"}),
    (Endpoint.ADD, "add", "123", {"method": "Stream"}),
    (Endpoint.SHARE, "share", "123", {"platform": "instagram", "shareUri": "app://content/abc"}),
    (Endpoint.DOWNLOAD, "download", "619462", {"appId": "1", "credentialId": "1",
                                               "country": "US"}),
])
def test_every_reference_example_is_one_other_event_with_its_action(
    endpoint: Endpoint, action: str, clip: str, attributes: dict[str, str],
) -> None:
    event = event_of(endpoint, received_at=datetime(2025, 2, 25, 0, 5, tzinfo=UTC).timestamp()
                     if endpoint is Endpoint.DOWNLOAD else NOW)
    assert (event.kind, event.action, event.clip_id) == (EventKind.OTHER, action, clip)
    assert event.attributes["event"] == endpoint.value
    assert event.attributes.items() >= attributes.items()
    assert (event.dialect, event.source, event.position_seconds) == ("musicclips", "MusicClips", 0)
    client = example(endpoint)["clientId"]
    day = example(endpoint)["timestamp"][:10]
    assert (event.organization_id, event.session_id) == (ORG, f"{client}:{day}")
    assert event.session_key == f"{ORG}/{client}:{day}"
    assert event.timestamp == datetime.fromisoformat(example(endpoint)["timestamp"]).timestamp()
    assert not event.session_complete


def test_string_and_number_ids_and_flags_normalize_alike() -> None:
    as_text = event_of(Endpoint.PLAY)  # clipId "123", preview "false"
    as_json = event_of(Endpoint.PLAY, {**example(Endpoint.PLAY), "clipId": 123,
                                       "preview": False, "offline": False})
    assert as_text.clip_id == as_json.clip_id == "123"
    assert as_text.event_id == as_json.event_id
    assert as_text.attributes == as_json.attributes
    assert identifier(" 0123 ") == identifier(123) == "123"
    assert identifier("clip-A") == "clip-A"


def test_method_is_case_insensitive_and_flags_read_true() -> None:
    event = event_of(Endpoint.PLAY, {**example(Endpoint.PLAY), "method": "sync",
                                     "preview": "TRUE", "offline": True})
    assert (event.attributes["method"], event.attributes["preview"],
            event.attributes["offline"]) == ("Sync", "true", "true")


@pytest.mark.parametrize("endpoint, change, path", [
    (Endpoint.PLAY, lambda b: b.pop("clientId"), "clientId"),
    (Endpoint.PLAY, lambda b: b.pop("timestamp"), "timestamp"),
    (Endpoint.PLAY, lambda b: b.update(timestamp="yesterday"), "timestamp"),
    (Endpoint.PLAY, lambda b: b.update(timestamp="1999-12-31T23:59:59Z"), "timestamp"),
    (Endpoint.PLAY, lambda b: b.update(clipId=""), "clipId"),
    (Endpoint.PLAY, lambda b: b.update(clipId=True), "clipId"),
    (Endpoint.PLAY, lambda b: b.update(method="Radio"), "method"),
    (Endpoint.PLAY, lambda b: b.update(preview="maybe"), "preview"),
    (Endpoint.PLAY, lambda b: b.update(clipID="123"), "clipID"),  # a typo is named, not lost
    (Endpoint.TRACK_PLAY, lambda b: b.pop("trackId"), "trackId"),
    (Endpoint.ADD, lambda b: b.pop("method"), "method"),
    (Endpoint.SHARE, lambda b: b.pop("platform"), "platform"),
    (Endpoint.DOWNLOAD, lambda b: b.update(appId="one"), "appId"),
    (Endpoint.DOWNLOAD, lambda b: b.update(country="USA"), "country"),
    (Endpoint.APP_START, lambda b: b.update(sessionId="a:b"), "sessionId"),
])
def test_invalid_bodies_name_the_bad_field(
    endpoint: Endpoint, change: Callable[[dict[str, Any]], Any], path: str,
) -> None:
    body = example(endpoint)
    change(body)
    with pytest.raises(ValidationError) as caught:
        MODELS[endpoint].model_validate(body)
    assert path in {str(error["loc"][0]) for error in caught.value.errors()}


def test_a_retry_gets_the_same_id_and_session_whatever_the_time_spelling() -> None:
    first = event_of(Endpoint.PLAY)
    later = event_of(Endpoint.PLAY, received_at=NOW + 30)
    spelled = event_of(Endpoint.PLAY, {**example(Endpoint.PLAY),
                                       "timestamp": "2024-10-26T12:01:00.000+02:00"})
    assert first.event_id == later.event_id == spelled.event_id
    assert first.event_id == f"musicclips:{ORG}:YOUR_CLIENT_ID:play:123:1729936860000"
    assert first.session_id == later.session_id == spelled.session_id
    assert first.sequence_number == 1729936860000


def test_distinct_endpoints_clips_and_instants_get_distinct_ids() -> None:
    body = example(Endpoint.PLAY)
    ids = {event_of(Endpoint.PLAY).event_id,
           event_of(Endpoint.PLAY, {**body, "clipId": "124"}).event_id,
           event_of(Endpoint.PLAY, {**body, "timestamp": "2024-10-26T10:01:00.001Z"}).event_id,
           event_of(Endpoint.ADD, {k: v for k, v in body.items()
                                   if k not in ("preview", "offline")}).event_id}
    assert len(ids) == 4


def test_two_plays_in_one_instant_collapse_unless_idempotency_keys_differ() -> None:
    # The documented cost of ids derived from the timestamp ...
    assert event_of(Endpoint.PLAY).event_id == event_of(Endpoint.PLAY).event_id
    # ... which an Idempotency-Key lifts, while a retry with the same key still dedupes.
    one = event_of(Endpoint.PLAY, idempotency_key="k-1")
    other = event_of(Endpoint.PLAY, idempotency_key="k-2")
    retry = event_of(Endpoint.PLAY, received_at=NOW + 5, idempotency_key="k-1")
    assert one.event_id != other.event_id and one.event_id == retry.event_id
    assert one.attributes["idempotencyKey"] == "k-1"


def test_track_play_without_timestamp_takes_the_receive_time_and_says_so() -> None:
    body = {"clientId": "c-1", "trackId": "789"}
    event = event_of(Endpoint.TRACK_PLAY, body)
    assert event.timestamp == NOW and event.attributes["timestamp_adjusted"] == "missing"
    assert event.event_id.endswith(f":received:{round(NOW * 1000)}")
    assert event.session_id == "c-1:2024-10-26"


def test_future_timestamp_is_replaced_flagged_and_keeps_its_id_on_retry() -> None:
    body = {**example(Endpoint.PLAY), "timestamp": "2024-10-26T11:00:00Z"}  # 50 min ahead
    event = event_of(Endpoint.PLAY, body)
    retry = event_of(Endpoint.PLAY, body, received_at=NOW + 10)
    assert event.timestamp == NOW
    assert event.attributes["timestamp_adjusted"] == "future:2024-10-26T11:00:00+00:00"
    assert event.event_id == retry.event_id  # the id rests on the client's time, not ours


def test_events_older_than_a_day_are_rejected_with_the_reason() -> None:
    body = {**example(Endpoint.PLAY), "timestamp": "2024-10-25T09:00:00Z"}
    with pytest.raises(EventRejected) as caught:
        event_of(Endpoint.PLAY, body)
    assert (caught.value.path, caught.value.reason) == ("timestamp", "too_old")
    assert "PLAYHEAD_MAX_EVENT_AGE_SECONDS" in str(caught.value)


def test_session_is_the_client_and_its_app_session_when_sent() -> None:
    event = event_of(Endpoint.APP_START, {**example(Endpoint.APP_START), "sessionId": "s-42"})
    assert event.session_id == "YOUR_CLIENT_ID:s-42"
    odd = event_of(Endpoint.APP_CLOSE, {**example(Endpoint.APP_CLOSE), "clientId": "a:b/c"})
    assert odd.session_id == "a%3Ab%2Fc:2024-10-26"  # separators inside ids are escaped


def test_app_id_is_stable_per_organization_and_client() -> None:
    first = app_id(ORG, "YOUR_CLIENT_ID")
    assert first == app_id(ORG, "YOUR_CLIENT_ID")
    assert 0 < first < 2**53
    assert len({first, app_id(ORG, "other"), app_id("other-org", "YOUR_CLIENT_ID")}) == 3
    event = event_of(Endpoint.APP_START, answered_app_id=first)
    assert event.attributes["appId"] == str(first)


def test_rights_decisions_are_recorded_on_the_event() -> None:
    granted = event_of(Endpoint.PLAY, decision=CATALOGUE.decide("123"))
    assert granted.attributes["rights"] == "granted" and granted.attributes["tracks"] == "789"
    assert "code" not in granted.attributes
    denied = event_of(Endpoint.PLAY, {**example(Endpoint.PLAY), "clipId": 124},
                      decision=CATALOGUE.decide("124"))
    assert (denied.attributes["rights"], denied.attributes["code"]) == (
        "denied", "NO_STREAMING_RIGHTS")
    assert denied.action == "clip_play"  # recorded; royalty counts skip rights=denied
    assert event_of(Endpoint.PLAY).attributes["rights"] == "unchecked"


def test_catalogue_answers_granted_denied_and_unknown() -> None:
    assert PlayAnswer.of(CATALOGUE.decide("123")).model_dump(exclude_none=True) == {
        "success": True}
    assert PlayAnswer.of(CATALOGUE.decide("124")).model_dump(exclude_none=True) == {
        "success": False, "reason": "clip 124 has no streaming rights",
        "code": FailureCode.NO_STREAMING_RIGHTS}
    retired = CATALOGUE.decide("125")
    assert (retired.code, retired.reason) == (FailureCode.TRACK_NOT_FOUND, "Track retired")
    unknown = CATALOGUE.decide("999")
    assert (unknown.granted, unknown.code, unknown.rights) == (
        False, FailureCode.CLIP_NOT_FOUND, "denied")
    assert load(None).decide("999") is UNCHECKED


@pytest.mark.parametrize("clips, named", [
    ([{"clipId": 1, "rights": True}, {"clipId": 2, "rights": "yes"}], "clips[1].rights (clipId 2)"),
    ([{"clipId": 1, "rights": True, "code": "NO_STREAMING_RIGHTS"}], "clips[0] (clipId 1)"),
    ([{"clipId": 1, "rights": False, "code": "NETWORK_ERROR"}], "clips[0] (clipId 1)"),
    ([{"clipId": 1, "rights": False, "code": "NOPE"}], "clips[0].code (clipId 1)"),
    ([{"clipId": 1, "rights": True, "track": [2]}], "clips[0].track (clipId 1)"),
    ([{"rights": True}], "clips[0].clipId"),
    ([{"clipId": 7, "rights": True}, {"clipId": "007", "rights": False}],
     "clips[1] repeats clipId 7 of clips[0]"),
])
def test_a_bad_catalogue_entry_is_named(clips: list[dict[str, Any]], named: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        parse({"clips": clips})
    assert named in str(caught.value) and "PLAYHEAD_RIGHTS_CATALOGUE" in str(caught.value)


def test_catalogue_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "rights.json"
    path.write_text(json.dumps({"clips": [{"clipId": "123", "rights": True}]}))
    assert load(path).decide("123").granted
    path.write_text('{"clips": [')
    with pytest.raises(CatalogueError, match="not valid JSON"):
        load(path)
    with pytest.raises(CatalogueError, match="cannot read"):
        load(tmp_path / "missing.json")


def test_retimed_examples_keep_their_order_and_pass_the_age_check() -> None:
    now = 1_800_000_000.0
    body = retimed("musicclips", now)
    stamps = {path: datetime.fromisoformat(request["timestamp"]).timestamp()
              for path, request in body.items()}
    assert max(stamps.values()) == now and min(stamps.values()) >= now - 3600
    order = ["/app-start", "/play", "/add", "/share", "/app-close", "/download"]
    assert [stamps[p] for p in order] == sorted(stamps[p] for p in order)
    for path, request in body.items():
        endpoint = Endpoint(path.strip("/"))
        to_events(ClipsRequest(endpoint, MODELS[endpoint].model_validate(request)),
                  DialectContext(ORG, now, POLICY))
