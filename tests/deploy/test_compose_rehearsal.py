"""The scaling guide's compose step, rehearsed without Docker (compose_rehearsal.py):
deploy/compose.yaml's services with two workers, each a process in its own network
namespace, reached by their service names as on compose's network. A newcomer's
commands run from a client namespace: load through the gateway, exact counts in
ClickHouse, the read API with the file's token, and a worker killed midway."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from compose_rehearsal import ComposeRehearsal, Container

from config.settings import Settings

pytestmark = pytest.mark.integration  # network namespaces (root) and the compose services in them

if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("curl"):
    pytest.fail("the compose rehearsal makes network namespaces, so it needs root, ip "
                "(iproute2) and curl: run the suite as root (as CI does; `make netns` installs "
                "the tools), or leave this module out with "
                "--deselect tests/deploy/test_compose_rehearsal.py", pytrace=False)


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeRehearsal]:
    rehearsal = ComposeRehearsal(tmp_path_factory.mktemp("compose"), workers=2)
    try:
        rehearsal.up()
        yield rehearsal
    finally:
        rehearsal.down()


def client(compose: ComposeRehearsal) -> Container:
    """The newcomer's shell: on the compose network with the Playhead services' settings."""
    shell = compose.containers["client"]
    shell.env = compose.playhead_env("gateway", shell)
    return shell


def organization(compose: ComposeRehearsal) -> tuple[str, str]:
    """The read token the compose file sets up, and its organization."""
    tokens = json.loads(compose.services["api"]["environment"]["PLAYHEAD_READ_TOKENS"])
    return next(iter(tokens.items()))


def loadgen(compose: ComposeRehearsal, seconds: int, seed: int, org: str) -> dict[str, object]:
    """`playhead loadgen --verify`: exits 0 once ClickHouse counts exactly what was sent
    (the organization's sessions, kept sessions, durations, listeners, listens)."""
    done = client(compose).exec(
        ["playhead", "loadgen", "--url", "http://gateway:8080", "--organization", org,
         "--rate", "15", "--seconds", str(seconds), "--seed", str(seed), "--verify",
         "--verify-timeout", "240"], timeout=420)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def worker_events(container: Container) -> float:
    done = container.exec(["curl", "-sf", f"http://{container.name}:9464/metrics"])
    assert done.returncode == 0, f"{container.name}'s metrics: {done.stderr}"
    return sum(float(v) for v in re.findall(
        r'^playhead_worker_events_total\{outcome="\w+"\} (\S+)$', done.stdout, re.M))


def sql(compose: ComposeRehearsal, query: str) -> str:
    shell = client(compose)
    url = shell.env["PLAYHEAD_CLICKHOUSE_URL"]
    database = shell.env.get("PLAYHEAD_CLICKHOUSE_DATABASE", Settings().clickhouse_database)
    done = shell.exec(["curl", "-s", "--fail-with-body", "--data-binary", query,
                       f"{url}/?database={database}"])
    assert done.returncode == 0, f"{query}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


def test_every_service_comes_up_healthy_in_the_files_order(compose: ComposeRehearsal) -> None:
    for service in ("gateway", "worker", "api", "rollup"):
        for container in compose.replicas(service):
            assert compose.healthy(service, container), container.log_tail()
    assert len(compose.replicas("worker")) == 2
    setup = compose.containers["setup"].process
    assert setup is not None and setup.returncode == 0  # topics and schema, then it exits
    topics = client(compose).exec(["playhead", "topics"])
    assert topics.returncode == 0, topics.stderr
    # The rollup runner reached the warehouse and waits for its next round.
    [rollup] = compose.replicas("rollup")
    log = rollup.log.read_text()
    assert "building the rollups of final days every 900 s" in log, log[-2000:]
    assert "rollup build failed" not in log, log[-2000:]


def test_load_through_the_gateway_is_counted_exactly_by_two_workers(
        compose: ComposeRehearsal) -> None:
    _, org = organization(compose)  # the read API's test below reads these
    summary = loadgen(compose, seconds=20, seed=1, org=org)
    assert summary["errors"] == {}
    assert summary["lossless"] is True
    workers = compose.replicas("worker")
    # Eight partitions split between the two: both did part of the work.
    assert all(worker_events(w) > 0 for w in workers), [worker_events(w) for w in workers]


def test_the_read_api_answers_with_the_files_token(compose: ComposeRehearsal) -> None:
    token, org = organization(compose)
    clip, sessions = sql(compose, (
        "SELECT clip_id, count() FROM sessions WHERE organization_id = "
        f"'{org}' GROUP BY clip_id ORDER BY count() DESC LIMIT 1")).split("\t")
    shell = client(compose)
    answer = shell.exec(["curl", "-sf", "-H", f"Authorization: Bearer {token}",
                         f"http://api:8081/api/consumption/clips/{clip}"])
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert json.loads(answer.stdout)["totals"]["sessions"] == int(sessions)
    refused = shell.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          f"http://api:8081/api/consumption/clips/{clip}"])
    assert refused.stdout == "401"


def test_a_killed_worker_loses_nothing(compose: ComposeRehearsal) -> None:
    survivor, victim = compose.replicas("worker")
    before = worker_events(survivor)
    compose.kill(victim.name)
    # The survivor takes the dead worker's partitions after BROKER_SESSION_TIMEOUT
    # (20 s in the file); every session acknowledged meanwhile is still counted.
    summary = loadgen(compose, seconds=30, seed=2, org=str(uuid.uuid4()))
    assert summary["errors"] == {}
    assert summary["lossless"] is True
    assert worker_events(survivor) > before


def test_the_rehearsal_reads_the_files_it_stands_in_for() -> None:
    rehearsal = ComposeRehearsal(Path("/nonexistent"), workers=3)
    assert rehearsal.argv("gateway") == ["playhead", "gateway"]
    assert rehearsal.argv("rollup") == ["playhead", "rollup", "--every", "900"]
    assert rehearsal.argv("setup")[:2] == ["sh", "-c"]
    assert rehearsal.image_env["PLAYHEAD_STATE_DIR"] == "/var/lib/playhead"
    assert rehearsal.scale["worker"] == 3
    assert "prometheus" not in rehearsal.services  # a profile: not started by default
