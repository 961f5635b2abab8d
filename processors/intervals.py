"""Listened intervals from a session's ordered events (docs/semantics.md, rule 3)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from schemas.event import EventKind, PlaybackEvent
from schemas.frozen import quick_init, quick_new


@quick_init
@dataclass(frozen=True, slots=True)
class Interval:
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


_INTERVAL = quick_new(Interval)


def ordered(events: Iterable[PlaybackEvent]) -> list[PlaybackEvent]:
    """Deduplicate by event id and sort by sequence number, then timestamp."""
    unique = {event.event_id: event for event in events}
    return sorted(unique.values(), key=_ORDER)


# PlaybackEvent.order_key, read in C.
_ORDER = attrgetter("sequence_number", "timestamp", "event_id")


def listened_intervals(events: Sequence[PlaybackEvent],
                       limit: float = math.inf) -> list[Interval]:
    """Turn ordered start/stop events into listened intervals.

    ``events`` must already be deduplicated and ordered (see ``ordered``).
    No interval reaches past ``limit`` (the longest clip): an interval left open
    runs at 1x for the wall time until the next event, and a client clock that
    jumps a year would otherwise make a year of listening.
    """
    intervals: list[Interval] = []
    keep = intervals.append
    open_at: float | None = None  # position where the open interval began
    opened_time = 0.0
    # _keep, max(x, 0.0) and min(x, limit) written out, and positions read only for
    # the kinds that use them: this runs for every close. Same results: max and
    # min keep their first argument unless the second is strictly beyond it, as
    # these comparisons do (NaN included).
    for event in events:
        kind = event.kind
        if kind is _START:
            if open_at is not None:
                # A start while playing: the player skipped its stop, so the
                # open interval ran at 1x for the wall time in between.
                ran = event.timestamp - opened_time
                if ran < 0.0:
                    ran = 0.0
                end = open_at + ran
                if end > limit:
                    end = limit
                if end > open_at:
                    keep(_INTERVAL(open_at, end))
            open_at = event.position_seconds
            if open_at < 0.0:
                open_at = 0.0
            opened_time = event.timestamp
        elif open_at is None:
            continue
        elif kind is _STOP or kind is _SEEK:
            end = event.position_seconds
            if end < 0.0:
                end = 0.0
            if end > limit:
                end = limit
            if end > open_at:
                keep(_INTERVAL(open_at, end))
            if kind is _STOP:
                open_at = None
            else:
                # A seek while playing is a stop where it left and a start where it landed.
                open_at = max(event.seek_to_seconds or 0.0, 0.0)
                opened_time = event.timestamp
    if open_at is not None and events:
        _keep(intervals, open_at,
              min(open_at + max(events[-1].timestamp - opened_time, 0.0), limit))
    return intervals


_START, _STOP, _SEEK = EventKind.START, EventKind.STOP, EventKind.SEEK


def _keep(intervals: list[Interval], start: float, end: float) -> None:
    if end > start:
        intervals.append(Interval(start, end))
