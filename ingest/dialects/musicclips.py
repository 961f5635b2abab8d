"""Music clips event tracking (its public API page; the mapping is in docs/semantics.md).

One request is one event: ``/app-start``, ``/app-close``, ``/play``,
``/track-play``, ``/add``, ``/share``, ``/download``. These events pay rights
holders, so each accepted request becomes exactly one canonical OTHER event
whose action names the endpoint (clip_play, track_play, add, share, download,
app_start, app_close) and whose attributes keep what the player said.

Exactness rests on the event id, because the API sends none. It is derived
from organization, clientId, endpoint, clip (or track) and the client's own
timestamp to the millisecond, so a retried request dedupes; the cost is that
two distinct plays of one clip by one client stamped with the same instant
collapse into one. A client that sends an ``Idempotency-Key`` header gets
that key in place of the timestamp, which keeps such plays apart.

Pure: no I/O; the receive time and the rights decision are passed in.
docs/semantics.md explains every choice.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from ingest.dialects.context import DialectContext
from ingest.dialects.fields import in_utc, zoned
from ingest.policy import Locate, fields_at
from ingest.rights import UNCHECKED, Decision, FailureCode, Identifier
from schemas.event import Action, EventKind, PlaybackEvent

DIALECT = "musicclips"
SOURCE = "MusicClips"
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class Endpoint(enum.StrEnum):
    APP_START = "app-start"
    APP_CLOSE = "app-close"
    PLAY = "play"
    TRACK_PLAY = "track-play"
    ADD = "add"
    SHARE = "share"
    DOWNLOAD = "download"


ACTIONS = {
    Endpoint.APP_START: Action.APP_START, Endpoint.APP_CLOSE: Action.APP_CLOSE,
    Endpoint.PLAY: Action.CLIP_PLAY, Endpoint.TRACK_PLAY: Action.TRACK_PLAY,
    Endpoint.ADD: Action.ADD, Endpoint.SHARE: Action.SHARE, Endpoint.DOWNLOAD: Action.DOWNLOAD,
}


def _since_2000(value: datetime) -> datetime:
    # in_utc refuses times outside the bounds, also those with no UTC form; the
    # client's own offset is kept, as the flagged attribute quotes it.
    if in_utc(value) < EARLIEST:
        raise ValueError("must be later than 2000-01-01T00:00:00Z")
    return zoned(value)


def _method(value: object) -> object:
    return value.strip().capitalize() if isinstance(value, str) else value


def _printable(value: str) -> str:
    if not value.strip() or not value.isprintable():
        raise ValueError("must be printable and not blank")
    return value


Timestamp = Annotated[datetime, AfterValidator(_since_2000), Field(
    description="When it happened: ISO-8601 (e.g. 2024-10-26T10:01:00Z; no zone means UTC) "
                "or unix seconds")]
Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
Flag = Annotated[bool, WithJsonSchema(
    {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}],
     "description": "true/false, also as the strings \"true\"/\"false\""})]
Count = Annotated[int, Field(ge=0), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}]})]
Method = Annotated[Literal["Stream", "Sync"], BeforeValidator(_method), Field(
    description="Stream: the music is not fixed into one file with other media; Sync: "
                "synchronized with video content (case-insensitive)")]


class ClipsEvent(BaseModel):
    """What every endpoint's body carries."""

    model_config = ConfigDict(extra="forbid")

    clientId: Text = Field(description="The listener's stable client id")
    timestamp: Timestamp | None = None  # required by every endpoint but /track-play
    sessionId: Annotated[str | None, Field(
        None, min_length=1, max_length=100, pattern=r"^[^:/\s]+$",
        description="Playhead extension: the app session, when the player knows one; "
                    "groups the client's events instead of the UTC day")]


class AppStart(ClipsEvent):
    timestamp: Timestamp
    platform: Text | None = Field(None, description="e.g. ios, android, web")


