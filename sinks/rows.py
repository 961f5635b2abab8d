"""Session results as rows of the ClickHouse tables (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from processors.session import SessionResult

SESSION_COLUMNS = (
    "organization_id", "clip_id", "session_id", "source", "day", "started_at", "ended_at",
    "duration_seconds", "kept", "interval_starts", "interval_ends", "version",
    "unique_seconds", "furthest_seconds", "clip_length_seconds", "completion_share",
    "startup_ms", "rebuffer_count", "rebuffer_ms", "quality_changes", "errors",
    "edges", "listener_steps", "listen_steps",
)
CONTENT_COLUMNS = (
    "organization_id", "clip_id", "day", "action", "session_id", "event_id", "event_time",
    "source", "platform", "method", "rights",
)
EVENT_COLUMNS = (
    "organization_id", "clip_id", "session_id", "event_id", "sequence_number", "timestamp",
    "kind", "action", "position_seconds", "seek_to_seconds", "attributes", "version",
)


def session_rows(results: Iterable[SessionResult]) -> list[Sequence[Any]]:
    rows: list[Sequence[Any]] = []
    for r in results:
        q = r.quality
        rows.append((
            r.organization_id, r.clip_id, r.session_id, r.source, r.day, r.started_at,
            r.ended_at, r.duration_seconds, int(r.kept),
            [i.start for i in r.intervals], [i.end for i in r.intervals], r.version,
            r.unique_seconds, r.furthest_seconds, r.clip_length_seconds, r.completion_share,
            q.startup_ms, q.rebuffer_count, q.rebuffer_ms, q.quality_changes, q.errors,
            list(r.steps.edges), list(r.steps.listener_steps), list(r.steps.listen_steps),
        ))
    return rows


def content_rows(results: Iterable[SessionResult]) -> list[Sequence[Any]]:
    return [
        (r.organization_id, c.clip_id, c.day, c.action, r.session_id, c.event_id, c.at,
         r.source, c.platform, c.method, c.rights)
        for r in results
        for c in r.content
    ]


def event_rows(results: Iterable[SessionResult]) -> list[Sequence[Any]]:
    """Every event of each session at the session's version, for the read API's listings."""
    return [
        (r.organization_id, r.clip_id, r.session_id, e.event_id, e.sequence_number,
         datetime.fromtimestamp(e.timestamp, tz=UTC), e.kind.value, e.action,
         e.position_seconds, e.seek_to_seconds, dict(e.attributes), r.version)
        for r in results
        for e in r.timeline
    ]
