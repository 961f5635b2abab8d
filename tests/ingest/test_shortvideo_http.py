"""Short-video events over real HTTP, read back from the real broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import free_port
from test_gateway_foundations import serve
from video_topic import events_with_keys

from config.settings import Settings
from devkit.sample_retime import retimed
from processors.topics import ensure_topics
from schemas.event import Action, EventKind

pytestmark = pytest.mark.integration  # gateways on the session's broker

KEY = "key-" + uuid.uuid4().hex
KEY_ORG = "org-" + uuid.uuid4().hex[:8]


def _gateway(kafka: Settings, **settings: Any) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:8]
    gateway = kafka.model_copy(update={
        "events_topic": f"test.sv.{suffix}", "dead_letter_topic": f"test.sv.{suffix}.dlq",
        "gateway_port": free_port(), **settings})
    ensure_topics(gateway)
    for _ in serve(gateway):
        yield gateway


@pytest.fixture(scope="module")
def gateway(kafka: Settings) -> Iterator[Settings]:
    yield from _gateway(kafka)


@pytest.fixture(scope="module")
def keyed_gateway(kafka: Settings) -> Iterator[Settings]:
    yield from _gateway(kafka, write_keys={KEY: KEY_ORG})


def reference_batch(session: str) -> dict[str, Any]:
    body: dict[str, Any] = retimed("shortvideo", time.time())
    for event in body["events"]:
        event["sessionId"] = session
    return body


def event(kind: str, session: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"eventType": kind, "contentId": "vid-1", "sessionId": session,
                            "deviceId": "dev-1", "data": {}}
    if kind == "playStart":
        base["data"] = {"startupTime": 250}
    return base | changes


def post(settings: Settings, path: str, body: Any, org: str | None = None,
         **kwargs: Any) -> httpx.Response:
    headers = {"X-Playhead-Organization": org} if org else {}
    return httpx.post(f"{settings.gateway_url}{path}", json=body, headers=headers, timeout=30,
                      **kwargs)


def test_reference_batch_lands_in_kafka_keyed_by_organization_session_and_video(
    gateway: Settings,
) -> None:
    org, session = "org-" + uuid.uuid4().hex[:8], "sess-" + uuid.uuid4().hex[:8]
    answer = post(gateway, "/v1/events/batch", reference_batch(session), org)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 17, "rejected": []}
    keys = {f"{org}/{session}/{video}" for video in ("vid-7Hq2mX", "vid-Q9zL4p", "vid-Lm3sR8")}
    found = events_with_keys(gateway, keys, 19)  # 17 events + the startup of each playStart
    assert len(found) == 19 and {key for key, _ in found} == keys
    assert all(e.dialect == "shortvideo" and e.organization_id == org for _, e in found)
    first_video = sorted((e.sequence_number, e.kind, e.action) for key, e in found
                         if key.endswith("vid-7Hq2mX") and e.kind is not EventKind.OTHER)
    assert [(kind, action) for _, kind, action in first_video] == [
        (EventKind.START, Action.PLAY), (EventKind.HEARTBEAT, Action.PROGRESS),
        (EventKind.HEARTBEAT, Action.PROGRESS), (EventKind.STOP, Action.COMPLETION),
        (EventKind.STOP, Action.SWIPE)]


def test_single_event_is_accepted_with_the_organization_as_query_parameter(
    gateway: Settings,
) -> None:
    org, session = "org-" + uuid.uuid4().hex[:8], "sess-" + uuid.uuid4().hex[:8]
    answer = post(gateway, "/v1/events", event("playStart", session, eventId="evt-1"),
                  params={"organizationId": org})
    assert answer.status_code == 202 and answer.json() == {"accepted": 1, "rejected": []}
    found = events_with_keys(gateway, {f"{org}/{session}/vid-1"}, 2)
    assert sorted(e.event_id for _, e in found) == ["evt-1", "evt-1:startup"]
    assert {e.attributes["timestamp_adjusted"] for _, e in found} == {"missing"}


def test_a_retried_event_gets_the_same_id(gateway: Settings) -> None:
    org, session = "org-" + uuid.uuid4().hex[:8], "sess-" + uuid.uuid4().hex[:8]
    body = event("like", session, timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    for _ in range(2):
        assert post(gateway, "/v1/events", body, org).status_code == 202
    found = events_with_keys(gateway, {f"{org}/{session}/vid-1"}, 2)
    assert len(found) == 2 and len({e.event_id for _, e in found}) == 1


def test_batch_with_bad_events_keeps_the_good_and_says_which_failed_and_why(
    gateway: Settings,
) -> None:
    org, session = "org-" + uuid.uuid4().hex[:8], "sess-" + uuid.uuid4().hex[:8]
    events = [event("like", session), event("playStart", session, data={}),
              event("save", session, timestamp="2020-01-01T00:00:00Z"),
              event("wave", session), event("share", session, data={"platform": "x"})]
    answer = post(gateway, "/v1/events/batch", {"events": events}, org)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["accepted"] == 2
    assert [(r["index"], [(p["path"], p["reason"]) for p in r["problems"]])
            for r in body["rejected"]] == [
        (1, [("events[1].data.startupTime", "invalid")]),
        (2, [("events[2].timestamp", "too_old")]),
        (3, [("events[3].eventType", "invalid")])]
    found = events_with_keys(gateway, {f"{org}/{session}/vid-1"}, 2)
    assert sorted(e.action for _, e in found) == [Action.LIKE, Action.SHARE]


def test_batch_with_nothing_valid_is_422(gateway: Settings) -> None:
    answer = post(gateway, "/v1/events/batch", {"events": [{"eventType": "like"}]}, "org-1")
    assert answer.status_code == 422
    assert {p["path"] for p in answer.json()["problems"]} == {
        "events[0].contentId", "events[0].deviceId", "events[0].sessionId"}


def test_batch_over_the_limit_is_refused_naming_the_limit(gateway: Settings) -> None:
    answer = post(gateway, "/v1/events/batch",
                  {"events": [event("like", "s")] * 101}, "org-1")
    assert answer.status_code == 413
    [problem] = answer.json()["problems"]
    assert problem["reason"] == "too_many_events" and "at most 100" in problem["message"]


def test_single_invalid_event_is_422_naming_the_field(gateway: Settings) -> None:
    answer = post(gateway, "/v1/events", event("rebuffer", "s", data={"currentTime": 3}),
                  "org-1")
    assert answer.status_code == 422
    assert [p["path"] for p in answer.json()["problems"]] == ["data.duration"]


def test_organization_is_required_without_write_keys(gateway: Settings) -> None:
    answer = post(gateway, "/v1/events", event("like", "s"))
    assert answer.status_code == 422
    assert [(p["path"], p["reason"]) for p in answer.json()["problems"]] == [
        ("organizationId", "missing")]
    answer = post(gateway, "/v1/events", event("like", "s"), "org-a",
                  params={"organizationId": "org-b"})
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["reason"] == "organization_mismatch"


def test_write_key_decides_the_organization(keyed_gateway: Settings) -> None:
    session = "sess-" + uuid.uuid4().hex[:8]
    auth = {"Authorization": f"Bearer {KEY}"}
    assert post(keyed_gateway, "/v1/events", event("like", session)).status_code == 401
    answer = httpx.post(f"{keyed_gateway.gateway_url}/v1/events", json=event("like", session),
                        headers={**auth, "X-Playhead-Organization": "someone-else"})
    assert answer.status_code == 403
    answer = httpx.post(f"{keyed_gateway.gateway_url}/v1/events", json=event("like", session),
                        headers=auth)
    assert answer.status_code == 202, answer.text
    [(key, found)] = events_with_keys(keyed_gateway, {f"{KEY_ORG}/{session}/vid-1"}, 1)
    assert found.organization_id == KEY_ORG
