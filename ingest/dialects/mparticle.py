"""mParticle media events (its public API page; the mapping is in docs/semantics.md).

Each event is a ``custom_event`` of ``custom_event_type: media`` whose
``event_name`` says what happened and whose ``custom_attributes`` carry the
media fields, numbers often as strings, durations and positions in
milliseconds. The mapping onto canonical events (docs/semantics.md):

* Play -> START, Pause -> STOP, Media Content End -> STOP (action end),
  Update Playhead Position -> HEARTBEAT, at ``playhead_position`` / 1000.
* Seek Start and Seek End -> two SEEK events that together move an open
  interval from where the seek began to where it landed, and do nothing while
  paused (see ``_seek``); each maps on its own, so it does not matter whether
  the pair arrives in one request or two.
* Buffer Start/End, Media Session Start/End, Update QoS, ads, segments,
  summaries and custom media events -> OTHER, with their attributes.

Session = ``media_session_id``; without one, the mParticle ``session_uuid``
and the clip (``<session_uuid>/<content_id>``), since an app session spans
many clips and Playhead's session is one play of one clip. Clip =
``content_id``, event id = ``mparticle:<event_id>``. The sequence number is
``timestamp_unixtime_ms * 16 + rank``: the player's clock orders the events
and, within one millisecond, the rank puts them in the order a player emits
them (session start, play, seek start, seek end, ..., pause, content end,
session end). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import quote

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from ingest.dialects.context import DialectContext
from ingest.dialects.fields import OUTSIDE_TIMES, out_of_bounds
from ingest.policy import EventRejected, Locate
from schemas.bounds import MAX_TIMESTAMP, MAX_VALUE_MS, encodable
from schemas.event import Action, EventKind, PlaybackEvent, derived_event_id

DIALECT = "mparticle"
SOURCE = "mParticle"
RANKS = 16  # room for every rank below, so ms * RANKS + rank never collides across ms


class Meaning(NamedTuple):
    kind: EventKind
    action: str
    rank: int  # order within one millisecond


# Actions the vocabulary (schemas/event.py Action) has no word for yet.
AD, SEGMENT, QOS, SUMMARY, CUSTOM = (
    Action.AD, Action.SEGMENT, Action.QOS, Action.SUMMARY, Action.CUSTOM)
_OTHER = EventKind.OTHER
MEANINGS: dict[str, Meaning] = {
    "Media Session Start": Meaning(_OTHER, Action.SESSION_START, 0),
    "Play": Meaning(EventKind.START, Action.PLAY, 1),
    "Buffer End": Meaning(_OTHER, Action.BUFFER_END, 2),
    "Seek Start": Meaning(EventKind.SEEK, Action.SEEK, 3),
    "Seek End": Meaning(EventKind.SEEK, Action.SEEK, 4),
    "Buffer Start": Meaning(_OTHER, Action.BUFFER_START, 5),
    "Update Playhead Position": Meaning(EventKind.HEARTBEAT, Action.PROGRESS, 6),
    "Update QoS": Meaning(_OTHER, QOS, 6),
    **{name: Meaning(_OTHER, AD, 6) for name in (
        "Ad Click", "Ad Break Start", "Ad Break End", "Ad Start", "Ad End", "Ad Skip")},
    **{name: Meaning(_OTHER, SEGMENT, 6) for name in (
        "Segment Start", "Segment End", "Segment Skip")},
    "Pause": Meaning(EventKind.STOP, Action.PAUSE, 7),
    "Media Content End": Meaning(EventKind.STOP, Action.END, 8),
    "Media Session End": Meaning(_OTHER, Action.SESSION_END, 9),
    # The Roku SDK's summary names, then the web media SDK's own for ads and segments.
    **{name: Meaning(_OTHER, SUMMARY, 10) for name in (
        "Ad Session Summary", "Segment Session Summary", "Media Session Summary",
        "Media Ad Summary", "Media Segment Summary")},
}
_BY_LOWER = {name.lower(): name for name in MEANINGS}
CUSTOM_MEANING = Meaning(_OTHER, CUSTOM, 6)  # an app's own media event name


def _text_id(value: object) -> object:
    # mParticle sends ids as strings or numbers; both are the same id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _unicode(value: str) -> str:
    # JSON can spell a lone surrogate (\ud800), which no UTF-8 text can hold: ids
    # go into event ids and Kafka keys, so it is refused here, named.
    if not encodable(value):
        raise PydanticCustomError("invalid_text", "must be valid Unicode text: it holds a lone "
                                                  "surrogate (such as \\ud800)")
    return value


def _shown(value: float) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} digits)"


def _representable_millis(value: int) -> int:
    if value >= MAX_TIMESTAMP * 1000:
        raise out_of_bounds(f"{OUTSIDE_TIMES}; {_shown(value)} ms after the epoch is not")
    return value


def _measured_millis(value: float) -> float:
    # A startup time or a stall: bounded like every measured duration, also on an event
    # that does not use it (it is kept as an attribute, and the bound is the field's).
    if value > MAX_VALUE_MS:
        raise out_of_bounds(f"a measured duration is at most {MAX_VALUE_MS} ms (a week); "
                            f"{_shown(value)} is not")
    return value


Id = Annotated[str, BeforeValidator(_text_id), Field(min_length=1, max_length=200),
               AfterValidator(_unicode),
               WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200},
                                         {"type": "integer"}]})]
Number = Annotated[float, Field(allow_inf_nan=False), WithJsonSchema(
    {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}],
     "description": "A number, also as a string such as \"120000\""})]
DurationMillis = Annotated[Number, AfterValidator(_measured_millis)]
Millis = Annotated[int, Field(ge=0), AfterValidator(_representable_millis), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}],
     "description": "Unix time in milliseconds, also as a string"})]


class MediaAttributes(BaseModel):
    """The media attributes Playhead reads; any other attribute is kept as given."""

    model_config = ConfigDict(extra="allow")

    content_id: Id = Field(description="The clip")
    media_session_id: Id | None = Field(None, description="The session; else session_uuid")
    content_duration: Number | None = Field(None, ge=0, description="Milliseconds")
    playhead_position: Number | None = Field(None, description="Milliseconds")
    seek_position: Number | None = Field(None, description="Milliseconds")
    buffer_position: Number | None = Field(None, description="Milliseconds")
    buffer_duration: DurationMillis | None = Field(None, ge=0, description="Milliseconds")
    qos_startup_time: DurationMillis | None = Field(None, ge=0, description="Milliseconds")
    player_name: str | None = Field(None, max_length=200, description="Becomes the source")


class MediaData(BaseModel):
    model_config = ConfigDict(extra="allow")

    custom_event_type: Literal["media"]
    event_name: str = Field(min_length=1, max_length=200)
    timestamp_unixtime_ms: Millis
    event_id: Id | None = Field(None, description="Dedupes retries; derived when absent")
    session_uuid: Id | None = None
    custom_flags: dict[str, Any] = Field(default_factory=dict)
    custom_attributes: MediaAttributes


class MParticleEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_type: Literal["custom_event"]
    data: MediaData


class MParticleBatch(BaseModel):
    """``{"events": [...]}``; each event is validated on its own (ingest/batch.py)."""

    model_config = ConfigDict(extra="allow")  # mParticle batches carry device/user context

    events: list[Any] = Field(min_length=1, description="mParticle media events")


def _seconds(millis: float | None) -> float | None:
    return None if millis is None else millis / 1000.0


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # "120000" came in, "120000" goes out, not "120000.0"
    return json.dumps(value, separators=(",", ":"))


def meaning_of(name: str) -> tuple[str, Meaning]:
    """The canonical spelling of a known name (matched ignoring case) and its meaning."""
    known = _BY_LOWER.get(name.strip().lower())
    return (known, MEANINGS[known]) if known else (name, CUSTOM_MEANING)


def _seek(name: str, media: MediaAttributes, path: str) -> tuple[float, float]:
    """(position, seek_to) in seconds of a Seek Start or Seek End.

    The core's SEEK closes an open interval at ``position`` and reopens it at
    ``seek_to``, and is ignored while nothing is open (paused). So:
    Seek Start = SEEK from the seek's origin to itself: the listened part ends
    there, playback stays "open" at the origin; Seek End = SEEK from 0 to the
    landing: the stretch spent seeking (origin .. 0) is empty and discarded,
    and playback reopens where the seek landed. Paused, both are ignored.
    """
    where = media.seek_position if media.seek_position is not None else media.playhead_position
    if where is None:
        raise EventRejected(f"{path}.seek_position", "missing",
                            f"{path}.seek_position: a {name} needs seek_position "
                            "(or playhead_position), in milliseconds")
    seconds = where / 1000.0
    return (seconds, seconds) if name == "Seek Start" else (0.0, seconds)


def _position_field(name: str, media: MediaAttributes) -> str | None:
    """The attribute an event's position comes from; None when the player left it out."""
    if name.startswith("Buffer") and media.buffer_position is not None:
        return "buffer_position"
    if media.playhead_position is not None:
        return "playhead_position"
    if name == "Media Content End" and media.content_duration is not None:
        return "content_duration"  # ended: the playhead is at the end
    return None


