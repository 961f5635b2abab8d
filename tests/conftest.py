"""Real services for the suite: one Kafka broker and one warehouse server per
test session, throwaway topics and databases per test module."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis_profiles  # noqa: F401  (registers the full and unit profiles)
import pytest
from aiokafka import AIOKafkaProducer
from clickhouse_connect.driver.client import Client
from services.local import KAFKA_LIBS, REPO, free_port

from config.settings import Settings, to_env
from devkit.local import services
from processors.topics import ensure_topics
from sinks.client import connect
from sinks.migrate import migrate

# `kafka` and `warehouse_url` come from the provider `--services` chooses (tests/services/).
pytest_plugins = ["services.plugin"]
__all__ = ["KAFKA_LIBS", "REPO", "free_port"]  # test modules import these from here


def wait_until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def produce_raw(settings: Settings, value: bytes) -> None:
    """One message with ``value`` on the events topic, as any Kafka client could write it."""
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(settings.events_topic, value)
        finally:
            await producer.stop()
    asyncio.run(send())


@dataclass
class Pipeline:
    settings: Settings
    client: Client

    @property
    def db(self) -> str:
        return self.settings.clickhouse_database

    def post_omny(self, body: dict[str, Any], organization: str) -> httpx.Response:
        return httpx.post(f"{self.settings.gateway_url}/api/consumption/events",
                          params={"organizationId": organization}, json=body, timeout=30)

    def rows(self, query: str, **parameters: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.client.query(query, parameters=parameters).result_rows]

    def wait_for_version(self, session_id: str, version: int, timeout: float = 60.0) -> None:
        query = (f"SELECT max(version) FROM {self.db}.session_versions "
                 "WHERE session_id = {s:String}")
        wait_until(lambda: (self.rows(query, s=session_id)[0][0] or 0) >= version,
                   timeout, f"session {session_id} at version {version}")

    def buckets(self, clip_id: str) -> list[tuple[Any, ...]]:
        return self.rows(
            f"SELECT bucket, sum(listeners), sum(listens) FROM {self.db}.consumption_by_bucket "
            "WHERE clip_id = {c:String} GROUP BY bucket ORDER BY bucket", c=clip_id)

    def sessions(self, clip_id: str) -> list[tuple[Any, ...]]:
        return self.rows(
            f"SELECT session_id, source, started_at, duration_seconds, kept "
            f"FROM {self.db}.sessions WHERE clip_id = {{c:String}} ORDER BY session_id",
            c=clip_id)


@contextmanager
def running_pipeline(kafka: Settings, warehouse_url: str, state_dir: Path,
                     **overrides: Any) -> Iterator[tuple[Settings, Client]]:
    """Gateway and worker processes on throwaway topics and a throwaway database."""
    suffix = uuid.uuid4().hex[:10]
    settings = kafka.model_copy(update={
        "state_dir": state_dir,
        "events_topic": f"test.{suffix}.events",
        "dead_letter_topic": f"test.{suffix}.dlq",
        "clickhouse_url": warehouse_url,
        "clickhouse_database": f"test_{suffix}",
        "gateway_port": free_port(),
        "worker_id": f"test-worker-{suffix}",
        "tick_seconds": 1.0,
        "sink_batch_seconds": 0.2,
        **overrides,
    })
    ensure_topics(settings)
    client = connect(warehouse_url)
    migrate(client, settings.clickhouse_database)
    env = to_env(settings)
    try:
        services.start(settings, "gateway", ["gateway"],
                       services.http_ok(f"{settings.gateway_url}/healthz"), env=env)
        services.start(settings, "worker", ["worker", "--loglevel", "warning"],
                       services.file_exists(settings.worker_ready_file), env=env, timeout=120,
                       marker=settings.worker_ready_file)
        yield settings, client
    finally:
        # Also when starting failed: never leave a process behind.
        services.stop(settings, "worker")
        services.stop(settings, "gateway")
        client.command(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")


@pytest.fixture(scope="module")
def pipeline(kafka: Settings, warehouse_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    # The reference Omny request dates from 2018: replay it as historical data.
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("pipeline"),
                          max_event_age_seconds=0.0) as (settings, client):
        yield Pipeline(settings, client)
