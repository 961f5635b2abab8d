"""Hostile and broken clients: every value outside a bound is a 4xx naming the field.

Each case here answered a plain-text 500 or was accepted (and later stalled
the worker or broke Kafka) before the gateway checked schemas/bounds.py. The
app runs in this process with a publisher that keeps what it is given
(fake_gateway.py), which also encodes every event as Kafka would.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from fake_gateway import AppClient, KeepingPublisher, client
from samples import omny_request

from devkit.sample_retime import retimed
from ingest.publisher import KafkaPublisher
from schemas.bounds import Bounds
from schemas.producer import PublishFailed

ORG = str(uuid.uuid4())
BOUNDS = Bounds()


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[AppClient, KeepingPublisher]]:
    with client() as pair:
        yield pair


def post(app: AppClient, path: str, body: Any, org: str = "acme") -> Any:
    # Serialized here so that lone surrogates reach the gateway as JSON escapes.
    return app.post(path, params={"organizationId": org}, content=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"})


def problems_of(answer: Any) -> list[tuple[str, str]]:
    body = answer.json()
    found = [(p["path"], p["reason"]) for p in body.get("problems", [])]
    for refused in body.get("rejected", []):
        found += [(p["path"], p["reason"]) for p in refused["problems"]]
    return found


# --- mParticle -------------------------------------------------------------------------


def mparticle(index: int, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    body: dict[str, Any] = retimed("mparticle", time.time())
    change(body["events"][index]["data"])
    return body


def attributes(**values: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda data: data["custom_attributes"].update(values)


def buffer_end(**values: Any) -> Callable[[dict[str, Any]], Any]:
    def change(data: dict[str, Any]) -> None:
        data["event_name"] = "Buffer End"
        data["custom_attributes"].update(values)
    return change


MPARTICLE_CASES = [
    # (case, event index, change, the path named, reason)
    ("timestamp 10^18", 0, lambda d: d.update(timestamp_unixtime_ms=10**18),
     "data.timestamp_unixtime_ms", "out_of_bounds"),
    ("timestamp 2^63", 0, lambda d: d.update(timestamp_unixtime_ms=2**63),
     "data.timestamp_unixtime_ms", "out_of_bounds"),
    ("timestamp 10^18 as a string", 0, lambda d: d.update(timestamp_unixtime_ms=str(10**18)),
     "data.timestamp_unixtime_ms", "out_of_bounds"),
    ("timestamp 2^63 as a string", 0, lambda d: d.update(timestamp_unixtime_ms=str(2**63)),
     "data.timestamp_unixtime_ms", "out_of_bounds"),
    ("qos_startup_time 1e19", 2, attributes(qos_startup_time=1e19),
     "data.custom_attributes.qos_startup_time", "out_of_bounds"),
    ("qos_startup_time 5e9", 2, attributes(qos_startup_time=5_000_000_000),
     "data.custom_attributes.qos_startup_time", "out_of_bounds"),
    ("buffer_duration 1e19", 4, buffer_end(buffer_duration=1e19),
     "data.custom_attributes.buffer_duration", "out_of_bounds"),
    ("buffer_duration 1e20 as a string", 4, buffer_end(buffer_duration="100000000000000000000"),
     "data.custom_attributes.buffer_duration", "out_of_bounds"),
    ("content_id a lone surrogate", 0, attributes(content_id="\ud800"),
     "data.custom_attributes.content_id", "invalid"),
    ("media_session_id a lone surrogate", 0, attributes(media_session_id="x\ud800"),
     "data.custom_attributes.media_session_id", "invalid"),
    ("attribute a lone surrogate", 0, attributes(note="\ud800"),
     "data.custom_attributes.'note'", "out_of_bounds"),
    ("stop position 1e6 s", 4, attributes(playhead_position=1e9),
     "data.custom_attributes.playhead_position", "out_of_bounds"),
    ("stop position 1e9 s", 4, attributes(playhead_position=1e12),
     "data.custom_attributes.playhead_position", "out_of_bounds"),
    ("content_duration 1e10 ms", 8, attributes(content_duration=1e10),
     "data.custom_attributes.content_duration", "out_of_bounds"),
    ("a 600 kB attribute", 1, attributes(notes="x" * 600_000),
     "data.custom_attributes.notes", "out_of_bounds"),
    ("4000 numeric attributes", 1, attributes(**{f"n{i}": i for i in range(4000)}),
     "data.custom_attributes", "out_of_bounds"),
]


@pytest.mark.parametrize("case, index, change, path, reason", MPARTICLE_CASES,
                         ids=[c[0] for c in MPARTICLE_CASES])
def test_mparticle_batch_refuses_just_the_bad_event_naming_its_field(
    gateway: tuple[AppClient, KeepingPublisher], case: str, index: int,
    change: Callable[[dict[str, Any]], Any], path: str, reason: str,
) -> None:
    app, publisher = gateway
    body = mparticle(index, change)
    answer = post(app, "/v1/mparticle/events", body)
    events, _ = publisher.take()
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 9
    [refused] = answer.json()["rejected"]
    assert refused["index"] == index
    assert problems_of(answer) == [(f"events[{index}].{path}", reason)]
    assert all(not BOUNDS.violations(event) for event in events)


@pytest.mark.parametrize("case, index, change, path, reason", MPARTICLE_CASES,
                         ids=[c[0] for c in MPARTICLE_CASES])
def test_mparticle_single_event_is_a_422_naming_its_field(
    gateway: tuple[AppClient, KeepingPublisher], case: str, index: int,
    change: Callable[[dict[str, Any]], Any], path: str, reason: str,
) -> None:
    app, publisher = gateway
    event = mparticle(index, change)["events"][index]
    answer = post(app, "/v1/mparticle/event", event)
    assert answer.status_code == 422, answer.text
    assert publisher.take() == ([], [])
    assert problems_of(answer) == [(path, reason)]


def test_out_of_bounds_messages_say_the_bound_and_the_setting(
    gateway: tuple[AppClient, KeepingPublisher],
) -> None:
    app, _ = gateway
    answer = post(app, "/v1/mparticle/event",
                  mparticle(4, attributes(playhead_position=1e9))["events"][4])
    [problem] = answer.json()["problems"]
    assert "86400 s" in problem["message"] and "PLAYHEAD_MAX_CLIP_SECONDS" in problem["message"]


def test_mparticle_events_without_media_session_are_keyed_by_app_session_and_clip(
    gateway: tuple[AppClient, KeepingPublisher],
) -> None:
    app, publisher = gateway
    body: dict[str, Any] = retimed("mparticle", time.time())
    second = copy.deepcopy(body["events"][1])  # a Play of another clip, same app session
    second["data"]["custom_attributes"]["content_id"] = "other-clip"
    second["data"]["event_id"] = "play-of-the-other-clip"
    events_in = [body["events"][1], second]
    for event in events_in:
        del event["data"]["custom_attributes"]["media_session_id"]
    answer = post(app, "/v1/mparticle/events", {"events": events_in})
    assert answer.status_code == 202 and answer.json()["accepted"] == 2
    events, _ = publisher.take()
    app_session = body["events"][1]["data"]["session_uuid"]
    assert {e.session_key for e in events} == {
        f"acme/{app_session}/1234567", f"acme/{app_session}/other-clip"}


# --- Omny: problems are dead letters, the answer stays {"Enabled": true} -----------------


def omny(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    body = omny_request(org=ORG, session=str(uuid.uuid4()), now=time.time())
    change(body)
    return body


OMNY_CASES = [
    ("SeqNumber 2^63", lambda b: b["Events"][2].update(SeqNumber=2**63),
     "Events[2].SeqNumber", "out_of_bounds"),
    ("SeqNumber 10^30", lambda b: b["Events"][0].update(SeqNumber=10**30),
     "Events[0].SeqNumber", "out_of_bounds"),
    ("stop Position 1e6", lambda b: b["Events"][1].update(Position=1e6),
     "Events[1].Position", "out_of_bounds"),
    ("stop Position 1e9", lambda b: b["Events"][3].update(Position=1e9),
     "Events[3].Position", "out_of_bounds"),
    ("Timestamp in the year 5138", lambda b: b["Events"][0].update(Timestamp=1e11),
     "Events[0].Timestamp", "out_of_bounds"),
    ("Position not a number", lambda b: b["Events"][1].update(Position="later"),
     "Events[1].Position", "invalid"),
    ("another organization", lambda b: b["Events"][0].update(OrganizationId=str(uuid.uuid4())),
     "Events[0].OrganizationId", "organization_mismatch"),
    ("too old", lambda b: [e.update(Timestamp=e["Timestamp"] - 3 * 86_400) for e in b["Events"]],
     "Events[0].Timestamp", "too_old"),
]


@pytest.mark.parametrize("case, change, path, reason", OMNY_CASES, ids=[c[0] for c in OMNY_CASES])
def test_omny_session_with_a_bad_event_goes_whole_to_the_dead_letters(
    gateway: tuple[AppClient, KeepingPublisher], case: str,
    change: Callable[[dict[str, Any]], Any], path: str, reason: str,
) -> None:
    app, publisher = gateway
    body = omny(change)
    answer = post(app, "/api/consumption/events", body, ORG)
    assert (answer.status_code, answer.json()) == (200, {"Enabled": True})
    events, [letter] = publisher.take()
    assert events == []
    assert (letter.reason, letter.source) == (reason, "gateway/omny")
    assert letter.detail.startswith(path)
    assert json.loads(letter.value) == body  # the session as sent: replayable
    session = body["Events"][0]["SessionId"]
    assert letter.key == f"{ORG}/{session}".encode()
    assert dict(letter.headers())["playhead-dlq-format"] == b"application/json"


def test_omny_request_judged_session_by_session(
    gateway: tuple[AppClient, KeepingPublisher],
) -> None:
    app, publisher = gateway
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())
    body = omny_request(org=ORG, session=good, now=time.time())
    broken = omny_request(org=ORG, session=bad, now=time.time())
    broken["Events"][1]["Position"] = 1e9
    broken["Events"][2]["Position"] = "\ud800"
    body["Events"] = body["Events"][:2] + broken["Events"] + body["Events"][2:]
    answer = post(app, "/api/consumption/events", body, ORG)
    assert (answer.status_code, answer.json()) == (200, {"Enabled": True})
    events, [letter] = publisher.take()
    assert {e.session_id for e in events} == {good} and len(events) == 4
    assert letter.key == f"{ORG}/{bad}".encode()
    # Invalid events are named with their place in the request's Events.
    assert letter.reason == "invalid" and "Events[4].Position" in letter.detail
    assert b"\\ud800" in letter.value  # the lone surrogate, escaped as the client sent it
    assert json.loads(letter.value)["Events"] == broken["Events"]
    metrics = app.get("/metrics").text
    assert 'playhead_gateway_dead_letters_total{dialect="omny",reason="invalid"}' in metrics


def test_omny_session_id_that_is_not_a_guid_is_kept_whole_under_a_short_key(
    gateway: tuple[AppClient, KeepingPublisher],
) -> None:
    app, publisher = gateway
    body = omny(lambda b: [e.update(SessionId="s" * 5000) for e in b["Events"]])
    answer = post(app, "/api/consumption/events", body, ORG)
    assert (answer.status_code, answer.json()) == (200, {"Enabled": True})
    _, [letter] = publisher.take()
    assert letter.key == f"{ORG}/{'s' * 128}...".encode()
    assert json.loads(letter.value) == body and letter.reason == "invalid"


def test_omny_session_too_large_for_a_dead_letter_is_a_413(
    gateway: tuple[AppClient, KeepingPublisher],
) -> None:
    app, publisher = gateway
    body = omny(lambda b: b["Events"][1].update(Position="9" * 950_000))
    answer = post(app, "/api/consumption/events", body, ORG)
    assert answer.status_code == 413, answer.text
    assert problems_of(answer) == [("Events", "too_large")]
    assert publisher.take() == ([], [])


@pytest.mark.parametrize("body, status, paths", [
    (b'{"Source": "Web", "Events": [', 400, {"body"}),
    ({"Events": [{"Position": "later"}], "Completed": True}, 422, {"Source"}),
    ({"Source": "Web", "Completed": True}, 422, {"Events"}),
    ({"Source": "Web", "Events": [], "Completed": True}, 422, {"Events"}),
    ({"Source": "Web", "Events": "many", "Completed": True}, 422, {"Events"}),
    ([1, 2, 3], 422, {"body"}),
])
def test_a_body_that_is_not_an_omny_request_is_still_refused(
    gateway: tuple[AppClient, KeepingPublisher], body: Any, status: int, paths: set[str],
) -> None:
    app, publisher = gateway
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = app.post("/api/consumption/events", params={"organizationId": ORG}, content=content,
                      headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert paths <= {path for path, _ in problems_of(answer)}
    assert publisher.take() == ([], [])


# --- short-video, api.video, music clips -----------------------------------------------

EDGE_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]


@pytest.mark.parametrize("stamp", EDGE_TIMES)
def test_shortvideo_times_without_a_utc_form_are_named(
    gateway: tuple[AppClient, KeepingPublisher], stamp: str,
) -> None:
    app, publisher = gateway
    body: dict[str, Any] = retimed("shortvideo", time.time())
    body["events"][3]["timestamp"] = stamp
    answer = app.post("/v1/events/batch", json=body, headers={"X-Playhead-Organization": "acme"})
    assert answer.status_code == 202, answer.text
    assert problems_of(answer) == [("events[3].timestamp", "out_of_bounds")]
    single = app.post("/v1/events", json=body["events"][3],
                      headers={"X-Playhead-Organization": "acme"})
    assert single.status_code == 422 and problems_of(single) == [("timestamp", "out_of_bounds")]
    publisher.take()


@pytest.mark.parametrize("watch_time", [1e6, 1e9])
def test_shortvideo_completion_watch_time_over_the_longest_clip_is_named(
    gateway: tuple[AppClient, KeepingPublisher], watch_time: float,
) -> None:
    app, publisher = gateway
    body: dict[str, Any] = retimed("shortvideo", time.time())
    index = next(i for i, e in enumerate(body["events"]) if e["eventType"] == "completion")
    body["events"][index]["data"] = {"watchTime": watch_time, "looped": False}
    answer = app.post("/v1/events/batch", json=body, headers={"X-Playhead-Organization": "acme"})
    assert answer.status_code == 202, answer.text
    assert problems_of(answer) == [(f"events[{index}].data.watchTime", "out_of_bounds")]
    events, _ = publisher.take()
    assert len(events) == 18 and all(not BOUNDS.violations(e) for e in events)


def apivideo(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    body: dict[str, Any] = retimed("apivideo", time.time())
    change(body)
    return body


@pytest.mark.parametrize("change, path", [
    (lambda b: b.update(offset=2**63), "offset"),
    (lambda b: b.update(offset=2**63 - 3), "offset"),  # the last events pass 2^63-1
    (lambda b: b["events"][2].update(at=5e9), "events[2].at"),  # a pause
    (lambda b: b["events"][2].update(at=1e6), "events[2].at"),
    (lambda b: b["events"][5].update(at=1e9), "events[5].at"),  # an end
    (lambda b: b["events"][4].update(to=1e9), "events[4].to"),  # a seek
    (lambda b: b["events"][0].update(emittedAt=EDGE_TIMES[0]), "events[0].emittedAt"),
    (lambda b: b["events"][0].update(emittedAt=EDGE_TIMES[1]), "events[0].emittedAt"),
])
def test_apivideo_values_outside_the_bounds_are_named(
    gateway: tuple[AppClient, KeepingPublisher], change: Callable[[dict[str, Any]], Any],
    path: str,
) -> None:
    app, publisher = gateway
    answer = app.post("/v1/player-sessions/ps-1/events", json=apivideo(change),
                      headers={"X-Playhead-Organization": "acme"})
    assert answer.status_code == 422, answer.text
    assert problems_of(answer) == [(path, "out_of_bounds")]
    assert publisher.take() == ([], [])


@pytest.mark.parametrize("stamp", [*EDGE_TIMES, "2200-01-01T00:00:00Z", 1e20, -1e20])
@pytest.mark.parametrize("path", ["/play", "/track-play", "/app-start"])
def test_music_clips_times_outside_the_bounds_are_named(
    gateway: tuple[AppClient, KeepingPublisher], stamp: Any, path: str,
) -> None:
    app, publisher = gateway
    body = {"clientId": "c-1", "timestamp": stamp, "clipId": 1, "method": "Stream",
            "trackId": 7}
    body = {k: v for k, v in body.items()
            if k in {"/play": {"clientId", "timestamp", "clipId", "method"},
                     "/track-play": {"clientId", "timestamp", "trackId"},
                     "/app-start": {"clientId", "timestamp"}}[path]}
    answer = app.post(path, json=body, headers={"X-Playhead-Organization": "acme"})
    assert answer.status_code == 422, answer.text
    assert [p for p, _ in problems_of(answer)] == ["timestamp"]
    assert answer.json()["code"] == "VALIDATION_ERROR"
    assert publisher.take() == ([], [])


# --- errors no client can fix by retrying ----------------------------------------------


@pytest.mark.parametrize("error, status", [
    (MessageSizeTooLargeError(), 413),  # the same request would fail again: the client's 4xx
    (KafkaConnectionError(), 503),  # Kafka down: retry later
])
def test_kafka_refusing_a_message_as_too_large_is_a_4xx_not_a_503(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, status: int,
) -> None:
    class Producer:
        async def publish(self, _: Any) -> None:
            raise PublishFailed([object()], error) from error

    async def ready() -> Producer:
        return Producer()

    async def discard(_: Any) -> None:
        return None

    publisher = KafkaPublisher("127.0.0.1:1", "events")
    monkeypatch.setattr(publisher, "_ready_producer", ready)
    monkeypatch.setattr(publisher, "_discard", discard)
    with client(publisher=publisher) as (app, _):
        answer = post(app, "/api/consumption/events",
                      omny_request(org=ORG, session=str(uuid.uuid4()), now=time.time()), ORG)
    assert answer.status_code == status, answer.text
    if status == 413:
        assert problems_of(answer) == [("body", "too_large")]
        assert "retry" not in answer.json()["problems"][0]["message"]
