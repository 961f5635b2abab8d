"""Omny Studio consumption API (its public API page; the mapping is in docs/semantics.md).

Mapping onto canonical events: ``Type: Start`` -> START, ``Type: Stop`` ->
STOP, ``Position`` -> position_seconds, ``SeqNumber`` -> sequence_number,
``Timestamp`` (unix seconds) -> timestamp. Omny events carry no id, so the
event id is derived from organization, session and sequence number: a client
that retries a request produces the same ids and counts once. ``Completed``
marks every event of the request so the worker knows the sender is done.

Omny clients read no per-event errors, so the gateway judges a request
session by session (ingest/routes/omny.py): ``OmnyEnvelope`` is the request
as read before its events are, ``sessions_of`` groups the events as sent.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import operator
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ingest.dialects.context import Dialect, DialectContext
from ingest.dialects.fields import documented_as_list_of
from ingest.policy import EventRejected, Locate, fields_at
from schemas.bounds import MAX_SEQUENCE
from schemas.event import Action, EventKind, PlaybackEvent, derived_event_id
from schemas.frozen import quick_new

DIALECT = "omny"


class OmnySource(enum.StrEnum):
    MOBILE_APP = "MobileApp"
    SMART_SPEAKER = "SmartSpeaker"
    CUSTOM_WEB = "CustomWeb"
    CUSTOM = "Custom"
    WEB = "Web"


Guid = Annotated[uuid.UUID, Field(description="A GUID, e.g. 126281f8-200e-4c9f-8378-a4870055423b")]


class OmnyEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    OrganizationId: Guid
    ClipId: Guid
    SessionId: Guid
    Type: Literal["Start", "Stop"]
    Position: float = Field(allow_inf_nan=False, description="Listen position, seconds")
    # The maximum is enforced with the other bounds (reason out_of_bounds); stated in the
    # description, as OpenAPI's "maximum" would be written as a float, 2^63 itself.
    SeqNumber: int = Field(ge=1, description=f"Starts at 1, incremented per event; at most "
                                             f"{MAX_SEQUENCE} (2^63-1)")
    Timestamp: float = Field(ge=0, allow_inf_nan=False, description="Unix time, seconds")


class OmnyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Source: OmnySource
    Events: list[OmnyEvent] = Field(min_length=1)
    Completed: Literal[True] = Field(description="Must be true: send only completed sessions")


EVENT = TypeAdapter(OmnyEvent)


class OmnyEnvelope(BaseModel):
    """An Omny request with its events not yet read: they are judged per session."""

    model_config = ConfigDict(extra="forbid")

    Source: OmnySource
    Events: Annotated[list[Any], documented_as_list_of(OmnyEvent)] = Field(
        min_length=1, json_schema_extra={"minItems": 1},
        description="Events of one or several sessions")
    Completed: Literal[True] = Field(description="Must be true: send only completed sessions")


class OmnyAnswer(BaseModel):
    Enabled: bool


class OrganizationMismatch(EventRejected):
    """An event names another organization than the request's organizationId."""

    def __init__(self, path: str, expected: str, found: uuid.UUID):
        super().__init__(path, "organization_mismatch",
                         f"{path} is {found} but organizationId is {expected}")


# Canonical field -> the Omny field it comes from (for problems naming the client's field).
FIELDS = {"position_seconds": "Position", "sequence_number": "SeqNumber",
          "event_id": "SeqNumber", "timestamp": "Timestamp", "clip_id": "ClipId",
          "session_id": "SessionId", "organization_id": "OrganizationId"}


@dataclass
class Session:
    """The events of one session as the client sent them, with their place in ``Events``."""

    label: str  # the SessionId as a GUID, or as sent when it is not one
    items: list[tuple[int, Any]] = field(default_factory=list)

    def as_request(self, source: str) -> dict[str, Any]:
        """This session alone as an Omny request: what a dead letter holds, replayable."""
        return {"Source": source, "Events": [raw for _, raw in self.items], "Completed": True}


# A GUID as most clients write it: str(uuid.UUID(x)) is then x in lower case. Other
# spellings pydantic may accept (braces, no hyphens) take the model's path.
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EXACT = 2**53  # integers up to this are exact as floats, as pydantic makes them
_KEYS = ("OrganizationId", "ClipId", "SessionId", "Type", "Position", "SeqNumber", "Timestamp")
_FIELDS_OF = operator.itemgetter(*_KEYS)
_KEY_SET = frozenset(_KEYS)
# Every field of the event, in order: about half the time of PlaybackEvent(...) (schemas/frozen.py).
_EVENT = quick_new(PlaybackEvent)


class Guids:
    """GUID strings in their canonical spelling, remembered for one request.

    A request repeats its organization, clips and sessions on every event;
    each distinct string is matched once.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str | None] = {}

    def canonical(self, value: Any) -> str | None:
        """``str(uuid.UUID(value))`` for a hyphenated GUID string, None for anything else."""
        if type(value) is not str:
            return None
        found = self._seen.get(value, "")
        if found == "":
            found = self._seen[value] = value.lower() if _GUID.fullmatch(value) else None
        return found


def _finite(value: Any) -> float | None:
    """A JSON number as pydantic's float (allow_inf_nan=False) takes it, or None."""
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else None  # inf - inf and nan - nan are nan
    if kind is int and -_EXACT <= value <= _EXACT:
        return float(value)
    return None


