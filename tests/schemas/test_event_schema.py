"""Every shipped example fits the newest schema, survives the wire and the worker."""

from __future__ import annotations

import pytest
from fastavro.validation import validate

from processors.handling import InvalidMessage, decode_event
from schemas import EVENT_SCHEMA_NAME, DecodeError, EventCodec, event_codec, schema_versions
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
