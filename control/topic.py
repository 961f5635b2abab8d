"""The control topic over Kafka: follow it into a Registry, publish records to it.

A follower reads the topic from its first offset at start (compaction keeps
it small: one record per key) and then keeps polling, so a record published
anywhere reaches every follower within ``poll_seconds`` plus Kafka's
delivery time. It never commits offsets: each process rebuilds the whole
state, which is the point of a compacted topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from control.records import Record, encode
from control.registry import Registry

log = logging.getLogger("playhead.control")


class ControlFollower:
    """Keeps ``registry`` equal to the control topic, in the background."""

    def __init__(self, bootstrap: str, topic: str, registry: Registry,
                 poll_seconds: float = 0.5):
        self.bootstrap, self.topic, self.registry = bootstrap, topic, registry
        self.poll_seconds = poll_seconds
        self.caught_up = asyncio.Event()  # every record present at start has been applied
        self.last_poll: float | None = None  # wall time of the last successful poll
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="control")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_caught_up(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.caught_up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - a broker away: keep what we know, retry
                self.error = f"{type(err).__name__}: {err}"
                log.warning("control topic %s unreadable, retrying: %s", self.topic, self.error)
                await asyncio.sleep(max(self.poll_seconds, 1.0))

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        try:
            await consumer.start()
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            position = {tp: 0 for tp in partitions}
            while True:
                batches = await consumer.getmany(timeout_ms=int(self.poll_seconds * 1000),
                                                 max_records=10_000)
                for tp, messages in batches.items():
                    for message in messages:
                        if message.key is not None:
                            self.registry.apply(message.key, message.value)
                        position[tp] = message.offset + 1
                self.last_poll, self.error = time.time(), None
                if not self.caught_up.is_set():
                    behind = [tp for tp in partitions if position[tp] < ends[tp]]
                    # Compaction leaves gaps: the fetch position, not the last
                    # record's offset, says whether the end was reached.
                    if all([await consumer.position(tp) >= ends[tp] for tp in behind]):
                        self.caught_up.set()
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        # Waiting for the topic rather than failing: a gateway may start before
        # `playhead topics` has run; until then only the settings' keys exist.
        while True:
            # A full metadata request: asking for the topic by name would make a
            # broker that allows auto-creation create it with the wrong policy.
            # The topic has one partition (processors/topics.py), for order.
            if self.topic in await consumer.topics():
                return [TopicPartition(self.topic, 0)]
            if not self.caught_up.is_set():
                log.warning("control topic %s does not exist yet: create it with "
                            "`playhead topics`; only keys from settings are known", self.topic)
                self.caught_up.set()  # nothing to catch up with
            await asyncio.sleep(max(self.poll_seconds, 1.0))


async def publish(bootstrap: str, topic: str,
                  records: Iterable[Record | tuple[str, None]]) -> None:
    """Write records (or ``(key, None)`` tombstones), acknowledged by every in-sync replica."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        for record in records:
            if isinstance(record, tuple):
                key, value = record[0].encode(), None
            else:
                key, value = encode(record)
            # One partition, sent in order: a later record of a key always wins.
            await (await producer.send(topic, value=value, key=key, partition=0))
    except KafkaError as err:
        raise ControlUnavailable(f"could not write to the control topic {topic}: {err}") from err
    finally:
        await producer.stop()


async def snapshot(bootstrap: str, topic: str, timeout: float = 30.0) -> Registry:
    """The control topic's state now: for commands that read it once."""
    registry = Registry()
    follower = ControlFollower(bootstrap, topic, registry, poll_seconds=0.2)
    follower.start()
    try:
        if not await follower.wait_caught_up(timeout):
            raise ControlUnavailable(f"could not read the control topic {topic} from "
                                     f"{bootstrap} within {timeout:.0f} s: {follower.error}")
    finally:
        await follower.stop()
    return registry


# How long a service waits at start to have read the topic to its end.
START_WAIT_SECONDS = 10.0


def control_for(given: Registry | None, bootstrap: str, topic: str
                ) -> tuple[Registry, ControlFollower | None]:
    """The registry a service answers from, and the follower keeping it current: none
    when a registry is handed in (a test's) or no control topic is configured."""
    if given is not None:
        return given, None
    registry = Registry()
    return registry, ControlFollower(bootstrap, topic, registry) if topic else None


@contextlib.asynccontextmanager
async def followed(follower: ControlFollower | None) -> AsyncIterator[None]:
    """Follow the topic while a service runs (its lifespan)."""
    if follower is None:
        yield
        return
    follower.start()
    # Serve with the runtime keys known when Kafka answers; when it does not,
    # serve anyway (health and metrics) and let readiness keep traffic away.
    await follower.wait_caught_up(START_WAIT_SECONDS)
    try:
        yield
    finally:
        await follower.stop()


class ControlUnavailable(RuntimeError):
    """Kafka did not take or give the control records; the message says which."""
