"""Every shipped example fits the newest schema, survives the wire and the worker."""

from __future__ import annotations

import pytest
from fastavro.validation import validate

from processors.handling import InvalidMessage, Refused, decode_event, decode_events
from schemas import (
    BATCH_SCHEMA_NAME,
    EVENT_SCHEMA_NAME,
    DecodeError,
    EventCodec,
    event_codec,
    schema_versions,
)
from schemas import load_examples as examples

EXAMPLES = examples(EVENT_SCHEMA_NAME)


def test_there_are_examples_and_versions() -> None:
    assert EXAMPLES and len(schema_versions(EVENT_SCHEMA_NAME)) >= 2


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_validates_against_the_newest_schema(name: str) -> None:
    assert validate(EXAMPLES[name], event_codec().schema, raise_errors=True)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_round_trips_and_the_worker_accepts_it(name: str) -> None:
    message = event_codec().encode(EXAMPLES[name])
    event = decode_event(message, event_codec())
    assert event.event_id == EXAMPLES[name]["event_id"]
    assert event.timestamp * 1000 == EXAMPLES[name]["timestamp"]


@pytest.mark.parametrize("old", sorted(schema_versions(EVENT_SCHEMA_NAME))[:-1])
def test_message_from_an_older_schema_version_still_decodes(old: int) -> None:
    old_producer = EventCodec({old: schema_versions(EVENT_SCHEMA_NAME)[old]})
    record = {k: v for k, v in EXAMPLES["omny_start.json"].items()
              if k in {f["name"] for f in old_producer.schema["fields"]}}
    decoded = event_codec().decode(old_producer.encode(record))
    assert decoded["event_id"] == record["event_id"]
    assert decoded["clip_length_seconds"] is None  # the field added later gets its default


def test_foreign_bytes_are_rejected_with_a_reason() -> None:
    with pytest.raises(DecodeError, match="single-object"):
        event_codec().decode(b'{"json": "not avro"}')
    unknown = b"\xc3\x01" + bytes(8) + b"\x00"
    with pytest.raises(DecodeError, match="unknown schema fingerprint"):
        event_codec().decode(unknown)
    with pytest.raises(InvalidMessage, match="undecodable"):
        decode_event(unknown, event_codec())


BATCH_EXAMPLES = examples(BATCH_SCHEMA_NAME)


def test_the_batch_schema_has_examples_and_carries_the_newest_event_schema() -> None:
    assert BATCH_EXAMPLES
    items = event_codec().batch_schema["fields"][0]["type"]["items"]
    assert items["name"] == event_codec().schema["name"]
    assert {f["name"] for f in items["fields"]} == {
        f["name"] for f in event_codec().schema["fields"]}


@pytest.mark.parametrize("name", sorted(BATCH_EXAMPLES))
def test_batch_example_validates_and_the_worker_reads_each_event(name: str) -> None:
    example = BATCH_EXAMPLES[name]
    assert validate(example, event_codec().batch_schema, raise_errors=True)
    message = event_codec().encode_batch(example["events"])
    decoded = decode_events(message, event_codec())
    assert [e.event_id for e in decoded if not isinstance(e, Refused)] == [
        record["event_id"] for record in example["events"]]


def test_a_batch_and_single_events_of_the_same_session_decode_alike() -> None:
    records = BATCH_EXAMPLES["omny_session.json"]["events"]
    one_by_one = [decode_event(event_codec().encode(r), event_codec()) for r in records]
    together = decode_events(event_codec().encode_batch(records), event_codec())
    assert together == one_by_one
    with pytest.raises(DecodeError, match="decode_many"):
        event_codec().decode(event_codec().encode_batch(records))


def test_one_bad_event_of_a_batch_is_refused_alone() -> None:
    records = [dict(r) for r in BATCH_EXAMPLES["omny_session.json"]["events"]]
    records[0]["position_seconds"] = 5e9
    decoded = decode_events(event_codec().encode_batch(records), event_codec())
    refused = decoded[0]
    assert isinstance(refused, Refused) and refused.index == 0
    assert refused.error.reason == "out_of_bounds"
    assert not isinstance(decoded[1], Refused) and decoded[1].event_id == records[1]["event_id"]
