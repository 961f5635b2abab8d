"""mParticle routes over real HTTP, publishing to the real broker."""

from __future__ import annotations

import copy
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import free_port
from test_gateway_foundations import serve
from topic_reader import read_keys

from config.settings import Settings
from devkit.sample_retime import retimed
from processors.topics import ensure_topics

pytestmark = pytest.mark.integration  # gateways on the session's broker

LIMIT = 12


@pytest.fixture(scope="module")
def gateway(kafka: Settings) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={
        "events_topic": f"test.mp.{suffix}", "dead_letter_topic": f"test.mp.{suffix}.dlq",
        "gateway_port": free_port(), "mparticle_max_batch_events": LIMIT})
    ensure_topics(settings)
    for _ in serve(settings):
        yield settings


def post(settings: Settings, body: Any, org: str, path: str = "/v1/mparticle/events",
         ) -> httpx.Response:
    return httpx.post(f"{settings.gateway_url}{path}", json=body, timeout=30,
                      params={"organizationId": org})


def example(session: str) -> dict[str, Any]:
    body: dict[str, Any] = retimed("mparticle", time.time())
    for event in body["events"]:
        event["data"]["custom_attributes"]["media_session_id"] = session
    return body


def test_the_example_batch_lands_in_kafka_keyed_by_media_session(gateway: Settings) -> None:
    org, session = str(uuid.uuid4()), str(uuid.uuid4())
    answer = post(gateway, example(session), org)
    assert answer.status_code == 202 and answer.json() == {"accepted": 10, "rejected": []}
    [events] = read_keys(gateway, {f"{org}/{session}": 11}).values()  # QoS adds a startup
    assert Counter(e.kind.value for e in events) == Counter(
        {"START": 2, "STOP": 2, "SEEK": 2, "HEARTBEAT": 1, "OTHER": 4})
    play = next(e for e in events if e.event_id == "mparticle:-109840007014118971")
    assert (play.position_seconds, play.clip_id, play.clip_length_seconds) == (
        110.123, "1234567", 120.0)
    assert {e.dialect for e in events} == {"mparticle"}


def test_a_batch_with_bad_events_keeps_the_good_and_says_why_the_rest_failed(
    gateway: Settings,
) -> None:
    org, session = str(uuid.uuid4()), str(uuid.uuid4())
    body = example(session)
    body["events"][4]["data"]["custom_attributes"]["playhead_position"] = "forty seconds"
    body["events"][5]["data"]["timestamp_unixtime_ms"] = str(int(time.time() * 1000) - 90_000_000)
    body["events"][6]["event_type"] = "screen_view"
    answer = post(gateway, body, org)
    assert answer.status_code == 202
    assert answer.json()["accepted"] == 7
    refused = {r["index"]: r["problems"] for r in answer.json()["rejected"]}
    assert set(refused) == {4, 5, 6}
    assert [(p["path"], p["reason"]) for p in refused[4]] == [
        ("events[4].data.custom_attributes.playhead_position", "invalid")]
    assert [(p["path"], p["reason"]) for p in refused[5]] == [
        ("events[5].data.timestamp_unixtime_ms", "too_old")]
    assert [p["path"] for p in refused[6]] == ["events[6].event_type"]
    [events] = read_keys(gateway, {f"{org}/{session}": 8}).values()
    assert "mparticle:-109840007014118967" not in {e.event_id for e in events}  # the bad Pause


def test_a_batch_with_nothing_valid_is_refused_whole(gateway: Settings) -> None:
    body = example(str(uuid.uuid4()))
    for event in body["events"]:
        event["data"]["custom_attributes"]["content_id"] = ""
    answer = post(gateway, body, str(uuid.uuid4()))
    assert answer.status_code == 422
    assert {p["path"] for p in answer.json()["problems"]} == {
        f"events[{i}].data.custom_attributes.content_id" for i in range(10)}


def test_a_batch_over_the_limit_is_refused_whole(gateway: Settings) -> None:
    body = example(str(uuid.uuid4()))
    body["events"] = body["events"] + copy.deepcopy(body["events"])[: LIMIT + 1 - 10]
    answer = post(gateway, body, str(uuid.uuid4()))
    assert answer.status_code == 413
    assert answer.json()["problems"][0]["path"] == "events"
    assert str(LIMIT) in answer.json()["problems"][0]["message"]


def test_a_single_event_and_its_retry_carry_one_id(gateway: Settings) -> None:
    org, session = str(uuid.uuid4()), str(uuid.uuid4())
    play = example(session)["events"][7]
    for _ in range(2):
        answer = post(gateway, play, org, "/v1/mparticle/event")
        assert answer.status_code == 202 and answer.json() == {"accepted": 1, "rejected": []}
    [events] = read_keys(gateway, {f"{org}/{session}": 2}).values()
    assert {e.event_id for e in events} == {"mparticle:-109840007014118971"}


def test_a_single_bad_event_is_a_422_naming_the_field(gateway: Settings) -> None:
    play = example(str(uuid.uuid4()))["events"][7]
    play["data"]["custom_attributes"]["playhead_position"] = "NaN"
    answer = post(gateway, play, str(uuid.uuid4()), "/v1/mparticle/event")
    assert answer.status_code == 422
    assert [p["path"] for p in answer.json()["problems"]] == [
        "data.custom_attributes.playhead_position"]


def test_the_organization_must_be_named(gateway: Settings) -> None:
    answer = httpx.post(f"{gateway.gateway_url}/v1/mparticle/events",
                        json=example(str(uuid.uuid4())), timeout=30)
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["reason"] == "missing"
