"""Avro single-object encoding for Playhead events, one per record or several.

Every message is ``C3 01`` + the 8-byte CRC-64-AVRO fingerprint of the writer's
schema (little-endian, as the Avro specification and the Java implementation
write it) + the Avro binary body. The fingerprint names the schema, and so the
form: a ``playback_event`` (one event) or a ``playback_batch`` (an array of
events of one session). A reader keeps every version of both it knows by
fingerprint, so a message from a producer still on an older version decodes
into the newest shape through Avro schema resolution.

Decoding reads times as the integers on the wire (milliseconds since the
epoch) instead of building ``datetime`` objects the worker would turn back
into numbers: the same bytes, read with the schema's logical types left out,
in about half the time (docs/benchmarks.md).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from schemas.event import PlaybackEvent
from schemas.wire_read import READER_BATCH, READER_EVENT, read_batch, read_run
from schemas.wire_read import WIRE_KINDS as WIRE_KINDS  # the writer takes them from here

MAGIC = b"\xc3\x01"
HEADER_LENGTH = len(MAGIC) + 8
EVENT_SCHEMA_NAME = "playback_event"
BATCH_SCHEMA_NAME = "playback_batch"


class DecodeError(ValueError):
    """A message is not a Playhead event this reader can decode."""


def schema_versions(name: str) -> dict[int, dict[str, Any]]:
    """All versions of one schema, oldest first, as parsed JSON."""
    folder = resources.files("schemas") / name
    versions: dict[int, dict[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.name.startswith("v") and entry.name.endswith(".avsc"):
            versions[int(entry.name[1:-5])] = json.loads(entry.read_text())
    if not versions:
        raise FileNotFoundError(f"no schema versions found for {name!r}")
    return dict(sorted(versions.items()))


def load_examples(name: str) -> dict[str, dict[str, Any]]:
    """Example messages shipped beside a schema, by file name."""
    folder = resources.files("schemas") / name / "examples"
    return {
        entry.name: json.loads(entry.read_text())
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    }


def _fingerprint(parsed: Any) -> bytes:
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


def _without_logical_types(schema: Any) -> Any:
    """The same schema with ``logicalType`` dropped: identical bytes, plain values."""
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    return schema


class _Family:
    """Every version of one record type, by fingerprint, and its newest (the writer)."""

    def __init__(self, versions: Mapping[int, dict[str, Any]]):
        self.by_fingerprint: dict[bytes, tuple[Any, Any]] = {}  # -> (parsed, parsed plain)
        for raw in versions.values():
            parsed = parse_schema(raw)
            plain = parse_schema(_without_logical_types(raw))
            self.by_fingerprint[_fingerprint(parsed)] = (parsed, plain)
        self.version = max(versions)
        self.writer = parse_schema(versions[self.version])
        self.header = MAGIC + _fingerprint(self.writer)
        self.plain_writer = self.by_fingerprint[self.header[2:]][1]

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self.header)
        fastavro.schemaless_writer(buffer, self.writer, dict(record))
        return buffer.getvalue()

    def decode(self, plain_writer: Any, payload: bytes) -> Any:
        # Resolution only when the writer is older: the same schema on both sides
        # decodes in about half the time (docs/benchmarks.md).
        reader = None if plain_writer is self.plain_writer else self.plain_writer
        try:
            return fastavro.schemaless_reader(io.BytesIO(payload), plain_writer, reader)
        except Exception as err:  # fastavro raises several unrelated types on bad bytes
            raise DecodeError(f"corrupt Avro payload: {err}") from err


class EventCodec:
    """Encodes with the newest versions; decodes any known version of either form."""

    def __init__(self, versions: Mapping[int, dict[str, Any]],
                 batch_versions: Mapping[int, dict[str, Any]] | None = None):
        self._events = _Family(versions)
        self._batches = _Family(batch_versions) if batch_versions else None
        self.version = self._events.version
        # read_events knows one layout: the newest event schema's, alone or in a batch.
        # Another newest version turns it off until it learns that one's.
        # Headers (marker and fingerprint), compared whole with a message's first bytes.
        self._fast_event = (self._events.header
                            if self._events.header[2:] == READER_EVENT else None)
        self._fast_batch = (self._batches.header if self._batches is not None
                            and self._batches.header[2:] == READER_BATCH else None)

    @property
    def schema(self) -> Any:
        return self._events.writer

    @property
    def batch_schema(self) -> Any:
        if self._batches is None:
            raise DecodeError("this codec was built without the batch schema")
        return self._batches.writer

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """One event as a single-event message."""
        return self._events.encode(record)

    def encode_batch(self, records: Sequence[Mapping[str, Any]]) -> bytes:
        """Events of one session as one batch message (callers keep them to one session)."""
        if self._batches is None:
            raise DecodeError("this codec was built without the batch schema")
        return self._batches.encode({"events": [dict(r) for r in records]})

    def _known(self, message: bytes) -> tuple[_Family, Any]:
        if len(message) < HEADER_LENGTH or message[:2] != MAGIC:
            raise DecodeError(
                "not an Avro single-object message (expected the C3 01 marker and a schema "
                "fingerprint in front of the payload)"
            )
        fingerprint_bytes = bytes(message[2:HEADER_LENGTH])
        for family in (self._events, self._batches):
            if family is not None and fingerprint_bytes in family.by_fingerprint:
                return family, family.by_fingerprint[fingerprint_bytes][1]
        raise DecodeError(
            f"unknown schema fingerprint {fingerprint_bytes.hex()}: the producer uses a "
            "schema version this worker does not have; upgrade the worker"
        )

    def decode(self, message: bytes) -> dict[str, Any]:
        """A single-event message's record (times as epoch milliseconds)."""
        family, writer = self._known(message)
        if family is not self._events:
            raise DecodeError("a batch message holds several events: use decode_many")
        record = family.decode(writer, message[HEADER_LENGTH:])
        if not isinstance(record, dict):
            raise DecodeError("Avro payload is not a record")
        return record

    def read_events(self, message: bytes) -> list[PlaybackEvent] | None:
        """The events of a message written with the newest schemas, read straight into
        ``PlaybackEvent``; None when the message needs ``decode_many``.

        The worker's path: no dictionaries, no ``fastavro``, about a quarter of
        their cost (bench/core_cost.py). None for a message of an older schema
        version and for anything this reader finds irregular (bad bytes, an
        empty batch, an out-of-range enum, a non-0/1 boolean): ``decode_many``
        then reads it, or refuses it with its own error, exactly as before. What
        this reader accepts, ``decode_many`` reads to the same event (a
        property test holds it to that).
        """
        header = message[:HEADER_LENGTH]  # shorter for a shorter message: no match
        try:
            if header == self._fast_event:
                events: list[PlaybackEvent] = []
                read_run(message, HEADER_LENGTH, 1, events)
                return events
            if header == self._fast_batch:
                return read_batch(message, HEADER_LENGTH)
        except (IndexError, ValueError, struct.error):  # UnicodeDecodeError is a ValueError
            return None
        return None

    def decode_many(self, message: bytes) -> list[dict[str, Any]]:
        """The records of either form: one for a single event, all of a batch's."""
        family, writer = self._known(message)
        decoded = family.decode(writer, message[HEADER_LENGTH:])
        if not isinstance(decoded, dict):
            raise DecodeError("Avro payload is not a record")
        if family is self._events:
            return [decoded]
        events = decoded.get("events")
        if not isinstance(events, list) or not events:
            raise DecodeError("a batch message without events")
        return events


@cache
def event_codec() -> EventCodec:
    return EventCodec(schema_versions(EVENT_SCHEMA_NAME), schema_versions(BATCH_SCHEMA_NAME))
