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

from ingest.batch import BatchAnswer, answer, convert_items, validate_items
from ingest.dialects import mparticle
from ingest.gateway import Gateway, Problem
from ingest.policy import EventRejected
from ingest.rejections import Rejected
from ingest.request_organization import HeaderOrganization, QueryOrganization, resolve_organization

EVENT = TypeAdapter(mparticle.MParticleEvent)


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
        limit = gateway.settings.mparticle_max_batch_events
        if len(body.events) > limit:
            problem = Problem("events", "too_many", f"events: {len(body.events)} events; a "
                              f"batch carries at most {limit}: split it and send each part")
            gateway.reject(mparticle.DIALECT, [problem])
            raise Rejected([problem], status=413)
        received_at = gateway.clock()
        valid, refused = validate_items(EVENT, body.events, "events")
        canonical = convert_items(
            valid, lambda index, item: mparticle.to_events(
                item, org, received_at, gateway.policy, f"events[{index}]"), refused)
        problems = [problem for found in refused.values() for problem in found]
        gateway.reject(mparticle.DIALECT, problems)
        if not canonical:
            raise Rejected(problems)
        await gateway.publish(mparticle.DIALECT, canonical)
        # Counted in the client's events (a QoS update may become two canonical ones).
        return answer(len(body.events) - len(refused), refused)

    @routes.post("/v1/mparticle/event", status_code=202, response_model=BatchAnswer,
                 summary="Send one mParticle media event")
    async def event(body: mparticle.MParticleEvent, org: Organization) -> BatchAnswer:
        try:
            canonical = mparticle.to_events(body, org, gateway.clock(), gateway.policy)
        except EventRejected as err:
            problem = Problem.of(err)
            gateway.reject(mparticle.DIALECT, [problem])
            raise Rejected([problem]) from err
        await gateway.publish(mparticle.DIALECT, canonical)
        return answer(1, {})

    return routes
