"""deploy/compose.yaml played without Docker: each container a process in its own
network namespace.

No Docker engine runs where Playhead is built, so this stands in for
``docker compose up`` as far as it can: every service name resolves to that
container's own address on one bridge (as on compose's network), a Playhead
container gets the Dockerfile's ENV, then the service's environment, and runs
the image's ENTRYPOINT with the service's command (or the service's
entrypoint); ``depends_on`` conditions are waited for and healthchecks are
run as compose runs them, inside the container's namespace; each container
has its own state folder in place of its volume. Kafka and ClickHouse, official
images in the file, are played under the same names and ports by Playhead's
Maven-jar broker and ``playhead warehouse``.

What it cannot show: that the image builds, or how the official images behave.
Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from config.settings import Settings
from devkit.local.kafka import KafkaBroker

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VOLUME = "/var/lib/playhead"  # the Dockerfile's state volume
SUBNET = ipaddress.ip_network("10.213.0.0/24")
PLAYED_BY_PLAYHEAD = {"kafka", "clickhouse"}


def dockerfile_image(path: Path = DEPLOY / "Dockerfile") -> tuple[dict[str, str], list[str],
                                                                  list[str]]:
    """The final stage's ENV, ENTRYPOINT and CMD."""
    text = path.read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", final, re.M):
        env.update(dict(shlex.split(pair)[0].split("=", 1) for pair in line.split()))
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT (.+)$", final, re.M)[-1])
    cmd = json.loads(re.findall(r"^CMD (.+)$", final, re.M)[-1])
    return env, entrypoint, cmd


