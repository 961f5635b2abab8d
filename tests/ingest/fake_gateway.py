"""The gateway's HTTP app in this process, with a publisher that keeps what it is given.

For tests about answers (status, problems, what would be published), not about
Kafka: the app is called through httpx's ASGI transport, no broker and no
server needed. The fake
encodes every event as the Kafka publisher would, so an event the codec
cannot write fails here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from config.settings import Settings
from control.registry import Registry
from ingest.app import create_app
from ingest.gateway import DeadLetter, Publisher
from schemas import event_codec
from schemas.bounds import MAX_EVENT_BYTES
from schemas.event import PlaybackEvent


class KeepingPublisher:
    def __init__(self, fail_with: BaseException | None = None) -> None:
        self.events: list[PlaybackEvent] = []
        self.letters: list[DeadLetter] = []
        self.fail_with = fail_with
        self._codec = event_codec()

    async def publish(self, events: Sequence[PlaybackEvent]) -> None:
        if self.fail_with is not None:
            failure, self.fail_with = self.fail_with, None
            raise failure
        for event in events:
            encoded = self._codec.encode(event.to_record())
            assert len(encoded) <= MAX_EVENT_BYTES, (len(encoded), event.event_id)
        self.events.extend(events)

    async def publish_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    async def close(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    def take(self) -> tuple[list[PlaybackEvent], list[DeadLetter]]:
        """What was published since the last take."""
        events, letters = self.events, self.letters
        self.events, self.letters = [], []
        return events, letters


class AppClient:
    """A synchronous httpx client of the app, on one event loop of its own."""

    def __init__(self, app: Any) -> None:
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://gateway", timeout=30)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.post(path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.get(path, **kwargs))

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()


@contextmanager
def client(publisher: Publisher | None = None,
           **settings: Any) -> Iterator[tuple[AppClient, KeepingPublisher]]:
    """The app with ``publisher`` (a KeepingPublisher by default) and ``settings``."""
    keeping = KeepingPublisher()
    # No broker here: an empty control state instead of following the control topic.
    app_client = AppClient(create_app(Settings(**settings), publisher=publisher or keeping,
                                      control=Registry()))
    try:
        yield app_client, keeping
    finally:
        app_client.close()
