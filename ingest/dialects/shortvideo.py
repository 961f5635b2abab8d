"""Short-video engagement events (its public API page; the mapping is in docs/semantics.md).

One event is an envelope (eventType, contentId, sessionId, deviceId, userId,
timestamp, eventId) plus ``data`` whose fields depend on the type. The
mapping onto canonical events is in docs/semantics.md; the choices
that shape it:

* Canonical session = viewing session x content: ``<sessionId>/<contentId>``.
  A feed session covers many videos, while Playhead's session is one play of
  one clip, so each video watched in a feed session gets its own.
* sequence_number = the event's timestamp in milliseconds. The dialect has no
  sequence, only times; a number derived from the time orders events the way
  their times do, whichever request carried them, and a retry carries the
  same time and so the same number.
* event_id = eventId when sent, otherwise a digest of the event's content
  (organization included), so a retried event gets the same id and counts once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ingest.dialects.context import DialectContext
from ingest.dialects.fields import (
    Identifier,
    IsoTimestamp,
    KeyPart,
    Seconds,
    Text,
    documented_as_list_of,
)
from ingest.policy import Locate
from schemas.bounds import MAX_VALUE_MS
from schemas.event import Action, EventKind, PlaybackEvent

DIALECT = "shortvideo"
MAX_BATCH = 100

EventType = Literal["impression", "playStart", "watchProgress", "completion", "swipe", "like",
                    "share", "save", "rebuffer", "qualityChange", "error"]

# Bounded like every measured duration (schemas/bounds.py MAX_VALUE_MS), by the gateway's
# bounds check, which names the field with reason out_of_bounds; documented here.
Milliseconds = Annotated[int, Field(ge=0, json_schema_extra={"maximum": MAX_VALUE_MS})]


class _Data(BaseModel):
    # Fields the page does not list are ignored, not refused: data is an open object.
    model_config = ConfigDict(extra="ignore")


class ShortVideoNoData(_Data):
    """like and save carry no data."""


class ShortVideoImpressionData(_Data):
    position: int = Field(ge=0, description="Place in the feed, counted from 0")
    entryPoint: Literal["feed", "search", "direct", "share"] | None = None
    feedId: Identifier | None = Field(None, description="Feed session id")


class ShortVideoPlayStartData(_Data):
    startupTime: Milliseconds = Field(description="Time to first frame, ms")
    rendition: Text | None = Field(None, description="Initial quality")
    codec: Text | None = None
    autoplay: bool | None = None
    currentTime: Seconds | None = Field(
        None, description="Playhead addition: where playback starts, seconds (default 0)")


class ShortVideoWatchProgressData(_Data):
    currentTime: Seconds = Field(description="Playback position, seconds")
    duration: Seconds = Field(description="Length of the video, seconds")
    percentComplete: float | None = Field(None, ge=0, allow_inf_nan=False)
    rendition: Text | None = None


class ShortVideoCompletionData(_Data):
    watchTime: Seconds = Field(description="Total time watched, seconds")
    looped: bool
    loopCount: int | None = Field(None, ge=0)
    duration: Seconds | None = Field(
        None, description="Playhead addition: length of the video, seconds; the completion "
                          "then closes the watched interval exactly at the end")


class ShortVideoSwipeData(_Data):
    fromContentId: Identifier
    toContentId: Identifier
    watchTime: Seconds = Field(description="Time spent on fromContentId, seconds")
    currentTime: Seconds | None = Field(
        None, description="Playhead addition: position in fromContentId when the viewer left")


class ShortVideoShareData(_Data):
    platform: Text


class ShortVideoRebufferData(_Data):
    duration: Milliseconds = Field(description="Length of the stall, ms")
    currentTime: Seconds = Field(description="Position when playback stalled, seconds")
    rendition: Text | None = None


class ShortVideoQualityChangeData(_Data):
    fromQuality: Text
    toQuality: Text


class ShortVideoErrorData(_Data):
    errorCode: Annotated[str, StringConstraints(min_length=1, max_length=128)] | int
    errorMessage: Annotated[str, StringConstraints(max_length=2000)]


EventData = (
    ShortVideoImpressionData | ShortVideoPlayStartData | ShortVideoWatchProgressData
    | ShortVideoCompletionData | ShortVideoSwipeData | ShortVideoShareData
    | ShortVideoRebufferData | ShortVideoQualityChangeData | ShortVideoErrorData
    | ShortVideoNoData
)

DATA: dict[str, type[_Data]] = {
    "impression": ShortVideoImpressionData,
    "playStart": ShortVideoPlayStartData,
    "watchProgress": ShortVideoWatchProgressData,
    "completion": ShortVideoCompletionData,
    "swipe": ShortVideoSwipeData,
    "like": ShortVideoNoData,
    "share": ShortVideoShareData,
    "save": ShortVideoNoData,
    "rebuffer": ShortVideoRebufferData,
    "qualityChange": ShortVideoQualityChangeData,
    "error": ShortVideoErrorData,
}


class ShortVideoEvent(BaseModel):
    """One engagement event. ``data`` holds the fields of its ``eventType``."""

    model_config = ConfigDict(extra="forbid")

    # eventType comes first: the validators below read it to check the rest.
    eventType: EventType
    eventId: Identifier | None = Field(None, description="Unique per event; a retry sends "
                                       "the same. Without it Playhead derives one.")
    contentId: Identifier | None = Field(
        None, validate_default=True,
        description="The video; required except for swipe, which names fromContentId")
    userId: Identifier | None = None
    deviceId: Identifier
    sessionId: KeyPart
    timestamp: IsoTimestamp | None = Field(None, description="ISO 8601; server time if absent")
    data: EventData = Field(default_factory=ShortVideoNoData, validate_default=True,
                            description="The fields of the event's type")

    @field_validator("contentId")
    @classmethod
    def _content_required(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("eventType")
        if value is None and kind not in (None, "swipe"):
            raise PydanticCustomError("missing", "Field required for a {kind} event",
                                      {"kind": kind})
        return value

    @field_validator("data", mode="before")
    @classmethod
    def _data_of_type(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("eventType")
        if kind is None:
            return ShortVideoNoData()  # eventType is invalid and already reported: no noise here
        if isinstance(value, ShortVideoNoData) and kind in ("like", "save"):
            return value
        return DATA[kind].model_validate({} if isinstance(value, ShortVideoNoData) else value)

    def clip(self) -> str:
        if isinstance(self.data, ShortVideoSwipeData):
            return self.data.fromContentId
        assert self.contentId is not None  # required for every other type
        return self.contentId


class ShortVideoBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Validated one by one in the route (a bad event must not sink the batch), so
    # the model takes the raw list; the schema still documents the events.
    events: Annotated[list[Any], documented_as_list_of(ShortVideoEvent)] = Field(
        json_schema_extra={"minItems": 1, "maxItems": MAX_BATCH},
        description=f"1 to {MAX_BATCH} events")


def derived_id(event: ShortVideoEvent, organization: str) -> str:
    """Digest of everything the client said, so a retried event gets the same id."""
    content = event.model_dump(mode="json", exclude={"eventId"})
    text = json.dumps([organization, content], sort_keys=True, separators=(",", ":"))
    return f"{DIALECT}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _details(data: EventData) -> dict[str, str]:
    """The data fields kept as attributes, under snake_case names."""
    names = {"entryPoint": "entry_point", "feedId": "feed_id", "position": "feed_position",
             "rendition": "rendition", "codec": "codec", "autoplay": "autoplay",
             "percentComplete": "percent_complete", "watchTime": "watch_time",
             "looped": "looped", "loopCount": "loop_count", "toContentId": "to_content_id",
             "platform": "platform", "fromQuality": "from_quality", "toQuality": "to_quality",
             "errorCode": "error_code", "errorMessage": "error_message"}
    values = data.model_dump(exclude_none=True)
    return {attribute: _text(values[name]) for name, attribute in names.items() if name in values}


# eventType -> (kind, action) on the session timeline.
TIMELINE: dict[str, tuple[EventKind, Action]] = {
    "impression": (EventKind.OTHER, Action.IMPRESSION),
    "playStart": (EventKind.START, Action.PLAY),
    "watchProgress": (EventKind.HEARTBEAT, Action.PROGRESS),
    "completion": (EventKind.STOP, Action.COMPLETION),
    "swipe": (EventKind.STOP, Action.SWIPE),
    "like": (EventKind.OTHER, Action.LIKE),
    "share": (EventKind.OTHER, Action.SHARE),
    "save": (EventKind.OTHER, Action.SAVE),
    "rebuffer": (EventKind.OTHER, Action.REBUFFER),
    "qualityChange": (EventKind.OTHER, Action.QUALITY_CHANGE),
    "error": (EventKind.OTHER, Action.ERROR),
}


def _position(data: EventData) -> float:
    """Where on the video's timeline the event happened, seconds."""
    if isinstance(data, ShortVideoPlayStartData):
        return data.currentTime or 0.0
    if isinstance(data, ShortVideoWatchProgressData | ShortVideoRebufferData):
        return data.currentTime
    if isinstance(data, ShortVideoCompletionData):
        # The end of the video. Without its length, the watch time: exact for a
        # loop-free watch from the start, which is what a completion usually is.
        return data.duration if data.duration is not None else data.watchTime
    if isinstance(data, ShortVideoSwipeData):
        return data.currentTime if data.currentTime is not None else data.watchTime
    return 0.0


