"""Bucket math for consumption histograms (docs/semantics.md, rule 5)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from processors.intervals import Interval
from schemas.frozen import quick_init, quick_new


def touched_buckets(interval: Interval, width: float) -> range:
    """Buckets ``floor(a/w) .. ceil(b/w) - 1`` of the half-open interval [a, b)."""
    return range(math.floor(interval.start / width), math.ceil(interval.end / width))


@quick_init
@dataclass(frozen=True, slots=True)
class Steps:
    """One session's histogram as steps: where its listeners and listens change.

    Summing ``listener_steps`` (and ``listen_steps``) over every edge up to a
    bucket gives the session's listeners (0 or 1) and listens in that bucket,
    so a curve over millions of sessions is a running sum over a few edges
    each instead of a row per bucket per session. Integers only: exact.
    """

    edges: tuple[int, ...]
    listener_steps: tuple[int, ...]
    listen_steps: tuple[int, ...]

    def buckets(self) -> dict[int, int]:
        """Back to ``bucket -> listens``: per bucket, how many intervals touch it."""
        out: dict[int, int] = {}
        listeners = listens = 0
        for i, edge in enumerate(self.edges):
            if i and listeners:
                out.update(dict.fromkeys(range(self.edges[i - 1], edge), listens))
            listeners += self.listener_steps[i]
            listens += self.listen_steps[i]
        return out


NO_STEPS = Steps((), (), ())
_STEPS = quick_new(Steps)


def bucket_steps(intervals: Iterable[Interval], width: float) -> Steps:
    # Most sessions: intervals in order whose buckets leave gaps between them. Their
    # ranges come already sorted, so the steps below are given directly, without
    # sorting; anything else goes the general way.
    if not isinstance(intervals, tuple | list):
        intervals = tuple(intervals)  # read twice when it goes the general way
    floor, ceil = math.floor, math.ceil
    edges: list[int] = []
    last: int | None = None
    for interval in intervals:
        start, stop = floor(interval.start / width), ceil(interval.end / width)
        if stop <= start:
            continue
        if last is not None and start <= last:
            return _bucket_steps(intervals, width)
        edges += (start, stop)
        last = stop
    if not edges:
        return NO_STEPS
    steps = (1, -1) * (len(edges) // 2)
    return _STEPS(tuple(edges), steps, steps)


def _bucket_steps(intervals: Iterable[Interval], width: float) -> Steps:
    """Any intervals: sorted, overlapping, touching (``bucket_steps`` tries the common
    case first)."""
    # touched_buckets' ends, without a range object each; plain dicts, not Counters.
    floor, ceil = math.floor, math.ceil
    ranges = sorted(r for r in ((floor(i.start / width), ceil(i.end / width)) for i in intervals)
                    if r[1] > r[0])
    if not ranges:
        return NO_STEPS
    listens: dict[int, int] = {}
    listeners: dict[int, int] = {}
    run_start, run_end = ranges[0]
    for start, stop in ranges:
        listens[start] = listens.get(start, 0) + 1
        listens[stop] = listens.get(stop, 0) - 1
        if start > run_end:  # a gap: the listener left and came back
            listeners[run_start] = listeners.get(run_start, 0) + 1
            listeners[run_end] = listeners.get(run_end, 0) - 1
            run_start, run_end = start, stop
        elif stop > run_end:
            run_end = stop
    listeners[run_start] = listeners.get(run_start, 0) + 1
    listeners[run_end] = listeners.get(run_end, 0) - 1
    edges = sorted(e for e in listens.keys() | listeners.keys()
                   if listens.get(e) or listeners.get(e))
    return Steps(tuple(edges), tuple(listeners.get(e, 0) for e in edges),
                 tuple(listens.get(e, 0) for e in edges))
