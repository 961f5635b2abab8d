"""Hostile and broken input on the real pipeline: nothing stalls the worker for anyone.

Gateway, worker, broker and warehouse are real processes. Each case sends
what used to stall or crash the worker (or skew its figures), then checks
that the hostile input was refused or dead-lettered with its reason and that
a normal session of another organization, sent afterwards, lands as usual.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from conftest import Pipeline, free_port, running_pipeline, wait_until
from hostile_inputs import hostile as hostile_body
from hostile_inputs import routes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from samples import omny_request
from worker_cluster import dead_letters, produce

from config.settings import Settings, to_env
from devkit.local import services
from devkit.status import screen
from schemas import event_codec
from schemas.event import EventKind, PlaybackEvent

pytestmark = pytest.mark.integration  # the session's broker, warehouse and pipelines

NOW = time.time()


@pytest.fixture(scope="module")
def hostile(kafka: Settings, warehouse_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("hostile"),
                          max_event_age_seconds=0.0, idle_timeout_seconds=3.0,
                          metrics_port=free_port()) as (settings, client):
        yield Pipeline(settings, client)


def dead_lettered(settings: Settings, key: str, reason: str, timeout: float = 60.0) -> bool:
    """Whether the dead-letter topic holds a message of session ``key`` with ``reason``."""
    async def read() -> bool:
        consumer = AIOKafkaConsumer(settings.dead_letter_topic,
                                    bootstrap_servers=settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                if any((m.key or b"").decode() == key
                       and dict(m.headers)["playhead-dlq-reason"].decode() == reason
                       for ms in batch.values() for m in ms):
                    return True
        finally:
            await consumer.stop()
        return False
    return asyncio.run(read())


def metrics(settings: Settings) -> dict[str, float]:
    return metrics_at(f"http://127.0.0.1:{settings.metrics_port}/metrics")


def another_organization_lands(pipeline: Pipeline, within: float = 30.0) -> None:
    """A normal Omny session of a fresh organization is in ClickHouse within ``within`` s."""
    org, clip, session = (str(uuid.uuid4()) for _ in range(3))
    answer = pipeline.post_omny(omny_request(session=session, clip=clip, org=org, now=NOW), org)
    assert answer.status_code == 200, answer.text
    pipeline.wait_for_version(session, 4, timeout=within)
    [(_, _, _, duration, kept)] = pipeline.sessions(clip)
    assert (duration, kept) == (pytest.approx(239.144), 1)


def canonical(org: str, session: str, seq: int, kind: EventKind, position: float,
              clip: str = "clip-1", **fields: Any) -> PlaybackEvent:
    return PlaybackEvent(f"{session}:{seq}", org, session, clip, "Web", kind, position, seq,
                         NOW - 100 + seq, dialect="direct", **fields)


def test_events_outside_the_bounds_from_a_direct_producer_are_dead_lettered(
        hostile: Pipeline) -> None:
    org = str(uuid.uuid4())
    # What a producer that skips the gateway could write: a pause at 5e9 s and a
    # startup time of 5e9 ms. Both used to stall every partition at the sink.
    far = [canonical(org, "far", 1, EventKind.START, 0),
           canonical(org, "far", 2, EventKind.STOP, 5e9)]
    slow = [canonical(org, "slow", 1, EventKind.OTHER, 0, action="startup",
                      value_ms=5_000_000_000)]
    produce(hostile.settings, far + slow)
    assert dead_lettered(hostile.settings, f"{org}/far", "out_of_bounds")
    assert dead_lettered(hostile.settings, f"{org}/slow", "out_of_bounds")
    another_organization_lands(hostile)
    # The session whose stop was refused is the listening it really had: none closed.
    assert hostile.rows(f"SELECT duration_seconds FROM {hostile.db}.sessions "
                        "WHERE session_id = 'far'") in ([], [(0.0,)])


def test_a_bad_event_inside_a_batch_record_is_dead_lettered_alone(hostile: Pipeline) -> None:
    """One record holding a session's events (EventProducer's form) with one event out
    of the bounds: that event alone is dead-lettered, named by its place in the record,
    and its neighbours before and after it count as if each had come alone."""
    org, clip = str(uuid.uuid4()), str(uuid.uuid4())
    events = [canonical(org, "mixed", 1, EventKind.START, 0, clip=clip),
              canonical(org, "mixed", 2, EventKind.OTHER, 0, clip=clip, action="startup",
                        value_ms=5_000_000_000),
              canonical(org, "mixed", 3, EventKind.STOP, 30, clip=clip, session_complete=True)]
    codec = event_codec()

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=hostile.settings.kafka_bootstrap,
                                    acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                hostile.settings.events_topic,
                codec.encode_batch([e.to_record() for e in events]),
                key=f"{org}/mixed".encode())
        finally:
            await producer.stop()

    asyncio.run(send())
    wait_until(lambda: hostile.sessions(clip), 60, "the batch's session in sessions")
    [(_, _, _, duration, kept)] = hostile.sessions(clip)
    assert (duration, kept) == (pytest.approx(30.0), 1)
    letters = [headers for key, headers in dead_letters(hostile.settings, timeout=10)
               if key == f"{org}/mixed".encode()]
    assert [h["playhead-dlq-reason"] for h in letters] == [b"out_of_bounds"]
    assert letters[0]["playhead-dlq-source"].endswith(b"#1")  # the record's second event


def test_a_session_of_sixteen_thousand_events_is_bounded_and_stalls_nobody(
        hostile: Pipeline) -> None:
    org, clip, session = (str(uuid.uuid4()) for _ in range(3))
    events = []
    for seq in range(1, 16_001):
        events.append({"OrganizationId": org, "ClipId": clip, "SessionId": session,
                       "Type": "Start" if seq % 2 else "Stop", "Position": seq * 0.5,
                       "SeqNumber": seq, "Timestamp": int(NOW) - 20_000 + seq})
    for part in range(4):
        answer = hostile.post_omny({"Source": "Web", "Completed": True, "Events":
                                    events[part * 4000:(part + 1) * 4000]}, org)
        assert answer.status_code == 200, answer.text
    another_organization_lands(hostile, within=60)
    limit = hostile.settings.max_session_events
    hostile.wait_for_version(session, limit, timeout=60)
    wait_until(lambda: metrics(hostile.settings).get(
        'playhead_worker_dead_letters_total{reason="session_limit"}', 0) >= 16_000 - limit,
        60, "the events past the session's limit to be dead-lettered")
    [(version,)] = hostile.rows(f"SELECT max(version) FROM {hostile.db}.session_versions "
                                "WHERE session_id = {s:String}", s=session)
    assert version == limit
    live = httpx.get(f"http://127.0.0.1:{hostile.settings.metrics_port}/livez", timeout=5)
    assert live.status_code == 200 and live.json()["status"] == "ok"


def test_a_late_event_naming_another_clip_cannot_move_or_double_a_session(
        hostile: Pipeline) -> None:
    org, clip, session = (str(uuid.uuid4()) for _ in range(3))
    body = omny_request(session=session, clip=clip, org=org, now=NOW)
    assert hostile.post_omny(body, org).status_code == 200
    hostile.wait_for_version(session, 4)
    late = {**body["Events"][0], "ClipId": str(uuid.uuid4()), "SeqNumber": 5,
            "Timestamp": body["Events"][0]["Timestamp"] - 60, "Type": "Start"}
    assert hostile.post_omny({**body, "Events": [late]}, org).status_code == 200
    assert dead_lettered(hostile.settings, f"{org}/{session}", "clip_mismatch")
    rows = hostile.rows(f"SELECT clip_id, duration_seconds FROM {hostile.db}.sessions "
                        "WHERE session_id = {s:String}", s=session)
    assert rows == [(clip, pytest.approx(239.144))]


def counted(pipeline: Pipeline) -> tuple[float, float, float]:
    """(events the gateway acknowledged, events the worker applied, worker dead letters)."""
    gateway = metrics_at(f"{pipeline.settings.gateway_url}/metrics")
    worker = metrics(pipeline.settings)
    return (sum(v for k, v in gateway.items()
                if k.startswith("playhead_gateway_events_accepted_total")),
            sum(v for k, v in worker.items() if k.startswith("playhead_worker_events_total")),
            sum(v for k, v in worker.items()
                if k.startswith("playhead_worker_dead_letters_total")))


def settled(pipeline: Pipeline) -> tuple[float, float, float]:
    """The counts once the worker has been idle for two seconds."""
    last = counted(pipeline)
    while True:
        time.sleep(2)
        now = counted(pipeline)
        if now == last:
            return now
        last = now


FUZZ_ORG = str(uuid.uuid4())
FUZZ_ROUTES = routes(FUZZ_ORG)


@settings(max_examples=examples(40), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def fuzz_once(pipeline: Pipeline, data: st.DataObject) -> None:
    path, base = FUZZ_ROUTES[data.draw(st.sampled_from(sorted(FUZZ_ROUTES)), label="route")]
    body = data.draw(hostile_body(base()), label="body")
    answer = httpx.post(
        f"{pipeline.settings.gateway_url}{path}", content=json.dumps(body).encode(),
        params={"organizationId": FUZZ_ORG if path.startswith("/api/") else "fuzz"},
        headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code < 500, answer.text[:2000]


def test_hostile_requests_on_every_route_are_counted_or_dead_lettered_and_stall_nobody(
        hostile: Pipeline) -> None:
    accepted, applied, dead = settled(hostile)
    fuzz_once(hostile)
    # Every event a 2xx acknowledged reaches the worker: applied to its session
    # (duplicates included) or dead-lettered with a reason. Nothing disappears.
    expected = None

    def balanced() -> bool:
        nonlocal expected
        now = counted(hostile)
        expected = now
        return now[0] - accepted == (now[1] - applied) + (now[2] - dead)

    wait_until(balanced, 60, f"acknowledged events to be applied or dead-lettered ({expected})")
    assert counted(hostile)[0] > accepted, "the fuzz should get some events accepted"
    another_organization_lands(hostile)


def metrics_at(url: str) -> dict[str, float]:
    out = {}
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_a_worker_held_by_an_absent_warehouse_says_it_is_stalled_and_loses_nothing(
        kafka: Settings, tmp_path: Path) -> None:
    # A warehouse of its own, to stop and start again under a running worker.
    port = free_port()
    house = Settings(state_dir=tmp_path / "warehouse", warehouse_port=port)
    url = f"http://127.0.0.1:{port}"

    def start_warehouse() -> None:
        services.start(house, "warehouse", ["warehouse"], services.http_ok(f"{url}/ping"),
                       env=to_env(house))

    start_warehouse()
    try:
        with running_pipeline(kafka, url, tmp_path / "pipeline", max_event_age_seconds=0.0,
                              stall_seconds=3.0, metrics_port=free_port()) as (settings, client):
            pipeline = Pipeline(settings, client)
            livez = f"http://127.0.0.1:{settings.metrics_port}/livez"
            assert httpx.get(livez, timeout=5).json()["status"] == "ok"
            services.stop(house, "warehouse")
            org, clip, session = (str(uuid.uuid4()) for _ in range(3))
            body = omny_request(session=session, clip=clip, org=org, now=NOW)
            assert pipeline.post_omny(body, org).status_code == 200  # Kafka has it
            wait_until(lambda: httpx.get(livez, timeout=5).status_code == 503, 60,
                       "the held worker to report itself stalled")
            stalled = httpx.get(livez, timeout=5).json()
            assert stalled["status"] == "stalled" and stalled["lag"] > 0
            assert metrics(settings)["playhead_worker_stalled"] == 1
            assert metrics(settings)["playhead_worker_sink_retrying"] == 1
            assert "stalled: no batch finished" in screen(settings)  # `playhead status`
            start_warehouse()
            pipeline.client = client  # the same server address, started again
            wait_until(lambda: httpx.get(livez, timeout=5).status_code == 200, 90,
                       "the worker to make progress again")
            pipeline.wait_for_version(session, 4, timeout=60)
            [(_, _, _, duration, kept)] = pipeline.sessions(clip)
            assert (duration, kept) == (pytest.approx(239.144), 1)
    finally:
        services.stop(house, "warehouse")
