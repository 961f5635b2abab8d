"""Session results as rows of the ClickHouse tables (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from processors.session import SessionResult

SESSION_COLUMNS = (
    "organization_id", "clip_id", "session_id", "source", "day", "started_at", "ended_at",
    "duration_seconds", "kept", "interval_starts", "interval_ends", "version",
)
BUCKET_COLUMNS = (
    "organization_id", "clip_id", "session_id", "version", "source", "day", "bucket", "listens",
)


def session_rows(results: Iterable[SessionResult]) -> list[Sequence[Any]]:
    return [
        (
            r.organization_id, r.clip_id, r.session_id, r.source, r.day, r.started_at,
            r.ended_at, r.duration_seconds, int(r.kept),
            [i.start for i in r.intervals], [i.end for i in r.intervals], r.version,
        )
        for r in results
    ]


def bucket_rows(results: Iterable[SessionResult]) -> list[Sequence[Any]]:
    return [
        (r.organization_id, r.clip_id, r.session_id, r.version, r.source, r.day, bucket, listens)
        for r in results
        for bucket, listens in r.buckets.items()
    ]
