"""Kafka stops in the middle of a load: nothing the gateway acknowledged is lost.

A broker of its own (stopping the suite's would break other tests), a gateway
in this process over real HTTP, and a bounded load: requests before, during
and after the outage. Every event of every 2xx answer must be in Kafka at
the end; while Kafka is down the gateway answers 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from conftest import KAFKA_LIBS, free_port
from samples import omny_request
from test_gateway_foundations import serve

from config.settings import Settings
from devkit.local.kafka import KafkaBroker
from processors.topics import ensure_topics
from schemas import event_codec

pytestmark = pytest.mark.integration  # a broker of its own, stopped and started

ORG = str(uuid.uuid4())


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    settings = Settings(
        state_dir=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        kafka_libs_dir=Path(str(KAFKA_LIBS).format(version=Settings().kafka_version)),
        gateway_port=free_port(), publish_timeout_seconds=2.0)
    broker = KafkaBroker(settings)
    broker.up(timeout=180)
    broker.settings = settings  # type: ignore[attr-defined]
    try:
        yield broker
    finally:
        broker.down()


async def send_until(url: str, stop: threading.Event, results: list[tuple[int, set[str]]],
                     limit: int) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set() and len(results) < limit:
            session = str(uuid.uuid4())
            body = omny_request(org=ORG, session=session, now=time.time())
            answer = await client.post(f"{url}/api/consumption/events",
                                       params={"organizationId": ORG}, json=body)
            if answer.status_code == 503:
                assert answer.headers["Retry-After"]
            ids = {f"omny:{ORG}:{session}:{e['SeqNumber']}" for e in body["Events"]}
            results.append((answer.status_code, ids))


def load(url: str, seconds: float, results: list[tuple[int, set[str]]], limit: int) -> None:
    stop = threading.Event()
    threading.Timer(seconds, stop.set).start()

    async def run() -> None:
        await asyncio.gather(*(send_until(url, stop, results, limit) for _ in range(4)))

    asyncio.run(run())


def topic_event_ids(settings: Settings) -> set[str]:
    async def consume() -> set[str]:
        consumer = AIOKafkaConsumer(
            settings.events_topic, bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: set[str] = set()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=3000)
                if not batch:
                    return found
                for messages in batch.values():
                    found |= {record["event_id"] for m in messages
                              for record in event_codec().decode_many(m.value)}
        finally:
            await consumer.stop()

    return asyncio.run(consume())


def test_every_acknowledged_event_survives_a_kafka_outage(own_broker: KafkaBroker) -> None:
    settings: Settings = own_broker.settings  # type: ignore[attr-defined]
    ensure_topics(settings)
    results: list[tuple[int, set[str]]] = []
    for url in serve(settings):
        load(url, 3, results, limit=400)
        before = len(results)
        down = threading.Thread(target=own_broker.down)
        down.start()
        load(url, 8, results, limit=800)  # while the broker stops and stays down
        down.join()
        during = results[before:]
        own_broker.up(timeout=120)
        # The gateway recovers without a restart: within a minute of Kafka being
        # back, it answers a run of requests 200 in a row.
        recovered = time.monotonic() + 60
        load(url, 6, results, limit=1200)
        while any(status != 200 for status, _ in results[-20:]) and time.monotonic() < recovered:
            load(url, 5, results, limit=len(results) + 200)

    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[:before].count(200) > 10, "too little load before the outage"
    assert 503 in [status for status, _ in during], "the outage was never noticed"
    assert statuses[-20:] == [200] * 20, "the gateway did not recover once Kafka was back"
    acknowledged = set().union(*(ids for status, ids in results if status == 200))
    missing = acknowledged - topic_event_ids(settings)
    assert not missing, f"{len(missing)} acknowledged events lost"
