"""A batch's write, store and acknowledgement run in order, one batch at most behind
the one being processed (processors/batch_pipeline.py)."""

from __future__ import annotations

import asyncio

import pytest

from processors.batch_pipeline import Pipeline
from processors.metrics import Progress


def test_each_batch_finishes_after_the_one_before_and_the_agent_waits_for_room() -> None:
    log: list[str] = []

    async def main() -> None:
        pipeline = Pipeline(Progress(10.0))
        gates = [asyncio.Event() for _ in range(3)]

        def steps(n: int):  # type: ignore[no-untyped-def]
            async def run() -> None:
                log.append(f"write {n}")
                await gates[n].wait()
                log.append(f"ack {n}")
            return run

        await pipeline.finish(steps(0))  # nothing before it: returns at once
        log.append("processed 1")
        second = asyncio.ensure_future(pipeline.finish(steps(1)))
        await asyncio.sleep(0.01)
        assert not second.done()  # batch 0 still writing: batch 2 is not taken yet
        assert sorted(log) == ["processed 1", "write 0"]  # processed while 0 writes
        gates[0].set()
        await second
        log.append("processed 2")
        gates[1].set()
        gates[2].set()
        await pipeline.finish(steps(2))
        await pipeline.drain()

    asyncio.run(main())
    at = log.index
    assert at("ack 0") < at("write 1") < at("ack 1") < at("write 2") < at("ack 2")
    assert at("ack 0") < at("processed 2")  # the agent took batch 2 once 0 was done


def test_a_failed_batch_leaves_the_later_ones_unacknowledged_and_stops_the_agent() -> None:
    acked: list[int] = []

    async def main() -> None:
        pipeline = Pipeline(Progress(10.0))

        async def fails() -> None:
            await asyncio.sleep(0.01)
            raise RuntimeError("store gone")

        async def acks() -> None:
            acked.append(1)

        await pipeline.finish(fails)
        with pytest.raises(RuntimeError):
            await pipeline.finish(acks)
        with pytest.raises(RuntimeError):
            await pipeline.drain()

    asyncio.run(main())
    assert acked == []


def test_the_agent_waiting_for_messages_hears_of_a_failure_at_once() -> None:
    async def agent() -> None:
        pipeline = Pipeline(Progress(10.0))

        async def fails() -> None:
            raise RuntimeError("sink refused")

        await pipeline.finish(fails)
        try:
            await asyncio.sleep(30)  # waiting for the next messages
        except asyncio.CancelledError:
            assert isinstance(pipeline.failure, RuntimeError)
            raise

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.ensure_future(agent()), 5)

    asyncio.run(main())


def test_in_flight_since_is_the_oldest_batch_not_finished() -> None:
    now = [100.0]
    progress = Progress(10.0, clock=lambda: now[0])

    async def main() -> None:
        pipeline = Pipeline(progress)
        pipeline.started({"tp": 0}, {"tp": 9})
        now[0] = 105.0
        pipeline.started({"tp": 10}, {"tp": 19})
        assert progress.in_flight_since == 100.0
        pipeline.done({"tp": 9}, {"tp": 30})
        assert progress.in_flight_since == 105.0 and progress.finished == {"tp": 9}
        pipeline.done({"tp": 19}, {"tp": 30})
        assert progress.in_flight_since is None

    asyncio.run(main())


def test_cancel_drops_the_batches_not_finished() -> None:
    acked: list[int] = []

    async def main() -> None:
        pipeline = Pipeline(Progress(10.0))

        async def slow() -> None:
            await asyncio.sleep(30)
            acked.append(0)

        await pipeline.finish(slow)
        pipeline.cancel()
        await pipeline.cancelled()
        await pipeline.drain()  # nothing left

    asyncio.run(main())
    assert acked == []
