"""The compiled Avro writer (schemas/_wire_write.c) writes the Python writer's bytes, or
leaves the events to it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from retained import retained_bytes
from test_event_writer import events

from schemas import event_writer
from schemas.event import Action, EventKind, PlaybackEvent
from schemas.event_writer import BodyWriter

# Values of other types, and times and numbers at the edges of an Avro long.
ODD = st.sampled_from([1, True, 2**63, -(2**63), 9.2e15, 9.223372036854775e15, 9.3e18,
                       float("nan"), 0.5, -0.0,
                       0.0005, 0.0015, 0.0025])


def compiled_bodies(batch: list[PlaybackEvent]) -> Any:
    assert event_writer._BODIES is not None, "schemas/_wire_write.c was not built"
    return event_writer._BODIES(batch)


def python_bodies(batch: list[PlaybackEvent]) -> Any:
    try:
        return BodyWriter().bodies_python(batch)
    except (OverflowError, ValueError, TypeError, AttributeError, KeyError) as err:
        return type(err)


def test_make_install_built_the_compiled_writer() -> None:
    assert event_writer.COMPILED


@settings(max_examples=examples(500), deadline=None)
@given(st.lists(events, min_size=1, max_size=6))
def test_events_are_written_as_the_python_writer_writes_them(
        batch: list[PlaybackEvent]) -> None:
    written = compiled_bodies(batch)
    assert written is not None  # every value the schema holds, in the types events have
    assert written == python_bodies(batch)


@settings(max_examples=examples(500), deadline=None)
@given(event=events, data=st.data())
def test_odd_values_are_written_alike_or_left_to_python(event: PlaybackEvent,
                                                        data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(["position_seconds", "sequence_number", "timestamp",
                                       "received_at", "seek_to_seconds", "value_ms"]))
    odd = PlaybackEvent(**{**{f: getattr(event, f) for f in event.__slots__},
                           field: data.draw(ODD)})
    written = compiled_bodies([odd])
    if written is not None:
        assert written == python_bodies([odd])


def test_the_gateways_actions_are_written_in_c() -> None:
    event = PlaybackEvent("omny:o:s:1", "o", "s", "c", "Web", EventKind.START, 1.5, 1,
                          1_700_000_000.5, True, "omny", 1_700_000_001.0, Action.PLAY,
                          attributes={"event": "Start"})
    assert compiled_bodies([event, event]) == python_bodies([event, event])


def test_what_it_cannot_write_is_left_to_python() -> None:
    class Other(str):
        pass

    base = PlaybackEvent("e", "o", "s", "c", "Web", EventKind.START, 1.5, 1, 1.7e9)
    for odd in (PlaybackEvent("\ud800", "o", "s", "c", "Web", EventKind.START, 1.5, 1, 1.7e9),
                PlaybackEvent(Other("e"), "o", "s", "c", "Web", EventKind.START, 1.5, 1, 1.7e9),
                PlaybackEvent("e", "o", "s", "c", "Web", EventKind.START, 1.5, 2**63, 1.7e9)):
        assert compiled_bodies([base, odd]) is None
    with pytest.raises(OverflowError):
        BodyWriter().bodies([base, PlaybackEvent("e", "o", "s", "c", "Web", EventKind.START,
                                                 1.5, 2**63, 1.7e9)])


def test_writing_keeps_no_memory() -> None:
    batch = [PlaybackEvent(f"e{n}", "org", "s", "clip", "Web", EventKind.START, n * 1.5, n,
                           1.7e9 + n, action="play", attributes={"event": "Start"})
             for n in range(1, 7)]

    def write_many() -> None:
        for _ in range(2000):
            compiled_bodies(batch)

    assert retained_bytes(write_many) < 64 * 1024
