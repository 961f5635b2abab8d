"""The compiled wire reader (schemas/_wire_read.c) reads what the Python reader reads,
refuses what it refuses, builds events like any other, and keeps no memory."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from retained import retained_bytes
from test_read_events import records
from test_read_shared import sessions

from schemas import event_codec, wire_read
from schemas.codec import HEADER_LENGTH
from schemas.event import EventKind, PlaybackEvent

Reader = Callable[[bytes], Any]


def compiled(message: bytes) -> Any:
    return _read(message, wire_read.read_run, wire_read.read_batch)


def python(message: bytes) -> Any:
    return _read(message, wire_read.read_run_python, wire_read.read_batch_python)


def _read(message: bytes, run: Callable[..., int], batch: Callable[..., Any]) -> Any:
    """The events, or "refused": what read_events turns into None."""
    try:
        if message[2:HEADER_LENGTH] == wire_read.READER_BATCH:
            return batch(message, HEADER_LENGTH)
        events: list[PlaybackEvent] = []
        run(message, HEADER_LENGTH, 1, events)
        return events
    except (IndexError, ValueError, struct.error):
        return "refused"


def test_make_install_built_the_compiled_reader() -> None:
    # CI installs with a C compiler: a fallback here would be a build that broke quietly.
    assert wire_read.COMPILED, "schemas/_wire_read.c was not built: run make install"
    assert wire_read.read_run is not wire_read.read_run_python


@settings(max_examples=examples(300))
@given(batch=sessions())
def test_a_batch_reads_to_the_same_events(batch: list[dict[str, Any]]) -> None:
    message = event_codec().encode_batch(batch)
    assert compiled(message) == python(message)


@settings(max_examples=examples(200))
@given(record=records())
def test_a_single_event_reads_to_the_same_event(record: dict[str, Any]) -> None:
    message = event_codec().encode(record)
    assert repr(compiled(message)) == repr(python(message))


@settings(max_examples=examples(1000))
@given(batch=st.one_of(sessions(), st.lists(records(), min_size=1, max_size=3)),
       data=st.data())
def test_damaged_bytes_are_read_alike_or_refused_by_both(
        batch: list[dict[str, Any]], data: st.DataObject) -> None:
    message = bytearray(event_codec().encode_batch(batch) if data.draw(st.booleans())
                        else event_codec().encode(batch[0]))
    for _ in range(data.draw(st.integers(0, 4))):
        at = data.draw(st.integers(HEADER_LENGTH, len(message) - 1))
        message[at] = data.draw(st.integers(0, 255))
    cut = bytes(message[:data.draw(st.integers(HEADER_LENGTH, len(message)))])
    assert repr(compiled(cut)) == repr(python(cut))  # repr: NaN equals itself there


@pytest.mark.parametrize("body", [
    b"\xff" * 12,  # a varint longer than a long
    b"\x02a" + b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x03",  # a length beyond 64 bits
    b"\x03",  # a negative length
    b"\x02\xff",  # bad UTF-8
    b"",  # nothing at all
], ids=["long-varint", "beyond-64-bits", "negative-length", "bad-utf8", "empty"])
def test_irregular_bytes_are_refused_by_both(body: bytes) -> None:
    message = _header("event") + body
    assert compiled(message) == python(message) == "refused"


def _header(form: str) -> bytes:
    return b"\xc3\x01" + (wire_read.READER_EVENT if form == "event" else wire_read.READER_BATCH)


def _session(n: int) -> list[dict[str, Any]]:
    return [PlaybackEvent(f"e{n}-{seq}", "org", f"s{n}", "clip", "Web", EventKind.START,
                          float(seq), seq, 1.7e9 + seq, dialect="bench", received_at=1.7e9,
                          action="play", attributes={"k": str(seq)}).to_record()
            for seq in range(1, 7)]


def test_compiled_events_are_frozen_playback_events() -> None:
    message = event_codec().encode_batch(_session(1))
    events = wire_read.read_batch(message, HEADER_LENGTH)
    assert events is not None
    event = events[0]
    assert type(event) is PlaybackEvent and event.kind is EventKind.START
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.sequence_number = 9  # type: ignore[misc]
    assert dataclasses.replace(event, sequence_number=9).sequence_number == 9
    assert events[1].attributes is not events[0].attributes  # a dict of its own each


def test_reading_keeps_no_memory() -> None:
    """Every object the compiled reader makes is released with its events, also when it
    refuses a message halfway (a reference kept would grow the worker forever)."""
    good = event_codec().encode_batch(_session(1))
    cut = good[:-7]  # refused inside the last event, after five are built

    def read_many() -> None:
        for _ in range(2000):
            wire_read.read_batch(good, HEADER_LENGTH)
            with pytest.raises(ValueError):
                wire_read.read_batch(cut, HEADER_LENGTH)

    # 2,000 reads of 12 events: a leak of one string an event would be 1 MB and more.
    assert retained_bytes(read_many) < 64 * 1024