def _position(name: str, media: MediaAttributes) -> tuple[float, bool]:
    """Position in seconds, and whether the player left it out (the SDKs omit a 0)."""
    field = _position_field(name, media)
    if field is None:
        return 0.0, True
    return float(getattr(media, field)) / 1000.0, False


def session_of(event: MParticleEvent) -> str | None:
    """``media_session_id``; without it, the app session and the clip.

    An mParticle session (``session_uuid``) spans everything the app did, many
    clips among it, while Playhead's session is one play of one clip: keyed by
    the app session alone, two clips would merge into one session and their
    intervals into one timeline. Both parts are percent-encoded, so no pair of
    other ids can spell the same session.
    """
    data, media = event.data, event.data.custom_attributes
    if media.media_session_id:
        return media.media_session_id
    if data.session_uuid:
        return f"{quote(data.session_uuid, safe='')}/{quote(media.content_id, safe='')}"
    return None


def locate(event: MParticleEvent, path: str = "") -> Locate:
    """Where each canonical field of ``event``'s canonical events came from."""
    data, media = event.data, event.data.custom_attributes
    name, meaning = meaning_of(data.event_name)
    attributes = "data.custom_attributes"
    where_seek = "seek_position" if media.seek_position is not None else "playhead_position"
    position = (where_seek if meaning.kind is EventKind.SEEK
                else _position_field(name, media) or "playhead_position")
    session = (f"{attributes}.media_session_id" if media.media_session_id
               else "data.session_uuid")
    names = {"position_seconds": f"{attributes}.{position}",
             "seek_to_seconds": f"{attributes}.{where_seek}",
             "clip_length_seconds": f"{attributes}.content_duration",
             "timestamp": "data.timestamp_unixtime_ms",
             "sequence_number": "data.timestamp_unixtime_ms",
             "event_id": "data.event_id" if data.event_id else session,
             "session_id": session, "organization_id": "organizationId",
             "clip_id": f"{attributes}.content_id", "source": f"{attributes}.player_name",
             "action": "data.event_name", "attributes": attributes}
    prefix = f"{path}." if path else ""

    def where(canonical_event: PlaybackEvent, canonical: str) -> str:
        if canonical == "value_ms":
            return prefix + attributes + (".qos_startup_time"
                                          if canonical_event.action == Action.STARTUP
                                          else ".buffer_duration")
        head, dot, rest = canonical.partition(".")
        return prefix + names.get(head, head) + dot + rest
    return where


