"""The plain statement of rule 5 (docs/semantics.md), kept as the tests' oracle.

``processors.histogram.bucket_steps`` stores a session's histogram as steps;
the property tests compare it with this direct count, which is too slow to
run per session but obviously right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from processors.histogram import touched_buckets
from processors.intervals import Interval


def bucket_listens(intervals: Iterable[Interval], width: float) -> dict[int, int]:
    """Per bucket, how many of one session's intervals touch it.

    The session counts as one listener in every bucket present here; the
    value is its ``listens`` (replays count again).
    """
    counts: Counter[int] = Counter()
    for interval in intervals:
        counts.update(touched_buckets(interval, width))
    return dict(sorted(counts.items()))