class AppClose(ClipsEvent):
    timestamp: Timestamp


class Play(ClipsEvent):
    timestamp: Timestamp
    clipId: Identifier
    method: Method
    preview: Flag | None = None
    offline: Flag | None = None


class TrackPlay(ClipsEvent):
    trackId: Identifier


class Add(ClipsEvent):
    timestamp: Timestamp
    clipId: Identifier
    method: Method


class Share(ClipsEvent):
    timestamp: Timestamp
    clipId: Identifier
    platform: Text = Field(description="Where it was shared, e.g. instagram")
    shareUri: Annotated[str | None, Field(None, min_length=1, max_length=2048)]


class Download(ClipsEvent):
    timestamp: Timestamp
    clipId: Identifier
    appId: Count | None = None
    credentialId: Count | None = None
    country: Annotated[str | None, Field(None, pattern=r"^[A-Za-z]{2}$",
                                         description="ISO 3166-1 alpha-2, e.g. US")]


MODELS: dict[Endpoint, type[ClipsEvent]] = {
    Endpoint.APP_START: AppStart, Endpoint.APP_CLOSE: AppClose, Endpoint.PLAY: Play,
    Endpoint.TRACK_PLAY: TrackPlay, Endpoint.ADD: Add, Endpoint.SHARE: Share,
    Endpoint.DOWNLOAD: Download,
}


class AppStartAnswer(BaseModel):
    appId: int = Field(description="Stable per organization and clientId")


class PlayAnswer(BaseModel):
    success: bool = Field(description="Whether the clip may be played")
    reason: str | None = Field(None, description="Readable reason, when success is false")
    code: FailureCode | None = Field(None, description="Failure code, when success is false")

    @classmethod
    def of(cls, decision: Decision) -> PlayAnswer:
        if decision.granted:
            return cls(success=True)
        return cls(success=False, reason=decision.reason, code=decision.code)


def app_id(organization: str, client_id: str) -> int:
    """The appId answered by /app-start: the same for a client on every gateway, forever.

    Derived, not stored, so replicas and restarts agree without a table: the
    first 52 bits of SHA-256 over organization and clientId (a safe integer in
    JavaScript; two clients share one only by a 1-in-4.5e15 chance per pair).
    """
    digest = hashlib.sha256(f"{organization}\0{client_id}".encode()).digest()
    return int.from_bytes(digest[:7], "big") >> 4 or 1


def _part(text: str) -> str:
    # Free-form ids are percent-encoded inside derived ids, so ':' separates unambiguously.
    return quote(text, safe="")


def _millis(stamp: datetime) -> int:
    return round(stamp.timestamp() * 1000)


def clip_of(body: ClipsEvent) -> str:
    """The clip; a track play names its track as ``track:<id>`` (royalty rows key on clip_id,
    and the prefix keeps track 789 apart from clip 789); app events have none."""
    if isinstance(body, TrackPlay):
        return f"track:{body.trackId}"
    return getattr(body, "clipId", None) or ""


def session_of(body: ClipsEvent, received_at: float) -> str:
    """clientId plus the app session when the player sends one, else the UTC day.

    The day bounds a session's state in the worker (a client's events would
    otherwise form one session forever) and comes from the client's timestamp,
    so a retry lands in the same session.
    """
    if body.sessionId:
        return f"{_part(body.clientId)}:{body.sessionId}"
    moment = body.timestamp or datetime.fromtimestamp(received_at, UTC)
    return f"{_part(body.clientId)}:{moment.astimezone(UTC).date().isoformat()}"


