"""A clip's retention curve with a bounded number of points (pure).

The curve spans the clip's timeline from bucket 0 to the last heard bucket or
the clip's end, whichever is later, but never past the longest clip a
deployment accepts (PLAYHEAD_MAX_CLIP_SECONDS): data written before that bound
existed, or by a producer that skipped it, cannot stretch the timeline. Over
that span a client asks for at most ``max_points`` points; when the span has
more buckets, each point covers ``width`` consecutive buckets (a *bin*), so
the answer never grows with the data. ClickHouse aggregates the bins
(queries.Reader.clip_figures); this module plans them and fills the silence.

Per bin, ``listeners`` and ``listens`` are the most of any one bucket in it
(so a one-bucket bin is exactly that bucket, and a peak never disappears when
zoomed out), and ``meanListeners`` is the mean over its buckets (so the
area under the curve, i.e. the listened time, is kept).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_POINTS = 1000  # about one point per pixel of a dashboard's chart
MAX_POINTS = 10_000  # the ceiling a client may ask for: a few hundred kB of JSON


@dataclass(frozen=True)
class Binning:
    """``buckets`` buckets from 0, ``width`` buckets to a point (the last may be shorter)."""

    buckets: int
    width: int = 1
    truncated: bool = False  # listening or the clip's length reached past the longest clip

    @property
    def points(self) -> int:
        return -(-self.buckets // self.width)

    def size(self, index: int) -> int:
        """Buckets in point ``index``."""
        return min(self.width, self.buckets - index * self.width)


@dataclass(frozen=True)
class Bin:
    """What ClickHouse answers for one bin with anything heard in it."""

    index: int
    listeners: int  # the most of any one bucket
    listens: int  # the most of any one bucket
    listener_buckets: int  # listeners summed over the bin's buckets


def plan(last_edge: int, clip_length_seconds: float | None, bucket_seconds: float,
         max_clip_seconds: float, max_points: int) -> Binning:
    """Where the curve ends and how many buckets go to a point.

    ``last_edge`` is one past the last heard bucket (0 when nothing was heard).
    """
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    longest = math.ceil(max_clip_seconds / bucket_seconds)
    end = last_edge
    if clip_length_seconds and clip_length_seconds > 0:
        # An infinite length (a producer that skipped the bounds) must not reach ceil().
        end = max(end, longest + 1 if clip_length_seconds > max_clip_seconds
                  else math.ceil(clip_length_seconds / bucket_seconds))
    buckets = min(end, longest)
    return Binning(buckets, max(1, -(-buckets // max_points)), truncated=end > longest)


def points(binning: Binning, bins: Iterable[Bin], kept_sessions: int,
           bucket_seconds: float) -> list[dict[str, Any]]:
    """One point per bin, silent bins as zeros, so a chart shows gaps as gaps."""
    heard = {b.index: b for b in bins if 0 <= b.index < binning.points}
    out = []
    for index in range(binning.points):
        found = heard.get(index)
        listeners = found.listeners if found else 0
        bucket = index * binning.width
        out.append({
            "bucket": bucket,
            "startSeconds": round(bucket * bucket_seconds, 6),
            "listeners": listeners,
            "listens": found.listens if found else 0,
            "meanListeners": round(found.listener_buckets / binning.size(index), 6)
            if found else 0.0,
            "shareOfSessions": listeners / kept_sessions if kept_sessions else 0.0,
        })
    return out
