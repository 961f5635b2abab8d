"""The worker's stored state and lateness rules, on the pure core.

The property tests play a session through the worker's path: events in any
order, duplicated, split over batches, the state written to bytes and read
back between batches, early closes in between. The result must equal a clean
single pass over the distinct events.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from functools import cache

import pytest
from histogram_oracle import bucket_listens
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from samples import CLIP, ORGANIZATION, SESSION
from test_core_semantics import OMNY

from processors import state_codec
from processors.handling import InvalidMessage, admit, apply_event, close_if_idle, expire
from processors.histogram import bucket_steps
from processors.intervals import Interval
from processors.session import Rules, SessionState, Tombstone, summarize
from schemas.event import EventKind, PlaybackEvent

ACTIONS = ["", "play", "pause", "progress", "seek", "startup", "rebuffer", "buffer_start",
           "buffer_end", "quality_change", "error", "like", "clip_play", "download", "new-x"]


# Built once: a strategy made inside the loop below would be built and checked again for
# every event of every example, which took most of the generation time.
COUNTS = st.integers(min_value=1, max_value=20)
STAMPS = st.floats(min_value=0, max_value=2e9)
GAPS = st.floats(min_value=0, max_value=90, allow_nan=False)
CLIPS = st.sampled_from([CLIP, CLIP, "other-clip"])
SOURCES = st.sampled_from(["Web", "MobileApp"])
KINDS = st.sampled_from(list(EventKind))
POSITIONS = st.floats(min_value=-5, max_value=3600, allow_nan=False)
DIALECTS = st.sampled_from(["omny", "music", ""])
ACTION = st.sampled_from(ACTIONS)
SEEKS = st.none() | st.floats(min_value=-5, max_value=3600)
VALUES = st.none() | st.integers(min_value=0, max_value=10**7)
LENGTHS = st.none() | st.floats(min_value=0, max_value=10**5)
ATTRIBUTES = st.dictionaries(st.sampled_from(["platform", "method", "é"]), st.text(max_size=5),
                             max_size=2)


@cache
def event_ids(seq: int) -> st.SearchStrategy[str]:
    return st.sampled_from([f"omny:{ORGANIZATION}:{SESSION}:{seq}", f"id-{seq}", ""])


@st.composite
def rich_sessions(draw: st.DrawFn) -> list[PlaybackEvent]:
    count = draw(COUNTS)
    stamp = draw(STAMPS)
    events = []
    for seq in range(1, count + 1):
        stamp += draw(GAPS)
        events.append(PlaybackEvent(
            event_id=draw(event_ids(seq)) or f"x{seq}",
            organization_id=ORGANIZATION, session_id=SESSION,
            clip_id=draw(CLIPS), source=draw(SOURCES), kind=draw(KINDS),
            position_seconds=draw(POSITIONS),
            sequence_number=seq, timestamp=stamp, session_complete=seq == count,
            dialect=draw(DIALECTS), received_at=stamp + 1, action=draw(ACTION),
            seek_to_seconds=draw(SEEKS), value_ms=draw(VALUES),
            clip_length_seconds=draw(LENGTHS), attributes=draw(ATTRIBUTES),
        ))
    return events


@settings(max_examples=examples(300), deadline=None)
@given(events=rich_sessions(), data=st.data())
def test_the_worker_path_gives_the_clean_single_pass(events: list[PlaybackEvent],
                                                      data: st.DataObject) -> None:
    rules = Rules()
    clean = summarize(events, rules)
    noisy = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events)))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(noisy)), max_size=4)))
    stored = b""
    last = None
    now = 0.0
    for start, end in zip([0, *cuts], [*cuts, len(noisy)], strict=True):
        state = state_codec.decode(stored) if stored else None
        assert not isinstance(state, Tombstone)
        state = state or SessionState()
        for event in noisy[start:end]:
            step = apply_event(admit(state, event, now, rules), event, now, rules)
            last = step.emit or last
        if state.events and data.draw(st.booleans()):
            last = close_if_idle(state, now + rules.idle_timeout_seconds, rules) or last
        stored = state_codec.encode(state) if state.events else b""
        now += 60
    final = state_codec.decode(stored)
    assert isinstance(final, SessionState)
    result = summarize(final.events.values(), rules) if not final.closed else last
    assert result == clean


@settings(max_examples=examples(300), deadline=None)
@given(events=rich_sessions(), closed=st.booleans(), stamp=st.floats(0, 2e9))
def test_stored_bytes_round_trip_exactly(events: list[PlaybackEvent], closed: bool,
                                          stamp: float) -> None:
    state = SessionState({e.event_id: e for e in events}, closed, stamp, stamp + 1)
    copy = state_codec.decode(state_codec.encode(state))
    assert copy == state
    header = state_codec.peek(state_codec.encode(state))
    assert (header.kind, header.version) == (2 if closed else 1, state.version)


def test_a_typical_omny_session_takes_little_space() -> None:
    # As the gateway writes them: the dialect is set, so the ids are derived ones.
    events = [replace(e, dialect="omny", received_at=e.timestamp + 0.25) for e in OMNY]
    state = SessionState({e.event_id: e for e in events})
    assert len(state_codec.encode(state)) < 400  # 363: three UUIDs are 108 of them


@settings(max_examples=examples(300), deadline=None)
@given(spans=st.lists(st.tuples(st.floats(0, 5000), st.floats(0, 300)), max_size=8),
       width=st.sampled_from([0.5, 1.0, 5.0]))
def test_steps_give_back_every_bucket(spans: list[tuple[float, float]], width: float) -> None:
    intervals = [Interval(a, a + length) for a, length in spans if length > 0]
    assert bucket_steps(intervals, width).buckets() == bucket_listens(intervals, width)


def test_steps_of_the_omny_session() -> None:
    steps = summarize(OMNY, Rules()).steps
    assert steps.edges == (0, 5, 308, 543)
    assert steps.listener_steps == (1, -1, 1, -1) and steps.listen_steps == (1, -1, 1, -1)


def closed_session(now: float) -> SessionState:
    state = SessionState()
    for event in OMNY:
        apply_event(state, event, now, Rules())
    assert state.closed
    return state


def test_within_the_lateness_window_a_new_event_reopens_and_a_duplicate_rewrites() -> None:
    rules = Rules(lateness_seconds=100)
    state = closed_session(now=1000)
    again = apply_event(admit(state, OMNY[0], 1099, rules), OMNY[0], 1099, rules)
    assert again.emit == summarize(OMNY, rules) and not again.closed


def test_after_the_lateness_window_a_tombstone_keeps_event_ids_and_late_events_continue() -> None:
    rules = Rules(lateness_seconds=100, tombstone_seconds=50)
    state = closed_session(now=1000)
    # Even before the sweep turned it into a tombstone, a late event begins part 1.
    continuation = admit(state, OMNY[0], 1100, rules)
    assert continuation.continuation == 1 and continuation.holds(OMNY[0])
    assert continuation.events == {}
    tombstone = expire(state, 1100, rules)
    assert isinstance(tombstone, Tombstone)
    assert (tombstone.closed_at, tombstone.version, tombstone.continuation) == (1000, 4, 0)
    assert tombstone.clip == CLIP and tombstone.seen is not None and len(tombstone.seen) == 4
    assert state_codec.decode(state_codec.encode(tombstone)) == tombstone
    assert len(state_codec.encode(tombstone)) == 21 + 12 + len(CLIP) + 4 * 8
    assert admit(tombstone, OMNY[0], 1149, rules) == continuation
    # After the tombstone's own time it is deleted and the id may start afresh.
    assert expire(tombstone, 1150, rules) is None
    assert admit(tombstone, OMNY[0], 1150, rules) == SessionState()


def test_a_tombstone_stored_before_tombstones_kept_ids_still_refuses_late_events() -> None:
    rules = Rules(lateness_seconds=100, tombstone_seconds=50)
    legacy = state_codec.decode(struct.pack("<BddI", state_codec.TOMBSTONE, 0.0, 1000, 4))
    assert legacy == Tombstone(1000, 4) and legacy.seen is None
    with pytest.raises(InvalidMessage) as late:
        admit(legacy, OMNY[0], 1149, rules)
    assert late.value.reason == "late"


def test_event_timestamps_never_make_an_event_late() -> None:
    rules = Rules(lateness_seconds=100)
    ancient = [PlaybackEvent(f"a{i}", ORGANIZATION, "old", CLIP, "Web", kind, pos, i, stamp)
               for i, (kind, pos, stamp) in enumerate(
                   [(EventKind.START, 0, 86400.0), (EventKind.STOP, 60, 86460.0)], 1)]
    state = SessionState()
    for event in ancient:
        apply_event(admit(state, event, 10**9, rules), event, 10**9, rules)
    assert summarize(state.events.values(), rules).duration_seconds == 60


def test_open_sessions_and_young_closed_ones_survive_the_sweep() -> None:
    rules = Rules(lateness_seconds=100)
    open_state = SessionState()
    open_state.add(OMNY[0], now=0)
    assert expire(open_state, 10**6, rules) is open_state
    closed = closed_session(now=1000)
    assert expire(closed, 1099, rules) is closed
