"""The bytes a session occupies in the worker's state table (pure).

A fixed header (what the value is, its times and version) lets the worker
sweep the table without decoding events. The events follow as compact JSON:
organization and session once (they are the key), one array per event with
the fields that differ from the event before it left out, derived event ids
written as 0, and trailing defaults dropped. Lossless: ``decode(encode(s)) == s``.
The Omny reference session takes 363 bytes (its three UUIDs are 108 of them)
instead of 1.4 kB as JSON records.

Versions: a kind byte with the ``PARTS`` flag set has a section after the
header, before the events: the continuation number, the clip and the app
platform of the earlier parts, and the 64-bit digests of the event ids they (or, in
a tombstone, every part) counted. Without the flag the value is as first
written (no section): a first part with nothing earlier, or a tombstone that
keeps no event ids. Both forms decode; a first part is still written without
the section, so its bytes are unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, NamedTuple

from processors.session import LISTENING, SessionState, Tombstone, event_hash
from schemas.event import Action, EventKind, PlaybackEvent, derived_event_id
from schemas.frozen import quick_new

OPEN, CLOSED, TOMBSTONE = 1, 2, 3
PARTS = 0x10  # kind flag: the parts section follows the header
_HEADER = struct.Struct("<BddI")  # kind, last_activity, closed_at, version
# continuation, clip length + 1 (0: no clip), platform length, number of digests
_PARTS = struct.Struct("<IHHI")
_DIGEST = struct.Struct("<Q")
EMPTY_SIZE = _HEADER.size  # encode(SessionState()): a new session's stored bytes
_KINDS = list(EventKind)
_EVENT = quick_new(PlaybackEvent)  # every field, in order
_TOMBSTONE = quick_new(Tombstone)
_APP_START = Action.APP_START.value  # a plain str compares without the enum's machinery
_KIND_INDEX = {kind: i for i, kind in enumerate(_KINDS)}
# Per-event array; the last five are optional and dropped when at their default.
_EMPTY: dict[str, str] = {}
_DEFAULTS: tuple[Any, ...] = ("", None, None, None, _EMPTY)


class Header(NamedTuple):
    """The fixed part of a stored value: all the sweep and the index rebuild read."""

    kind: int
    last_activity: float
    closed_at: float
    version: int


def peek(data: bytes) -> Header:
    kind, last_activity, closed_at, version = _HEADER.unpack_from(data)
    return Header(kind & ~PARTS, last_activity, closed_at, version)


def _parts(continuation: int, clip: str | None, platform: str,
           digests: frozenset[int]) -> bytes:
    clip_bytes = b"" if clip is None else clip.encode()
    platform_bytes = platform.encode()
    # Sorted so that one state always has one encoding, whatever the set's history.
    return (_PARTS.pack(continuation, 0 if clip is None else len(clip_bytes) + 1,
                        len(platform_bytes), len(digests))
            + clip_bytes + platform_bytes + b"".join(_DIGEST.pack(d) for d in sorted(digests)))


def encode(state: SessionState | Tombstone) -> bytes:
    if isinstance(state, Tombstone):
        if state.seen is None:
            return _HEADER.pack(TOMBSTONE, 0.0, state.closed_at, state.version)
        return (_HEADER.pack(TOMBSTONE | PARTS, 0.0, state.closed_at, state.version)
                + _parts(state.continuation, state.clip, state.platform, state.seen))
    head = _head(state)
    if not state.events:
        return head
    return head + _session_json(list(state.events.values()))


def _head(state: SessionState) -> bytes:
    """The header, and the parts section when the state has one."""
    kind = CLOSED if state.closed else OPEN
    if (state.continuation or state.earlier or state.earlier_clip is not None
            or state.earlier_platform):
        return (_HEADER.pack(kind | PARTS, state.last_activity, state.closed_at, state.version)
                + _parts(state.continuation, state.earlier_clip, state.earlier_platform,
                         state.earlier))
    return _HEADER.pack(kind, state.last_activity, state.closed_at, state.version)


def encode_after(state: SessionState, stored: bytes, stored_events: int) -> bytes:
    """``encode(state)`` for a state decoded from ``stored`` that has since only
    gained events (``stored_events`` were stored), built from the stored rows.

    Events are stored in the order they came, so the stored rows are the first
    rows of ``encode(state)`` and only the new ones are written: a session
    that takes one event a batch is encoded at one event's cost, not its
    length's. The same bytes as ``encode`` (a property test holds it to that).
    """
    events = state.events
    body = stored[_body_offset(stored):]
    if not stored_events or len(events) < stored_events or not body.endswith(b"]]"):
        return encode(state)
    if len(events) == stored_events:
        return _head(state) + body
    new = list(islice(events.values(), stored_events - 1, None))
    rows = _rows_json(new[1:], new[0])  # "[row,row]": the rows with their commas
    return _head(state) + body[:-2] + b"," + rows[1:-1] + b"]]"


def _body_offset(data: bytes) -> int:
    """Where the events begin: after the header, and the parts section if any."""
    offset = _HEADER.size
    if data[0] & PARTS:
        _, clip_size, platform_size, count = _PARTS.unpack_from(data, offset)
        offset += (_PARTS.size + max(clip_size - 1, 0) + platform_size
                   + count * _DIGEST.size)
    return offset


def _rows(events: Iterable[PlaybackEvent], previous: PlaybackEvent,
          rows: list[list[Any]]) -> list[list[Any]]:
    """``rows`` with each event's ``_row`` after it, each event after ``previous``.

    ``_row`` written out for the events of one session, which every stored
    change writes: the fields the events share are read once.
    """
    org, session = previous.organization_id, previous.session_id
    clip, source, dialect = previous.clip_id, previous.source, previous.dialect
    kinds = _KIND_INDEX
    append = rows.append
    for e in events:
        if e.organization_id != org or e.session_id != session:
            raise ValueError(f"event {e.event_id} belongs to another session")
        event_id: str | int = e.event_id
        # A derived id always holds a colon: most ids (UUIDs) are told apart by that.
        if ":" in e.event_id and e.event_id == derived_event_id(e.dialect, org, session,
                                                               e.sequence_number):
            event_id = 0
        row: list[Any] = [
            event_id,
            None if e.clip_id == clip else e.clip_id,
            None if e.source == source else e.source,
            None if e.dialect == dialect else e.dialect,
            kinds[e.kind], e.position_seconds, e.sequence_number, e.timestamp,
            e.received_at, int(e.session_complete),
        ]
        clip, source, dialect = e.clip_id, e.source, e.dialect
        if e.attributes:
            row += (e.action, e.seek_to_seconds, e.value_ms, e.clip_length_seconds,
                    dict(e.attributes))
        elif e.clip_length_seconds is not None:
            row += (e.action, e.seek_to_seconds, e.value_ms, e.clip_length_seconds)
        elif e.value_ms is not None:
            row += (e.action, e.seek_to_seconds, e.value_ms)
        elif e.seek_to_seconds is not None:
            row += (e.action, e.seek_to_seconds)
        elif e.action:
            row.append(e.action)
        append(row)
    return rows


def _row(e: PlaybackEvent, previous: PlaybackEvent | None) -> list[Any]:
    """One event's array, leaving out what equals the event stored before it."""
    derived = derived_event_id(e.dialect, e.organization_id, e.session_id, e.sequence_number)
    row: list[Any] = [
        0 if e.event_id == derived else e.event_id,
        None if previous and e.clip_id == previous.clip_id else e.clip_id,
        None if previous and e.source == previous.source else e.source,
        None if previous and e.dialect == previous.dialect else e.dialect,
        _KIND_INDEX[e.kind], e.position_seconds, e.sequence_number, e.timestamp,
        e.received_at, int(e.session_complete),
    ]
    # The optional five, up to the last one not at its default (_DEFAULTS).
    if e.attributes:
        row += (e.action, e.seek_to_seconds, e.value_ms, e.clip_length_seconds,
                dict(e.attributes))
    elif e.clip_length_seconds is not None:
        row += (e.action, e.seek_to_seconds, e.value_ms, e.clip_length_seconds)
    elif e.value_ms is not None:
        row += (e.action, e.seek_to_seconds, e.value_ms)
    elif e.seek_to_seconds is not None:
        row += (e.action, e.seek_to_seconds)
    elif e.action:
        row.append(e.action)
    return row


