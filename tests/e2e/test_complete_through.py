"""The complete-through watermark on the real pipeline: it advances, it stops, it is never early.

Real broker, real worker processes, the warehouse server. Events are produced
as the gateway would accept them (at most ``max_event_age`` old when they
reach Kafka), some late enough to re-open their session within its lateness
window, to change its start (an earlier sequence number), or to begin a
continuation after it. A recorder reads the watermark and then every
session's newest version again and again; the check is the watermark's
promise: no session row dated before a watermark read at one instant is
different (or new) at any later instant.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from worker_cluster import Warehouse, Workers, produce

from config.settings import Settings
from processors.topics import ensure_topics
from schemas.event import EventKind, PlaybackEvent
from sinks.client import connect
from sinks.completeness import complete_through
from sinks.migrate import migrate

pytestmark = pytest.mark.integration  # workers on the session's broker and warehouse

MAX_AGE = 15.0
MARGIN = MAX_AGE + 2.0 + 1.0  # max_event_age + max_future + publish_timeout
LATENESS = 10.0


@pytest.fixture
def base(kafka: Settings, warehouse_url: str) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:10]
    settings = kafka.model_copy(update={
        "events_topic": f"test.{suffix}.events",
        "dead_letter_topic": f"test.{suffix}.dlq",
        "clickhouse_url": warehouse_url,
        "clickhouse_database": f"test_{suffix}",
        "worker_id": f"test-done-{suffix}",
        "topic_partitions": 4,
        "tick_seconds": 1.0,
        "idle_timeout_seconds": 3.0,
        "lateness_seconds": LATENESS,
        "tombstone_seconds": 600.0,  # late events continue their sessions throughout
        "max_event_age_seconds": MAX_AGE,
        "max_future_seconds": 2.0,
        "publish_timeout_seconds": 1.0,
        "sink_batch_seconds": 0.2,
    })
    ensure_topics(settings)
    client = connect(warehouse_url)
    migrate(client, settings.clickhouse_database)
    yield settings
    client.command(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")


def _utc(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


class Recorder:
    """Watermark readings, each followed by every session's newest row."""

    def __init__(self, warehouse: Warehouse, org: str):
        self.warehouse = warehouse
        self.org = org
        self.readings: list[tuple[datetime | None, dict[str, tuple[Any, ...]]]] = []

    def rows(self) -> dict[str, tuple[Any, ...]]:
        return {row[0]: (row[1], _utc(row[2]), row[3]) for row in self.warehouse.rows(
            "SELECT session_id, max(version), argMax(started_at, version), "
            "argMax(duration_seconds, version) FROM {db}.session_versions "
            "WHERE organization_id = {o:String} GROUP BY session_id", o=self.org)}

    def watermark(self) -> datetime | None:
        return complete_through(self.warehouse.client, self.warehouse.db, self.org)

    def read(self) -> datetime | None:
        # The watermark first: it promises what happens after it was written.
        mark = self.watermark()
        self.readings.append((mark, self.rows()))
        return mark

    def check(self) -> None:
        """No row dated before an earlier reading's watermark differs later; it never
        goes back."""
        marks = [mark for mark, _ in self.readings if mark is not None]
        assert marks == sorted(marks), "the watermark went back"
        for i, (mark, before) in enumerate(self.readings):
            if mark is None:
                continue
            final = {sid: row for sid, row in before.items() if row[1] < mark}
            for _, after in self.readings[i + 1:]:
                now_final = {sid: row for sid, row in after.items() if row[1] < mark}
                assert now_final == final, (
                    f"rows dated before {mark} changed after it was read: "
                    f"{set(now_final.items()) ^ set(final.items())}")

    def wait_past(self, instant: float, timeout: float, what: str) -> datetime:
        def past() -> datetime | None:
            mark = self.read()
            return mark if mark is not None and mark.timestamp() > instant else None
        result: datetime = wait_until(past, timeout, what)
        return result


def plays(org: str, rng: random.Random, count: int, prefix: str) -> list[list[PlaybackEvent]]:
    """Sessions of a start and a stop, stamped in the last few seconds."""
    now = time.time()
    sessions = []
    for n in range(count):
        stamp = now - rng.uniform(0, 4)
        session = f"{prefix}{n}"
        sessions.append([
            PlaybackEvent(str(uuid.uuid4()), org, session, "clip", "Web", kind, position, seq,
                          stamp + seq, action=action, dialect="test",
                          session_complete=seq == 3 and n % 2 == 0)
            for seq, (kind, position, action) in enumerate(
                [(EventKind.START, 0.0, "play"), (EventKind.STOP, 20.0, "pause"),
                 (EventKind.OTHER, 20.0, "like")], 2)])
    return sessions


