"""Bucket math for consumption histograms (DESIGN.md, rule 5)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from processors.intervals import Interval


def touched_buckets(interval: Interval, width: float) -> range:
    """Buckets ``floor(a/w) .. ceil(b/w) - 1`` of the half-open interval [a, b)."""
    return range(math.floor(interval.start / width), math.ceil(interval.end / width))


def bucket_listens(intervals: Iterable[Interval], width: float) -> dict[int, int]:
    """Per bucket, how many of one session's intervals touch it.

    The session counts as one listener in every bucket present here; the
    value is its ``listens`` (replays count again).
    """
    counts: Counter[int] = Counter()
    for interval in intervals:
        counts.update(touched_buckets(interval, width))
    return dict(sorted(counts.items()))
