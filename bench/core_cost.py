"""The worker's own CPU per event: the pure core it runs per batch, without a broker.

Builds ``--sessions`` six-event sessions (bench/worker_throughput.py's steps),
encodes them as ``EventProducer`` does, and runs what the worker runs per
batch of ``--batch`` Kafka messages (processors/faust_app.py): decode every
message, apply its events to a ``SessionBatch``, settle (``emitted``), list
what the watermark follows (``changing``) and encode the changed sessions
(``changes``); stored values go to a dict standing for RocksDB. A last tick,
a lateness window later, sweeps every stored session into its tombstone.

Three streams, each timed on its own:

* ``batch_records``: one record per session (``EventProducer``), the
  backlog the worker's target is set on (docs/benchmarks.md);
* ``single_records``: one event per record, in session order, as a
  third-party producer writes a backlog;
* ``live``: one event per record, sessions interleaved so that each batch
  holds one event of each session: every event loads, decodes and stores
  its session's state again, as live traffic does.

CPU time (``time.process_time``), the best of ``--runs`` for each stage.
Progress on stderr, per-stage µs/event as a table, then one JSON line.
Usage: .venv/bin/python bench/core_cost.py [--sessions 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processors.batch import SessionBatch  # noqa: E402
from processors.handling import Refused, WorkerCounters, decode_events  # noqa: E402
from processors.open_index import OpenSessions  # noqa: E402
from processors.session import Rules  # noqa: E402
from schemas import event_codec  # noqa: E402
from schemas.bounds import Bounds  # noqa: E402
from schemas.event import EventKind, PlaybackEvent  # noqa: E402

STEPS = [(EventKind.START, "play", 0.0), (EventKind.HEARTBEAT, "progress", 10.0),
         (EventKind.STOP, "pause", 20.0), (EventKind.START, "resume", 95.0),
         (EventKind.HEARTBEAT, "progress", 120.0), (EventKind.STOP, "end", 160.0)]
STAGES = ("decode", "apply", "settle", "changing", "encode_state", "sweep")


def say(message: str) -> None:
    print(f"[core_cost {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sessions(count: int) -> list[list[PlaybackEvent]]:
    """As bench/worker_throughput.py's ``session_events`` builds them (UUID ids)."""
    out = []
    for n in range(count):
        sid = str(uuid.UUID(int=n + 1))
        out.append([PlaybackEvent(str(uuid.UUID(int=(n + 1) << 8 | seq)), f"org{n % 50}", sid,
                                  "clip", "Web", kind, position, seq, 1.7e9 + n + seq * 7,
                                  session_complete=seq == len(STEPS), action=action,
                                  dialect="bench", received_at=1.7e9 + n + seq * 7)
                    for seq, (kind, action, position) in enumerate(STEPS, 1)])
    return out


def streams(all_sessions: list[list[PlaybackEvent]]) -> dict[str, list[bytes]]:
    codec = event_codec()
    say("encoding the streams")
    return {
        "batch_records": [codec.encode_batch([e.to_record() for e in session])
                          for session in all_sessions],
        "single_records": [codec.encode(e.to_record())
                           for session in all_sessions for e in session],
        "live": [codec.encode(session[i].to_record())
                 for i in range(len(STEPS)) for session in all_sessions],
    }


class Token:
    """The shell's handle of a message (a Faust event); opaque to the core."""

    __slots__ = ("offset",)

    def __init__(self, offset: int):
        self.offset = offset


def run(messages: list[bytes], batch_size: int) -> tuple[dict[str, float], int]:
    """CPU seconds per stage over the whole stream, and the events it held."""
    codec, bounds, rules = event_codec(), Bounds(), Rules()
    store: dict[str, bytes] = {}
    index = OpenSessions()
    counters = WorkerCounters()
    spent = dict.fromkeys(STAGES, 0.0)
    clock = time.process_time
    now = 1.8e9
    events = 0

    def load(key: str, _: object) -> bytes | None:
        return store.get(key)

    for start in range(0, len(messages), batch_size):
        now += 0.5
        work = SessionBatch(now, rules, load, counters)
        t0 = clock()
        decoded = []
        for offset in range(start, min(start + batch_size, len(messages))):
            decoded.append((Token(offset), decode_events(messages[offset], codec, bounds)))
        t1 = clock()
        for token, items in decoded:
            for item in items:
                assert not isinstance(item, Refused)
                work.apply(item, index, token)
                events += 1
        t2 = clock()
        work.emitted  # noqa: B018 (settles the batch's sessions)
        t3 = clock()
        work.changing()
        t4 = clock()
        changes = work.changes()
        t5 = clock()
        for change in changes:
            if change.value is None:
                store.pop(change.key, None)
            else:
                store[change.key] = change.value
        for stage, took in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
                               strict=False):
            spent[stage] += took
    # A tick a lateness window later: idle sessions close, every stored one is swept.
    now += rules.lateness_seconds + rules.idle_timeout_seconds
    t0 = clock()
    work = SessionBatch(now, rules, load, counters)
    tick = Token(-1)
    work.close_idle(index, tick)
    work.sweep(list(store.items()), tick)
    swept = work.changes()
    spent["sweep"] = clock() - t0
    assert len(swept) == len(store), "every session should be tombstoned"
    return spent, events


def best_of(runs: int, task: Callable[[], tuple[dict[str, float], int]]
            ) -> tuple[dict[str, float], int]:
    best: dict[str, float] = {}
    events = 0
    for _ in range(runs):
        spent, events = task()
        for stage, took in spent.items():
            best[stage] = min(best.get(stage, took), took)
    return best, events


def git_revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                          capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + ("+dirty" if dirty else "")


def machine() -> dict[str, object]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
            "cpu": cpu, "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2000,
                        help="Kafka messages a batch (PLAYHEAD_SINK_BATCH_SIZE's default)")
    parser.add_argument("--streams", default="batch_records,single_records,live")
    args = parser.parse_args()
    encoded = streams(sessions(args.sessions))
    result: dict[str, object] = {"bench": "core_cost", "revision": git_revision(),
                                 "machine": machine(), "sessions": args.sessions,
                                 "batch": args.batch, "runs": args.runs}
    for name in args.streams.split(","):
        say(f"{name}: {len(encoded[name])} messages, {args.runs} runs")
        spent, events = best_of(args.runs, lambda: run(encoded[name], args.batch))  # noqa: B023
        per_event = {stage: round(took / events * 1e6, 2) for stage, took in spent.items()}
        total = round(sum(spent.values()) / events * 1e6, 2)
        print(f"{name:15s} " + " ".join(f"{s}={v:6.2f}" for s, v in per_event.items())
              + f"  total={total:6.2f} µs/event  ({round(1e6 / total):,} events/s)",
              file=sys.stderr, flush=True)
        result[name] = {"us_per_event": per_event, "total_us_per_event": total,
                        "events_per_cpu_second": round(1e6 / total)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