def late(session: list[PlaybackEvent], sequence: int) -> PlaybackEvent:
    """An event the gateway still takes (almost MAX_AGE old), for an existing session."""
    first = session[0]
    return PlaybackEvent(str(uuid.uuid4()), first.organization_id, first.session_id,
                         first.clip_id, first.source, EventKind.OTHER, 0.0, sequence,
                         time.time() - MAX_AGE + 1.0, action="like", dialect="test")


def test_the_watermark_advances_stops_survives_kill_9_and_rebalance_and_is_never_early(
        base: Settings, tmp_path: Path) -> None:
    warehouse = Warehouse(connect(base.clickhouse_url), base.clickhouse_database)
    workers = Workers(base, tmp_path)
    org = str(uuid.uuid4())
    rng = random.Random(7)
    record = Recorder(warehouse, org)
    try:
        workers.start("w1")
        first = plays(org, rng, 12, "a")
        produce(base, [e for s in first for e in s])
        # A long play: open for longer than the margin, so only the worker's
        # knowledge of its open sessions keeps the watermark before its start.
        begun = time.time()
        long = [PlaybackEvent(str(uuid.uuid4()), org, "long", "clip", "Web", EventKind.START,
                              0.0, 1, begun, action="play", dialect="test")]
        produce(base, long)
        while time.time() < begun + MARGIN + 8:
            time.sleep(2.0)
            record.read()
            long.append(replace(long[0], event_id=str(uuid.uuid4()), kind=EventKind.HEARTBEAT,
                                sequence_number=len(long) + 1, position_seconds=len(long) * 2.0,
                                timestamp=time.time(), action="progress"))
            produce(base, long[-1:])
        wait_until(lambda: len(record.rows()) == 13, 60, "the first sessions to close")
        started = max(begun, *(e.timestamp for s in first for e in s))
        # Advances: nothing of these sessions can change once they are final
        # and no event the gateway would take could be dated before them.
        mark = record.wait_past(started, 90, "the watermark to pass the first sessions")
        assert mark.timestamp() <= time.time() - MARGIN

        # Late events the gateway takes: re-open a session within its window
        # (one with an earlier sequence number moves its start), and, after a
        # session's window, begin its continuation. None is dated before the mark.
        second = plays(org, rng, 6, "b")
        produce(base, [e for s in second for e in s])
        wait_until(lambda: len(record.rows()) == 19, 60, "the second sessions to close")
        produce(base, [late(second[0], 1), late(second[1], 9)])
        wait_until(lambda: record.rows()[second[0][0].session_id][0] == 4, 30,
                   "a re-opened session's new version")
        time.sleep(LATENESS + 2)
        produce(base, [late(first[0], 1), late(second[2], 9)])
        wait_until(lambda: f"{first[0][0].session_id}~1" in record.rows(), 30,
                   "a continuation")
        record.read()

        # The only worker stopped: the watermark stops where it was.
        workers.stop("w1")
        stopped = record.read()
        produce(base, [e for s in plays(org, rng, 4, "c") for e in s])
        for _ in range(4):
            time.sleep(1.5)
            assert record.read() == stopped

        # kill -9 in the middle of a stream, then a restart: it holds, then goes on.
        workers.start("w1")
        produce(base, [e for s in plays(org, rng, 30, "d") for e in s])
        workers.kill("w1")
        killed = record.read()
        workers.start("w1")
        assert stopped is not None and killed is not None
        record.wait_past(killed.timestamp() + 3, 90, "the watermark to go on after kill -9")

        # A second worker takes over partitions, then leaves: it goes on.
        workers.start("w2")
        produce(base, [e for s in plays(org, rng, 20, "e") for e in s])
        wait_until(lambda: workers.metrics("w2").get(
            'playhead_worker_events_total{outcome="new"}', 0) > 0, 60,
            "the second worker to process events")
        before = record.read()
        assert before is not None
        record.wait_past(before.timestamp() + 3, 90, "the watermark to go on with two workers")
        workers.stop("w2")
        after = record.read()
        assert after is not None
        record.wait_past(after.timestamp() + 3, 90, "the watermark to go on after the rebalance")
        produce(base, [late(first[1], 1)])  # one more late event for an old session
        time.sleep(3)
        record.read()
    finally:
        workers.stop_all()
    record.check()
    assert len(record.readings) > 20
