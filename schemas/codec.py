"""Avro single-object encoding for Playhead events.

Every message is ``C3 01`` + the 8-byte CRC-64-AVRO fingerprint of the writer's
schema (little-endian, as the Avro specification and the Java implementation
write it) + the Avro binary body. A reader keeps every schema version it knows
by fingerprint, so a message from a producer still on an older version decodes
into the newest shape through Avro schema resolution.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_LENGTH = len(MAGIC) + 8
EVENT_SCHEMA_NAME = "playback_event"


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


class EventCodec:
    """Encodes with the newest version; decodes any known version."""

    def __init__(self, versions: Mapping[int, dict[str, Any]]):
        self._by_fingerprint: dict[bytes, tuple[int, Any]] = {}
        for number, raw in versions.items():
            parsed = parse_schema(raw)
            self._by_fingerprint[_fingerprint(parsed)] = (number, parsed)
        self.version = max(versions)
        self._writer = parse_schema(versions[self.version])
        self._writer_header = MAGIC + _fingerprint(self._writer)
        self._writer_by_fingerprint = self._by_fingerprint[self._writer_header[2:]][1]

    @property
    def schema(self) -> Any:
        return self._writer

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._writer_header)
        fastavro.schemaless_writer(buffer, self._writer, dict(record))
        return buffer.getvalue()

    def decode(self, message: bytes) -> dict[str, Any]:
        if len(message) < HEADER_LENGTH or message[:2] != MAGIC:
            raise DecodeError(
                "not an Avro single-object message (expected the C3 01 marker and a schema "
                "fingerprint in front of the payload)"
            )
        known = self._by_fingerprint.get(bytes(message[2:HEADER_LENGTH]))
        if known is None:
            raise DecodeError(
                f"unknown schema fingerprint {bytes(message[2:HEADER_LENGTH]).hex()}: the "
                "producer uses a schema version this worker does not have; upgrade the worker"
            )
        _, writer = known
        # Resolution only when the writer is older: the same schema on both sides
        # decodes in about half the time (docs/benchmarks.md).
        reader = None if writer is self._writer_by_fingerprint else self._writer
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(message[HEADER_LENGTH:]), writer, reader
            )
        except Exception as err:  # fastavro raises several unrelated types on bad bytes
            raise DecodeError(f"corrupt Avro payload: {err}") from err
        if not isinstance(record, dict):
            raise DecodeError("Avro payload is not a record")
        return record


@cache
def event_codec() -> EventCodec:
    return EventCodec(schema_versions(EVENT_SCHEMA_NAME))
