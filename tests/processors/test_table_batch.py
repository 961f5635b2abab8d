"""A batch's table changes written in one go store what Faust's table stores change by change.

The worker's state table runs on a real Faust app, store and producer buffer;
only the Kafka client is a stand-in that records what it is given and
delivers it at once. The reference is Faust's own path (``table[key] =
value`` and ``table.pop(key, None)`` under the change's event), on a second
app. Both must leave the same RocksDB databases (sessions and persisted
changelog offsets) and send the same changelog records; and a table
recovered from those records with Faust's recovery write
(``Store.apply_changelog_batch``) must hold exactly what was written.
"""

from __future__ import annotations

import asyncio
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import faust
from aiokafka.structs import RecordMetadata, TopicPartition
from faust.types import TP
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from processors import faust_transport
from processors.batch import Change
from processors.state_table import StateTable, _Processing

PARTITIONS = 3


class Builder:
    """aiokafka's BatchBuilder as the state table fills it: full at ``BATCH_BYTES``."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None, Any]] = []
        self.size = 0

    def append(self, *, timestamp: int | None, key: bytes, value: bytes | None,
               headers: Any) -> object | None:
        assert timestamp is None
        size = len(key) + len(value or b"")
        if self.size + size > BATCH_BYTES:
            return None
        self.records.append((key, value, headers))
        self.size += size
        return object()


# Small, so that batches fill and records larger than a batch occur (keys of 13 bytes,
# values of 1-40).
BATCH_BYTES = 45


class Kafka:
    """aiokafka's producer as Faust and the state table use it: ``send`` and
    ``send_batch`` return the delivery of a record or a batch, here delivered at
    once with the partition's next offset (a batch's: its first record's)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bytes, bytes | None, Any]] = []
        self.offsets: dict[int, int] = {}
        self.batches = 0

    def _deliver(self, topic: str, partition: int,
                 records: list[tuple[bytes, bytes | None, Any]]) -> asyncio.Future[RecordMetadata]:
        first = self.offsets.get(partition, -1) + 1
        self.offsets[partition] = first + len(records) - 1
        self.sent.extend((topic, partition, key, value, headers)
                         for key, value, headers in records)
        delivery = asyncio.get_running_loop().create_future()
        delivery.set_result(RecordMetadata(topic, partition, TopicPartition(topic, partition),
                                           first, -1, 0, -1))
        return delivery

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                   partition: int | None = None, timestamp_ms: int | None = None,
                   headers: Any = None) -> asyncio.Future[RecordMetadata]:
        assert partition is not None and timestamp_ms is None
        return self._deliver(topic, partition, [(key or b"", value, headers)])

    def create_batch(self) -> Builder:
        return Builder()

    async def send_batch(self, batch: Builder, topic: str, *,
                         partition: int) -> asyncio.Future[RecordMetadata]:
        assert batch.records
        self.batches += 1
        return self._deliver(topic, partition, batch.records)

    def by_partition(self) -> dict[int, list[tuple[str, bytes, bytes | None, Any]]]:
        """What was sent, in order, per partition (the order Kafka keeps)."""
        out: dict[int, list[tuple[str, bytes, bytes | None, Any]]] = {}
        for topic, partition, key, value, headers in self.sent:
            out.setdefault(partition, []).append((topic, key, value, headers))
        return out


class Token:
    """A record of the events topic's ``partition`` (what a change carries)."""

    def __init__(self, partition: int):
        self.partition = partition
        self.topic = "events"


@contextmanager
def state_table() -> Iterator[tuple[StateTable, Kafka]]:
    with tempfile.TemporaryDirectory() as datadir:
        app = faust.App("table-batch", broker=f"{faust_transport.SCHEME}://localhost:1",
                        store="rocksdb://", datadir=datadir, topic_partitions=PARTITIONS,
                        web_enabled=False)
        state = StateTable(app, PARTITIONS, 64, 100)
        kafka = Kafka()
        producer: Any = app.producer
        producer._producer = kafka
        producer._started.set()
        table: Any = state.table
        table._verified_source_topics_for_partitions.add("events")
        yield state, kafka


async def settled(state: StateTable) -> None:
    await state.changelog_handed_over()
    for _ in range(3):  # the deliveries' callbacks (the persisted offsets)
        await asyncio.sleep(0)


def contents(state: StateTable) -> dict[int, dict[bytes, bytes]]:
    store: Any = state.table.data
    return {partition: dict(store._db_for_partition(partition).items())
            for partition in range(PARTITIONS)}


