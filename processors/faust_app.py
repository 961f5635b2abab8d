"""The Faust worker: a thin shell that feeds Kafka messages to the pure core.

Per batch of messages (``processors/batch.py`` does the work): decode each,
apply it to its session, dead-letter what cannot be processed; on a tick,
close the partition's idle sessions and sweep a slice of its stored ones;
write every close to ClickHouse, *then* store the changed sessions in the
RocksDB table (whose changelog is flushed before offsets are committed), and
only then let Faust acknowledge the batch. See docs/worker.md.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import faust
from faust.streams import _current_event  # see _Processing
from faust.types import TP, EventT

from playhead.settings import Settings
from processors.batch import SessionBatch, open_entries
from processors.handling import InvalidMessage, WorkerCounters, decode_event
from processors.metrics import WorkerMetrics
from processors.open_index import OpenSessions
from processors.session import Rules, SessionResult
from processors.state_store import BoundedRocksDBOptions
from schemas import event_codec
from sinks.writer import SinkUnavailable

log = logging.getLogger("playhead.worker")

TICK_HEADER = "playhead-tick"
STATE_TABLE = "session_state"


class StateDirInUse(RuntimeError):
    """Another worker process holds this state folder."""


class _Processing:
    # Faust writes a table change to the changelog partition of the event
    # being processed. In a batch, that is the batch's last event, not the
    # event that changed the key, so bind one of the key's partition.
    def __init__(self, event: EventT):
        self._ref = weakref.ref(event)

    def __enter__(self) -> None:
        self._token = _current_event.set(self._ref)

    def __exit__(self, *_: object) -> None:
        _current_event.reset(self._token)


def lock_state_dir(datadir: Path) -> IO[bytes]:
    """Two workers sharing RocksDB folders would corrupt each other's view: refuse."""
    datadir.mkdir(parents=True, exist_ok=True)
    handle = (datadir / ".lock").open("wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StateDirInUse(
            f"another worker uses {datadir}; give each worker process on one machine its "
            "own PLAYHEAD_STATE_DIR") from None
    return handle  # the lock lives as long as this handle