# json.dumps with options builds an encoder per call; one, built once, writes the same.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _one_shot() -> Callable[[Any], str]:
    """``_ENCODER.encode``, its C encoder made once: ``encode`` makes one (and the
    Python around it) on every call, a microsecond a stored change. Built as
    ``JSONEncoder.iterencode`` builds it, without the check for circular values
    (the rows are lists of plain values); without the C module, ``encode`` itself."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    encoder = make(None, _ENCODER.default, json.encoder.encode_basestring, None,
                   _ENCODER.key_separator, _ENCODER.item_separator, False, False, True)
    join = "".join
    return lambda value: join(encoder(value, 0))


_ENCODE = _one_shot()


def _json(value: Any) -> bytes:
    return _ENCODE(value).encode()


def _compiled_rows() -> Any:
    """processors._state_rows' ``rows``, set up for ``PlaybackEvent``; None where it
    was not built (no C compiler at install): the Python encoder then writes
    every row, the same bytes (tests/processors/test_state_rows_compiled.py)."""
    try:
        from processors import _state_rows  # type: ignore[attr-defined]
    except ImportError:
        return None
    names = tuple(field.name for field in dataclasses.fields(PlaybackEvent))
    try:
        _state_rows.configure(PlaybackEvent, names, _KIND_INDEX, derived_event_id)
    except TypeError:
        return None
    return _state_rows.rows


# rows(events, previous, head) -> bytes | None: None leaves the rows to _rows and _json.
_ROWS: Callable[[list[PlaybackEvent], PlaybackEvent | None, tuple[str, str] | None],
                bytes | None] | None = _compiled_rows()
COMPILED = _ROWS is not None


def _session_json(events: list[PlaybackEvent]) -> bytes:
    """``["org","session",[row,...]]`` of a session's events (one at least)."""
    first = events[0]
    head = (first.organization_id, first.session_id)
    if _ROWS is not None:
        body = _ROWS(events, None, head)
        if body is not None:
            return body
    return _json([*head, _rows(islice(events, 1, None), first, [_row(first, None)])])


