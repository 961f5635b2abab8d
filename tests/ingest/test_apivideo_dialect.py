"""api.video-style player session events and their mapping onto canonical events (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from devkit.sample_retime import apivideo as retime
from ingest.dialects.apivideo import PlayerSession, PlayerSessionEvents, to_events
from ingest.dialects.context import ANY_AGE, DialectContext
from ingest.examples import reference
from ingest.policy import EventRejected, TimestampPolicy
from processors.intervals import Interval
from processors.session import Rules, SessionState, summarize
from schemas.event import Action, EventKind, PlaybackEvent

ORG = "org-5e2a"
SESSION = "psEmFwGQUAXR2lFHj5nDOpy"
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
STAMP = "2027-01-15T07:59:50.000Z"
POLICY = TimestampPolicy()


def convert(body: PlayerSessionEvents, session: str, organization: str, received_at: float,
            policy: TimestampPolicy = ANY_AGE) -> list[PlaybackEvent]:
    return to_events(PlayerSession(session, body),
                     DialectContext(organization, received_at, policy))


def request(*events: dict[str, Any], **fields: Any) -> PlayerSessionEvents:
    return PlayerSessionEvents.model_validate({"videoId": "vi-1", "events": list(events),
                                               **fields})


def one(kind: str, **fields: Any) -> PlaybackEvent:
    [event] = convert(request({"type": kind, "emittedAt": STAMP, **fields}), SESSION, ORG,
                      NOW, POLICY)
    return event


@pytest.mark.parametrize("kind, fields, expected", [
    ("ready", {"at": 0}, (EventKind.OTHER, Action.READY, 0.0, None)),
    ("play", {"at": 0}, (EventKind.START, Action.PLAY, 0.0, None)),
    ("resume", {"at": 21}, (EventKind.START, Action.RESUME, 21.0, None)),
    ("pause", {"at": 7.5}, (EventKind.STOP, Action.PAUSE, 7.5, None)),
    ("end", {"at": 30}, (EventKind.STOP, Action.END, 30.0, None)),
    ("seek.forward", {"from": 7, "to": 21}, (EventKind.SEEK, Action.SEEK, 7.0, 21.0)),
    ("seek.backward", {"from": 30, "to": 0}, (EventKind.SEEK, Action.SEEK, 30.0, 0.0)),
])
def test_every_event_type_maps_onto_the_timeline(kind: str, fields: dict[str, Any],
                                                 expected: tuple[Any, ...]) -> None:
    event = one(kind, **fields)
    assert (event.kind, event.action, event.position_seconds, event.seek_to_seconds) == expected
    assert event.attributes["event"] == kind
    assert (event.organization_id, event.session_id, event.clip_id, event.session_key) == (
        ORG, SESSION, "vi-1", f"{ORG}/{SESSION}")
    assert (event.dialect, event.source, event.timestamp, event.received_at) == (
        "apivideo", "apivideo", NOW - 10, NOW)
    assert event.sequence_number == 1 and not event.session_complete


def test_seeks_say_their_direction() -> None:
    assert one("seek.backward", **{"from": 9, "to": 2}).attributes["direction"] == "backward"
    assert one("seek.forward", **{"from": 2, "to": 9}).attributes["direction"] == "forward"


def test_end_is_the_content_ending_not_the_session() -> None:
    assert not one("end", at=30).session_complete


def reference_events(received_at: float = NOW) -> list[PlaybackEvent]:
    body = PlayerSessionEvents.model_validate(reference("apivideo"))
    return convert(body, SESSION, ORG, received_at)


def test_reference_session_through_the_core() -> None:
    """The worked example of docs/semantics.md."""
    result = summarize(reference_events(), Rules())
    assert result.intervals == (
        Interval(0, 7),  # play at 0, pause at 7
        Interval(21, 30),  # resume at 21 (the seek 7 -> 21 restates it), end at 30
        # replay at 0 (the seek 30 -> 0 restates it); the scrub 0 -> 21 reported as pause and
        # resume at 21 closes [0, 0) at the seek's from: nothing watched.
        Interval(21, 24),  # the scrub 24 -> 20: the pause really was at 24
        Interval(17, 19),  # the scrub 17 -> 17, then pause at 19
        Interval(0, 1),  # two days later: play at 0, pause at 1
        Interval(1, 3),  # resume at 1, pause at 3
    )
    assert result.duration_seconds == 24.0 and result.kept
    assert str(result.day) == "2020-09-15" and result.version == 25
    assert sorted(result.buckets) == [*range(7), 17, 18, *range(21, 30)]
    assert [result.buckets[b] for b in (0, 2, 3, 17, 21, 23, 24, 29)] == [2, 2, 1, 1, 2, 2, 1, 1]


def test_sequence_is_the_place_in_the_session_across_requests() -> None:
    body = reference("apivideo")
    # Split where no scrub straddles the requests: a scrub is read within one request.
    first = dict(body, events=body["events"][:6])
    second = dict(body, events=body["events"][6:], offset=6)
    split = [e for part in (first, second) for e in convert(
        PlayerSessionEvents.model_validate(part), SESSION, ORG, NOW)]
    whole = reference_events()
    assert [e.sequence_number for e in split] == list(range(1, 26))
    assert [e.event_id for e in split] == [e.event_id for e in whole]
    assert summarize(split, Rules()).intervals == summarize(whole, Rules()).intervals


def test_retry_gives_the_same_ids() -> None:
    assert [e.event_id for e in reference_events(NOW)] == [
        e.event_id for e in reference_events(NOW + 60)]
    assert reference_events()[4].event_id.startswith(f"apivideo:{ORG}:{SESSION}:5:")


def test_a_reused_offset_keeps_different_events_apart() -> None:
    first = convert(request({"type": "play", "at": 0, "emittedAt": STAMP}), SESSION, ORG, NOW)
    mistaken = convert(request({"type": "pause", "at": 4, "emittedAt": STAMP}), SESSION, ORG,
                       NOW)
    assert first[0].sequence_number == mistaken[0].sequence_number == 1
    assert first[0].event_id != mistaken[0].event_id


def test_completed_request_lets_the_session_close_once_nothing_is_missing() -> None:
    body = reference("apivideo")
    last = convert(PlayerSessionEvents.model_validate(
        dict(body, events=body["events"][20:], offset=20, completed=True)), SESSION, ORG, NOW)
    earlier = reference_events()[:20]
    state = SessionState()
    for event in last + earlier[:-1]:
        state.add(event, NOW)
    assert not state.is_complete()  # event 20 has not arrived
    state.add(earlier[-1], NOW)
    assert state.is_complete()


def test_future_time_is_replaced_by_server_time_and_flagged() -> None:
    event = one("play", at=0, emittedAt="2027-01-15T08:10:00Z")
    assert event.timestamp == NOW
    assert event.attributes["timestamp_adjusted"] == "future:1800000600"


def test_events_older_than_a_day_are_rejected_with_the_reason() -> None:
    body = request({"type": "play", "at": 0, "emittedAt": STAMP},
                   {"type": "pause", "at": 3, "emittedAt": "2027-01-14T07:00:00Z"})
    with pytest.raises(EventRejected, match="25.0 h old") as err:
        convert(body, SESSION, ORG, NOW, POLICY)
    assert (err.value.path, err.value.reason) == ("events[1].emittedAt", "too_old")


def valid_body() -> dict[str, Any]:
    return {"videoId": "vi-1", "events": [{"type": "play", "at": 0, "emittedAt": STAMP},
                                          {"type": "seek.forward", "from": 1, "to": 9,
                                           "emittedAt": STAMP}]}


@pytest.mark.parametrize("change, path", [
    (lambda b: b["events"][1].pop("from"), "events.1.from"),
    (lambda b: b["events"][1].pop("to"), "events.1.to"),
    (lambda b: b["events"][0].pop("at"), "events.0.at"),
    (lambda b: b["events"][0].update(at=-1), "events.0.at"),
    (lambda b: b["events"][0].update(type="stop"), "events.0.type"),
    (lambda b: b["events"][0].pop("emittedAt"), "events.0.emittedAt"),
    (lambda b: b["events"][0].update(emittedAt=1600163262), "events.0.emittedAt"),
    (lambda b: b["events"][0].update(position=3), "events.0.position"),
    (lambda b: b.pop("videoId"), "videoId"),
    (lambda b: b.update(offset=-1), "offset"),
    (lambda b: b.update(events=[]), "events"),
])
def test_invalid_requests_name_the_field_path(change: Any, path: str) -> None:
    body = valid_body()
    change(body)
    with pytest.raises(ValidationError) as caught:
        PlayerSessionEvents.model_validate(body)
    assert [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()] == [path]


def test_retime_brings_the_two_day_reference_within_a_day_with_the_same_intervals() -> None:
    body = retime(copy.deepcopy(reference("apivideo")), NOW)
    events = convert(PlayerSessionEvents.model_validate(body), SESSION, ORG, NOW, POLICY)
    assert max(e.timestamp for e in events) == NOW
    assert NOW - min(e.timestamp for e in events) < 6 * 3600
    assert summarize(events, Rules()).intervals == summarize(reference_events(), Rules()).intervals
