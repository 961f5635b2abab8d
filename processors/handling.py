"""What the worker does with one message, as pure functions.

decode -> validate -> apply is one path: anything that fails becomes an
``InvalidMessage`` with a reason the shell counts and dead-letters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from processors.events import PlaybackEvent
from processors.session import Added, Rules, SessionResult, SessionState, Tombstone, summarize
from schemas import DecodeError, EventCodec


class InvalidMessage(ValueError):
    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def decode_event(value: bytes | None, codec: EventCodec) -> PlaybackEvent:
    if not value:
        raise InvalidMessage("empty", "message has no value")
    try:
        record = codec.decode(value)
    except DecodeError as err:
        raise InvalidMessage("undecodable", str(err)) from err
    try:
        event = PlaybackEvent.from_record(record)
    except (KeyError, ValueError, TypeError) as err:
        raise InvalidMessage("invalid", f"bad field {err}") from err
    if event.sequence_number < 1:
        raise InvalidMessage("invalid", f"sequence_number {event.sequence_number} is below 1")
    return event


Stored = SessionState | Tombstone | None


@dataclass(frozen=True, slots=True)
class Step:
    added: Added
    emit: SessionResult | None  # what to write: a close, or a closed session again
    opened: bool = False  # the first event of a session
    closed: bool = False  # ``emit`` is a close now, not a rewrite of an earlier one


def apply_event(state: SessionState, event: PlaybackEvent, now: float, rules: Rules) -> Step:
    """Add one event to its session; say what to write, if anything.

    Callers check ``admit`` first: a session past its lateness window takes
    no more events.
    """
    added = state.add(event, now)
    opened = added is Added.NEW and state.version == 1
    if added is Added.DUPLICATE:
        # A duplicate of a closed session is a client retry or a replay after
        # a crash: the rows may never have reached ClickHouse, so write the
        # same version again (the sink collapses identical versions).
        return Step(added, summarize(state.events.values(), rules) if state.closed else None)
    if state.should_close(now, rules):
        return Step(added, state.close(rules, now), opened, closed=True)
    return Step(added, None, opened)


def admit(stored: Stored, event: PlaybackEvent, now: float, rules: Rules) -> SessionState:
    """The state an event goes into, or ``InvalidMessage('late')``.

    Lateness is processing time since the session closed, never the event's
    own timestamp: legitimate sessions are flushed years late by some players.
    """
    if isinstance(stored, Tombstone) and not stored.is_expired(now, rules):
        raise InvalidMessage("late", f"session {event.session_key} closed at "
                                     f"{stored.closed_at:.0f} (version {stored.version}); "
                                     "its lateness window is over")
    if isinstance(stored, SessionState):
        if stored.is_past_lateness(now, rules):
            raise InvalidMessage("late", f"session {event.session_key} closed at "
                                         f"{stored.closed_at:.0f}; its lateness window is over")
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
        self.events[step.added.value] += 1
        if step.opened:
            self.sessions["opened"] += 1
        if step.added is Added.REOPENED:
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
