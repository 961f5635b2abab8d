"""Short-video engagement events: ``POST /v1/events`` and ``POST /v1/events/batch``.

Each event stands alone (its own session, its own id), so a batch keeps its
valid events and names the refused ones (ingest/batch.py). Both answers are
202: Kafka holds the events when we answer, and they are processed later.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import TypeAdapter

from ingest.batch import BatchAnswer, publish_each, publish_whole, refuse_oversized
from ingest.dialects import shortvideo
from ingest.dialects.context import Dialect
from ingest.gateway import Gateway, Problem
from ingest.rejections import Rejected
from ingest.request_organization import HeaderOrganization, QueryOrganization, resolve_organization

EVENT = TypeAdapter(shortvideo.ShortVideoEvent)
DIALECT = Dialect(shortvideo.DIALECT, shortvideo.to_events, shortvideo.locate)


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter(tags=["Short-video engagement events"],
                       dependencies=[Depends(gateway.admit)])

    @routes.post("/v1/events", status_code=202, response_model=BatchAnswer,
                 summary="Send one engagement event")
    async def one_event(
        body: shortvideo.ShortVideoEvent, request: Request,
        header: HeaderOrganization = None, query: QueryOrganization = None,
    ) -> BatchAnswer:
        organization = resolve_organization(gateway, request, header, query)
        await publish_whole(gateway, DIALECT, body, gateway.context(organization))
        return BatchAnswer(accepted=1)

    @routes.post("/v1/events/batch", status_code=202, response_model=BatchAnswer,
                 summary=f"Send up to {shortvideo.MAX_BATCH} engagement events",
                 description="Valid events are accepted even when others are not; the answer "
                 "lists each refused event by index with its problems. A batch with no valid "
                 "event is refused (422).")
    async def batch(
        body: shortvideo.ShortVideoBatch, request: Request,
        header: HeaderOrganization = None, query: QueryOrganization = None,
    ) -> BatchAnswer:
        organization = resolve_organization(gateway, request, header, query)
        count = len(body.events)
        refuse_oversized(gateway, shortvideo.DIALECT, count, shortvideo.MAX_BATCH,
                         "too_many_events", f"a batch holds at most {shortvideo.MAX_BATCH} "
                         f"events and this one has {count}: send them in several batches")
        if not count:
            raise Rejected([Problem("events", "invalid", "a batch needs at least one event")])
        return await publish_each(gateway, DIALECT, EVENT, body.events,
                                  gateway.context(organization, "events"))

    return routes
