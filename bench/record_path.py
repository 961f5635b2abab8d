"""Faust's per-record path in the worker, without a broker: CPU per Kafka record from
the fetch to the acknowledgement, Faust's path against the agent's records path.

Builds the worker's real Faust app objects (the ``playhead://`` transport's
consumer, the conductor, the agent's channel and stream, QuietMonitor) without
starting the app, and feeds ``--records`` aiokafka records, ``--fetch`` of a
partition at a time over ``--partitions`` partitions, through

* ``faust``: the fetcher's per-record path (getmany's checks, read offsets,
  ``wait_first`` with the conductor's ``on_message``: an Event per record on
  the channel queue), then ``take_held_batches`` (per-event admission and
  tracking) and ``HeldBatch.ack`` (``Event.ack`` → ``Consumer.ack``, sensors);
* ``records``: ``DirectRecords._hand_over`` (a chunk per partition's fetch),
  ``take_held_batches`` (a piece per chunk) and ``HeldBatch.ack``
  (``ack_pieces``).

Batches of ``--batch`` records, acknowledged as the worker does once done.
Only the record path runs: no decoding, no sessions, no table. CPU time
(``time.process_time``) per record, the best of ``--runs`` alternating runs.
Progress on stderr, one JSON line on stdout.
Usage: .venv/bin/python bench/record_path.py [--records 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import faust  # noqa: E402
from aiokafka.structs import ConsumerRecord, TopicPartition  # noqa: E402

from processors import faust_records, faust_transport  # noqa: E402,F401
from processors.faust_monitor import QuietMonitor  # noqa: E402
from processors.faust_stream import take_held_batches  # noqa: E402

TOPIC = "events"


def say(message: str) -> None:
    print(f"[record_path {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build() -> tuple[Any, Any, Any]:
    app = faust.App("record-path-bench", broker=f"{faust_transport.SCHEME}://localhost:1",
                    web_enabled=False, monitor=QuietMonitor())
    topic = app.topic(TOPIC, schema=faust_records.RecordsSchema())
    channel = topic.clone(is_iterator=True)
    stream = app.stream(channel)
    consumer = app.consumer
    consumer._commit_every = None  # nothing to commit to without a broker
    app.flow_control.resume()
    return app, consumer, stream


def fetches(records: int, partitions: int, fetch: int) -> list[tuple[Any, list[Any]]]:
    value = b"\x00" * 160  # about a one-event record's Avro value
    out: list[tuple[Any, list[Any]]] = []
    offsets = [0] * partitions
    sent = 0
    while sent < records:
        for partition in range(partitions):
            tp = TopicPartition(TOPIC, partition)
            count = min(fetch, records - sent)
            if count <= 0:
                break
            start = offsets[partition]
            out.append((tp, [ConsumerRecord(TOPIC, partition, offset, 0, 0, b"org/session",
                                            value, None, 11, len(value), ())
                             for offset in range(start, start + count)]))
            offsets[partition] += count
            sent += count
    return out


async def run(path: str, records: int, partitions: int, fetch: int, batch: int) -> float:
    app, consumer, stream = build()
    queue = stream.channel.queue
    tps = {TopicPartition(TOPIC, p) for p in range(partitions)}
    conductor = app.topics
    for tp in tps:
        conductor._tp_index[tp].add(stream.channel)
    conductor._acking_topics.add(TOPIC)  # as subscribing does (Conductor._update_indices)
    conductor._update_callback_map()
    work = fetches(records, partitions, fetch)
    generation = app.consumer_generation_id

    async def fetcher() -> None:
        for tp, fetched in work:
            if path == "faust":
                await consumer._deliver_each(tp, fetched, generation)
            else:
                await consumer._hand_over(tp, fetched, queue, generation)

    async def agent() -> int:
        taken = 0
        async for held in take_held_batches(stream, batch, 0.01):
            taken += len(held.records)
            held.ack()
            if taken >= records:
                break
        return taken

    started = time.process_time()
    feeding = asyncio.ensure_future(fetcher())
    taken = await agent()
    await feeding
    spent = time.process_time() - started
    assert taken == records, (taken, records)
    acked = sum(len(consumer._acked[tp]) for tp in tps)
    assert acked == records and not consumer.unacked, (acked, len(consumer.unacked))
    return spent / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--fetch", type=int, default=500,
                        help="records of a partition per fetch (aiokafka's max_poll_records)")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    best: dict[str, float] = {}
    for n in range(args.runs):
        for path in ("faust", "records"):
            us = asyncio.run(run(path, args.records, args.partitions, args.fetch, args.batch))
            best[path] = min(best.get(path, us), us)
            say(f"run {n + 1}: {path} {us:.2f} µs/record")
    result = {"records": args.records, "partitions": args.partitions, "fetch": args.fetch,
              "batch": args.batch, "runs": args.runs,
              "faust_us_per_record": round(best["faust"], 2),
              "records_us_per_record": round(best["records"], 2),
              "ratio": round(best["faust"] / best["records"], 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
