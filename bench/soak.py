"""Soak: a steady rate of realistic sessions for minutes, then zero loss and flat memory.

Starts a throwaway platform (Kafka, warehouse, one gateway, one worker) and
first gives the worker ``--preload`` complete sessions straight through Kafka,
so that its state store holds what a worker that has run for a while holds
(its bounded cache full). Then it runs `playhead loadgen` in this process at
``--rate`` sessions a second for ``--warmup`` plus ``--minutes`` minutes,
sampling the resident memory of the gateway, worker, warehouse (and the Kafka
JVM and this process, for information), the worker's state-store memory and
the consumer lag. Afterwards it waits until ClickHouse's views hold exactly
what the pure core computes over the acknowledged events (sessions, kept,
durations, listeners, listens).

Memory is flat when the least-squares slope of the gateway's and the worker's
RSS over the last ``--minutes`` is at most ``--max-slope`` MiB per minute (the
warehouse, Kafka and the load generator are reported, not judged). Exits 1 on
any loss, client error or rising memory.

Progress on stderr, one JSON line on stdout.
Usage: .venv/bin/python bench/soak.py --rate 60 --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from platform_kit import (  # noqa: E402
    BenchPlatform,
    cpu_seconds,
    git_revision,
    machine,
    rss_mib,
    say,
    store_memory_mib,
)
from worker_throughput import processed, produce, session_events  # noqa: E402

from config.settings import Settings  # noqa: E402
from devkit.loadcheck import wait_for  # noqa: E402
from devkit.loadgen import run  # noqa: E402
from devkit.local.kafka import KafkaBroker  # noqa: E402
from devkit.status import kafka_figures, metrics_url  # noqa: E402
from processors.session import Rules  # noqa: E402
from sinks.client import connect  # noqa: E402

# The pipeline's own processes. Reported only: the warehouse (the development
# stand-in for a ClickHouse server, whose caches and merges make a sawtooth of
# some 50 MiB that ten minutes cannot tell from a trend), Kafka's JVM and this
# load generator (which keeps every expected session).
JUDGED = ("gateway", "worker")


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MiB) samples."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mx = sum(x for x, _ in samples) / n
    my = sum(y for _, y in samples) / n
    var = sum((x - mx) ** 2 for x, _ in samples)
    return sum((x - mx) * (y - my) for x, y in samples) / var if var else 0.0


class Sampler(threading.Thread):
    def __init__(self, pids: dict[str, int], bench: BenchPlatform, every: float,
                 worker: Settings):
        super().__init__(daemon=True)
        self.pids, self.bench, self.every = pids, bench, every
        self.worker = worker
        self.rss: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.store: list[tuple[float, float]] = []  # the worker's state-store cache, MiB
        self.lag: list[tuple[float, int]] = []
        self.started = time.monotonic()
        self.cpu_start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.done = threading.Event()

    def sample(self) -> None:
        minute = round((time.monotonic() - self.started) / 60, 2)
        for name, pid in self.pids.items():
            self.rss[name].append((minute, round(rss_mib(pid), 1)))
        self.lag.append((minute, kafka_figures(self.bench.settings).total_lag))
        self.store.append((minute, store_memory_mib(self.worker).get("cache", 0.0)))
        say("rss MiB " + ", ".join(f"{n} {s[-1][1]:.0f}" for n, s in self.rss.items())
            + f"; worker store cache {self.store[-1][1]:.0f}; lag {self.lag[-1][1]}")

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()

    def cpu_percent(self) -> dict[str, float]:
        """Average share of one core each process used since the start."""
        elapsed = time.monotonic() - self.started
        return {name: round(100 * (cpu_seconds(pid) - self.cpu_start[name]) / elapsed, 1)
                for name, pid in self.pids.items()}


def preload(bench: BenchPlatform, worker: Settings, sessions: int) -> float:
    """Feed the worker complete sessions straight through Kafka; seconds it took."""
    started = time.monotonic()
    org, clip = str(uuid.uuid4()), str(uuid.uuid4())
    sent, chunk = 0, 20_000
    for first in range(0, sessions, chunk):
        events = [e for n in range(first, min(first + chunk, sessions))
                  for e in session_events(org, clip, n)]
        asyncio.run(produce(bench.settings, events))
        sent += len(events)
        say(f"preload: {min(first + chunk, sessions):,} of {sessions:,} sessions sent")
    while processed(worker) < sent:
        time.sleep(1)
    return time.monotonic() - started


def sink_figures(worker_metrics: str) -> dict[str, float]:
    text = httpx.get(worker_metrics, timeout=5).text
    found = {name: float(value) for name, value in re.findall(
        r"^(playhead_worker_sink_(?:batch_sessions|seconds)_(?:sum|count)) (\S+)$", text, re.M)}
    batches = found.get("playhead_worker_sink_batch_sessions_count", 0)
    return {"sink_batches": batches,
            "sessions_per_batch": round(found.get("playhead_worker_sink_batch_sessions_sum", 0)
                                        / batches, 1) if batches else 0,
            "sink_ms_per_batch": round(found.get("playhead_worker_sink_seconds_sum", 0)
                                       / batches * 1000, 1) if batches else 0}


def judge(rss: dict[str, list[tuple[float, float]]], since: float,
          max_slope: float) -> tuple[dict[str, float], list[str]]:
    """Each process's RSS slope from minute ``since`` on, and the judged ones that rise."""
    slopes = {name: round(slope([s for s in samples if s[0] >= since]), 2)
              for name, samples in rss.items()}
    rising = [name for name in JUDGED if slopes.get(name, 0.0) > max_slope]
    return slopes, rising


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=60.0, help="sessions per second")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="minutes whose memory is judged (after the warm-up)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="minutes at the rate before memory is judged")
    parser.add_argument("--preload", type=int, default=100_000,
                        help="complete sessions the worker processes before the run")
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--max-slope", type=float, default=0.5,
                        help="MiB per minute a judged process's RSS may rise")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sink-batch-seconds", type=float, default=None,
                        help="PLAYHEAD_SINK_BATCH_SECONDS of the worker (default: the setting's)")
    args = parser.parse_args()
    organization = str(uuid.uuid4())
    overrides = ({} if args.sink_batch_seconds is None
                 else {"sink_batch_seconds": args.sink_batch_seconds})
    with BenchPlatform(**overrides) as bench:
        settings = bench.settings
        gateway = bench.start_gateway()
        worker = bench.start_worker("worker")
        preload_seconds = preload(bench, worker, args.preload) if args.preload else 0.0
        kafka_pid = KafkaBroker(settings).status().pid
        pids = {"gateway": gateway, "worker": bench.pid("worker", worker),
                "warehouse": bench.pid("warehouse", settings)}
        if kafka_pid:
            pids["kafka"] = kafka_pid
        pids["loadgen"] = os.getpid()  # this process: the client's share of the machine
        sampler = Sampler(pids, bench, args.sample_seconds, worker)
        sampler.sample()
        sampler.start()
        rules = Rules(min_session_seconds=settings.min_session_seconds,
                      bucket_seconds=settings.bucket_seconds)
        total = args.warmup + args.minutes
        say(f"{args.rate:g} sessions/s for {total:g} min to {settings.gateway_url} "
            f"(memory judged after minute {args.warmup:g})")
        progress, expected = asyncio.run(run(
            settings.gateway_url, organization, args.rate, total * 60, rules,
            seed=args.seed, report=say, report_every=30))
        sampler.done.set()
        sampler.join()
        sampler.sample()  # the end of the run
        cpu = sampler.cpu_percent()
        say(f"waiting for {len(expected.sessions)} sessions in ClickHouse")
        found, waited = wait_for(connect(settings.clickhouse_url),
                                 settings.clickhouse_database, expected, timeout=600)
        sinks = sink_figures(metrics_url(worker))
        want = expected.figures()
    lossless = found.matches(want) and not progress.errors
    slopes, rising = judge(sampler.rss, args.warmup, args.max_slope)
    summary = progress.summary()
    result = {
        "benchmark": "soak", **machine(), "revision": git_revision(),
        "offered_sessions_per_second": args.rate, "minutes": args.minutes,
        "warmup_minutes": args.warmup, "preload_sessions": args.preload,
        "preload_seconds": round(preload_seconds, 1),
        "sink_batch_seconds": settings.sink_batch_seconds,
        "state_memory_mib": settings.state_memory_mib,
        **summary, "expected": vars(want), "counted": vars(found),
        "lossless": lossless, "counted_after_seconds": round(waited, 1),
        "rss_slope_mib_per_minute": slopes, "max_slope": args.max_slope,
        "memory_flat": not rising, "rising": rising,
        "cpu_percent_of_one_core": cpu, **sinks,
        "rss_mib": sampler.rss, "store_cache_mib": sampler.store,
        "lag_samples": sampler.lag,
    }
    print(json.dumps(result))
    if rising:
        say(f"memory still rising after the warm-up: {', '.join(rising)}")
    sys.exit(0 if lossless and not rising else 1)


if __name__ == "__main__":
    main()
