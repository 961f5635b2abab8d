"""The canonical event in Avro binary, written by hand for its one record shape (pure).

fastavro's ``schemaless_writer`` walks the parsed schema for every record and
needs the event as a dict first (``PlaybackEvent.to_record``); the gateway
publishes every event it accepts, so that walk was about a fifth of its
cost per event. This writer lays out ``playback_event`` v2 and
``playback_batch`` v1 directly from the dataclass, in the same bytes
fastavro writes (tests/schemas/test_event_writer.py proves it with
hypothesis over the schema's value space and the shipped examples).

It knows one version of each schema. ``EventWriter.matching`` builds it only
when the codec it stands in for writes those versions, byte for byte on
sample events, so a new schema version can never be written with a stale
layout: producers then keep fastavro's path until this module learns it.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Mapping, Sequence

from schemas.codec import MAGIC, WIRE_KINDS, EventCodec
from schemas.event import Action, EventKind, PlaybackEvent

# The versions laid out below (schemas/playback_event/v2.avsc, playback_batch/v1.avsc).
EVENT_VERSION = 2

_double = struct.Struct("<d").pack
_KIND_INDEX = {kind: bytes([2 * index]) for index, kind in enumerate(WIRE_KINDS)}
# Zigzag varints of 0..8191: the length of every string under 8 KiB (ids take one byte).
_SMALL = [bytes([2 * n]) if n < 64 else bytes([(2 * n & 0x7F) | 0x80, 2 * n >> 7])
          for n in range(8192)]
_NULL = b"\x00"  # a union's first branch (null), an empty map, the end of a block
_ONE = b"\x02"  # a block of one entry
_SOME = b"\x02"  # a union's second branch
_TRUE, _FALSE = b"\x01", b"\x00"
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def long_bytes(n: int) -> bytes:
    """An Avro long: zigzag, then a little-endian base-128 varint."""
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise OverflowError(f"{n} does not fit in an Avro long")
    z = (n << 1) ^ (n >> 63)
    if z < 0x80:
        return bytes((z,))
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    size = len(raw)
    return (_SMALL[size] if size < 8192 else long_bytes(size)) + raw


class _Strings(dict[str, bytes]):
    """Strings' encodings: the events of a request repeat most of theirs."""

    def __missing__(self, text: str) -> bytes:
        encoded = self[text] = _string(text)
        return encoded


class _Longs(dict[int, bytes]):
    def __missing__(self, n: int) -> bytes:
        encoded = self[n] = long_bytes(n)
        return encoded


class _Times(dict[float, bytes]):
    """Times in seconds as the milliseconds PlaybackEvent.to_record rounds them to."""

    def __missing__(self, seconds: float) -> bytes:
        # -0.0 and 0.0 share a key, and both are 0 ms; a NaN never hits and raises here.
        encoded = self[seconds] = long_bytes(round(seconds * 1000))
        return encoded


class BodyWriter:
    """Writes events' bodies, remembering the encodings of the texts, numbers and times
    they repeat; one per call (a request's events), so what it remembers stays small."""

    def __init__(self) -> None:
        self._text, self._number, self._time = _Strings(), _Longs(), _Times()

    def bodies(self, events: Sequence[PlaybackEvent]) -> list[bytes]:
        """Each event's Avro body (no header), in order: its fields in the schema's order.

        Written by the compiled twin (schemas/_wire_write.c) where it was built
        and the events are all of the shapes it writes; by ``bodies_python``
        otherwise. The same bytes (tests/schemas/test_event_writer_compiled.py).
        """
        if _BODIES is not None:
            written = _BODIES(events)
            if written is not None:
                return written
        return self.bodies_python(events)

    def bodies_python(self, events: Sequence[PlaybackEvent]) -> list[bytes]:
        """``bodies``, in Python: the reference."""
        text, number, time = self._text, self._number, self._time
        bodies = []
        for e in events:
            attributes = e.attributes
            bodies.append(b"".join((
                _string(e.event_id), text[e.organization_id], text[e.session_id],
                text[e.clip_id], text[e.source], text[e.dialect],
                _KIND_INDEX[e.kind], _double(e.position_seconds), number[e.sequence_number],
                time[e.timestamp], time[e.received_at],
                _TRUE if e.session_complete else _FALSE, text[e.action],
                _NULL if e.seek_to_seconds is None else _SOME + _double(e.seek_to_seconds),
                _NULL if e.value_ms is None else _SOME + number[e.value_ms],
                _NULL if e.clip_length_seconds is None
                else _SOME + _double(e.clip_length_seconds),
                self._attributes(attributes) if attributes else _NULL,
            )))
        return bodies

    def _attributes(self, attributes: Mapping[str, str]) -> bytes:
        # One block holding every entry, then the empty block that ends the map (as fastavro).
        text = self._text
        if len(attributes) == 1:  # the common map (e.g. {"event": "Start"}), joined at once
            for key, value in attributes.items():
                return b"".join((_ONE, text[key], text[value], _NULL))
        parts = [self._number[len(attributes)]]
        for key, value in attributes.items():
            parts.append(text[key])
            parts.append(text[value])
        parts.append(_NULL)
        return b"".join(parts)


