"""A single-node Apache Kafka broker (KRaft) that Playhead starts for itself.

The machines we run on reach Maven Central but no download site and no
container registry, so the broker is assembled from Maven artifacts
(``deploy/kafka/pom.xml``) and run straight from its jars with ``java``. It is
started detached so it outlives the command that started it; the pid file in
``run_dir`` is how later commands find it again. Data is formatted once and
kept, so topics and committed offsets survive restarts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import functools
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.commit import OffsetFetchRequest
from aiokafka.protocol.metadata import MetadataRequest

from config.settings import Settings
from devkit.local.services import pid_alive

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
LOG4J = DEPLOY_DIR / "log4j.properties"
# Written last into the libs dir: a dir without it is a resolution that died halfway.
JARS_MARKER = ".playhead-complete"
NODE_ID = 1
LOG_FILES = ("kafka.out", "server.log")
OFFSETS_TOPIC = "__consumer_offsets"


class KafkaPlatformError(RuntimeError):
    """The local broker cannot be provisioned, started or reached; the message says what to do."""


@dataclass(frozen=True)
class KafkaStatus:
    running: bool
    pid: int | None
    bootstrap: str
    version: str
    data_dir: Path


class KafkaBroker:
    def __init__(self, settings: Settings) -> None:
        self.host, self.port = _split_host_port(settings.kafka_bootstrap)
        self.bootstrap = f"{self.host}:{self.port}"
        self.controller_port = settings.kafka_controller_port
        self.version = settings.kafka_version
        self.heap = settings.kafka_heap
        # Absolute paths: the broker runs with its own cwd and the pid file is
        # compared against its command line.
        self.home = settings.kafka_home.resolve()
        libs = settings.kafka_libs_dir or self.home / f"libs-{self.version}"
        self.libs_dir = libs.resolve()
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self.config_file = self.home / "server.properties"
        self.pid_file = settings.run_dir.resolve() / "kafka.pid"
        # Put on the java command line so a recycled pid is never mistaken for our broker.
        self._identity = f"-Dplayhead.kafka.home={self.home}"
        self._proc: subprocess.Popen[bytes] | None = None
        # Where this start's output begins in each log, so errors don't quote older runs.
        self._log_starts: dict[str, int] = {}

    # -- public API -------------------------------------------------------

    def ensure_jars(self, timeout: float = 900) -> Path:
        """Resolve the broker's jars from Maven Central unless already complete."""
        if self._jars_complete():
            return self.libs_dir
        mvn = _require_tool("mvn", "Maven (e.g. `apt-get install maven`)")
        _java()  # mvn needs it too; our message beats mvn's
        if not POM.is_file():
            raise KafkaPlatformError(f"{POM} is missing; run Playhead from its source checkout")
        self.libs_dir.parent.mkdir(parents=True, exist_ok=True)
        # The libs dir may be shared by several state dirs (tests): resolve once.
        with _locked(self.libs_dir.parent / f".{self.libs_dir.name}.lock"):
            if self._jars_complete():
                return self.libs_dir
            partial = self.libs_dir.with_name(f"{self.libs_dir.name}.partial-{os.getpid()}")
            shutil.rmtree(partial, ignore_errors=True)
            # -U: a failed download is otherwise cached in ~/.m2 and not retried for a day.
            cmd = [
                mvn, "-B", "-q", "-U", "-f", str(POM), f"-Dkafka.version={self.version}",
                "dependency:copy-dependencies", f"-DoutputDirectory={partial}",
            ]  # fmt: skip
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired as err:
                shutil.rmtree(partial, ignore_errors=True)
                raise KafkaPlatformError(
                    f"mvn did not resolve Kafka {self.version} within {timeout:.0f}s"
                ) from err
            if done.returncode != 0 or not (partial / f"kafka_2.13-{self.version}.jar").is_file():
                shutil.rmtree(partial, ignore_errors=True)
                raise KafkaPlatformError(
                    f"mvn could not resolve org.apache.kafka:kafka_2.13:{self.version} "
                    f"(exit {done.returncode}); Maven Central must be reachable. mvn said:\n"
                    + _last_lines(done.stdout + done.stderr, 30)
                )
            (partial / JARS_MARKER).write_text(f"kafka_2.13 {self.version}\n")
            shutil.rmtree(self.libs_dir, ignore_errors=True)  # an incomplete earlier attempt
            partial.rename(self.libs_dir)
        return self.libs_dir

    def up(self, timeout: float = 90) -> None:
        """Start the broker unless it already runs; return once it serves clients.

        ``timeout`` bounds the wait for the broker, not jar resolution (see ensure_jars).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        # Two `up` calls at once must not start two brokers on one data dir.
        with _locked(self.home / ".up.lock"):
            pid = self._running_pid()
            if pid is not None:
                # Possibly still starting (an earlier up() timed out): wait, don't respawn.
                self._wait_healthy(pid, time.monotonic() + timeout)
                return
            self.pid_file.unlink(missing_ok=True)
            for port in (self.port, self.controller_port):
                if _port_open(self.host, port):
                    raise KafkaPlatformError(
                        f"{self.host}:{port} already accepts connections, but not from the "
                        f"broker of {self.home} (no live pid in {self.pid_file}). Stop that "
                        "process or pick free ports with PLAYHEAD_KAFKA_BOOTSTRAP / "
                        "PLAYHEAD_KAFKA_CONTROLLER_PORT."
                    )
            java = _java()
            libs = self.ensure_jars()
            self._write_config()
            self._format_once(java, libs)
            pid = self._spawn(java, libs)
            try:
                self._wait_healthy(pid, time.monotonic() + timeout)
            except BaseException:
                self.down()  # a broker we cannot vouch for must not linger
                raise

    def down(self, timeout: float = 30) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``); fine if it is not running."""
        pid = self._running_pid()
        if pid is not None:
            # SIGTERM lets Kafka flush and close its logs, sparing recovery on next start.
            _signal(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                _signal(pid, signal.SIGKILL)
                if not self._wait_exit(pid, 10):
                    raise KafkaPlatformError(f"Kafka broker pid {pid} survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)
        self._proc = None

    def status(self) -> KafkaStatus:
        pid = self._running_pid()
        return KafkaStatus(pid is not None, pid, self.bootstrap, self.version, self.data_dir)

    def healthy(self, timeout: float = 5) -> bool:
        """True if a broker on the bootstrap address serves producers and consumer groups."""
        if not _port_open(self.host, self.port):
            return False
        try:
            _run_sync(_ready_round_trip(self.bootstrap, timeout))
        except Exception:
            return False
        return True

    # -- internals --------------------------------------------------------

    def _jars_complete(self) -> bool:
        return (self.libs_dir / JARS_MARKER).is_file()

    def _write_config(self) -> None:
        # Regenerated on every start so changed ports apply; the data dir is what persists.
        host, cport = self.host, self.controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": NODE_ID,
            "controller.quorum.voters": f"{NODE_ID}@{host}:{cport}",
            "listeners": f"PLAINTEXT://{host}:{self.port},CONTROLLER://{host}:{cport}",
            "advertised.listeners": f"PLAINTEXT://{host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data_dir,
            "num.partitions": 1,
            # Topic sizes are part of Playhead's contract (processors/topics.py):
            # a typo'd or early producer must not create a 1-partition topic.
            "auto.create.topics.enable": "false",
            # Fewer offsets partitions than the default 50: one node, and the
            # readiness check waits for a coordinator on each of them.
            "offsets.topic.num.partitions": 10,
            # One node: the internal topics cannot have more replicas than brokers.
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            # Nobody else will join; don't make the first consumer wait 3 s.
            "group.initial.rebalance.delay.ms": 0,
        }
        text = "".join(f"{key}={value}\n" for key, value in props.items())
        self.config_file.write_text("# Generated by devkit.local.kafka; edits are lost.\n" + text)

    def _jvm_options(self) -> list[str]:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        options = [f"-Dkafka.logs.dir={self.logs_dir}"]
        if LOG4J.is_file():
            options.append(f"-Dlog4j.configuration=file:{LOG4J}")
        return options

    def _format_once(self, java: str, libs: Path) -> None:
        if (self.data_dir / "meta.properties").is_file():
            return  # formatting again would mean a new cluster id and lost topics
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            java, *self._jvm_options(), "-cp", f"{libs}/*", "kafka.tools.StorageTool",
            "format", "-t", _cluster_id(), "-c", str(self.config_file), "--ignore-formatted",
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise KafkaPlatformError(
                f"formatting Kafka storage in {self.data_dir} failed:\n"
                + _last_lines(done.stdout + done.stderr, 30)
            )

    def _spawn(self, java: str, libs: Path) -> int:
        cmd = [
            java, f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true", self._identity, *self._jvm_options(),
            "-cp", f"{libs}/*", "kafka.Kafka", str(self.config_file),
        ]  # fmt: skip
        self._log_starts = {name: _size(self.logs_dir / name) for name in LOG_FILES}
        with (self.logs_dir / "kafka.out").open("ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting Kafka\n".encode())
            out.flush()
            # A new session: Ctrl-C in the starting shell must not reach the broker.
            self._proc = subprocess.Popen(
                cmd, cwd=self.home, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{self._proc.pid}\n")
        return self._proc.pid

    def _wait_healthy(self, pid: int, deadline: float) -> None:
        problem = f"nothing listens on {self.bootstrap} yet"
        while True:
            if not self._alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise KafkaPlatformError(
                    f"Kafka broker (pid {pid}) exited while starting; log tail:\n"
                    + self._log_tail()
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaPlatformError(
                    f"Kafka on {self.bootstrap} not ready in time ({problem}); log tail:\n"
                    + self._log_tail()
                )
            if _port_open(self.host, self.port):
                try:
                    _run_sync(_ready_round_trip(self.bootstrap, min(remaining, 10)))
                    return
                except Exception as err:  # any failure only means "not ready yet"
                    problem = f"readiness check failed: {err!r}"
            time.sleep(min(0.2, max(remaining, 0)))

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid) and self._is_ours(pid) else None

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None  # also reaps our own child
        return pid_alive(pid)

    def _is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return not Path("/proc/self").exists()  # no procfs: trust the pid file
        except OSError:
            return False
        return self._identity.encode() in cmdline.split(b"\0")

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _log_tail(self, lines: int = 25) -> str:
        parts = []
        for name in LOG_FILES:
            path = self.logs_dir / name
            if path.is_file():
                with path.open("rb") as file:
                    file.seek(max(self._log_starts.get(name, 0), _size(path) - 64_000))
                    tail = _last_lines(file.read().decode(errors="replace"), lines)
                if tail:
                    parts.append(f"== {path} ==\n{tail}")
        return "\n".join(parts) or f"(no logs in {self.logs_dir})"


async def _ready_round_trip(bootstrap: str, timeout: float) -> None:
    """Raise unless the broker serves producers and consumer groups right now."""
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        client_id="playhead-healthcheck",
        request_timeout_ms=max(1, int(timeout * 1000)),
    )
    try:
        async with asyncio.timeout(timeout):
            await client.bootstrap()
            metadata = (await client.send(client.get_random_node(), MetadataRequest())).to_object()
            # Listening is not enough: the broker must be registered and unfenced...
            if not metadata["brokers"]:
                raise KafkaPlatformError("metadata lists no brokers yet")
            node = metadata["brokers"][0]["node_id"]
            # ...lead every partition again after a restart...
            offsets_partitions = 0
            for topic in metadata["topics"]:
                if topic["topic"] == OFFSETS_TOPIC:
                    offsets_partitions = len(topic["partitions"])
                for partition in topic["partitions"]:
                    if partition["leader"] < 0:
                        name = f"{topic['topic']}[{partition['partition']}]"
                        raise KafkaPlatformError(f"{name} has no leader yet")
            # ...and coordinate the groups of every offsets partition. Metadata says
            # "leader" before the group coordinator has taken a partition over; until
            # then committed offsets read back empty and consumers stall on rejoin.
            # (OffsetFetch, not DescribeGroups: aiokafka 0.14 cannot decode the latter.)
            probes = _probe_groups(offsets_partitions) if offsets_partitions else ()
            replies = await asyncio.gather(
                *(client.send(node, OffsetFetchRequest(group, None)) for group in probes)
            )
            for reply in replies:
                if reply.error_code:
                    raise KafkaPlatformError(
                        f"group coordinator not ready (Kafka error {reply.error_code})"
                    )
    finally:
        await client.close()


@functools.cache
def _probe_groups(partitions: int) -> tuple[str, ...]:
    # One group id per offsets partition, placed the way Kafka places groups:
    # abs(Java String.hashCode(group)) % partitions.
    found: dict[int, str] = {}
    for index in itertools.count():
        name = f"playhead-healthcheck-{index}"
        java_hash = 0
        for char in name:
            java_hash = (31 * java_hash + ord(char)) & 0xFFFFFFFF
        signed = java_hash - (1 << 32) if java_hash & 0x80000000 else java_hash
        found.setdefault((0 if signed == -(1 << 31) else abs(signed)) % partitions, name)
        if len(found) == partitions:
            return tuple(found.values())
    raise AssertionError("unreachable")


def _run_sync(coro: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    # Called from inside an event loop, where asyncio.run refuses to nest.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def _split_host_port(bootstrap: str) -> tuple[str, int]:
    host, sep, port = bootstrap.strip().rpartition(":")
    if not sep or not host or "," in bootstrap or not port.isdigit():
        raise KafkaPlatformError(
            f"the local broker needs one host:port in PLAYHEAD_KAFKA_BOOTSTRAP, got {bootstrap!r}"
        )
    return host, int(port)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=0.5):
            return True
    except OSError:
        return False


def _require_tool(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise KafkaPlatformError(f"`{name}` not found on PATH; install {install_hint}")
    return path


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return _require_tool(
        "java",
        "a Java 17 runtime (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME",
    )


def _cluster_id() -> str:
    # Kafka's own format (Uuid.randomUuid): url-safe base64 of 16 random bytes,
    # never starting with "-" so it cannot be mistaken for a CLI flag.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _last_lines(text: str, count: int) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Debian's mvn colours even with -B
    return "\n".join(text.rstrip().splitlines()[-count:])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
