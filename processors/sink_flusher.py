"""A batch's sessions to the sink: held while the warehouse is away, a refused one set aside.

Two kinds of failure look alike from one insert: the warehouse is away (a
restart, a network cut), or it refuses something in the rows (a value its
column cannot hold). The first must hold the batch, and with it the offsets,
until the warehouse is back: nothing is acknowledged that is not stored. The
second must not: one session would stop every partition for good. So the
flusher decides by evidence. While the warehouse answers a ping, a failed
batch is split in halves and each half written on its own, down to the one
session that is refused. That session is set aside (the shell dead-letters
it with the error) only when it was refused twice, the warehouse answered
each time, and either the warehouse took other sessions' rows in between
or the sink says the error is about the rows themselves (a value a column
cannot hold); otherwise it is held and retried with backoff, as a warehouse
that is away would be (a server short of memory also answers pings). Writes
are idempotent (whole session versions, rows keyed by event id), so writing
a half again after a partial failure changes no figure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from processors.session import SessionResult

log = logging.getLogger("playhead.worker")

Write = Callable[[Sequence[SessionResult]], Awaitable[None]]
Ping = Callable[[], Awaitable[bool]]
SetAside = Callable[[SessionResult, BaseException], Awaitable[None]]


@dataclass
class SinkFlusher:
    write: Write
    ping: Ping  # True when the warehouse answers a trivial query
    set_aside: SetAside
    # Whether an error is about the rows written (the sink knows its client's errors).
    refuses_content: Callable[[BaseException], bool] = lambda err: False
    # Told the error while a write is held and retried, None once it went through.
    on_retry: Callable[[str | None], None] = lambda error: None
    first_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def flush(self, results: Sequence[SessionResult]) -> list[SessionResult]:
        """Write every session or set it aside; returns the ones set aside."""
        delay = self.first_delay
        pending: list[Sequence[SessionResult]] = [results] if results else []
        refused_once: set[tuple[str, str]] = set()
        set_aside: list[SessionResult] = []
        wrote = False  # the warehouse took some rows during this flush
        while pending:
            group = pending.pop()
            try:
                await self.write(group)
                wrote = True
                continue
            except Exception as err:  # the sink's error, or rows it could not build
                failure = err
            answers = await self._answers()
            if answers and len(group) > 1:
                middle = len(group) // 2
                pending.extend((group[middle:], group[:middle]))
                continue
            key = (group[0].organization_id, group[0].session_id)
            evidence = answers and (wrote or self._about_content(failure))
            if evidence and key not in refused_once:
                refused_once.add(key)  # once more: a blip must not set a session aside
                pending.append(group)
                continue
            if not evidence:
                # Holding the batch holds its offsets: nothing is acknowledged
                # that is not in ClickHouse.
                log.error("sink failed (the warehouse %s); retrying %d sessions in %.1fs: %s",
                          "answers" if answers else "does not answer", len(group), delay,
                          failure)
                pending.append(group)
                self.on_retry(str(failure)[:500] or type(failure).__name__)
                await self.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            [session] = group
            log.error("the warehouse refuses session %s/%s (version %d) while it answers "
                      "otherwise; setting it aside: %s", *key, session.version, failure)
            await self.set_aside(session, failure)
            set_aside.append(session)
        self.on_retry(None)
        return set_aside

    def _about_content(self, err: BaseException) -> bool:
        try:
            return self.refuses_content(err)
        except Exception:
            return False

    async def _answers(self) -> bool:
        try:
            return await self.ping()
        except Exception:
            return False
