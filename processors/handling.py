"""What the worker does with one message, as pure functions.

decode -> validate -> apply is one path: anything that fails becomes an
``InvalidMessage`` with a reason the shell counts and dead-letters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from processors import state_codec
from processors.session import (
    LISTENING,
    Added,
    Rules,
    SessionResult,
    SessionState,
    Tombstone,
)
from schemas import DecodeError, EventCodec
from schemas.bounds import Bounds
from schemas.event import PlaybackEvent, event_from_wire


class InvalidMessage(ValueError):
    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True, slots=True)
class Refused:
    """One event of a message that cannot be processed, and why."""

    error: InvalidMessage
    index: int  # its place in the message (0 for a single-event message)
    record: dict[str, Any]  # as decoded: a batch's event is dead-lettered on its own


def decode_events(value: bytes | None, codec: EventCodec,
                  bounds: Bounds | None = None) -> list[PlaybackEvent | Refused]:
    """Every event of a message, in order, each checked on its own.

    ``InvalidMessage`` when the message as a whole cannot be read (``empty``,
    ``undecodable``); an event that is not valid (``invalid``,
    ``out_of_bounds``) comes back as ``Refused`` in its place, so the other
    events of a batch are processed as if each had come alone.
    """
    if not value:
        raise InvalidMessage("empty", "message has no value")
    bounds = bounds or DEFAULT_BOUNDS
    events = codec.read_events(value)
    if events is not None and bounds.all_plainly_within(events):
        # The fast path: the newest schema, every event plainly inside the bounds
        # (which include sequence_number >= 1). Anything else takes the path
        # below, which names what is wrong. The list is the reader's own, new:
        # widened as it is, not copied (a list[...] call costs a µs a message).
        return cast("list[PlaybackEvent | Refused]", events)
    try:
        records = codec.decode_many(value)
    except DecodeError as err:
        raise InvalidMessage("undecodable", str(err)) from err
    out: list[PlaybackEvent | Refused] = []
    for index, record in enumerate(records):
        try:
            out.append(_checked(record, bounds))
        except InvalidMessage as err:
            out.append(Refused(err, index, record))
    return out


def decode_event(value: bytes | None, codec: EventCodec,
                 bounds: Bounds | None = None) -> PlaybackEvent:
    """The one event of a single-event message, or ``InvalidMessage``."""
    [decoded] = decode_events(value, codec, bounds)
    if isinstance(decoded, Refused):
        raise decoded.error
    return decoded


DEFAULT_BOUNDS = Bounds()


def _checked(record: dict[str, Any], bounds: Bounds) -> PlaybackEvent:
    try:
        event = event_from_wire(record)
    except (KeyError, ValueError, TypeError) as err:
        raise InvalidMessage("invalid", f"bad field {err}") from err
    if event.sequence_number < 1:
        raise InvalidMessage("invalid", f"sequence_number {event.sequence_number} is below 1")
    # The gateway keeps these bounds; producers writing to Kafka directly may not.
    violations = bounds.violations(event)
    if violations:
        raise InvalidMessage("out_of_bounds", "; ".join(v.message for v in violations))
    return event


Stored = SessionState | Tombstone | None


@dataclass(frozen=True, slots=True)
class Step:
    added: Added
    emit: SessionResult | None  # what to write: a close, or a closed session again
    opened: bool = False  # the first event of a session
    closed: bool = False  # ``emit`` is a close now, not a rewrite of an earlier one
    continued: bool = False  # ``opened`` began a late part of a session, not a session


def apply_event(state: SessionState, event: PlaybackEvent, now: float, rules: Rules) -> Step:
    """Add one event to its session; say what to write, if anything.

    Callers check ``admit`` first: a session past its lateness window takes
    no more events. (The worker adds a batch's events first and settles each
    session once, at the end of the batch: the same outcome, without
    re-closing a large session for each of its events.)
    """
    added = state.add(event, now)
    emit, closed = settle(state, now, rules)
    return Step(added, emit, added is Added.NEW and state.version == 1, closed,
                state.continuation > 0)


def settle(state: SessionState, now: float, rules: Rules) -> tuple[SessionResult | None, bool]:
    """After new events or duplicates: what to write, and whether it is a close now."""
    if state.closed:
        # Only duplicates arrived. A duplicate of a closed session is a client
        # retry or a replay after a crash: the rows may never have reached
        # ClickHouse, so write the same version again (the sink collapses them).
        return state.summary(rules), False
    if state.should_close(now, rules):
        return state.close(rules, now), True
    return None, False


def check_fits(state: SessionState, size: int, exact: bool, event: PlaybackEvent,
               rules: Rules) -> tuple[int, bool]:
    """The session's stored size with ``event`` (not yet in it) added, or ``InvalidMessage``.

    ``size`` is at least the session's stored bytes now, and exactly them when
    ``exact``; the answer is the same pair after the event. Far from the bound
    a cheap over-estimate is added; near it the exact size is taken (once,
    by encoding the session) and kept exact from then on, event by event.

    ``session_limit``: the session holds its most events, or the event would
    take its stored state past its byte bound (which keeps every state change
    inside one Kafka message). ``clip_mismatch``: a listening event naming
    another clip than the session's listening events so far; counting it
    would credit one clip with another's listening (docs/semantics.md).
    """
    clip = state.listening_clip
    if clip is not None and event.clip_id != clip and event.kind in LISTENING:
        raise InvalidMessage("clip_mismatch", f"session {event.session_key} is a play of clip "
                             f"{clip!r}; event {event.event_id} names clip {event.clip_id!r}")
    if state.version >= rules.max_session_events:
        raise InvalidMessage("session_limit", f"session {event.session_key} already holds "
                             f"{state.version} events, its most (PLAYHEAD_MAX_SESSION_EVENTS)")
    bound = size + state_codec.growth_bound(event)
    if bound <= rules.max_session_bytes:
        return bound, False
    if not exact:
        size = len(state_codec.encode(state))
    grown = size + state_codec.growth(state, event)
    if grown > rules.max_session_bytes:
        raise InvalidMessage("session_limit", f"session {event.session_key} would take {grown} "
                             f"bytes with event {event.event_id}; at most "
                             f"{rules.max_session_bytes} (PLAYHEAD_MAX_SESSION_STATE_BYTES)")
    return grown, True


def admit(stored: Stored, event: PlaybackEvent, now: float, rules: Rules) -> SessionState:
    """The state an event goes into, or ``InvalidMessage('late')``.

    Lateness is processing time since the session closed, never the event's
    own timestamp: legitimate sessions are flushed years late by some players.
    A session past its lateness window is a tombstone whether or not the sweep
    made it one yet, so the outcome never depends on sweep timing; an event for
    it starts the session's next part (a continuation), which counts it unless
    an earlier part already did. Only a tombstone from before tombstones kept
    event ids refuses it as ``late``: it could not tell a duplicate.
    """
    if isinstance(stored, SessionState) and stored.is_past_lateness(now, rules):
        stored = stored.tombstone()
    if isinstance(stored, Tombstone) and not stored.is_expired(now, rules):
        if stored.seen is None:
            raise InvalidMessage("late", f"session {event.session_key} closed at "
                                         f"{stored.closed_at:.0f} (version {stored.version}) "
                                         "and its tombstone keeps no event ids")
        return stored.continued()
    if isinstance(stored, SessionState):
        return stored
    return SessionState()


def close_if_idle(state: SessionState, now: float, rules: Rules) -> SessionResult | None:
    if state.closed or not state.is_idle(now, rules):
        return None
    return state.close(rules, now)


def expire(stored: SessionState | Tombstone, now: float, rules: Rules) -> Stored:
    """What a swept entry becomes: itself, its tombstone, or nothing (delete)."""
    if isinstance(stored, Tombstone):
        return None if stored.is_expired(now, rules) else stored
    if stored.is_past_lateness(now, rules):
        tombstone = stored.tombstone()
        return None if tombstone.is_expired(now, rules) else tombstone
    return stored


@dataclass
class WorkerCounters:
    """Running totals the shell reports as metrics."""

    events: Counter[str] = field(default_factory=Counter)
    sessions: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)

    def count_step(self, step: Step) -> None:
        self.count_added(step.added, step.opened, step.continued)

    def count_added(self, added: Added, opened: bool, continued: bool = False) -> None:
        """``opened``: the event began a session; ``continued``: it began a late part."""
        self.events[added._value_] += 1  # .value is a slow property, _value_ a plain slot
        if opened:
            self.sessions["continued" if continued else "opened"] += 1
        if added is Added.REOPENED:
            self.sessions["reopened"] += 1

    def count_close(self, result: SessionResult) -> None:
        """Once the close is written: every close counts, short ones also as dropped."""
        self.sessions["closed"] += 1
        if not result.kept:
            self.sessions["dropped_short"] += 1

    def count_dead_letter(self, reason: str) -> None:
        self.dead_letters[reason] += 1
        if reason == "late":
            self.sessions["late"] += 1

