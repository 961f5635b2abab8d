"""Worker memory as stored sessions grow: RSS beside the state store's own figures.

Starts a throwaway platform (Kafka, warehouse, one worker) and feeds the
worker ``--rounds`` rounds of ``--sessions`` complete sessions (6 events each)
straight through Kafka, as fast as it takes them. After each round it records
the worker's RSS and what its state store reports holding
(``playhead_worker_state_memory_bytes``: the shared cache and the memtables
charged to it, against its bound ``PLAYHEAD_STATE_MEMORY_MIB``). Closed
sessions stay stored for the lateness and tombstone windows (days), so this is
how a worker's memory behaves as its store fills.

Progress on stderr, one JSON line on stdout.
Usage: .venv/bin/python bench/worker_memory.py [--rounds 12] [--sessions 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_kit import (  # noqa: E402
    BenchPlatform,
    git_revision,
    machine,
    rss_mib,
    say,
    store_memory_mib,
)
from worker_throughput import processed, produce, session_events  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--sessions", type=int, default=20_000, help="sessions per round")
    parser.add_argument("--state-memory-mib", type=int, default=None,
                        help="PLAYHEAD_STATE_MEMORY_MIB of the worker (default: the setting's)")
    args = parser.parse_args()
    overrides = ({} if args.state_memory_mib is None
                 else {"state_memory_mib": args.state_memory_mib})
    points = []
    with BenchPlatform(**overrides) as bench:
        worker = bench.start_worker("worker")
        pid = bench.pid("worker", worker)
        org, clip = str(uuid.uuid4()), str(uuid.uuid4())
        sent, started = 0, time.monotonic()
        for round_ in range(args.rounds):
            first = round_ * args.sessions
            events = [e for n in range(first, first + args.sessions)
                      for e in session_events(org, clip, n)]
            asyncio.run(produce(bench.settings, events))
            sent += len(events)
            while processed(worker) < sent:
                time.sleep(0.5)
            time.sleep(2)  # let the last batch's writes settle
            point = {"sessions": first + args.sessions,
                     "seconds": round(time.monotonic() - started),
                     "rss_mib": round(rss_mib(pid), 1), **store_memory_mib(worker)}
            points.append(point)
            say(", ".join(f"{k} {v}" for k, v in point.items()))
        bound = bench.settings.state_memory_mib
    print(json.dumps({"benchmark": "worker_memory", **machine(), "revision": git_revision(),
                      "state_memory_mib": bound, "points": points}))


if __name__ == "__main__":
    main()
