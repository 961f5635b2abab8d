"""api.video-style player sessions: ``POST /v1/player-sessions/{sessionId}/events``.

The events of a request are consecutive moments of one session's timeline,
so the request is accepted or refused whole: accepting a pause
without the play before it would give wrong intervals. The answer is 202 once
Kafka holds every event.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from ingest.batch import BatchAnswer, publish_whole, refuse_oversized
from ingest.dialects import apivideo
from ingest.dialects.context import Dialect
from ingest.dialects.fields import KEY_PART_PATTERN
from ingest.gateway import Gateway
from ingest.request_organization import HeaderOrganization, QueryOrganization, resolve_organization

DIALECT = Dialect(apivideo.DIALECT, apivideo.to_events, apivideo.locate)


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter(tags=["api.video player sessions"], dependencies=[Depends(gateway.admit)])

    @routes.post("/v1/player-sessions/{sessionId}/events", status_code=202,
                 response_model=BatchAnswer, summary="Send events of one player session",
                 description="The events of one player session, oldest first, as the player "
                 "emitted them. A session sent in several requests says in `offset` how many "
                 "events came before. Accepted or refused whole.")
    async def player_session_events(
        body: apivideo.PlayerSessionEvents,
        request: Request,
        session_id: Annotated[str, Path(alias="sessionId", pattern=KEY_PART_PATTERN,
                                        description="The player session, e.g. "
                                                    "psEmFwGQUAXR2lFHj5nDOpy")],
        header: HeaderOrganization = None, query: QueryOrganization = None,
    ) -> BatchAnswer:
        organization = resolve_organization(gateway, request, header, query)
        count = len(body.events)
        refuse_oversized(gateway, apivideo.DIALECT, count, apivideo.MAX_EVENTS,
                         "too_many_events", f"a request holds at most {apivideo.MAX_EVENTS} "
                         f"events and this one has {count}: send them in several requests, "
                         "each with its offset")
        await publish_whole(gateway, DIALECT, apivideo.PlayerSession(session_id, body),
                            gateway.context(organization))
        return BatchAnswer(accepted=count)

    return routes
