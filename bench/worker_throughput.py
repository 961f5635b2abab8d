"""Worker benchmark: throughput beside a raw consumer, close-to-queryable latency,
memory per million open sessions, and the retention query over a million sessions.

Starts a throwaway platform (Kafka, warehouse, one worker; bench/platform_kit.py)
and measures, in one run:

1. events/s of one worker process over a backlog of complete sessions (6 events
   each), beside a raw aiokafka consumer that only decodes (fastavro) the same
   records (``--raw-runs`` passes, half before the worker's and half after
   it, the median), twice: the backlog published
   with the documented producer helper (``EventProducer``: a session's events
   share a batch record), then one published as third-party producers may, one
   event per record, written while the worker is stopped (so it meets a
   backlog, not the pace of this script's producer); each also timed as it
   lands in ClickHouse (every session of the backlog in ``sessions``), and the
   worker's CPU (cores) over each;
2. p50/p99 seconds from the moment Kafka acknowledged a session's closing
   event to the session being visible in ``sessions`` (polled every 50 ms),
   for sessions sent at a steady rate to the idle worker;
3. resident memory and stored state per open session, measured over
   ``--open`` sessions (default 100k) and extrapolated to a million;
4. the retention query (``consumption_by_bucket`` for one clip, grouped by
   bucket) over a million synthetic sessions inserted straight into
   ``session_versions`` through the warehouse.

``--profile FILE`` runs the worker under cProfile, keeps the stats in FILE and
prints its top functions to stderr. Progress on stderr, one JSON line on stdout.
Usage: .venv/bin/python bench/worker_throughput.py [--events 120000] [--open 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from platform_kit import BenchPlatform, cpu_seconds, git_revision, machine, rss_mib, say  # noqa: E402

from config.settings import Settings  # noqa: E402
from devkit.local import services  # noqa: E402
from schemas import event_codec  # noqa: E402
from schemas.event import EventKind, PlaybackEvent  # noqa: E402
from schemas.producer import EventProducer  # noqa: E402
from sinks.client import connect  # noqa: E402

TARGETS = {"events_per_second": 20_000, "share_of_raw": 0.30,
           "single_record_events_per_second": 10_000, "close_to_queryable_p99": 1.0,
           "mib_per_million_open": 300, "retention_query_ms": 200}
STEPS = [(EventKind.START, "play", 0.0), (EventKind.HEARTBEAT, "progress", 10.0),
         (EventKind.STOP, "pause", 20.0), (EventKind.START, "resume", 95.0),
         (EventKind.HEARTBEAT, "progress", 120.0), (EventKind.STOP, "end", 160.0)]


def session_events(org: str, clip: str, n: int, complete: bool = True,
                   steps: list[tuple[EventKind, str, float]] = STEPS) -> list[PlaybackEvent]:
    sid = str(uuid.uuid4())
    return [PlaybackEvent(str(uuid.uuid4()), org, sid, clip, "Web", kind, position, seq,
                          1.7e9 + n + seq * 7, session_complete=complete and seq == len(steps),
                          action=action, dialect="bench", received_at=1.7e9 + n + seq * 7)
            for seq, (kind, action, position) in enumerate(steps, 1)]


async def produce(settings: Settings, events: list[PlaybackEvent]) -> float:
    """One event per record, as a producer without Playhead's helper may write them.

    Sends and waits for every acknowledgement; returns the wall time of the last one.
    """
    codec = event_codec()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    try:
        sent = [await producer.send(settings.events_topic, codec.encode(e.to_record()),
                                    key=e.session_key.encode()) for e in events]
        await asyncio.gather(*sent)
        return time.time()
    finally:
        await producer.stop()


async def produce_with_helper(settings: Settings, events: list[PlaybackEvent],
                              per_call: int = 1200) -> float:
    """With ``EventProducer``, ``per_call`` events a call (as a gateway publishes requests)."""
    async with EventProducer(settings.kafka_bootstrap, settings.events_topic) as producer:
        for start in range(0, len(events), per_call):
            await producer.publish(events[start:start + per_call])
    return time.time()


async def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.events_topic, p)
                      for p in sorted(consumer.partitions_for_topic(settings.events_topic)
                                      or await _partitions(consumer, settings))]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, settings: Settings) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 (aiokafka's only way)
    return consumer.partitions_for_topic(settings.events_topic) or set()


def raw_rates(settings: Settings, start: dict[TopicPartition, int], count: int,
              runs: int) -> list[float]:
    """``raw_rate`` ``runs`` times over the same records: one pass takes about a
    second, and single passes on this machine have ranged from 55,000 to 135,000
    events/s; the median of several is the baseline the worker is compared with."""
    return [asyncio.run(raw_rate(settings, start, count)) for _ in range(runs)]


async def raw_rate(settings: Settings, start: dict[TopicPartition, int], count: int) -> float:
    """What a bare consumer does with the same records: fetch and decode, nothing else.

    Reads from ``start`` (offsets per partition) until ``count`` events are decoded.
    """
    codec = event_codec()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    seen, started = 0, 0.0
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            started = started or time.perf_counter()
            for messages in batch.values():
                for message in messages:
                    if message.value:  # the worker's own ticks are empty
                        seen += len(codec.decode_many(message.value))
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


# One client for every look: ``httpx.get`` builds a client, and its TLS context, each
# call (32 ms of CPU measured), which at ten looks a second took a third of a core
# from the worker being timed on a 2-core machine.
HTTP = httpx.Client(timeout=5)


def scrape(worker: Settings) -> dict[str, float]:
    text = HTTP.get(f"http://127.0.0.1:{worker.metrics_port}/metrics").text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def processed(worker: Settings) -> float:
    m = scrape(worker)
    return sum(m.get(f'playhead_worker_events_total{{outcome="{o}"}}', 0)
               for o in ("new", "duplicate", "reopened"))


def worker_rate(worker: Settings, total: int,
                before: float = 0) -> tuple[float, tuple[float, float]]:
    """Events/s from the first processed event past ``before`` to ``before + total``,
    and when (perf_counter) the first were seen processed, and how many."""
    first = None
    while True:
        done = processed(worker)
        now = time.perf_counter()
        if done > before and first is None:
            first = (now, done)
        if done >= before + total and first is not None:
            if done == first[1]:
                raise SystemExit(f"the worker had done all {total} events before the first "
                                 "look (0.1 s): give the backlog more events to time it")
            return (done - first[1]) / max(now - first[0], 1e-9), first
        time.sleep(0.1)


def landed_rate(bench: BenchPlatform, clip: str, sessions: int, events: int,
                first: tuple[float, float]) -> float:
    """Events/s as the backlog lands in ClickHouse: from when ``worker_rate`` first saw
    events processed until every one of its ``sessions`` (of ``clip``) is in
    ``sessions``, counting the events processed after that first look."""
    client = connect(bench.settings.clickhouse_url)
    query = (f"SELECT count() FROM {bench.settings.clickhouse_database}.sessions "
             "WHERE clip_id = {c:String}")
    deadline = time.perf_counter() + 600
    while client.query(query, parameters={"c": clip}).result_rows[0][0] < sessions:
        if time.perf_counter() > deadline:
            raise RuntimeError("the backlog never landed in ClickHouse")
        time.sleep(0.05)
    return (events - first[1]) / (time.perf_counter() - first[0])


def latency(bench: BenchPlatform, sessions: int, rate: float) -> list[float]:
    settings = bench.settings
    client = connect(settings.clickhouse_url)
    org, clip = str(uuid.uuid4()), str(uuid.uuid4())
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            rows = client.query(f"SELECT session_id FROM {settings.clickhouse_database}.sessions "
                                "WHERE clip_id = {c:String}", parameters={"c": clip}).result_rows
            now = time.time()
            for (sid,) in rows:
                seen.setdefault(sid, now)
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    for n in range(sessions):
        events = session_events(org, clip, n)
        acked[events[0].session_id] = asyncio.run(produce(settings, events))
        time.sleep(1 / rate)
    deadline = time.time() + 60
    while len(seen) < sessions and time.time() < deadline:
        time.sleep(0.1)
    stop.set()
    poller.join()
    return sorted(seen[s] - acked[s] for s in acked if s in seen)


def state_bytes(worker: Settings) -> int:
    done = subprocess.run(["du", "-sb", str(worker.state_dir / "worker")], capture_output=True,
                          text=True, check=True)
    return int(done.stdout.split()[0])


def open_sessions(bench: BenchPlatform, worker: Settings, count: int) -> dict[str, float]:
    """Memory and state per open session, from RSS at count/2 and count open sessions.

    The marginal cost between the two points leaves out what is bounded and
    mostly filled by the first half: RocksDB memtables and caches.
    """
    pid = bench.pid("worker", worker)
    org, clip = str(uuid.uuid4()), str(uuid.uuid4())
    points = []
    for half in range(2):
        points.append((rss_mib(pid), state_bytes(worker)))
        base = scrape(worker)["playhead_worker_open_sessions"]
        opening = [e for n in range(half * count // 2, (half + 1) * count // 2)
                   for e in session_events(org, clip, n, complete=False, steps=STEPS[:1])]
        asyncio.run(produce(bench.settings, opening))
        deadline = time.time() + 900
        while scrape(worker)["playhead_worker_open_sessions"] < base + len(opening):
            if time.time() > deadline:
                raise RuntimeError("open sessions never reached the worker")
            time.sleep(0.5)
        time.sleep(2)
    points.append((rss_mib(pid), state_bytes(worker)))
    per = 1_000_000 / count
    return {"rss_mib_per_million": round((points[2][0] - points[0][0]) * per, 1),
            "rss_mib_per_million_marginal": round((points[2][0] - points[1][0]) * 2 * per, 1),
            "state_bytes_per_session": round((points[2][1] - points[0][1]) / count, 1),
            "measured_sessions": count}


def index_memory(sessions: int) -> float:
    """MiB the open-session index takes for ``sessions`` keys shaped like real ones."""
    import tracemalloc

    from processors.open_index import OpenSessions

    keys = [f"{uuid.uuid4()}/{uuid.uuid4()}" for _ in range(sessions)]
    tracemalloc.start()
    index = OpenSessions()
    for n, key in enumerate(keys):
        index.touch(key, 1.7e9 + n)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The keys are the worker's too (decoded from each message), so count them.
    size += sum(sys.getsizeof(key) for key in keys)
    return size / 2**20 * 1_000_000 / sessions


def retention_query(bench: BenchPlatform, sessions: int) -> dict[str, float]:
    settings = bench.settings
    client = connect(settings.clickhouse_url)
    db, org, clip = settings.clickhouse_database, str(uuid.uuid4()), str(uuid.uuid4())
    # Each synthetic session hears one to three stretches of a 30-minute clip.
    started = time.perf_counter()
    client.command(f"""
        INSERT INTO {db}.session_versions (organization_id, clip_id, session_id, source, day,
            started_at, ended_at, duration_seconds, kept, version, edges, listener_steps,
            listen_steps)
        SELECT '{org}', '{clip}', toString(generateUUIDv4()), ['Web', 'MobileApp'][n % 2 + 1],
               toDate('2026-01-01') + n % 7, now64(3), now64(3), 60, 1, 6,
               arraySlice([a, b, c, d, e, f], 1, 2 * (n % 3 + 1)),
               arraySlice([1, -1, 1, -1, 1, -1], 1, 2 * (n % 3 + 1)),
               arraySlice([1, -1, 1, -1, 1, -1], 1, 2 * (n % 3 + 1))
        FROM (
            SELECT number AS n, toUInt32(n % 97) AS a, toUInt32(a + 20 + n % 300) AS b,
                   toUInt32(b + 1 + n % 13) AS c, toUInt32(c + 30 + n % 500) AS d,
                   toUInt32(d + 5 + n % 7) AS e, toUInt32(e + 1 + n % 900) AS f
            FROM numbers({sessions})
        )""", settings={"max_insert_block_size": 100_000})
    inserted = time.perf_counter() - started
    query = (f"SELECT bucket, sum(listeners), sum(listens) FROM {db}.consumption_by_bucket "
             "WHERE clip_id = {c:String} GROUP BY bucket ORDER BY bucket")
    times = []
    for _ in range(7):
        t = time.perf_counter()
        rows = client.query(query, parameters={"c": clip}).result_rows
        times.append((time.perf_counter() - t) * 1000)
    assert rows[0][1] > 0
    return {"retention_query_ms_median": round(statistics.median(times), 1),
            "retention_query_ms_max": round(max(times), 1),
            "retention_query_ms_first": round(times[0], 1),
            "retention_sessions": sessions, "retention_insert_seconds": round(inserted, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Backlogs of ten seconds or so of the worker's work: over two or three, the
    # last batch's wait to fill (PLAYHEAD_SINK_BATCH_SECONDS) when the backlog
    # ends, and the 0.1 s between looks, made a fifth of the figure.
    parser.add_argument("--events", type=int, default=480_000,
                        help="backlog published with EventProducer (default 480,000)")
    parser.add_argument("--single-events", type=int, default=240_000,
                        help="backlog published one event per record (default 240,000)")
    parser.add_argument("--raw-runs", type=int, default=4,
                        help="passes of the raw consumer over each backlog, half before the "
                             "worker's and half after; the median is the baseline (default 4)")
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--latency-sessions", type=int, default=200)
    parser.add_argument("--retention-sessions", type=int, default=1_000_000)
    parser.add_argument("--profile", metavar="FILE",
                        help="run the worker under cProfile, keep the stats in FILE")
    args = parser.parse_args()
    result: dict[str, object] = {"machine": machine(), "revision": git_revision()}
    with BenchPlatform() as bench:
        settings = bench.settings
        org, clip = str(uuid.uuid4()), str(uuid.uuid4())
        backlog = [e for n in range(args.events // len(STEPS))
                   for e in session_events(org, clip, n)]
        say(f"producing {len(backlog)} events with EventProducer (a record per session)")
        start = asyncio.run(end_offsets(settings))
        asyncio.run(produce_with_helper(settings, backlog))
        # The baseline's passes straddle the worker's: this machine's speed drifts
        # by a third within minutes, and passes all before the worker compared it
        # with another minute's machine.
        before = (args.raw_runs + 1) // 2
        raws = raw_rates(settings, start, len(backlog), before)
        say(f"raw consumer before the worker: {', '.join(f'{r:.0f}' for r in raws)} events/s")
        env = {}
        if args.profile:
            env["PLAYHEAD_BENCH_PROFILE"] = str(Path(args.profile).resolve())
        worker = bench.start_worker("w1", env)
        cpu_before = cpu_seconds(bench.pid("worker", worker))
        rate, first = worker_rate(worker, len(backlog))
        cores = (cpu_seconds(bench.pid("worker", worker)) - cpu_before) / (len(backlog) / rate)
        landed = landed_rate(bench, clip, len(backlog) // len(STEPS), len(backlog), first)
        raws += raw_rates(settings, start, len(backlog), args.raw_runs - before)
        raw = statistics.median(raws)
        say(f"raw consumer: {raw:.0f} events/s (median of "
            f"{', '.join(f'{r:.0f}' for r in raws)}, the last after the worker)")
        say(f"worker: {rate:.0f} events/s ({cores:.2f} cores), landed in ClickHouse at "
            f"{landed:.0f} events/s")
        result.update(events=len(backlog), raw_events_per_second=round(raw),
                      raw_runs=[round(r) for r in raws],
                      events_per_second=round(rate), share_of_raw=round(rate / raw, 3),
                      landed_events_per_second=round(landed), worker_cores=round(cores, 2))
        # The single-record backlog is written while the worker is stopped, so the
        # worker meets a backlog, not the pace of this script's producer.
        services.stop(worker, "worker")
        single_clip = str(uuid.uuid4())
        single = [e for n in range(args.single_events // len(STEPS))
                  for e in session_events(org, single_clip, 10**7 + n)]
        say(f"producing {len(single)} events one per record")
        start = asyncio.run(end_offsets(settings))
        asyncio.run(produce(settings, single))
        single_raws = raw_rates(settings, start, len(single), before)
        if args.profile:  # the first phase's profile is the one printed
            env["PLAYHEAD_BENCH_PROFILE"] = str(Path(args.profile + ".single").resolve())
        worker = bench.start_worker("w1", env)
        cpu_before = cpu_seconds(bench.pid("worker", worker))
        single_rate, first = worker_rate(worker, len(single))
        single_cores = ((cpu_seconds(bench.pid("worker", worker)) - cpu_before)
                        / (len(single) / single_rate))
        single_landed = landed_rate(bench, single_clip, len(single) // len(STEPS), len(single),
                                    first)
        single_raw = statistics.median(
            single_raws + raw_rates(settings, start, len(single), args.raw_runs - before))
        say(f"one event per record: worker {single_rate:.0f} events/s ({single_cores:.2f} "
            f"cores, landed "
            f"{single_landed:.0f}), raw {single_raw:.0f}")
        result.update(single_record_events=len(single),
                      single_record_events_per_second=round(single_rate),
                      single_record_landed_events_per_second=round(single_landed),
                      single_record_worker_cores=round(single_cores, 2),
                      single_record_raw_events_per_second=round(single_raw))
        waits = latency(bench, args.latency_sessions, rate=20)
        p99 = waits[max(int(len(waits) * 0.99) - 1, 0)]
        result.update(close_to_queryable_p50=round(waits[len(waits) // 2], 3),
                      close_to_queryable_p99=round(p99, 3),
                      close_to_queryable_sessions=len(waits))
        say(f"close to queryable p50 {result['close_to_queryable_p50']} s, "
            f"p99 {result['close_to_queryable_p99']} s")
        memory = open_sessions(bench, worker, args.open)
        memory["index_mib_per_million"] = round(index_memory(args.open), 1)
        result.update(memory)
        say(f"open sessions: {memory}")
        query = retention_query(bench, args.retention_sessions)
        result.update(query)
        say(f"retention query: {query}")
        if args.profile:
            services.stop(worker, "worker")
            print_profile(Path(args.profile))
    result["meets"] = {
        "events_per_second": rate >= TARGETS["events_per_second"],
        "share_of_raw": rate / raw >= TARGETS["share_of_raw"],
        "single_record_events_per_second":
            single_rate >= TARGETS["single_record_events_per_second"],
        "close_to_queryable_p99": p99 <= TARGETS["close_to_queryable_p99"],
        "mib_per_million_open":
            memory["index_mib_per_million"] <= TARGETS["mib_per_million_open"],
        "retention_query_ms":
            query["retention_query_ms_median"] <= TARGETS["retention_query_ms"],
    }
    result["targets"] = TARGETS
    print(json.dumps(result), flush=True)
    return 0


def print_profile(path: Path) -> None:
    import pstats

    if path.exists():
        stats = pstats.Stats(str(path), stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    sys.exit(main())