def event_id(endpoint: Endpoint, body: ClipsEvent, organization: str, received_at: float,
             idempotency_key: str | None = None) -> str:
    subject = getattr(body, "clipId", None) or getattr(body, "trackId", None) or "-"
    if idempotency_key:
        moment = f"key:{_part(idempotency_key)}"
    elif body.timestamp is not None:
        moment = str(_millis(body.timestamp))
    else:
        # No timestamp and no key (track-play allows both to be absent): nothing
        # identifies a retry, so each request counts; the docs tell clients to send one.
        moment = f"received:{round(received_at * 1000)}"
    who = f"{_part(organization)}:{_part(body.clientId)}"
    return f"{DIALECT}:{who}:{endpoint}:{_part(subject)}:{moment}"


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def attributes_of(endpoint: Endpoint, body: ClipsEvent, decision: Decision,
                  idempotency_key: str | None) -> dict[str, str]:
    given: dict[str, Any] = {
        "event": endpoint.value, "clientId": body.clientId, "sessionId": body.sessionId,
        "method": getattr(body, "method", None), "platform": getattr(body, "platform", None),
        "preview": _flag(getattr(body, "preview", None)),
        "offline": _flag(getattr(body, "offline", None)),
        "country": (getattr(body, "country", None) or "").upper() or None,
        "appId": getattr(body, "appId", None), "credentialId": getattr(body, "credentialId", None),
        "shareUri": getattr(body, "shareUri", None), "trackId": getattr(body, "trackId", None),
        "idempotencyKey": idempotency_key,
    }
    if getattr(body, "clipId", None) is not None:
        given["rights"] = decision.rights
        given["tracks"] = ",".join(decision.tracks) or None
        if not decision.granted:
            given["code"] = decision.code
    return {key: str(value) for key, value in given.items() if value is not None}


@dataclass(frozen=True, slots=True)
class ClipsRequest:
    """What the dialect converts: the endpoint's body and what the gateway adds to it."""

    endpoint: Endpoint
    event: ClipsEvent
    decision: Decision = UNCHECKED
    idempotency_key: str | None = None
    answered_app_id: int | None = None  # what /app-start answered, kept with the event


def locate(request: ClipsRequest, path: str = "") -> Locate:
    """Where the canonical fields of a request's event came from (for bounds problems)."""
    body = request.event
    subject = "trackId" if isinstance(body, TrackPlay) else "clipId"
    # Ids and the session are built around clientId, the longest free-form part.
    return fields_at(path, {"clip_id": subject, "timestamp": "timestamp",
                          "sequence_number": "timestamp", "event_id": "clientId",
                          "session_id": "sessionId" if body.sessionId else "clientId",
                          "attributes": "body"})


def to_events(request: ClipsRequest, context: DialectContext) -> list[PlaybackEvent]:
    """The one canonical event of a request; EventRejected when it is too old."""
    body, endpoint, idempotency_key = request.event, request.endpoint, request.idempotency_key
    organization, received_at = context.organization, context.received_at
    client_stamp = None if body.timestamp is None else body.timestamp.timestamp()
    stamped = context.stamp(client_stamp, "timestamp")
    attributes = attributes_of(endpoint, body, request.decision, idempotency_key)
    if request.answered_app_id is not None:
        attributes["appId"] = str(request.answered_app_id)
    if stamped.adjusted:
        # "future:<the client's time>" or "missing", as the other dialects flag it.
        original = "" if body.timestamp is None else f":{body.timestamp.isoformat()}"
        attributes["timestamp_adjusted"] = stamped.adjusted + original
    # Sequence: the client's own clock in ms, so the order is the player's and
    # stable under retries; these events open no interval, so ties are harmless.
    sequence = _millis(body.timestamp) if body.timestamp else round(received_at * 1000)
    return [PlaybackEvent(
        event_id=event_id(endpoint, body, organization, received_at, idempotency_key),
        organization_id=organization,
        session_id=session_of(body, received_at),
        clip_id=clip_of(body),
        source=SOURCE,
        kind=EventKind.OTHER,
        action=ACTIONS[endpoint].value,
        position_seconds=0.0,
        sequence_number=max(sequence, 1),
        timestamp=stamped.timestamp,
        dialect=DIALECT,
        received_at=received_at,
        attributes=attributes,
    )]
