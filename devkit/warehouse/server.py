"""``playhead warehouse``: one process owns the chDB directory and serves it over HTTP.

chDB can be opened by one process at a time, but workers, the read API and
analysts all need the warehouse at once. This process holds the engine and
speaks the ClickHouse HTTP interface, so every one of them uses plain
clickhouse-connect (``interface='http'``) or curl, exactly as against a
ClickHouse server.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from devkit.warehouse.engine import Engine
from devkit.warehouse.handler import WarehouseHTTPServer
from devkit.warehouse.protocol import ClickHouseError

logger = logging.getLogger(__name__)


class WarehouseError(RuntimeError):
    """The warehouse cannot start; the message says why and what to do."""


class WarehouseServer:
    """Serves the chDB engine at ``path`` over the ClickHouse HTTP interface.

    ``port=0`` picks a free port; read it back from :attr:`port` after
    :meth:`start`.
    """

    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 8123, *,
                 max_concurrent_queries: int = 32, max_request_bytes: int = 1 << 30,
                 shutdown_timeout: float = 30.0) -> None:
        self.path = Path(path).resolve()
        self.host = host
        self.port = port
        self.max_request_bytes = max_request_bytes
        self.shutdown_timeout = shutdown_timeout
        self.engine = Engine(self.path, max_concurrent_queries=max_concurrent_queries)
        self._httpd: WarehouseHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> WarehouseServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Open chDB and serve in a background thread; returns once requests are accepted."""
        if self._httpd is not None:
            raise WarehouseError("the warehouse server is already running")
        try:
            self.engine.open()
        except ClickHouseError as err:
            raise WarehouseError(f"cannot open chDB at {self.path}: {err.message} "
                                 f"{_open_hint(err.message)}".rstrip()) from err
        try:
            self._httpd = WarehouseHTTPServer((self.host, self.port), self.engine,
                                              max_request_bytes=self.max_request_bytes)
        except OSError as err:
            self.engine.close()
            raise WarehouseError(f"cannot listen on {self.host}:{self.port}: {err}") from err
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.2}, name="warehouse-http", daemon=True)
        self._thread.start()
        logger.info("warehouse: ClickHouse %s from %s on %s", self.engine.version, self.path,
                    self.url)
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            logger.warning("warehouse: listening on %s without authentication; anyone who can "
                           "reach it can read, write and drop every table", self.host)

    def stop(self) -> None:
        """Finish in-flight requests, close chDB, drop idle connections. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        httpd.shutdown()
        if not httpd.wait_idle(self.shutdown_timeout):
            logger.warning("warehouse: requests still running after %.0f s; closing anyway",
                           self.shutdown_timeout)
        self.engine.close(self.shutdown_timeout)
        httpd.drop_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(self.shutdown_timeout)
        logger.info("warehouse: stopped, chDB at %s closed", self.path)

    def serve_forever(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down cleanly (the CLI entry point)."""
        stop_requested = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            logger.info("warehouse: %s received, shutting down", signal.Signals(signum).name)
            stop_requested.set()

        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            self.start()
            while not stop_requested.wait(1.0):
                if self._thread is None or not self._thread.is_alive():
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()


def _open_hint(message: str) -> str:
    if "already initialized with path" in message:
        return "(this process already has another chDB directory open; chDB serves one per process)"
    if "EmbeddedServer" in message or "lock" in message.lower():
        # chDB logs the real cause ("Cannot lock file .../status") but raises a bare message.
        return ("(is another process using this directory? chDB allows one process per "
                "directory: stop it, or point clients at its warehouse server)")
    return ""
