"""How long a second worker takes to take over a killed worker's partitions.

1. Starts a throwaway platform (Kafka, warehouse) and publishes N open
   sessions (one START each, never completed) straight to Kafka.
2. Worker A consumes them all; worker B joins the group and, with standby
   replicas, keeps a copy of A's table partitions.
3. A is killed (SIGKILL: a crash; or SIGTERM: a rolling restart). Right
   then one probe per partition completes one of the stored sessions.
4. Measured from the kill: ``takeover_seconds`` until B holds all N open
   sessions (B owns every partition and its state is recovered), and
   ``probe_seconds`` until every probe session is in ClickHouse (service
   restored on every partition).

Progress on stderr, one JSON line on stdout.
Usage: .venv/bin/python bench/takeover.py --sessions 100000 [--signal KILL|TERM]
       [--session-timeout 10] [--standby 1] [--partitions 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_kit import BenchPlatform, git_revision, machine, say  # noqa: E402

from config.settings import Settings  # noqa: E402
from devkit.status import open_sessions  # noqa: E402
from schemas.event import EventKind, PlaybackEvent, session_key  # noqa: E402
from schemas.partitioner import partition_of  # noqa: E402
from schemas.producer import EventProducer  # noqa: E402
from sinks.client import connect  # noqa: E402

ORG = "takeover"


async def publish(settings: Settings, events: list[PlaybackEvent]) -> None:
    async with EventProducer(settings.kafka_bootstrap, topic=settings.events_topic) as producer:
        for start in range(0, len(events), 5000):
            await producer.publish(events[start:start + 5000])


def open_count(worker: Settings) -> int:
    return open_sessions(worker)[0] or 0


def wait(check: Callable[[], object], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f}s: {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--signal", choices=["KILL", "TERM"], default="KILL")
    parser.add_argument("--session-timeout", type=float, default=10.0,
                        help="Faust BROKER_SESSION_TIMEOUT of both workers (Faust's default: 60)")
    parser.add_argument("--standby", type=int, default=1, help="TABLE_STANDBY_REPLICAS")
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds both workers run before the kill (standbys catch up)")
    args = parser.parse_args()
    faust_env = {"BROKER_SESSION_TIMEOUT": str(args.session_timeout),
                 "TABLE_STANDBY_REPLICAS": str(args.standby)}
    n = args.sessions
    with BenchPlatform(topic_partitions=args.partitions, tick_seconds=1.0,
                       worker_id=f"takeover-{uuid.uuid4().hex[:6]}") as bench:
        settings = bench.settings
        now = time.time()
        events = [PlaybackEvent(f"t-{i}-1", ORG, f"s{i}", f"clip{i % 50}", "Web",
                                EventKind.START, 0.0, 1, now) for i in range(n)]
        say(f"publishing {n} open sessions")
        asyncio.run(publish(settings, events))
        say("worker A")
        started = time.monotonic()
        a = bench.start_worker("worker-a", faust_env)
        a_ready = time.monotonic() - started
        consumed = wait(lambda: open_count(a) == n, 1800, "worker A holding every session")
        say(f"A holds {n} sessions after {consumed:.1f}s; worker B joins")
        joined = time.monotonic()
        b = bench.start_worker("worker-b", faust_env)
        b_ready = time.monotonic() - joined
        rebalance = wait(lambda: 0 < open_count(b) < n and open_count(a) + open_count(b) == n,
                         600, "the sessions split between A and B")
        b_share = open_count(b)
        say(f"split {n - b_share}/{b_share} {time.monotonic() - joined:.1f}s after B started; "
            f"settling {args.settle:.0f}s")
        time.sleep(args.settle)
        # One stored session per partition gets its completing STOP right after the kill.
        probes: dict[int, str] = {}
        for i in range(n):
            probes.setdefault(partition_of(session_key(ORG, f"s{i}"), args.partitions), f"s{i}")
            if len(probes) == args.partitions:
                break
        stops = [PlaybackEvent(f"t-{s[1:]}-2", ORG, s, f"clip{int(s[1:]) % 50}", "Web",
                               EventKind.STOP, 30.0, 2, now + 30, session_complete=True)
                 for s in probes.values()]
        say(f"SIG{args.signal} to worker A")
        killed = time.monotonic()
        bench.kill_worker(a, getattr(signal, f"SIG{args.signal}"))
        asyncio.run(publish(settings, stops))
        client = connect(settings.clickhouse_url)
        query = (f"SELECT count(DISTINCT session_id) FROM {settings.clickhouse_database}."
                 "session_versions WHERE session_id IN {ids:Array(String)}")
        found: dict[str, float] = {}

        def probes_in() -> bool:
            if "probe" not in found and client.query(query, parameters={
                    "ids": list(probes.values())}).result_rows[0][0] == len(probes):
                found["probe"] = time.monotonic() - killed
            if "takeover" not in found and open_count(b) >= n - len(probes):
                found["takeover"] = time.monotonic() - killed
            return len(found) == 2

        wait(probes_in, 900, "B taking over and the probes reaching ClickHouse")
        say(f"B took over after {found['takeover']:.1f}s; probes in ClickHouse after "
            f"{found['probe']:.1f}s")
    print(json.dumps({
        "benchmark": "takeover", **machine(), "revision": git_revision(),
        "sessions": n, "partitions": args.partitions, "signal": args.signal,
        "broker_session_timeout": args.session_timeout, "standby_replicas": args.standby,
        "worker_a_start_seconds": round(a_ready, 1),
        "worker_a_consume_seconds": round(consumed, 1),
        "worker_b_start_seconds": round(b_ready, 1), "rebalance_seconds": round(rebalance, 1),
        "takeover_seconds": round(found["takeover"], 1),
        "probe_seconds": round(found["probe"], 1)}))


if __name__ == "__main__":
    main()
