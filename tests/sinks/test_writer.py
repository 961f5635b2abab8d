"""The sink keeps exactly one version of each session, whatever is replayed.

Runs against both ways Playhead reaches ClickHouse: the embedded engine in
this process (chDB) and the `playhead warehouse` server over HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from processors.events import EventKind, PlaybackEvent
from processors.session import Rules, SessionResult, summarize
from sinks.client import connect
from sinks.migrate import available, migrate
from sinks.writer import ClickHouseSink, SinkUnavailable

ORG = "org-sink-test"


@pytest.fixture(scope="module")
def chdb_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    # chDB opens one path per process at a time: share it within this module
    # (a database per test) and close it so other modules can open theirs.
    path = Path(tmp_path_factory.mktemp("chdb")) / "data"
    client = connect(f"chdb://{path}")
    yield client
    client.close()


@pytest.fixture(params=["chdb", "server"])
def client(request: pytest.FixtureRequest) -> Client:
    if request.param == "chdb":
        return request.getfixturevalue("chdb_client")  # type: ignore[no-any-return]
    return connect(request.getfixturevalue("warehouse_url"))


@pytest.fixture
def database(client: Client) -> Iterator[str]:
    name = f"sink_{uuid.uuid4().hex[:12]}"
    migrate(client, name)
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")


def session(spans: list[tuple[float, float]], *, session_id: str = "s1", clip: str = "c1",
            source: str = "Web", start: float = 1_700_000_000.0,
            extra: int = 0) -> SessionResult:
    """A closed session listening to ``spans``; ``extra`` adds events (a later version)."""
    events = []
    seq = 0
    for a, b in spans:
        for kind, position in ((EventKind.START, a), (EventKind.STOP, b)):
            seq += 1
            events.append(PlaybackEvent(f"{session_id}:{seq}", ORG, session_id, clip, source,
                                        kind, position, seq, start + seq))
    for _ in range(extra):
        seq += 1
        events.append(PlaybackEvent(f"{session_id}:{seq}", ORG, session_id, clip, source,
                                    EventKind.OTHER, 0, seq, start + seq))
    return summarize(events, Rules())


def curve(client: Client, database: str, clip: str = "c1") -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(
        f"SELECT bucket, sum(listeners), sum(listens) FROM {database}.consumption_by_bucket "
        "WHERE clip_id = {c:String} GROUP BY bucket ORDER BY bucket",
        parameters={"c": clip}).result_rows]


def sessions(client: Client, database: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(
        f"SELECT session_id, duration_seconds, kept FROM {database}.sessions "
        "ORDER BY session_id").result_rows]


def test_writing_a_session_twice_counts_it_once(client: Client, database: str) -> None:
    sink = ClickHouseSink(client, database)
    result = session([(0, 12), (5, 7)])
    sink.write([result])
    sink.write([result])
    assert sessions(client, database) == [("s1", 14.0, 1)]
    expected = [(b, 1, 2 if b in (5, 6) else 1) for b in range(12)]
    assert curve(client, database) == expected


def test_a_newer_version_replaces_every_bucket_of_the_old_one(
    client: Client, database: str
) -> None:
    sink = ClickHouseSink(client, database)
    sink.write([session([(0, 30)])])
    sink.write([session([(100, 120)], extra=1)])  # re-closed after a late event
    assert curve(client, database) == [(b, 1, 1) for b in range(100, 120)]
    sink.write([session([(0, 30)])])  # a replay of the old version changes nothing
    assert curve(client, database) == [(b, 1, 1) for b in range(100, 120)]


def test_a_session_that_became_short_leaves_the_histogram(client: Client, database: str) -> None:
    sink = ClickHouseSink(client, database)
    sink.write([session([(0, 30)])])
    sink.write([session([(0, 5)], extra=1)])
    assert sessions(client, database) == [("s1", 5.0, 0)]
    assert curve(client, database) == []


def test_sum_over_any_grouping_is_exact(client: Client, database: str) -> None:
    sink = ClickHouseSink(client, database)
    sink.write([session([(0, 20)], session_id="a", source="Web"),
                session([(10, 30)], session_id="b", source="MobileApp"),
                session([(0, 3)], session_id="c", source="Web")])  # too short: not kept
    assert curve(client, database) == [
        (b, 2 if 10 <= b < 20 else 1, 2 if 10 <= b < 20 else 1) for b in range(30)]
    by_source = client.query(
        f"SELECT source, sum(listeners) FROM {database}.consumption_by_bucket "
        "GROUP BY source ORDER BY source").result_rows
    assert [tuple(r) for r in by_source] == [("MobileApp", 20), ("Web", 20)]


def test_migrations_apply_once_and_are_recorded(client: Client, database: str) -> None:
    assert migrate(client, database) == []
    recorded = client.query(f"SELECT number FROM {database}.schema_migrations FINAL "
                            "ORDER BY number").result_rows
    assert [r[0] for r in recorded] == [m.number for m in available()]


def test_failed_write_raises_sink_unavailable(client: Client) -> None:
    with pytest.raises(SinkUnavailable, match="writing 1 sessions failed"):
        ClickHouseSink(client, "no_such_database_here").write([session([(0, 30)])])
