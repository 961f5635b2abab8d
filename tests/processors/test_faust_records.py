"""The agent's records a fetch at a time keep Faust's bookkeeping: read offsets, gaps,
flow control, generations, back-pressure, tracking and acknowledgement
(processors/faust_records.py, processors/faust_stream.py)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from weakref import WeakSet

import faust
from aiokafka.structs import ConsumerRecord, TopicPartition
from fake_partition import COMMITTED, END, EVENTS, PER_FETCH, FakeBroker, Partition, commit_all
from faust.transport.consumer import Consumer as FaustConsumer
from intervaltree import IntervalTree
from mode import Service
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from processors.faust_records import (
    DirectRecords,
    Piece,
    RecordChunk,
    RecordsSchema,
    ack_pieces,
    held,
)
from processors.faust_stream import HeldBatch, take_held_batches
from processors.faust_transport import FirstStepInPlace, SeekWithTheFetcherStill

TP0 = TopicPartition("events", 0)


def record(offset: int, tp: TopicPartition = TP0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v%d" % offset,
                          None, 1, 2, ())


class Buffer:
    async def wait_until_ebb(self) -> None:
        pass


class App:
    def __init__(self) -> None:
        self.flow_control = FlowControlEvent(initially_suspended=False)
        self.consumer_generation_id = 1
        self.topics = type("Topics", (), {"acking_topics": {"events"},
                                          "acks_enabled_for": lambda self, t: t == "events"})()
        self.producer = type("Producer", (), {"buffer": Buffer()})()
        self.consumer: Any = None


class Consumer(FirstStepInPlace, Service):
    """The consumer's state Faust keeps, with DirectRecords' and Faust's own methods."""

    _hand_over = DirectRecords._hand_over
    _add_gaps = DirectRecords._add_gaps
    _put = DirectRecords._put
    _add_gap = FaustConsumer._add_gap
    _new_offset = FaustConsumer._new_offset
    _room = None
    _since_yield = 0

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app
        app.consumer = self
        self.suspend_flow = asyncio.Event()
        self._read_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)
        self._unacked_messages: WeakSet[Any] = WeakSet()
        self._waiting_for_ack = None
        self._commit_every = None
        self._n_acked = 0

    @property
    def unacked(self) -> Any:
        return self._unacked_messages


@dataclass
class Stream:
    app: App
    queue: ThrowableQueue[Any]
    should_stop: bool = False

    def __post_init__(self) -> None:
        self.channel = type("Channel", (), {"queue": self.queue})()

    def _on_message_in(self, *_: Any) -> None:
        raise AssertionError("no sensors for the agent's records")

    _on_stream_event_in = _on_message_in

    async def maybe_start(self) -> bool:
        return False


def setup(maxsize: int = 100) -> tuple[App, Consumer, Stream]:
    app = App()
    consumer = Consumer(app)
    queue: ThrowableQueue[Any] = ThrowableQueue(maxsize=maxsize, flow_control=app.flow_control,
                                                clear_on_resume=True)
    return app, consumer, Stream(app, queue)


def offsets(held: HeldBatch) -> list[int]:
    return [r.offset for r in held.records]


def test_a_fetch_is_one_chunk_taken_in_pieces_tracked_then_acknowledged_in_bulk() -> None:
    async def main() -> None:
        app, consumer, stream = setup()
        await consumer._hand_over(TP0, [record(n) for n in range(5)], stream.queue, 1)
        assert stream.queue.qsize() == 1 and consumer._read_offset[TP0] == 4
        batches = take_held_batches(stream, 3, within=0.01)
        first = await anext(batches)
        assert offsets(first) == [0, 1, 2] and (first.first, first.last) == ({TP0: 0}, {TP0: 2})
        assert len(consumer.unacked) == 1 and not consumer._acked[TP0]
        second = await anext(batches)  # the rest of the chunk
        assert offsets(second) == [3, 4] and len(consumer.unacked) == 2
        first.ack()
        assert sorted(consumer._acked[TP0]) == [0, 1, 2] and len(consumer.unacked) == 1
        second.ack()
        assert sorted(consumer._acked[TP0]) == [0, 1, 2, 3, 4] and consumer._n_acked == 5
        assert not consumer.unacked
        assert consumer._new_offset(TP0) == 5  # what Faust commits
        first.ack()  # twice: counted once
        assert consumer._n_acked == 5
        await batches.aclose()

    asyncio.run(main())


