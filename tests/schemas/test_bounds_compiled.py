"""The compiled bounds check (schemas/_wire_read.c, ``plainly_within``) answers as
``Bounds.all_plainly_within_python`` does, or leaves the answer to it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from test_read_shared import events

from schemas import bounds as bounds_module
from schemas import event_codec
from schemas.bounds import (
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    MAX_SEQUENCE,
    MAX_TIMESTAMP,
    MAX_VALUE_MS,
    Bounds,
)
from schemas.event import Action, EventKind, PlaybackEvent

# Values at each limit, one past it, and of types the check leaves to Python.
EDGES = st.sampled_from([0, 1, -1, MAX_VALUE_MS, MAX_VALUE_MS + 1, 2**70, -(2**70),
                         MAX_SEQUENCE, MAX_SEQUENCE + 1, 0.5, True])
TIMES = st.sampled_from([0.0, -0.0, 1.7e9, MAX_TIMESTAMP, MAX_TIMESTAMP - 1e-6, float("nan"),
                         float("inf"), 5, -1.0])
POSITIONS = st.sampled_from([0.0, 86_400.0, 86_400.001, -86_400.0, -86_400.5, float("nan"),
                             3])
KEYS = st.sampled_from(["k", "x" * MAX_ATTRIBUTE_KEY_CHARS, "x" * (MAX_ATTRIBUTE_KEY_CHARS + 1),
                        "é"])
VALUES = st.sampled_from(["v", "x" * MAX_ATTRIBUTE_VALUE_CHARS,
                          "y" * (MAX_ATTRIBUTE_VALUE_CHARS + 1), "\ud800"])


@st.composite
def edge_events(draw: st.DrawFn) -> list[PlaybackEvent]:
    out = []
    for n in range(draw(st.integers(1, 3))):
        attributes: Any = draw(st.dictionaries(KEYS, VALUES, max_size=3))
        if draw(st.integers(0, 9)) == 0:  # many, or long together
            attributes = {f"k{i}": "v" * draw(st.sampled_from([1, 300]))
                          for i in range(draw(st.sampled_from([MAX_ATTRIBUTES,
                                                               MAX_ATTRIBUTES + 1])))}
        out.append(PlaybackEvent(
            f"e{n}", "o", "s", "c", "Web", EventKind.START, draw(POSITIONS), draw(EDGES),
            draw(TIMES), received_at=draw(TIMES), seek_to_seconds=draw(st.none() | POSITIONS),
            value_ms=draw(st.none() | EDGES), clip_length_seconds=draw(st.none() | POSITIONS),
            attributes=attributes))
    return out


def answers(batch: list[PlaybackEvent]) -> tuple[Any, bool]:
    assert bounds_module._PLAIN is not None, "schemas/_wire_read.c was not built"
    return bounds_module._PLAIN(batch, Bounds().max_clip_seconds), \
        Bounds().all_plainly_within_python(batch)


@settings(max_examples=examples(1000), deadline=None)
@given(batch=st.one_of(events(), edge_events()))
def test_the_compiled_check_answers_as_python_or_leaves_it(batch: list[PlaybackEvent]) -> None:
    compiled, python = answers(batch)
    assert compiled is None or compiled == python
    assert Bounds().all_plainly_within(batch) == python


def test_events_the_reader_builds_are_answered_in_c() -> None:
    record = {"event_id": "e", "organization_id": "o", "session_id": "s", "clip_id": "c",
              "source": "Web", "dialect": "omny", "kind": "START", "position_seconds": 0.0,
              "sequence_number": 1, "timestamp": 1_700_000_000_000,
              "received_at": 1_700_000_000_000, "session_complete": False, "action": "play",
              "seek_to_seconds": None, "value_ms": None, "clip_length_seconds": None,
              "attributes": {"platform": "ios"}}
    plain = event_codec().read_events(event_codec().encode_batch([record, record]))
    assert plain is not None
    assert answers(plain) == (True, True)
    late = event_codec().read_events(event_codec().encode(
        record | {"timestamp": int(MAX_TIMESTAMP * 1000)}))
    assert late is not None
    assert answers(late) == (False, False)


def test_other_shapes_are_left_to_python() -> None:
    class Lookalike:
        pass

    assert bounds_module._PLAIN is not None
    assert bounds_module._PLAIN([Lookalike()], 86_400.0) is None
    assert bounds_module._PLAIN((), 86_400.0) is None  # not a list


def test_the_gateways_events_are_answered_in_c() -> None:
    # The gateway's converters give actions as Action members: str subclasses.
    events = [PlaybackEvent(f"omny:o:s:{n}", "o", "s", "c", "Web", EventKind.START, 1.5, n,
                            1.7e9, action=Action.PLAY, attributes={"event": "Start"})
              for n in (1, 2)]
    assert answers(events) == (True, True)


def test_a_str_with_a_length_of_its_own_is_left_to_python() -> None:
    class Measured(str):
        def __len__(self) -> int:
            return 10**6

    event = PlaybackEvent("e", "o", "s", "c", "Web", EventKind.START, 1.5, 1, 1.7e9,
                          action=Measured("play"))
    compiled, python = answers([event])
    assert compiled is None
    assert Bounds().all_plainly_within([event]) == python
