"""The worker's reader of Playhead events: Avro bytes straight into ``PlaybackEvent``.

One layout only, the newest: playback_event v2, alone or in a playback_batch v1.
No dictionaries, no ``fastavro``: about a quarter of their cost
(bench/core_cost.py). ``EventCodec.read_events`` calls it on a message
whose header names that layout and turns every error it raises (IndexError,
ValueError, struct.error) into None, so the general decoder decides.

``read_run`` and ``read_batch`` are the compiled twins in schemas/_wire_read.c
when ``make install`` could build them (``COMPILED``), and the Python readers
here otherwise: the same events from the same bytes, the same bytes refused
(tests/schemas/test_read_compiled.py), the compiled ones in a fraction of
the time (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from typing import Any

from schemas.event import EventKind, PlaybackEvent
from schemas.frozen import building

# The fingerprints of the layout read_run reads: playback_event v2, and
# playback_batch v1 (an array of it).
READER_EVENT = bytes.fromhex("0bf695758c5c6406")
READER_BATCH = bytes.fromhex("4671d5fd35ced93f")
_DOUBLE = struct.Struct("<d")
_MIDDLE = struct.Struct("<BdB12sBB")
_NEW, _DONE = building(PlaybackEvent)
# The kind enum's symbols in playback_event v2's order: the reader and the
# hand-written writer (schemas/event_writer.py) both index by it.
WIRE_KINDS = [EventKind(symbol) for symbol in ("START", "STOP", "HEARTBEAT", "SEEK", "OTHER")]
_ZIGZAG_LIMIT = 1 << 64
# No seek_to_seconds, value_ms or clip_length_seconds, no attributes: most events.
_NO_EXTRAS = bytes(4)


# Two six-byte varints side by side, read as one little-endian integer of 12 bytes:
# the high bit of every byte, and what it is when bytes 5 and 11 end each varint.
_HIGH_BITS = int.from_bytes(b"\x80" * 12, "little")
_SIX_AND_SIX = int.from_bytes((b"\x80" * 5 + b"\x00") * 2, "little")
# Seven bits a byte to fourteen a 16-bit lane, then three lanes to 42 bits at 0 and 48.
# The sign bits (bit 0 of each varint) too: a negative time reads the long way.
_TIMES_MASK = _HIGH_BITS | 1 | 1 << 48
# Each lane is lo + hi * 256 of two 7-bit bytes; lo + hi * 128 takes hi * 128 off.
_ODD_BYTES = sum(0x7F00 << 16 * lane for lane in range(6))
_LANES_2 = 0x3FFF | 0x3FFF << 48
_LANES_2_MID = _LANES_2 << 14
_LANES_2_UP = _LANES_2 << 28
_42_BITS = (1 << 42) - 1


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """An Avro long (zig-zag varint) at ``pos``, and the position after it."""
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    value = byte & 0x7F
    shift = 7
    while True:
        pos += 1
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than a long")
    if value >= _ZIGZAG_LIMIT:
        raise ValueError("varint beyond 64 bits")
    return (value >> 1) ^ -(value & 1), pos + 1


def _text(data: bytes, pos: int) -> tuple[str, int]:
    # A string cut short by the end of the message leaves ``pos`` past it, and
    # the read that always follows a string raises IndexError.
    size = data[pos]
    if size & 0x81:  # a length of two bytes or more, or a negative one
        size, pos = _long(data, pos)
        if size < 0:
            raise ValueError("negative string length")
    else:
        size >>= 1
        pos += 1
    end = pos + size
    return data[pos:end].decode(), end


def _optional_double(data: bytes, pos: int) -> tuple[float | None, int]:
    branch = data[pos]
    if branch == 0:
        return None, pos + 1
    if branch != 2:  # union branch 1, zig-zag encoded
        raise ValueError("union branch")
    return _DOUBLE.unpack_from(data, pos + 1)[0], pos + 9


def _block_count(data: bytes, pos: int) -> tuple[int, int]:
    count, pos = _long(data, pos)
    if count < 0:  # a block that also states its size in bytes
        _, pos = _long(data, pos)
        count = -count
    return count, pos


def read_run_python(data: bytes, pos: int, count: int, events: list[PlaybackEvent]) -> int:
    """``count`` playback_event v2 records from ``pos`` onto ``events``, as the
    codec's decode and ``event_from_wire`` would build them; the position after.

    The events of a batch are one session's: organization, session, clip,
    source and dialect (side by side on the wire) are the same bytes in every
    one. Those bytes, once read, are compared as one slice with the next
    event's, and when they match the strings are reused instead of read
    again: the same bytes read to the same strings, and shared strings make
    the bounds check (``Bounds.all_plainly_within``) and every later dict
    lookup by them cheaper.
    """
    span: bytes | None = None  # the shared fields' bytes, lengths included; none yet
    span_length = 0  # so the first comparison is b"" == None: never equal
    organization_id = session_id = clip_id = source = dialect = ""
    from_bytes, unpack_double, middle = int.from_bytes, _DOUBLE.unpack_from, _MIDDLE.unpack_from
    new, done, length = _NEW, _DONE, len(data)
    for _ in range(count):
        size = data[pos]  # event_id; _text, inline: the hottest loop of all
        if size & 0x81:
            size, pos = _long(data, pos)
            if size < 0:
                raise ValueError("negative string length")
        else:
            size >>= 1
            pos += 1
        end = pos + size
        event_id = data[pos:end].decode()
        # A string cut short by the end of the message leaves its end past it; the
        # comparison is then unequal and the next read raises IndexError.
        if data[end:end + span_length] == span:
            pos = end + span_length
        else:
            # _text, inline and unrolled: a third of its cost in a loop.
            pos = end
            size = data[pos]
            if size & 0x81:
                organization_id, pos = _text(data, pos)
            else:
                stop = pos + 1 + (size >> 1)
                organization_id = data[pos + 1:stop].decode()
                pos = stop
            size = data[pos]
            if size & 0x81:
                session_id, pos = _text(data, pos)
            else:
                stop = pos + 1 + (size >> 1)
                session_id = data[pos + 1:stop].decode()
                pos = stop
            size = data[pos]
            if size & 0x81:
                clip_id, pos = _text(data, pos)
            else:
                stop = pos + 1 + (size >> 1)
                clip_id = data[pos + 1:stop].decode()
                pos = stop
            size = data[pos]
            if size & 0x81:
                source, pos = _text(data, pos)
            else:
                stop = pos + 1 + (size >> 1)
                source = data[pos + 1:stop].decode()
                pos = stop
            size = data[pos]
            if size & 0x81:
                dialect, pos = _text(data, pos)
            else:
                stop = pos + 1 + (size >> 1)
                dialect = data[pos + 1:stop].decode()
                pos = stop
            span, span_length = data[end:pos], pos - end
        # kind, position, a one-byte sequence number, two six-byte times, the flag
        # and a one-byte action length, read at once when the message is that long.
        if pos + 24 <= length:
            kind_index, position, sequence, stamps, complete, size = middle(data, pos)
            times = from_bytes(stamps, "little")
            fast = sequence < 0x80 and times & _TIMES_MASK == _SIX_AND_SIX
        else:
            fast = False
        if fast:
            if kind_index >= 10 or kind_index & 1:  # 0..4, zig-zag encoded
                raise ValueError("enum index")
            sequence = (sequence >> 1) ^ -(sequence & 1)
            # timestamp and received_at, each six bytes long and not negative (times
            # from 2004 to 2039 in milliseconds): both varints in a few operations on
            # one integer. The zig-zag values are twice the times: divided by 2000.
            times ^= _SIX_AND_SIX  # the continuation bits, known now
            times -= (times & _ODD_BYTES) >> 1  # byte pairs: 14 bits
            times = ((times & _LANES_2) | ((times >> 2) & _LANES_2_MID)
                     | ((times >> 4) & _LANES_2_UP))
            timestamp = (times & _42_BITS) / 2000.0
            received_at = (times >> 48) / 2000.0
            pos += 23
        else:
            kind_index = data[pos]
            if kind_index >= 10 or kind_index & 1:
                raise ValueError("enum index")
            position = unpack_double(data, pos + 1)[0]
            sequence, pos = _long(data, pos + 9)
            stamp, pos = _long(data, pos)
            received, pos = _long(data, pos)
            timestamp, received_at = stamp / 1000.0, received / 1000.0
            complete = data[pos]
            size = data[pos + 1]
            pos += 1
        if complete > 1:
            raise ValueError("boolean")
        if size & 0x81:  # action; _text, inline
            size, pos = _long(data, pos)
            if size < 0:
                raise ValueError("negative string length")
        else:
            size >>= 1
            pos += 1
        end = pos + size
        action = data[pos:end].decode()
        event = new()  # built as quick_new builds, inline (schemas/frozen.py)
        event.event_id = event_id
        event.organization_id = organization_id
        event.session_id = session_id
        event.clip_id = clip_id
        event.source = source
        event.kind = WIRE_KINDS[kind_index >> 1]
        event.position_seconds = position
        event.sequence_number = sequence
        event.timestamp = timestamp
        event.session_complete = complete == 1
        event.dialect = dialect
        event.received_at = received_at
        event.action = action
        if data[end:end + 4] == _NO_EXTRAS:
            event.seek_to_seconds = event.value_ms = event.clip_length_seconds = None
            event.attributes = {}
            pos = end + 4
        else:
            (event.seek_to_seconds, event.value_ms, event.clip_length_seconds,
             event.attributes, pos) = _extras(data, end)
        done(event, PlaybackEvent)
        events.append(event)
    return pos


def _extras(data: bytes, pos: int) -> tuple[float | None, int | None, float | None,
                                             dict[str, str], int]:
    """seek_to_seconds, value_ms, clip_length_seconds and attributes, and the position after."""
    seek_to, pos = _optional_double(data, pos)
    branch = data[pos]
    value_ms: int | None
    if branch == 0:
        value_ms, pos = None, pos + 1
    elif branch == 2:
        value_ms, pos = _long(data, pos + 1)
    else:
        raise ValueError("union branch")
    length, pos = _optional_double(data, pos)
    attributes: dict[str, str] = {}
    count, pos = _block_count(data, pos)
    while count:
        for _ in range(count):
            key, pos = _text(data, pos)
            attributes[key], pos = _text(data, pos)
        count, pos = _block_count(data, pos)
    return seek_to, value_ms, length, attributes, pos


def read_batch_python(data: bytes, pos: int) -> list[PlaybackEvent] | None:
    events: list[PlaybackEvent] = []
    count, pos = _block_count(data, pos)
    while count:
        pos = read_run_python(data, pos, count, events)
        count, pos = _block_count(data, pos)
    return events or None  # no events: decode_many refuses it


def _compiled() -> Any:
    """schemas._wire_read, set up to build ``PlaybackEvent``; None where it was not
    built (no C compiler at install) or refuses the class (a field that is not a
    plain slot): the Python readers then serve."""
    try:
        from schemas import _wire_read  # type: ignore[attr-defined]
    except ImportError:
        return None
    names = tuple(field.name for field in dataclasses.fields(PlaybackEvent))
    try:
        _wire_read.configure(PlaybackEvent, names, tuple(WIRE_KINDS))
    except TypeError:
        return None
    return _wire_read


_COMPILED = _compiled()
COMPILED = _COMPILED is not None
read_run: Callable[[bytes, int, int, list[PlaybackEvent]], int] = (
    _COMPILED.read_run if COMPILED else read_run_python)
read_batch: Callable[[bytes, int], list[PlaybackEvent] | None] = (
    _COMPILED.read_batch if COMPILED else read_batch_python)
