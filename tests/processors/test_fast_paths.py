"""The core's fast paths against the plain code they stand in for.

Each fast path handles the common shape of a session (intervals in order,
no content events) without the general code's sorting and bookkeeping; these
properties hold it to exactly the general code's results, float for float,
for any input, common or not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from test_worker_state import rich_sessions

from processors import state_codec
from processors.figures import (
    CONTENT_ACTIONS,
    ContentEvent,
    content_events,
    furthest_seconds,
    listened_figures,
    session_platform,
    unique_and_furthest,
    unique_seconds,
)
from processors.histogram import Steps, _bucket_steps, bucket_steps
from processors.intervals import Interval, listened_intervals, ordered
from schemas.event import EventKind, PlaybackEvent


def reference_listened_intervals(events: Sequence[PlaybackEvent],
                                 limit: float = math.inf) -> list[Interval]:
    """listened_intervals as it was before its fast loop."""
    intervals: list[Interval] = []

    def keep(start: float, end: float) -> None:
        if end > start:
            intervals.append(Interval(start, end))

    open_at: float | None = None
    opened_time = 0.0
    for event in events:
        position = max(event.position_seconds, 0.0)
        if event.kind is EventKind.START:
            if open_at is not None:
                keep(open_at, min(open_at + max(event.timestamp - opened_time, 0.0), limit))
            open_at, opened_time = position, event.timestamp
        elif event.kind is EventKind.STOP and open_at is not None:
            keep(open_at, min(position, limit))
            open_at = None
        elif event.kind is EventKind.SEEK and open_at is not None:
            keep(open_at, min(position, limit))
            open_at = max(event.seek_to_seconds or 0.0, 0.0)
            opened_time = event.timestamp
    if open_at is not None and events:
        keep(open_at, min(open_at + max(events[-1].timestamp - opened_time, 0.0), limit))
    return intervals


def reference_content_events(timeline: Sequence[PlaybackEvent], earlier_platform: str = ""
                             ) -> tuple[ContentEvent, ...]:
    from datetime import UTC, datetime
    platform = earlier_platform or session_platform(timeline)
    return tuple(
        ContentEvent(event_id=e.event_id, clip_id=e.clip_id, action=e.action,
                     at=datetime.fromtimestamp(e.timestamp, tz=UTC),
                     platform=e.attributes.get("platform") or platform,
                     method=e.attributes.get("method", ""),
                     rights=e.attributes.get("rights", ""))
        for e in timeline if e.action in CONTENT_ACTIONS)


def spans(intervals: Sequence[Interval]) -> str:
    return repr([(i.start, i.end) for i in intervals])  # NaN compares by its repr


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
PLAIN_FLOAT = st.floats(-100, 5000)
KINDS = st.sampled_from(list(EventKind))
# Built once, not for every event or interval of every example.
NUMBERS = st.sampled_from([PLAIN_FLOAT, ANY_FLOAT])
COUNTS = st.integers(0, 12)
SEEKS = {numbers: st.none() | numbers for numbers in (PLAIN_FLOAT, ANY_FLOAT)}
INTERVAL_COUNTS = st.integers(0, 6)
STARTS = st.floats(0, 100)
GAPS = st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0, 30)
LENGTHS = st.floats(0, 300)


@st.composite
def timelines(draw: st.DrawFn) -> list[PlaybackEvent]:
    """Ordered events of any kinds, positions and times, odd ones included."""
    numbers = draw(NUMBERS)
    count = draw(COUNTS)
    return [PlaybackEvent(f"e{n}", "org", "s", "clip", "Web", draw(KINDS), draw(numbers), n,
                          draw(numbers), seek_to_seconds=draw(SEEKS[numbers]))
            for n in range(1, count + 1)]


@settings(max_examples=examples(500), deadline=None)
@given(events=timelines(), limit=st.sampled_from([math.inf, 86400.0, 50.0]))
def test_listened_intervals_as_before(events: list[PlaybackEvent], limit: float) -> None:
    assert (spans(listened_intervals(events, limit))
            == spans(reference_listened_intervals(events, limit)))


@st.composite
def interval_lists(draw: st.DrawFn) -> list[Interval]:
    """Mostly the shape sessions have (in order, apart), else anything."""
    if draw(st.booleans()):
        out, at = [], draw(STARTS)
        for _ in range(draw(INTERVAL_COUNTS)):
            at += draw(GAPS)
            length = draw(LENGTHS)
            out.append(Interval(at, at + length))
            at += length
        return out
    numbers = draw(st.sampled_from([st.floats(-10, 5000), ANY_FLOAT]))
    return draw(st.lists(st.builds(Interval, numbers, numbers), max_size=8))


@settings(max_examples=examples(500), deadline=None)
@given(intervals=interval_lists())
def test_unique_and_furthest_as_each(intervals: list[Interval]) -> None:
    assert (repr(unique_and_furthest(intervals))
            == repr((unique_seconds(intervals), furthest_seconds(intervals))))


@settings(max_examples=examples(500), deadline=None)
@given(intervals=interval_lists())
def test_listened_figures_as_each(intervals: list[Interval]) -> None:
    duration = round(sum(i.end - i.start for i in intervals), 6)
    assert (repr(listened_figures(intervals))
            == repr((duration, unique_seconds(intervals), furthest_seconds(intervals))))


@settings(max_examples=examples(500), deadline=None)
@given(intervals=interval_lists(), width=st.sampled_from([0.5, 1.0, 5.0, 0.3]))
def test_bucket_steps_as_the_general_count(intervals: list[Interval], width: float) -> None:
    expected = outcome(lambda: _bucket_steps(intervals, width))
    assert outcome(lambda: bucket_steps(intervals, width)) == expected
    assert outcome(lambda: bucket_steps(iter(intervals), width)) == expected


def outcome(compute: Callable[[], Steps]) -> Steps | type[Exception]:
    """The steps, or the error an infinity or NaN raises (the same one either way)."""
    try:
        return compute()
    except (OverflowError, ValueError) as err:
        return type(err)


@settings(max_examples=examples(300), deadline=None)
@given(events=rich_sessions(), platform=st.sampled_from(["", "iOS"]))
def test_content_events_as_before(events: list[PlaybackEvent], platform: str) -> None:
    timeline = ordered(events)
    assert content_events(timeline, platform) == reference_content_events(timeline, platform)


@settings(max_examples=examples(300), deadline=None)
@given(events=rich_sessions())
def test_session_figures_as_before(events: list[PlaybackEvent]) -> None:
    timeline = ordered(events)
    intervals = listened_intervals(timeline, 86400.0)
    assert spans(intervals) == spans(reference_listened_intervals(timeline, 86400.0))
    assert unique_and_furthest(intervals) == (unique_seconds(intervals),
                                              furthest_seconds(intervals))
    assert bucket_steps(intervals, 1.0) == _bucket_steps(intervals, 1.0)


@settings(max_examples=examples(300), deadline=None)
@given(value=st.lists(st.text() | st.integers() | st.floats() | st.none() | st.booleans()
                      | st.lists(st.floats() | st.text() | st.none(), max_size=4)
                      | st.dictionaries(st.text(), st.text()), max_size=8))
def test_stored_json_is_what_json_dumps_writes(value: list[Any]) -> None:
    try:
        expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate: never stored (bounds refuse it)
        return
    assert state_codec._json(value) == expected


@settings(max_examples=examples(300), deadline=None)
@given(value=st.lists(st.text() | st.integers() | st.floats(allow_nan=False) | st.none()
                      | st.dictionaries(st.text(), st.text()), max_size=6),
       prefix=st.sampled_from([[], ["org", "session"]]))
def test_stored_json_reads_as_json_loads_reads_it(value: list[Any], prefix: list[str]) -> None:
    try:
        body = state_codec._json(prefix + value)
    except UnicodeEncodeError:  # a lone surrogate: never stored (bounds refuse it)
        return
    assert repr(state_codec._loads(body)) == repr(json.loads(body))
