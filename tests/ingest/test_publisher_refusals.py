"""What the real broker says to a message over its size limit is a refusal (4xx), not an
outage (503): the gateway's publishers tell the two apart."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from config.settings import Settings
from ingest.gateway import DeadLetter
from ingest.publisher import KafkaPublisher, PublishRefused
from processors.topics import ensure_topics
from schemas.event import EventKind, PlaybackEvent


def oversized_event() -> PlaybackEvent:
    # Far outside the bounds (which the gateway checks before publishing): only a
    # publisher used on its own can send it, as this test does.
    return PlaybackEvent(
        event_id="too-large", organization_id="acme", session_id="s", clip_id="c",
        source="test", kind=EventKind.OTHER, position_seconds=0.0, sequence_number=1,
        timestamp=time.time(), attributes={"blob": "x" * 2_000_000})


@pytest.mark.integration
def test_a_message_over_kafkas_limit_is_refused_not_unavailable(kafka: Settings) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={"events_topic": f"test.big.{suffix}",
                                        "dead_letter_topic": f"test.big.{suffix}.dlq"})
    ensure_topics(settings)

    async def attempt() -> None:
        publisher = KafkaPublisher(settings.kafka_bootstrap, settings.events_topic, 10.0,
                                   settings.dead_letter_topic)
        try:
            with pytest.raises(PublishRefused, match="too large"):
                await publisher.publish([oversized_event()])
            letter = DeadLetter(key=b"acme/s", value=b"x" * 2_000_000, reason="invalid",
                                detail="test", source="test")
            with pytest.raises(PublishRefused, match="too large"):
                await publisher.publish_dead_letters([letter])
        finally:
            await publisher.close()

    asyncio.run(attempt())
