"""Omny Studio consumption API (shared/reference/omny-consumption-api.txt).

Mapping onto canonical events: ``Type: Start`` -> START, ``Type: Stop`` ->
STOP, ``Position`` -> position_seconds, ``SeqNumber`` -> sequence_number,
``Timestamp`` (unix seconds) -> timestamp. Omny events carry no id, so the
event id is derived from organization, session and sequence number: a client
that retries a request produces the same ids and counts once. ``Completed``
marks every event of the request so the worker knows the sender is done.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.policy import TimestampPolicy
from processors.events import Action, EventKind, PlaybackEvent, derived_event_id

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
    SeqNumber: int = Field(ge=1, description="Starts at 1, incremented per event")
    Timestamp: float = Field(ge=0, allow_inf_nan=False, description="Unix time, seconds")


class OmnyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Source: OmnySource
    Events: list[OmnyEvent] = Field(min_length=1)
    Completed: Literal[True] = Field(description="Must be true: send only completed sessions")


class OmnyAnswer(BaseModel):
    Enabled: bool


class OrganizationMismatch(ValueError):
    """An event names another organization than the request's organizationId."""

    reason = "organization_mismatch"

    def __init__(self, index: int, expected: uuid.UUID, found: uuid.UUID):
        self.path = f"Events[{index}].OrganizationId"
        super().__init__(f"{self.path} is {found} but organizationId is {expected}")


def retime(body: dict[str, Any], now: float) -> dict[str, Any]:
    """Shift a request's timestamps so its latest is ``now`` (for `playhead sample`)."""
    shift = now - max(event["Timestamp"] for event in body["Events"])
    for event in body["Events"]:
        event["Timestamp"] = round(event["Timestamp"] + shift)
    return body


def to_events(
    request: OmnyRequest, organization_id: uuid.UUID, received_at: float,
    policy: TimestampPolicy | None = None,
) -> list[PlaybackEvent]:
    """Canonical events of one request; raises for the first event that cannot be taken."""
    events = []
    for index, item in enumerate(request.Events):
        if item.OrganizationId != organization_id:
            raise OrganizationMismatch(index, organization_id, item.OrganizationId)
        stamped = (policy or TimestampPolicy(max_age_seconds=0)).apply(
            item.Timestamp, received_at, f"Events[{index}].Timestamp")
        attributes: dict[str, str] = {"event": item.Type}
        if stamped.adjusted:
            attributes["timestamp_adjusted"] = f"{stamped.adjusted}:{item.Timestamp:.15g}"
        organization, session = str(item.OrganizationId), str(item.SessionId)
        events.append(
            PlaybackEvent(
                event_id=derived_event_id(DIALECT, organization, session, item.SeqNumber),
                organization_id=organization,
                session_id=session,
                clip_id=str(item.ClipId),
                source=request.Source.value,
                kind=EventKind.START if item.Type == "Start" else EventKind.STOP,
                action=Action.PLAY if item.Type == "Start" else Action.PAUSE,
                attributes=attributes,
                position_seconds=item.Position,
                sequence_number=item.SeqNumber,
                timestamp=stamped.timestamp,
                session_complete=request.Completed,
                dialect=DIALECT,
                received_at=received_at,
            )
        )
    return events
