"""The container path, as far as it goes without a container engine: the
switch, the failure without Docker, the settings built from container
endpoints, the pinned images and the broker's configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import chdb
import pytest
from conftest import REPO, free_port

from config.settings import Settings
from devkit.local.kafka import KafkaBroker
from services import ENV_VAR, SwitchError, chosen
from services.docker import (
    CLICKHOUSE_IMAGE,
    KAFKA_CLIENT_PORT,
    KAFKA_IMAGE,
    START_SCRIPT,
    clickhouse_spec,
    clickhouse_url,
    docker_problem,
    kafka_settings,
    kafka_spec,
    kafka_start_script,
)

pytest_plugins = ["pytester"]


def test_the_switch_defaults_to_local_and_the_option_wins_over_the_variable() -> None:
    assert chosen(None, {}) == "local"
    assert chosen(None, {ENV_VAR: ""}) == "local"
    assert chosen(None, {ENV_VAR: " Docker "}) == "docker"
    assert chosen("local", {ENV_VAR: "docker"}) == "local"
    assert chosen("docker", {}) == "docker"


def test_an_unknown_switch_value_names_where_it_came_from_and_the_choices() -> None:
    with pytest.raises(SwitchError, match=r"--services=podman: .*local, docker"):
        chosen("podman", {})
    with pytest.raises(SwitchError, match=rf"{ENV_VAR}=kube: .*local, docker"):
        chosen(None, {ENV_VAR: "kube"})


def test_without_an_engine_the_problem_says_what_is_missing_and_what_to_do(
        tmp_path: Path) -> None:
    gone = f"unix://{tmp_path / 'docker.sock'}"
    problem = docker_problem({"DOCKER_HOST": gone})
    assert problem is not None
    assert f"no socket at {gone}" in problem
    assert "Start Docker" in problem and "run without the switch" in problem
    refused = f"tcp://127.0.0.1:{free_port()}"
    problem = docker_problem({"DOCKER_HOST": refused})
    assert problem is not None and f"{refused} did not answer" in problem


def test_without_testcontainers_the_problem_names_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "testcontainers", None)
    problem = docker_problem({})
    assert problem is not None
    assert "'testcontainers' is not installed" in problem and ".[docker]" in problem


def test_the_switch_stops_pytest_at_once_without_docker(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
    env[ENV_VAR] = "docker"
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'no-engine.sock'}"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/config"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "--services=docker needs a Docker engine" in done.stderr
    assert "collected" not in done.stdout  # refused before collecting anything
    assert time.monotonic() - started < 60


def test_a_broker_container_becomes_settings_that_differ_only_in_the_address(
        tmp_path: Path) -> None:
    settings = kafka_settings(tmp_path, "localhost", 32771)
    assert settings.kafka_bootstrap == "localhost:32771"
    assert settings.state_dir == tmp_path
    defaults = Settings(state_dir=tmp_path).model_dump()
    changed = {key for key, value in settings.model_dump().items() if defaults[key] != value}
    assert changed == {"kafka_bootstrap"}


def test_a_server_container_becomes_a_url_the_sink_reads() -> None:
    url = clickhouse_url("127.0.0.1", 32772, "playhead", "s3cret-Token_x")
    parsed = urlparse(url)
    assert (parsed.scheme, parsed.hostname, parsed.port) == ("http", "127.0.0.1", 32772)
    assert (parsed.username, parsed.password) == ("playhead", "s3cret-Token_x")
    assert Settings(clickhouse_url=url).clickhouse_url == url
    with pytest.raises(ValueError, match="escaping"):
        clickhouse_url("127.0.0.1", 32772, "playhead", "p@ss:word")


def test_the_images_are_the_official_ones_at_the_versions_the_local_path_runs() -> None:
    kafka_repo, kafka_tag = KAFKA_IMAGE.split(":")
    assert kafka_repo == "apache/kafka" and kafka_tag == Settings().kafka_version
    clickhouse_repo, clickhouse_tag = CLICKHOUSE_IMAGE.split(":")
    assert clickhouse_repo == "clickhouse/clickhouse-server"
    # The server release chDB embeds, so both paths run the same ClickHouse.
    assert clickhouse_tag.split(".")[:2] == chdb.engine_version.split(".")[:2]


def test_the_broker_container_keeps_the_local_brokers_policy(tmp_path: Path) -> None:
    broker = KafkaBroker(Settings(state_dir=tmp_path))
    broker.config_file.parent.mkdir(parents=True)
    broker._write_config()
    local = dict(line.split("=", 1) for line in broker.config_file.read_text().splitlines()
                 if line and not line.startswith("#"))
    env = kafka_spec().env
    policy = ["num.partitions", "auto.create.topics.enable", "offsets.topic.num.partitions",
              "offsets.topic.replication.factor", "transaction.state.log.replication.factor",
              "transaction.state.log.min.isr", "group.initial.rebalance.delay.ms"]
    for key in policy:
        assert env["KAFKA_" + key.upper().replace(".", "_")] == local[key], key


def test_the_broker_advertises_the_mapped_port_once_docker_has_chosen_it() -> None:
    spec = kafka_spec()
    assert spec.ports == (KAFKA_CLIENT_PORT,)
    assert "KAFKA_ADVERTISED_LISTENERS" not in spec.env
    assert spec.command is not None and START_SCRIPT in spec.command
    script = kafka_start_script("localhost", 32771)
    assert "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:32771," in script
    assert script.rstrip().endswith("exec /etc/kafka/docker/run")


def test_the_server_container_gets_the_password_the_url_carries() -> None:
    spec = clickhouse_spec("pw")
    assert spec.env["CLICKHOUSE_PASSWORD"] == "pw"
    assert spec.ports == (8123,)


GUARDED = '''
import clickhouse_connect
import pytest

@pytest.fixture(scope="session")
def kafka():
    return "a stand-in: the real one would start a broker"

@pytest.mark.integration
def test_marked(kafka):
    pass

def test_unmarked(kafka):
    pass

def test_engine_without_the_marker():
    clickhouse_connect.get_client(dsn="chdb:///nowhere")

def test_no_service():
    pass
'''


def test_a_service_fixture_without_the_integration_marker_fails_saying_what_to_add(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["services.plugin"]\n')
    pytester.makeini("[pytest]\nmarkers =\n    integration: a service\n")
    pytester.makepyfile(test_guarded=GUARDED)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*test_unmarked uses `kafka` (a Kafka broker) but is not marked integration*",
        "*this test starts a ClickHouse client*not marked integration*",
    ])
