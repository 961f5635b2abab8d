"""The worker's liveness: when it says it is stalled (pure)."""

from __future__ import annotations

from typing import NamedTuple

from processors.handling import WorkerCounters
from processors.metrics import Progress, WorkerMetrics


class TP(NamedTuple):
    topic: str
    partition: int


def test_a_worker_holding_a_batch_past_the_stall_time_says_it_is_stalled() -> None:
    now = [1000.0]
    progress = Progress(stall_seconds=10, clock=lambda: now[0])
    progress.batch_done({TP("t", 0): 41}, {TP("t", 0): 42})
    assert progress.stalled() == (False, 0.0, 0)  # idle and caught up
    progress.batch_started({TP("t", 0): 42}, {TP("t", 0): 44})  # the warehouse goes away meanwhile
    now[0] += 9
    assert progress.stalled()[0] is False
    now[0] += 2
    assert progress.stalled() == (True, 11.0, 3)
    progress.batch_done({TP("t", 0): 44}, {TP("t", 0): 45})
    assert progress.stalled() == (False, 0.0, 0)
    now[0] += 60  # idle for a minute with nothing waiting is not a stall
    assert progress.stalled()[0] is False


def test_a_worker_held_on_its_very_first_batch_says_so() -> None:
    now = [0.0]
    progress = Progress(stall_seconds=5, clock=lambda: now[0])
    progress.batch_started({TP("t", 1): 0}, {TP("t", 1): 3})
    now[0] += 6
    assert progress.stalled() == (True, 6.0, 4)
    progress.assigned()  # a rebalance: recovering partitions is not a stall
    assert progress.stalled()[0] is False


def test_an_owned_partition_that_hands_over_nothing_not_even_ticks_is_a_stall() -> None:
    now = [0.0]
    progress = Progress(stall_seconds=30, clock=lambda: now[0])
    p0, p1 = TP("t", 0), TP("t", 1)
    for second in range(0, 100, 1):  # a tick a second to each owned partition...
        now[0] = float(second)
        progress.owning({p0, p1})
        progress.batch_started({p0: second}, {p0: second})  # ...but only p0's come back
        progress.batch_done({p0: second}, {p0: second + 1})
        if second == 30:
            assert progress.silent() == [] and not progress.stalled()[0]
    assert progress.silent() == [p1] and progress.stalled()[0]
    body = WorkerMetrics(WorkerCounters(), lambda: 0, progress=progress).liveness()
    assert body[0] == 503 and body[1]["silent_partitions"] == [1]
    assert "stopped fetching them" in body[1]["detail"]
    progress.batch_started({p0: 100}, {p0: 100})  # a batch held (by the sink, say)...
    assert progress.silent() == []  # ...explains the silence itself
    progress.batch_done({p0: 100}, {p0: 101})
    progress.assigned()  # a rebalance: every partition gets its grace again
    progress.owning({p0, p1})
    assert progress.silent() == [] and not progress.stalled()[0]
    progress.owning({p0})  # p1 went to another worker: not ours to wait for
    now[0] += 100
    assert progress.silent() == [p0]
