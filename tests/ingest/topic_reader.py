"""Read canonical events back from the real topic, by Kafka key (for the HTTP tests).

Tests of one module share a topic, so each test picks its own keys (a fresh
organization) and waits until those keys hold the events it expects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

from aiokafka import AIOKafkaConsumer

from config.settings import Settings
from schemas import event_codec
from schemas.event import PlaybackEvent


def read_keys(settings: Settings, wanted: Mapping[str, int],
              timeout: float = 30.0) -> dict[str, list[PlaybackEvent]]:
    """Events under each key of ``wanted`` once every key has at least its count."""

    async def consume() -> dict[str, list[PlaybackEvent]]:
        consumer = AIOKafkaConsumer(
            settings.events_topic, bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: dict[str, list[PlaybackEvent]] = {key: [] for key in wanted}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while any(len(found[key]) < count for key, count in wanted.items()):
                if loop.time() > deadline:
                    have = {key: len(events) for key, events in found.items()}
                    raise AssertionError(f"wanted {dict(wanted)} events, found {have}")
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for message in messages:
                        key = (message.key or b"").decode()
                        if key in found:
                            found[key] += [PlaybackEvent.from_record(record) for record
                                           in event_codec().decode_many(message.value)]
        finally:
            await consumer.stop()
        return found

    return asyncio.run(consume())


def read_dead_letters(settings: Settings, keys: Collection[str],
                      timeout: float = 30.0) -> dict[str, tuple[bytes, dict[str, bytes]]]:
    """The value and headers of the dead letter under each of ``keys``, once all are there."""

    async def consume() -> dict[str, tuple[bytes, dict[str, bytes]]]:
        consumer = AIOKafkaConsumer(
            settings.dead_letter_topic, bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: dict[str, tuple[bytes, dict[str, bytes]]] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while not set(keys) <= set(found):
                if loop.time() > deadline:
                    raise AssertionError(f"dead letters under {sorted(set(keys) - set(found))} "
                                         f"not found in {settings.dead_letter_topic}")
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for message in messages:
                        key = (message.key or b"").decode()
                        if key in keys:
                            found[key] = (message.value, dict(message.headers or ()))
        finally:
            await consumer.stop()
        return found

    return asyncio.run(consume())
