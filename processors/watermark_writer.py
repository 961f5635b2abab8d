"""Writes the partitions' complete-through bounds, off the batch path.

A bound is computed when a batch that handled a tick has written its rows
and handed its state changes to the Kafka client (processors/faust_app.py).
It is true only while that state survives a crash: a session this worker saw
close long enough ago to be final must not come back as open from a
changelog that missed the close. So before writing, the writer waits until
the Kafka client has delivered everything handed to it so far (the state
changes of every batch that computed a waiting bound). It runs on a timer,
not in the batch loop, so that wait never holds up events.

A bound is written at the second run after it was offered, not the first:
Faust's buffer counts a state change as handed over as soon as it takes it
from its queue, a moment before the Kafka client has it, and the client's
flush only waits for what it has. A timer period later it has it. Only the
latest bounds of each partition are kept waiting: a later tick's bound
replaces an earlier one, which would be overwritten anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from processors.completeness import Bound

log = logging.getLogger("playhead.worker")


class WatermarkWriter:
    def __init__(self, delivered: Callable[[], Awaitable[None]],
                 write: Callable[[Sequence[Bound]], Awaitable[None]],
                 clock: Callable[[], float] = time.time):
        self._delivered = delivered
        self._write = write
        self._clock = clock
        # For metrics and alerts: per partition, the lowest bound last written
        # (a watermark that stops advancing shows here), and when it was written.
        self.written: dict[int, float] = {}
        self.written_at: float | None = None
        self._fresh: dict[int, list[Bound]] = {}  # offered since the last run
        self._ripe: dict[int, list[Bound]] = {}  # offered before it: written next

    def forget(self, owned: set[int]) -> None:
        """After a rebalance: a partition now another worker's is not reported from here."""
        for partition in [p for p in self.written if p not in owned]:
            del self.written[partition]

    def offer(self, partition: int, bounds: list[Bound]) -> None:
        self._fresh[partition] = bounds

    @property
    def waiting(self) -> int:
        return len(self._fresh.keys() | self._ripe.keys())

    async def write_waiting(self) -> None:
        # A partition's fresh bounds are newer than its ripe ones: they wait
        # their turn, and the ripe ones are written now.
        taken, self._ripe, self._fresh = self._ripe, self._fresh, {}
        if not taken:
            return
        try:
            await self._delivered()
            await self._write([bound for rows in taken.values() for bound in rows])
            self.written.update({partition: min(b.bound for b in rows)
                                 for partition, rows in taken.items() if rows})
            self.written_at = self._clock()
        except Exception as err:  # the warehouse or the broker away: try again next time
            log.warning("complete-through bounds not written (will retry): %s", err)
            for partition, rows in taken.items():
                self._ripe.setdefault(partition, rows)
