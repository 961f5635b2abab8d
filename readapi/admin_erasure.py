"""Admin API: erase a listener from one organization, and list the organization's erasures.

Same credentials as the rest of /admin/v1 (readapi/admin.py): an admin key
for its own organization, an operator token for any. The id to erase travels
in the request body, never in the path or query string, so no access log
holds it. The work is sinks/erasure.py's, run in a thread: it waits for the
workers and for the rebuilt days, a few seconds to a few tens of seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, model_validator

from control.records import ErasureRecord
from readapi.admin import Requester
from sinks import erasure
from sinks.erasure_plan import Audit, Subject, SubjectKind
from sinks.rollups import SETTLE_SECONDS

PublishOne = Callable[[ErasureRecord], Any]  # async: the control topic's publish


class ErasureRequest(BaseModel):
    """Exactly one of the ids; it is used to find the sessions and then forgotten."""

    userId: str | None = Field(None, min_length=1, max_length=1000)
    deviceId: str | None = Field(None, min_length=1, max_length=1000)
    clientId: str | None = Field(None, min_length=1, max_length=1000)
    dryRun: bool = Field(False, description="Say what would be removed; change and record "
                                            "nothing")

    @model_validator(mode="after")
    def one_subject(self) -> ErasureRequest:
        given = [v for v in (self.userId, self.deviceId, self.clientId) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of userId, deviceId and clientId")
        return self

    def subject(self, organization: str) -> Subject:
        for kind, value in ((SubjectKind.USER, self.userId), (SubjectKind.DEVICE, self.deviceId),
                            (SubjectKind.CLIENT, self.clientId)):
            if value is not None:
                return Subject(organization, kind, value)
        raise AssertionError("validated: one subject")


class ErasureView(BaseModel):
    requestId: str
    organization: str
    subjectKind: str = Field(description="user, device or client: never the id")
    requestedBy: str = Field(description="operator, or admin-key:<key id>")
    requestedAt: str
    finishedAt: str | None
    dryRun: bool
    sessions: int
    rows: dict[str, int] = Field(description="Rows removed per table")
    daysRebuilt: list[str] = Field(description="Built days whose rollups were rebuilt")
    stateRecord: str = Field(description="The control record the workers applied")


def erasure_router(client_factory: Callable[[], Client], database: str,
                   publish: PublishOne, grace_seconds: float = erasure.GRACE_SECONDS,
                   settle_seconds: float | None = None, cluster: str = "") -> APIRouter:
    routes = APIRouter(prefix="/admin/v1/organizations/{organization}", tags=["admin"])
    settle = SETTLE_SECONDS if settle_seconds is None else settle_seconds

    @routes.post("/erasures", summary="Erase a user, device or client id from every figure "
                                      "(answers once done, with what was removed)")
    async def erase(organization: str, requested_by: Requester,
                    body: ErasureRequest) -> ErasureView:
        subject = body.subject(organization)
        loop = asyncio.get_running_loop()

        def send(record: ErasureRecord) -> None:
            asyncio.run_coroutine_threadsafe(publish(record), loop).result()

        def work() -> Audit:
            return erasure.run(client_factory(), database, subject, requested_by, send,
                               dry_run=body.dryRun, grace_seconds=grace_seconds,
                               settle_seconds=settle, cluster=cluster)

        done = await run_in_threadpool(work)
        return ErasureView(**done.to_json())

    @routes.get("/erasures", summary="The organization's recorded erasures (no ids in them)")
    def list_erasures(organization: str, requested_by: Requester) -> list[ErasureView]:
        return [ErasureView(**a.to_json())
                for a in erasure.audits(client_factory(), database, organization)]

    return routes