def test_records_below_the_read_offset_are_dropped_and_gaps_recorded() -> None:
    async def main() -> None:
        app, consumer, stream = setup()
        consumer._read_offset[TP0] = 5
        await consumer._hand_over(TP0, [record(n) for n in (3, 4, 5, 6, 9)], stream.queue, 1)
        chunk = stream.queue.get_nowait()
        assert [r.offset for r in chunk.records] == [5, 6, 9]
        assert consumer._read_offset[TP0] == 9
        # Faust's gap (Consumer._add_gap) ends past the record after it.
        assert sorted((i.begin, i.end) for i in consumer._gap[TP0]) == [(7, 10)]
        await consumer._hand_over(TP0, [record(12), record(13)], stream.queue, 1)
        assert sorted((i.begin, i.end) for i in consumer._gap[TP0]) == [(7, 10), (10, 13)]

    asyncio.run(main())


def test_acknowledgements_below_the_committed_offset_are_ignored() -> None:
    async def main() -> None:
        app, consumer, stream = setup()
        consumer._committed_offset[TP0] = 2
        await consumer._hand_over(TP0, [record(n) for n in range(5)], stream.queue, 1)
        batches = take_held_batches(stream, 10, within=0.01)
        (await anext(batches)).ack()
        assert sorted(consumer._acked[TP0]) == [2, 3, 4] and consumer._n_acked == 3
        await batches.aclose()

    asyncio.run(main())


def test_chunks_of_a_suspended_flow_or_an_earlier_generation_are_skipped_untracked() -> None:
    async def main() -> None:
        app, consumer, stream = setup()
        await consumer._hand_over(TP0, [record(n) for n in range(4)], stream.queue, 1)
        batches = take_held_batches(stream, 2, within=0.01)
        first = await anext(batches)
        assert offsets(first) == [0, 1]
        app.consumer_generation_id = 2  # a rebalance: the chunk's rest is stale
        stale = RecordChunk(TP0, [record(4)], 1)
        stream.queue.force_put_nowait(stale)
        stream.queue.force_put_nowait(RecordChunk(TP0, [record(2), record(3)], 2))
        second = await anext(batches)
        assert offsets(second) == [2, 3]
        assert len(consumer.unacked) == 2  # first's piece and second's
        app.flow_control.suspend()
        stream.queue.force_put_nowait(RecordChunk(TP0, [record(4)], 2))
        waiting = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0.05)
        assert not waiting.done() and len(consumer.unacked) == 2
        app.flow_control.resume()  # clears the queue, as Faust does
        stream.queue.force_put_nowait(RecordChunk(TP0, [record(4)], 2))
        assert offsets(await waiting) == [4]
        await batches.aclose()

    asyncio.run(main())


def test_nothing_is_handed_over_while_flow_control_is_suspended() -> None:
    async def main() -> None:
        app, consumer, stream = setup()
        app.flow_control.suspend()
        waiting = asyncio.ensure_future(
            consumer._hand_over(TP0, [record(0)], stream.queue, 1))
        await asyncio.sleep(0.02)
        assert not waiting.done() and stream.queue.empty()
        consumer.suspend_flow.set()  # the consumer's flow stops: the wait is abandoned
        await waiting
        assert stream.queue.empty()

    asyncio.run(main())


