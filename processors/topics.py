"""Playhead's Kafka topics: their names, sizes and creation.

Topics are created explicitly, never by broker auto-creation: the worker's
state tables are partitioned like the events topic, so its partition count is
part of the contract and must not silently default to the broker's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from config.settings import Settings

DAY_MS = 24 * 3600 * 1000
WEEK_MS = 7 * DAY_MS


class TopicMismatch(RuntimeError):
    """A topic exists with a layout Playhead cannot use; the message says how to fix it."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    # Retention bounds how long personal data stays in Kafka after an erasure
    # (docs/operations/erasure.md): the settings' defaults are a week for events
    # and two weeks for dead letters, time enough to look at and replay them.
    return [
        TopicSpec(settings.events_topic, settings.topic_partitions,
                  {"retention.ms": str(_ms(settings.events_retention_seconds))}),
        TopicSpec(settings.dead_letter_topic, 1,
                  {"retention.ms": str(_ms(settings.dead_letter_retention_seconds))}),
        # One partition keeps every control change in order; compaction keeps
        # the newest record of each key for ever, and drops tombstones after a day.
        TopicSpec(settings.control_topic, 1, {"cleanup.policy": "compact",
                                              "delete.retention.ms": str(DAY_MS)}),
    ]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


async def ensure_topics_async(settings: Settings) -> list[str]:
    """Create missing topics; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        # Describe only what exists: a metadata request for a missing topic
        # makes brokers that allow auto-creation create it with their default size.
        names = set(await admin.list_topics())
        wanted = [s.name for s in topic_specs(settings) if s.name in names]
        described = await admin.describe_topics(wanted) if wanted else []
        partitions = {t["topic"]: len(t["partitions"]) for t in described}
        missing = []
        for spec in topic_specs(settings):
            have = partitions.get(spec.name)
            if have is None:
                missing.append(spec)
            elif have != spec.partitions:
                raise TopicMismatch(
                    f"topic {spec.name} has {have} partitions but PLAYHEAD_TOPIC_PARTITIONS "
                    f"asks for {spec.partitions}; set it to {have}, or recreate the topic"
                )
        if missing:
            answer = await admin.create_topics([
                NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing
            ])
            for name, code, *_ in answer.topic_errors:
                if code not in (0, 36):  # 36: created meanwhile by another process
                    raise TopicMismatch(f"creating topic {name} failed with Kafka error {code}")
        return [s.name for s in missing]
    finally:
        await admin.close()


def ensure_topics(settings: Settings) -> list[str]:
    return asyncio.run(ensure_topics_async(settings))
