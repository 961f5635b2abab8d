"""The compiled state rows (processors/_state_rows.c) are the Python encoder's bytes:
every float written as json writes it, every session and every appended row the
same, and whatever it cannot write exactly is left to the Python encoder."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from retained import retained_bytes
from test_state_append import events

from processors import (
    _state_rows,  # type: ignore[attr-defined]
    state_codec,
)
from processors.session import SessionState
from schemas.event import EventKind, PlaybackEvent, derived_event_id

# Whole milliseconds (the fast path), up to its edge at 2^40 and past it.
MILLIS = st.integers(-(2**42), 2**42).map(lambda m: m / 1000)
# Text json escapes or passes through: quotes, backslashes, controls, DEL, non-ASCII.
TEXT = st.text(st.sampled_from('ab"\\/\b\f\n\r\t\x00\x1f\x7fé€\U0001f600:'), max_size=8)
NUMBERS = st.one_of(st.floats(), MILLIS, st.integers(-5, 5), st.just(-0.0))


def python_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_codec, "_ROWS", None)


def test_make_install_built_the_compiled_rows() -> None:
    assert state_codec._ROWS is not None, "processors/_state_rows.c was not built"


@settings(max_examples=examples(2000))
@given(x=st.one_of(st.floats(), MILLIS, st.floats(-1e13, 1e13)))
@example(x=2.0**40 - 0.001)
@example(x=2.0**40)
@example(x=-0.0)
@example(x=0.0)
@example(x=1e-4)
@example(x=1e16)
@example(x=1700000007.123)
def test_a_float_is_written_as_json_writes_it(x: float) -> None:
    assert _state_rows.float_text(x) == json.dumps(x)


@st.composite
def wild_sessions(draw: st.DrawFn) -> list[PlaybackEvent]:
    """One session's events with texts to escape, ints where floats go, derived ids."""
    org, session = draw(TEXT), draw(TEXT)
    out = []
    for seq in range(1, draw(st.integers(1, 6)) + 1):
        dialect = draw(TEXT)
        event_id = draw(st.sampled_from([derived_event_id(dialect, org, session, seq),
                                         f"{dialect}:{org}:x:{seq}", "id"])) + draw(
            st.sampled_from(["", str(seq)]))
        out.append(PlaybackEvent(
            event_id, org, session, draw(TEXT), draw(TEXT),
            draw(st.sampled_from(list(EventKind))), draw(NUMBERS), seq, draw(NUMBERS),
            draw(st.booleans()), dialect, draw(NUMBERS), draw(TEXT),
            draw(st.none() | NUMBERS), draw(st.none() | st.integers(-(2**70), 2**70)),
            draw(st.none() | NUMBERS), draw(st.dictionaries(TEXT, TEXT, max_size=3))))
    return out


def encoded(session: list[PlaybackEvent]) -> bytes:
    state = SessionState()
    for event in session:
        state.add_new(event, 5.0)
    return state_codec.encode(state)


@settings(max_examples=examples(500), deadline=None)
@given(session=st.one_of(events(), wild_sessions()))
def test_a_session_is_stored_as_the_same_bytes(session: list[PlaybackEvent]) -> None:
    compiled = encoded(session)
    with pytest.MonkeyPatch.context() as patch:
        python_encoder(patch)
        assert compiled == encoded(session)


@settings(max_examples=examples(300), deadline=None)
@given(session=st.one_of(events(), wild_sessions()), data=st.data())
def test_appended_rows_are_the_same_bytes(session: list[PlaybackEvent],
                                          data: st.DataObject) -> None:
    split = data.draw(st.integers(1, len(session)))
    stored = encoded(session[:split])
    state = state_codec.decode(stored)
    assert isinstance(state, SessionState)
    stored_count = len(state.events)  # fewer than split where an id came twice
    for event in session[split:]:
        if event.event_id not in state.events:
            state.add_new(event, 6.0)
    compiled = state_codec.encode_after(state, stored, stored_count)
    with pytest.MonkeyPatch.context() as patch:
        python_encoder(patch)
        assert compiled == state_codec.encode_after(state, stored, stored_count)
        assert compiled == state_codec.encode(state)


def test_what_it_cannot_write_is_left_to_the_python_encoder() -> None:
    event = PlaybackEvent("e", "o", "s", "c", "Web", EventKind.START, 1.0, 1, 1.7e9)
    lone = PlaybackEvent("\ud800", "o", "s", "c", "Web", EventKind.START, 1.0, 2, 1.7e9)
    other = PlaybackEvent("e2", "o", "another", "c", "Web", EventKind.START, 1.0, 2, 1.7e9)
    assert _state_rows.rows([event, lone], None, ("o", "s")) is None  # no UTF-8 form
    assert _state_rows.rows([other], event, None) is None  # another session's event
    with pytest.raises(UnicodeEncodeError):
        encoded([event, lone])
    with pytest.raises(ValueError, match="belongs to another session"):
        state_codec._rows_json([other], event)


def test_encoding_keeps_no_memory() -> None:
    session = [PlaybackEvent(f"e{seq}", "org", "s", "clip", "Web", EventKind.START, seq * 1.5,
                             seq, 1.7e9 + seq / 7, dialect="omny", action="play",
                             attributes={"platform": "ios"}) for seq in range(1, 7)]

    def encode_many() -> None:
        for _ in range(2000):
            encoded(session)
            _state_rows.rows(session[1:], session[0], None)

    assert retained_bytes(encode_many) < 64 * 1024


def test_floats_of_every_kind_read_back_exactly() -> None:
    values: list[Any] = [0.1, 1e-7, 123456.789, 2.0**41 + 0.5, -3.25, 1e300, 5e-324]
    session = [PlaybackEvent(f"e{n}", "o", "s", "c", "Web", EventKind.HEARTBEAT, value, n, 1.7e9)
               for n, value in enumerate(values, 1)]
    decoded = state_codec.decode(encoded(session))
    assert isinstance(decoded, SessionState)
    assert [e.position_seconds for e in decoded.events.values()] == values
    assert all(not math.isnan(v) for v in values)