def build_app(
    settings: Settings,
    write: Callable[[list[SessionResult]], None],
    clock: Callable[[], float] = time.time,
) -> faust.App:
    """The worker app; ``write`` is the sink (blocking; run in a thread)."""
    rules = Rules(
        min_session_seconds=settings.min_session_seconds,
        bucket_seconds=settings.bucket_seconds,
        idle_timeout_seconds=settings.idle_timeout_seconds,
        lateness_seconds=settings.lateness_seconds,
        tombstone_seconds=settings.tombstone_seconds,
    )
    partitions = settings.topic_partitions
    codec = event_codec()
    counters = WorkerCounters()
    datadir = settings.state_dir / "worker" / settings.worker_id
    state_lock = lock_state_dir(datadir)
    app = faust.App(
        settings.worker_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=partitions,
        web_enabled=False,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
    )
    app.state_lock = state_lock  # type: ignore[attr-defined]
    events = app.topic(settings.events_topic, partitions=partitions,
                       key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(settings.dead_letter_topic, partitions=1,
                             key_serializer="raw", value_serializer="raw")
    # bytes types make Faust store keys as UTF-8 and values (state_codec) as they are.
    table = app.Table(STATE_TABLE, default=None, partitions=partitions,
                      options={"driver": "rocksdict"}, key_type=bytes, value_type=bytes)
    # Partition databases open later, on assignment, with these options.
    store_options = BoundedRocksDBOptions(settings.state_memory_mib)
    table.data.rocksdb_options = store_options  # type: ignore[attr-defined]
    indexes: dict[int, OpenSessions] = {}
    sweep_from: dict[int, bytes | None] = {}

    metrics = WorkerMetrics(
        counters, lambda: sum(len(i) for i in list(indexes.values())),
        lambda: store_options.memory(list(table.data._dbs.values())))  # type: ignore[attr-defined]

    def load(key: str, token: Any) -> bytes | None:
        with _Processing(token):
            value = table.get(key)
        return bytes(value) if value is not None else None

    def partition_db(partition: int) -> Any:
        return table.data._db_for_partition(partition)  # type: ignore[attr-defined]

    def index_of(partition: int) -> OpenSessions:
        # Built from the stored sessions the first time a partition is used
        # after an assignment (its recovery from the changelog is done by then).
        if partition not in indexes:
            store = table.data
            items = store._visible_items(partition_db(partition))  # type: ignore[attr-defined]
            indexes[partition] = OpenSessions(open_entries(
                (key.decode(), value) for key, value in items))
        return indexes[partition]

    def sweep_slice(partition: int) -> list[tuple[str, bytes]]:
        """The next ``sweep_batch`` stored entries of a partition, wrapping around."""
        it = partition_db(partition).iter()
        cursor = sweep_from.get(partition)
        if cursor is None:
            it.seek_to_first()
        else:
            it.seek(cursor)
            if it.valid() and it.key() == cursor:
                it.next()
        offset_key = table.data.offset_key  # type: ignore[attr-defined]
        out: list[tuple[str, bytes]] = []
        while it.valid() and len(out) < settings.sweep_batch:
            key = it.key()
            if key != offset_key:
                out.append((key.decode(), it.value()))
            it.next()
        sweep_from[partition] = it.key() if it.valid() else None
        return out

    rebalanced = [False]

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def forget_indexes(sender: Any, assigned: set[TP], **_: Any) -> None:
        # Another worker may have changed these partitions' sessions meanwhile.
        # Dropped at the next batch, not here: a batch in flight (awaiting the
        # sink) must not rebuild an index without its own unwritten changes.
        rebalanced[0] = True

    async def dead_letter(event: EventT, err: InvalidMessage) -> None:
        counters.count_dead_letter(err.reason)
        message = event.message
        log.warning("dead-lettering %s[%s]@%s: %s", message.topic, message.partition,
                    message.offset, err)
        await dead_letters.send(
            key=message.key, value=message.value,
            headers=[
                ("playhead-dlq-reason", err.reason.encode()),
                ("playhead-dlq-detail", err.detail.encode()),
                ("playhead-dlq-source", f"{message.topic}/{message.partition}/"
                                        f"{message.offset}".encode()),
            ],
        )

    async def flush(results: list[SessionResult]) -> None:
        started = time.perf_counter()
        delay = 0.5
        while True:
            try:
                await asyncio.get_running_loop().run_in_executor(None, write, results)
                break
            except SinkUnavailable as err:
                # Holding the batch holds its offsets: nothing is acknowledged
                # that is not in ClickHouse.
                log.error("sink failed, retrying in %.1fs: %s", delay, err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        metrics.sink_batch.observe(len(results))
        metrics.sink_seconds.observe(time.perf_counter() - started)

    async def changelog_handed_over() -> None:
        # Table changes wait in Faust's producer buffer. Faust flushes it before
        # committing offsets, but its flush gives up as soon as one message
        # takes over 0.1 s to hand over (a rebalance, a slow broker) and the
        # commit goes ahead: a worker stopped or killed then loses state
        # changes of events whose offsets are committed. So the batch is only
        # acknowledged once every change is with the Kafka client, whose own
        # flush (before the commit) waits for delivery.
        buffer = app.producer.buffer
        while buffer.size:
            await buffer.flush_atmost(buffer.size)

    @app.agent(events)
    async def process(stream: Any) -> None:
        async for messages in stream.take_events(settings.sink_batch_size,
                                                 within=settings.sink_batch_seconds):
            if rebalanced[0]:
                rebalanced[0] = False
                indexes.clear()
                sweep_from.clear()
                metrics.lag.clear()
            work = SessionBatch(clock(), rules, load, counters)
            ticks: dict[int, EventT] = {}
            for event in messages:
                message = event.message
                if message.headers and TICK_HEADER in dict(message.headers):
                    ticks[message.partition] = event
                    continue
                try:
                    decoded = decode_event(message.value, codec)
                    work.apply(decoded, index_of(message.partition), event)
                except InvalidMessage as err:
                    await dead_letter(event, err)
            for partition, tick in ticks.items():
                work.close_idle(index_of(partition), tick)
                work.sweep(sweep_slice(partition), tick)
            if work.emitted:
                await flush(list(work.emitted.values()))
            for change in work.changes():
                with _Processing(change.token):  # type: ignore[arg-type]
                    if change.value is None:
                        table.pop(change.key, None)
                    else:
                        table[change.key] = change.value
            await changelog_handed_over()
            for result in work.closes:
                counters.count_close(result)
            last = {m.message.tp: m.message.offset for m in messages}
            for tp, offset in last.items():
                metrics.lag[tp.partition] = max(app.consumer.highwater(tp) - offset - 1, 0)

    @app.timer(settings.tick_seconds)
    async def tick() -> None:
        # Idle sessions close inside the stream (table changes need an event
        # of their partition), so send each owned partition a tick message.
        stamp = str(clock()).encode()
        for tp in app.assignor.assigned_actives():
            if tp.topic == settings.events_topic:
                await events.send(value=b"", partition=tp.partition,
                                  headers=[(TICK_HEADER, stamp)])

    @app.timer(60.0)
    async def report() -> None:
        log.info("events %s sessions %s dead letters %s", dict(counters.events),
                 dict(counters.sessions), dict(counters.dead_letters))

    metrics.serve(settings.metrics_host, settings.metrics_port)
    return app
