"""Omny Studio consumption API: ``POST /api/consumption/events?organizationId=``.

A request is a completed session (or several), so it is accepted or refused
whole: a session with one bad event would produce wrong figures.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from ingest.dialects import omny
from ingest.gateway import Gateway, Problem
from ingest.policy import EventRejected
from ingest.rejections import Rejected


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter(tags=["Omny consumption API"], dependencies=[Depends(gateway.admit)])

    @routes.post("/api/consumption/events", response_model=omny.OmnyAnswer,
                 summary="Send completed listening sessions")
    async def omny_events(
        body: omny.OmnyRequest,
        request: Request,
        organization_id: Annotated[uuid.UUID, Query(
            alias="organizationId", description="GUID of the Omny Studio organization")],
    ) -> omny.OmnyAnswer:
        gateway.authorize(request, {str(organization_id)})
        if str(organization_id) in gateway.settings.disabled_organizations:
            return omny.OmnyAnswer(Enabled=False)
        try:
            events = omny.to_events(body, organization_id, gateway.clock(), gateway.policy)
        except (omny.OrganizationMismatch, EventRejected) as err:
            problem = Problem(err.path, getattr(err, "reason", "invalid"), str(err))
            gateway.reject(omny.DIALECT, [problem])
            raise Rejected([problem]) from err
        await gateway.publish(omny.DIALECT, events)
        return omny.OmnyAnswer(Enabled=True)

    return routes
