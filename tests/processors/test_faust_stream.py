"""The agent's bulk batches keep Faust's stream bookkeeping (processors/faust_stream.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from processors.faust_stream import take_batches


@dataclass(eq=False)
class Message:
    offset: int
    generation_id: int = 1
    topic: str = "events"
    partition: int = 0
    tracked: bool = False
    acked: bool = False

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


@dataclass(eq=False)
class Event:
    message: Message

    def ack(self) -> bool:
        self.message.acked = True
        return True


class FlowControl:
    active = True

    def is_active(self) -> bool:
        return self.active


@dataclass
class Stream:
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    log: list[tuple[str, int]] = field(default_factory=list)
    should_stop: bool = False

    def __post_init__(self) -> None:
        consumer = type("Consumer", (), {"unacked": set()})()
        topics = type("Topics", (), {"acking_topics": {"events"}})()
        self.app: Any = type("App", (), {"flow_control": FlowControl(), "topics": topics,
                                         "consumer": consumer, "consumer_generation_id": 1})()
        self.channel = type("Channel", (), {"queue": self.queue})()

    def _on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.log.append(("message in", offset))

    def _on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> int:
        self.log.append(("event in", offset))
        return offset

    def _on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                             state: Any) -> None:
        assert state == offset
        self.log.append(("event out", offset))

    def _on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        self.log.append(("message out", offset))

    async def maybe_start(self) -> bool:
        return False


def put(stream: Stream, *offsets: int, generation: int = 1) -> list[Event]:
    events = [Event(Message(offset, generation)) for offset in offsets]
    for event in events:
        stream.queue.put_nowait(event)
    return events


def test_what_is_queued_comes_in_batches_of_at_most_max_acked_after_each() -> None:
    async def main() -> None:
        stream = Stream()
        events = put(stream, *range(5))
        batches = take_batches(stream, 2, within=0.05)
        first = await anext(batches)
        assert [m.offset for m in first] == [0, 1]
        assert all(m.tracked and not m.acked for m in first)
        assert stream.app.consumer.unacked == {e.message for e in events[:2]}
        second = await anext(batches)
        assert [m.offset for m in second] == [2, 3]
        assert all(m.acked for m in first) and not events[2].message.acked
        third = await anext(batches)  # one left: handed over when `within` is up
        assert [m.offset for m in third] == [4]
        await batches.aclose()
        assert stream.log[:4] == [("message in", 0), ("event in", 0),
                                  ("message in", 1), ("event in", 1)]
        assert ("event out", 0) in stream.log and ("message out", 0) in stream.log

    asyncio.run(main())


def test_a_batch_waits_for_its_first_event_then_at_most_within() -> None:
    async def main() -> None:
        stream = Stream()
        batches = take_batches(stream, 100, within=0.2)
        waiting = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # nothing arrived: no empty batch
        put(stream, 7)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0.05)
        put(stream, 8)
        batch = await waiting
        assert [m.offset for m in batch] == [7, 8]
        assert 0.15 < loop.time() - started < 0.5
        await batches.aclose()

    asyncio.run(main())


def test_events_of_a_suspended_flow_or_an_old_generation_are_skipped_unacked() -> None:
    async def main() -> None:
        stream = Stream()
        stale = put(stream, 1, generation=0)
        stream.app.flow_control.active = False
        suspended = put(stream, 2)
        batches = take_batches(stream, 10, within=0.05)
        waiting = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0.1)
        stream.app.flow_control.active = True
        fresh = put(stream, 3)
        batch = await waiting
        assert batch == [e.message for e in fresh]
        for skipped in stale + suspended:
            assert not skipped.message.tracked and not skipped.message.acked
        await batches.aclose()

    asyncio.run(main())


def test_a_batch_the_agent_fails_on_is_not_acknowledged() -> None:
    async def main() -> None:
        stream = Stream()
        events = put(stream, 1, 2)
        with pytest.raises(RuntimeError):
            async for _ in take_batches(stream, 10, within=0.01):
                raise RuntimeError("sink gone")
        assert not any(e.message.acked for e in events)

    asyncio.run(main())


def test_the_stream_ends_when_faust_stops_the_actor() -> None:
    async def main() -> None:
        stream = Stream()
        batches = take_batches(stream, 10, within=0.05)
        waiting = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0.01)
        # What faust.agents.actor.Actor.cancel does to the channel's queue.
        for getter in list(stream.queue._getters):  # type: ignore[attr-defined]
            getter.set_exception(StopAsyncIteration())
        with pytest.raises(StopAsyncIteration):
            await waiting  # the generator ended: no RuntimeError

    asyncio.run(main())
