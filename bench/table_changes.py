"""CPU time per table change: Faust's table path against the state table's batch path.

Both run in one process on a real Faust app, RocksDB store and producer
buffer (the worker's transport); only the Kafka client is a stand-in that
delivers at once. The batch path fills aiokafka's real record batches
(``create_batch``); Faust's path's ``send`` costs nothing here, so what aiokafka
spends per record sent that way (a coroutine, a future, the accumulator's
bookkeeping) is left out, and the figure understates the difference. Each
round stores ``--changes`` session values of ``--bytes`` bytes over 4
partitions, hands them over and lets the deliveries' callbacks (persisted
offsets) run. Prints the best round of each, in microseconds a change.
Usage: PYTHONPATH=. .venv/bin/python bench/table_changes.py [--changes 5000] [--rounds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faust  # noqa: E402
from aiokafka.producer.message_accumulator import BatchBuilder  # noqa: E402
from aiokafka.structs import RecordMetadata, TopicPartition  # noqa: E402

from processors import faust_transport  # noqa: E402
from processors.batch import Change  # noqa: E402
from processors.state_table import StateTable, _Processing  # noqa: E402

PARTITIONS = 4


class Kafka:
    def __init__(self) -> None:
        self.offsets: dict[int, int] = {}

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                   partition: int = 0, timestamp_ms: int | None = None,
                   headers: Any = None) -> asyncio.Future[RecordMetadata]:
        offset = self.offsets[partition] = self.offsets.get(partition, -1) + 1
        delivery = asyncio.get_running_loop().create_future()
        delivery.set_result(RecordMetadata(topic, partition, TopicPartition(topic, partition),
                                           offset, -1, 0, -1))
        return delivery

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(256 * 1024, 0)  # the worker's producer_max_batch_size

    async def send_batch(self, batch: BatchBuilder, topic: str, *,
                         partition: int) -> asyncio.Future[RecordMetadata]:
        first = self.offsets.get(partition, -1) + 1
        self.offsets[partition] = first + batch.record_count() - 1
        batch.close()
        delivery = asyncio.get_running_loop().create_future()
        delivery.set_result(RecordMetadata(topic, partition, TopicPartition(topic, partition),
                                           first, -1, 0, -1))
        return delivery


class Token:
    """A record of the events topic's ``partition`` (what a change carries)."""

    def __init__(self, partition: int):
        self.partition = partition
        self.topic = "events"


async def measure(faust_way: bool, changes: int, rounds: int, size: int) -> float:
    with tempfile.TemporaryDirectory() as datadir:
        app = faust.App("bench", broker=f"{faust_transport.SCHEME}://localhost:1",
                        store="rocksdb://", datadir=datadir, topic_partitions=PARTITIONS,
                        web_enabled=False)
        state = StateTable(app, PARTITIONS, 64, 100)
        producer: Any = app.producer
        producer._producer = Kafka()
        producer._started.set()
        table: Any = state.table
        table._verified_source_topics_for_partitions.add("events")
        tokens = [Token(p) for p in range(PARTITIONS)]
        await producer.buffer.start()
        best = float("inf")
        try:
            for n in range(rounds):
                batch = [Change(f"org:session-{n % 2}-{i}", bytes([n % 256]) * size,
                                tokens[i % PARTITIONS]) for i in range(changes)]
                start = time.process_time()
                if faust_way:  # what StateTable.commit did before, change by change
                    for change in batch:
                        with _Processing(change.token):  # type: ignore[arg-type]
                            state.table[change.key] = change.value
                else:
                    state.store(batch)
                await state.changelog_handed_over()
                for _ in range(3):
                    await asyncio.sleep(0)
                best = min(best, (time.process_time() - start) / changes)
        finally:
            await producer.buffer.stop()
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--bytes", type=int, default=400)
    args = parser.parse_args()
    out = {}
    for name, faust_way in (("faust_us_per_change", True), ("batch_us_per_change", False),
                            ("faust_us_per_change_again", True),
                            ("batch_us_per_change_again", False)):
        out[name] = round(asyncio.run(measure(faust_way, args.changes, args.rounds,
                                              args.bytes)), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
