"""What the worker does with one message, as pure functions.

decode -> validate -> apply is one path: anything that fails becomes an
``InvalidMessage`` with a reason the shell counts and dead-letters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from processors.events import PlaybackEvent
from processors.session import Added, Rules, SessionResult, SessionState, summarize
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


@dataclass(frozen=True, slots=True)
class Step:
    added: Added
    emit: SessionResult | None


def apply_event(state: SessionState, event: PlaybackEvent, now: float, rules: Rules) -> Step:
    """Add one event to its session; say what to write, if anything."""
    added = state.add(event, now)
    if added is Added.DUPLICATE:
        # A duplicate of a closed session is a client retry or a replay after
        # a crash: the rows may never have reached ClickHouse, so write the
        # same version again (the sink collapses identical versions).
        return Step(added, summarize(state.events.values(), rules) if state.closed else None)
    if state.should_close(now, rules):
        return Step(added, state.close(rules))
    return Step(added, None)


def close_if_idle(state: SessionState, now: float, rules: Rules) -> SessionResult | None:
    if state.closed or not state.is_idle(now, rules):
        return None
    return state.close(rules)


@dataclass
class WorkerCounters:
    """Running totals the shell reports (logs now, metrics later)."""

    events: Counter[str] = field(default_factory=Counter)
    sessions: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)

    def count_step(self, step: Step) -> None:
        self.events[step.added.value] += 1
        if step.added is Added.REOPENED:
            self.sessions["reopened"] += 1

    def count_emit(self, result: SessionResult) -> None:
        self.sessions["closed" if result.kept else "dropped_short"] += 1
