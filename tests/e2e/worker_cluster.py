"""Worker processes on real Kafka and the warehouse server, and the figures they must reach.

Events are produced straight into Kafka (aiokafka + ``schemas.event_codec()``,
keyed ``org/session``); workers run as ``playhead worker`` processes, each with
its own state folder; the expected figures come from the pure core
(``summarize``) over the distinct events, i.e. a clean single pass.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from clickhouse_connect.driver.client import Client
from conftest import free_port, wait_until

from config.settings import Settings, to_env
from devkit.local import services
from processors.session import Rules, summarize
from schemas import event_codec
from schemas.event import EventKind, PlaybackEvent

CLIPS = ("clip-a", "clip-b", "clip-c")


def make_sessions(org: str, count: int, seed: int, start: float = 1_700_000_000.0,
                  complete_share: float = 0.8) -> list[list[PlaybackEvent]]:
    """Sessions of 4-9 events: plays, pauses, seeks, heartbeats, quality, likes, rights."""
    rng = random.Random(seed)
    sessions = []
    for n in range(count):
        session = f"s{seed}-{n:05d}"
        clip, source = rng.choice(CLIPS), rng.choice(["Web", "MobileApp"])
        stamp = start + rng.uniform(0, 3 * 86400)
        position = rng.uniform(0, 60)
        steps: list[tuple[EventKind, str, dict[str, Any]]] = [
            (EventKind.OTHER, "startup", {"value_ms": rng.randint(100, 900)}),
            (EventKind.START, "play", {})]
        for _ in range(rng.randint(1, 6)):
            steps.append(rng.choice([
                (EventKind.HEARTBEAT, "progress", {}), (EventKind.STOP, "pause", {}),
                (EventKind.START, "resume", {}), (EventKind.OTHER, "like", {}),
                (EventKind.SEEK, "seek", {"seek_to_seconds": rng.uniform(0, 600)}),
                (EventKind.OTHER, "rebuffer", {"value_ms": rng.randint(50, 3000)}),
                (EventKind.OTHER, "clip_play", {"attributes": {
                    "platform": rng.choice(["ios", "web"]), "method": "stream"}}),
            ]))
        steps.append((EventKind.STOP, "end", {}))
        events = []
        for seq, (kind, action, extra) in enumerate(steps, 1):
            stamp += rng.uniform(1, 40)
            position += rng.uniform(0, 40)
            events.append(PlaybackEvent(
                event_id=str(uuid.uuid4()), organization_id=org, session_id=session,
                clip_id=clip, source=source, kind=kind, position_seconds=round(position, 3),
                sequence_number=seq, timestamp=round(stamp, 3), action=action,
                dialect="test", received_at=round(stamp, 3), clip_length_seconds=900.0,
                session_complete=seq == len(steps) and rng.random() < complete_share,
                **extra))
        sessions.append(events)
    return sessions


def noisy(sessions: list[list[PlaybackEvent]], seed: int) -> list[PlaybackEvent]:
    """Every event once, a tenth of them twice, in shuffled order."""
    rng = random.Random(seed)
    events = [e for s in sessions for e in s]
    events += rng.sample(events, len(events) // 10)
    rng.shuffle(events)
    return events


async def _produce(bootstrap: str, topic: str, events: Iterable[PlaybackEvent]) -> None:
    codec = event_codec()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(topic, codec.encode(e.to_record()),
                                    key=e.session_key.encode()) for e in events]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def produce(settings: Settings, events: Iterable[PlaybackEvent]) -> None:
    asyncio.run(_produce(settings.kafka_bootstrap, settings.events_topic, events))


def dead_letters(settings: Settings, timeout: float = 5.0) -> list[tuple[bytes, dict[str, bytes]]]:
    async def read() -> list[tuple[bytes, dict[str, bytes]]]:
        consumer = AIOKafkaConsumer(settings.dead_letter_topic,
                                    bootstrap_servers=settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=int(timeout * 1000))
            return [(m.key or b"", dict(m.headers)) for ms in batch.values() for m in ms]
        finally:
            await consumer.stop()
    return asyncio.run(read())


@dataclass
class Expected:
    """The figures a clean single pass over the distinct events gives."""

    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    buckets: list[tuple[Any, ...]] = field(default_factory=list)
    rights: list[tuple[Any, ...]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, sessions: list[list[PlaybackEvent]], rules: Rules,
           parts: Sequence[tuple[list[PlaybackEvent], int, str]] = ()) -> Expected:
        """``parts``: late parts of sessions, as (events, continuation number, clip)."""
        out = cls()
        buckets: Counter[tuple[Any, ...]] = Counter()
        rights: Counter[tuple[Any, ...]] = Counter()
        results = [summarize(events, rules) for events in sessions]
        results += [summarize(events, rules, n, clip) for events, n, clip in parts]
        for r in results:
            out.versions[r.session_id] = r.version
            out.sessions.append((r.organization_id, r.clip_id, r.session_id, r.source,
                                 _millis(r.started_at), r.duration_seconds, int(r.kept)))
            for bucket, listens in r.buckets.items():
                key = (r.organization_id, r.clip_id, r.source, r.day, bucket)
                buckets[key + ("listeners",)] += 1
                buckets[key + ("listens",)] += listens
            for c in r.content:
                if c.action == "clip_play":
                    rights[(r.organization_id, c.clip_id, c.day, c.platform, c.method)] += 1
        out.sessions.sort()
        keys = sorted({k[:-1] for k in buckets})
        out.buckets = [(*k, buckets[k + ("listeners",)], buckets[k + ("listens",)])
                       for k in keys]
        out.rights = sorted((*k, n) for k, n in rights.items())
        return out


def _millis(stamp: Any) -> int:
    return round(stamp.timestamp() * 1000)


@dataclass
class Warehouse:
    client: Client
    db: str

    def rows(self, query: str, **parameters: Any) -> list[tuple[Any, ...]]:
        result = self.client.query(query.replace("{db}", self.db), parameters=parameters)
        return [tuple(r) for r in result.result_rows]

    def versions(self, org: str) -> dict[str, int]:
        return dict(self.rows("SELECT session_id, max(version) FROM {db}.session_versions "
                              "WHERE organization_id = {o:String} GROUP BY session_id", o=org))

    def wait_for(self, org: str, expected: Expected, timeout: float = 150.0,
                 workers: Workers | None = None) -> None:
        def reached() -> bool:
            if workers is not None:
                workers.heal()
            return self.versions(org) == expected.versions

        try:
            wait_until(reached, timeout,
                       f"{len(expected.versions)} sessions of {org} at their final version")
        except AssertionError as err:
            # Say what was missing and what the workers said: a timeout alone
            # cannot tell a slow rebalance from a lost event.
            raise AssertionError(f"{err}\n{self.shortfall(org, expected)}"
                                 + (workers.logs() if workers else "")) from None

    def shortfall(self, org: str, expected: Expected) -> str:
        found = self.versions(org)
        missing = sorted(set(expected.versions) - set(found))
        behind = sorted(s for s in expected.versions
                        if s in found and found[s] < expected.versions[s])
        ahead = sorted(s for s in found if found[s] > expected.versions.get(s, 0))
        return (f"missing {len(missing)} {missing[:5]}, behind {len(behind)} "
                f"{[(s, found[s], expected.versions[s]) for s in behind[:5]]}, "
                f"unexpected or ahead {len(ahead)} {ahead[:5]}")

    def figures(self, org: str) -> Expected:
        sessions = self.rows(
            "SELECT organization_id, clip_id, session_id, source, started_at, "
            "duration_seconds, kept FROM {db}.sessions WHERE organization_id = {o:String}", o=org)
        buckets = self.rows(
            "SELECT organization_id, clip_id, source, day, bucket, listeners, listens "
            "FROM {db}.consumption_by_bucket WHERE organization_id = {o:String} "
            "ORDER BY clip_id, source, day, bucket", o=org)
        rights = self.rows(
            "SELECT organization_id, clip_id, day, platform, method, clip_plays "
            "FROM {db}.rights_by_clip WHERE organization_id = {o:String} AND clip_plays > 0 "
            "ORDER BY clip_id, day, platform, method", o=org)
        return Expected(
            sorted((*s[:4], _millis(s[4]), *s[5:]) for s in sessions), buckets, rights,
            self.versions(org))


class Workers:
    """``playhead worker`` processes of one consumer group, each in its own state folder."""

    def __init__(self, base: Settings, root: Path):
        self.base = base
        self.root = root
        self.running: dict[str, Settings] = {}
        self.history: list[str] = []  # starts and stops with their durations, for failures
        self._healed = 0.0

    def settings(self, name: str) -> Settings:
        return self.base.model_copy(update={"state_dir": self.root / name,
                                            "metrics_port": free_port()})

    def start(self, name: str) -> Settings:
        settings = self.running.get(name) or self.settings(name)
        began = time.monotonic()
        # Info level: a failure shows the worker's last rebalances and recoveries.
        services.start(settings, "worker", ["worker", "--loglevel", "info"],
                       services.file_exists(settings.worker_ready_file), env=to_env(settings),
                       timeout=120, marker=settings.worker_ready_file)
        self.running[name] = settings
        self.history.append(f"{name} ready in {time.monotonic() - began:.1f} s")
        return settings

    def kill(self, name: str) -> None:
        """kill -9: no shutdown, no commit, no flush."""
        status = services.status(self.running[name], "worker")
        assert status.pid is not None
        os.kill(status.pid, signal.SIGKILL)
        wait_until(lambda: not services.status(self.running[name], "worker").running, 30,
                   f"worker {name} to die")

    def stop(self, name: str) -> None:
        # A minute for a graceful stop: one that commits and leaves the group
        # hands its partitions over at once, where SIGKILL would make the
        # others wait out the group's 60 s session timeout.
        began = time.monotonic()
        services.stop(self.running.pop(name), "worker", timeout=60.0)
        self.history.append(f"{name} stopped in {time.monotonic() - began:.1f} s")

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)

    def heal(self, every: float = 5.0) -> None:
        """Restart a worker whose /livez says it is stalled, as Kubernetes' liveness
        probe does (deploy/k8s/worker.yaml): a worker whose consumer stopped fetching
        some partitions after a rebalance (faust-streaming/faust#629) recovers only
        by a restart, and the figures must be exact after it."""
        if time.monotonic() - self._healed < every:
            return
        self._healed = time.monotonic()
        for name, settings in list(self.running.items()):
            try:
                answer = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/livez", timeout=5)
            except httpx.HTTPError:
                continue
            if answer.status_code == 503:
                self.history.append(f"{name} restarted: {answer.json().get('detail')}")
                self.stop(name)
                self.start(name)

    def logs(self, lines: int = 30) -> str:
        """The end of every worker's log this group has run (stopped ones included)."""
        return f"\n{'; '.join(self.history)}" + "".join(
            f"\n--- {path.parent.parent.name} ({path.name}) ---\n{services.tail(path, lines)}"
            for path in sorted(self.root.glob("*/logs/worker.log")))

    def metrics(self, name: str) -> dict[str, float]:
        settings = self.running[name]
        text = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=5).text
        return dict(_samples(text))


