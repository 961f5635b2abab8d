"""`playhead status` and `playhead loadgen` against a real broker, gateway, worker and warehouse."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from conftest import REPO, free_port, running_pipeline, wait_until

from config.settings import Settings, to_env
from devkit.status import kafka_figures, open_sessions, report
from schemas.event import EventKind, PlaybackEvent
from schemas.producer import EventProducer
from sinks.client import connect
from sinks.completeness import complete_through

pytestmark = pytest.mark.integration  # a pipeline


@pytest.fixture(scope="module")
def ops(kafka: Settings, warehouse_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Gateway and worker on throwaway topics, database and ports (metrics too)."""
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("ops"),
                          metrics_port=free_port()) as (settings, _):
        yield settings


def playhead(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYHEAD_")}
    return subprocess.run([sys.executable, "-m", "playhead", *args], cwd=REPO, text=True,
                          env={**env, **to_env(settings)}, capture_output=True, timeout=300)


async def _send_open_session_and_garbage(settings: Settings) -> None:
    event = PlaybackEvent("ops-1", "ops-org", "ops-open", "clip", "Web", EventKind.START,
                          0.0, 1, time.time())
    async with EventProducer(settings.kafka_bootstrap, topic=settings.events_topic) as producer:
        await producer.publish([event])
    raw = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await raw.start()
    try:
        await raw.send_and_wait(settings.events_topic, b"not avro", key=b"ops-org/garbage")
    finally:
        await raw.stop()


def test_status_shows_lag_open_sessions_dead_letters_and_warehouse(ops: Settings) -> None:
    asyncio.run(_send_open_session_and_garbage(ops))
    wait_until(lambda: open_sessions(ops)[0] == 1, 60, "one open session in the worker")
    wait_until(lambda: kafka_figures(ops).dead_letters == 1, 60, "one dead letter")
    # Faust commits every few seconds and ticks every second: lag settles near zero.
    figures = wait_until(lambda: (f := kafka_figures(ops)).partitions and all(
        p.committed is not None for p in f.partitions) and f.total_lag <= 8 and f, 60,
        "offsets committed on every partition")
    assert [p.partition for p in figures.partitions] == list(range(ops.topic_partitions))
    warehouse = connect(ops.clickhouse_url)
    wait_until(lambda: complete_through(warehouse, ops.clickhouse_database, "ops-org"), 60,
               "every partition's complete-through bound")

    screen = playhead(ops, "status")
    assert screen.returncode == 0, screen.stderr
    out = screen.stdout
    assert "gateway    running" in out and "worker     running" in out
    assert f"consumer group {ops.worker_id} on {ops.events_topic}:" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == list(range(ops.topic_partitions))
    assert all(len(r) == 4 for r in rows), out
    assert f"open sessions   1 (http://127.0.0.1:{ops.metrics_port}/metrics)" in out
    assert f"dead letters    1 held in {ops.dead_letter_topic}" in out
    store = next(line for line in out.splitlines() if line.startswith("state store"))
    assert f"of {ops.state_memory_mib} MiB in memory" in store, store
    assert f"database {ops.clickhouse_database} at migration" in out, out
    # A day behind (the oldest event the gateway accepts, by default), for every
    # organization: the open session started later, and is not written yet.
    final = next(line for line in out.splitlines() if line.startswith("final through"))
    assert final.endswith(" UTC, every organization"), final
    shown = datetime.strptime(final.split()[2] + " " + final.split()[3], "%Y-%m-%d %H:%M:%S")
    assert time.time() - 86_400 - 400 < shown.replace(tzinfo=UTC).timestamp() < time.time() - 86_400


def test_status_says_what_it_cannot_reach(kafka: Settings) -> None:
    gone = kafka.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}",
                                    "metrics_port": free_port(),
                                    "clickhouse_url": f"http://127.0.0.1:{free_port()}"})
    started = time.monotonic()
    lines = "\n".join(report(gone))
    assert time.monotonic() - started < 20
    assert "kafka not reachable" in lines
    assert "open sessions   unknown: worker metrics not reachable" in lines
    assert "dead letters    unknown" in lines
    assert "state store     unknown: worker metrics not reachable" in lines
    assert "warehouse       not reachable" in lines


def test_loadgen_sessions_are_all_counted(ops: Settings) -> None:
    done = playhead(ops, "loadgen", "--rate", "15", "--seconds", "3", "--seed", "7",
                    "--verify", "--verify-timeout", "90")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert "[loadgen" in done.stderr  # progress and the final line
    assert result["errors"] == {} and result["lossless"] is True
    expected, counted = result["expected"], result["counted"]
    assert expected == counted or (
        {k: v for k, v in expected.items() if k != "duration_seconds"}
        == {k: v for k, v in counted.items() if k != "duration_seconds"})
    assert result["sessions_accepted"] == 45 == expected["sessions"]
    # The mix: some sessions under 10 s (counted, not kept), curves with replays.
    assert 0 < expected["kept"] < expected["sessions"]
    assert expected["listens"] >= expected["listeners"] > 0
    assert result["requests"] > result["sessions_accepted"]  # retried requests
