"""The analysts' retention query over one clip's sessions, with and without rollups.

For each size (default a million, then ten million sessions), a fresh database
in chDB (the engine the warehouse server embeds, here in this process) gets
that many kept sessions of one clip spread over 30 days, written straight
into ``session_versions`` as the worker writes them (histogram steps: one to
three heard stretches of a 30-minute clip, two sources). Each query runs 7
times (``--runs``) per state:

* per session: no day is built, as before rollups existed;
* rollups: the first 29 days are built (``sinks.rollups.build_day``), the
  30th stays live, as today's sessions are until the day is final.

The queries: the bucket curve ``make bench`` has always timed
(``consumption_by_bucket``), and the analysts' curve from docs/analytics.md
(``retention_curve`` divided by ``clip_daily``'s kept sessions). Both states
must give the same rows. Prints one JSON line; docs/benchmarks.md has figures.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clickhouse_connect.driver.client import Client  # noqa: E402
from platform_kit import git_revision, machine, say  # noqa: E402

from sinks.client import connect  # noqa: E402
from sinks.migrate import migrate  # noqa: E402
from sinks.rollups import build_day  # noqa: E402

DB = "bench"
FIRST_DAY = date(2026, 1, 1)
DAYS = 30
RUNS = 7
TARGETS_MS = {1_000_000: 200, 10_000_000: 1000}

BUCKETS = ("SELECT bucket, sum(listeners), sum(listens) FROM {db}.consumption_by_bucket "
           "WHERE clip_id = {{c:String}} GROUP BY bucket ORDER BY bucket")
ANALYSTS = """
SELECT bucket,
       sum(listeners) AS listeners,
       listeners / (
           SELECT sum(kept_sessions) FROM {db}.clip_daily
           WHERE organization_id = {{o:String}} AND clip_id = {{c:String}} AND day >= {{d:Date}}
       ) AS share_of_sessions
FROM {db}.retention_curve
WHERE organization_id = {{o:String}} AND clip_id = {{c:String}} AND day >= {{d:Date}}
GROUP BY bucket
ORDER BY bucket
"""


def insert_sessions(client: Client, org: str, clip: str, sessions: int) -> float:
    started = time.perf_counter()
    client.command(f"""
        INSERT INTO {DB}.session_versions (organization_id, clip_id, session_id, source, day,
            started_at, ended_at, duration_seconds, kept, version, unique_seconds,
            furthest_seconds, clip_length_seconds, edges, listener_steps, listen_steps)
        SELECT '{org}', '{clip}', toString(generateUUIDv4()), ['Web', 'MobileApp'][n % 2 + 1],
               toDate('{FIRST_DAY}') + n % {DAYS}, now64(3), now64(3), 60 + n % 600, 1, 6,
               30 + n % 500, toFloat64(f), 1800,
               arraySlice([a, b, c, d, e, f], 1, 2 * (n % 3 + 1)),
               arraySlice([1, -1, 1, -1, 1, -1], 1, 2 * (n % 3 + 1)),
               arraySlice([1, -1, 1, -1, 1, -1], 1, 2 * (n % 3 + 1))
        FROM (
            SELECT number AS n, toUInt32(n % 97) AS a, toUInt32(a + 20 + n % 300) AS b,
                   toUInt32(b + 1 + n % 13) AS c, toUInt32(c + 30 + n % 500) AS d,
                   toUInt32(d + 5 + n % 7) AS e, toUInt32(e + 1 + n % 900) AS f
            FROM numbers({sessions})
        )""", settings={"max_insert_block_size": 1_000_000})
    return time.perf_counter() - started


def timed(client: Client, query: str, parameters: dict[str, Any],
          runs: int = RUNS) -> tuple[list[float], Any]:
    times, rows = [], None
    for _ in range(runs):
        t = time.perf_counter()
        rows = client.query(query, parameters=parameters).result_rows
        times.append((time.perf_counter() - t) * 1000)
    return times, rows


def same_rows(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-9) if isinstance(x, float) else x == y
        for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def figures(times: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
            "min_ms": round(min(times), 1)}


def run(client: Client, sessions: int, runs: int = RUNS) -> dict[str, Any]:
    client.command(f"DROP DATABASE IF EXISTS {DB}")
    migrate(client, DB)
    org, clip = str(uuid.uuid4()), str(uuid.uuid4())
    say(f"inserting {sessions:,} sessions of one clip over {DAYS} days")
    inserted = insert_sessions(client, org, clip, sessions)
    params = {"o": org, "c": clip, "d": FIRST_DAY}
    queries = {"buckets": BUCKETS.format(db=DB), "analysts": ANALYSTS.format(db=DB)}
    result: dict[str, Any] = {"sessions": sessions, "insert_seconds": round(inserted, 1)}
    plain = {name: timed(client, q, params, runs) for name, q in queries.items()}
    say(f"building {DAYS - 1} days")
    started = time.perf_counter()
    through = datetime.combine(FIRST_DAY + timedelta(days=DAYS - 1), datetime.min.time(), UTC)
    for offset in range(DAYS - 1):
        build_day(client, DB, org, FIRST_DAY + timedelta(days=offset), through=through,
                  settle_seconds=0)
    result["build_seconds_per_day"] = round((time.perf_counter() - started) / (DAYS - 1), 2)
    rolled = {name: timed(client, q, params, runs) for name, q in queries.items()}
    for name in queries:
        result[name] = {"per_session": figures(plain[name][0]),
                        "rollups_29_of_30_days": figures(rolled[name][0]),
                        "same_rows": same_rows(plain[name][1], rolled[name][1])}
    target = TARGETS_MS.get(sessions)
    if target is not None:
        result["target_median_ms"] = target
        result["meets_target"] = result["buckets"]["rollups_29_of_30_days"]["median_ms"] < target
    client.command(f"DROP DATABASE IF EXISTS {DB}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="sizes to measure, each in a fresh database (default 1M and 10M)")
    parser.add_argument("--runs", type=int, default=RUNS,
                        help=f"times each query runs per state (default {RUNS})")
    args = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "retention_query", "machine": machine(),
                           "revision": git_revision(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="playhead-retention-") as tmp:
        client = connect(f"chdb://{tmp}/data")
        try:
            for sessions in args.sessions:
                out["runs"].append(run(client, sessions, args.runs))
                say(json.dumps(out["runs"][-1]))
        finally:
            client.close()
    print(json.dumps(out))
    return 0 if all(r["buckets"]["same_rows"] and r["analysts"]["same_rows"]
                    for r in out["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
