"""The gateway over real HTTP, publishing to the real broker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from conftest import free_port
from samples import omny_request
from test_gateway_foundations import serve
from topic_reader import read_dead_letters, read_keys
from video_topic import events_with_keys

from config.settings import Settings
from processors.topics import ensure_topics
from schemas import event_codec
from schemas.event import PlaybackEvent

pytestmark = pytest.mark.integration  # gateways on the session's broker

DISABLED = str(uuid.uuid4())


@pytest.fixture(scope="module")
def gateway(kafka: Settings) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={
        "events_topic": f"test.gw.{suffix}", "dead_letter_topic": f"test.gw.{suffix}.dlq",
        "gateway_port": free_port(), "disabled_organizations": frozenset({DISABLED}),
    })
    ensure_topics(settings)
    for _ in serve(settings):
        yield settings


def read_topic(settings: Settings, count: int) -> list[tuple[bytes, PlaybackEvent]]:
    async def consume() -> list[tuple[bytes, PlaybackEvent]]:
        consumer = AIOKafkaConsumer(
            settings.events_topic, bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: list[tuple[bytes, PlaybackEvent]] = []
        try:
            while len(found) < count:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                for messages in batch.values():
                    found += [(m.key, PlaybackEvent.from_record(record)) for m in messages
                              for record in event_codec().decode_many(m.value)]
        finally:
            await consumer.stop()
        return found

    return asyncio.run(consume())


def test_reference_request_lands_in_kafka_as_canonical_events_keyed_by_session(
    gateway: Settings,
) -> None:
    org, session = str(uuid.uuid4()), str(uuid.uuid4())
    answer = httpx.post(f"{gateway.gateway_url}/api/consumption/events",
                        params={"organizationId": org},
                        json=omny_request(org=org, session=session, now=time.time()))
    assert answer.status_code == 200 and answer.json() == {"Enabled": True}
    found = read_topic(gateway, 4)
    assert {key for key, _ in found} == {f"{org}/{session}".encode()}
    assert sorted(e.sequence_number for _, e in found) == [1, 2, 3, 4]
    assert {e.dialect for _, e in found} == {"omny"}


def test_bad_request_is_a_422_naming_each_bad_field(gateway: Settings) -> None:
    body = omny_request()
    body["Events"][1]["Position"] = "later"
    del body["Source"]
    answer = httpx.post(f"{gateway.gateway_url}/api/consumption/events",
                        params={"organizationId": str(uuid.uuid4())}, json=body)
    assert answer.status_code == 422
    assert {p["path"] for p in answer.json()["problems"]} == {"Events[1].Position", "Source"}


def test_missing_organization_parameter_is_named(gateway: Settings) -> None:
    answer = httpx.post(f"{gateway.gateway_url}/api/consumption/events", json=omny_request())
    assert answer.status_code == 422
    assert [p["path"] for p in answer.json()["problems"]] == ["query.organizationId"]


def test_a_session_older_than_a_day_goes_to_the_dead_letters_with_the_reason(
    gateway: Settings,
) -> None:
    # Omny clients read no per-event errors: the session is kept for inspection, not refused.
    org, session = str(uuid.uuid4()), str(uuid.uuid4())
    body = omny_request(org=org, session=session)  # from 2018
    answer = httpx.post(f"{gateway.gateway_url}/api/consumption/events",
                        params={"organizationId": org}, json=body)
    assert answer.status_code == 200 and answer.json() == {"Enabled": True}
    [(value, headers)] = read_dead_letters(gateway, [f"{org}/{session}"]).values()
    assert headers["playhead-dlq-reason"] == b"too_old"
    assert headers["playhead-dlq-detail"].startswith(b"Events[0].Timestamp: event is ")
    assert json.loads(value) == body


def test_mixed_request_publishes_the_valid_session_and_dead_letters_the_bad_one(
    gateway: Settings,
) -> None:
    org, good, bad = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    body = omny_request(org=org, session=good, now=time.time())
    broken = omny_request(org=org, session=bad, now=time.time())
    broken["Events"][3]["Position"] = 1e9  # a stop a billion seconds into the clip
    body["Events"] += broken["Events"]
    answer = httpx.post(f"{gateway.gateway_url}/api/consumption/events",
                        params={"organizationId": org}, json=body)
    assert answer.status_code == 200 and answer.json() == {"Enabled": True}
    [published] = read_keys(gateway, {f"{org}/{good}": 4}).values()
    assert sorted(e.sequence_number for e in published) == [1, 2, 3, 4]
    [(value, headers)] = read_dead_letters(gateway, [f"{org}/{bad}"]).values()
    assert headers == {
        "playhead-dlq-reason": b"out_of_bounds",
        "playhead-dlq-detail": b"Events[7].Position: position_seconds is 1e+09 s; positions and "
                               b"clip lengths are at most 86400 s (PLAYHEAD_MAX_CLIP_SECONDS)",
        "playhead-dlq-source": b"gateway/omny", "playhead-dlq-format": b"application/json"}
    assert json.loads(value) == {**broken, "Events": broken["Events"]}
    # Nothing of the bad session reached the events topic (acknowledged before the answer).
    assert events_with_keys(gateway, [f"{org}/{bad}"], 0, linger=2.0) == []
    metrics = httpx.get(f"{gateway.gateway_url}/metrics").text
    assert ('playhead_gateway_dead_letters_total{dialect="omny",reason="out_of_bounds"} 1.0'
            in metrics)


def test_disabled_organization_is_told_to_stop(gateway: Settings) -> None:
    answer = httpx.post(f"{gateway.gateway_url}/api/consumption/events",
                        params={"organizationId": DISABLED}, json=omny_request(org=DISABLED))
    assert answer.status_code == 200 and answer.json() == {"Enabled": False}