def _clip_length(data: EventData) -> float | None:
    if isinstance(data, ShortVideoWatchProgressData | ShortVideoCompletionData):
        return data.duration
    return None


def locate(event: ShortVideoEvent, path: str = "") -> Locate:
    """Where each canonical field of ``event``'s canonical events came from."""
    data = event.data
    if isinstance(data, ShortVideoCompletionData):
        position = "data.duration" if data.duration is not None else "data.watchTime"
    elif isinstance(data, ShortVideoSwipeData):
        position = "data.currentTime" if data.currentTime is not None else "data.watchTime"
    else:
        position = "data.currentTime"
    names = {"position_seconds": position, "clip_length_seconds": "data.duration",
             "timestamp": "timestamp", "sequence_number": "timestamp", "event_id": "eventId",
             "session_id": "sessionId",
             "clip_id": "data.fromContentId" if event.eventType == "swipe" else "contentId"}

    def where(canonical_event: PlaybackEvent, canonical: str) -> str:
        if canonical == "value_ms":
            startup = canonical_event.action == Action.STARTUP
            name = "data.startupTime" if startup else "data.duration"
        else:
            # Attributes come from data (and the ids, which their own patterns bound).
            name = names.get(canonical, "data")
        return f"{path}.{name}" if path else name
    return where