def test_the_fetcher_waits_for_room_until_the_taker_takes_or_the_flow_is_suspended() -> None:
    async def main() -> None:
        app, consumer, stream = setup(maxsize=4)
        await consumer._hand_over(TP0, [record(n) for n in range(4)], stream.queue, 1)
        blocked = asyncio.ensure_future(
            consumer._hand_over(TP0, [record(4), record(5)], stream.queue, 1))
        await asyncio.sleep(0.02)
        assert not blocked.done() and stream.queue.qsize() == 1
        batches = take_held_batches(stream, 10, within=0.05)
        first = await anext(batches)
        assert offsets(first) == [0, 1, 2, 3, 4, 5]  # the fetcher had room once taken
        assert blocked.done()
        await consumer._hand_over(TP0, [record(n) for n in range(6, 10)], stream.queue, 1)
        blocked = asyncio.ensure_future(
            consumer._hand_over(TP0, [record(10)], stream.queue, 1))
        await asyncio.sleep(0.02)
        consumer.suspend_flow.set()
        app.flow_control.suspend()
        app.flow_control.clear()
        await blocked
        assert stream.queue.empty() and consumer._room is None
        await batches.aclose()

    asyncio.run(main())


# A rebalance's seek (faust_transport.SeekWithTheFetcherStill) on the records
# path: the sequence of tests/processors/test_faust_stream_seek.py, with the
# fetcher handing chunks to the agent's channel queue.

class Queue(ThrowableQueue[Any]):
    partition: Partition

    def force_put_nowait(self, item: Any) -> None:
        super().force_put_nowait(item)
        if item.records[-1].offset >= COMMITTED + 2 * PER_FETCH - 1:
            self.partition.delivered.set()


class Records(FakeBroker):
    def fetched(self, offsets: range) -> list[Any]:
        return [record(offset, EVENTS) for offset in offsets]


class RecordsOnly(Records, DirectRecords):
    pass


class RecordsAndSeek(Records, DirectRecords, SeekWithTheFetcherStill):
    pass


def seek_while_chunks_flow(kind: type[Any]) -> tuple[set[int], int]:
    """The offsets the agent processed, and the offset Faust's commits reach."""

    async def main() -> tuple[set[int], int]:
        app = faust.App("seek-test-records", broker="kafka://localhost:1")
        app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]
        app.consumer_generation_id = 3
        app._producer = type("Producer", (), {"buffer": Buffer()})()  # type: ignore[attr-defined]
        app.flow_control.resume()
        partition = Partition()
        queue = Queue(maxsize=1000, flow_control=app.flow_control, clear_on_resume=True)
        queue.partition = partition
        channel = type("Channel", (), {"schema": RecordsSchema(), "queue": queue})()
        app.topics._tp_index[EVENTS].add(channel)  # type: ignore[attr-defined]
        consumer: Any = kind(type("Transport", (), {"app": app, "create_transaction_manager":
                                                    lambda self, **_: None})(),
                             lambda message: None, None, None)
        consumer.partition = partition
        consumer._set_active_tps({EVENTS})
        fetcher = Service()
        drainer = asyncio.ensure_future(consumer._drain_messages(fetcher))
        processed: set[int] = set()

        def take() -> None:  # the agent: taken, processed, acknowledged
            while not queue.empty():
                chunk = queue.get_nowait()
                piece = Piece(chunk.tp, chunk.records)
                processed.update(r.offset for r in chunk.records)
                ack_pieces(consumer, [piece])

        while held(queue) < PER_FETCH:  # the agent holds the first fetch's records
            await asyncio.sleep(0)
        first = queue.get_nowait()
        await consumer.perform_seek()
        processed.update(r.offset for r in first.records)
        ack_pieces(consumer, [Piece(first.tp, first.records)])
        queue.clear()  # app.flow_control.resume() clears the agent's queue
        consumer.resume_flow()
        while END - 1 not in processed:
            await asyncio.sleep(0)
            take()
        await fetcher.stop()
        drainer.cancel()
        return processed, commit_all(consumer)

    return asyncio.run(main())


def test_without_the_still_seek_the_records_path_commits_records_never_processed() -> None:
    processed, commit = seek_while_chunks_flow(RecordsOnly)
    assert commit == END and set(range(COMMITTED, commit)) - processed


def test_with_the_still_seek_the_records_path_commits_only_processed_records() -> None:
    processed, commit = seek_while_chunks_flow(RecordsAndSeek)
    assert commit == END
    assert set(range(COMMITTED, commit)) <= processed
