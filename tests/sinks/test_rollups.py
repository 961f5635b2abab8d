"""The analysts' views give the same numbers whatever days have rollups (m0007, m0101).

Random sessions go straight into ``session_versions`` (older versions, a
repeated newest version, a session whose day moved between versions); every
view is read, some days are built (some twice, one with a build that crashed
before its record, one whose rows were inserted twice), and every view is read
again. Counts must be equal; sums of floats equal up to the order they were
added in. On the real engine: chDB in this process.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from sinks import rollups
from sinks.client import connect
from sinks.ddl import Backfill
from sinks.migrate import migrate
from sinks.migrations import m0008_sessions_by_day

pytestmark = pytest.mark.integration  # chDB

FIRST_DAY = date(2026, 3, 1)
DAYS = 4
VIEWS = ("consumption_by_bucket", "retention_curve", "drop_off", "clip_daily", "clip_lengths",
         "session_consumption")
COLUMNS = ("organization_id", "clip_id", "session_id", "source", "day", "started_at",
           "ended_at", "duration_seconds", "kept", "version", "unique_seconds",
           "furthest_seconds", "clip_length_seconds", "edges", "listener_steps", "listen_steps")


@dataclass(frozen=True)
class Version:
    day: int
    kept: bool
    spans: tuple[tuple[int, int], ...]  # heard buckets [start, start + length)
    seconds: float
    furthest: float
    length: float | None


@dataclass(frozen=True)
class Session:
    clip: str
    source: str
    versions: tuple[Version, ...]  # oldest first; the last is the newest
    repeated: bool  # the newest version written twice (a replay)


versions = st.builds(
    Version,
    day=st.integers(0, DAYS - 1),
    kept=st.booleans(),
    spans=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 12)), max_size=3).map(tuple),
    seconds=st.floats(0, 300, allow_nan=False).map(lambda x: round(x, 3)),
    furthest=st.floats(0, 80, allow_nan=False).map(lambda x: round(x, 3)),
    length=st.one_of(st.none(), st.sampled_from([0.0, 30.0, 45.5, 60.0])),
)
sessions_strategy = st.lists(st.builds(
    Session, clip=st.sampled_from(["c1", "c2"]), source=st.sampled_from(["Web", "App"]),
    versions=st.lists(versions, min_size=1, max_size=3).map(tuple), repeated=st.booleans(),
), min_size=1, max_size=25)


def steps(spans: tuple[tuple[int, int], ...]) -> tuple[list[int], list[int], list[int]]:
    """The histogram as steps: where listeners (0 or 1) and listens change, as m0004 stores it."""
    listens = [0] * 64
    for start, length in spans:
        for bucket in range(start, start + length):
            listens[bucket] += 1
    edges, listener_steps, listen_steps = [], [], []
    for bucket in range(64):
        before = listens[bucket - 1] if bucket else 0
        d_listeners = int(listens[bucket] > 0) - int(before > 0)
        if d_listeners or listens[bucket] != before:
            edges.append(bucket)
            listener_steps.append(d_listeners)
            listen_steps.append(listens[bucket] - before)
    return edges, listener_steps, listen_steps


def rows(organization: str, generated: list[Session]) -> list[list[Any]]:
    out = []
    for n, s in enumerate(generated):
        for number, v in enumerate(s.versions, 1):
            day = FIRST_DAY + timedelta(days=v.day)
            at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            edges, listener_steps, listen_steps = steps(v.spans if v.kept else ())
            row = [organization, s.clip, f"s{n}", s.source, day, at, at, v.seconds, int(v.kept),
                   number, v.seconds / 2, v.furthest, v.length, edges, listener_steps,
                   listen_steps]
            out.append(row)
            if s.repeated and number == len(s.versions):
                out.append(row)
    return out


def snapshot(client: Client, database: str, organization: str) -> dict[str, list[tuple[Any, ...]]]:
    return {view: sorted((tuple(r) for r in client.query(
        f"SELECT * FROM {database}.{view} WHERE organization_id = {{org:String}}",
        parameters={"org": organization}).result_rows), key=repr) for view in VIEWS}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def assert_same(before: dict[str, list[tuple[Any, ...]]],
                after: dict[str, list[tuple[Any, ...]]]) -> None:
    for view, expected in before.items():
        got = after[view]
        assert len(got) == len(expected), view
        # Sorted by repr, so float noise could reorder rows: match them by their other values.
        key = lambda row: tuple(v for v in row if not isinstance(v, float))  # noqa: E731
        for want, have in zip(sorted(expected, key=key), sorted(got, key=key), strict=True):
            assert all(same(x, y) for x, y in zip(want, have, strict=True)), (view, want, have)


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, str]]:
    client = connect(f"chdb://{Path(tmp_path_factory.mktemp('rollups')) / 'data'}")
    database = f"rollups_{uuid.uuid4().hex[:8]}"
    migrate(client, database)
    yield client, database
    client.command(f"DROP DATABASE IF EXISTS {database}")
    client.close()


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(generated=sessions_strategy,
       built=st.sets(st.integers(0, DAYS - 1)),
       rebuilt=st.sets(st.integers(0, DAYS - 1)),
       crashed=st.integers(0, DAYS - 1),
       replayed=st.booleans(),
       merged=st.booleans())
def test_views_equal_with_and_without_rollups(
        chdb: tuple[Client, str], generated: list[Session], built: set[int], rebuilt: set[int],
        crashed: int, replayed: bool, merged: bool) -> None:
    client, db = chdb
    org = f"org-{uuid.uuid4().hex[:12]}"
    client.insert(f"{db}.session_versions", rows(org, generated), column_names=list(COLUMNS))
    if merged:
        # Older versions merged away in session_versions, not in session_days
        # (where a session's rows on other days stay): builds must still see the moves.
        client.command(f"OPTIMIZE TABLE {db}.session_versions FINAL")
    before = snapshot(client, db, org)

    for offset in sorted(built) + sorted(rebuilt & built):
        rollups.build_day(client, db, org, FIRST_DAY + timedelta(days=offset), settle_seconds=0)
    # A build that died after writing its rows and before recording them.
    rollups.write_build(client, db, org, FIRST_DAY + timedelta(days=crashed), build=1)
    if replayed:
        # Every rollup row of the organization written again, past the deduplication token.
        for table in ("rollup_steps", "rollup_daily", "rollup_moved"):
            client.command(f"INSERT INTO {db}.{table} SELECT * FROM {db}.{table} "
                           "WHERE organization_id = {org:String}", parameters={"org": org},
                           settings={"insert_deduplicate": 0})
    assert_same(before, snapshot(client, db, org))


def test_a_build_is_read_only_once_recorded_and_settled(chdb: tuple[Client, str]) -> None:
    client, db = chdb
    org = f"org-{uuid.uuid4().hex[:12]}"
    day = FIRST_DAY
    one = Version(0, True, ((0, 10),), 20.0, 10.0, 30.0)
    client.insert(f"{db}.session_versions", rows(org, [Session("c1", "Web", (one,), False)]),
                  column_names=list(COLUMNS))
    built = rollups.build_day(client, db, org, day, settle_seconds=3600)
    # Emptied on purpose: were the unsettled build read, the curve would vanish.
    client.command(f"ALTER TABLE {db}.rollup_steps DELETE WHERE organization_id = {{org:String}}",
                   parameters={"org": org}, settings={"mutations_sync": 2})
    curve = client.query(f"SELECT count() FROM {db}.consumption_by_bucket "
                         "WHERE organization_id = {org:String}", parameters={"org": org})
    assert curve.result_rows[0][0] == 10
    rollups.record_build(client, db, built, None, settle_seconds=0)
    curve = client.query(f"SELECT count() FROM {db}.consumption_by_bucket "
                         "WHERE organization_id = {org:String}", parameters={"org": org})
    assert curve.result_rows[0][0] == 0  # now the (emptied) rollup is what counts


def test_days_before_an_instant_and_the_watermark(chdb: tuple[Client, str]) -> None:
    client, db = chdb
    org = f"org-{uuid.uuid4().hex[:12]}"
    generated = [Session("c1", "Web", (Version(d, True, ((0, 5),), 12.0, 5.0, None),), False)
                 for d in range(DAYS)]
    client.insert(f"{db}.session_versions", rows(org, generated), column_names=list(COLUMNS))
    # Day 2 ends at the start of day 3: days 0, 1 and 2 are over, day 3 is not.
    through = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
    assert rollups.days_before(client, db, through, [org]) == [
        (org, FIRST_DAY + timedelta(days=d)) for d in range(3)]
    built = rollups.build_final_days(client, db, through - timedelta(milliseconds=1),
                                     organization=org, settle_seconds=0)
    assert [b.day for b in built] == [FIRST_DAY, FIRST_DAY + timedelta(days=1)]
    assert rollups.days_before(client, db, through, [org]) == [(org, FIRST_DAY + timedelta(2))]
    assert rollups.days_before(client, db, through, [org], rebuild=True)[0] == (org, FIRST_DAY)


def test_without_an_instant_the_watermark_decides(chdb: tuple[Client, str]) -> None:
    client, db = chdb
    # No worker has reported a bound in this database: nothing is known to be final.
    assert rollups.watermarks(client, db) == {}
    assert rollups.build_final_days(client, db, settle_seconds=0) == []
    bare = f"bare_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE DATABASE {bare}")
    try:
        with pytest.raises(rollups.NoWatermark, match="--through"):
            rollups.build_final_days(client, bare)
    finally:
        client.command(f"DROP DATABASE {bare}")



def test_a_retried_write_of_a_build_is_dropped_by_its_token(chdb: tuple[Client, str]) -> None:
    client, db = chdb
    org = f"org-{uuid.uuid4().hex[:12]}"
    one = Version(0, True, ((0, 10), (20, 5)), 20.0, 10.0, 30.0)
    client.insert(f"{db}.session_versions", rows(org, [Session("c1", "Web", (one,), False)]),
                  column_names=list(COLUMNS))

    def stored() -> list[int]:
        # Without FINAL: what is on disk, before any merge could collapse it.
        return [client.query(f"SELECT count() FROM {db}.{table} WHERE organization_id = "
                             "{org:String}", parameters={"org": org}).result_rows[0][0]
                for table in ("rollup_steps", "rollup_daily")]

    rollups.write_build(client, db, org, FIRST_DAY, build=7)
    first = stored()
    rollups.write_build(client, db, org, FIRST_DAY, build=7)
    assert stored() == first == [4, 1]
    rollups.write_build(client, db, org, FIRST_DAY, build=8)  # another build: its own rows
    assert stored() == [8, 2]


def test_builds_recorded_before_m0008_get_their_moved_sessions(chdb: tuple[Client, str]) -> None:
    client, db = chdb
    org = f"org-{uuid.uuid4().hex[:12]}"
    # Closed on day 2, then an earlier event moved it to day 0; day 0 is built.
    moved = Session("c1", "Web", (Version(2, True, ((0, 10),), 20.0, 10.0, 30.0),
                                  Version(0, True, ((0, 12),), 24.0, 12.0, 30.0)), False)
    client.insert(f"{db}.session_versions", rows(org, [moved]), column_names=list(COLUMNS))
    before = snapshot(client, db, org)
    rollups.build_day(client, db, org, FIRST_DAY, settle_seconds=0)
    assert_same(before, snapshot(client, db, org))
    # As a build made before m0008 left it: no moved sessions. Then m0008's backfill.
    client.command(f"ALTER TABLE {db}.rollup_moved DELETE WHERE organization_id = {{org:String}}",
                   parameters={"org": org}, settings={"mutations_sync": 2})
    assert snapshot(client, db, org) != before
    backfill = m0008_sessions_by_day.steps(db)[-1]
    assert isinstance(backfill, Backfill)
    client.command(backfill.sql)
    assert_same(before, snapshot(client, db, org))
