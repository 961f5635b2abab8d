"""EventProducer.records groups by session key and encodes as the codec does (no broker)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from schemas import event_codec
from schemas.event import EventKind, PlaybackEvent
from schemas.producer import EventProducer

IDS = ["", "org", "a", "b"]


def records_of(events: list[Any]) -> list[tuple[bytes, bytes, list[Any]]]:
    async def pack() -> list[tuple[bytes, bytes, list[Any]]]:
        producer = EventProducer("127.0.0.1:9")  # records() sends nothing
        try:
            return producer.records(events)
        finally:
            await producer.stop()  # never started, but open to aiokafka until stopped
    return asyncio.run(pack())


@st.composite
def event_lists(draw: st.DrawFn) -> list[Any]:
    out: list[Any] = []
    for i in range(draw(st.integers(1, 12))):
        # Ids from a few strings: the same object, an equal copy, or the empty string.
        org = draw(st.sampled_from(IDS))
        session = draw(st.sampled_from(IDS))
        if draw(st.booleans()):
            session = "".join(list(session))  # an equal string, maybe not the same object
        event = PlaybackEvent(f"e{i}", org, session, "clip", "Web", EventKind.START, 1.0, i + 1,
                              1_700_000_000.0 + i, attributes={"event": "Start"})
        out.append(event.to_record() if draw(st.integers(0, 3)) == 0 else event)
    return out


def key(event: Any) -> bytes:
    if isinstance(event, PlaybackEvent):
        return event.session_key.encode()
    return f"{event['organization_id']}/{event['session_id']}".encode()


@settings(max_examples=examples(100), deadline=None)
@given(event_lists())
def test_records_hold_each_sessions_events_in_order_encoded_as_the_codec_does(
        events: list[Any]) -> None:
    expected: dict[bytes, list[Any]] = {}
    for event in events:
        expected.setdefault(key(event), []).append(event)
    records = records_of(events)
    assert [(k, members) for k, _, members in records] == list(expected.items())
    codec = event_codec()
    for _, value, members in records:
        as_records = [m.to_record() if isinstance(m, PlaybackEvent) else m for m in members]
        wanted = (codec.encode(as_records[0]) if len(members) == 1
                  else codec.encode_batch(as_records))
        assert value == wanted
