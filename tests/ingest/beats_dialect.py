"""A sixth dialect that exists only in tests: proof of docs/gateway.md, "Adding a dialect".

A real dialect puts its first half in ``ingest/dialects/<name>.py`` and its
second in ``ingest/routes/<name>.py``; here both sit in this one file so that
nothing under ingest/ knows about it. A "beat" is a player saying where its
playhead is: ``{"session", "clip", "seq", "position", "at"}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ingest.batch import BatchAnswer, publish_each, publish_whole
from ingest.dialects.context import Dialect, DialectContext
from ingest.dialects.fields import (
    Identifier,
    IsoTimestamp,
    KeyPart,
    documented_as_list_of,
)
from ingest.gateway import Gateway
from ingest.policy import Locate, fields_at
from ingest.request_organization import HeaderOrganization, QueryOrganization, resolve_organization
from schemas.event import Action, EventKind, PlaybackEvent, derived_event_id

# --- the dialect module (ingest/dialects/beats.py) -------------------------------------

DIALECT = "beats"


class Beat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session: KeyPart
    clip: Identifier
    seq: int = Field(ge=1)
    position: float = Field(allow_inf_nan=False)
    at: IsoTimestamp


class Beats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beats: Annotated[list[Any], documented_as_list_of(Beat)] = Field(min_length=1)


def to_events(beat: Beat, context: DialectContext) -> list[PlaybackEvent]:
    stamped = context.stamp(beat.at.timestamp(), "at")
    attributes = {"event": "beat"}
    if stamped.adjusted:
        attributes["timestamp_adjusted"] = f"{stamped.adjusted}:{beat.at.isoformat()}"
    return [PlaybackEvent(
        event_id=derived_event_id(DIALECT, context.organization, beat.session, beat.seq),
        organization_id=context.organization, session_id=beat.session, clip_id=beat.clip,
        source=DIALECT, kind=EventKind.HEARTBEAT, action=Action.PROGRESS,
        position_seconds=beat.position, sequence_number=beat.seq,
        timestamp=stamped.timestamp, dialect=DIALECT, received_at=context.received_at,
        attributes=attributes)]


def locate(_: Beat, path: str = "") -> Locate:
    return fields_at(path, {"position_seconds": "position", "timestamp": "at",
                            "sequence_number": "seq", "session_id": "session",
                            "clip_id": "clip"})


# --- the route module (ingest/routes/beats.py) -----------------------------------------

BEAT = TypeAdapter(Beat)
BEATS = Dialect(DIALECT, to_events, locate)


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter(tags=["Beats (tests only)"], dependencies=[Depends(gateway.admit)])

    @routes.post("/v1/test-beat", status_code=202, response_model=BatchAnswer)
    async def one(body: Beat, request: Request, header: HeaderOrganization = None,
                  query: QueryOrganization = None) -> BatchAnswer:
        organization = resolve_organization(gateway, request, header, query)
        await publish_whole(gateway, BEATS, body, gateway.context(organization))
        return BatchAnswer(accepted=1)

    @routes.post("/v1/test-beats", status_code=202, response_model=BatchAnswer)
    async def many(body: Beats, request: Request, header: HeaderOrganization = None,
                   query: QueryOrganization = None) -> BatchAnswer:
        organization = resolve_organization(gateway, request, header, query)
        return await publish_each(gateway, BEATS, BEAT, body.beats,
                                  gateway.context(organization, "beats"))

    return routes
