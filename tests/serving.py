"""An ASGI app served by uvicorn in a thread on 127.0.0.1, for as long as a test needs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


def serve_app(app: Any, port: int, url: str, what: str) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                          log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, f"{what} did not start on port {port}"
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
