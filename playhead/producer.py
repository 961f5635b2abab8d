"""Publish canonical events straight to Kafka, as the gateway does.

For high-volume producers that skip the HTTP gateway::

    from playhead.producer import EventProducer
    from processors.events import PlaybackEvent

    async with EventProducer("kafka:9092") as producer:
        await producer.publish(events)   # returns once Kafka acknowledged all of them

Messages are keyed by organization/session and encoded in Avro single-object
encoding with the newest schema version (docs/architecture.md, "Writing to
Kafka directly"). aiokafka batches sends that are in flight together
(``linger_ms``); ``publish`` retries what Kafka refused for a transient
reason, and a retried event is harmless because workers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from processors.events import PlaybackEvent, session_key
from schemas import EventCodec, event_codec

log = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """Some events were not acknowledged after every retry; ``failed`` says which."""

    def __init__(self, failed: list[PlaybackEvent | Mapping[str, Any]], cause: BaseException):
        self.failed = failed
        super().__init__(f"{len(failed)} events not acknowledged by Kafka: {cause!r}")


def _key(event: PlaybackEvent | Mapping[str, Any]) -> bytes:
    if isinstance(event, PlaybackEvent):
        return event.session_key.encode()
    return session_key(event["organization_id"], event["session_id"]).encode()


def _record(event: PlaybackEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    return event.to_record() if isinstance(event, PlaybackEvent) else event


class EventProducer:
    def __init__(
        self,
        bootstrap: str,
        topic: str = "playhead.events",
        *,
        linger_ms: int = 5,
        retries: int = 3,
        request_timeout_seconds: float = 30.0,
        codec: EventCodec | None = None,
        **producer_options: Any,
    ):
        self.topic = topic
        self._retries = retries
        self._codec = codec or event_codec()
        # acks=all + idempotence: an acknowledged event is on every in-sync
        # replica, and the producer's own retries never duplicate it.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
            linger_ms=linger_ms, request_timeout_ms=int(request_timeout_seconds * 1000),
            **producer_options)

    @property
    def client(self) -> AIOKafkaProducer:
        return self._producer

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()  # sends what is still buffered first

    async def __aenter__(self) -> EventProducer:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.stop()

    async def _send(self, event: PlaybackEvent | Mapping[str, Any]) -> Any:
        # send() itself can fail (no metadata for the topic yet); its future
        # fails later (no acknowledgement). Both count as not delivered.
        delivery = await self._producer.send(self.topic, self._codec.encode(_record(event)),
                                             key=_key(event))
        return await delivery

    async def publish(self, events: Iterable[PlaybackEvent | Mapping[str, Any]]) -> None:
        """Send every event and wait for Kafka's acknowledgement of each."""
        pending = list(events)
        delay = 0.2
        for attempt in range(self._retries + 1):
            results = await asyncio.gather(*[self._send(e) for e in pending],
                                           return_exceptions=True)
            failed = [e for e, r in zip(pending, results, strict=True)
                      if isinstance(r, BaseException)]
            if not failed:
                return
            error = next(r for r in results if isinstance(r, BaseException))
            if not isinstance(error, KafkaError) or not error.retriable or attempt == self._retries:
                raise PublishFailed(failed, error) from error
            log.warning("retrying %d events after %r", len(failed), error)
            await asyncio.sleep(delay)
            delay *= 2
            pending = failed
