"""Property tests: the figures depend on the set of events, nothing else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from test_core_semantics import ev

from processors.session import Rules, SessionState, summarize
from schemas.event import PlaybackEvent

# Built once, not for every event of every example.
COUNTS = st.integers(min_value=1, max_value=25)
GAPS = st.floats(min_value=0, max_value=120, allow_nan=False)
KINDS = st.sampled_from(["Start", "Stop", "Beat", "Seek", "Like"])
POSITIONS = st.floats(min_value=-5, max_value=3600, allow_nan=False)


@st.composite
def sessions(draw: st.DrawFn) -> list[PlaybackEvent]:
    count = draw(COUNTS)
    stamp = 1_700_000_000.0
    events = []
    for seq in range(1, count + 1):
        stamp += draw(GAPS)
        kind = draw(KINDS)
        position = draw(POSITIONS)
        to = draw(POSITIONS)
        events.append(ev(kind, position, seq, stamp, complete=seq == count, to=to))
    return events


@settings(max_examples=examples(300), deadline=None)
@given(events=sessions(), data=st.data())
def test_any_permutation_duplication_or_split_gives_the_same_result(
    events: list[PlaybackEvent], data: st.DataObject
) -> None:
    clean = summarize(events, Rules())
    noisy = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events)))))
    split = data.draw(st.integers(min_value=0, max_value=len(noisy)))
    state = SessionState()
    for event in noisy[:split]:
        state.add(event, now=0)
    if state.events:
        state.close(Rules(), now=0)  # an early close, as after the first of two requests
    for event in noisy[split:]:
        state.add(event, now=60)
    assert state.close(Rules(), now=60) == clean


@settings(max_examples=examples(200), deadline=None)
@given(events=sessions())
def test_figures_are_consistent(events: list[PlaybackEvent]) -> None:
    result = summarize(events, Rules())
    assert result.duration_seconds == round(sum(i.end - i.start for i in result.intervals), 6)
    assert all(i.end > i.start >= 0 for i in result.intervals)
    assert result.kept == (result.duration_seconds >= 10)
    touched = sum(result.buckets.values())
    assert (touched > 0) == (result.kept and bool(result.intervals))
