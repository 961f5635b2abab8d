"""The local Kafka platform: a real KRaft broker started from Maven-resolved jars.

The jars are cached in the repo's ignored ``.playhead/`` folder (or
``PLAYHEAD_KAFKA_LIBS_DIR``) so only the first run pays for resolution; the
broker's data lives in a temporary state dir on non-default ports.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from config.settings import Settings, load_settings
from devkit.local.kafka import KafkaBroker, KafkaPlatformError

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = "127.0.0.1:19392"
CONTROLLER_PORT = 19393
TOPIC = "playhead.test.local-kafka"
GROUP = "playhead-test-local-kafka"


def _shared_libs(version: str) -> Path:
    override = os.environ.get("PLAYHEAD_KAFKA_LIBS_DIR")
    return Path(override) if override else REPO / ".playhead" / "kafka" / f"libs-{version}"


def _settings(state_dir: Path, **overrides: object) -> Settings:
    version = load_settings().kafka_version
    values: dict[str, object] = {
        "state_dir": state_dir,
        "kafka_bootstrap": BOOTSTRAP,
        "kafka_controller_port": CONTROLLER_PORT,
        "kafka_libs_dir": _shared_libs(version),
        **overrides,
    }
    return load_settings(**values)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(_settings(tmp_path / "state"))
    try:
        yield broker
    finally:
        broker.down()  # never leave a JVM behind, whatever the test did


async def _create_produce_consume() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, b"hello", key=b"org:session")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
        assert (message.key, message.value, message.offset) == (b"org:session", b"hello", 0)
        await consumer.commit()
    finally:
        await consumer.stop()


async def _still_there() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        assert TOPIC in await admin.list_topics()
        offsets = await admin.list_consumer_group_offsets(GROUP)
        assert offsets[TopicPartition(TOPIC, 0)].offset == 1
    finally:
        await admin.close()

    # A fresh group reads from the start: the message itself survived the restart.
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP + "-after-restart",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
        assert (message.value, message.offset) == (b"hello", 0)
    finally:
        await consumer.stop()


@pytest.mark.integration
def test_broker_round_trip_survives_restart(broker: KafkaBroker) -> None:
    before = broker.status()
    assert (before.running, before.pid) == (False, None)
    assert before.bootstrap == BOOTSTRAP

    broker.up()
    first = broker.status()
    assert first.running and first.pid is not None
    assert broker.pid_file.read_text().strip() == str(first.pid)
    assert (first.data_dir / "meta.properties").is_file()

    asyncio.run(_create_produce_consume())

    started = time.monotonic()
    broker.up()  # already running and healthy: a no-op
    assert time.monotonic() - started < 10
    assert broker.status().pid == first.pid

    broker.down()
    stopped = broker.status()
    assert (stopped.running, stopped.pid) == (False, None)
    assert not broker.pid_file.exists()
    assert not _listening(19392)

    broker.up()
    second = broker.status()
    assert second.running and second.pid not in (None, first.pid)
    asyncio.run(_still_there())

    broker.down()
    assert broker.status().running is False
    assert not _listening(19392) and not _listening(CONTROLLER_PORT)
    broker.down()  # stopping a stopped broker is fine


@pytest.mark.integration
def test_up_refuses_a_port_held_by_someone_else(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = KafkaBroker(_settings(tmp_path, kafka_bootstrap=f"127.0.0.1:{port}"))
        with pytest.raises(KafkaPlatformError, match="already accepts connections"):
            broker.up(timeout=5)
    assert broker.status().running is False


def test_missing_tools_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    broker = KafkaBroker(_settings(tmp_path, kafka_libs_dir=tmp_path / "no-jars"))
    with pytest.raises(KafkaPlatformError, match="`mvn` not found.*install Maven"):
        broker.ensure_jars()
