"""The worker's dead-letter step: set a message (or a refused session) aside with its reason.

Every message that cannot be processed goes to the dead-letter topic with
the headers ``playhead-dlq-reason``, ``playhead-dlq-detail`` and
``playhead-dlq-source``, and is counted by reason. One bad client makes a
few dead letters among many good messages; a bad deploy (a wrong topic, a
codec that decodes nothing) makes nothing else. So, as arroyo's ``DlqLimit``
does, the worker stops with an error after ``PLAYHEAD_DEAD_LETTER_LIMIT``
consecutive dead letters rather than dead-letter a whole topic. Only the
reasons a deploy can cause count (``SYSTEMIC``): what a client can cause
through the gateway (a session past its limit, late events, another clip)
must never stop the worker for everyone, however much of it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from processors.handling import InvalidMessage, WorkerCounters
from processors.session import SessionResult
from schemas import EventCodec

log = logging.getLogger("playhead.worker")

Headers = list[tuple[str, bytes]]
Send = Callable[[bytes | None, bytes | None, Headers], Awaitable[None]]


# Messages nothing could process: the producer or the topic is wrong, not one session.
SYSTEMIC = frozenset({"empty", "undecodable", "invalid", "out_of_bounds"})


class DeadLetterLimitExceeded(RuntimeError):
    """Too many consecutive messages were dead-lettered: stop, rather than discard a topic."""


@dataclass
class ConsecutiveLimit:
    """Counts dead letters in a row (pure); ``limit`` 0 never trips."""

    limit: int
    run: int = 0

    def processed(self) -> None:
        self.run = 0

    def dead_lettered(self) -> bool:
        """True when this dead letter is one too many."""
        self.run += 1
        return bool(self.limit) and self.run > self.limit


@dataclass
class DeadLetters:
    send: Send  # (key, value, headers) to the dead-letter topic
    counters: WorkerCounters
    codec: EventCodec
    limit: ConsecutiveLimit

    async def message(self, key: bytes | None, value: bytes | None, source: str,
                      err: InvalidMessage) -> None:
        """One message set aside; raises ``DeadLetterLimitExceeded`` past the limit."""
        self.counters.count_dead_letter(err.reason)
        log.warning("dead-lettering %s: %s", source, err)
        await self.send(key, value, _headers(err.reason, err.detail, source))
        if err.reason in SYSTEMIC and self.limit.dead_lettered():
            raise DeadLetterLimitExceeded(
                f"{self.limit.run} consecutive messages were dead-lettered (last: {err}); "
                "stopping rather than dead-letter everything. Check the producers and the "
                "topic, then raise PLAYHEAD_DEAD_LETTER_LIMIT or set it to 0 if this is "
                "expected")

    async def session(self, result: SessionResult, error: BaseException) -> None:
        """A session the warehouse refused: each of its events, re-encoded, with the error."""
        self.counters.count_dead_letter("sink_refused")
        self.counters.sessions["set_aside"] += 1
        key = f"{result.organization_id}/{result.session_id}".encode()
        detail = f"the warehouse refused session version {result.version}: {error}"[:2000]
        for event in result.timeline:
            await self.send(key, self.codec.encode(event.to_record()),
                            _headers("sink_refused", detail, "sink"))


def _headers(reason: str, detail: str, source: str) -> Headers:
    return [
        ("playhead-dlq-reason", reason.encode()),
        ("playhead-dlq-detail", detail.encode(errors="replace")),
        ("playhead-dlq-source", source.encode()),
    ]
