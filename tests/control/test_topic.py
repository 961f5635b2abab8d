"""The control topic on a real broker: every follower sees a change within seconds."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from config.settings import Settings
from control import operations
from control.credentials import Kind
from control.records import key_of
from control.registry import Registry
from control.topic import ControlFollower, publish, snapshot
from processors.topics import ensure_topics_async

pytestmark = pytest.mark.integration


def own_topic(kafka: Settings) -> Settings:
    return kafka.model_copy(update={"control_topic": f"test.control.{uuid.uuid4().hex[:8]}"})


async def wait_for(check: object, timeout: float = 10.0) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, "the follower never saw the change"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def test_a_running_follower_sees_created_rotated_and_revoked_keys(kafka: Settings) -> None:
    settings = own_topic(kafka)

    async def scenario() -> None:
        await ensure_topics_async(settings)
        registry = Registry()
        follower = ControlFollower(settings.kafka_bootstrap, settings.control_topic, registry,
                                   poll_seconds=0.2)
        follower.start()
        try:
            assert await follower.wait_caught_up(30)
            key, credential = operations.create_key(Kind.WRITE, "org-a", "", time.time())
            await publish(settings.kafka_bootstrap, settings.control_topic, [credential])
            await wait_for(lambda: registry.verify(key, Kind.WRITE, time.time()).credential)
            revoked = operations.revoke_key(registry, credential.key_id, time.time())
            await publish(settings.kafka_bootstrap, settings.control_topic, [revoked])
            took = await wait_for(lambda: registry.verify(key, Kind.WRITE,
                                                          time.time()).refusal == "revoked")
            assert took < 5.0
        finally:
            await follower.stop()

    asyncio.run(scenario())


def test_a_new_follower_rebuilds_the_latest_state_and_tombstones_remove(kafka: Settings) -> None:
    settings = own_topic(kafka)

    async def scenario() -> None:
        await ensure_topics_async(settings)
        catalogue = operations.set_catalogue("org-a", {"clips": []}, 1.0)
        await publish(settings.kafka_bootstrap, settings.control_topic, [
            operations.set_disabled("org-a", True, "unpaid", 1.0),
            operations.set_disabled("org-a", False, "", 2.0),
            operations.set_disabled("org-b", True, "left", 3.0),
            catalogue, (key_of(catalogue), None)])
        registry = await snapshot(settings.kafka_bootstrap, settings.control_topic)
        assert not registry.is_disabled("org-a") and registry.is_disabled("org-b")
        assert registry.catalogue("org-a") is None and registry.version == 5

    asyncio.run(scenario())


def test_a_follower_without_its_topic_knows_nothing_and_catches_up_once_it_exists(
        kafka: Settings) -> None:
    settings = own_topic(kafka)

    async def scenario() -> None:
        registry = Registry()
        follower = ControlFollower(settings.kafka_bootstrap, settings.control_topic, registry,
                                   poll_seconds=0.2)
        follower.start()
        try:
            assert await follower.wait_caught_up(30)  # nothing to wait for: no topic
            await ensure_topics_async(settings)
            await publish(settings.kafka_bootstrap, settings.control_topic,
                          [operations.set_disabled("org-a", True, "", 1.0)])
            await wait_for(lambda: registry.is_disabled("org-a"), timeout=15)
        finally:
            await follower.stop()

    asyncio.run(scenario())
