"""Playhead's wire format: what the gateway, the workers and direct producers share.

The canonical event (``schemas.event``), its versioned Avro schemas with
example messages, the codec (``schemas.codec``), the bounds every event keeps
(``schemas.bounds``), Kafka's default partitioner (``schemas.partitioner``)
and the producer helper (``schemas.producer``). It imports no other Playhead
package, so everything else can import it.

Each schema folder holds one record type: ``v<N>.avsc`` files (newest is
what writers use) and ``examples/*.json`` that CI checks against the newest
schema.
"""

from schemas.codec import (
    BATCH_SCHEMA_NAME,
    EVENT_SCHEMA_NAME,
    DecodeError,
    EventCodec,
    event_codec,
    load_examples,
    schema_versions,
)

__all__ = [
    "BATCH_SCHEMA_NAME",
    "EVENT_SCHEMA_NAME",
    "DecodeError",
    "EventCodec",
    "event_codec",
    "load_examples",
    "schema_versions",
]