def _rows_json(events: list[PlaybackEvent], previous: PlaybackEvent) -> bytes:
    """``[row,...]`` of ``events``, each after the one before, the first after ``previous``."""
    if _ROWS is not None and events:
        body = _ROWS(events, previous, None)
        if body is not None:
            return body
    return _json(_rows(events, previous, []))


_DECODER = json.JSONDecoder()  # json.loads' own, when it is given no options


def _loads(body: bytes) -> Any:
    """``json.loads(body)``. What ``_json`` wrote begins ``["`` (organization first),
    which loads reads as UTF-8 after looking for the other encodings: read as
    UTF-8 straight away, as loads then does."""
    if body[:2] != b'["':
        return json.loads(body)
    return _DECODER.decode(body.decode("utf-8", "surrogatepass"))


def growth(state: SessionState, event: PlaybackEvent) -> int:
    """How many bytes adding ``event`` (not yet in ``state``) adds to ``encode(state)``.

    New events are stored after the others, so only the event's own row is
    new: the cost is one event's, whatever the session holds, and the worker
    can bound a session's stored size as events arrive.
    """
    previous = next(reversed(state.events.values()), None)
    if previous is None:
        return len(_json([event.organization_id, event.session_id, [_row(event, None)]]))
    return len(_json(_row(event, previous))) + 1  # and its comma


def growth_bound(event: PlaybackEvent) -> int:
    """At least what adding ``event`` adds to a session's stored bytes, cheaply.

    The worker adds these up while a session is far from its byte bound and
    takes the exact ``growth`` only near it: the exact one writes the row as
    JSON, a few microseconds an event for what is almost never needed. This
    one only adds lengths: it is on every event's path. A character is
    written as at most six bytes (a ``\\uXXXX`` escape; UTF-8 takes four), so
    six bytes a character bounds any text; the loose bound only means the
    exact count starts a few hundred events earlier in a session near its
    byte bound.
    """
    chars = (len(event.event_id) + len(event.clip_id) + len(event.source)
             + len(event.dialect) + len(event.action) + len(event.organization_id)
             + len(event.session_id))
    attributes = event.attributes
    if not attributes:  # most events
        return 6 * chars + _PLAIN_GROWTH
    for key, value in attributes.items():
        chars += len(key) + len(value)
    return 6 * chars + _PLAIN_GROWTH + 32 * len(attributes)


# Ten numbers and flags, each at most 24 characters and a comma (a double's longest
# repr); brackets, quotes, separators and nulls: 16 a text (seven, and two an
# attribute) and 64 more.
_PLAIN_GROWTH = 25 * 10 + 16 * 7 + 64


def earliest(data: bytes) -> tuple[str, float] | None:
    """(organization, earliest event timestamp) of a stored session, None without events.

    What a worker needs of every session that can still change after a
    rebalance (processors/completeness.py), without building its events: a
    fraction of ``decode``'s cost.
    """
    offset = _body_offset(data)
    if len(data) == offset:
        return None
    org, _, rows = _loads(data[offset:])
    return (org, min(row[7] for row in rows)) if rows else None


