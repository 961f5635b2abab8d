"""The default provider: services the project starts itself, no container engine needed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config.settings import Settings, to_env
from devkit.local import services
from devkit.local.kafka import KafkaBroker

REPO = Path(__file__).resolve().parents[2]
# Jars are resolved once per machine into the repo's ignored state folder and reused.
KAFKA_LIBS = REPO / ".playhead" / "kafka" / "libs-{version}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalServices:
    """Kafka from its Maven jars and ``playhead warehouse``, as ``playhead up`` runs them."""

    name = "local"

    @contextmanager
    def kafka(self, state_dir: Path) -> Iterator[Settings]:
        base = Settings()
        settings = Settings(
            state_dir=state_dir,
            kafka_bootstrap=f"127.0.0.1:{free_port()}",
            kafka_controller_port=free_port(),
            kafka_libs_dir=Path(str(KAFKA_LIBS).format(version=base.kafka_version)),
        )
        broker = KafkaBroker(settings)
        broker.up(timeout=600)  # the first run on a machine resolves the jars from Maven
        try:
            yield settings
        finally:
            broker.down()

    @contextmanager
    def clickhouse(self, state_dir: Path) -> Iterator[str]:
        # Its own process, as `playhead up` runs it: chDB lets one process open a path.
        port = free_port()
        settings = Settings(state_dir=state_dir, warehouse_port=port)
        url = f"http://127.0.0.1:{port}"
        services.start(settings, "warehouse", ["warehouse"], services.http_ok(f"{url}/ping"),
                       env=to_env(settings))
        try:
            yield url
        finally:
            services.stop(settings, "warehouse")