@dataclass
class Container:
    name: str
    namespace: str
    address: str
    volume: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def exec(self, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command inside this container's network, with its environment."""
        return subprocess.run(["ip", "netns", "exec", self.namespace, *argv],
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    @property
    def log(self) -> Path:
        return self.volume.parent / f"{self.name}.log"

    def log_tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return "(no output)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class ComposeRehearsal:
    """Brings deploy/compose.yaml's default services up as processes; ``down`` undoes it."""

    def __init__(self, work: Path, workers: int = 2, compose: Path = DEPLOY / "compose.yaml"):
        self.work = work
        self.spec = yaml.safe_load(compose.read_text())
        self.services: dict[str, Any] = {
            name: service for name, service in self.spec["services"].items()
            if not service.get("profiles")}
        self.scale = {name: 1 for name in self.services} | {"worker": workers}
        self.tag = f"ph{os.getpid() % 100000}"
        self.image_env, self.entrypoint, self.cmd = dockerfile_image()
        self.containers: dict[str, Container] = {}
        self.bridge_ns = f"{self.tag}-net"
        self.kafka_settings: Settings | None = None

    # -- network ------------------------------------------------------------

    def _ip(self, *argv: str) -> None:
        done = subprocess.run(["ip", *argv], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"ip {' '.join(argv)}: {done.stderr.strip()}")

    def _network(self) -> None:
        names = [f"{service}-{n}" if self.scale[service] > 1 else service
                 for service in self.services for n in range(1, self.scale[service] + 1)]
        names.append("client")  # where the newcomer's commands run
        hosts = list(SUBNET.hosts())
        self._ip("netns", "add", self.bridge_ns)
        self._ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        self._ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        for index, name in enumerate(names, start=2):
            namespace, address = f"{self.tag}-{name}", str(hosts[index])
            self._ip("netns", "add", namespace)
            # Interface names are at most 15 characters.
            outer = f"{self.tag}v{index}"
            self._ip("link", "add", outer, "netns", self.bridge_ns, "type", "veth",
                     "peer", "name", "eth0", "netns", namespace)
            self._ip("-n", self.bridge_ns, "link", "set", outer, "master", "br0", "up")
            self._ip("-n", namespace, "addr", "add", f"{address}/{SUBNET.prefixlen}",
                     "dev", "eth0")
            self._ip("-n", namespace, "link", "set", "eth0", "up")
            self._ip("-n", namespace, "link", "set", "lo", "up")
            volume = self.work / name / "volume"
            volume.mkdir(parents=True)
            self.containers[name] = Container(name, namespace, address, volume)
        # Compose's DNS: every container name, and a service name for its replicas.
        lines = ["127.0.0.1 localhost"]
        for name, container in self.containers.items():
            service = name.rsplit("-", 1)[0] if name not in self.services else name
            lines.append(f"{container.address} {name} {service}")
        for container in self.containers.values():
            etc = Path("/etc/netns") / container.namespace
            etc.mkdir(parents=True, exist_ok=True)
            # `ip netns exec` mounts these over /etc/hosts inside the namespace.
            (etc / "hosts").write_text("\n".join(lines) + "\n")

    # -- containers ---------------------------------------------------------

    def replicas(self, service: str) -> list[Container]:
        return [c for name, c in self.containers.items()
                if name == service or name.rsplit("-", 1)[0] == service
                and name not in self.services]

    def playhead_env(self, service: str, container: Container) -> dict[str, str]:
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
               "HOME": str(container.volume), "LANG": "C.UTF-8"}
        env.update(self.image_env)
        env.update({k: str(v) for k, v in (self.services[service].get("environment")
                                           or {}).items()})
        env["PLAYHEAD_STATE_DIR"] = str(container.volume)  # the volume, where it is mounted
        return env

    def argv(self, service: str) -> list[str]:
        spec = self.services[service]
        if "entrypoint" in spec:
            return list(spec["entrypoint"]) + list(spec.get("command") or [])
        return self.entrypoint + list(spec.get("command") or self.cmd)

    def _start(self, container: Container, argv: list[str]) -> None:
        with container.log.open("ab") as out:
            container.process = subprocess.Popen(
                ["ip", "netns", "exec", container.namespace, *argv], env=container.env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=container.volume)

    def _start_kafka(self, container: Container) -> None:
        settings = Settings(
            kafka_bootstrap="kafka:9092", kafka_controller_port=9093,
            state_dir=container.volume,
            kafka_libs_dir=REPO / ".playhead" / "kafka" / f"libs-{Settings().kafka_version}")
        KafkaBroker(settings).ensure_jars()
        self.kafka_settings = settings
        container.env = {"PATH": os.environ["PATH"], "HOME": str(container.volume)}
        done = container.exec(
            [sys.executable, "-c", "import sys; from devkit.local.kafka import KafkaBroker; "
             "from config.settings import Settings; "
             "KafkaBroker(Settings.model_validate_json(sys.argv[1])).up(timeout=180)",
             settings.model_dump_json()], timeout=240)
        if done.returncode:
            raise RuntimeError(f"kafka did not start: {done.stderr[-2000:]}")

    def _start_clickhouse(self, container: Container) -> None:
        container.env = {"PATH": os.environ["PATH"], "HOME": str(container.volume),
                         "PLAYHEAD_STATE_DIR": str(container.volume),
                         "PLAYHEAD_WAREHOUSE_HOST": "0.0.0.0",
                         "PLAYHEAD_WAREHOUSE_PORT": "8123"}
        self._start(container, [sys.executable, "-m", "playhead", "warehouse"])
        self._wait(lambda: container.exec(
            ["curl", "-sf", "http://clickhouse:8123/ping"]).returncode == 0,
            120, "clickhouse", container)

    def healthy(self, service: str, container: Container) -> bool:
        check = self.services[service].get("healthcheck")
        if not check:
            return container.process is not None and container.process.poll() is None
        test = [part.replace(VOLUME, str(container.volume)) for part in check["test"]]
        argv = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
        try:
            return container.exec(argv, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _wait(self, ready: Any, timeout: float, what: str, container: Container) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if container.process is not None and container.process.poll() is not None:
                raise RuntimeError(f"{what} exited with {container.process.returncode}:\n"
                                   f"{container.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not healthy after {timeout:.0f}s:\n"
                                   f"{container.log_tail()}")
            time.sleep(1)

    def _order(self) -> Iterator[str]:
        done: set[str] = set()
        while len(done) < len(self.services):
            for name, spec in self.services.items():
                if name not in done and set(spec.get("depends_on") or {}) <= done:
                    done.add(name)
                    yield name

    def up(self) -> None:
        self._network()
        for service in self._order():
            for condition in (self.services[service].get("depends_on") or {}).values():
                assert condition["condition"] in ("service_healthy",
                                                  "service_completed_successfully")
            for container in self.replicas(service):
                if service == "kafka":
                    self._start_kafka(container)
                    continue
                if service == "clickhouse":
                    self._start_clickhouse(container)
                    continue
                container.env = self.playhead_env(service, container)
                self._start(container, self.argv(service))
            self._wait_for(service)

    def _wait_for(self, service: str) -> None:
        """What the services depending on this one wait for, as the file says."""
        if service in PLAYED_BY_PLAYHEAD:
            return
        wanted = {condition["condition"] for spec in self.services.values()
                  for name, condition in (spec.get("depends_on") or {}).items()
                  if name == service} or {"service_healthy"}
        for container in self.replicas(service):
            if "service_completed_successfully" in wanted:
                assert container.process is not None
                code = container.process.wait(timeout=300)
                if code:
                    raise RuntimeError(f"{service} exited with {code}:\n{container.log_tail()}")
            else:
                check = self.services[service].get("healthcheck") or {}
                limit = (_seconds(check.get("start_period", "0s"))
                         + _seconds(check.get("interval", "30s")) * check.get("retries", 3))
                self._wait(lambda c=container: self.healthy(service, c), max(limit, 60),
                           container.name, container)

    def kill(self, name: str) -> None:
        """What `docker kill` does: SIGKILL, no goodbye."""
        process = self.containers[name].process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def down(self) -> None:
        for container in self.containers.values():
            process = container.process
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
        if self.kafka_settings is not None:
            KafkaBroker(self.kafka_settings).down()
        for container in self.containers.values():
            subprocess.run(["ip", "netns", "del", container.namespace], capture_output=True)
            shutil.rmtree(Path("/etc/netns") / container.namespace, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", self.bridge_ns], capture_output=True)


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))
