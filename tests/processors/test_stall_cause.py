"""A stalled worker's log says where it waits (processors.faust_app.stall_cause)."""

from __future__ import annotations

import asyncio

from processors.faust_app import stall_cause
from processors.metrics import Progress


def test_no_batch_in_flight_blames_the_consumer() -> None:
    assert stall_cause(Progress(1.0)).startswith("no batch in flight: Faust hands the agent "
                                                 "no messages")


def test_a_batch_in_flight_shows_its_await_point() -> None:
    async def sink_write() -> None:
        await asyncio.sleep(30)

    async def batches() -> None:  # named as the worker's agent loop is
        await sink_write()

    async def scene() -> str:
        agent = asyncio.get_running_loop().create_task(batches())
        await asyncio.sleep(0.05)
        now = [0.0]
        progress = Progress(1.0, clock=lambda: now[0])
        now[0] = 100.0
        progress.batch_started({}, {})
        now[0] = 142.0
        try:
            return stall_cause(progress)
        finally:
            agent.cancel()

    cause = asyncio.run(scene())
    assert cause.startswith("a batch has been in flight for 42 s, awaiting in batches (")
    assert "-> sink_write (test_stall_cause.py:" in cause