def plain_events(items: list[tuple[int, Any]], source: OmnySource, context: DialectContext,
                 guids: Guids) -> list[PlaybackEvent] | None:
    """The events of a session whose every item is a plainly valid Omny event on time.

    The same events ``OmnyEvent`` validation and ``to_event`` give, without
    building a model and three ``UUID`` objects per event; None as soon as an
    item needs more than the plain reading (a missing or extra field, a value
    pydantic would coerce or refuse, another organization, a time the policy
    adjusts or refuses). The session then takes the model's path, which names
    every problem as before (tests/ingest/test_omny_plain_path.py holds the two
    paths to the same result).
    """
    now, policy, organization = context.received_at, context.policy, context.organization
    origin = source.value
    events: list[PlaybackEvent] = []
    for _, raw in items:
        if type(raw) is not dict or raw.keys() != _KEY_SET:  # a field missing or extra
            return None
        org, clip, session, kind, position, sequence, stamp = _FIELDS_OF(raw)
        if guids.canonical(org) != organization:
            return None
        clip, session = guids.canonical(clip), guids.canonical(session)
        position, stamp = _finite(position), _finite(stamp)
        if (clip is None or session is None or position is None or stamp is None
                or type(sequence) is not int or sequence < 1 or kind not in ("Start", "Stop")
                or not policy.keeps(stamp, now)):
            return None
        start = kind == "Start"
        events.append(_EVENT(
            derived_event_id(DIALECT, organization, session, sequence), organization, session,
            clip, origin, EventKind.START if start else EventKind.STOP, position, sequence,
            stamp, True, DIALECT, now, Action.PLAY if start else Action.PAUSE,
            None, None, None, {"event": kind}))
    return events


def session_label(raw: Any, guids: Guids | None = None) -> str:
    value = raw.get("SessionId") if isinstance(raw, Mapping) else None
    canonical = guids.canonical(value) if guids is not None else None
    if canonical is not None:
        return canonical
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))  # the spelling the canonical events use
        except ValueError:
            return value
    return json.dumps(value)  # missing or not a string: still one group per value


def sessions_of(events: list[Any], guids: Guids | None = None) -> list[Session]:
    """The request's events grouped by session, in the order sessions first appear."""
    found: dict[str, Session] = {}
    spelled: dict[str, Session] = {}  # each SessionId string is labelled once
    for index, raw in enumerate(events):
        value = raw.get("SessionId") if type(raw) is dict else None
        session = spelled.get(value) if type(value) is str else None
        if session is None:
            label = session_label(raw, guids)
            session = found.get(label)
            if session is None:
                session = found[label] = Session(label)
            if type(value) is str:
                spelled[value] = session
        session.items.append((index, raw))
    return list(found.values())


def locate(_: OmnyEvent, path: str) -> Locate:
    """Where each canonical field of the event at ``path`` (``Events[2]``) came from."""
    return fields_at(path, FIELDS)


def to_events(request: OmnyRequest, context: DialectContext) -> list[PlaybackEvent]:
    """Canonical events of one request; raises for the first event that cannot be taken."""
    within = dataclasses.replace(context, path=context.at("Events"))
    return [to_event(item, request.Source, within.item(index))
            for index, item in enumerate(request.Events)]


def item_dialect(source: OmnySource) -> Dialect[OmnyEvent]:
    """The dialect of one request's events, one at a time: the route judges an Omny
    request session by session, and every event takes the request's ``Source``."""
    return Dialect(DIALECT, lambda item, context: [to_event(item, source, context)], locate)


def to_event(item: OmnyEvent, source: OmnySource, context: DialectContext) -> PlaybackEvent:
    """The canonical event of the item at ``context.path``; EventRejected when it cannot be
    taken. ``session_complete`` is always true: the model accepts only ``Completed: true``.
    """
    if str(item.OrganizationId) != context.organization:
        raise OrganizationMismatch(context.at("OrganizationId"), context.organization,
                                   item.OrganizationId)
    stamped = context.stamp(item.Timestamp, "Timestamp")
    attributes: dict[str, str] = {"event": item.Type}
    if stamped.adjusted:
        attributes["timestamp_adjusted"] = f"{stamped.adjusted}:{item.Timestamp:.15g}"
    organization, session = str(item.OrganizationId), str(item.SessionId)
    return PlaybackEvent(
        event_id=derived_event_id(DIALECT, organization, session, item.SeqNumber),
        organization_id=organization,
        session_id=session,
        clip_id=str(item.ClipId),
        source=source.value,
        kind=EventKind.START if item.Type == "Start" else EventKind.STOP,
        action=Action.PLAY if item.Type == "Start" else Action.PAUSE,
        attributes=attributes,
        position_seconds=item.Position,
        sequence_number=item.SeqNumber,
        timestamp=stamped.timestamp,
        session_complete=True,
        dialect=DIALECT,
        received_at=context.received_at,
    )
