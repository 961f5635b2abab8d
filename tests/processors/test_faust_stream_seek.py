"""A rebalance's seek never lets a record be committed unprocessed
(processors/faust_transport.py, SeekWithTheFetcherStill).

Faust's own consumer code (fetcher loop, read offsets, gaps, acks, commit
offsets) runs here over a fake broker partition, in the order a rebalance's
recovery drives it (``Recovery.on_recovery_completed``): partitions resumed
and the flow already active, ``perform_seek``, then ``flow_control.resume()``
clearing the agent's queue, then the consumer's flow resumed. The fake
consumer seeks as aiokafka does: each partition as soon as its committed
offset is known, while the rest of the seek still awaits the broker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from fake_partition import (
    COMMITTED,
    END,
    EVENTS,
    PER_FETCH,
    FakeBroker,
    Partition,
    commit_all,
)
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP, ConsumerMessage
from mode import Service

from processors.faust_transport import SeekWithTheFetcherStill


class Transport:
    def __init__(self, app: faust.App):
        self.app = app

    def create_transaction_manager(self, **_: Any) -> None:
        return None


class Fake(FakeBroker):
    """Offsets as fetched records, each a Faust message of the current generation."""

    def fetched(self, offsets: range) -> list[Any]:
        return list(offsets)

    def _to_message(self, tp: TP, record: Any) -> ConsumerMessage:
        app: Any = getattr(self, "app")  # noqa: B009  # set by Faust's Consumer
        return ConsumerMessage(tp.topic, tp.partition, record, 0.0, 0, [], b"k", b"v",
                               None, 1, 1, tp, generation_id=app.consumer_generation_id)


class FaustOwn(Fake, FaustConsumer):
    pass


class Ours(Fake, SeekWithTheFetcherStill):
    pass


class Worker:
    """A consumer of ``kind`` fetching from a Partition into the agent's queue, and
    the agent (take_batches) taking from it."""

    def __init__(self, kind: type[Any]):
        app = faust.App("seek-test", broker="kafka://localhost:1")
        app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]
        app.consumer_generation_id = 3
        self.queue: list[Any] = []  # the agent's channel queue
        self.processed: set[int] = set()
        self.partition = partition = Partition()

        async def callback(message: Any) -> None:
            self.queue.append(message)
            if message.offset >= COMMITTED + 2 * PER_FETCH - 1:
                partition.delivered.set()

        self.consumer: Any = kind(Transport(app), callback, None, None)
        self.consumer.partition = partition
        self.consumer._set_active_tps({EVENTS})  # resumed by the recovery
        self.fetcher = Service()
        self.drainer = asyncio.ensure_future(self.consumer._drain_messages(self.fetcher))

    def take(self, count: int) -> None:
        """take_batches: admitted, processed, acknowledged."""
        for message in self.queue[:count]:
            self.processed.add(message.offset)
            self.consumer.ack(message)
        del self.queue[:count]

    async def until_queued(self, count: int) -> None:
        while len(self.queue) < count:
            await asyncio.sleep(0)

    async def resume_and_finish(self) -> int:
        """The rest of on_recovery_completed, then the agent to the partition's end;
        the offset Faust's commits reach."""
        self.queue.clear()  # app.flow_control.resume() clears the agent's queue
        self.consumer.resume_flow()
        while END - 1 not in self.processed:
            await asyncio.sleep(0)
            self.take(len(self.queue))
        await self.fetcher.stop()
        self.drainer.cancel()
        return commit_all(self.consumer)


def seek_while_records_flow(kind: type[Any]) -> tuple[set[int], int]:
    """The fetcher hands records over while the seek awaits the broker: the
    offsets the agent processed, and the offset Faust would commit."""

    async def main() -> tuple[set[int], int]:
        worker = Worker(kind)
        await worker.until_queued(PER_FETCH)  # the agent holds the first fetch's records
        await worker.consumer.perform_seek()
        worker.take(PER_FETCH)  # the batch the agent already had
        return worker.processed, await worker.resume_and_finish()

    return asyncio.run(main())


def seek_while_the_fetcher_commits(kind: type[Any]) -> tuple[set[int], int]:
    """The fetcher holds a record while it commits (every ``broker_commit_every``
    acknowledgements), longer than the seek takes."""

    async def main() -> tuple[set[int], int]:
        worker = Worker(kind)
        consumer, partition = worker.consumer, worker.partition
        committing = asyncio.Event()

        async def commit(*_: Any, **__: Any) -> bool:
            await committing.wait()
            return False

        consumer.commit = commit
        consumer._commit_every = 3
        worker.drainer.cancel()  # started again with the setting it reads once
        worker.drainer = asyncio.ensure_future(consumer._drain_messages(worker.fetcher))
        await worker.until_queued(PER_FETCH)
        worker.take(3)  # the agent's batch; two more records wait in the queue
        while partition.position < COMMITTED + 2 * PER_FETCH:  # the next fetch, held
            await asyncio.sleep(0)
        seek = asyncio.ensure_future(consumer.perform_seek())
        await asyncio.wait({seek}, timeout=1.0)  # the fake seek's broker wait is 0.5 s
        committing.set()
        await seek
        return worker.processed, await worker.resume_and_finish()

    return asyncio.run(main())


def test_faust_own_seek_commits_records_the_cleared_queue_dropped() -> None:
    # The worker's flake (docs/worker.md): why the seek is not Faust's own.
    processed, commit = seek_while_records_flow(FaustOwn)
    never = set(range(COMMITTED, commit)) - processed
    assert commit == END and never == set(range(COMMITTED + PER_FETCH, COMMITTED + 2 * PER_FETCH))


def test_a_seek_with_the_fetcher_still_commits_only_processed_records() -> None:
    processed, commit = seek_while_records_flow(Ours)
    assert commit == END
    assert set(range(COMMITTED, commit)) <= processed


def test_the_seek_waits_for_the_record_the_fetcher_holds() -> None:
    # Seeking first, the fetcher's read offset would be set past the records
    # the cleared queue held, and their second fetch dropped as already read.
    processed, commit = seek_while_the_fetcher_commits(Ours)
    assert commit == END
    assert set(range(COMMITTED, commit)) <= processed
