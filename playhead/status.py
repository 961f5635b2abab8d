"""What an operator wants on one screen: consumer lag, open sessions, dead letters, warehouse.

Every probe is bounded (a few seconds) and reports what it could not reach
instead of failing, so `playhead status` answers even when half the platform
is down. Lag is the consumer group's committed offset against each
partition's end offset, read with the admin and consumer APIs (aiokafka's
``describe_consumer_groups`` fails against Kafka 3.9, so it is not used).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from playhead.settings import Settings

TIMEOUT = 4.0  # seconds per probe; a status screen must not hang on a dead part


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    end: int

    @property
    def lag(self) -> int:
        # Nothing committed yet: everything retained is still to be read.
        return self.end - (self.committed or 0)


@dataclass
class KafkaFigures:
    partitions: list[PartitionLag] = field(default_factory=list)
    dead_letters: int | None = None  # messages held in the dead-letter topic
    error: str | None = None

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)


async def _kafka_figures(settings: Settings) -> KafkaFigures:
    timeout_ms = int(TIMEOUT * 1000)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=timeout_ms)
    figures = KafkaFigures()
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=timeout_ms, enable_auto_commit=False)
    try:
        await consumer.start()
        # Only existing topics are named: asking for a missing one can make a
        # broker that allows auto-creation create it with the wrong size.
        names = set(await admin.list_topics())
        topics = [t for t in (settings.events_topic, settings.dead_letter_topic) if t in names]
        described = await admin.describe_topics(topics) if topics else []
        parts = {t["topic"]: sorted(p["partition"] for p in t["partitions"]) for t in described}
        events = [TopicPartition(settings.events_topic, p)
                  for p in parts.get(settings.events_topic, [])]
        dlq = [TopicPartition(settings.dead_letter_topic, p)
               for p in parts.get(settings.dead_letter_topic, [])]
        ends = await consumer.end_offsets(events + dlq) if events or dlq else {}
        if events:
            committed = await admin.list_consumer_group_offsets(
                settings.worker_id, partitions=events)
            for tp in events:
                meta = committed.get(tp)
                offset = meta.offset if meta is not None and meta.offset >= 0 else None
                figures.partitions.append(PartitionLag(tp.partition, offset, ends[tp]))
        if dlq:
            starts = await consumer.beginning_offsets(dlq)
            figures.dead_letters = sum(ends[tp] - starts[tp] for tp in dlq)
    finally:
        await consumer.stop()
        await admin.close()
    return figures


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    # aiokafka logs every refused connection at error level and httpx every
    # request at info: the screen says what matters once, in its own words.
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def kafka_figures(settings: Settings) -> KafkaFigures:
    try:
        with _quiet("aiokafka"):
            return asyncio.run(asyncio.wait_for(_kafka_figures(settings), TIMEOUT * 3))
    except Exception as err:
        return KafkaFigures(error=str(err) or type(err).__name__)


def metrics_url(settings: Settings) -> str:
    # A worker listening on all addresses is reached on loopback from here.
    host = settings.metrics_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{settings.metrics_port}/metrics"


def worker_gauges(settings: Settings) -> tuple[dict[str, float] | None, str]:
    """The worker's gauges by sample name, or None and why they are not known."""
    if not settings.metrics_port:
        return None, "worker metrics are off (PLAYHEAD_METRICS_PORT=0)"
    url = metrics_url(settings)
    try:
        text = httpx.get(url, timeout=TIMEOUT).text
    except httpx.HTTPError as err:
        return None, f"worker metrics not reachable at {url} ({type(err).__name__})"
    gauges = {name: float(value) for name, value in re.findall(
        r"^(playhead_worker_(?:open_sessions|state_memory_bytes)(?:\{[^}]*\})?) (\S+)$",
        text, re.M)}
    return gauges, url


Gauges = tuple[dict[str, float] | None, str]


def open_sessions(settings: Settings, scraped: Gauges | None = None) -> tuple[int | None, str]:
    """The worker's open-session gauge, or None and why it is not known."""
    gauges, source = scraped or worker_gauges(settings)
    if gauges is None:
        return None, source
    if "playhead_worker_open_sessions" not in gauges:
        return None, f"{source} has no playhead_worker_open_sessions"
    return int(gauges["playhead_worker_open_sessions"]), source


def state_store_line(scraped: Gauges) -> str:
    gauges, source = scraped
    if gauges is None:
        return f"unknown: {source}"
    use = 'playhead_worker_state_memory_bytes{{use="{}"}}'.format
    if use("bound") not in gauges:
        return f"unknown: {source} has no playhead_worker_state_memory_bytes"
    mib = {name: gauges.get(use(name), 0.0) / 2**20 for name in ("cache", "memtables", "bound")}
    return (f"{mib['cache']:.1f} of {mib['bound']:.0f} MiB in memory "
            f"({mib['memtables']:.1f} MiB memtables; PLAYHEAD_STATE_MEMORY_MIB)")


def warehouse_line(settings: Settings) -> str:
    url = settings.clickhouse_url
    if url.startswith("chdb://"):
        return f"embedded chDB at {urlparse(url).path}, opened by the workers (not queried)"
    db = settings.clickhouse_database
    query = (f"SELECT version(), (SELECT max(number) FROM {db}.schema_migrations), "
             "(SELECT sum(rows) FROM system.parts WHERE active AND database = "
             f"'{db}' AND table = 'session_versions') FORMAT TabSeparated")
    try:
        answer = httpx.post(url.rstrip("/") + "/", content=query, timeout=TIMEOUT)
    except httpx.HTTPError as err:
        return f"not reachable at {url} ({type(err).__name__})"
    if answer.status_code != 200:
        first = answer.text.strip().splitlines()[0] if answer.text.strip() else ""
        return f"{url} answered {answer.status_code}: {first[:160]}"
    version, migration, rows = (answer.text.strip().split("\t") + ["", "", ""])[:3]
    return (f"ClickHouse {version} at {url}, database {db} at migration {migration}, "
            f"{rows or 0} session rows (before deduplication)")


def report(settings: Settings) -> list[str]:
    """The lines `playhead status` prints under the process table."""
    with _quiet("aiokafka", "httpx"):
        return _report(settings)


def _report(settings: Settings) -> list[str]:
    figures = kafka_figures(settings)
    lines = [f"consumer group {settings.worker_id} on {settings.events_topic}:"]
    if figures.error:
        lines.append(f"  kafka not reachable at {settings.kafka_bootstrap}: {figures.error}")
    elif not figures.partitions:
        lines.append("  topic does not exist yet (created by `playhead up` or a worker)")
    else:
        lines.append(f"  {'partition':>9} {'committed':>12} {'end':>12} {'lag':>10}")
        for p in figures.partitions:
            committed = "-" if p.committed is None else str(p.committed)
            lines.append(f"  {p.partition:>9} {committed:>12} {p.end:>12} {p.lag:>10}")
        lines.append(f"  {'total':>9} {'':>12} {'':>12} {figures.total_lag:>10}")
    scraped = worker_gauges(settings)  # once: an unreachable worker costs one timeout
    count, source = open_sessions(settings, scraped)
    lines.append(f"open sessions   {count} ({source})" if count is not None
                 else f"open sessions   unknown: {source}")
    lines.append(f"state store     {state_store_line(scraped)}")
    dead = "unknown" if figures.dead_letters is None else str(figures.dead_letters)
    lines.append(f"dead letters    {dead} held in {settings.dead_letter_topic}")
    lines.append(f"warehouse       {warehouse_line(settings)}")
    return lines
