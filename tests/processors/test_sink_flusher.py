"""How the worker tells a warehouse that is away from one that refuses a session (pure)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from test_core_semantics import OMNY

from processors.session import Rules, SessionResult, summarize
from processors.sink_flusher import SinkFlusher


def sessions(count: int) -> list[SessionResult]:
    base = summarize(OMNY, Rules())
    return [base.__class__(**{**{f: getattr(base, f) for f in base.__slots__},
                              "session_id": f"s{i}"}) for i in range(count)]


class Warehouse:
    """Refuses any write holding a poisoned session; can be away."""

    def __init__(self, poisoned: set[str], away_for: int = 0, blips: int = 0):
        self.poisoned = poisoned
        self.away_for = away_for  # pings (and writes) that fail before it is back
        self.blips = blips  # writes that fail once while it answers
        self.stored: set[str] = set()
        self.writes = 0

    async def write(self, results: Sequence[SessionResult]) -> None:
        self.writes += 1
        if self.away_for:
            raise ConnectionError("connection refused")
        if self.blips:
            self.blips -= 1
            raise ConnectionError("connection reset")
        if any(r.session_id in self.poisoned for r in results):
            raise ValueError("Unable to create native array for column edges")
        self.stored.update(r.session_id for r in results)

    async def ping(self) -> bool:
        if self.away_for:
            self.away_for -= 1
            return False
        return True


def flusher(warehouse: Warehouse, aside: list[str], waits: list[float],
            content: bool = True) -> SinkFlusher:
    async def set_aside(result: SessionResult, err: BaseException) -> None:
        aside.append(result.session_id)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return SinkFlusher(warehouse.write, warehouse.ping, set_aside,
                       refuses_content=lambda err: content and isinstance(err, ValueError),
                       sleep=sleep)


@pytest.mark.parametrize("poisoned", [{"s0"}, {"s7"}, {"s3", "s12"}, set()])
def test_refused_sessions_are_found_and_set_aside_and_the_rest_is_written(
        poisoned: set[str]) -> None:
    warehouse, aside, waits = Warehouse(poisoned), [], []
    batch = sessions(16)
    refused = asyncio.run(flusher(warehouse, aside, waits).flush(batch))
    assert sorted(r.session_id for r in refused) == sorted(aside) == sorted(poisoned)
    assert warehouse.stored == {r.session_id for r in batch} - poisoned
    assert waits == []


def test_a_warehouse_that_is_away_holds_the_whole_batch_with_backoff() -> None:
    warehouse, aside, waits = Warehouse(set(), away_for=5), [], []
    asyncio.run(flusher(warehouse, aside, waits).flush(sessions(8)))
    assert aside == [] and len(warehouse.stored) == 8
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_one_failed_write_while_the_warehouse_answers_sets_nothing_aside() -> None:
    warehouse, aside, waits = Warehouse(set(), blips=3), [], []
    asyncio.run(flusher(warehouse, aside, waits).flush(sessions(1)))
    assert aside == [] and warehouse.stored == {"s0"}


def test_a_lone_session_refused_with_an_error_that_may_pass_is_held_not_set_aside() -> None:
    # The only session of its batch, refused with an error the sink cannot place
    # (a server short of memory answers pings too): no evidence it is the rows.
    warehouse, aside, waits = Warehouse({"s0"}), [], []

    async def give_up(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 4:
            raise TimeoutError("the test stops waiting here")

    flush = flusher(warehouse, aside, waits, content=False)
    flush.sleep = give_up
    with pytest.raises(TimeoutError):
        asyncio.run(flush.flush(sessions(1)))
    assert aside == [] and waits == [0.5, 1.0, 2.0, 4.0]


def test_a_refused_session_beside_written_ones_is_set_aside_whatever_the_error() -> None:
    # Its neighbours' rows went in: the warehouse takes writes, so it is these rows.
    warehouse, aside, waits = Warehouse({"s2"}), [], []
    asyncio.run(flusher(warehouse, aside, waits, content=False).flush(sessions(4)))
    assert aside == ["s2"] and warehouse.stored == {"s0", "s1", "s3"}

