"""The worker's fast reader gives exactly what the general decoder gives, or steps aside."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from schemas import EVENT_SCHEMA_NAME, EventCodec, event_codec, schema_versions
from schemas.event import EventKind, PlaybackEvent, event_from_wire

LONGS = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(max_size=80)
# Built once, not for every record drawn.
KINDS = st.sampled_from([k.value for k in EventKind])
DOUBLES = st.floats(allow_nan=False)
OPTIONAL_DOUBLES = st.none() | DOUBLES
OPTIONAL_LONGS = st.none() | LONGS
ATTRIBUTES = st.dictionaries(TEXT, TEXT, max_size=70)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "event_id": draw(TEXT), "organization_id": draw(TEXT), "session_id": draw(TEXT),
        "clip_id": draw(TEXT), "source": draw(TEXT), "dialect": draw(TEXT),
        "kind": draw(KINDS), "position_seconds": draw(DOUBLES),
        "sequence_number": draw(LONGS), "timestamp": draw(LONGS), "received_at": draw(LONGS),
        "session_complete": draw(st.booleans()), "action": draw(TEXT),
        "seek_to_seconds": draw(OPTIONAL_DOUBLES), "value_ms": draw(OPTIONAL_LONGS),
        "clip_length_seconds": draw(OPTIONAL_DOUBLES), "attributes": draw(ATTRIBUTES),
    }


def general(message: bytes) -> list[PlaybackEvent]:
    return [event_from_wire(record) for record in event_codec().decode_many(message)]


@settings(max_examples=examples(300))
@given(record=records())
def test_a_single_event_reads_as_the_general_decoder_reads_it(record: dict[str, Any]) -> None:
    message = event_codec().encode(record)
    assert event_codec().read_events(message) == general(message)


@settings(max_examples=examples(150))
@given(batch=st.lists(records(), min_size=1, max_size=8))
def test_a_batch_reads_as_the_general_decoder_reads_it(batch: list[dict[str, Any]]) -> None:
    message = event_codec().encode_batch(batch)
    assert event_codec().read_events(message) == general(message)


@settings(max_examples=examples(500))
@given(batch=st.lists(records(), min_size=1, max_size=3), data=st.data())
def test_damaged_bytes_read_alike_or_go_to_the_general_decoder(
        batch: list[dict[str, Any]], data: st.DataObject) -> None:
    message = bytearray(event_codec().encode_batch(batch) if len(batch) > 1
                        else event_codec().encode(batch[0]))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(10, len(message) - 1))
        message[at] = data.draw(st.integers(0, 255))
    cut = bytes(message[:data.draw(st.integers(10, len(message)))])
    fast = event_codec().read_events(cut)
    if fast is not None:  # what it reads, the general decoder reads the same way
        assert repr(fast) == repr(general(cut))


def test_older_writers_and_foreign_bytes_go_to_the_general_decoder() -> None:
    old = EventCodec({1: schema_versions(EVENT_SCHEMA_NAME)[1]})
    record = {"event_id": "e", "organization_id": "o", "session_id": "s", "clip_id": "c",
              "source": "Web", "dialect": "omny", "kind": "START", "position_seconds": 0.0,
              "sequence_number": 1, "timestamp": 1, "received_at": 1,
              "session_complete": False}
    assert event_codec().read_events(old.encode(record)) is None
    assert event_codec().read_events(b'{"json": 1}') is None
    assert event_codec().read_events(event_codec().encode_batch([])) is None
