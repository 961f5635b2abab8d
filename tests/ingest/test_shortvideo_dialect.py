"""The short-video engagement events and their mapping onto canonical events (pure)."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from devkit.sample_retime import shortvideo as retime
from ingest.batch import validate_items
from ingest.dialects.context import ANY_AGE, DialectContext
from ingest.dialects.shortvideo import (
    MAX_BATCH,
    ShortVideoBatch,
    ShortVideoEvent,
    derived_id,
    to_events,
)
from ingest.examples import reference
from ingest.policy import EventRejected, TimestampPolicy
from processors.intervals import Interval
from processors.session import Rules, summarize
from schemas.event import Action, EventKind, PlaybackEvent

ORG = "org-7d41"


def convert(event: ShortVideoEvent, organization: str, received_at: float,
            policy: TimestampPolicy = ANY_AGE, path: str = "") -> list[PlaybackEvent]:
    return to_events(event, DialectContext(organization, received_at, policy, path))


NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
STAMP = "2027-01-15T07:59:30.250Z"  # 29.75 s before NOW
POLICY = TimestampPolicy()

DATA: dict[str, dict[str, Any]] = {
    "impression": {"position": 3, "entryPoint": "search", "feedId": "feed-9"},
    "playStart": {"startupTime": 380, "rendition": "1080p", "codec": "av1", "autoplay": False},
    "watchProgress": {"currentTime": 6.5, "duration": 21.0, "percentComplete": 31.0},
    "completion": {"watchTime": 21.0, "looped": True, "loopCount": 2},
    "swipe": {"fromContentId": "vid-1", "toContentId": "vid-2", "watchTime": 4.25},
    "like": {},
    "share": {"platform": "telegram"},
    "save": {},
    "rebuffer": {"duration": 1200, "currentTime": 9.5, "rendition": "360p"},
    "qualityChange": {"fromQuality": "720p", "toQuality": "360p"},
    "error": {"errorCode": 3, "errorMessage": "decoder failed"},
}


def raw(kind: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"eventType": kind, "sessionId": "sess-1", "deviceId": "dev-1",
                             "timestamp": STAMP, "data": copy.deepcopy(DATA[kind])}
    if kind != "swipe":
        event["contentId"] = "vid-1"
    event.update(changes)
    return event


def mapped(kind: str, **changes: Any) -> list[PlaybackEvent]:
    return convert(ShortVideoEvent.model_validate(raw(kind, **changes)), ORG, NOW, POLICY)


# eventType -> kind, action, position, value_ms, clip length, dialect details kept
EXPECTED: dict[str, tuple[EventKind, Action, float, int | None, float | None, dict[str, str]]] = {
    "impression": (EventKind.OTHER, Action.IMPRESSION, 0.0, None, None,
                   {"feed_position": "3", "entry_point": "search", "feed_id": "feed-9"}),
    "playStart": (EventKind.START, Action.PLAY, 0.0, None, None,
                  {"rendition": "1080p", "codec": "av1", "autoplay": "false"}),
    "watchProgress": (EventKind.HEARTBEAT, Action.PROGRESS, 6.5, None, 21.0,
                      {"percent_complete": "31.0"}),
    "completion": (EventKind.STOP, Action.COMPLETION, 21.0, None, None,
                   {"watch_time": "21.0", "looped": "true", "loop_count": "2"}),
    "swipe": (EventKind.STOP, Action.SWIPE, 4.25, None, None,
              {"to_content_id": "vid-2", "watch_time": "4.25"}),
    "like": (EventKind.OTHER, Action.LIKE, 0.0, None, None, {}),
    "share": (EventKind.OTHER, Action.SHARE, 0.0, None, None, {"platform": "telegram"}),
    "save": (EventKind.OTHER, Action.SAVE, 0.0, None, None, {}),
    "rebuffer": (EventKind.OTHER, Action.REBUFFER, 9.5, 1200, None, {"rendition": "360p"}),
    "qualityChange": (EventKind.OTHER, Action.QUALITY_CHANGE, 0.0, None, None,
                      {"from_quality": "720p", "to_quality": "360p"}),
    "error": (EventKind.OTHER, Action.ERROR, 0.0, None, None,
              {"error_code": "3", "error_message": "decoder failed"}),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_event_type_maps_onto_the_timeline(kind: str) -> None:
    event = mapped(kind)[0]
    assert (event.kind, event.action, event.position_seconds, event.value_ms,
            event.clip_length_seconds) == EXPECTED[kind][:5]
    assert event.attributes == {"event": kind, "device_id": "dev-1", **EXPECTED[kind][5]}
    assert (event.organization_id, event.clip_id, event.session_id) == (ORG, "vid-1",
                                                                        "sess-1/vid-1")
    assert event.session_key == f"{ORG}/sess-1/vid-1"
    assert (event.dialect, event.source, event.timestamp, event.received_at) == (
        "shortvideo", "shortvideo", NOW - 29.75, NOW)
    assert event.sequence_number == round((NOW - 29.75) * 1000)


def test_play_start_also_carries_its_startup_time_as_an_event_of_its_own() -> None:
    start, startup = mapped("playStart")
    assert (startup.kind, startup.action, startup.value_ms) == (EventKind.OTHER,
                                                               Action.STARTUP, 380)
    assert startup.event_id == f"{start.event_id}:startup"
    assert (startup.session_key, startup.sequence_number) == (start.session_key,
                                                             start.sequence_number)


def test_play_start_begins_where_the_player_says() -> None:
    data = {**DATA["playStart"], "currentTime": 12.0}
    assert mapped("playStart", data=data)[0].position_seconds == 12.0


def test_completion_ends_at_the_videos_length_when_known() -> None:
    data = {"watchTime": 40.0, "looped": True, "loopCount": 1, "duration": 20.0}
    event = mapped("completion", data=data)[0]
    assert (event.position_seconds, event.clip_length_seconds) == (20.0, 20.0)


def test_swipe_stops_the_session_of_the_video_left() -> None:
    [event] = mapped("swipe", data={**DATA["swipe"], "fromContentId": "vid-7"})
    assert (event.clip_id, event.session_id) == ("vid-7", "sess-1/vid-7")
    with_position = mapped("swipe", data={**DATA["swipe"], "currentTime": 3.0})[0]
    assert with_position.position_seconds == 3.0


def test_reference_batch_gives_one_session_per_video_watched() -> None:
    sessions: dict[str, list[PlaybackEvent]] = defaultdict(list)
    for item in reference("shortvideo")["events"]:
        for event in convert(ShortVideoEvent.model_validate(item), ORG, NOW):
            sessions[event.session_key].append(event)
    results = {key.split("/")[-1]: summarize(events, Rules()) for key, events in sessions.items()}
    assert {clip: (r.intervals, r.kept) for clip, r in results.items()} == {
        "vid-7Hq2mX": ((Interval(0.0, 18.5),), True),  # played to the end, then swiped
        "vid-Q9zL4p": ((Interval(0.0, 7.2),), False),  # swiped away after 7.2 s: too short
        "vid-Lm3sR8": ((), False),  # shown, failed to load
    }


def test_client_event_id_is_kept() -> None:
    start, startup = mapped("playStart", eventId="evt-42")
    assert (start.event_id, startup.event_id) == ("evt-42", "evt-42:startup")


def test_retry_gives_the_same_ids_however_the_json_is_written() -> None:
    first = mapped("rebuffer")
    retried = raw("rebuffer", timestamp=STAMP.replace("Z", "+00:00"))
    retried = dict(reversed(list(retried.items())))  # another key order
    again = convert(ShortVideoEvent.model_validate(retried), ORG, NOW + 5, POLICY)
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert first[0].event_id.startswith("shortvideo:")


def test_different_events_get_different_ids() -> None:
    ids = {mapped("like")[0].event_id, mapped("like", timestamp="2027-01-15T07:59:31Z")[0].event_id,
           mapped("like", contentId="vid-2")[0].event_id, mapped("save")[0].event_id,
           convert(ShortVideoEvent.model_validate(raw("like")), "org-other", NOW)[0].event_id}
    assert len(ids) == 5


def test_sequence_follows_time_whichever_batch_carries_the_event() -> None:
    early = mapped("playStart", timestamp="2027-01-15T07:59:00.001Z")[0]
    late = mapped("completion", timestamp="2027-01-15T07:59:00.002Z")[0]
    assert 1 <= early.sequence_number < late.sequence_number


def test_missing_timestamp_is_the_servers_and_flagged_and_retries_still_dedupe() -> None:
    body = raw("like")
    del body["timestamp"]
    event = ShortVideoEvent.model_validate(body)
    [first] = convert(event, ORG, NOW, POLICY)
    [retried] = convert(event, ORG, NOW + 3, POLICY)
    assert (first.timestamp, first.sequence_number) == (NOW, round(NOW * 1000))
    assert first.attributes["timestamp_adjusted"] == "missing"
    assert first.event_id == retried.event_id


def test_future_timestamp_is_replaced_by_server_time_and_flagged() -> None:
    [event] = mapped("like", timestamp="2027-01-15T08:06:00Z")  # 6 min ahead
    assert event.timestamp == NOW and event.sequence_number == round(NOW * 1000)
    assert event.attributes["timestamp_adjusted"] == "future:1800000360"


def test_events_older_than_a_day_are_rejected_with_the_reason() -> None:
    event = ShortVideoEvent.model_validate(raw("like", timestamp="2027-01-14T07:00:00Z"))
    with pytest.raises(EventRejected, match=r"events\[4\]\.timestamp: event is 25\.0 h old") as err:
        convert(event, ORG, NOW, POLICY, "events[4]")
    assert (err.value.path, err.value.reason) == ("events[4].timestamp", "too_old")


def test_time_without_offset_is_utc() -> None:
    [event] = mapped("like", timestamp="2027-01-15T07:59:30.250")
    assert event.timestamp == NOW - 29.75


@pytest.mark.parametrize("kind, change, path", [
    ("playStart", lambda e: e["data"].pop("startupTime"), "data.startupTime"),
    ("playStart", lambda e: e.pop("data"), "data.startupTime"),
    ("impression", lambda e: e["data"].update(position=-1), "data.position"),
    ("impression", lambda e: e["data"].update(entryPoint="radio"), "data.entryPoint"),
    ("watchProgress", lambda e: e["data"].pop("duration"), "data.duration"),
    ("completion", lambda e: e["data"].pop("looped"), "data.looped"),
    ("swipe", lambda e: e["data"].pop("toContentId"), "data.toContentId"),
    ("share", lambda e: e["data"].pop("platform"), "data.platform"),
    ("rebuffer", lambda e: e["data"].update(duration="long"), "data.duration"),
    ("qualityChange", lambda e: e["data"].pop("toQuality"), "data.toQuality"),
    ("error", lambda e: e["data"].pop("errorMessage"), "data.errorMessage"),
    ("like", lambda e: e.pop("contentId"), "contentId"),
    ("like", lambda e: e.update(contentId="has space"), "contentId"),
    ("like", lambda e: e.update(eventType="dislike"), "eventType"),
    ("like", lambda e: e.pop("deviceId"), "deviceId"),
    ("like", lambda e: e.update(sessionId="a/b"), "sessionId"),
    ("like", lambda e: e.update(timestamp=1800000000), "timestamp"),
    ("like", lambda e: e.update(timestamp="yesterday"), "timestamp"),
    ("like", lambda e: e.update(sessionID="typo"), "sessionID"),
])
def test_invalid_events_name_the_field_path(kind: str, change: Any, path: str) -> None:
    body = raw(kind)
    change(body)
    with pytest.raises(ValidationError) as caught:
        ShortVideoEvent.model_validate(body)
    assert [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()] == [path]


def test_batch_validation_names_each_bad_event_by_index_and_path() -> None:
    items = [raw("like"), raw("playStart", data={}), "not an event", raw("save")]
    valid, refused = validate_items(TypeAdapter(ShortVideoEvent), items, "events")
    assert [index for index, _ in valid] == [0, 3]
    assert {i: [p.path for p in problems] for i, problems in refused.items()} == {
        1: ["events[1].data.startupTime"], 2: ["events[2]"]}


def test_batch_limit_is_published_in_the_schema() -> None:
    events = ShortVideoBatch.model_json_schema()["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) == (1, MAX_BATCH) == (1, 100)


def test_retime_moves_the_reference_to_the_present() -> None:
    body = retime(reference("shortvideo"), NOW)
    stamps = [ShortVideoEvent.model_validate(e).timestamp for e in body["events"]]
    assert max(s.timestamp() for s in stamps if s) == NOW
    assert min(s.timestamp() for s in stamps if s) == pytest.approx(NOW - 30.58)


def test_derived_id_covers_the_organization() -> None:
    event = ShortVideoEvent.model_validate(raw("like"))
    assert derived_id(event, "a") != derived_id(event, "b")
