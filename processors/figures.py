"""Per-session figures beyond the histogram (docs/figures.md), as pure functions.

Everything here takes a session's deduplicated, ordered events (or the
intervals built from them), so like the histogram it depends on the set of
events only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from processors.intervals import Interval
from schemas.event import Action, PlaybackEvent
from schemas.frozen import quick_init, quick_new

ENGAGEMENT = frozenset({Action.IMPRESSION, Action.LIKE, Action.SHARE, Action.SAVE,
                        Action.SWIPE, Action.COMPLETION})
# Royalties are paid on these, so each one is stored as its own row (by event id).
RIGHTS = frozenset({Action.CLIP_PLAY, Action.TRACK_PLAY, Action.ADD, Action.DOWNLOAD})
CONTENT_ACTIONS = frozenset(a.value for a in ENGAGEMENT | RIGHTS)
QUALITY_ACTIONS = frozenset(a.value for a in (
    Action.STARTUP, Action.REBUFFER, Action.BUFFER_START, Action.BUFFER_END,
    Action.QUALITY_CHANGE, Action.ERROR))


@quick_init
@dataclass(frozen=True, slots=True)
class Quality:
    startup_ms: int | None  # the first `startup` measurement; None when the dialect sends none
    rebuffer_count: int
    rebuffer_ms: int
    quality_changes: int
    errors: int


@quick_init
@dataclass(frozen=True, slots=True)
class ContentEvent:
    """One engagement or rights event, counted once however often it is replayed."""

    event_id: str
    clip_id: str
    action: str
    at: datetime
    platform: str
    method: str
    rights: str = ""  # music clips: "denied" plays are recorded but never paid

    @property
    def day(self) -> date:
        return self.at.date()


_QUALITY = quick_new(Quality)


def unique_seconds(intervals: Sequence[Interval]) -> float:
    """Length of the union of the intervals: each second of the clip once."""
    total = 0.0
    end = float("-inf")
    for interval in sorted(intervals, key=lambda i: i.start):
        if interval.end <= end:
            continue
        total += interval.end - max(interval.start, end)
        end = interval.end
    return round(total, 6)


def furthest_seconds(intervals: Sequence[Interval]) -> float:
    return round(max((i.end for i in intervals), default=0.0), 6)


def unique_and_furthest(intervals: Sequence[Interval]) -> tuple[float, float]:
    """``(unique_seconds(intervals), furthest_seconds(intervals))`` in one pass.

    Most sessions' intervals come in order, each starting at or after the one
    before ended: then the union is each interval once, in the order
    ``unique_seconds`` sorts them into (the same additions, so the same float),
    and the last end is the furthest. Anything else takes both functions.
    """
    total = 0.0
    end = float("-inf")
    for interval in intervals:
        start, stop = interval.start, interval.end
        if start < end or not stop > start:  # NaN too
            return unique_seconds(intervals), furthest_seconds(intervals)
        total += stop - start
        end = stop
    return round(total, 6), round(end if intervals else 0.0, 6)


def listened_figures(intervals: Sequence[Interval]) -> tuple[float, float, float]:
    """The session's duration (``round(sum of lengths, 6)``), unique and furthest seconds.

    ``unique_and_furthest``'s pass, which in its common case also adds up the
    lengths: as ``sum`` does before Python 3.12, left to right from zero, so
    the same float (3.12's ``sum`` compensates, and is called there).
    """
    total = 0.0
    end = float("-inf")
    for interval in intervals:
        start, stop = interval.start, interval.end
        if start < end or not stop > start:  # NaN too
            return (_duration(intervals), unique_seconds(intervals),
                    furthest_seconds(intervals))
        total += stop - start
        end = stop
    unique = round(total, 6)
    if not intervals:
        return _duration(intervals), 0.0, 0.0  # sum's 0: an int
    return unique if _PLAIN_SUM else _duration(intervals), unique, round(end, 6)


_PLAIN_SUM = sys.version_info < (3, 12)


def _duration(intervals: Sequence[Interval]) -> float:
    # Rounded to the microsecond so 4.554 + 234.59 reads 239.144, not 239.14400000000003.
    return round(sum(i.end - i.start for i in intervals), 6)  # each Interval.length


def clip_length(events: Sequence[PlaybackEvent]) -> float | None:
    # The largest reported length: any choice must not depend on arrival order.
    lengths = [e.clip_length_seconds for e in events if e.clip_length_seconds]
    return max(lengths) if lengths else None


def completion_share(unique: float, length: float | None) -> float | None:
    if not length or length <= 0:
        return None
    return round(min(unique / length, 1.0), 6)


def quality(timeline: Sequence[PlaybackEvent]) -> Quality:
    """Quality of experience from the QoE actions, where the dialect carries them."""
    startup: int | None = None
    rebuffers = rebuffer_ms = changes = errors = 0
    stall_began: float | None = None
    for event in timeline:
        action = event.action
        if action not in QUALITY_ACTIONS:
            continue
        if action == Action.STARTUP:
            if startup is None and event.value_ms is not None:
                startup = max(event.value_ms, 0)
        elif action == Action.REBUFFER:
            rebuffers += 1
            rebuffer_ms += max(event.value_ms or 0, 0)
        elif action == Action.BUFFER_START:
            if stall_began is None:
                stall_began = event.timestamp
        elif action == Action.BUFFER_END:
            if stall_began is not None:
                rebuffers += 1
                rebuffer_ms += _elapsed_ms(stall_began, event.timestamp)
                stall_began = None
        elif action == Action.QUALITY_CHANGE:
            changes += 1
        elif action == Action.ERROR:
            errors += 1
    if stall_began is not None and timeline:
        # A stall still going when the session ends lasted until its last event,
        # as an open listened interval does.
        rebuffers += 1
        rebuffer_ms += _elapsed_ms(stall_began, timeline[-1].timestamp)
    return _QUALITY(startup, rebuffers, rebuffer_ms, changes, errors)


def _elapsed_ms(began: float, ended: float) -> int:
    return max(round((ended - began) * 1000), 0)


def session_platform(timeline: Sequence[PlaybackEvent]) -> str:
    """The platform the session's app stated when it started (its first ``app_start``).

    Only ``app_start`` speaks for the session: a share's ``platform`` is where
    the clip was shared to, not what the listener plays on.
    """
    for event in timeline:
        if event.action == Action.APP_START and event.attributes.get("platform"):
            return event.attributes["platform"]
    return ""


def content_events(timeline: Sequence[PlaybackEvent], earlier_platform: str = ""
                   ) -> tuple[ContentEvent, ...]:
    """Engagement and rights events, each with the session's platform unless it names its own.

    A late ``app_start`` re-closes the session and rewrites these rows, keyed
    by event id, so every play ends up counted under the session's platform.
    ``earlier_platform``: the one an earlier part of the session stated, which
    comes first by order (docs/semantics.md, "Late events").
    """
    content = [e for e in timeline if e.action in CONTENT_ACTIONS]
    if not content:
        return ()  # most sessions: no platform to look for
    platform = earlier_platform or session_platform(timeline)
    return tuple(
        ContentEvent(event_id=e.event_id, clip_id=e.clip_id, action=e.action,
                     at=datetime.fromtimestamp(e.timestamp, tz=UTC),
                     platform=e.attributes.get("platform") or platform,
                     method=e.attributes.get("method", ""),
                     rights=e.attributes.get("rights", ""))
        for e in content
    )
