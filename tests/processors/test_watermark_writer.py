"""The bounds' writer: a period late, delivery first, each partition's latest, retried."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from processors.completeness import SHARED, Bound
from processors.watermark_writer import WatermarkWriter


def bound(partition: int, tick: float) -> Bound:
    return Bound(partition, 2, SHARED, tick, tick - 100)


def test_bounds_are_written_after_delivery_latest_per_partition_and_retried() -> None:
    calls: list[str] = []
    written: list[list[Bound]] = []
    fail = [True]

    async def delivered() -> None:
        calls.append("delivered")

    async def write(bounds: Sequence[Bound]) -> None:
        calls.append("write")
        if fail[0]:
            raise ConnectionError("warehouse away")
        written.append(list(bounds))

    async def scenario() -> None:
        writer = WatermarkWriter(delivered, write, clock=lambda: 5000.0)
        await writer.write_waiting()  # nothing waits: nothing happens
        assert calls == []
        writer.offer(0, [bound(0, 10)])
        writer.offer(0, [bound(0, 11)])  # a later tick replaces the waiting one
        writer.offer(1, [bound(1, 10)])
        await writer.write_waiting()  # offered since the last run: not yet
        assert calls == [] and writer.waiting == 2
        writer.offer(1, [bound(1, 12)])
        await writer.write_waiting()  # the warehouse is away
        assert calls == ["delivered", "write"] and writer.waiting == 2
        assert writer.written == {} and writer.written_at is None  # what alerts see
        fail[0] = False
        await writer.write_waiting()
        assert len(written) == 1 and writer.waiting == 0
        assert set(written[0]) == {bound(0, 11), bound(1, 12)}  # the newest of each
        assert writer.written == {0: 11 - 100, 1: 12 - 100} and writer.written_at == 5000.0
        writer.forget({1})  # partition 0 went to another worker: its bound is not ours
        assert writer.written == {1: 12 - 100}

    asyncio.run(scenario())
