"""Versioned Avro schemas for Playhead's wire format, with example messages.

Each folder holds one record type: ``v<N>.avsc`` files (newest is what writers
use) and ``examples/*.json`` that CI checks against the newest schema.
"""

from schemas.codec import (
    EVENT_SCHEMA_NAME,
    DecodeError,
    EventCodec,
    event_codec,
    load_examples,
    schema_versions,
)

__all__ = [
    "EVENT_SCHEMA_NAME",
    "DecodeError",
    "EventCodec",
    "event_codec",
    "load_examples",
    "schema_versions",
]
