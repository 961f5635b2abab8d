"""A qualifying-play rule change on the real pipeline restates the figures exactly, once.

Omny listeners (sessions of 8 to 33 s, with gaps and replays) on two past
days, and a short-video play of the same clip that reports its length, go
through the gateway, Kafka and a worker into the warehouse; both days are
built. Every curve, drop-off and daily figure must then equal a pure
computation from the stored sessions (their intervals, duration and furthest
position) under the defaults (10 s, 95 %, 1 s). Through the admin API, the
organization's admin key sets a rule from the second day's midnight: 30 s,
80 %, 5 s buckets. The figures must equal the pure computation under the
new rule for the second day and the old one for the first, the restatement
must name the second day as rebuilt, and setting the same rule again, or
sending every request again (a replay), must change nothing. Another
organization's admin key is refused for this one.
"""

from __future__ import annotations

import copy
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from conftest import REPO, free_port, running_pipeline, wait_until
from serving import serve_app

from config.settings import Settings, to_env
from control import operations
from control.credentials import Kind, digest
from control.records import encode
from control.registry import Registry
from ingest.examples import reference
from processors.intervals import Interval
from readapi.app import create_app
from sinks import rollups
from sinks.qualifying import Rule, RuleEntry, rule_for
from tests.histogram_oracle import bucket_listens

pytestmark = pytest.mark.integration  # the pipeline and the read API

ORG, OTHER = str(uuid.uuid4()), str(uuid.uuid4())  # Omny's ids are UUIDs
OPERATOR = "operator-" + uuid.uuid4().hex
READ_TOKEN = "read-" + uuid.uuid4().hex
CLIP = str(uuid.uuid4())
FIRST = (datetime.now(UTC) - timedelta(days=3)).replace(hour=12, minute=0, second=0,
                                                        microsecond=0)
SECOND = FIRST + timedelta(days=1)
DEFAULT = Rule()
NEW = Rule(30.0, 0.8, 5)
# Each Omny session's listened intervals, played one after the other.
PLAYS = ([(0.0, 8.0)],  # under 10 s
         [(0.0, 12.5)],  # kept at 10 s, not at 30 s
         [(0.0, 16.0), (2.0, 16.0)],  # 30 s exactly; furthest 16 of 18.5 s: 80 % not 95 %
         [(0.0, 3.5), (7.2, 18.5), (0.0, 18.5)],  # a gap, then a replay; complete
         [(1.0, 6.0), (12.0, 17.0)])  # a gap that 5 s buckets close


def omny(session: str, plays: list[tuple[float, float]], start: datetime) -> dict[str, Any]:
    events, t, seq = [], start.timestamp(), 0
    for a, b in plays:
        for kind, position, at in (("Start", a, t), ("Stop", b, t + (b - a))):
            seq += 1
            events.append({"OrganizationId": ORG, "ClipId": CLIP, "SessionId": session,
                           "Type": kind, "Position": position, "SeqNumber": seq,
                           "Timestamp": int(at)})
        t += b - a
    return {"Source": "Web", "Events": events, "Completed": True}


def shortvideo(start: datetime) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(reference("shortvideo"))
    # The first video's events only: it reports the clip's length, 18.5 s.
    body["events"] = body["events"][:10]
    first = datetime.fromisoformat(body["events"][0]["timestamp"].replace("Z", "+00:00"))
    for event in body["events"]:
        stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        event.update(timestamp=(start + (stamp - first)).isoformat(), contentId=CLIP,
                     sessionId="sv-1")
    return body


def requests() -> list[tuple[str, dict[str, Any]]]:
    out = [("/v1/events/batch", shortvideo(FIRST))]
    for day in (FIRST, SECOND):
        for n, plays in enumerate(PLAYS):
            session = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ORG}{day}{n}"))
            out.append(("omny", omny(session, list(plays), day + timedelta(minutes=n))))
    return out


