"""What following the complete-through watermark costs the worker's batch path.

Runs the pure core as the worker does (batches of 500 events of complete
6-event sessions, 50 organizations) and times the watermark's share: the
sessions each batch changed recorded per organization, and the floors taken
as a tick would. Also times reading a stored session's earliest event, which
a worker does once per session that can still change after a rebalance.
No services needed. Usage: .venv/bin/python bench/watermark_cost.py [--sessions 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processors import state_codec  # noqa: E402
from processors.batch import SessionBatch  # noqa: E402
from processors.completeness import PendingSessions  # noqa: E402
from processors.handling import WorkerCounters  # noqa: E402
from processors.open_index import OpenSessions  # noqa: E402
from processors.session import Rules  # noqa: E402
from schemas.event import EventKind, PlaybackEvent  # noqa: E402

STEPS = [(EventKind.START, "play", 0.0), (EventKind.HEARTBEAT, "progress", 10.0),
         (EventKind.STOP, "pause", 20.0), (EventKind.START, "resume", 95.0),
         (EventKind.HEARTBEAT, "progress", 120.0), (EventKind.STOP, "end", 160.0)]


def events(sessions: int) -> list[PlaybackEvent]:
    return [PlaybackEvent(f"e{n}-{seq}", f"org{n % 50}", f"s{n}", "clip", "Web", kind, position,
                          seq, 1.8e9 + n + seq, action=action, session_complete=seq == 6)
            for n in range(sessions) for seq, (kind, action, position) in enumerate(STEPS, 1)]


def run(stream: list[PlaybackEvent]) -> tuple[float, float]:
    """(seconds in all, seconds following the watermark)."""
    rules = Rules()
    store: dict[str, bytes] = {}
    index = OpenSessions()
    pending = PendingSessions(rules.lateness_seconds)
    following = 0.0
    now = 1.8e9
    started = time.perf_counter()
    for i in range(0, len(stream), 500):
        now += 0.1
        work = SessionBatch(now, rules, lambda key, _: store.get(key), WorkerCounters())
        for event in stream[i:i + 500]:
            work.apply(event, index, "token")
        for change in work.changes():
            if change.value is not None:
                store[change.key] = change.value
        began = time.perf_counter()
        for _, organization, earliest in work.changing():
            pending.record(organization, earliest, now)
        pending.floors(now)
        following += time.perf_counter() - began
    return time.perf_counter() - started, following


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20_000)
    args = parser.parse_args()
    stream = events(args.sessions)
    runs = sorted((run(stream) for _ in range(3)), key=lambda r: r[1] / r[0])
    total, following = runs[1]
    raw = next(iter(_stored(stream[:6]).values()))
    count = 20_000
    began = time.perf_counter()
    for _ in range(count):
        state_codec.earliest(raw)
    per_session = (time.perf_counter() - began) / count
    print(json.dumps({"events": len(stream), "events_per_second": round(len(stream) / total),
                      "watermark_share_of_core": round(following / total, 4),
                      "rebuild_us_per_session": round(per_session * 1e6, 1)}))


def _stored(session: list[PlaybackEvent]) -> dict[str, bytes]:
    store: dict[str, bytes] = {}
    work = SessionBatch(0.0, Rules(), lambda key, _: store.get(key), WorkerCounters())
    for event in session:
        work.apply(event, OpenSessions(), "token")
    for change in work.changes():
        if change.value is not None:
            store[change.key] = change.value
    return store


if __name__ == "__main__":
    main()
