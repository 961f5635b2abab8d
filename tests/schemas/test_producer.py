"""The producer helper high-volume producers import: keyed, encoded, acknowledged."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from config.settings import Settings
from processors.topics import ensure_topics
from schemas import event_codec
from schemas.event import EventKind, PlaybackEvent
from schemas.producer import EventProducer, PublishFailed

pytestmark = pytest.mark.integration  # a real broker (the session's)


def events(count: int, org: str) -> list[PlaybackEvent]:
    return [PlaybackEvent(f"e{i}", org, f"s{i % 50}", "clip", "Custom",
                          EventKind.START if i % 2 == 0 else EventKind.STOP, float(i), i // 50 + 1,
                          1_700_000_000.0 + i) for i in range(count)]


Record = dict[str, object]


async def read_back(settings: Settings, count: int) -> list[tuple[bytes, Record]]:
    consumer = AIOKafkaConsumer(
        settings.events_topic, bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[bytes, Record]] = []
    try:
        while len(found) < count:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for messages in batch.values():
                found += [(m.key, record) for m in messages
                          for record in event_codec().decode_many(m.value)]
    finally:
        await consumer.stop()
    return found


def test_published_events_are_keyed_by_session_and_decode(kafka: Settings) -> None:
    settings = kafka.model_copy(update={"events_topic": f"test.prod.{uuid.uuid4().hex[:8]}"})
    ensure_topics(settings)
    org = str(uuid.uuid4())
    sent = events(1000, org)
    raw = {**sent[0].to_record(), "event_id": "as-a-dict"}

    async def run() -> list[tuple[bytes, Record]]:
        async with EventProducer(settings.kafka_bootstrap, settings.events_topic) as producer:
            await producer.publish(sent)
            await producer.publish([raw])
        return await read_back(settings, 1001)

    found = asyncio.run(run())
    expected = sorted([e.event_id for e in sent] + ["as-a-dict"])
    assert sorted(r["event_id"] for _, r in found) == expected
    assert all(key == f"{org}/{r['session_id']}".encode() for key, r in found)


def test_unacknowledged_events_are_reported_not_dropped(kafka: Settings) -> None:
    async def run() -> None:
        async with EventProducer(kafka.kafka_bootstrap, "no.such.topic.here", retries=1,
                                 request_timeout_seconds=1.0) as producer:
            await producer.publish(events(3, "org"))

    with pytest.raises(PublishFailed) as caught:
        asyncio.run(run())
    assert [e.event_id for e in caught.value.failed] == ["e0", "e1", "e2"]  # type: ignore[union-attr]


def test_many_concurrent_publishes_to_one_partition_all_succeed(kafka: Settings) -> None:
    # A gateway under load: hundreds of requests at once for one session's
    # partition, each allowed 2 s for Kafka. Every one is acknowledged; none
    # is refused for waiting its turn.
    settings = kafka.model_copy(update={"events_topic": f"test.prod.{uuid.uuid4().hex[:8]}"})
    ensure_topics(settings)
    org = str(uuid.uuid4())
    requests = [[PlaybackEvent(f"r{r}e{i}", org, "one-session", "clip", "Custom",
                               EventKind.HEARTBEAT, float(i), r * 10 + i + 1,
                               1_700_000_000.0 + i) for i in range(10)] for r in range(300)]

    async def run() -> list[BaseException | None]:
        async with EventProducer(settings.kafka_bootstrap, settings.events_topic, retries=0,
                                 request_timeout_seconds=2.0) as producer:
            return await asyncio.gather(*(producer.publish(r) for r in requests),
                                        return_exceptions=True)

    outcomes = asyncio.run(run())
    assert [o for o in outcomes if o is not None] == []
    assert len(asyncio.run(read_back(settings, 3000))) == 3000


def test_a_sessions_events_in_one_publish_share_a_record_and_a_lone_event_stands_alone(
        kafka: Settings) -> None:
    org = str(uuid.uuid4())
    session = [PlaybackEvent(f"s{i}", org, "long", "clip", "Web", EventKind.HEARTBEAT, float(i),
                             i + 1, 1_700_000_000.0 + i) for i in range(1200)]
    lone = PlaybackEvent("lone", org, "short", "clip", "Web", EventKind.START, 0.0, 1,
                         1_700_000_000.0)
    async def pack() -> list[tuple[bytes, bytes, list[PlaybackEvent]]]:
        producer = EventProducer(kafka.kafka_bootstrap)  # records() sends nothing
        try:
            return producer.records([*session[:600], lone, *session[600:]])  # type: ignore[return-value]
        finally:
            await producer.stop()  # never started, but open to aiokafka until stopped

    records = asyncio.run(pack())
    sizes = [(key.decode(), len(members)) for key, _, members in records]
    assert sizes == [(f"{org}/long", 500), (f"{org}/long", 500), (f"{org}/long", 200),
                     (f"{org}/short", 1)]
    codec = event_codec()
    assert [r["event_id"] for _, value, _ in records[:3] for r in codec.decode_many(value)] == [
        e.event_id for e in session]  # in the order given
    assert codec.decode(records[3][1])["event_id"] == "lone"  # the single-event form
