"""Two ``playhead rollup --every`` runners at once, on the warehouse server: every final
day is built (once or twice), no other day, and the views' numbers do not move.

Each runner has its own connection, as two replicas would; they race for the
same days. A day built twice has two complete builds of the same final
sessions, and the views read only the newest (sinks/rollups.py), so nothing
counts twice.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from playhead.rollup_cli import run_every
from processors.completeness import SHARED, Bound
from sinks.client import connect
from sinks.completeness import write_bounds
from sinks.migrate import migrate
from sinks.rollups import BuiltDay, build_final_days

pytestmark = pytest.mark.integration  # `playhead warehouse` (or a server) over HTTP

FIRST = date(2026, 3, 1)
ORG = "runners-org"
VIEWS = {
    "consumption_by_bucket": "clip_id, source, day, bucket, listeners, listens",
    "drop_off": "clip_id, source, day, bucket, leaving, ending",
    "clip_daily": "clip_id, source, day, sessions, kept_sessions, listened_seconds, "
                  "measured_sessions, consumption_share_sum, completed_sessions",
}


def _row(index: int) -> dict[str, Any]:
    day = FIRST + timedelta(days=index % 3)
    started = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(minutes=index)
    stop = 5 + (index * 7) % 40
    return {"organization_id": ORG, "clip_id": f"clip-{index % 2}", "session_id": f"s{index}",
            "source": ("Web", "App")[index % 2 ^ (index // 2) % 2], "day": day,
            "started_at": started, "ended_at": started, "duration_seconds": float(stop),
            "kept": int(stop >= 10), "interval_starts": [0.0], "interval_ends": [float(stop)],
            "version": 1, "unique_seconds": float(stop), "furthest_seconds": float(stop),
            "clip_length_seconds": 40.0, "edges": [0, stop], "listener_steps": [1, -1],
            "listen_steps": [1, -1]}


@pytest.fixture(scope="module")
def warehouse(warehouse_url: str) -> Iterator[tuple[str, Client, str]]:
    client = connect(warehouse_url)
    db = f"test_runners_{uuid.uuid4().hex[:8]}"
    migrate(client, db)
    rows = [_row(i) for i in range(30)]
    client.insert(f"{db}.session_versions", [list(r.values()) for r in rows],
                  column_names=list(rows[0]))
    # The watermark at the third day's midnight: the first two days are final.
    mark = datetime(2026, 3, 3, tzinfo=UTC).timestamp()
    write_bounds(client, db, [Bound(0, 1, SHARED, mark, mark)])
    try:
        yield warehouse_url, client, db
    finally:
        client.command(f"DROP DATABASE IF EXISTS {db}")


def _views(client: Client, db: str) -> dict[str, list[tuple[Any, ...]]]:
    return {view: [tuple(r) for r in client.query(
        f"SELECT {columns} FROM {db}.{view} WHERE organization_id = {{o:String}} "
        f"ORDER BY {columns}", parameters={"o": ORG}).result_rows]
        for view, columns in VIEWS.items()}


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, float):
        return math.isclose(before, after, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(before, list | tuple):
        return len(before) == len(after) and all(map(_same, before, after))
    return bool(before == after)


def test_two_runners_at_once_build_the_final_days_and_change_no_number(
        warehouse: tuple[str, Client, str]) -> None:
    url, client, db = warehouse
    before = _views(client, db)
    start = threading.Barrier(2)
    built: list[BuiltDay] = []
    failures: list[BaseException] = []

    def runner() -> None:
        own = connect(url)
        stop = threading.Event()
        rounds = [0]

        def build() -> list[BuiltDay]:
            if rounds[0] == 0:
                start.wait(timeout=30)  # both look for unbuilt days together
            rounds[0] += 1
            if rounds[0] == 3:
                stop.set()
            days = build_final_days(own, db, settle_seconds=0)
            built.extend(days)
            return days

        try:
            assert run_every(0.2, build, stop, transient=(OSError,)) == 0
        except BaseException as err:  # reported by the test's thread
            failures.append(err)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert {b.day for b in built} == {FIRST, FIRST + timedelta(days=1)}
    assert 2 <= len(built) <= 4  # each final day once or twice, never again once recorded
    recorded = client.query(f"SELECT day, count() FROM {db}.rollup_days GROUP BY day "
                            "ORDER BY day").result_rows
    assert [r[0] for r in recorded] == [FIRST, FIRST + timedelta(days=1)]
    after = _views(client, db)
    for view in VIEWS:
        assert _same(before[view], after[view]), view
