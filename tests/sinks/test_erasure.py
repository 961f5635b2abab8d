"""Erasing a subject leaves every view as if its sessions had never been written (sinks/erasure.py).

Two databases on the real engine (chDB in this process): one gets every
listener's sessions, the other the same minus the subject's. Both build the
same days; the first erases the subject. Every view must then read the same,
and no String, Array or Map column of any table may hold the subject's id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from sinks import erasure, rollups
from sinks.client import connect
from sinks.erasure_plan import Subject, SubjectKind
from sinks.migrate import migrate

pytestmark = pytest.mark.integration  # chDB

DAY = date(2026, 3, 1)
ORG = "org-erase"
SUBJECT = "listener-7"  # a music-clips clientId, so also inside session ids
VIEWS = ("sessions", "consumption_by_bucket", "retention_curve", "drop_off", "clip_daily",
         "clip_lengths", "session_consumption", "session_figures", "quality_daily",
         "engagement_by_clip", "rights_by_clip")


def session(session_id: str, day: date, attributes: dict[str, str], version: int = 2,
            clip: str = "c1", heard: int = 30, actions: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"session_id": session_id, "day": day, "attributes": attributes,
            "version": version, "clip": clip, "heard": heard, "actions": actions}


def others() -> list[dict[str, Any]]:
    return [
        session("sv-1/c1", DAY, {"user_id": "someone-else", "device_id": "d-1"},
                actions=("like", "impression")),
        session("other:2026-03-01", DAY, {"clientId": "other"}, actions=("clip_play",)),
        session("omny-1", DAY + timedelta(days=1), {}, heard=45),
    ]


def subjects() -> list[dict[str, Any]]:
    return [
        # Music clips: the session id embeds the client id, and a late part of it.
        session(f"{SUBJECT}:2026-03-01", DAY, {"clientId": SUBJECT},
                actions=("clip_play", "download")),
        session(f"{SUBJECT}:2026-03-01~1", DAY + timedelta(days=1), {"clientId": SUBJECT},
                heard=12),
        # Only one of its events names the subject: the whole session goes.
        session("mixed-1", DAY, {}, heard=50),
    ]


def write(client: Client, db: str, sessions: list[dict[str, Any]], subject_events: bool) -> None:
    for s in sessions:
        at = datetime(s["day"].year, s["day"].month, s["day"].day, 12, tzinfo=UTC)
        for version in range(1, s["version"] + 1):
            client.insert(f"{db}.session_versions", [[
                ORG, s["clip"], s["session_id"], "Web", s["day"], at, at, float(s["heard"]), 1,
                version, float(s["heard"]), float(s["heard"]), 60.0, [0, s["heard"]], [1, -1],
                [1, -1], 100, 1, 200]], column_names=[
                "organization_id", "clip_id", "session_id", "source", "day", "started_at",
                "ended_at", "duration_seconds", "kept", "version", "unique_seconds",
                "furthest_seconds", "clip_length_seconds", "edges", "listener_steps",
                "listen_steps", "startup_ms", "rebuffer_count", "rebuffer_ms"])
        events = [[ORG, s["clip"], s["session_id"], f"{s['session_id']}#e{n}", n, at, "play",
                   "start", 0.0, None, s["attributes"], s["version"]] for n in range(2)]
        if s["session_id"] == "mixed-1" and subject_events:
            events.append([ORG, s["clip"], s["session_id"], "mixed-1#e9", 9, at, "play",
                           "stop", 50.0, None, {"device_id": "d-2", "user_id": SUBJECT},
                           s["version"]])
        client.insert(f"{db}.session_events", events, column_names=[
            "organization_id", "clip_id", "session_id", "event_id", "sequence_number",
            "timestamp", "kind", "action", "position_seconds", "seek_to_seconds",
            "attributes", "version"])
        for n, action in enumerate(s["actions"]):
            client.insert(f"{db}.content_events", [[
                ORG, s["clip"], s["day"], action, s["session_id"], f"{s['session_id']}#c{n}",
                at, "Web", "ios", "Stream", "granted"]], column_names=[
                "organization_id", "clip_id", "day", "action", "session_id", "event_id",
                "event_time", "source", "platform", "method", "rights"])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    chdb = connect(f"chdb://{Path(tmp_path_factory.mktemp('erasure')) / 'data'}")
    yield chdb
    chdb.close()


def database(client: Client) -> str:
    name = f"erase_{uuid.uuid4().hex[:8]}"
    migrate(client, name)
    return name


def views(client: Client, db: str) -> dict[str, list[tuple[Any, ...]]]:
    return {view: sorted((tuple(r) for r in client.query(
        f"SELECT * FROM {db}.{view}").result_rows), key=repr) for view in VIEWS}


def holders(client: Client, db: str, needle: str) -> list[str]:
    """Every table column (text, arrays, maps) where ``needle`` appears in some row."""
    found = []
    columns = client.query(
        "SELECT c.table, c.name FROM system.columns AS c INNER JOIN system.tables AS t "
        "ON c.database = t.database AND c.table = t.name WHERE c.database = {d:String} "
        "AND t.engine NOT IN ('View', 'MaterializedView') AND (c.type LIKE '%String%' OR "
        "c.type LIKE 'Array%' OR c.type LIKE 'Map%')", parameters={"d": db}).result_rows
    for table, column in columns:
        hits = client.query(f"SELECT count() FROM {db}.{table} WHERE "
                            f"position(toString({column}), {{n:String}}) > 0",
                            parameters={"n": needle}).result_rows[0][0]
        if hits:
            found.append(f"{table}.{column}")
    return found


def build(client: Client, db: str) -> None:
    rollups.build_final_days(client, db, through=datetime(2026, 3, 3, tzinfo=UTC),
                             settle_seconds=0.0)


def test_erasure_leaves_the_views_of_a_database_that_never_had_the_subject(
        client: Client) -> None:
    full, without = database(client), database(client)
    write(client, full, others() + subjects(), subject_events=True)
    write(client, without, others(), subject_events=False)
    build(client, full)
    build(client, without)
    assert holders(client, full, SUBJECT), "the test data carries the subject"

    subject = Subject(ORG, SubjectKind.CLIENT, SUBJECT)
    found = erasure.survey(client, full, subject)
    # A client id finds the sessions carrying it as a client id (not the one where
    # the same text is a user id), its late part included.
    assert found.sessions == (f"{SUBJECT}:2026-03-01",)
    assert found.rows["content_events"] == 2 and found.rows["session_events"] == 4
    assert [day for day, _ in found.built_days] == [DAY, DAY + timedelta(days=1)]
    audit = erasure.audit_of(found, "operator", datetime.now(UTC))
    erasure.erase(client, full, found, audit, settle_seconds=0.0)

    by_user = erasure.survey(client, full, Subject(ORG, SubjectKind.USER, SUBJECT))
    assert by_user.sessions == ("mixed-1",)
    erasure.erase(client, full, by_user,
                  erasure.audit_of(by_user, "admin-key-1", datetime.now(UTC)),
                  settle_seconds=0.0)

    assert views(client, full) == views(client, without)
    assert holders(client, full, SUBJECT) == []
    # The superseded builds went: one build per built day is left.
    assert client.query(f"SELECT count(), uniqExact(day) FROM {full}.rollup_days"
                        ).result_rows == [(2, 2)]
    recorded = erasure.audits(client, full, ORG)
    assert [(a.subject_kind, a.requested_by, a.sessions) for a in recorded] == [
        (SubjectKind.CLIENT, "operator", 1), (SubjectKind.USER, "admin-key-1", 1)]
    assert recorded[0].days_rebuilt == [DAY, DAY + timedelta(days=1)]
    assert SUBJECT not in json.dumps([a.to_json() for a in recorded])
    # Done twice: nothing more to find, nothing changes.
    again = erasure.survey(client, full, subject)
    assert again.sessions == () and set(again.rows.values()) == {0}


def test_a_dry_run_changes_nothing(client: Client) -> None:
    db = database(client)
    write(client, db, others() + subjects(), subject_events=True)
    before = views(client, db)
    found = erasure.survey(client, db, Subject(ORG, SubjectKind.DEVICE, "d-2"))
    assert found.sessions == ("mixed-1",)
    assert views(client, db) == before
    assert client.query(f"SELECT count() FROM {db}.erasures").result_rows == [(0,)]


def test_a_day_built_while_the_erasure_ran_is_rebuilt_without_the_subject(
        client: Client) -> None:
    full, without = database(client), database(client)
    write(client, full, others() + subjects(), subject_events=True)
    write(client, without, others(), subject_events=False)
    found = erasure.survey(client, full, Subject(ORG, SubjectKind.CLIENT, SUBJECT))
    assert found.built_days == ()  # nothing built yet when the erasure looked
    # A rollup runner builds the days now, from rows the erasure is about to delete.
    build(client, full)
    build(client, without)
    done = erasure.erase(client, full, found,
                         erasure.audit_of(found, "operator", datetime.now(UTC)),
                         settle_seconds=0.0)
    assert done.days_rebuilt == [DAY, DAY + timedelta(days=1)]
    by_user = erasure.survey(client, full, Subject(ORG, SubjectKind.USER, SUBJECT))
    erasure.erase(client, full, by_user, erasure.audit_of(by_user, "operator",
                                                          datetime.now(UTC)),
                  settle_seconds=0.0)
    assert views(client, full) == views(client, without)
