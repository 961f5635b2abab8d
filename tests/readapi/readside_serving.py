"""The read API on a real socket (uvicorn in a thread), for the read side's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from clickhouse_connect.driver.client import Client
from serving import serve_app

from playhead.settings import Settings
from readapi.app import create_app


def serve(settings: Settings, client_factory: Callable[[], Client] | None = None
          ) -> Iterator[str]:
    yield from serve_app(create_app(settings, client_factory), settings.api_port,
                         settings.api_url, "the read API")


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
