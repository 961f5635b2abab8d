"""Soak: a steady rate of realistic sessions for minutes, then zero loss and flat memory.

Starts a throwaway platform (Kafka, warehouse, one gateway, one worker), runs
`playhead loadgen` in this process at ``--rate`` sessions a second for
``--minutes``, and samples every minute the resident memory of the gateway,
worker, warehouse (and the Kafka JVM, for information) and the consumer lag.
Afterwards it waits until ClickHouse's views hold exactly what the pure core
computes over the acknowledged events (sessions, kept, durations, listeners,
listens) and reports the memory slope of each process (least squares, MiB per
minute). Exits 1 on any loss or client error.

Progress on stderr, one JSON line on stdout.
Usage: .venv/bin/python bench/soak.py --rate 40 --minutes 10
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
)

from playhead.loadcheck import wait_for  # noqa: E402
from playhead.loadgen import run  # noqa: E402
from playhead.local.kafka import KafkaBroker  # noqa: E402
from playhead.status import kafka_figures, metrics_url  # noqa: E402
from processors.session import Rules  # noqa: E402
from sinks.client import connect  # noqa: E402


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
    def __init__(self, pids: dict[str, int], bench: BenchPlatform, every: float):
        super().__init__(daemon=True)
        self.pids, self.bench, self.every = pids, bench, every
        self.rss: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.lag: list[tuple[float, int]] = []
        self.started = time.monotonic()
        self.cpu_start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.done = threading.Event()

    def sample(self) -> None:
        minute = round((time.monotonic() - self.started) / 60, 2)
        for name, pid in self.pids.items():
            self.rss[name].append((minute, round(rss_mib(pid), 1)))
        self.lag.append((minute, kafka_figures(self.bench.settings).total_lag))
        say("rss MiB " + ", ".join(f"{n} {s[-1][1]:.0f}" for n, s in self.rss.items())
            + f"; lag {self.lag[-1][1]}")

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()

    def cpu_percent(self) -> dict[str, float]:
        """Average share of one core each process used since the start."""
        elapsed = time.monotonic() - self.started
        return {name: round(100 * (cpu_seconds(pid) - self.cpu_start[name]) / elapsed, 1)
                for name, pid in self.pids.items()}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="sessions per second")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-seconds", type=float, default=60.0)
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
        kafka_pid = KafkaBroker(settings).status().pid
        pids = {"gateway": gateway, "worker": bench.pid("worker", worker),
                "warehouse": bench.pid("warehouse", settings)}
        if kafka_pid:
            pids["kafka"] = kafka_pid
        pids["loadgen"] = os.getpid()  # this process: the client's share of the machine
        sampler = Sampler(pids, bench, args.sample_seconds)
        sampler.sample()
        sampler.start()
        rules = Rules(min_session_seconds=settings.min_session_seconds,
                      bucket_seconds=settings.bucket_seconds)
        say(f"{args.rate:g} sessions/s for {args.minutes:g} min to {settings.gateway_url}")
        progress, expected = asyncio.run(run(
            settings.gateway_url, organization, args.rate, args.minutes * 60, rules,
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
    summary = progress.summary()
    result = {
        "benchmark": "soak", **machine(), "revision": git_revision(),
        "offered_sessions_per_second": args.rate, "minutes": args.minutes,
        "sink_batch_seconds": settings.sink_batch_seconds,
        **summary, "expected": vars(want), "counted": vars(found),
        "lossless": lossless, "counted_after_seconds": round(waited, 1),
        "rss_mib": {name: samples for name, samples in sampler.rss.items()},
        "rss_slope_mib_per_minute": {name: round(slope(samples), 2)
                                     for name, samples in sampler.rss.items()},
        # Without the first minute's warm-up (caches, producer buffers, imports).
        "rss_slope_after_first_minute": {
            name: round(slope([s for s in samples if s[0] >= 1.0]), 2)
            for name, samples in sampler.rss.items()},
        "cpu_percent_of_one_core": cpu,
        "lag_samples": sampler.lag, **sinks,
    }
    print(json.dumps(result))
    sys.exit(0 if lossless else 1)


if __name__ == "__main__":
    main()
