"""The Faust worker: a thin shell that feeds Kafka messages to the pure core.

Per batch of messages: decode and apply each to its session (state in a
RocksDB-backed table with a changelog), dead-letter what cannot be processed,
then write every session that closed to ClickHouse *before* the batch is
acknowledged. A crash therefore replays events whose rows may be missing, and
replays are harmless because the sink keeps one version per session.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

import faust
from faust.streams import _current_event  # see _processing()
from faust.types import EventT

from playhead.settings import Settings
from playhead.topics import partition_of
from processors.handling import (
    InvalidMessage,
    WorkerCounters,
    apply_event,
    close_if_idle,
    decode_event,
)
from processors.session import Rules, SessionResult, SessionState
from schemas import event_codec
from sinks.writer import SinkUnavailable

log = logging.getLogger("playhead.worker")

TICK_HEADER = "playhead-tick"
MiB = 1024 * 1024

# Faust's RocksDB defaults (2 GiB block cache, 3 x 64 MiB memtables per
# partition) would exhaust a small machine; state is mostly cold, so keep the
# caches small and let the OS page cache do the rest.
ROCKSDB_OPTIONS = {
    "driver": "rocksdict",
    "block_cache_size": 16 * MiB,
    "write_buffer_size": 8 * MiB,
    "max_write_buffer_number": 2,
}


class _Processing:
    # Faust writes a table change to the changelog partition of the event
    # being processed. In a batch, that is the batch's last event, not the
    # event that changed the key, so bind each event while it is handled.
    def __init__(self, event: EventT):
        self._ref = weakref.ref(event)

    def __enter__(self) -> None:
        self._token = _current_event.set(self._ref)

    def __exit__(self, *_: object) -> None:
        _current_event.reset(self._token)


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
    )
    partitions = settings.topic_partitions
    codec = event_codec()
    counters = WorkerCounters()
    datadir = settings.state_dir / "worker" / settings.worker_id
    datadir.mkdir(parents=True, exist_ok=True)
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
    events = app.topic(
        settings.events_topic, partitions=partitions,
        key_serializer="raw", value_serializer="raw",
    )
    dead_letters = app.topic(
        settings.dead_letter_topic, partitions=1, key_serializer="raw", value_serializer="raw"
    )
    sessions = app.Table(
        "sessions", default=None, partitions=partitions, options=ROCKSDB_OPTIONS,
        schema=faust.Schema(key_type=str, value_type=None,
                            key_serializer="json", value_serializer="json"),
    )

    async def dead_letter(event: EventT, err: InvalidMessage) -> None:
        counters.dead_letters[err.reason] += 1
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

    def handle(event: EventT, now: float, emitted: dict[str, SessionResult]) -> None:
        headers = dict(event.message.headers or ())
        if TICK_HEADER in headers:
            close_idle(event.message.partition, now, emitted)
            return
        decoded = decode_event(event.message.value, codec)
        key = decoded.session_key
        stored = sessions.get(key)
        state = SessionState.from_dict(stored) if stored else SessionState()
        step = apply_event(state, decoded, now, rules)
        counters.count_step(step)
        if step.added.value != "duplicate":
            sessions[key] = state.to_dict()
        if step.emit is not None:
            emitted[key] = step.emit

    def close_idle(partition: int, now: float, emitted: dict[str, SessionResult]) -> None:
        for key, stored in list(sessions.items()):
            if stored["closed"] or partition_of(key, partitions) != partition:
                continue
            state = SessionState.from_dict(stored)
            result = close_if_idle(state, now, rules)
            if result is not None:
                sessions[key] = state.to_dict()
                emitted[key] = result

    async def flush(emitted: dict[str, SessionResult]) -> None:
        batch = list(emitted.values())
        delay = 0.5
        while True:
            try:
                await asyncio.get_running_loop().run_in_executor(None, write, batch)
                break
            except SinkUnavailable as err:
                # Holding the batch holds its offsets: nothing is acknowledged
                # that is not in ClickHouse.
                log.error("sink failed, retrying in %.1fs: %s", delay, err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        for result in batch:
            counters.count_emit(result)

    @app.agent(events)
    async def process(stream: Any) -> None:
        async for batch in stream.take_events(settings.sink_batch_size,
                                              within=settings.sink_batch_seconds):
            now = clock()
            emitted: dict[str, SessionResult] = {}
            for event in batch:
                with _Processing(event):
                    try:
                        handle(event, now, emitted)
                    except InvalidMessage as err:
                        await dead_letter(event, err)
            if emitted:
                await flush(emitted)

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

    return app
