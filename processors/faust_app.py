"""The Faust worker: a thin shell that feeds Kafka messages to the pure core.

Per batch of messages (``processors/batch.py`` does the work): decode each,
apply it to its session, dead-letter what cannot be processed; on a tick,
close the partition's idle sessions and sweep a slice of its stored ones;
write every close to ClickHouse, *then* store the changed sessions in the
RocksDB table (whose changelog is flushed before offsets are committed), and
only then acknowledge the batch. See docs/worker.md.

The steps each have a home: the state table and its indexes
(``state_table.py``), dead letters and their limit (``dead_letters.py``),
the sink with its retry and isolation (``sink_flusher.py``), metrics and
liveness (``metrics.py``), Faust's transport and the agent's batches without
Faust's per-record costs (``faust_transport.py``, ``faust_records.py``,
``faust_stream.py``). This module wires them to Faust's topics, agent and
timers.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from math import isinf
from pathlib import Path
from typing import IO, Any, Protocol

import faust
from faust.types import TP

from processors import faust_records, faust_transport
from processors.batch import SessionBatch
from processors.batch_pipeline import Pipeline
from processors.completeness import Bound, partition_bounds
from processors.dead_letters import (
    ConsecutiveLimit,
    DeadLetterLimitExceeded,
    DeadLetters,
    Headers,
)
from processors.erasures import ErasedSessions
from processors.faust_monitor import QuietMonitor
from processors.faust_records import Record
from processors.faust_stream import HeldBatch, take_held_batches
from processors.handling import InvalidMessage, Refused, WorkerCounters, decode_events
from processors.metrics import Progress, WorkerMetrics
from processors.session import SessionResult
from processors.sink_flusher import SinkFlusher
from processors.state_table import StateTable
from processors.watermark_writer import WatermarkWriter
from processors.worker_config import WorkerConfig
from schemas import event_codec
from schemas.event import PlaybackEvent

log = logging.getLogger("playhead.worker")

TICK_HEADER = "playhead-tick"
# What apply_plainly leaves of a message: the refusal that stopped it (None when a
# Refused event did), its decoded events (none: it could not be read), how many applied.
Leftover = tuple[InvalidMessage | None, list[PlaybackEvent | Refused], int]


class StateDirInUse(RuntimeError):
    """Another worker process holds this state folder."""


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


class Sink(Protocol):
    """What the worker needs of its sink (sinks.writer.ClickHouseSink); blocking calls."""

    def write(self, results: Sequence[SessionResult]) -> None: ...
    def ping(self) -> bool: ...
    def refuses_content(self, err: BaseException) -> bool: ...


def tick_stamp(headers: Any) -> float | None:
    """The sender's clock when it sent a tick message (None: not a tick, or unreadable)."""
    for name, value in headers or ():
        if name == TICK_HEADER:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def stall_cause(progress: Progress) -> str:
    """Where a stalled worker waits, for its log: /livez says *that* it is stuck, an
    SRE (or a failed test) needs to know *where*."""
    if silent := progress.silent():
        return (f"partitions {[tp.partition for tp in silent]} hand over nothing, not even "
                "their ticks: the consumer stopped fetching them (after a rebalance, "
                "faust-streaming/faust#629); a restart recovers them")
    if progress.in_flight_since is None:
        return ("no batch in flight: Faust hands the agent no messages (a consumer that "
                "stopped fetching after a rebalance; a restart recovers it)")
    held = progress.clock() - progress.in_flight_since
    chains = [chain for chain in map(_await_chain, asyncio.all_tasks())
              # the agent's loop, or a batch's write and store (batch_pipeline.py)
              if any(name.startswith(("batches ", "batch_in_turn ")) for name in chain)]
    return (f"a batch has been in flight for {held:.0f} s"
            + "".join(f", awaiting in {' -> '.join(chain)}" for chain in chains))


def _await_chain(task: asyncio.Task[Any]) -> list[str]:
    # Task.get_stack() gives a suspended coroutine's outermost frame only; the
    # await point is at the end of the cr_await chain.
    out: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None and len(out) < 30:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            out.append(f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name}:"
                       f"{frame.f_lineno})")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return out


