"""A batch's shared texts (organization to dialect), read once and reused while the next
event's bytes match, read exactly as the general decoder reads them; and the bounds
check that checks them once agrees with the check of each event."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from test_read_events import general, records

from schemas import event_codec
from schemas.bounds import MAX_ID_CHARS, Bounds
from schemas.event import EventKind, PlaybackEvent

SHARED = ("organization_id", "session_id", "clip_id", "source", "dialect")
# Texts that are prefixes of one another, empty, non-ASCII, or long enough for a
# two-byte length: a neighbour's bytes that almost match.
TEXT = (st.sampled_from(["", "o", "org", "org1", "orgé", "é", "\u20ac", "x" * 63,
                         "x" * 64, "x" * 600, "\U0001f600"])
        | st.text(max_size=70))


@st.composite
def sessions(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One session's events; now and then one of them with another shared text."""
    shared = {name: draw(TEXT) for name in SHARED}
    batch = []
    for _ in range(draw(st.integers(1, 8))):
        record = draw(records()) | shared
        if draw(st.integers(0, 3)) == 0:
            record[draw(st.sampled_from(SHARED))] = draw(TEXT)
        batch.append(record)
    return batch


@settings(max_examples=examples(300))
@given(batch=sessions())
def test_a_session_batch_reads_as_the_general_decoder_reads_it(
        batch: list[dict[str, Any]]) -> None:
    message = event_codec().encode_batch(batch)
    assert event_codec().read_events(message) == general(message)


@settings(max_examples=examples(300))
@given(batch=sessions(), data=st.data())
def test_a_damaged_session_batch_reads_alike_or_goes_to_the_general_decoder(
        batch: list[dict[str, Any]], data: st.DataObject) -> None:
    message = bytearray(event_codec().encode_batch(batch))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(10, len(message) - 1))
        message[at] = data.draw(st.integers(0, 255))
    cut = bytes(message[:data.draw(st.integers(10, len(message)))])
    fast = event_codec().read_events(cut)
    if fast is not None:
        assert repr(fast) == repr(general(cut))


def test_equal_shared_texts_are_read_once() -> None:
    record = {"event_id": "e", "organization_id": "org", "session_id": "s", "clip_id": "c",
              "source": "Web", "dialect": "omny", "kind": "START", "position_seconds": 0.0,
              "sequence_number": 1, "timestamp": 1, "received_at": 1,
              "session_complete": False, "action": "play", "seek_to_seconds": None,
              "value_ms": None, "clip_length_seconds": None, "attributes": {}}
    events = event_codec().read_events(event_codec().encode_batch([record, record]))
    assert events is not None
    first, second = events
    assert all(getattr(first, name) is getattr(second, name) for name in SHARED)


BOUND_TEXT = TEXT | st.sampled_from(["x" * MAX_ID_CHARS, "x" * (MAX_ID_CHARS + 1), "\ud800"])
NUMBER = st.sampled_from([0.0, 1.0, -1.0, 86_400.0, 86_400.5, 1.7e9, 5e9, float("nan")])


@st.composite
def events(draw: st.DrawFn) -> list[PlaybackEvent]:
    """A message's events as the reader gives them: shared texts as the same strings."""
    shared = [draw(BOUND_TEXT) for _ in SHARED]
    out = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 3)) == 0:
            shared = [draw(BOUND_TEXT) for _ in SHARED]
        organization, session, clip, source, dialect = shared
        out.append(PlaybackEvent(
            draw(BOUND_TEXT), organization, session, clip, source, EventKind.START,
            draw(NUMBER), draw(st.integers(0, 3)), draw(NUMBER), dialect=dialect,
            received_at=draw(NUMBER), action=draw(BOUND_TEXT),
            seek_to_seconds=draw(st.none() | NUMBER),
            value_ms=draw(st.none() | st.integers(-1, 2)),
            clip_length_seconds=draw(st.none() | NUMBER),
            attributes=draw(st.dictionaries(BOUND_TEXT, BOUND_TEXT, max_size=2))))
    return out


@settings(max_examples=examples(500), deadline=None)
@given(batch=events())
def test_all_plainly_within_is_plainly_within_of_each(batch: list[PlaybackEvent]) -> None:
    bounds = Bounds()
    assert bounds.all_plainly_within(batch) == all(bounds.plainly_within(e) for e in batch)
