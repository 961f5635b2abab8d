"""The gateway's publisher: the shared EventProducer, started lazily, with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka.errors import KafkaError

from playhead.producer import EventProducer, PublishFailed
from processors.events import PlaybackEvent


class PublishUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing in the batch may be reported as accepted."""


class KafkaPublisher:
    def __init__(self, bootstrap: str, topic: str, timeout_seconds: float = 10.0):
        self._bootstrap = bootstrap
        self._topic = topic
        self._timeout = timeout_seconds
        self._producer: EventProducer | None = None
        self._starting = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    async def _ready_producer(self) -> EventProducer:
        # Started lazily so the gateway comes up (and answers 503) while Kafka is down.
        async with self._starting:
            if self._producer is None:
                producer = EventProducer(self._bootstrap, self._topic, retries=0,
                                         request_timeout_seconds=self._timeout)
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except (KafkaError, OSError, TimeoutError) as err:
                    await producer.stop()
                    raise PublishUnavailable(
                        f"Kafka at {self._bootstrap} unreachable: {err!r}") from err
                self._producer = producer
            return self._producer

    async def publish(self, events: Sequence[PlaybackEvent]) -> None:
        producer = await self._ready_producer()
        try:
            # The client retries within its own request timeout; past our
            # deadline the caller is told to retry (and may be deduplicated).
            await asyncio.wait_for(producer.publish(events), self._timeout)
        except (PublishFailed, KafkaError, TimeoutError) as err:
            await self._discard(producer)
            raise PublishUnavailable(f"Kafka did not acknowledge the events: {err!r}") from err

    async def _discard(self, producer: EventProducer) -> None:
        # After an outage an idempotent producer can stay wedged on its old
        # sequence state; the next request starts a fresh one. The old one is
        # stopped in the background once the requests still using it have had
        # their time: stopping it at once would fail them all (ProducerClosed)
        # for one request's error. What it still holds was not acknowledged.
        async with self._starting:
            if self._producer is not producer:
                return  # another request already replaced it
            self._producer = None
        retiring = asyncio.create_task(self._retire(producer))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    async def _retire(self, producer: EventProducer) -> None:
        with contextlib.suppress(Exception):
            # stop() first delivers what is buffered: in-flight requests get their answer.
            await asyncio.wait_for(producer.stop(), self._timeout + 2.0)

    async def ready(self) -> bool:
        """Whether Kafka answers a metadata request now (for /readyz)."""
        try:
            producer = await self._ready_producer()
            await asyncio.wait_for(producer.client.client.fetch_all_metadata(), 2.0)
        except (PublishUnavailable, KafkaError, OSError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()  # flushes anything still in flight
            self._producer = None
