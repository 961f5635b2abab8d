"""Publishes canonical events to Kafka and returns only once the broker acknowledged them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from processors.events import PlaybackEvent
from schemas import event_codec

log = logging.getLogger(__name__)


class PublishUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing in the batch may be reported as accepted."""


class KafkaPublisher:
    def __init__(self, bootstrap: str, topic: str, timeout_seconds: float = 10.0):
        self._bootstrap = bootstrap
        self._topic = topic
        self._timeout = timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        self._codec = event_codec()

    async def _ready_producer(self) -> AIOKafkaProducer:
        # Started lazily so the gateway comes up (and answers 503) while Kafka is down.
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    request_timeout_ms=int(self._timeout * 1000),
                )
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except (KafkaError, OSError, TimeoutError) as err:
                    await producer.stop()
                    raise PublishUnavailable(
                        f"Kafka at {self._bootstrap} unreachable: {err}") from err
                self._producer = producer
            return self._producer

    async def publish(self, events: Sequence[PlaybackEvent]) -> None:
        producer = await self._ready_producer()
        try:
            pending = [
                await producer.send(
                    self._topic,
                    value=self._codec.encode(event.to_record()),
                    key=event.session_key.encode(),
                )
                for event in events
            ]
            await asyncio.wait_for(asyncio.gather(*pending), self._timeout)
        except (KafkaError, TimeoutError) as err:
            raise PublishUnavailable(f"Kafka did not acknowledge the events: {err!r}") from err

    async def ready(self) -> bool:
        """Whether Kafka answers a metadata request now (for /readyz)."""
        try:
            producer = await self._ready_producer()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2.0)
        except (PublishUnavailable, KafkaError, OSError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()  # flushes anything still in flight
            self._producer = None
