"""api.video-style player session events (its public API page; the mapping is in docs/semantics.md).

api.video publishes a read API that lists the events a player emitted in one
session (ready, play, pause, resume, seek.forward, seek.backward, end, each
with ``at`` or ``from``/``to`` and ``emittedAt``). Playhead accepts the same
event objects on a write route, ``POST /v1/player-sessions/{sessionId}/events``
with ``{"videoId", "offset", "completed", "events"}``; docs/semantics.md
has the mapping and a worked example. The choices that shape it:

* sequence_number = ``offset + index + 1``: the event's place in the
  session's whole event list. A player that sends its session in several
  requests says in ``offset`` how many events it sent before, so the order
  holds across requests even where ``emittedAt`` ties (the player stamps whole
  seconds and emits a seek together with its pause and resume).
* event_id = ``apivideo:<organization>:<session>:<sequence>:<digest>``: the
  sequence makes a retried request's ids equal, and the digest of the event's
  content keeps two different events apart if a player reuses an offset, so
  a client mistake duplicates nothing and loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ingest.dialects.context import DialectContext
from ingest.dialects.fields import Identifier, IsoTimestamp, Seconds
from ingest.policy import Locate
from schemas.event import Action, EventKind, PlaybackEvent

DIALECT = "apivideo"
MAX_EVENTS = 1000

EventType = Literal["ready", "play", "pause", "resume", "end", "seek.forward", "seek.backward"]
SEEKS = ("seek.forward", "seek.backward")



class PlayerEvent(BaseModel):
    """One event as the player emitted it: ``at`` for every type but the seeks,
    which carry ``from`` and ``to`` instead."""

    model_config = ConfigDict(extra="forbid")

    # type comes first: the validators below read it.
    type: EventType
    emittedAt: IsoTimestamp = Field(description="When the player emitted it, ISO 8601")
    at: Seconds | None = Field(None, description="Position in the video, seconds (all but seeks)")
    from_: Seconds | None = Field(None, alias="from",
                                  description="Seeks: position before the seek, seconds")
    to: Seconds | None = Field(None, description="Seeks: position after the seek, seconds")

    @model_validator(mode="before")
    @classmethod
    def _positions_always_checked(cls, value: Any) -> Any:
        # Absent positions become explicit nulls, so the checks below run and name
        # the field as sent ("from"; a default would be reported as "from_").
        if isinstance(value, dict):
            return {"at": None, "from": None, "to": None, **value}
        return value

    @field_validator("at")
    @classmethod
    def _at_unless_seek(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("type")
        if value is None and kind is not None and kind not in SEEKS:
            raise PydanticCustomError("missing", "Field required for a {kind} event",
                                      {"kind": kind})
        return value

    @field_validator("from_", "to")
    @classmethod
    def _ends_of_seek(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("type")
        if value is None and kind in SEEKS:
            raise PydanticCustomError("missing", "Field required for a {kind} event",
                                      {"kind": kind})
        return value


class PlayerSessionEvents(BaseModel):
    """Events of one player session, in the order the player emitted them."""

    model_config = ConfigDict(extra="forbid")

    videoId: Identifier = Field(description="The video the session plays")
    # offset + the events must stay sequence numbers (schemas/bounds.py): checked with the
    # other bounds, which name "offset" when they do not.
    offset: int = Field(0, ge=0, description=(
        "How many events of this session earlier requests carried (0 for the first): the "
        "first event here is number offset + 1 of the session. A retry sends the same. "
        "offset + the number of events is at most 2^63-1."))
    completed: bool = Field(False, description=(
        "The player is done with this session (unloaded, closed): it can be closed as soon "
        "as every event up to this request's last has arrived, without waiting for it to "
        "go idle."))
    events: list[PlayerEvent] = Field(min_length=1, json_schema_extra={"maxItems": MAX_EVENTS},
                                      description=f"1 to {MAX_EVENTS} events, oldest first")


# type -> (kind, action) on the session timeline.
TIMELINE: dict[str, tuple[EventKind, Action]] = {
    "ready": (EventKind.OTHER, Action.READY),
    "play": (EventKind.START, Action.PLAY),
    "resume": (EventKind.START, Action.RESUME),
    "pause": (EventKind.STOP, Action.PAUSE),
    "end": (EventKind.STOP, Action.END),
    "seek.forward": (EventKind.SEEK, Action.SEEK),
    "seek.backward": (EventKind.SEEK, Action.SEEK),
}


def event_id(organization: str, session: str, sequence: int, event: PlayerEvent) -> str:
    content = json.dumps(event.model_dump(mode="json", by_alias=True), sort_keys=True,
                         separators=(",", ":"))
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    return f"{DIALECT}:{organization}:{session}:{sequence}:{digest}"


def read_scrubs(items: list[PlayerEvent]) -> tuple[dict[int, float], set[int]]:
    """How this player reports a jump, read from the order of its events.

    When the viewer drags the playhead, the player emits, in one second, a
    ``pause`` and a ``resume`` both *at the destination*, then the seek from
    where it was. After a replay it emits ``play`` at 0 and then the seek from
    the end. Taken literally, the pause would close the interval at the
    destination and the seek would close it again at its ``from``, counting
    time nobody watched. So: a seek right after a play/resume at its ``to``
    only restates that jump (it carries no interval), and a pause at that
    same destination just before really happened at the seek's ``from``.
    Returns (pause index -> corrected position, restated seek indexes).
    """
    corrected: dict[int, float] = {}
    restated: set[int] = set()
    for index, item in enumerate(items):
        if item.type not in SEEKS or index == 0:
            continue
        before = items[index - 1]
        if before.type in ("play", "resume") and before.at == item.to:
            restated.add(index)
            paused = items[index - 2] if index >= 2 else None
            if paused is not None and paused.type == "pause" and paused.at == item.to:
                corrected[index - 2] = item.from_ or 0.0
    return corrected, restated


@dataclass(frozen=True, slots=True)
class PlayerSession:
    """What the dialect converts: a request's events and the session its path names."""

    session_id: str
    request: PlayerSessionEvents


