"""The hand-written Avro writer writes fastavro's bytes, for every event the schema holds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from schemas import BATCH_SCHEMA_NAME, EVENT_SCHEMA_NAME, EventCodec, event_codec, load_examples
from schemas.event import EventKind, PlaybackEvent
from schemas.event_writer import EventWriter, event_bodies, long_bytes

LONG = st.integers(-(2**63), 2**63 - 1)
# Text with a UTF-8 form (a lone surrogate has none: both writers refuse it, see below).
TEXT = (st.text(st.characters(blacklist_categories=("Cs",)), max_size=90)
        | st.text(alphabet="ab", max_size=9000)  # lengths of one, two and three varint bytes
        | st.sampled_from(["", "org", "omny", "é" * 40]))  # repeated, as a session repeats ids
DOUBLE = st.floats(allow_nan=True, allow_infinity=True)
# Times whose milliseconds (round(t * 1000), as to_record writes them) fit in an Avro long.
TIME = st.floats(min_value=-9.2e15, max_value=9.2e15, allow_nan=False)

events = st.builds(
    PlaybackEvent,
    event_id=TEXT, organization_id=TEXT, session_id=TEXT, clip_id=TEXT, source=TEXT,
    kind=st.sampled_from(list(EventKind)), position_seconds=DOUBLE, sequence_number=LONG,
    timestamp=TIME, session_complete=st.booleans(), dialect=TEXT, received_at=TIME,
    action=TEXT, seek_to_seconds=st.none() | DOUBLE, value_ms=st.none() | LONG,
    clip_length_seconds=st.none() | DOUBLE,
    attributes=st.dictionaries(TEXT, TEXT, max_size=70),
)


def writer() -> EventWriter:
    found = EventWriter.matching(event_codec())
    assert found is not None, "the writer no longer matches the newest schemas"
    return found


@settings(max_examples=examples(500), deadline=None)
@given(events)
def test_an_event_is_written_as_fastavro_writes_it(event: PlaybackEvent) -> None:
    assert writer().encode(event) == event_codec().encode(event.to_record())


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(events, min_size=1, max_size=8))
def test_a_batch_is_written_as_fastavro_writes_it(batch: list[PlaybackEvent]) -> None:
    expected = event_codec().encode_batch([e.to_record() for e in batch])
    assert writer().encode_batch(event_bodies(batch)) == expected


@given(LONG)
def test_longs_are_zigzag_varints(n: int) -> None:
    z = (n << 1) ^ (n >> 63)
    assert long_bytes(n) == bytes(
        [(z >> (7 * i) & 0x7F) | (0x80 if z >> (7 * (i + 1)) else 0)
         for i in range(max(1, math.ceil(z.bit_length() / 7)))])


@pytest.mark.parametrize("name", sorted(load_examples(EVENT_SCHEMA_NAME)))
def test_the_shipped_event_examples_are_written_identically(name: str) -> None:
    record = load_examples(EVENT_SCHEMA_NAME)[name]
    assert writer().encode(PlaybackEvent.from_record(record)) == event_codec().encode(record)


@pytest.mark.parametrize("name", sorted(load_examples(BATCH_SCHEMA_NAME)))
def test_the_shipped_batch_examples_are_written_identically(name: str) -> None:
    records = load_examples(BATCH_SCHEMA_NAME)[name]["events"]
    bodies = event_bodies([PlaybackEvent.from_record(r) for r in records])
    assert writer().encode_batch(bodies) == event_codec().encode_batch(records)


def test_text_without_a_utf8_form_is_refused_as_fastavro_refuses_it() -> None:
    event = PlaybackEvent("\ud800", "org", "s", "c", "Web", EventKind.START, 0.0, 1, 0.0)
    with pytest.raises(UnicodeEncodeError):
        writer().encode(event)
    with pytest.raises(UnicodeEncodeError):
        event_codec().encode(event.to_record())


def test_a_codec_of_other_schema_versions_gets_no_writer() -> None:
    from schemas import schema_versions
    older = EventCodec({1: schema_versions(EVENT_SCHEMA_NAME)[1]},
                       schema_versions(BATCH_SCHEMA_NAME))
    assert EventWriter.matching(older) is None
    assert EventWriter.matching(EventCodec(schema_versions(EVENT_SCHEMA_NAME))) is None