def _samples(text: str) -> Iterator[tuple[str, float]]:
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            yield name, float(value)


def by_partition(events: list[PlaybackEvent]) -> dict[str, list[PlaybackEvent]]:
    grouped: dict[str, list[PlaybackEvent]] = defaultdict(list)
    for e in events:
        grouped[e.session_key].append(e)
    return grouped


def locate(settings: Settings, session_ids: Iterable[str],
           timeout: float = 10.0) -> list[tuple[int, int, str, int]]:
    """Where the events of these sessions sit in the events topic: (partition,
    offset, session, sequence number), for a failure to name what went missing."""
    wanted = set(session_ids)
    codec = event_codec()

    async def read() -> list[tuple[int, int, str, int]]:
        consumer = AIOKafkaConsumer(settings.events_topic,
                                    bootstrap_servers=settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        out = []
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000)
                if not batch:
                    break
                for messages in batch.values():
                    for m in messages:
                        if not m.value:
                            continue  # a tick
                        try:
                            records = codec.decode_many(m.value)
                        except Exception:  # noqa: BLE001  # undecodable: not ours to find
                            continue
                        for r in records:
                            if r.get("session_id") in wanted:
                                out.append((m.partition, m.offset, r["session_id"],
                                            r.get("sequence_number", -1)))
        finally:
            await consumer.stop()
        return sorted(out)
    return asyncio.run(read())
