"""The state codec's shortcuts give what the long way gives: a loaded session that gains
events is stored as the same bytes, built from its stored rows; the sweep's tombstone
of stored bytes is the decoded session's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from processors import state_codec
from processors.batch import SessionBatch
from processors.handling import WorkerCounters
from processors.open_index import OpenSessions
from processors.session import Rules, SessionState
from schemas.event import EventKind, PlaybackEvent, derived_event_id

TEXT = st.text(max_size=6)
# Built once, not for every event of every example (building them took most of the time).
COUNTS = st.integers(1, 12)
DIALECTS = st.sampled_from(["omny", "sdk", ""])
CLIPS = st.sampled_from(["c1", "c2"])
SOURCES = st.sampled_from(["Web", "App"])
KINDS = st.sampled_from(list(EventKind))
POSITIONS = st.floats(-5, 500)
STAMPS = st.floats(1.6e9, 1.8e9)
RECEIVED = st.sampled_from([0.0, 1.7e9])
ACTIONS = st.sampled_from(["", "play", "like", "app_start"])
SEEKS = st.none() | st.floats(0, 500)
VALUES = st.none() | st.integers(0, 10**6)
LENGTHS = st.none() | st.floats(1, 500)
ATTRIBUTES = st.dictionaries(st.sampled_from(["platform", "x"]), TEXT, max_size=2)


@st.composite
def events(draw: st.DrawFn) -> list[PlaybackEvent]:
    org, session = draw(TEXT), draw(TEXT)
    out = []
    for seq in range(1, draw(COUNTS) + 1):
        dialect = draw(DIALECTS)
        derived = derived_event_id(dialect, org, session, seq)
        out.append(PlaybackEvent(
            draw(st.sampled_from([derived, f"id-{seq}"])), org, session,
            draw(CLIPS), draw(SOURCES), draw(KINDS), draw(POSITIONS), seq, draw(STAMPS),
            draw(st.booleans()), dialect, draw(RECEIVED), draw(ACTIONS), draw(SEEKS),
            draw(VALUES), draw(LENGTHS), draw(ATTRIBUTES)))
    return out


@settings(max_examples=examples(400), deadline=None)
@given(session=events(), data=st.data())
def test_encode_after_writes_what_encode_writes(session: list[PlaybackEvent],
                                                 data: st.DataObject) -> None:
    stored_count = data.draw(st.integers(0, len(session)))
    parts = data.draw(st.booleans())
    first = SessionState(closed=data.draw(st.booleans()), last_activity=5.0, closed_at=3.0,
                         continuation=2 if parts else 0,
                         earlier=frozenset({7, 2**64 - 1}) if parts else frozenset(),
                         earlier_clip="c1" if parts else None,
                         earlier_platform="ios" if parts else "")
    for event in session[:stored_count]:
        first.restore(event)
    stored = state_codec.encode(first)
    state = state_codec.decode(stored)
    assert isinstance(state, SessionState)
    for event in session[stored_count:]:
        state.add(event, 9.0)
    state.closed = data.draw(st.booleans())
    assert state_codec.encode_after(state, stored, stored_count) == state_codec.encode(state)


@settings(max_examples=examples(400), deadline=None)
@given(session=events(), data=st.data())
def test_the_sweeps_tombstone_is_the_decoded_sessions(session: list[PlaybackEvent],
                                                      data: st.DataObject) -> None:
    parts = data.draw(st.booleans())
    state = SessionState(closed=True, last_activity=5.0, closed_at=3.0,
                         continuation=data.draw(st.integers(0, 3)),
                         earlier=frozenset(data.draw(st.sets(st.integers(0, 2**64 - 1),
                                                             max_size=3))),
                         earlier_clip=data.draw(st.none() | st.just("c2")) if parts else None,
                         earlier_platform=data.draw(st.sampled_from(["", "ios"])))
    for event in session[:data.draw(st.integers(0, len(session)))]:
        state.restore(event)
    stored = state_codec.encode(state)
    decoded = state_codec.decode(stored)
    assert isinstance(decoded, SessionState)
    assert state_codec.tombstone_of(stored) == decoded.tombstone() == state.tombstone()


def test_a_batch_stores_a_loaded_session_with_its_new_events() -> None:
    def event(seq: int) -> PlaybackEvent:
        return PlaybackEvent(f"e{seq}", "org", "s", "clip", "Web", EventKind.START, seq, seq,
                             1.7e9 + seq, action="play")

    store: dict[str, bytes] = {}
    for seq in range(1, 4):  # one event a batch, as live traffic comes
        work = SessionBatch(100.0 + seq, Rules(), lambda key, _: store.get(key),
                            WorkerCounters())
        work.apply(event(seq), OpenSessions(), "token")
        [change] = work.changes()
        assert change.value is not None
        store[change.key] = change.value
        expected = SessionState(last_activity=100.0 + seq)
        for n in range(1, seq + 1):
            expected.restore(event(n))
        assert change.value == state_codec.encode(expected)


def test_a_new_sessions_stored_size_is_the_empty_states() -> None:
    # SessionBatch.apply takes a new session's stored size from this, without encoding.
    assert len(state_codec.encode(SessionState())) == state_codec.EMPTY_SIZE