def send(settings: Settings) -> int:
    accepted = 0
    for path, body in requests():
        if path == "omny":
            answer = httpx.post(f"{settings.gateway_url}/api/consumption/events",
                                params={"organizationId": ORG}, json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            accepted += len(body["Events"])
        else:
            answer = httpx.post(f"{settings.gateway_url}{path}", json=body, timeout=30,
                                headers={"X-Playhead-Organization": ORG})
            assert answer.status_code in (200, 202), answer.text
            accepted += answer.json()["accepted"]
    return accepted


def rows(client: Client, query: str, **parameters: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(query, parameters=parameters).result_rows]


def settled(client: Client, db: str, events: int) -> bool:
    """Every accepted event written (a dialect event may be several), every session at its
    newest version."""
    [(written,)] = rows(client, f"SELECT count() FROM {db}.session_events FINAL "
                                "WHERE organization_id = {o:String}", o=ORG)
    [(current,)] = rows(client, f"""
        SELECT count() FROM (
            SELECT session_id, count() AS n FROM {db}.session_events FINAL
            WHERE organization_id = {{o:String}} GROUP BY session_id) AS e
        INNER JOIN (
            SELECT session_id, max(version) AS v FROM {db}.session_versions
            WHERE organization_id = {{o:String}} GROUP BY session_id) AS s
        ON e.session_id = s.session_id
        WHERE e.n = s.v""", o=ORG)
    return bool(written >= events and current == len(PLAYS) * 2 + 1)


def computed(client: Client, db: str, entries: list[RuleEntry]) -> dict[str, list[Any]]:
    """The figures, session by session from the stored rows, under ``entries`` (pure)."""
    stored = rows(client, f"SELECT clip_id, source, day, duration_seconds, interval_starts, "
                          f"interval_ends, furthest_seconds, clip_length_seconds "
                          f"FROM {db}.session_versions FINAL WHERE organization_id = {{o:String}}",
                  o=ORG)
    lengths: dict[str, float] = {}
    for clip, _, _, _, _, _, _, length in stored:
        if length and length > 0:
            lengths[clip] = max(lengths.get(clip, 0.0), length)
    curve: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    leaving: Counter[tuple[Any, ...]] = Counter()
    daily: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for clip, source, day, duration, starts, ends, furthest, _ in stored:
        rule = rule_for(entries, ORG, source, day) or DEFAULT
        group = (clip, source, day)
        daily[group][0] += 1
        if duration < rule.min_session_seconds:
            continue
        daily[group][1] += 1
        length = lengths.get(clip, 0.0)
        daily[group][2] += length > 0 and furthest >= rule.completion_threshold * length
        heard = bucket_listens([Interval(a, b) for a, b in zip(starts, ends, strict=True)],
                               rule.bucket_seconds)
        for bucket, listens in heard.items():
            curve[(*group, bucket)][0] += 1
            curve[(*group, bucket)][1] += listens
            leaving[(*group, bucket)] += bucket + 1 not in heard
    return {"curve": sorted((*k, *v) for k, v in curve.items()),
            "drop_off": sorted((*k, n) for k, n in leaving.items() if n),
            "daily": sorted((*k, *v) for k, v in daily.items())}


def figures(client: Client, db: str) -> dict[str, list[Any]]:
    where = "WHERE organization_id = {o:String}"
    return {
        "curve": sorted(rows(client, f"SELECT clip_id, source, day, bucket, listeners, listens "
                                     f"FROM {db}.consumption_by_bucket {where}", o=ORG)),
        "drop_off": sorted(rows(client, f"SELECT clip_id, source, day, bucket, leaving "
                                        f"FROM {db}.drop_off {where}", o=ORG)),
        "daily": sorted(rows(client, f"SELECT clip_id, source, day, sessions, kept_sessions, "
                                     f"completed_sessions FROM {db}.clip_daily {where}", o=ORG)),
    }


Platform = tuple[Settings, Client, str, Registry]


@pytest.fixture(scope="module")
def platform(kafka: Settings, warehouse_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The pipeline, and a read API over its warehouse whose control state the test holds."""
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("rules"),
                          max_event_age_seconds=0.0, idle_timeout_seconds=3.0) as (
            settings, client):
        api = settings.model_copy(update={"api_port": free_port(),
                                          "operator_token_digests": [digest(OPERATOR)],
                                          "read_tokens": {READ_TOKEN: ORG}})
        registry = Registry()
        for url in serve_app(create_app(api, control=registry), api.api_port, api.api_url,
                             "the read API"):
            yield settings, client, url, registry


def admin_key(registry: Registry, organization: str) -> str:
    """An admin key of ``organization``, as `playhead keys create` would publish it."""
    key, credential = operations.create_key(Kind.ADMIN, organization, "ops", time.time())
    registry.apply(*encode(credential))
    return key


def put_rule(url: str, organization: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.put(f"{url}/admin/v1/organizations/{organization}/rules", json=body,
                     headers={"Authorization": f"Bearer {key}"}, timeout=120)


def test_a_rule_change_restates_the_figures_exactly_once(platform: Platform) -> None:
    settings, client, url, registry = platform
    db = settings.clickhouse_database
    events = send(settings)
    wait_until(lambda: settled(client, db, events), 120, "every session written")
    first_day, second_day = FIRST.date(), SECOND.date()
    for day in (first_day, second_day):
        rollups.build_day(client, db, ORG, day, settle_seconds=0.0)

    before = figures(client, db)
    assert before == computed(client, db, [])
    assert {r[2] for r in before["curve"]} == {first_day, second_day}

    # Tenancy: another organization's admin key is refused for this one, whatever it asks.
    ours, theirs = admin_key(registry, ORG), admin_key(registry, OTHER)
    body = {"effectiveDay": second_day.isoformat(), "minSessionSeconds": NEW.min_session_seconds,
            "completionThreshold": NEW.completion_threshold, "bucketSeconds": NEW.bucket_seconds}
    assert put_rule(url, ORG, theirs, body).status_code == 403
    assert httpx.get(f"{url}/admin/v1/organizations/{ORG}/rules",
                     headers={"Authorization": f"Bearer {theirs}"}, timeout=30).status_code == 403
    assert figures(client, db) == before

    answer = put_rule(url, ORG, ours, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["restated"] is True
    assert answer.json()["daysRebuilt"] == [second_day.isoformat()]
    entries = [RuleEntry(ORG, "", second_day, NEW)]
    after = figures(client, db)
    assert after == computed(client, db, entries)
    assert after != before
    # The first day is untouched; the second is in 5 s buckets.
    assert [r for r in after["curve"] if r[2] == first_day] == [
        r for r in before["curve"] if r[2] == first_day]
    assert max(r[3] for r in after["curve"] if r[2] == second_day) == 18 // 5
    [(newest_build_is_new,)] = rows(
        client, f"SELECT argMax(built_at, build) > (SELECT max(set_at) FROM "
        f"{db}.qualifying_rules WHERE organization_id = {{o:String}}) FROM {db}.rollup_days "
        f"WHERE organization_id = {{o:String}} AND day = {{d:Date}}", o=ORG, d=second_day)
    assert newest_build_is_new

    # The read API's curve: 5 s buckets for the second day, 1 s for the first; the two
    # together cannot be one curve.
    def curve(first: datetime, last: datetime) -> httpx.Response:
        return httpx.get(f"{url}/api/consumption/clips/{CLIP}", timeout=30,
                         params={"from": first.date().isoformat(), "to": last.date().isoformat()},
                         headers={"Authorization": f"Bearer {READ_TOKEN}"})
    late, early = curve(SECOND, SECOND).json(), curve(FIRST, FIRST).json()
    assert (late["bucketSeconds"], early["bucketSeconds"]) == (5, 1)
    assert late["totals"]["keptSessions"] == sum(r[4] for r in after["daily"]
                                                 if r[2] == second_day)
    assert [p["listeners"] for p in late["histogram"] if p["listeners"]] == [
        r[4] for r in sorted(after["curve"], key=lambda r: r[3])
        if r[2] == second_day and r[1] == "Web"]
    assert curve(FIRST, SECOND).status_code == 400

    # The same rule again: nothing restated, nothing logged, the same figures.
    again = put_rule(url, ORG, ours, body)
    assert again.json() == {**answer.json(), "restated": False, "daysRebuilt": []}
    listed = httpx.get(f"{url}/admin/v1/organizations/{ORG}/rules",
                       headers={"Authorization": f"Bearer {ours}"}, timeout=30).json()
    assert len(listed["restatements"]) == 1
    assert listed["restatements"][0]["daysRebuilt"] == [second_day.isoformat()]
    assert figures(client, db) == after

    # A replay of every request changes nothing either.
    [(versions,)] = rows(client, f"SELECT count() FROM {db}.session_versions "
                                 "WHERE organization_id = {o:String}", o=ORG)
    send(settings)
    time.sleep(5)  # the worker's batch; duplicates write nothing, or the same versions
    assert figures(client, db) == after
    wait_until(lambda: figures(client, db) == after, 10, "figures unchanged after the replay")
    assert versions > 0

    # Once the rebuilt day is usable, the figures come from it and are the same.
    time.sleep(rollups.SETTLE_SECONDS)
    assert figures(client, db) == after

    # The CLI lists the rule and the restatement.
    shown = subprocess.run([str(REPO / ".venv" / "bin" / "playhead"), "rules", "list",
                            "--organization", ORG], env=to_env(settings), capture_output=True,
                           text=True, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    assert f"{ORG} * from {second_day.isoformat()}: min 30 s, complete at 0.8, 5 s buckets" \
        in shown.stdout
    assert f"rebuilt {second_day.isoformat()}" in shown.stdout
