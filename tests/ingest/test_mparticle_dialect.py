"""The mParticle media event model and its mapping onto canonical events (pure)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from devkit.sample_retime import mparticle as retime
from ingest.dialects.context import ANY_AGE, DialectContext
from ingest.dialects.mparticle import MEANINGS, MParticleEvent, to_events
from ingest.examples import reference
from ingest.policy import EventRejected, TimestampPolicy
from processors.intervals import Interval, listened_intervals, ordered
from schemas.event import EventKind, PlaybackEvent

ORG = "acme-media"
REFERENCE_TIME = 1573828863.888  # the reference Play event
SESSION = "96a023b8-b0c7-47b7-b687-09f73b9dfac3"
POLICY = TimestampPolicy()


def example() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = reference("mparticle")["events"]
    return events


def media(name: str, at_ms: int = 1573828863888, event_id: str | None = "e-1",
          **attributes: Any) -> dict[str, Any]:
    body = copy.deepcopy(example()[7])  # the reference Play event
    body["data"].update(event_name=name, timestamp_unixtime_ms=str(at_ms))
    body["data"]["event_id"] = event_id
    body["data"]["custom_attributes"].pop("playhead_position")
    body["data"]["custom_attributes"].update(attributes)
    return body


def convert(body: dict[str, Any], received_at: float = REFERENCE_TIME + 1,
            policy: TimestampPolicy | None = POLICY) -> list[PlaybackEvent]:
    return to_events(MParticleEvent.model_validate(body),
                     DialectContext(ORG, received_at, policy or ANY_AGE))


def one(body: dict[str, Any], **options: Any) -> PlaybackEvent:
    [event] = convert(body, **options)
    return event


def session(events: list[dict[str, Any]]) -> list[PlaybackEvent]:
    return [e for body in events for e in convert(body, received_at=1573828900.0)]


def test_the_reference_event_maps_onto_a_start_in_seconds() -> None:
    event = one(example()[7])
    assert (event.kind, event.action, event.position_seconds) == (EventKind.START, "play", 110.123)
    assert (event.organization_id, event.session_id, event.clip_id) == (ORG, SESSION, "1234567")
    assert event.session_key == f"{ORG}/{SESSION}"
    assert event.event_id == "mparticle:-109840007014118971"
    assert event.timestamp == REFERENCE_TIME and event.clip_length_seconds == 120.0
    assert event.sequence_number == 1573828863888 * 16 + 1
    assert (event.source, event.dialect) == ("mParticle", "mparticle")
    assert event.attributes["event"] == "Play"
    assert event.attributes["content_title"] == "My sweet sweet media"
    assert event.attributes["content_duration"] == "120000"  # as sent, not "120000.0"


def test_the_example_session_listens_to_0_40_and_110_to_the_end() -> None:
    events = session(example())
    assert listened_intervals(ordered(events)) == [Interval(0.0, 40.0), Interval(110.123, 120.0)]
    assert {e.session_id for e in events} == {SESSION}


NAMES = [
    ("Play", EventKind.START, "play"),
    ("Pause", EventKind.STOP, "pause"),
    ("Media Content End", EventKind.STOP, "end"),
    ("Update Playhead Position", EventKind.HEARTBEAT, "progress"),
    ("Media Session Start", EventKind.OTHER, "session_start"),
    ("Media Session End", EventKind.OTHER, "session_end"),
    ("Buffer Start", EventKind.OTHER, "buffer_start"),
    ("Buffer End", EventKind.OTHER, "buffer_end"),
    ("Update QoS", EventKind.OTHER, "qos"),
    ("Ad Break Start", EventKind.OTHER, "ad"),
    ("Ad Start", EventKind.OTHER, "ad"),
    ("Ad End", EventKind.OTHER, "ad"),
    ("Ad Skip", EventKind.OTHER, "ad"),
    ("Ad Click", EventKind.OTHER, "ad"),
    ("Ad Break End", EventKind.OTHER, "ad"),
    ("Segment Start", EventKind.OTHER, "segment"),
    ("Segment End", EventKind.OTHER, "segment"),
    ("Segment Skip", EventKind.OTHER, "segment"),
    ("Ad Session Summary", EventKind.OTHER, "summary"),
    ("Segment Session Summary", EventKind.OTHER, "summary"),
    ("Media Session Summary", EventKind.OTHER, "summary"),
    ("Media Ad Summary", EventKind.OTHER, "summary"),  # the web media SDK's names
    ("Media Segment Summary", EventKind.OTHER, "summary"),
    ("Chapter Bookmarked", EventKind.OTHER, "custom"),  # an app's own media event
]


@pytest.mark.parametrize("name, kind, action", NAMES)
def test_every_event_name_maps_onto_a_kind_and_an_action(
    name: str, kind: EventKind, action: str,
) -> None:
    event = one(media(name, playhead_position="30500"))
    assert (event.kind, event.action, event.attributes["event"]) == (kind, action, name)
    assert event.position_seconds == 30.5


def test_every_known_name_is_tested() -> None:
    seeks = {"Seek Start", "Seek End"}  # their own tests below
    assert {name for name, _, _ in NAMES} | seeks >= set(MEANINGS)


def test_names_match_ignoring_case() -> None:
    event = one(media("media content end", playhead_position=120000))
    assert (event.kind, event.action, event.attributes["event"]) == (
        EventKind.STOP, "end", "Media Content End")


def test_missing_positions_read_as_zero_and_are_flagged() -> None:
    # The SDKs leave playhead_position out when it is 0.
    play = one(media("Play"))
    assert play.position_seconds == 0 and play.attributes["position_missing"] == "true"
    end = one(media("Media Content End"))  # ended: at the content's end
    assert end.position_seconds == 120.0 and "position_missing" not in end.attributes


def test_buffer_events_carry_their_position_and_duration() -> None:
    start = one(media("Buffer Start", buffer_position="5000", playhead_position="4000"))
    end = one(media("Buffer End", buffer_position="5000", buffer_duration="1250"))
    assert (start.position_seconds, start.value_ms) == (5.0, None)
    assert (end.position_seconds, end.value_ms, end.attributes["buffer_duration"]) == (
        5.0, 1250, "1250")


def seek_pair(origin_ms: int, landing_ms: int, at_ms: int) -> list[dict[str, Any]]:
    return [media("Seek Start", at_ms, f"s-{at_ms}", seek_position=origin_ms),
            media("Seek End", at_ms + 300, f"e-{at_ms}", seek_position=str(landing_ms))]


def test_a_seek_pair_is_two_seeks_from_origin_to_landing() -> None:
    start, end = session(seek_pair(40_000, 100_000, 1573828800000))
    assert (start.kind, start.position_seconds, start.seek_to_seconds) == (EventKind.SEEK, 40, 40)
    assert (end.kind, end.position_seconds, end.seek_to_seconds) == (EventKind.SEEK, 0, 100)


def test_a_seek_while_playing_moves_the_interval_and_counts_no_seeking_time() -> None:
    events = session([
        media("Play", 1573828790000, "p1", playhead_position="30000"),
        *seek_pair(40_000, 100_000, 1573828800000),
        media("Pause", 1573828810300, "p2", playhead_position="110000"),
    ])
    assert listened_intervals(ordered(events)) == [Interval(30, 40), Interval(100, 110)]


def test_a_seek_while_paused_changes_nothing() -> None:
    events = session([
        media("Play", 1573828790000, "p1", playhead_position="30000"),
        media("Pause", 1573828800000, "p2", playhead_position="40000"),
        *seek_pair(40_000, 5_000, 1573828801000),
        media("Play", 1573828805000, "p3", playhead_position="5000"),
        media("Pause", 1573828810000, "p4", playhead_position="10000"),
    ])
    assert listened_intervals(ordered(events)) == [Interval(30, 40), Interval(5, 10)]


def test_a_seek_gives_the_same_intervals_whatever_the_arrival_order() -> None:
    bodies = [media("Play", 1573828790000, "p1", playhead_position="30000"),
              *seek_pair(40_000, 100_000, 1573828800000),
              media("Pause", 1573828810300, "p2", playhead_position="110000")]
    expected = listened_intervals(ordered(session(bodies)))
    for permutation in itertools.permutations(bodies):
        assert listened_intervals(ordered(session(list(permutation)))) == expected


def test_a_seek_within_one_millisecond_orders_start_before_end() -> None:
    at = 1573828800000
    start = media("Seek Start", at, "z-start", seek_position=40000)
    end = media("Seek End", at, "a-end", seek_position=100000)  # ids sort the other way
    play = media("Play", at - 10000, "p1", playhead_position="30000")
    pause = media("Pause", at + 10000, "p2", playhead_position="110000")
    events = ordered(session([pause, end, start, play]))
    assert [e.attributes["event"] for e in events] == ["Play", "Seek Start", "Seek End", "Pause"]
    assert listened_intervals(events) == [Interval(30, 40), Interval(100, 110)]


def test_a_seek_without_any_position_is_rejected_with_the_path() -> None:
    with pytest.raises(EventRejected) as caught:
        convert(media("Seek End"))
    assert caught.value.path == "data.custom_attributes.seek_position"


def test_qos_with_a_startup_time_adds_one_startup_per_session() -> None:
    first = convert(media("Update QoS", event_id="q1", qos_startup_time="700", qos_fps=30))
    later = convert(media("Update QoS", 1573828873888, "q2", qos_startup_time=700,
                          qos_bitrate="4500000"))
    assert [(e.action, e.value_ms) for e in first] == [("qos", None), ("startup", 700)]
    assert first[0].attributes["qos_fps"] == "30"
    assert first[1].event_id == later[1].event_id  # a repeated startup time counts once
    assert first[0].event_id != later[0].event_id  # each QoS reading is kept
    assert [e.action for e in convert(media("Update QoS", qos_fps="25"))] == ["qos"]


def test_ids_come_from_event_id_else_session_and_sequence_and_survive_retries() -> None:
    body = example()[7]
    assert one(body).event_id == one(body, received_at=REFERENCE_TIME + 60).event_id
    anonymous = media("Pause", event_id=None, playhead_position="1000")
    derived = one(anonymous).event_id
    assert derived == f"mparticle:{ORG}:{SESSION}:{1573828863888 * 16 + 7}"
    assert one(anonymous, received_at=REFERENCE_TIME + 60).event_id == derived


def test_without_media_session_the_session_is_the_app_session_and_the_clip() -> None:
    body = media("Play")
    del body["data"]["custom_attributes"]["media_session_id"]
    assert one(body).session_id == "29959B6B-9C3B-486F-9807-B5534EA1B16A/1234567"
    other_clip = copy.deepcopy(body)
    other_clip["data"]["custom_attributes"]["content_id"] = "7654321"
    assert one(other_clip).session_id == "29959B6B-9C3B-486F-9807-B5534EA1B16A/7654321"
    # Parts are percent-encoded: no other pair of ids spells the same session.
    tricky = copy.deepcopy(body)
    tricky["data"]["session_uuid"] = "29959B6B-9C3B-486F-9807-B5534EA1B16A/1234567"
    tricky["data"]["custom_attributes"]["content_id"] = "x"
    assert one(tricky).session_id == "29959B6B-9C3B-486F-9807-B5534EA1B16A%2F1234567/x"
    del body["data"]["session_uuid"]
    with pytest.raises(EventRejected) as caught:
        convert(body)
    assert (caught.value.path, caught.value.reason) == (
        "data.custom_attributes.media_session_id", "missing")


def test_player_name_becomes_the_source() -> None:
    assert one(media("Play", player_name="Roku Player")).source == "Roku Player"


@pytest.mark.parametrize("change, path", [
    (lambda d: d["custom_attributes"].update(playhead_position="later"),
     ("data", "custom_attributes", "playhead_position")),
    (lambda d: d["custom_attributes"].update(content_duration="-5"),
     ("data", "custom_attributes", "content_duration")),
    (lambda d: d["custom_attributes"].update(seek_position="NaN"),
     ("data", "custom_attributes", "seek_position")),
    (lambda d: d["custom_attributes"].pop("content_id"),
     ("data", "custom_attributes", "content_id")),
    (lambda d: d.update(timestamp_unixtime_ms="yesterday"), ("data", "timestamp_unixtime_ms")),
    (lambda d: d.pop("timestamp_unixtime_ms"), ("data", "timestamp_unixtime_ms")),
    (lambda d: d.update(custom_event_type="navigation"), ("data", "custom_event_type")),
    (lambda d: d.update(event_name=""), ("data", "event_name")),
])
def test_invalid_events_name_the_field_path(
    change: Callable[[dict[str, Any]], Any], path: tuple[str, ...],
) -> None:
    body = copy.deepcopy(example()[7])
    change(body["data"])
    with pytest.raises(ValidationError) as caught:
        MParticleEvent.model_validate(body)
    assert path in {tuple(error["loc"]) for error in caught.value.errors()}


def test_numbers_may_come_as_strings_or_numbers() -> None:
    as_numbers = copy.deepcopy(example()[7])
    as_numbers["data"]["timestamp_unixtime_ms"] = 1573828863888
    as_numbers["data"]["custom_attributes"].update(playhead_position=110123,
                                                   content_duration=120000.0, content_id=1234567)
    assert one(as_numbers) == one(example()[7])


def test_future_timestamp_is_replaced_flagged_and_keeps_its_order() -> None:
    event = one(example()[7], received_at=REFERENCE_TIME - 3600)
    assert event.timestamp == REFERENCE_TIME - 3600
    assert event.attributes["timestamp_adjusted"] == "future:1573828863888"
    assert event.sequence_number == 1573828863888 * 16 + 1  # the player's clock still orders


def test_events_older_than_a_day_are_rejected_with_the_reason() -> None:
    with pytest.raises(EventRejected) as caught:
        convert(example()[7], received_at=REFERENCE_TIME + 2 * 86400)
    assert (caught.value.path, caught.value.reason) == ("data.timestamp_unixtime_ms", "too_old")


def test_retime_moves_the_example_to_now_and_keeps_spacing_and_types() -> None:
    body = retime(copy.deepcopy(reference("mparticle")), 1_800_000_000.0)
    stamps = [int(e["data"]["timestamp_unixtime_ms"]) for e in body["events"]]
    assert max(stamps) == 1_800_000_000_000
    original = [int(e["data"]["timestamp_unixtime_ms"]) for e in example()]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [
        b - a for a, b in itertools.pairwise(original)]
    assert isinstance(body["events"][0]["data"]["session_start_unixtime_ms"], str)
    assert all(convert(e, received_at=1_800_000_000.0) for e in body["events"])
