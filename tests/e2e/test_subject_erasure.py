"""Erasing a listener on the real pipeline equals never having had its events, and leaves no trace.

One person is a short-video user (a user id and a device id, with
engagement and quality events) and a music-clips client (royalty plays and
downloads, in a day session whose id embeds the client id). Another user,
another client and an Omny listener share the organization. Pipeline one
gets everyone's events, builds the final days' rollups, and is told through
`playhead erase` to erase the client id and then the user id. Pipeline two
(fresh topics and database) gets the same events minus the person's and
builds the same days. Every analysts' view must then read the same in both;
no text, array or map column of any table of the first may hold the
person's ids; the erasures are recorded without them; and, after a worker
restart, an event sent to the person's erased day session starts it
afresh: the worker's state no longer holds the erased events, so they do not
come back.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from conftest import REPO, running_pipeline, wait_until
from samples import omny_request

from config.settings import Settings, to_env
from devkit.local import services
from ingest.examples import reference
from sinks import rollups

pytestmark = pytest.mark.integration  # two pipelines

ORG = str(uuid.uuid4())  # a UUID: the Omny API takes no other organization id
OMNY_SESSION, OMNY_CLIP = str(uuid.uuid4()), str(uuid.uuid4())  # the Omny API takes UUIDs
USER, DEVICE, CLIENT = "person-user-81", "person-device-81", "person-client-81"
DAY = (datetime.now(UTC) - timedelta(days=2)).replace(hour=12, minute=0, second=0,
                                                      microsecond=0)
VIEWS = ("sessions", "session_figures", "consumption_by_bucket", "retention_curve",
         "drop_off", "clip_daily", "clip_lengths", "session_consumption", "quality_daily",
         "engagement_by_clip", "rights_by_clip")


def shortvideo(user: str, device: str, session: str, offset: timedelta) -> dict[str, Any]:
    body = copy.deepcopy(reference("shortvideo"))
    first = datetime.fromisoformat(body["events"][0]["timestamp"].replace("Z", "+00:00"))
    for event in body["events"]:
        stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        event["timestamp"] = (DAY + offset + (stamp - first)).isoformat()
        event.update(userId=user, deviceId=device, sessionId=session)
    return body


def music(client: str, offset: int) -> list[tuple[str, dict[str, Any]]]:
    def at(seconds: int) -> str:
        return (DAY + timedelta(seconds=offset + seconds)).isoformat()
    return [("/play", {"clientId": client, "timestamp": at(0), "clipId": "song-1",
                       "method": "Stream"}),
            ("/play", {"clientId": client, "timestamp": at(40), "clipId": "song-2",
                       "method": "Stream"}),
            ("/download", {"clientId": client, "timestamp": at(90), "clipId": "song-1",
                           "appId": 1, "credentialId": 1, "country": "US"})]


def requests(with_person: bool) -> list[tuple[str, Any]]:
    """(path, body) of every request, in the order sent; the person's only ``with_person``."""
    out: list[tuple[str, Any]] = []
    if with_person:
        out.append(("/v1/events/batch", shortvideo(USER, DEVICE, "fs-p1", timedelta(0))))
    out.append(("/v1/events/batch", shortvideo("other-user", "other-device", "fs-o1",
                                               timedelta(minutes=3))))
    if with_person:
        out += music(CLIENT, 400)
    out += music("other-client", 600)
    out.append(("omny", omny_request(session=OMNY_SESSION, clip=OMNY_CLIP, org=ORG)))
    return out


