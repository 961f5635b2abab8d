"""mParticle media events: ``POST /v1/mparticle/events`` (a batch) and ``/v1/mparticle/event``.

A batch is events that stand alone (ingest/batch.py): the valid ones are
published, the answer names every refused one by index with its reasons, and
a batch with nothing valid is refused whole (422). More than
``PLAYHEAD_MPARTICLE_MAX_BATCH_EVENTS`` events is refused whole (413) before
anything is looked at, so a client splits and resends rather than guessing
which part was taken.
"""


from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import TypeAdapter

from ingest.batch import BatchAnswer, publish_each, publish_whole, refuse_oversized
from ingest.dialects import mparticle
from ingest.dialects.context import Dialect
from ingest.gateway import Gateway
from ingest.request_organization import HeaderOrganization, QueryOrganization, resolve_organization

EVENT = TypeAdapter(mparticle.MParticleEvent)
DIALECT = Dialect(mparticle.DIALECT, mparticle.to_events, mparticle.locate)


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter(tags=["mParticle media events"], dependencies=[Depends(gateway.admit)])

    def organization(request: Request, header: HeaderOrganization = None,
                     query: QueryOrganization = None) -> str:
        return resolve_organization(gateway, request, header, query)

    Organization = Annotated[str, Depends(organization)]

    @routes.post("/v1/mparticle/events", status_code=202, response_model=BatchAnswer,
                 summary="Send a batch of mParticle media events",
                 description="Valid events are stored even when others are refused; the answer "
                             "lists each refused event by index with its problems.")
    async def events(body: mparticle.MParticleBatch, org: Organization) -> BatchAnswer:
        limit = gateway.config.mparticle_max_batch_events
        refuse_oversized(gateway, mparticle.DIALECT, len(body.events), limit, "too_many",
                         f"events: {len(body.events)} events; a batch carries at most "
                         f"{limit}: split it and send each part")
        return await publish_each(gateway, DIALECT, EVENT, body.events,
                                  gateway.context(org, "events"))

    @routes.post("/v1/mparticle/event", status_code=202, response_model=BatchAnswer,
                 summary="Send one mParticle media event")
    async def event(body: mparticle.MParticleEvent, org: Organization) -> BatchAnswer:
        await publish_whole(gateway, DIALECT, body, gateway.context(org))
        return BatchAnswer(accepted=1)

    return routes
