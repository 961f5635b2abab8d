"""EventProducer's lanes against a stand-in for aiokafka: group commit, failures, shutdown.

The stand-in behaves as aiokafka does for one partition: ``send_batch`` hands a
batch over and returns its delivery, which Kafka settles later.
"""

from __future__ import annotations

import asyncio

import pytest

from schemas.event import EventKind, PlaybackEvent
from schemas.producer import EventProducer, PublishFailed


class Batch:
    def __init__(self, room: int):
        self.room = room
        self.keys: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        if len(self.keys) >= self.room:
            return None
        self.keys.append(key)
        return object()

    def close(self) -> None:
        self.room = len(self.keys)


class Kafka:
    """One partition; each delivery waits until the test settles it."""

    def __init__(self, room: int = 100, refuse: BaseException | None = None):
        self.room = room
        self.refuse = refuse
        self.sent: list[tuple[list[bytes], asyncio.Future[None]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> Batch:
        return Batch(self.room)

    async def send_batch(self, batch: Batch, topic: str, partition: int) -> asyncio.Future[None]:
        # One batch out at a time: the next is taken once the last is acknowledged.
        while self.sent and not self.sent[-1][1].done():
            await asyncio.sleep(0.001)
        if self.refuse is not None:
            raise self.refuse
        delivery = asyncio.get_running_loop().create_future()
        self.sent.append((batch.keys, delivery))
        return delivery

    def acknowledge(self, error: BaseException | None = None) -> None:
        for _, delivery in self.sent:
            if not delivery.done():
                delivery.set_exception(error) if error else delivery.set_result(None)

    async def stop(self) -> None:
        return None


def events(session: str, count: int) -> list[PlaybackEvent]:
    return [PlaybackEvent(f"{session}-{i}", "org", session, "clip", "Web", EventKind.START,
                          0.0, i + 1, 1_700_000_000.0) for i in range(count)]


async def producer(kafka: Kafka) -> EventProducer:
    made = EventProducer("127.0.0.1:9", retries=0)
    await made.client.stop()  # never started: aiokafka's own, replaced by the stand-in
    made._producer = kafka  # type: ignore[assignment]
    return made


async def settle_soon(kafka: Kafka, error: BaseException | None = None) -> None:
    for _ in range(50):
        await asyncio.sleep(0.002)
        kafka.acknowledge(error)


def test_what_waits_behind_a_batch_goes_out_together_in_the_next() -> None:
    async def run() -> list[list[bytes]]:
        kafka = Kafka()
        made = await producer(kafka)
        first = asyncio.create_task(made.publish(events("a", 2)))
        await asyncio.sleep(0.01)  # "a" is out; b, c and d queue behind it
        later = [asyncio.create_task(made.publish(events(s, 1))) for s in "bcd"]
        await asyncio.sleep(0.01)
        settling = asyncio.create_task(settle_soon(kafka))
        await asyncio.gather(first, *later, settling)
        await made.stop()
        return [keys for keys, _ in kafka.sent]

    assert asyncio.run(run()) == [[b"org/a"], [b"org/b", b"org/c", b"org/d"]]


def test_a_refused_batch_fails_its_callers_events_and_the_batches_behind_it() -> None:
    async def run() -> None:
        kafka = Kafka(room=1, refuse=TimeoutError("no slot"))
        made = await producer(kafka)
        await made.publish(events("a", 1) + events("b", 1) + events("c", 1))

    with pytest.raises(PublishFailed) as caught:
        asyncio.run(run())
    assert sorted(e.event_id for e in caught.value.failed) == ["a-0", "b-0", "c-0"]


def test_an_unacknowledged_batch_fails_each_of_its_events() -> None:
    async def run() -> None:
        kafka = Kafka()
        made = await producer(kafka)
        settling = asyncio.create_task(settle_soon(kafka, RuntimeError("broker said no")))
        try:
            await made.publish(events("a", 3))
        finally:
            await settling

    with pytest.raises(PublishFailed) as caught:
        asyncio.run(run())
    assert [e.event_id for e in caught.value.failed] == ["a-0", "a-1", "a-2"]


def test_a_caller_that_gave_up_is_not_sent_and_stop_sends_what_is_queued() -> None:
    async def run() -> list[list[bytes]]:
        kafka = Kafka()
        made = await producer(kafka)
        first = asyncio.create_task(made.publish(events("a", 1)))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(made.publish(events("b", 1)))  # waits for a's ack
        await asyncio.sleep(0.01)
        abandoned = asyncio.create_task(made.publish(events("c", 1)))  # queued behind b
        kept = asyncio.create_task(made.publish(events("d", 1)))
        await asyncio.sleep(0.01)
        abandoned.cancel()  # a deadline: the client was told to retry
        await asyncio.sleep(0)
        settling = asyncio.create_task(settle_soon(kafka))
        await made.stop()  # the lane's queue first
        await asyncio.gather(first, second, kept, settling)
        return [keys for keys, _ in kafka.sent]

    assert asyncio.run(run()) == [[b"org/a"], [b"org/b"], [b"org/d"]]


def test_a_calls_records_in_several_batches_fail_only_with_their_own_batch() -> None:
    """A call's records on one lane share a waiter: it says each record's own outcome."""
    async def run() -> None:
        kafka = Kafka(room=1)
        made = await producer(kafka)
        publishing = asyncio.create_task(made.publish(events("a", 1) + events("b", 2)
                                                      + events("c", 1)))
        for outcome in (None, RuntimeError("broker said no"), None):
            while len(kafka.sent) < 3 and all(d.done() for _, d in kafka.sent):
                await asyncio.sleep(0.001)
            pending = next(d for _, d in kafka.sent if not d.done())
            pending.set_exception(outcome) if outcome else pending.set_result(None)
        await publishing

    with pytest.raises(PublishFailed) as caught:
        asyncio.run(run())
    assert [e.event_id for e in caught.value.failed] == ["b-0", "b-1"]