def build_app(config: WorkerConfig, sink: Sink, clock: Callable[[], float] = time.time,
              write_bounds: Callable[[Sequence[Bound]], None] | None = None,
              erased: ErasedSessions | None = None) -> faust.App:
    """The worker app over ``sink`` (its blocking calls run in a thread).

    ``write_bounds`` stores the complete-through bounds (sinks.completeness);
    without it, or without ``config.watermark_margin``, the worker writes none.
    ``erased``: the erasures the worker follows; stored sessions they cover are
    dropped when next used.
    """
    rules, bounds, partitions = config.rules, config.bounds, config.partitions
    codec = event_codec()
    counters = WorkerCounters()
    datadir = config.state_dir
    state_lock = lock_state_dir(datadir)
    app = faust.App(
        config.worker_id,
        # The aiokafka transport without a task per record (faust_transport.py).
        broker=f"{faust_transport.SCHEME}://{config.kafka_bootstrap}",
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=partitions,
        web_enabled=False,
        producer_acks=-1,
        # A batch's table changes (a few hundred bytes each, thousands a batch)
        # reach aiokafka together (faust_transport.BulkProducerBuffer); with
        # Faust's 16 KiB a partition's batch fills every few dozen and the rest
        # wait for it to leave. Well under the broker's 1 MB message limit.
        producer_max_batch_size=256 * 1024,
        consumer_auto_offset_reset="earliest",
        monitor=QuietMonitor(),
    )
    app.state_lock = state_lock  # type: ignore[attr-defined]  # lives as long as the app
    # Its records reach the agent a fetch at a time (faust_records.py).
    events = app.topic(config.events_topic, partitions=partitions,
                       schema=faust_records.RecordsSchema())
    dead_letter_topic = app.topic(config.dead_letter_topic, partitions=1,
                                  key_serializer="raw", value_serializer="raw")
    margin = config.watermark_margin if write_bounds is not None else None
    # Sessions count as able to change for a little longer than their window:
    # a worker whose clock is behind may take the partition over and still
    # re-open them.
    skew = config.watermark_skew
    following = replace(config.rules, lateness_seconds=config.rules.lateness_seconds + skew)
    state = StateTable(app, partitions, config.state_memory_mib, config.sweep_batch,
                       following if margin is not None else None, clock, erased)
    progress = Progress(config.stall_seconds)
    metrics = WorkerMetrics(counters, state.open_sessions, state.memory, progress)

    async def send_dead_letter(key: bytes | None, value: bytes | None,
                               headers: Headers) -> None:
        await dead_letter_topic.send(key=key, value=value, headers=headers)

    dead_letters = DeadLetters(send_dead_letter, counters, codec,
                               ConsecutiveLimit(config.dead_letter_limit))

    async def in_thread(call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, call, *args)

    async def write(results: Sequence[SessionResult]) -> None:
        await in_thread(sink.write, results)

    async def ping() -> bool:
        return bool(await in_thread(sink.ping))

    def retrying(error: str | None) -> None:
        progress.sink_error = error

    async def store_bounds(bounds: Sequence[Bound]) -> None:
        assert write_bounds is not None
        await in_thread(write_bounds, bounds)

    async def delivered() -> None:
        # Faust's flush drains its buffer, then waits until the Kafka client
        # has delivered everything (state changes included).
        await app.producer.flush()

    watermark = WatermarkWriter(delivered, store_bounds, clock)
    metrics.complete_through = lambda: dict(watermark.written)
    metrics.complete_through_written = lambda: watermark.written_at

    def follow_watermark(work: SessionBatch, ticks: dict[int, Record]) -> None:
        # After the batch's rows are written and its state handed over: a bound
        # must never cover a change not yet stored.
        if margin is None:
            return
        # A batch changes thousands of sessions of a few organizations at one
        # moment: each organization's earliest per partition is what the floors
        # keep of them all (record keeps the minimum), so it is recorded once.
        earliest_of: dict[tuple[int, str], float] = {}
        for token, organization, earliest in work.changing(skew):
            # The core keeps a change's token opaque; here it is the Kafka record.
            where = (token.partition, organization)  # type: ignore[attr-defined]
            known = earliest_of.get(where)
            if isinf(earliest):  # record skips these: they must not hide another's
                continue
            if known is None or earliest < known:
                earliest_of[where] = earliest
        for (partition, organization), earliest in earliest_of.items():
            pending = state.pending(partition)
            if pending is not None:
                pending.record(organization, earliest, work.now)
        for partition, tick in ticks.items():
            stamp = tick_stamp(tick.headers)
            pending = state.pending(partition)
            if stamp is None or pending is None:
                continue
            watermark.offer(partition, partition_bounds(
                partition, partitions, stamp, margin, pending.floors(work.now)))

    flusher = SinkFlusher(write, ping, dead_letters.session, sink.refuses_content, retrying)
    rebalanced = [False]

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust types receivers as sync
    async def forget_indexes(sender: Any, assigned: set[TP], **_: Any) -> None:
        # Dropped at the next batch, not here: a batch in flight (awaiting the
        # sink) must not rebuild an index without its own unwritten changes.
        rebalanced[0] = True
        progress.assigned()

    async def flush(results: list[SessionResult]) -> None:
        started = time.perf_counter()
        await flusher.flush(results)
        metrics.sink_batch.observe(len(results))
        metrics.sink_seconds.observe(time.perf_counter() - started)

    def apply_plainly(work: SessionBatch, message: Record) -> Leftover | None:
        """Every event of one message to its session, as far as nothing is refused.

        None when all were applied, as for nearly every message; otherwise what
        ``apply_rest`` dead-letters and applies from the first refusal on. No
        coroutine, no source string, one index lookup and one reset of the
        dead-letter limit per message: this runs per message.
        """
        try:
            decoded = decode_events(message.value, codec, bounds)
        except InvalidMessage as err:
            return err, [], 0
        index = state.index(message.partition)
        applied = 0
        try:
            for item in decoded:
                if type(item) is Refused:
                    break
                work.apply(item, index, message)  # type: ignore[arg-type]  # not Refused
                applied += 1
        except InvalidMessage as err:
            if applied:
                dead_letters.limit.processed()
            return err, decoded, applied
        if applied:
            dead_letters.limit.processed()  # consecutive dead letters are counted anew
        return None if applied == len(decoded) else (None, decoded, applied)

    async def apply_rest(work: SessionBatch, message: Record, leftover: Leftover) -> None:
        """Dead-letter what ``apply_plainly`` could not apply, and apply the events
        after it one by one, dead-lettering each that cannot be processed."""
        refusal, decoded, applied = leftover
        source = f"{message.topic}/{message.partition}/{message.offset}"
        if not decoded:  # the message as a whole could not be read
            assert refusal is not None
            await dead_letters.message(message.key, message.value, source, refusal)
            return
        alone = len(decoded) == 1
        for index, item in enumerate(decoded[applied:], applied):
            where = source if alone else f"{source}#{index}"
            if isinstance(item, Refused):
                # A batch's bad event is dead-lettered on its own, re-encoded as
                # a single-event message: replaying it must not replay its neighbours.
                value = message.value if alone else codec.encode(item.record)
                await dead_letters.message(message.key, value, where, item.error)
                continue
            if refusal is None:
                try:
                    work.apply(item, state.index(message.partition), message)
                except InvalidMessage as err:
                    refusal = err
                else:
                    dead_letters.limit.processed()
                    continue
            value = message.value if alone else codec.encode(item.to_record())
            await dead_letters.message(message.key, value, where, refusal)
            refusal = None

    @app.agent(events)
    async def process(stream: Any) -> None:
        try:
            await batches(stream)
        except DeadLetterLimitExceeded as err:
            # Faust would restart the agent on the same messages; stop the worker instead.
            log.critical("stopping the worker: %s", err)
            await app.crash(err)

    async def batches(stream: Any) -> None:
        # Faust's conductor flushes (and warns "producer buffer full") whenever more
        # than 100 table changes wait, on every message it hands over while a
        # batch stores its sessions. Each batch already waits for all of them
        # (changelog_handed_over), so let a whole batch's changes wait quietly.
        app.producer.buffer.max_messages = max(
            100, config.sink_batch_size + config.sweep_batch * partitions)
        pipeline = Pipeline(progress)
        try:
            async for held in take_held_batches(stream, config.sink_batch_size,
                                                config.sink_batch_seconds):
                await process_batch(pipeline, held)
            await pipeline.drain()  # the stream ended (a stop): finish what was taken
        except asyncio.CancelledError:
            # The pipeline cancels the agent when a batch fails to finish.
            failure = pipeline.failure
            current = asyncio.current_task()
            if failure is None or current is None:
                raise
            current.uncancel()
            raise failure from None
        finally:
            # Batches not finished (a failure, a cancelled agent) were never
            # acknowledged: their records come again, so their held writes go.
            pipeline.cancel()
            state.abandon()
            await pipeline.cancelled()

    async def process_batch(pipeline: Pipeline, held: HeldBatch) -> None:
        """Decode, apply and settle a batch in memory while the one before is written,
        then hand its write, store and acknowledgement to the pipeline."""
        messages = held.records
        if rebalanced[0]:
            # Indexes are rebuilt from stored sessions: every batch taken before
            # the rebalance is stored first.
            await pipeline.drain()
            rebalanced[0] = False
            state.forget_indexes()
            owned = set(app.assignor.assigned_actives())
            progress.forget(owned)
            watermark.forget({tp.partition for tp in owned if tp.topic == config.events_topic})
        offsets = held.last
        pipeline.started(held.first, offsets)
        state.begin()
        work = SessionBatch(clock(), rules, state.load, counters)
        ticks: dict[int, Record] = {}
        for message in messages:
            if message.headers and TICK_HEADER in dict(message.headers):
                ticks[message.partition] = message
            else:
                leftover = apply_plainly(work, message)
                if leftover is not None:
                    await apply_rest(work, message, leftover)
        if ticks:
            # The sweep reads the stored sessions in key order: the batch before
            # must be stored, or its new sessions would be missing from the slice.
            await pipeline.drain()
        for partition, tick in ticks.items():
            work.close_idle(state.index(partition), tick)
            work.sweep(state.sweep_slice(partition), tick)
        emitted = list(work.emitted.values())
        staged = state.stage(work.changes())

        async def finish() -> None:
            if emitted:
                await flush(emitted)
            state.commit(staged)
            await state.changelog_handed_over()
            follow_watermark(work, ticks)
            for result in work.closes:
                counters.count_close(result)
            held.ack()
            pipeline.done(offsets, {tp: app.consumer.highwater(tp) for tp in offsets})

        await pipeline.finish(finish)

    @app.timer(config.tick_seconds)  # type: ignore[untyped-decorator]  # faust: no hints
    async def tick() -> None:
        # Idle sessions close inside the stream (table changes need an event
        # of their partition), so send each owned partition a tick message.
        stamp = str(clock()).encode()
        owned = {tp for tp in app.assignor.assigned_actives() if tp.topic == config.events_topic}
        progress.owning(owned)
        for tp in owned:
            await events.send(value=b"", partition=tp.partition,
                              headers=[(TICK_HEADER, stamp)])

    @app.timer(config.tick_seconds)  # type: ignore[untyped-decorator]  # faust: no hints
    async def write_watermark() -> None:
        await watermark.write_waiting()

    @app.timer(60.0)  # type: ignore[untyped-decorator]  # faust: no hints
    async def report() -> None:
        log.info("events %s sessions %s dead letters %s", dict(counters.events),
                 dict(counters.sessions), dict(counters.dead_letters))
        stalled, since, lag = progress.stalled()
        if stalled:
            log.warning("stalled: no batch finished for %.0f s, %d messages waiting; %s",
                        since, lag, stall_cause(progress))

    metrics.serve(config.metrics_host, config.metrics_port)
    return app
