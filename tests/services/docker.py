"""The container provider: the official Kafka and ClickHouse server images via testcontainers.

For people with Docker: the integration tests then run against the
``apache/kafka`` broker and a real ``clickhouse/clickhouse-server`` instead of
the broker from Maven jars and chDB behind ``playhead warehouse``. Nothing
here needs an engine until :meth:`DockerServices.kafka` or
:meth:`DockerServices.clickhouse` starts a container, so the specs below are
plain data the unit tests read.
"""

from __future__ import annotations

import gc
import io
import os
import secrets
import tarfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from config.settings import Settings

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

# Pinned, never `latest`: the broker is the release the local path runs
# (Settings.kafka_version), the server the ClickHouse release chDB embeds, so
# both paths exercise the same versions (tests/services/test_docker_services.py).
KAFKA_IMAGE = "apache/kafka:3.9.1"
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:26.9"

KAFKA_CLIENT_PORT = 9092  # advertised to the host as the mapped port
KAFKA_BROKER_PORT = 9093  # inside the container only
KAFKA_CONTROLLER_PORT = 9094
CLICKHOUSE_HTTP_PORT = 8123
CLICKHOUSE_USER = "playhead"
START_SCRIPT = "/tmp/playhead-start.sh"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
INSTALL_HINT = "pip install -e '.[docker]'"


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    ports: tuple[int, ...]
    env: dict[str, str] = field(default_factory=dict)
    command: str | None = None


def kafka_spec() -> ContainerSpec:
    """One KRaft node with the local broker's policy (devkit.local.kafka's server.properties).

    The address clients must use (the host and the port Docker mapped) is only
    known once the container runs, so the container waits for a start script
    that exports it and then hands over to the image's own launcher.
    """
    env = {
        "CLUSTER_ID": "cGxheWhlYWQtdGVzdHMtMQ",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@localhost:{KAFKA_CONTROLLER_PORT}",
        "KAFKA_LISTENERS": (f"PLAINTEXT://0.0.0.0:{KAFKA_CLIENT_PORT},"
                            f"BROKER://0.0.0.0:{KAFKA_BROKER_PORT},"
                            f"CONTROLLER://0.0.0.0:{KAFKA_CONTROLLER_PORT}"),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":
            "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LOG_DIRS": "/tmp/kraft-combined-logs",
        # The same policy as the local broker, so a test passes or fails on both alike.
        "KAFKA_NUM_PARTITIONS": "1",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "10",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    wait = f"while [ ! -f {START_SCRIPT} ]; do sleep 0.1; done; . {START_SCRIPT}"
    return ContainerSpec(KAFKA_IMAGE, (KAFKA_CLIENT_PORT,), env, f"sh -c '{wait}'")


def kafka_start_script(host: str, mapped_port: int) -> str:
    return (f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{host}:{mapped_port},"
            f"BROKER://localhost:{KAFKA_BROKER_PORT}\n"
            "exec /etc/kafka/docker/run\n")


def clickhouse_spec(password: str) -> ContainerSpec:
    env = {
        "CLICKHOUSE_USER": CLICKHOUSE_USER,
        "CLICKHOUSE_PASSWORD": password,
        # The migrations create databases and the tests drop them: DDL rights.
        "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT": "1",
    }
    return ContainerSpec(CLICKHOUSE_IMAGE, (CLICKHOUSE_HTTP_PORT,), env)


def kafka_settings(state_dir: Path, host: str, mapped_port: int) -> Settings:
    """What the pipeline is given for a containerised broker: only its address differs."""
    return Settings(state_dir=state_dir, kafka_bootstrap=f"{host}:{mapped_port}")


def clickhouse_url(host: str, mapped_port: int, user: str, password: str) -> str:
    """The URL form ``sinks.client.connect`` and ``PLAYHEAD_CLICKHOUSE_URL`` read."""
    # connect() takes the user and password from the URL as they stand, undecoded.
    for part in (user, password):
        if quote(part, safe="") != part:
            raise ValueError(f"{part!r} would need escaping in a ClickHouse URL")
    return f"http://{user}:{password}@{host}:{mapped_port}"


def docker_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why ``--services=docker`` cannot run here, said so a newcomer knows what to do; or None."""
    environ = dict(os.environ) if environ is None else environ
    try:
        import docker
        import testcontainers  # noqa: F401
    except ImportError as err:
        return (f"--services=docker needs testcontainers, and {err.name!r} is not installed. "
                f"Install the docker extra (`{INSTALL_HINT}`) or run without the switch to use "
                "the local services.")
    host = environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    advice = ("Start Docker (or point DOCKER_HOST at a running engine), or run without the "
              "switch: the default local services need only Java and Maven.")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return f"--services=docker needs a Docker engine, and there is no socket at {host}. " \
               + advice
    # docker-py leaves its socket open when the engine does not answer: keep that quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.DockerClient(base_url=host, timeout=10)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as err:
            return f"--services=docker needs a Docker engine, and {host} did not answer " \
                   f"({err}). " + advice
        finally:
            gc.collect()
    return None


def _container(spec: ContainerSpec) -> DockerContainer:
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(spec.image).with_exposed_ports(*spec.ports)
    for key, value in spec.env.items():
        container = container.with_env(key, value)
    if spec.command is not None:
        container = container.with_command(spec.command)
    return container


def _put_file(container: DockerContainer, path: str, text: str) -> None:
    data = text.encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o755
        tar.addfile(info, io.BytesIO(data))
    container.get_wrapped_container().put_archive("/", archive.getvalue())


def _wait_for_log(container: DockerContainer, pattern: str, timeout: float) -> None:
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    strategy = LogMessageWaitStrategy(pattern)
    strategy.with_startup_timeout(int(timeout))
    strategy.wait_until_ready(container)


def _wait_for_ping(container: DockerContainer, timeout: float) -> None:
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    strategy = HttpWaitStrategy(CLICKHOUSE_HTTP_PORT, "/ping").for_response_predicate(
        lambda body: "Ok" in body)
    strategy.with_startup_timeout(int(timeout))
    strategy.wait_until_ready(container)


class DockerServices:
    """Containers for the session; the first run pulls the images, later ones reuse them."""

    name = "docker"

    @classmethod
    def checked(cls) -> DockerServices:
        problem = docker_problem()
        if problem is not None:
            raise RuntimeError(problem)
        return cls()

    @contextmanager
    def kafka(self, state_dir: Path) -> Iterator[Settings]:
        container = _container(kafka_spec()).start()
        try:
            host = container.get_container_host_ip()
            port = int(container.get_exposed_port(KAFKA_CLIENT_PORT))
            _put_file(container, START_SCRIPT, kafka_start_script(host, port))
            _wait_for_log(container, r"Kafka Server started", timeout=180)
            yield kafka_settings(state_dir, host, port)
        finally:
            container.stop()

    @contextmanager
    def clickhouse(self, state_dir: Path) -> Iterator[str]:
        password = secrets.token_urlsafe(16)
        container = _container(clickhouse_spec(password)).start()
        try:
            _wait_for_ping(container, timeout=180)
            host = container.get_container_host_ip()
            port = int(container.get_exposed_port(CLICKHOUSE_HTTP_PORT))
            yield clickhouse_url(host, port, CLICKHOUSE_USER, password)
        finally:
            container.stop()