def event_body(e: PlaybackEvent) -> bytes:
    """One event's Avro body (no header)."""
    return BodyWriter().bodies([e])[0]


def event_bodies(events: Sequence[PlaybackEvent]) -> list[bytes]:
    """Each event's Avro body, in order."""
    return BodyWriter().bodies(events)


def batch_body(bodies: list[bytes]) -> bytes:
    """A ``playback_batch`` body around events' bodies: one array block, then its end."""
    return long_bytes(len(bodies)) + b"".join(bodies) + _NULL if bodies else _NULL


class EventWriter:
    """Whole messages (header and body) of either form, for PlaybackEvent objects."""

    def __init__(self, event_header: bytes, batch_header: bytes):
        self.event_header = event_header
        self.batch_header = batch_header

    def encode(self, event: PlaybackEvent) -> bytes:
        return self.event_header + event_body(event)

    def encode_batch(self, bodies: list[bytes]) -> bytes:
        """A batch message from bodies written by ``event_body``."""
        return self.batch_header + batch_body(bodies)

    @classmethod
    def matching(cls, codec: EventCodec) -> EventWriter | None:
        """A writer that writes what ``codec`` writes, or None when its schemas moved on."""
        if codec.version != EVENT_VERSION:
            return None
        try:
            samples = _samples()
            event_header = codec.encode(samples[0].to_record())[:len(MAGIC) + 8]
            batch_header = codec.encode_batch([samples[0].to_record()])[:len(MAGIC) + 8]
        except Exception:  # a codec without the batch schema: nothing to stand in for
            return None
        writer = cls(event_header, batch_header)
        for sample in samples:
            if writer.encode(sample) != codec.encode(sample.to_record()):
                return None
        bodies = event_bodies(samples)
        if writer.encode_batch(bodies) != codec.encode_batch([s.to_record() for s in samples]):
            return None
        return writer


def _samples() -> list[PlaybackEvent]:
    # Every field, every union branch and both map forms, with multi-byte varints.
    return [
        PlaybackEvent("e1", "org", "s", "clip", "Web", EventKind.START, 0.0, 1,
                      1_700_000_000.123),
        PlaybackEvent("é" * 70, "org", "s", "clip", "Web", EventKind.SEEK, -12.5, 2**62,
                      4_000_000_000.0, True, "omny", 1_700_000_001.0, "seek", 30.25,
                      123_456_789, 3_600.0, {"event": "Seek", "k" * 100: "v"}),
    ]


def _compiled_bodies() -> Callable[[Sequence[PlaybackEvent]], list[bytes] | None] | None:
    """schemas._wire_write's ``bodies``, set up for ``PlaybackEvent``; None where it was
    not built (no C compiler at install): ``bodies_python`` then writes every event."""
    try:
        from schemas import _wire_write  # type: ignore[attr-defined]
    except ImportError:
        return None
    names = tuple(field.name for field in dataclasses.fields(PlaybackEvent))
    kinds = {kind: index for index, kind in enumerate(WIRE_KINDS)}
    try:
        _wire_write.configure(PlaybackEvent, names, kinds, (Action, EventKind))
    except TypeError:
        return None
    write: Callable[[Sequence[PlaybackEvent]], list[bytes] | None] = _wire_write.bodies
    return write


_BODIES = _compiled_bodies()
COMPILED = _BODIES is not None