def _read_parts(data: bytes) -> tuple[int, str | None, str, frozenset[int], int]:
    """(continuation, clip, platform, digests) of the parts section, or the defaults
    without one, and where the events begin."""
    offset = _HEADER.size
    continuation, clip, platform, digests = 0, None, "", frozenset[int]()
    if data[0] & PARTS:
        continuation, clip_size, platform_size, count = _PARTS.unpack_from(data, offset)
        offset += _PARTS.size
        if clip_size:
            clip = data[offset:offset + clip_size - 1].decode()
            offset += clip_size - 1
        platform = data[offset:offset + platform_size].decode()
        offset += platform_size
        digests = frozenset(d for (d,) in _DIGEST.iter_unpack(
            data[offset:offset + count * _DIGEST.size]))
        offset += count * _DIGEST.size
    return continuation, clip, platform, digests, offset


def tombstone_of(data: bytes) -> Tombstone:
    """``decode(data).tombstone()`` for a stored session, without building its events.

    The sweep's path (a property test holds it to the same result): what a
    tombstone keeps is the digests of the event ids, the clip the part's rows
    name and the platform its app stated, all read from the stored rows.
    """
    header = peek(data)
    if header.kind == TOMBSTONE:
        raise ValueError("a tombstone has no tombstone of its own")
    continuation, earlier_clip, earlier_platform, digests, offset = _read_parts(data)
    seen = set(digests)
    listening = earlier_clip
    # (sequence, timestamp, event id, clip, action, attributes) per event, as stored.
    events: list[tuple[Any, Any, str, str, str, dict[str, str]]] = []
    app_started = False
    if len(data) > offset:
        org, session, rows = _loads(data[offset:])
        clip = dialect = ""
        for row in rows:
            event_id, new_clip, _, new_dialect, kind, _, sequence, stamp = row[:8]
            if new_clip is not None:
                clip = new_clip
            if new_dialect is not None:
                dialect = new_dialect
            if event_id == 0:
                event_id = derived_event_id(dialect, org, session, sequence)
            seen.add(event_hash(event_id))
            if listening is None and _KINDS[kind] in LISTENING:
                listening = clip
            action = row[10] if len(row) > 10 else _DEFAULTS[0]
            if action == _APP_START:
                app_started = True
            events.append((sequence, stamp, event_id, clip, action,
                           row[14] if len(row) > 14 else _EMPTY))
    platform = earlier_platform
    if (listening is None and events) or (not platform and app_started):
        # SessionState.tombstone: the session's clip and platform go by order.
        timeline = sorted(events, key=_order_key)
        if listening is None and timeline:
            listening = timeline[0][3]  # no listening event: the first event's clip
        if not platform:
            platform = next((event[5]["platform"] for event in timeline
                             if event[4] == Action.APP_START and event[5].get("platform")), "")
    return _TOMBSTONE(header.closed_at, len(events), continuation, frozenset(seen), listening,
                      platform)


def _order_key(event: tuple[Any, Any, str, str, str, dict[str, str]]) -> tuple[Any, Any, str]:
    return event[0], event[1], event[2]  # PlaybackEvent.order_key


def decode(data: bytes) -> SessionState | Tombstone:
    header = peek(data)
    continuation, earlier_clip, platform, digests, offset = _read_parts(data)
    if header.kind == TOMBSTONE:
        return Tombstone(header.closed_at, header.version, continuation,
                         digests if data[0] & PARTS else None, earlier_clip, platform)
    events: dict[str, PlaybackEvent] = {}
    if len(data) > offset:
        org, session, rows = _loads(data[offset:])
        clip = source = dialect = ""
        for row in rows:
            if len(row) < 15:
                row += _DEFAULTS[len(row) - 10:]
            (event_id, new_clip, new_source, new_dialect, kind, position, sequence, stamp,
             received, complete, action, seek_to, value_ms, length, attributes) = row
            if new_clip is not None:
                clip = new_clip
            if new_source is not None:
                source = new_source
            if new_dialect is not None:
                dialect = new_dialect
            if event_id == 0:
                event_id = derived_event_id(dialect, org, session, sequence)
            events[event_id] = _EVENT(
                event_id, org, session, clip, source, _KINDS[kind], position, sequence, stamp,
                bool(complete), dialect, received, action, seek_to, value_ms, length,
                # A fresh dict for each: the default is shared.
                {} if attributes is _EMPTY else attributes)
    # Built with its events, which it tracks as restore() would, in their order.
    return SessionState(events, header.kind == CLOSED, header.last_activity, header.closed_at,
                        continuation, digests, earlier_clip, platform)
