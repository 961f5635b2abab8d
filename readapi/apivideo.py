"""Canonical session events back in api.video's vocabulary (pure).

The gateway maps every dialect onto canonical actions (docs/semantics.md);
this is the way back for the session events listing. Only what api.video's
players emit is listed: ready, play, resume, pause, end and the two seeks.
Heartbeats, quality and engagement events have no api.video name and are
left out (they count in the other endpoints). An event without an action
(an older producer) is named by its kind: a start is a play, a stop a pause.

Music-clips sessions are app sessions of one event per request, none of them
a playback event (kind OTHER): app start and close, clip and track plays,
adds, shares and downloads. They are named too, so such a session lists
what it holds: the start as ``ready``, the plays as ``play``, the close as
``end``, and adds, shares and downloads under their own names (types
api.video does not have, documented in docs/read-api.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

NAMED = ("ready", "play", "resume", "pause", "end")
SEEKS = ("seek.forward", "seek.backward")
# Music-clips actions (kind OTHER) and their listed types.
APP_EVENTS = {"app_start": "ready", "clip_play": "play", "track_play": "play",
              "app_close": "end", "add": "add", "share": "share", "download": "download"}
# The SQL filter that selects exactly the events ``to_item`` names, so the
# page's item count and the total agree (a test checks every combination).
LISTED_SQL = ("(attributes['event'] IN ('ready', 'play', 'resume', 'pause', 'end') "
              "OR seek_to_seconds IS NOT NULL AND (attributes['event'] IN "
              "('seek.forward', 'seek.backward') OR kind = 'SEEK' OR action = 'seek') "
              "OR kind != 'SEEK' AND action != 'seek' "
              "AND (action IN ('ready', 'play', 'resume', 'pause', 'end') "
              "OR kind IN ('START', 'STOP')) "
              "OR kind = 'OTHER' AND action IN ('app_start', 'clip_play', 'track_play', "
              "'app_close', 'add', 'share', 'download'))")


def emitted_at(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z, as api.video writes it."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def seconds(value: float) -> int | float:
    # Whole seconds read as integers, as on the reference page; otherwise
    # milliseconds are the precision players report.
    rounded = round(float(value), 3)
    return int(rounded) if rounded.is_integer() else rounded


def event_type(kind: str, action: str, position: float, seek_to: float | None) -> str | None:
    # A dialect may report a seek as its own kind or, when the pause and
    # resume around it already move the playhead, as an informational action.
    if kind == "SEEK" or action == "seek":
        if seek_to is None:
            return None
        # A seek to the same position counts as forward, as on the reference page.
        return "seek.forward" if seek_to >= position else "seek.backward"
    if action in NAMED:
        return action
    if kind == "OTHER" and action in APP_EVENTS:
        return APP_EVENTS[action]
    if kind == "START":
        return "play"
    if kind == "STOP":
        return "pause"
    return None


def to_item(kind: str, action: str, position: float, seek_to: float | None,
            timestamp: datetime, attributes: Mapping[str, str] | None = None
            ) -> dict[str, Any] | None:
    """One listed event, keys in the reference page's order; None if not listed.

    An event that came in as api.video's is listed as the player sent it: its
    own name, and the position it reported where the gateway corrected one
    (a pause reported at the scrub's destination, attributes ``reported_at``).
    """
    attributes = attributes or {}
    original = attributes.get("event", "")
    if original in NAMED or (original in SEEKS and seek_to is not None):
        name: str | None = original
    else:
        name = event_type(kind, action, position, seek_to)
    if name is None:
        return None
    if name.startswith("seek."):
        assert seek_to is not None
        return {"emittedAt": emitted_at(timestamp), "from": seconds(position),
                "to": seconds(seek_to), "type": name}
    reported = _number(attributes.get("reported_at"))
    at = position if reported is None else reported
    return {"at": seconds(at), "emittedAt": emitted_at(timestamp), "type": name}


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None
