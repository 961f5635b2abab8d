"""Batches in a pipeline: the next batch is processed while the last one is written.

A batch ends in three steps whose order makes a kill -9 exact: its rows are
written to the sink, *then* its state changes are stored (and handed to the
Kafka client), *then* its offsets are acknowledged. Those steps wait on the
warehouse and the broker, and the event loop would sit idle through them.
``Pipeline.finish`` runs them in a task of their own, after the previous
batch's have completed, so the agent can decode and apply the next batch
meanwhile (one batch at most: the agent takes the next one only once the
one before the last has finished). What overlaps is only in-memory work: the next batch reads its
sessions through the writes held for the one in flight
(``StateTable.stage``), and its own steps wait for that one's.

A batch that fails to finish leaves every later one unfinished too (each
awaits the one before): none of them is acknowledged, so their records come
again. The agent hears of the failure at once: the pipeline cancels it, and
it raises the failure instead (``failure``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from processors.metrics import Progress


class Pipeline:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._last: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._owner = asyncio.current_task()
        self._draining = False
        self._since: deque[float] = deque()  # when each batch in flight was taken
        self.failure: BaseException | None = None

    def started(self, first: dict[Any, int], last: dict[Any, int]) -> None:
        """A batch taken (``Progress.batch_started``); in flight since the oldest one."""
        oldest = self._progress.in_flight_since if self._since else None
        self._progress.batch_started(first, last)
        assert self._progress.in_flight_since is not None
        self._since.append(self._progress.in_flight_since)
        if oldest is not None:
            self._progress.in_flight_since = oldest

    def done(self, offsets: dict[Any, int], high: dict[Any, int]) -> None:
        """A batch acknowledged (``Progress.batch_done``); the next one stays in flight."""
        self._progress.batch_done(offsets, high)
        self._since.popleft()
        if self._since:
            self._progress.in_flight_since = self._since[0]

    async def finish(self, steps: Callable[[], Awaitable[None]]) -> None:
        """Run a batch's ``steps`` (write, store, acknowledge) once the batch before
        has finished; returns when that one has, so at most one batch is written
        while the next is processed (held writes and memory stay bounded)."""
        previous = self._last

        async def batch_in_turn() -> None:
            if previous is not None:
                await previous  # its failure is this batch's too: not acknowledged
            await steps()

        task = asyncio.ensure_future(batch_in_turn())
        task.add_done_callback(self._finished)
        self._tasks.add(task)
        self._last = task
        if previous is not None:
            await self._wait(previous)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None or self.failure is not None:
            return
        self.failure = task.exception()
        if not self._draining and self._owner is not None and not self._owner.done():
            self._owner.cancel()  # the agent raises ``failure`` (see batch_pipeline users)

    async def drain(self) -> None:
        """Until every batch handed to ``finish`` has finished; raises a failure."""
        if self._last is not None:
            await self._wait(self._last)

    async def _wait(self, task: asyncio.Task[None]) -> None:
        if self.failure is not None:
            raise self.failure
        if task.done() and not task.cancelled() and task.exception() is None:
            return
        self._draining = True  # a failure is raised here: no need to cancel the agent
        try:
            await asyncio.shield(task)
        finally:
            self._draining = False
        if self.failure is not None:  # the next batch failed while this one finished
            raise self.failure

    def cancel(self) -> None:
        """Batches not finished are dropped unacknowledged (their records come again)."""
        for task in self._tasks:
            task.cancel()
        self._last = None
        self._since.clear()

    async def cancelled(self) -> None:
        """Until the batches dropped by ``cancel`` have stopped."""
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