def locate(body: PlayerSession, path: str = "") -> Locate:
    """Where each canonical field of the request's events came from."""
    request = body.request

    def named(canonical: PlaybackEvent, field: str) -> str:
        name = where(canonical, field)
        return f"{path}.{name}" if path else name

    def where(event: PlaybackEvent, canonical: str) -> str:
        if canonical == "sequence_number":
            return "offset"
        if canonical in ("clip_id", "event_id"):
            return "videoId" if canonical == "clip_id" else "sessionId"
        if canonical == "session_id":
            return "sessionId"
        index = event.sequence_number - request.offset - 1
        item = request.events[index]
        name = {"position_seconds": "from" if item.type in SEEKS else "at",
                "seek_to_seconds": "to", "timestamp": "emittedAt"}.get(canonical, canonical)
        return f"events[{index}].{name}"
    return named


def to_events(body: PlayerSession, context: DialectContext) -> list[PlaybackEvent]:
    """Canonical events of one request; raises EventRejected for the first event that
    cannot be taken (the request is then refused whole)."""
    request, session_id, organization = body.request, body.session_id, context.organization
    events = []
    corrected, restated = read_scrubs(request.events)
    for index, item in enumerate(request.events):
        sequence = request.offset + index + 1
        original = item.emittedAt.timestamp()
        stamped = context.stamp(original, f"events[{index}].emittedAt")
        kind, action = TIMELINE[item.type]
        attributes: dict[str, str] = {"event": item.type}
        position = (item.from_ if item.type in SEEKS else item.at) or 0.0
        if item.type in SEEKS:
            attributes["direction"] = item.type.removeprefix("seek.")
        if index in restated:
            kind = EventKind.OTHER  # counted as a seek, but the jump is already on the timeline
            attributes["restated"] = "true"
        if index in corrected:
            attributes["reported_at"] = f"{position:.15g}"
            position = corrected[index]
        if stamped.adjusted:
            attributes["timestamp_adjusted"] = f"{stamped.adjusted}:{original:.15g}"
        events.append(PlaybackEvent(
            event_id=event_id(organization, session_id, sequence, item),
            organization_id=organization,
            session_id=session_id,
            clip_id=request.videoId,
            source=DIALECT,
            kind=kind,
            action=action,
            # A seek moves the playhead from `from` to `to`; every other type is at `at`.
            position_seconds=position,
            seek_to_seconds=item.to if item.type in SEEKS else None,
            sequence_number=sequence,
            timestamp=stamped.timestamp,
            session_complete=request.completed,
            dialect=DIALECT,
            received_at=context.received_at,
            attributes=attributes,
        ))
    return events
