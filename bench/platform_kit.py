"""A throwaway Playhead platform for benchmarks: broker, warehouse, gateway, workers.

Everything listens on 127.0.0.1 on free ports, keeps its state in a temporary
folder and is stopped (and the folder removed) when the ``with`` block ends,
also on errors and Ctrl-C.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config.settings import Settings, to_env  # noqa: E402
from devkit.local import services  # noqa: E402
from devkit.local.kafka import KafkaBroker  # noqa: E402
from devkit.status import worker_gauges  # noqa: E402
from processors.topics import ensure_topics  # noqa: E402
from sinks.client import connect  # noqa: E402
from sinks.migrate import migrate  # noqa: E402


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
            "cpu": cpu, "memory_gib": round(memory, 1), "python": platform.python_version()}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def store_memory_mib(worker: Settings) -> dict[str, float]:
    """The worker's state-store memory by use (playhead_worker_state_memory_bytes), MiB."""
    gauges, source = worker_gauges(worker)
    if gauges is None:
        raise RuntimeError(source)
    return {name.split('"')[1]: round(value / 2**20, 1) for name, value in gauges.items()
            if name.startswith("playhead_worker_state_memory_bytes{")}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BenchPlatform:
    def __init__(self, **overrides: Any):
        self.work = Path(tempfile.mkdtemp(prefix="playhead-bench-"))
        warehouse_port = free_port()
        self.settings = Settings(
            state_dir=self.work / "platform",
            kafka_bootstrap=f"127.0.0.1:{free_port()}",
            kafka_controller_port=free_port(),
            kafka_libs_dir=REPO / ".playhead" / "kafka" / f"libs-{Settings().kafka_version}",
            gateway_port=free_port(), warehouse_port=warehouse_port,
            clickhouse_url=f"http://127.0.0.1:{warehouse_port}",
            metrics_port=free_port(), log_level="warning", **overrides)
        self.workers: list[Settings] = []

    def __enter__(self) -> BenchPlatform:
        try:
            say(f"Kafka on {self.settings.kafka_bootstrap}")
            KafkaBroker(self.settings).up(timeout=600)
            ensure_topics(self.settings)
            say(f"warehouse on {self.settings.clickhouse_url}")
            services.start(self.settings, "warehouse", ["warehouse"],
                           services.http_ok(f"{self.settings.clickhouse_url}/ping"),
                           env=to_env(self.settings))
            migrate(connect(self.settings.clickhouse_url), self.settings.clickhouse_database)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start_gateway(self) -> int:
        services.start(self.settings, "gateway", ["gateway"],
                       services.http_ok(f"{self.settings.gateway_url}/healthz"),
                       env=to_env(self.settings))
        return self.pid("gateway", self.settings)

    def start_worker(self, name: str, extra_env: dict[str, str] | None = None) -> Settings:
        """A worker with its own state folder and metrics port, in the shared group."""
        worker = self.settings.model_copy(update={"state_dir": self.work / name,
                                                  "metrics_port": free_port()})
        self.workers.append(worker)
        services.start(worker, "worker", ["worker", "--loglevel", "warning"],
                       services.file_exists(worker.worker_ready_file),
                       env={**to_env(worker), **(extra_env or {})}, timeout=300,
                       marker=worker.worker_ready_file)
        return worker

    def kill_worker(self, worker: Settings, sig: int) -> None:
        pid = self.pid("worker", worker)
        os.kill(pid, sig)
        if sig == signal.SIGKILL:
            return
        deadline = time.monotonic() + 60
        while services.status(worker, "worker").running and time.monotonic() < deadline:
            time.sleep(0.05)

    @staticmethod
    def pid(name: str, settings: Settings) -> int:
        pid = services.status(settings, name).pid
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        return pid

    def stop(self) -> None:
        for worker in self.workers:
            services.stop(worker, "worker")
        services.stop(self.settings, "gateway")
        services.stop(self.settings, "warehouse")
        KafkaBroker(self.settings).down()
        shutil.rmtree(self.work, ignore_errors=True)


def git_revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                          capture_output=True, text=True)
    return done.stdout.strip()