def send(settings: Settings, with_person: bool) -> set[str]:
    """Send every request; the ids of the sessions they make."""
    sessions: set[str] = set()
    for path, body in requests(with_person):
        if path == "omny":
            answer = httpx.post(f"{settings.gateway_url}/api/consumption/events",
                                params={"organizationId": ORG}, json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            sessions |= {event["SessionId"] for event in body["Events"]}
            continue
        answer = httpx.post(f"{settings.gateway_url}{path}", json=body, timeout=30,
                            headers={"X-Playhead-Organization": ORG})
        assert answer.status_code in (200, 202, 204), answer.text
        if path.endswith("batch"):
            assert answer.json()["rejected"] == [], answer.text
            sessions |= {f"{e['sessionId']}/{e.get('contentId') or e['data']['fromContentId']}"
                         for e in body["events"]}
        else:
            sessions.add(f"{body['clientId']}:{DAY.date().isoformat()}")
    return sessions


def rows(client: Client, query: str, **parameters: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(query, parameters=parameters).result_rows]


def settled(client: Client, db: str, sessions: set[str]) -> bool:
    """Every session is written, with as many events as its newest version counts."""
    written = rows(client, f"""
        SELECT e.session_id, e.events, v.version
        FROM (SELECT session_id, count() AS events FROM {db}.session_events FINAL
              WHERE organization_id = {{o:String}} GROUP BY session_id) AS e
        LEFT JOIN (SELECT session_id, max(version) AS version FROM {db}.session_versions
                   WHERE organization_id = {{o:String}} GROUP BY session_id) AS v
        USING (session_id)""", o=ORG)
    return ({r[0] for r in written} == sessions
            and all(events == version for _, events, version in written))


def wait_settled(client: Client, db: str, sessions: set[str]) -> None:
    try:
        wait_until(lambda: settled(client, db, sessions), 120, "every session written")
    except AssertionError as err:
        seen = rows(client, f"SELECT session_id, count() FROM {db}.session_events FINAL "
                            "GROUP BY session_id ORDER BY session_id")
        raise AssertionError(f"{err}: sent {sorted(sessions)}, written: {seen}") from None


def figures(client: Client, db: str) -> dict[str, list[tuple[Any, ...]]]:
    return {view: sorted((r for r in rows(client, f"SELECT * FROM {db}.{view} "
                                          "WHERE organization_id = {o:String}", o=ORG)),
                         key=lambda r: repr(tuple(v for v in r if not isinstance(v, float))))
            for view in VIEWS}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def holders(client: Client, db: str, needle: str) -> list[str]:
    """Every column of every table (text, arrays, maps) holding ``needle`` in some row."""
    found = []
    for table, column in rows(
            client, "SELECT c.table, c.name FROM system.columns AS c INNER JOIN system.tables "
            "AS t ON c.database = t.database AND c.table = t.name WHERE c.database = {d:String} "
            "AND t.engine NOT IN ('View', 'MaterializedView') AND (c.type LIKE '%String%' OR "
            "c.type LIKE 'Array%' OR c.type LIKE 'Map%')", d=db):
        [(hits,)] = rows(client, f"SELECT count() FROM {db}.{table} "
                                 f"WHERE position(toString({column}), {{n:String}}) > 0",
                         n=needle)
        if hits:
            found.append(f"{table}.{column}")
    return found


def erase(settings: Settings, *flags: str) -> str:
    done = subprocess.run([str(REPO / ".venv" / "bin" / "playhead"), "erase",
                           "--organization", ORG, *flags], env={**os.environ, **to_env(settings)},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_erased_person_leaves_the_figures_of_a_run_without_them_and_no_trace(
        kafka: Settings, warehouse_url: str, tmp_path: Path) -> None:
    through = datetime.now(UTC)
    overrides = {"idle_timeout_seconds": 3.0, "max_event_age_seconds": 0.0}
    with running_pipeline(kafka, warehouse_url, tmp_path / "one", **overrides) as (
            settings, client):
        db = settings.clickhouse_database
        sessions = send(settings, with_person=True)
        wait_settled(client, db, sessions)
        built = rollups.build_final_days(client, db, through=through, organization=ORG,
                                         settle_seconds=0.0)
        assert DAY.date() in [b.day for b in built]  # the person listened on a built day
        for needle in (USER, DEVICE, CLIENT):
            assert holders(client, db, needle), f"the data carries {needle}"

        dry = erase(settings, "--client-id", CLIENT, "--dry-run")
        assert "would remove 1 session(s)" in dry and CLIENT not in dry
        assert rows(client, f"SELECT count() FROM {db}.erasures") == [(0,)]
        by_client = erase(settings, "--client-id", CLIENT, "--requested-by", "dpo@example")
        by_user = erase(settings, "--user-id", USER)
        assert "removed 1 session(s)" in by_client and "rollups rebuilt" in by_client
        assert "removed" in by_user and "session_events" in by_user
        erased = figures(client, db)
        traces = {needle: holders(client, db, needle) for needle in (USER, DEVICE, CLIENT)}
        recorded = rows(client, f"SELECT requested_by, subject_kind, sessions, rows, "
                                f"days_rebuilt, state_record FROM {db}.erasures "
                                "ORDER BY requested_at")
        listing = erase(settings, "--list")

        # A restarted worker reads the erasures before its first batch: the state it
        # kept on disk for the person's sessions is dropped when next used.
        services.stop(settings, "worker")
        services.start(settings, "worker", ["worker", "--loglevel", "warning"],
                       services.file_exists(settings.worker_ready_file),
                       env=to_env(settings), timeout=120)
        # Later, the person's day session gets a new event: it starts afresh, as the
        # worker no longer holds the erased events (nothing of them comes back).
        later = (DAY + timedelta(seconds=900)).isoformat()
        answer = httpx.post(f"{settings.gateway_url}/download", timeout=30,
                            headers={"X-Playhead-Organization": ORG},
                            json={"clientId": CLIENT, "timestamp": later, "clipId": "song-3",
                                  "appId": 1, "credentialId": 1, "country": "US"})
        assert answer.status_code in (200, 204), answer.text
        newest = (f"SELECT max(version) FROM {db}.session_versions "
                  "WHERE position(session_id, {c:String}) = 1")
        # The session's row is written last (sinks/writer.py): then all of it is there.
        wait_until(lambda: rows(client, newest, c=CLIENT)[0][0], 60, "the new event written")
        assert rows(client, newest, c=CLIENT) == [(1,)]  # one event: nothing came back
        assert rows(client, f"SELECT clip_id, action FROM {db}.content_events FINAL "
                            "WHERE organization_id = {o:String} "
                            "AND position(session_id, {c:String}) = 1",
                    o=ORG, c=CLIENT) == [("song-3", "download")]

    with running_pipeline(kafka, warehouse_url, tmp_path / "two", **overrides) as (
            settings, client):
        db = settings.clickhouse_database
        sessions = send(settings, with_person=False)
        wait_settled(client, db, sessions)
        rollups.build_final_days(client, db, through=through, organization=ORG,
                                 settle_seconds=0.0)
        expected = figures(client, db)

    for view in VIEWS:
        assert expected[view], f"{view} has rows to compare"
        assert len(erased[view]) == len(expected[view]), view
        for want, have in zip(expected[view], erased[view], strict=True):
            assert all(same(x, y) for x, y in zip(want, have, strict=True)), (view, want, have)
    assert traces == {USER: [], DEVICE: [], CLIENT: []}
    # One music-clips day session; the short-video session of three videos is three.
    assert [(r[0], r[1], r[2]) for r in recorded] == [("dpo@example", "client", 1),
                                                      (recorded[1][0], "user", 3)]
    assert recorded[1][0].startswith("operator:")
    assert all(json.loads(r[3])["session_events"] > 0 and r[4] and
               r[5].startswith("erasure/") for r in recorded)
    assert not any(needle in repr(recorded) for needle in (USER, DEVICE, CLIENT))
    assert "dpo@example" in listing and "client" in listing and "user" in listing
    assert not any(needle in listing for needle in (USER, DEVICE, CLIENT))