def to_events(event: MParticleEvent, context: DialectContext) -> list[PlaybackEvent]:
    """The canonical events of one mParticle event (one; two for QoS with a startup time)."""
    data, media = event.data, event.data.custom_attributes
    organization, received_at = context.organization, context.received_at
    session = session_of(event)
    if session is None:
        where = context.at("data.custom_attributes.media_session_id")
        raise EventRejected(where, "missing", f"{where}: the event names no media session "
                                              "(nor data.session_uuid)")
    name, meaning = meaning_of(data.event_name)
    stamped = context.stamp(data.timestamp_unixtime_ms / 1000.0, "data.timestamp_unixtime_ms")
    # Our own keys win over custom attributes of the same name.
    attributes = {key: _string(value) for key, value in (media.model_extra or {}).items()
                  if value is not None}
    attributes.update({k: _string(v) for k, v in media.model_dump(exclude_none=True).items()})
    attributes["event"] = name
    if data.session_uuid:
        attributes["session_uuid"] = data.session_uuid
    if stamped.adjusted:
        attributes["timestamp_adjusted"] = f"{stamped.adjusted}:{data.timestamp_unixtime_ms}"
    seek_to: float | None = None
    if meaning.kind is EventKind.SEEK:
        position, seek_to = _seek(name, media, context.at("data.custom_attributes"))
    else:
        position, missing = _position(name, media)
        if missing:
            attributes["position_missing"] = "true"
    value_ms = None
    if meaning.action == Action.BUFFER_END and media.buffer_duration is not None:
        value_ms = round(media.buffer_duration)
    # The player's clock orders a session; the rank orders events of one millisecond.
    sequence = data.timestamp_unixtime_ms * RANKS + meaning.rank
    main = PlaybackEvent(
        event_id=(f"{DIALECT}:{quote(data.event_id, safe='')}" if data.event_id
                  else derived_event_id(DIALECT, organization, session, sequence)),
        organization_id=organization,
        session_id=session,
        clip_id=media.content_id,
        source=media.player_name or SOURCE,
        kind=meaning.kind,
        action=str(meaning.action),
        position_seconds=position,
        seek_to_seconds=seek_to,
        sequence_number=max(sequence, 1),
        timestamp=stamped.timestamp,
        dialect=DIALECT,
        received_at=received_at,
        value_ms=value_ms,
        clip_length_seconds=_seconds(media.content_duration),
        attributes=attributes,
    )
    if meaning.action != QOS or media.qos_startup_time is None:
        return [main]
    # The SDKs repeat the startup time on every later QoS update; one startup
    # per session, whatever the number of updates: its id is the session's.
    startup = dataclasses.replace(
        main, event_id=f"{DIALECT}:{quote(organization, safe='')}:{quote(session, safe='')}"
                       ":startup",
        action=Action.STARTUP.value, value_ms=round(media.qos_startup_time))
    return [main, startup]