def partition_of(key: str) -> int:
    return zlib.crc32(key.encode()) % PARTITIONS


@st.composite
def batches(draw: st.DrawFn) -> list[list[tuple[int, str, bytes | None]]]:
    """Batches of sets, overwrites and deletions (of stored keys and absent ones)."""
    keys = [f"org:session-{n}" for n in range(8)]
    change = st.tuples(st.sampled_from(keys),
                       st.none() | st.binary(min_size=1, max_size=40))
    return [[(partition_of(key), key, value) for key, value in draw(st.lists(change))]
            for _ in range(draw(st.integers(1, 4)))]


def run_both(plan: list[list[tuple[int, str, bytes | None]]]) -> int:
    """Both ways over ``plan``, compared; how many record batches ours sent."""
    tokens = [Token(partition) for partition in range(PARTITIONS)]

    async def batched(state: StateTable) -> None:
        buffer: Any = state._app.producer.buffer
        await buffer.start()
        try:
            for batch in plan:
                state.store(Change(key, value, tokens[partition])
                            for partition, key, value in batch)
                await settled(state)
        finally:
            await buffer.stop()

    async def faust_way(state: StateTable) -> None:
        buffer: Any = state._app.producer.buffer
        await buffer.start()
        try:
            for batch in plan:
                for partition, key, value in batch:
                    with _Processing(tokens[partition]):  # type: ignore[arg-type]
                        if value is None:
                            state.table.pop(key, None)
                        else:
                            state.table[key] = value
                await settled(state)
        finally:
            await buffer.stop()

    async def main() -> int:
        # Faust's services take the running loop when created: all in one loop.
        with state_table() as (ours, our_kafka), state_table() as (reference, faust_kafka):
            await batched(ours)
            await faust_way(reference)
            assert our_kafka.by_partition() == faust_kafka.by_partition()
            assert contents(ours) == contents(reference)
            store: Any = ours.table.data
            for partition, last in our_kafka.offsets.items():
                assert store.persisted_offset(TP("x", partition)) == last

            with state_table() as (recovered, _):
                # Faust's recovery: the changelog's records, applied in order.
                records, offsets = [], dict.fromkeys(range(PARTITIONS), -1)
                for topic, partition, key, value, _ in sorted(our_kafka.sent,
                                                              key=lambda r: r[1]):
                    offsets[partition] += 1
                    records.append(SimpleNamespace(message=SimpleNamespace(
                        tp=TP(topic, partition), offset=offsets[partition],
                        partition=partition, key=key, value=value)))
                recovered_store: Any = recovered.table.data
                recovered_store.apply_changelog_batch(records, to_key=None, to_value=None)
                assert contents(recovered) == contents(ours)

            # A stored session is read as Faust's table reads it under the change's
            # event (load() then decides on erasures, which these values are not).
            for key in {key for batch in plan for _, key, _ in batch} | {"org:never-stored"}:
                token = tokens[partition_of(key)]
                with _Processing(token):  # type: ignore[arg-type]
                    expected = reference.table.get(key)
                assert ours._stored(key, token) == expected
            return our_kafka.batches

    return asyncio.run(main())


@settings(max_examples=examples(40), deadline=None)
@given(plan=batches())
def test_batches_store_and_send_what_faust_does_and_recover_exactly(
        plan: list[list[tuple[int, str, bytes | None]]]) -> None:
    run_both(plan)


def test_a_partition_s_changes_go_in_full_batches_in_order() -> None:
    key = "org:session-1"
    partition = partition_of(key)
    changes: list[tuple[int, str, bytes | None]] = [
        (partition, key, bytes([n]) * 8) for n in range(6)]
    changes.append((partition, key, b"x" * 40))  # larger than a batch: sent alone
    changes += [(partition, key, None), (partition, key, b"after")]
    # Nine records: three batches of two, the large one alone, then a batch of two.
    assert run_both([changes]) == 4


def test_a_deletion_of_an_absent_key_writes_and_sends_nothing() -> None:
    key = "org:absent"
    partition = partition_of(key)
    run_both([[(partition, key, None)], [(partition, key, b"v"), (partition, key, None),
                                         (partition, key, None)]])

    async def main() -> None:
        with state_table() as (state, kafka):
            buffer: Any = state._app.producer.buffer
            await buffer.start()
            try:
                state.store([Change(key, None, Token(partition))])
                await settled(state)
            finally:
                await buffer.stop()
            assert kafka.sent == [] and contents(state) == {p: {} for p in range(PARTITIONS)}

    asyncio.run(main())
