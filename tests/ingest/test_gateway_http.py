"""The gateway over real HTTP, publishing to the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from conftest import free_port
from samples import omny_request
from test_gateway_foundations import serve

from playhead.settings import Settings
from playhead.topics import ensure_topics
from processors.events import PlaybackEvent
from schemas import event_codec

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
                    found += [(m.key, PlaybackEvent.from_record(event_codec().decode(m.value)))
                              for m in messages]
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


def test_events_older_than_a_day_are_refused_with_the_reason(gateway: Settings) -> None:
    org = str(uuid.uuid4())
    answer = httpx.post(f"{gateway.gateway_url}/api/consumption/events",
                        params={"organizationId": org}, json=omny_request(org=org))  # from 2018
    assert answer.status_code == 422
    [problem] = answer.json()["problems"]
    assert problem["path"] == "Events[0].Timestamp" and problem["reason"] == "too_old"


def test_disabled_organization_is_told_to_stop(gateway: Settings) -> None:
    answer = httpx.post(f"{gateway.gateway_url}/api/consumption/events",
                        params={"organizationId": DISABLED}, json=omny_request(org=DISABLED))
    assert answer.status_code == 200 and answer.json() == {"Enabled": False}
