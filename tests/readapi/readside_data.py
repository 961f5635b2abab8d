"""Sessions for the read side's tests, built by the real core and written by the real sink.

``write(client, db, events)`` does what the worker does with a closed
session: summarize it (processors.session) and write it (sinks.writer), and
also stores its events in ``session_events`` as the worker is to do (every
event of the session at the session's version).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from devkit.sample_retime import retimed
from processors.session import Rules, SessionResult, summarize
from schemas.event import Action, EventKind, PlaybackEvent
from sinks.writer import ClickHouseSink

SESSION_EVENT_COLUMNS = ("organization_id", "clip_id", "session_id", "event_id",
                         "sequence_number", "timestamp", "kind", "action", "position_seconds",
                         "seek_to_seconds", "attributes", "version")


def listening(org: str, clip: str, intervals: Sequence[tuple[float, float]], start: float,
              source: str = "Web", session: str | None = None,
              clip_length: float | None = None) -> list[PlaybackEvent]:
    """A play/pause pair per interval, one wall second per clip second, from ``start``."""
    session = session or str(uuid.uuid4())
    events: list[PlaybackEvent] = []
    clock = start
    for a, b in intervals:
        for kind, action, position in ((EventKind.START, Action.PLAY, a),
                                       (EventKind.STOP, Action.PAUSE, b)):
            events.append(event(org, clip, session, len(events) + 1, clock, kind, action,
                                position, source=source, clip_length=clip_length))
            clock += b - a if kind == EventKind.START else 1.0
    return events


def event(org: str, clip: str, session: str, sequence: int, timestamp: float, kind: EventKind,
          action: str, position: float, seek_to: float | None = None, source: str = "Web",
          clip_length: float | None = None) -> PlaybackEvent:
    return PlaybackEvent(
        event_id=f"test:{org}:{session}:{sequence}", organization_id=org, session_id=session,
        clip_id=clip, source=source, kind=kind, position_seconds=position,
        sequence_number=sequence, timestamp=timestamp, action=action,
        seek_to_seconds=seek_to, clip_length_seconds=clip_length)


def write(client: Client, db: str, *sessions: Sequence[PlaybackEvent]) -> list[SessionResult]:
    results = [summarize(events, Rules()) for events in sessions]
    ClickHouseSink(client, db).write(results)
    rows: list[Sequence[Any]] = []
    for events, result in zip(sessions, results, strict=True):
        rows += [(e.organization_id, e.clip_id, e.session_id, e.event_id, e.sequence_number,
                  datetime.fromtimestamp(e.timestamp, tz=UTC), e.kind.value, e.action,
                  e.position_seconds, e.seek_to_seconds, dict(e.attributes), result.version)
                 for e in events]
    client.insert(f"{db}.session_events", rows, column_names=list(SESSION_EVENT_COLUMNS))
    return results


def short_video_session(clip: str, now: float) -> list[dict[str, Any]]:
    """The short-video reference's first session on one clip, renamed ``clip``: an
    impression, a play with its startup time, a stall, a quality change, a like, a
    save, a share and a completion, as the player sends them (POST /v1/events/batch)."""
    events = retimed("shortvideo", now)["events"]
    first = events[0]["contentId"]
    return [{**e, "contentId": clip} for e in events if e.get("contentId") == first]


def music_session(clip: str, client: str, now: float) -> list[tuple[str, dict[str, Any]]]:
    """A music-clips app session (path, body): it plays ``clip``, adds and downloads it,
    and the app closes. Its first event names ``clip``, so the session is filed under it
    (an app start first would file it under no clip, as test_read_api's sessions show)."""
    def at(seconds: int) -> str:
        return (datetime.fromtimestamp(now, UTC) - timedelta(minutes=5)
                + timedelta(seconds=seconds)).isoformat()
    return [
        ("/play", {"clientId": client, "timestamp": at(5), "clipId": clip, "method": "Stream"}),
        ("/add", {"clientId": client, "timestamp": at(9), "clipId": clip, "method": "Stream"}),
        ("/download", {"clientId": client, "timestamp": at(12), "clipId": clip, "appId": 1,
                       "credentialId": 1, "country": "US"}),
        ("/app-close", {"clientId": client, "timestamp": at(20)}),
    ]
