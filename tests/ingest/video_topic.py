"""Read canonical events back from the events topic by message key (shortvideo and
apivideo HTTP tests). Modules share one topic per gateway, so each test picks
its own sessions out by key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

from aiokafka import AIOKafkaConsumer

from config.settings import Settings
from schemas import event_codec
from schemas.event import PlaybackEvent


def events_with_keys(settings: Settings, keys: Collection[str], count: int,
                     timeout: float = 30.0, linger: float = 1.0) -> list[tuple[str, PlaybackEvent]]:
    """The events under ``keys``: waits for ``count`` of them, then ``linger`` seconds
    more, so a test also sees events it did not expect."""
    wanted = {key.encode() for key in keys}
    codec = event_codec()

    async def consume() -> list[tuple[str, PlaybackEvent]]:
        consumer = AIOKafkaConsumer(settings.events_topic,
                                    bootstrap_servers=settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: list[tuple[str, PlaybackEvent]] = []
        deadline = time.monotonic() + timeout
        settled: float | None = None
        try:
            while time.monotonic() < (deadline if settled is None else settled):
                batch = await consumer.getmany(timeout_ms=250)
                found += [(m.key.decode(), PlaybackEvent.from_record(record))
                          for messages in batch.values() for m in messages if m.key in wanted
                          for record in codec.decode_many(m.value)]
                if settled is None and len(found) >= count:
                    settled = time.monotonic() + linger
        finally:
            await consumer.stop()
        return found

    return asyncio.run(consume())