def to_events(event: ShortVideoEvent, context: DialectContext) -> list[PlaybackEvent]:
    """Canonical events of one engagement event (two for playStart: the start and its
    startup time). ``context.path`` locates the event in the request, e.g. ``events[3]``."""
    organization = context.organization
    original = event.timestamp.timestamp() if event.timestamp is not None else None
    stamped = context.stamp(original, "timestamp")
    kind, action = TIMELINE[event.eventType]
    attributes = {"event": event.eventType, "device_id": event.deviceId, **_details(event.data)}
    if event.userId is not None:
        attributes["user_id"] = event.userId
    if stamped.adjusted == "missing":
        attributes["timestamp_adjusted"] = "missing"
    elif stamped.adjusted:
        attributes["timestamp_adjusted"] = f"{stamped.adjusted}:{original:.15g}"
    event_id = event.eventId or derived_id(event, organization)
    clip = event.clip()
    common: dict[str, Any] = {
        "organization_id": organization,
        "session_id": f"{event.sessionId}/{clip}",
        "clip_id": clip,
        "source": DIALECT,
        "sequence_number": max(1, round(stamped.timestamp * 1000)),
        "timestamp": stamped.timestamp,
        "dialect": DIALECT,
        "received_at": context.received_at,
    }
    value_ms = event.data.duration if isinstance(event.data, ShortVideoRebufferData) else None
    events = [PlaybackEvent(
        event_id=event_id, kind=kind, action=action, position_seconds=_position(event.data),
        clip_length_seconds=_clip_length(event.data), value_ms=value_ms,
        attributes=attributes, **common)]
    if isinstance(event.data, ShortVideoPlayStartData):
        # A separate event, so the startup time is an action of its own that
        # quality figures count like a rebuffer, without touching the timeline.
        events.append(PlaybackEvent(
            event_id=f"{event_id}:startup", kind=EventKind.OTHER, action=Action.STARTUP,
            position_seconds=_position(event.data), value_ms=event.data.startupTime,
            attributes=attributes, **common))
    return events
