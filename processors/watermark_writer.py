"""Writes the partitions' complete-through bounds, off the batch path.

A bound is computed when a batch that handled a tick has written its rows
and handed its state changes to the Kafka client (processors/faust_app.py).
It is true only while that state survives a crash: a session this worker saw
close long enough ago to be final must not come back as open from a
changelog that missed the close. So before writing, the writer waits until
the Kafka client has delivered everything handed to it so far (the state
changes of every batch that computed a waiting bound). It runs on a timer,
not in the batch loop, so that wait never holds up events. Only the latest
bounds of each partition are kept waiting: a later tick's bound replaces an
earlier one, which would be overwritten anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from processors.completeness import Bound

log = logging.getLogger("playhead.worker")


class WatermarkWriter:
    def __init__(self, delivered: Callable[[], Awaitable[None]],
                 write: Callable[[Sequence[Bound]], Awaitable[None]]):
        self._delivered = delivered
        self._write = write
        self._waiting: dict[int, list[Bound]] = {}

    def offer(self, partition: int, bounds: list[Bound]) -> None:
        self._waiting[partition] = bounds

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def write_waiting(self) -> None:
        if not self._waiting:
            return
        taken, self._waiting = self._waiting, {}
        try:
            await self._delivered()
            await self._write([bound for rows in taken.values() for bound in rows])
        except Exception as err:  # the warehouse or the broker away: try again next time
            log.warning("complete-through bounds not written (will retry): %s", err)
            for partition, rows in taken.items():
                self._waiting.setdefault(partition, rows)
