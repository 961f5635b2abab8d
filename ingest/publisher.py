"""The gateway's publisher: the shared EventProducer, started lazily, with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from ingest.gateway import DeadLetter
from schemas.event import PlaybackEvent
from schemas.producer import EventProducer, PublishFailed

TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


class PublishUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing in the batch may be reported as accepted."""


class PublishRefused(ValueError):
    """Kafka refused the messages as they are (too large): a retry would fail the same way,
    so the client is told (4xx), not asked to retry (503)."""


def _too_large(err: BaseException | None) -> bool:
    while err is not None:
        if isinstance(err, TOO_LARGE):
            return True
        err = err.__cause__
    return False


def _refused(err: BaseException) -> PublishRefused:
    return PublishRefused(f"Kafka refused a message as too large ({err!r}): send fewer or "
                          "smaller events per request")


class KafkaPublisher:
    def __init__(self, bootstrap: str, topic: str, timeout_seconds: float = 10.0,
                 dead_letter_topic: str = "playhead.events.dlq"):
        self._bootstrap = bootstrap
        self._topic = topic
        self._dead_letter_topic = dead_letter_topic
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
            # (asyncio.timeout, not wait_for: no task of its own per request.)
            async with asyncio.timeout(self._timeout):
                await producer.publish(events)
        except (PublishFailed, KafkaError, TimeoutError) as err:
            if _too_large(err):
                raise _refused(err) from err  # the producer is fine: keep it
            await self._discard(producer)
            raise PublishUnavailable(f"Kafka did not acknowledge the events: {err!r}") from err

    async def publish_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Send refused input to the dead-letter topic; return once Kafka acknowledged it."""
        producer = await self._ready_producer()

        async def send_all() -> None:
            deliveries = [await producer.client.send(
                self._dead_letter_topic, letter.value, key=letter.key,
                headers=letter.headers()) for letter in letters]
            await asyncio.gather(*deliveries)

        try:
            await asyncio.wait_for(send_all(), self._timeout)
        except (KafkaError, TimeoutError) as err:
            if _too_large(err):
                raise _refused(err) from err
            await self._discard(producer)
            raise PublishUnavailable(
                f"Kafka did not acknowledge the dead letters: {err!r}") from err

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
        try:
            # stop() first delivers what is buffered: in-flight requests get their answer.
            await asyncio.wait_for(producer.stop(), self._timeout + 2.0)
        except Exception:
            # A stop cut short (Kafka still down) leaves the broker connections open:
            # close them here, or they outlive the producer (uvloop: unclosed resource).
            with contextlib.suppress(Exception):
                await producer.client.client.close()

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
