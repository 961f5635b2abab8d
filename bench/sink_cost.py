"""The ClickHouse sink's CPU per event in the worker process, by stage, old way and new.

Builds ``--sessions`` six-event sessions (bench/core_cost.py's), closes each
with the pure core (``summarize``) and cuts them into batches of ``--batch``
sessions, as the worker hands ``ClickHouseSink.write`` a batch. Then, each
timed on its own (``time.process_time``, best of ``--runs``):

* ``rows`` / ``columns``: Playhead's building of the three tables' data,
  row by row (``sinks.rows``, the old write path) and column by column
  (``sinks.columns``, the sink's path now);
* ``blocks_rows`` / ``blocks_columns``: clickhouse-connect turning that data
  into Native insert blocks (``NativeTransform.build_insert``), no network,
  column types known. The bytes of both are checked equal;
* ``write_rows`` / ``write_columns``: whole writes into a throwaway database of
  a ``playhead warehouse`` running in its own process (``--url`` for another),
  the old way (rows, one DESCRIBE per insert) and ``ClickHouseSink.write``.
  Only this process's CPU counts: the server's is the warehouse's, as in
  production.

Progress on stderr, µs/event per stage as a table, then one JSON line.
Usage: .venv/bin/python bench/sink_cost.py [--sessions 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from clickhouse_connect.driver.client import Client  # noqa: E402
from clickhouse_connect.driver.insert import InsertContext  # noqa: E402
from clickhouse_connect.driver.transform import NativeTransform  # noqa: E402

from bench.core_cost import git_revision, machine, sessions  # noqa: E402
from config.settings import Settings, to_env  # noqa: E402
from devkit.local import services  # noqa: E402
from processors.session import Rules, SessionResult, summarize  # noqa: E402
from sinks.client import connect  # noqa: E402
from sinks.columns import content_columns, event_columns, session_columns  # noqa: E402
from sinks.migrate import migrate  # noqa: E402
from sinks.rows import (  # noqa: E402
    CONTENT_COLUMNS,
    EVENT_COLUMNS,
    SESSION_COLUMNS,
    content_rows,
    event_rows,
    session_rows,
)
from sinks.writer import ClickHouseSink  # noqa: E402

TABLES = (("content_events", CONTENT_COLUMNS, content_rows, content_columns),
          ("session_events", EVENT_COLUMNS, event_rows, event_columns),
          ("session_versions", SESSION_COLUMNS, session_rows, session_columns))


def say(message: str) -> None:
    print(f"[sink_cost {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def warehouse(url: str | None) -> Iterator[str]:
    """``url``, or a ``playhead warehouse`` of its own in a throwaway folder."""
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="sink_cost_") as state:
        settings = Settings(state_dir=Path(state), warehouse_port=free_port())
        served = f"http://127.0.0.1:{settings.warehouse_port}"
        services.start(settings, "warehouse", ["warehouse"], services.http_ok(f"{served}/ping"),
                       env=to_env(settings))
        try:
            yield served
        finally:
            services.stop(settings, "warehouse")


def free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def old_write(client: Client, database: str, results: Sequence[SessionResult]) -> None:
    """``ClickHouseSink.write`` as it was: rows, and clickhouse-connect describes each table."""
    for table, names, rows, _ in TABLES:
        if made := rows(results):
            client.insert(f"{database}.{table}", made, column_names=list(names))


def build(batches: list[list[SessionResult]], types: dict[str, Any], way: str
          ) -> tuple[tuple[float, float], list[bytes]]:
    """CPU seconds building the tables' data ``way`` and then their Native blocks, and those.

    Batch by batch, each dropped before the next as the sink does, so that the
    garbage collector sees what it sees in the worker.
    """
    clock = time.process_time
    building = blocking = 0.0
    blocks: list[bytes] = []
    for batch in batches:
        t0 = clock()
        data: list[tuple[Sequence[str], Any, Sequence[Sequence[Any]] | None, bool]]
        if way == "rows":
            data = [(names, types[t], rows(batch), False) for t, names, rows, _ in TABLES]
        else:
            data = [(names, types[t], cols(batch), True) for t, names, _, cols in TABLES]
        t1 = clock()
        for names, kinds, made, oriented in data:
            if made:
                context = InsertContext("t", list(names), kinds, data=made,
                                        column_oriented=oriented)
                blocks.append(b"".join(NativeTransform.build_insert(context)))
        t2 = clock()
        building += t1 - t0
        blocking += t2 - t1
        del data
    return (building, blocking), blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000, help="sessions a write")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write-runs", type=int, default=3)
    parser.add_argument("--url", help="a ClickHouse HTTP URL (default: a warehouse of its own)")
    args = parser.parse_args()

    say(f"closing {args.sessions} sessions with the pure core")
    results = [summarize(events, Rules()) for events in sessions(args.sessions)]
    batches = [results[i:i + args.batch] for i in range(0, len(results), args.batch)]
    events = sum(len(r.timeline) for r in results)
    spent: dict[str, float] = {}

    def best(stage: str, took: float) -> None:
        spent[stage] = min(spent.get(stage, took), took)

    with warehouse(args.url) as url:
        client = connect(url)
        database = f"sink_cost_{uuid.uuid4().hex[:10]}"
        migrate(client, database)
        try:
            types = {table: client.create_insert_context(f"{database}.{table}",
                                                         list(names)).column_types
                     for table, names, _, _ in TABLES}
            for run in range(args.runs):
                say(f"building, run {run + 1} of {args.runs}")
                blocks: dict[str, list[bytes]] = {}
                for way in ("rows", "columns"):
                    built, blocks[way] = build(batches, types, way)
                    best(way, built[0])
                    best(f"blocks_{way}", built[1])
                assert blocks["rows"] == blocks["columns"], "the Native bytes differ"
            sink = ClickHouseSink(client, database)
            for run in range(args.write_runs):
                say(f"writing to {url}, run {run + 1} of {args.write_runs}")
                t0 = time.process_time()
                for b in batches:
                    old_write(client, database, b)
                t1 = time.process_time()
                for b in batches:
                    sink.write(b)
                best("write_rows", t1 - t0)
                best("write_columns", time.process_time() - t1)
        finally:
            client.command(f"DROP DATABASE IF EXISTS {database}")

    per_event = {stage: round(took / events * 1e6, 2) for stage, took in spent.items()}
    for way in ("rows", "columns"):
        total = per_event[way] + per_event[f"blocks_{way}"]
        print(f"{way:8s} build={per_event[way]:6.2f} blocks={per_event[f'blocks_{way}']:6.2f} "
              f"sum={total:6.2f}  write={per_event[f'write_{way}']:6.2f} µs/event",
              file=sys.stderr, flush=True)
    print(json.dumps({"bench": "sink_cost", "revision": git_revision(), "machine": machine(),
                      "sessions": args.sessions, "events": events, "batch": args.batch,
                      "runs": args.runs, "write_runs": args.write_runs,
                      "us_per_event": per_event}))


if __name__ == "__main__":
    main()
