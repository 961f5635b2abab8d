"""The sink keeps exactly one version of each session, whatever is replayed.

Runs against both ways Playhead reaches ClickHouse: the embedded engine in
this process (chDB) and the `playhead warehouse` server over HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from processors.figures import Quality
from processors.session import Rules, SessionResult, summarize
from processors.sink_flusher import SinkFlusher
from schemas.event import EventKind, PlaybackEvent
from sinks.client import connect
from sinks.migrate import available, migrate
from sinks.writer import ClickHouseSink, SinkUnavailable

pytestmark = pytest.mark.integration  # chDB and the warehouse server

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


def test_the_curve_equals_the_pure_core_for_many_sessions_replays_and_recloses(
    client: Client, database: str
) -> None:
    rng = random.Random(4)
    sink = ClickHouseSink(client, database)
    final: dict[str, SessionResult] = {}
    for n in range(60):
        sid = f"s{n % 45}"  # some sessions are closed again with more events (10 more)
        spans = [(rng.uniform(0, 300), rng.uniform(0, 200)) for _ in range(rng.randint(1, 4))]
        result = session([(a, a + length) for a, length in spans], session_id=sid,
                         source=rng.choice(["Web", "MobileApp"]), extra=10 * (n // 45),
                         start=1_700_000_000.0 + 86400 * rng.randint(0, 1))
        sink.write([result])
        final[sid] = result
    sink.write(list(final.values())[:10])  # a replay
    expected: Counter[tuple[Any, ...]] = Counter()
    for r in final.values():
        for bucket, listens in r.buckets.items():
            expected[(r.source, r.day, bucket, "listeners")] += 1
            expected[(r.source, r.day, bucket, "listens")] += listens
    rows = client.query(f"SELECT source, day, bucket, listeners, listens "
                        f"FROM {database}.consumption_by_bucket").result_rows
    got: Counter[tuple[Any, ...]] = Counter()
    for source, day, bucket, listeners, listens in rows:
        got[(source, day, bucket, "listeners")] += listeners
        got[(source, day, bucket, "listens")] += listens
    assert got == expected


def test_session_figures_keep_the_newest_version(client: Client, database: str) -> None:
    sink = ClickHouseSink(client, database)
    sink.write([session([(0, 30), (10, 50)])])
    sink.write([session([(0, 30), (10, 50)])])
    rows = client.query(f"SELECT session_id, listened_seconds, unique_seconds, furthest_seconds, "
                        f"completion_share, rebuffer_count FROM {database}.session_figures"
                        ).result_rows
    assert [tuple(r) for r in rows] == [("s1", 70.0, 50.0, 50.0, None, 0)]


def rights(session_id: str, plays: list[tuple[str, str, str]], extra: int = 0) -> SessionResult:
    """A session of rights events: (action, platform, method) each."""
    events = [PlaybackEvent(f"{session_id}:{i}", ORG, session_id, "c1", "Web", EventKind.OTHER,
                            0, i, 1_700_000_000.0 + i, action=action,
                            attributes={"platform": platform, "method": method})
              for i, (action, platform, method) in enumerate(plays, 1)]
    events += [PlaybackEvent(f"{session_id}:x{i}", ORG, session_id, "c1", "Web",
                             EventKind.OTHER, 0, 100 + i, 1_700_000_000.0, action="like")
               for i in range(extra)]
    return summarize(events, Rules())


def test_rights_and_engagement_counts_are_exact_under_replays_and_recloses(
    client: Client, database: str
) -> None:
    sink = ClickHouseSink(client, database)
    plays = [("clip_play", "ios", "stream"), ("clip_play", "ios", "stream"),
             ("download", "android", "offline"), ("track_play", "ios", "stream")]
    first = rights("r1", plays)
    sink.write([first, rights("r2", plays[:1])])
    sink.write([first])  # replay after a crash
    sink.write([rights("r1", plays, extra=2)])  # re-closed after two late likes
    rows = client.query(
        f"SELECT platform, method, sum(clip_plays), sum(track_plays), sum(adds), sum(downloads) "
        f"FROM {database}.rights_by_clip GROUP BY platform, method ORDER BY platform"
    ).result_rows
    assert [tuple(r) for r in rows] == [("android", "offline", 0, 0, 0, 1),
                                        ("ios", "stream", 3, 1, 0, 0)]
    likes = client.query(f"SELECT sum(likes), sum(impressions) FROM {database}.engagement_by_clip"
                         ).result_rows
    assert [tuple(r) for r in likes] == [(2, 0)]


def test_a_database_written_before_steps_keeps_its_curve_after_migrating(
    client: Client,
) -> None:
    from sinks.migrations import m0001_sessions_and_buckets as m0001

    db = f"sink_old_{uuid.uuid4().hex[:10]}"
    client.command(f"CREATE DATABASE {db}")
    try:
        client.command(f"CREATE TABLE {db}.schema_migrations (number UInt32, name String, "
                       "applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree "
                       "ORDER BY number")
        client.insert(f"{db}.schema_migrations", [[1, m0001.__name__.rsplit(".", 1)[1]]],
                      column_names=["number", "name"])
        for statement in m0001.statements(db):
            client.command(statement)
        old = [session([(0, 12), (5, 7), (20, 31.5)], session_id="a"),
               session([(3, 40)], session_id="b", source="MobileApp"),
               session([(0, 4)], session_id="short"),
               session([(100, 130)], session_id="c", extra=1)]
        stale = session([(500, 530)], session_id="c")  # an older version of c
        # What the worker wrote up to m0003: a row per session and per bucket.
        for r in [*old, stale]:
            client.insert(f"{db}.session_versions", [(
                r.organization_id, r.clip_id, r.session_id, r.source, r.day, r.started_at,
                r.ended_at, r.duration_seconds, int(r.kept), [i.start for i in r.intervals],
                [i.end for i in r.intervals], r.version)])
            buckets = [(r.organization_id, r.clip_id, r.session_id, r.version, r.source,
                        r.day, b, n) for b, n in r.buckets.items()]
            if buckets:
                client.insert(f"{db}.session_buckets", buckets)
        before = curve(client, db)
        assert [m.number for m in migrate(client, db)] == [
            m.number for m in available() if m.number > 1]
        assert curve(client, db) == before
        assert before == [(b, n, k) for b, (n, k) in sorted(_expected(old).items())]
        # New writes after the migration land on the same curve.
        ClickHouseSink(client, db).write([session([(0, 2)], session_id="d", extra=20)])
        assert curve(client, db) == before
    finally:
        client.command(f"DROP DATABASE IF EXISTS {db}")


def _expected(results: list[SessionResult]) -> dict[int, tuple[int, int]]:
    out: dict[int, tuple[int, int]] = {}
    for r in results:
        for bucket, listens in r.buckets.items():
            listeners, total = out.get(bucket, (0, 0))
            out[bucket] = (listeners + 1, total + listens)
    return out


def test_plays_refused_by_the_rights_check_are_recorded_but_never_paid(
    client: Client, database: str
) -> None:
    def play(event_id: str, rights_answer: str) -> PlaybackEvent:
        return PlaybackEvent(event_id, ORG, "client-1", "c1", "musicclips", EventKind.OTHER, 0,
                             1, 1_700_000_000.0, action="clip_play",
                             attributes={"rights": rights_answer, "platform": "ios"})

    ClickHouseSink(client, database).write([summarize(
        [play("p1", "granted"), play("p2", "denied"), play("p3", "unchecked")], Rules())])
    rows = client.query(f"SELECT sum(clip_plays), sum(denied_plays) FROM {database}.rights_by_clip"
                        ).result_rows
    assert [tuple(r) for r in rows] == [(2, 1)]


def test_every_event_of_a_session_is_listed_once_at_its_newest_version(
    client: Client, database: str
) -> None:
    sink = ClickHouseSink(client, database)
    sink.write([session([(0, 30)])])
    sink.write([session([(0, 30)])])  # a replay
    sink.write([session([(0, 30)], extra=1)])  # re-closed with one more event
    rows = client.query(
        f"SELECT sequence_number, kind, position_seconds, version FROM {database}.session_events "
        "FINAL ORDER BY sequence_number").result_rows
    assert [tuple(r) for r in rows] == [(1, "START", 0.0, 3), (2, "STOP", 30.0, 3),
                                        (3, "OTHER", 0.0, 3)]


def test_a_session_the_warehouse_refuses_is_set_aside_and_the_rest_is_written(
        client: Client, database: str) -> None:
    # A startup time past UInt32, as a producer without Playhead's bounds could
    # make: ClickHouse refuses the insert that carries it.
    good = [session([(0, 20)], session_id=f"good-{i}") for i in range(9)]
    poisoned = dataclasses.replace(session([(0, 20)], session_id="poisoned"),
                                   quality=Quality(5_000_000_000, 0, 0, 0, 0))
    sink = ClickHouseSink(client, database)
    with pytest.raises(SinkUnavailable):
        sink.write([*good[:4], poisoned, *good[4:]])
    set_aside: list[tuple[str, str]] = []

    async def dead_letter(result: SessionResult, err: BaseException) -> None:
        set_aside.append((result.session_id, str(err)))

    flusher = SinkFlusher(_in_thread(sink.write), _in_thread(sink.ping), dead_letter,
                          sink.refuses_content)
    refused = asyncio.run(flusher.flush([*good[:4], poisoned, *good[4:]]))
    assert [r.session_id for r in refused] == ["poisoned"]
    assert [s for s, _ in set_aside] == ["poisoned"] and "startup_ms" in set_aside[0][1]
    assert sessions(client, database) == sorted((f"good-{i}", 20.0, 1) for i in range(9))


def _in_thread(call: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def run(*args: Any) -> Any:
        return await asyncio.to_thread(call, *args)
    return run
