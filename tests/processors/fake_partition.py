"""One broker partition under Faust's own consumer code, for the rebalance-seek tests
on Faust's record path (test_faust_stream_seek.py) and on the agent's records path
(test_faust_records.py).

``FakeBroker`` is the transport-specific half of a Faust consumer. It seeks as
aiokafka does: this partition as soon as its committed offset is known, while
the rest of the seek still awaits the broker (until records were handed over
mid-seek, or half a second).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from faust.types import TP

EVENTS = TP("events", 0)
COMMITTED = 10  # offsets 0-9 were processed and committed before the rebalance
END = 40  # the partition holds offsets 0-39
PER_FETCH = 5


class Partition:
    """The broker's side, as aiokafka sees it: a fetch position, a committed offset."""

    def __init__(self) -> None:
        self.position = self.committed = COMMITTED  # aiokafka starts an assigned partition there
        self.delivered = asyncio.Event()  # the fetcher handed over records mid-seek


class FakeBroker:
    partition: Partition

    def fetched(self, offsets: range) -> list[Any]:
        """What a fetch returns for ``offsets``."""
        raise NotImplementedError

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        await asyncio.sleep(0)  # a call into the consumer's thread
        start = self.partition.position
        stop = min(start + PER_FETCH, END)
        if start >= stop:
            await asyncio.sleep(0.01)
            return {}
        self.partition.position = stop
        return {EVENTS: self.fetched(range(start, stop))}

    async def seek_to_committed(self) -> Any:
        # aiokafka: this partition's committed offset is known and sought first,
        # then the seek awaits the broker for the consumer's other partitions.
        self.partition.position = self.partition.committed
        with contextlib.suppress(TimeoutError):  # nothing handed over: the flow was stopped
            await asyncio.wait_for(self.partition.delivered.wait(), 0.5)
        return {EVENTS: self.partition.committed}

    def assignment(self) -> set[TP]:
        return {EVENTS}

    def highwater(self, tp: TP) -> int:
        return END

    def _new_topicpartition(self, topic: str, partition: int) -> TP:
        return TP(topic, partition)

    async def _commit(self, offsets: Any) -> bool:
        return True

    def _to_message(self, tp: TP, record: Any) -> Any:
        raise NotImplementedError

    async def _seek(self, partition: TP, offset: int) -> None: ...
    async def create_topic(self, *args: Any, **kwargs: Any) -> None: ...
    async def earliest_offsets(self, *partitions: TP) -> Any: ...
    async def highwaters(self, *partitions: TP) -> Any: ...
    def key_partition(self, *args: Any, **kwargs: Any) -> Any: ...
    async def position(self, tp: TP) -> Any: ...
    async def seek_wait(self, partitions: Any) -> None: ...
    async def subscribe(self, topics: Any) -> None: ...
    def topic_partitions(self, topic: str) -> Any: ...


def commit_all(consumer: Any) -> int:
    """The offset Faust's commits reach from what is acknowledged (Consumer.commit's
    choice, commit after commit)."""
    while (offset := consumer._new_offset(EVENTS)) is not None:
        if consumer._should_commit(EVENTS, offset):
            consumer._committed_offset[EVENTS] = offset
    return int(consumer._committed_offset[EVENTS])
