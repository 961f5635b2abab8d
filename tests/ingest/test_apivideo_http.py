"""api.video-style player sessions over real HTTP, read back from the real broker."""

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
from ingest.examples import reference
from processors.session import Rules, summarize
from processors.topics import ensure_topics
from schemas.event import EventKind

pytestmark = pytest.mark.integration  # gateways on the session's broker


@pytest.fixture(scope="module")
def gateway(kafka: Settings) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={
        "events_topic": f"test.av.{suffix}", "dead_letter_topic": f"test.av.{suffix}.dlq",
        "gateway_port": free_port()})
    ensure_topics(settings)
    for _ in serve(settings):
        yield settings


def post(settings: Settings, session: str, body: Any, org: str | None = "org-1",
         **kwargs: Any) -> httpx.Response:
    headers = {"X-Playhead-Organization": org} if org else {}
    return httpx.post(f"{settings.gateway_url}/v1/player-sessions/{session}/events", json=body,
                      headers=headers, timeout=30, **kwargs)


def fresh() -> tuple[str, str]:
    return "org-" + uuid.uuid4().hex[:8], "ps" + uuid.uuid4().hex[:20]


def test_reference_session_lands_in_kafka_keyed_by_organization_and_session(
    gateway: Settings,
) -> None:
    org, session = fresh()
    answer = post(gateway, session, retimed("apivideo", time.time()), org)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 25, "rejected": []}
    found = events_with_keys(gateway, {f"{org}/{session}"}, 25)
    events = sorted((e for _, e in found), key=lambda e: e.sequence_number)
    assert [e.sequence_number for e in events] == list(range(1, 26))
    assert [e.attributes["event"] for e in events] == [
        e["type"] for e in reference("apivideo")["events"]]
    assert {(e.dialect, e.clip_id) for e in events} == {("apivideo", "viPlayheadReference01")}
    # The seek restates the resume before it (the player's scrub report): kept, no interval.
    assert events[4].kind is EventKind.OTHER and events[4].seek_to_seconds == 21.0
    assert events[4].attributes["restated"] == "true"
    assert summarize(events, Rules()).duration_seconds == 24.0  # the worked example


def test_a_session_sent_in_two_requests_keeps_one_sequence_and_retries_dedupe(
    gateway: Settings,
) -> None:
    org, session = fresh()
    body = retimed("apivideo", time.time())
    first = dict(body, events=body["events"][:12])
    second = dict(body, events=body["events"][12:], offset=12, completed=True)
    for part in (first, second, second):  # the second request retried
        assert post(gateway, session, part, org).status_code == 202
    found = [e for _, e in events_with_keys(gateway, {f"{org}/{session}"}, 38)]
    assert len(found) == 38 and len({e.event_id for e in found}) == 25
    assert {e.sequence_number for e in found} == set(range(1, 26))
    assert {e.session_complete for e in found if e.sequence_number > 12} == {True}


def test_bad_events_refuse_the_request_naming_each_problem(gateway: Settings) -> None:
    body = retimed("apivideo", time.time())
    del body["events"][4]["from"]  # a seek without its start
    body["events"][6]["type"] = "stop"
    answer = post(gateway, "ps-bad", body)
    assert answer.status_code == 422
    assert [p["path"] for p in answer.json()["problems"]] == ["events[4].from", "events[6].type"]


def test_events_older_than_a_day_refuse_the_request_with_the_reason(gateway: Settings) -> None:
    answer = post(gateway, "ps-old", reference("apivideo"))  # from 2020
    assert answer.status_code == 422
    [problem] = answer.json()["problems"]
    assert (problem["path"], problem["reason"]) == ("events[0].emittedAt", "too_old")


def test_too_many_events_are_refused_naming_the_limit(gateway: Settings) -> None:
    event = {"type": "ready", "at": 0, "emittedAt": "2026-01-01T00:00:00Z"}
    answer = post(gateway, "ps-big", {"videoId": "vi-1", "events": [event] * 1001})
    assert answer.status_code == 413
    assert "at most 1000 events" in answer.json()["problems"][0]["message"]


def test_organization_must_be_named(gateway: Settings) -> None:
    answer = post(gateway, "ps-1", retimed("apivideo", time.time()), org=None)
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["path"] == "organizationId"
    answer = post(gateway, "ps-1", retimed("apivideo", time.time()), org=None,
                  params={"organizationId": "bad/org"})
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["path"] == "query.organizationId"
