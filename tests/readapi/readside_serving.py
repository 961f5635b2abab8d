"""The read API on a real socket (uvicorn in a thread), for the read side's tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from clickhouse_connect.driver.client import Client

from playhead.settings import Settings
from readapi.app import create_app


def serve(settings: Settings, client_factory: Callable[[], Client] | None = None
          ) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(create_app(settings, client_factory),
                                           host="127.0.0.1", port=settings.api_port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the read API did not start"
    try:
        yield settings.api_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class RecordingClient:
    """A real client that also remembers every SQL text it sent (not a mock: it
    delegates everything), so a test can show no request value became SQL."""

    def __init__(self, client: Client, texts: list[str]):
        self._client = client
        self._texts = texts

    def query(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._texts.append(query)
        return self._client.query(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
