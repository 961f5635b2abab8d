"""One session's state and the figures it closes with.

A session is one continuous play of one clip by one listener. Its state is
the set of distinct events seen so far; every figure is a pure function of
that set, so processing the same events twice, in any order or split, gives
the same result. ``version`` (the number of distinct events) only grows, which
lets the sink keep the newest figures of a session and ignore replays.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import attrgetter

from processors.figures import (
    CONTENT_ACTIONS,
    QUALITY_ACTIONS,
    ContentEvent,
    Quality,
    completion_share,
    content_events,
    listened_figures,
    quality,
    session_platform,
)
from processors.histogram import NO_STEPS, Steps, bucket_steps
from processors.intervals import Interval, listened_intervals, ordered
from schemas.event import Action, EventKind, PlaybackEvent
from schemas.frozen import quick_init, quick_new

DAY = 86400.0
# Separates a session id from its continuation number in the rows a late part
# is written under: ``<session id>~<n>`` (docs/semantics.md, "Late events").
CONTINUATION_MARK = "~"


def part_id(session_id: str, continuation: int) -> str:
    """The session id a part of a session is written under; the first part keeps the id."""
    return session_id if continuation == 0 else f"{session_id}{CONTINUATION_MARK}{continuation}"


def event_hash(event_id: str) -> int:
    """A 64-bit digest of an event id: what a tombstone keeps to recognise it.

    Stable across processes (unlike ``hash``), so a replay on another worker
    recognises the same ids; two ids of one session share a digest with odds
    of about n^2 / 2^65 for n ids.
    """
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True, slots=True)
class Rules:
    """The tunable parts of the consumption semantics."""

    min_session_seconds: float = 10.0
    bucket_seconds: float = 1.0
    idle_timeout_seconds: float = 1800.0
    # Processing time after a close during which a further event re-opens the
    # session; after it the session is a tombstone and such events are late.
    lateness_seconds: float = DAY
    # How long a tombstone is kept after the lateness window ends.
    tombstone_seconds: float = 7 * DAY
    # The longest clip (schemas/bounds.py): a listened interval never reaches past it,
    # whatever the wall time between a start and the session's next event.
    max_position_seconds: float = DAY
    # A session's size, bounded so that its stored state always fits one Kafka
    # message and applying an event never costs more than a bounded session.
    max_session_events: int = 5000
    max_session_bytes: int = 786_432


class Added(enum.Enum):
    NEW = "new"  # first event of an open session, or one more for it
    DUPLICATE = "duplicate"  # event id already seen: counts once
    REOPENED = "reopened"  # a new event for a session that had closed


@quick_init
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
    duration_seconds: float  # listened seconds: replays count again
    kept: bool
    version: int
    steps: Steps  # the histogram contribution; empty when not kept
    unique_seconds: float = 0.0
    furthest_seconds: float = 0.0
    clip_length_seconds: float | None = None
    completion_share: float | None = None
    quality: Quality = Quality(None, 0, 0, 0, 0)
    content: tuple[ContentEvent, ...] = ()
    timeline: tuple[PlaybackEvent, ...] = ()  # every event, in order (for session_events)

    @property
    def buckets(self) -> dict[int, int]:
        """bucket -> listens; empty when not kept."""
        return self.steps.buckets()


@dataclass(slots=True)
class SessionState:
    events: dict[str, PlaybackEvent] = field(default_factory=dict)
    closed: bool = False
    last_activity: float = 0.0  # processing time of the newest event, seconds
    closed_at: float = 0.0  # processing time of the latest close
    # A late part of a session whose earlier parts are tombstoned: its number
    # (0 for the first part), the digests of the events the earlier parts
    # counted, the clip their rows name (its listening must name it too), and
    # the platform their app stated (its plays are counted under it).
    continuation: int = 0
    earlier: frozenset[int] = frozenset()
    earlier_clip: str | None = None
    earlier_platform: str = ""
    # Kept up to date as events arrive, so that asking whether the session is
    # complete costs the same for its 5th event as for its 5,000th.
    _sequences: set[int] = field(default_factory=set, init=False, repr=False, compare=False)
    _flagged_complete: bool = field(default=False, init=False, repr=False, compare=False)
    _listening_clip: str | None = field(default=None, init=False, repr=False, compare=False)
    _earliest: float = field(default=float("inf"), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._listening_clip = self.earlier_clip
        if self.events:
            self._track_all()

    def _track_all(self) -> None:
        """``_track`` of each event in turn, written out: every stored session the
        worker loads is built with its events."""
        sequences = self._sequences
        earliest = self._earliest
        complete = self._flagged_complete
        listening = self._listening_clip
        for event in self.events.values():
            sequences.add(event.sequence_number)
            if event.timestamp < earliest:
                earliest = event.timestamp
            if event.session_complete:
                complete = True
            if listening is None and event.kind in LISTENING:
                listening = event.clip_id
        self._earliest = earliest
        self._flagged_complete = complete
        self._listening_clip = listening

    def _track(self, event: PlaybackEvent) -> None:
        self._sequences.add(event.sequence_number)
        if event.timestamp < self._earliest:
            self._earliest = event.timestamp
        if event.session_complete:
            self._flagged_complete = True
        if self._listening_clip is None and event.kind in LISTENING:
            self._listening_clip = event.clip_id

    def restore(self, event: PlaybackEvent) -> None:
        """Put back an event read from storage (no activity, no re-open)."""
        self.events[event.event_id] = event
        self._track(event)

    def holds(self, event: PlaybackEvent) -> bool:
        """This part, or an earlier part of the session, already counted ``event``."""
        return event.event_id in self.events or (
            bool(self.earlier) and event_hash(event.event_id) in self.earlier)

    def add(self, event: PlaybackEvent, now: float) -> Added:
        if self.holds(event):
            return Added.DUPLICATE
        return Added.REOPENED if self.add_new(event, now) else Added.NEW

    def add_new(self, event: PlaybackEvent, now: float) -> bool:
        """Add an event ``holds`` said is new; whether it re-opened the session."""
        # restore(event), written out: this runs for every event the worker takes.
        self.events[event.event_id] = event
        self._sequences.add(event.sequence_number)
        if event.timestamp < self._earliest:
            self._earliest = event.timestamp
        if event.session_complete:
            self._flagged_complete = True
        if self._listening_clip is None and event.kind in LISTENING:
            self._listening_clip = event.clip_id
        self.last_activity = now
        if self.closed:
            self.closed = False
            return True
        return False

    @property
    def version(self) -> int:
        return len(self.events)

    @property
    def earliest(self) -> float:
        """The earliest timestamp among the part's events (infinity when it has none).

        Every row the part writes is dated at or after it (``started_at``, a
        content event's day), whatever order its events take: what the
        complete-through watermark needs to know of a session that can still
        change (processors/completeness.py).
        """
        return self._earliest

    @property
    def listening_clip(self) -> str | None:
        """The clip the session's listening events name (they all name one)."""
        return self._listening_clip

    def is_complete(self) -> bool:
        """The sender said the session is complete and no sequence number is missing."""
        if not self._flagged_complete:
            return False
        # Counting, not building 1..max: dialects that number events by their
        # timestamp have sequence numbers near 10^13.
        sequences = self._sequences
        return min(sequences) == 1 and len(sequences) == max(sequences)

    def is_idle(self, now: float, rules: Rules) -> bool:
        return now - self.last_activity >= rules.idle_timeout_seconds

    def should_close(self, now: float, rules: Rules) -> bool:
        return not self.closed and (self.is_complete() or self.is_idle(now, rules))

    def is_past_lateness(self, now: float, rules: Rules) -> bool:
        return self.closed and now - self.closed_at >= rules.lateness_seconds

    def close(self, rules: Rules, now: float) -> SessionResult:
        self.closed = True
        self.closed_at = now
        return self.summary(rules)

    def summary(self, rules: Rules) -> SessionResult:
        events = self.events.values()  # distinct ids: the dict is keyed by them
        if len(self._sequences) == len(events):
            # Distinct sequence numbers (most sessions) leave nothing for the timestamp
            # and the id to decide: ordering by the number alone is ``ordered``'s order.
            timeline = Timeline(events)
            timeline.sort(key=_SEQUENCE)
        else:
            timeline = Timeline(ordered(events))
        return summarize(timeline, rules, self.continuation, self.earlier_clip,
                         self.earlier_platform)

    def tombstone(self) -> Tombstone:
        seen = self.earlier | {event_hash(event_id) for event_id in self.events}
        # The clip the part's rows name and its app's platform: later parts are
        # plays of that clip, on that platform. Their order matters only when
        # there is no listening clip, or an app stated a platform.
        events = self.events.values()
        clip = self.listening_clip
        platform = self.earlier_platform
        if (clip is None and events) or (not platform and any(
                event.action == Action.APP_START for event in events)):
            timeline = ordered(events)
            if clip is None and timeline:
                clip = session_clip(timeline)
            platform = platform or session_platform(timeline)
        return Tombstone(self.closed_at, self.version, self.continuation, frozenset(seen), clip,
                         platform)


@quick_init
@dataclass(frozen=True, slots=True)
class Tombstone:
    """What is left of a session after its lateness window.

    Enough to count a late event in a continuation without counting twice
    what the session already counted: the digests of every event id its parts
    held, the number of its latest part, the clip its rows name and the
    platform its app stated.
    ``seen`` is None for a tombstone stored before tombstones kept ids: it
    cannot tell a duplicate from a new event, so late events for it are
    still refused as ``late`` (visible, never counted twice).
    """

    closed_at: float
    version: int
    continuation: int = 0
    seen: frozenset[int] | None = None
    clip: str | None = None
    platform: str = ""

    def continued(self) -> SessionState:
        """The next part of the session, empty, ready for a late event."""
        return SessionState(continuation=self.continuation + 1, earlier=self.seen or frozenset(),
                            earlier_clip=self.clip, earlier_platform=self.platform)

    def is_expired(self, now: float, rules: Rules) -> bool:
        return now - self.closed_at >= rules.lateness_seconds + rules.tombstone_seconds


_TIMESTAMP = attrgetter("timestamp")
_SEQUENCE = attrgetter("sequence_number")
_ACTION = attrgetter("action")
_LENGTH = attrgetter("clip_length_seconds")
NO_QUALITY = Quality(None, 0, 0, 0, 0)  # quality() of a timeline without QoE actions
_RESULT = quick_new(SessionResult)  # every field given, by name
LISTENING = frozenset({EventKind.START, EventKind.STOP, EventKind.HEARTBEAT, EventKind.SEEK})


def session_clip(timeline: list[PlaybackEvent]) -> str:
    """The clip a session is a play of: its first listening event's, else its first event's.

    The worker refuses listening events that name another clip than the ones
    it holds (``clip_mismatch``), so a late event cannot move a session's
    listening to another clip (docs/semantics.md, "A session's clip").
    """
    for event in timeline:
        if event.kind in LISTENING:
            return event.clip_id
    return timeline[0].clip_id


class Timeline(list[PlaybackEvent]):
    """A session's events, already deduplicated and ordered (as ``ordered`` gives
    them): ``summarize`` takes them as they are."""

    __slots__ = ()


def summarize(events: Iterable[PlaybackEvent], rules: Rules, continuation: int = 0,
              clip: str | None = None, platform: str = "") -> SessionResult:
    """Every figure of one session from its events (duplicates and order don't matter).

    ``continuation``: the number of the late part these events are, which
    names the rows they are written under (``part_id``). ``clip``: the clip
    the earlier parts' listening named; a late part holding only rights plays
    or engagement is still a part of that play. ``platform``: the one the
    earlier parts' app stated, under which this part's plays are counted.
    """
    timeline = events if isinstance(events, Timeline) else ordered(events)
    if not timeline:
        raise ValueError("a session needs at least one event")
    first = timeline[0]
    intervals = tuple(listened_intervals(timeline, rules.max_position_seconds))
    # The duration is rounded to the microsecond so 4.554 + 234.59 reads 239.144, not
    # 239.14400000000003.
    duration, unique, furthest = listened_figures(intervals)
    kept = duration >= rules.min_session_seconds
    started_at = datetime.fromtimestamp(first.timestamp, UTC)
    # The per-event figures, each read in C; most sessions have no QoE or content
    # events, nor a clip length, and skip those passes (their figures are then the
    # empty ones).
    actions = set(map(_ACTION, timeline))
    # clip_length: the same values compared in the same order, so the same pick.
    length = (max(filter(None, map(_LENGTH, timeline))) if any(map(_LENGTH, timeline))
              else None)
    return _RESULT(
        first.organization_id,
        clip if clip is not None else session_clip(timeline),
        part_id(first.session_id, continuation) if continuation else first.session_id,
        first.source,
        started_at.date(),
        started_at,
        datetime.fromtimestamp(max(map(_TIMESTAMP, timeline)), UTC),
        intervals,
        duration,
        kept,
        len(timeline),
        bucket_steps(intervals, rules.bucket_seconds) if kept else NO_STEPS,
        unique,
        furthest,
        length,
        None if length is None else completion_share(unique, length),
        NO_QUALITY if QUALITY_ACTIONS.isdisjoint(actions) else quality(timeline),
        () if CONTENT_ACTIONS.isdisjoint(actions) else content_events(timeline, platform),
        tuple(timeline),
    )
