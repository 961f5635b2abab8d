"""One session's state and the figures it closes with.

A session is one continuous play of one clip by one listener. Its state is
the set of distinct events seen so far; every figure is a pure function of
that set, so processing the same events twice, in any order or split, gives
the same result. ``version`` (the number of distinct events) only grows, which
lets the sink keep the newest figures of a session and ignore replays.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from processors.events import PlaybackEvent
from processors.histogram import bucket_listens
from processors.intervals import Interval, listened_intervals, ordered


@dataclass(frozen=True, slots=True)
class Rules:
    """The tunable parts of the consumption semantics."""

    min_session_seconds: float = 10.0
    bucket_seconds: float = 1.0
    idle_timeout_seconds: float = 1800.0


class Added(enum.Enum):
    NEW = "new"  # first event of an open session, or one more for it
    DUPLICATE = "duplicate"  # event id already seen: counts once
    REOPENED = "reopened"  # a new event for a session that had closed


@dataclass(frozen=True, slots=True)
class SessionResult:
    organization_id: str
    clip_id: str
    session_id: str
    source: str
    day: date
    started_at: datetime
    ended_at: datetime
    intervals: tuple[Interval, ...]
    duration_seconds: float
    kept: bool
    version: int
    buckets: dict[int, int]  # bucket -> listens; empty when not kept


@dataclass(slots=True)
class SessionState:
    events: dict[str, PlaybackEvent] = field(default_factory=dict)
    closed: bool = False
    last_activity: float = 0.0  # processing time of the newest event, seconds

    def add(self, event: PlaybackEvent, now: float) -> Added:
        if event.event_id in self.events:
            return Added.DUPLICATE
        self.events[event.event_id] = event
        self.last_activity = now
        if self.closed:
            self.closed = False
            return Added.REOPENED
        return Added.NEW

    @property
    def version(self) -> int:
        return len(self.events)

    def is_complete(self) -> bool:
        """The sender said the session is complete and no sequence number is missing."""
        if not any(event.session_complete for event in self.events.values()):
            return False
        sequences = {event.sequence_number for event in self.events.values()}
        return sequences >= set(range(1, max(sequences) + 1))

    def is_idle(self, now: float, rules: Rules) -> bool:
        return now - self.last_activity >= rules.idle_timeout_seconds

    def should_close(self, now: float, rules: Rules) -> bool:
        return not self.closed and (self.is_complete() or self.is_idle(now, rules))

    def close(self, rules: Rules) -> SessionResult:
        self.closed = True
        return summarize(self.events.values(), rules)

    # Plain data for the worker's state table changelog.
    def to_dict(self) -> dict[str, Any]:
        return {
            "closed": self.closed,
            "last_activity": self.last_activity,
            "events": [event.to_record() for event in self.events.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        events = (PlaybackEvent.from_record(record) for record in data["events"])
        return cls(
            events={event.event_id: event for event in events},
            closed=bool(data["closed"]),
            last_activity=float(data["last_activity"]),
        )


def summarize(events: Any, rules: Rules) -> SessionResult:
    """Every figure of one session from its events (duplicates and order don't matter)."""
    timeline = ordered(events)
    if not timeline:
        raise ValueError("a session needs at least one event")
    first = timeline[0]
    intervals = tuple(listened_intervals(timeline))
    # Rounded to the microsecond so 4.554 + 234.59 reads 239.144, not 239.14400000000003.
    duration = round(sum(interval.length for interval in intervals), 6)
    kept = duration >= rules.min_session_seconds
    started_at = datetime.fromtimestamp(first.timestamp, tz=UTC)
    return SessionResult(
        organization_id=first.organization_id,
        clip_id=first.clip_id,
        session_id=first.session_id,
        source=first.source,
        day=started_at.date(),
        started_at=started_at,
        ended_at=datetime.fromtimestamp(max(e.timestamp for e in timeline), tz=UTC),
        intervals=intervals,
        duration_seconds=duration,
        kept=kept,
        version=len(timeline),
        buckets=bucket_listens(intervals, rules.bucket_seconds) if kept else {},
    )
