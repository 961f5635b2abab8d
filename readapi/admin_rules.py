"""Admin API: an organization's qualifying-play rules, set and listed, with their restatements.

Same credentials as the rest of /admin/v1 (readapi/admin.py): an admin key
for its own organization, an operator token for any. The work is
sinks/rules.py's, run in a thread: setting a rule rebuilds the rollups of
the days it changes (a few seconds per built day).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import date
from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from control.credentials import Kind, digest
from readapi.admin import AdminAuth, admin_bearer
from sinks import rules as stored_rules
from sinks.qualifying import Rule, RuleEntry, check_rule, filled


class RuleView(BaseModel):
    source: str = Field(description="The source (dialect) it is for; '' for every source")
    effectiveDay: date = Field(description="Sessions whose UTC day is on or after it use it")
    minSessionSeconds: float
    completionThreshold: float
    bucketSeconds: int

    @classmethod
    def of(cls, entry: RuleEntry) -> RuleView:
        rule = entry.rule
        return cls(source=entry.source, effectiveDay=entry.effective_day,
                   minSessionSeconds=rule.min_session_seconds,
                   completionThreshold=rule.completion_threshold,
                   bucketSeconds=rule.bucket_seconds)


class StoredRuleView(RuleView):
    setAt: str
    setBy: str = Field(description="operator, admin-key:<key id> or cli:<user>")


class RestatementView(RuleView):
    requestedAt: str
    requestedBy: str
    daysRebuilt: list[date] = Field(description="Built days whose rollups were rebuilt")


class RulesView(BaseModel):
    rules: list[StoredRuleView]
    restatements: list[RestatementView]


class RuleRequest(BaseModel):
    """A part left out is as in effect that day, else the deployment's setting."""

    source: str = Field("", max_length=200)
    effectiveDay: date = Field(description="A UTC day: rules take effect at a UTC midnight")
    minSessionSeconds: float | None = Field(None, ge=0, le=86400)
    completionThreshold: float | None = Field(None, gt=0, le=1)
    bucketSeconds: int | None = Field(None, ge=1)


class RuleAnswer(BaseModel):
    rule: RuleView
    restated: bool = Field(description="False: the same rule was already set, nothing changed")
    daysRebuilt: list[date]


def requester(auth: AdminAuth, token: str | None, organization: str) -> str:
    """Who asks, for the record: ``operator`` or ``admin-key:<id>`` (checked as admin.py does)."""
    auth.organization(token, organization)  # raises Unauthorized / Forbidden
    assert token is not None
    if any(hmac.compare_digest(digest(token), known) for known in auth.operator_digests):
        return "operator"
    verdict = auth.control.verify(token, Kind.ADMIN, auth.clock())
    assert verdict.credential is not None
    return f"admin-key:{verdict.credential.key_id}"


def asker(request: Request, organization: str,
          credentials: Annotated[HTTPAuthorizationCredentials | None,
                                 Depends(admin_bearer)]) -> str:
    auth: AdminAuth = request.app.state.admin_auth
    return requester(auth, credentials.credentials if credentials else None, organization)


# Module level, because FastAPI resolves the routes' (string) annotations here.
Asker = Annotated[str, Depends(asker)]


def rules_router(client_factory: Callable[[], Client], database: str, default: Rule | None,
                 max_clip_seconds: float, max_buckets: int) -> APIRouter:
    routes = APIRouter(prefix="/admin/v1/organizations/{organization}", tags=["admin"])

    @routes.get("/rules", summary="The organization's qualifying-play rules and restatements")
    async def list_rules(organization: str, by: Asker) -> RulesView:
        def read() -> RulesView:
            client = client_factory()
            rules = stored_rules.list_rules(client, database, organization)
            logged = stored_rules.list_restatements(client, database, organization)
            return RulesView(
                rules=[StoredRuleView(**RuleView.of(r.entry).model_dump(),
                                      setAt=r.set_at.isoformat(), setBy=r.set_by)
                       for r in rules],
                restatements=[RestatementView(**RuleView.of(r.entry).model_dump(),
                                              requestedAt=r.requested_at.isoformat(),
                                              requestedBy=r.requested_by,
                                              daysRebuilt=list(r.days_rebuilt))
                              for r in logged])
        return await run_in_threadpool(read)

    @routes.put("/rules", summary="Set a rule from a UTC day on; restates the figures from it")
    async def set_rule(organization: str, by: Asker, request: RuleRequest) -> RuleAnswer:
        def put() -> RuleAnswer:
            client = client_factory()
            entries = [r.entry for r in stored_rules.list_rules(client, database, organization)]
            rule = check_rule(filled(entries, organization, request.source, request.effectiveDay,
                                     default, request.minSessionSeconds,
                                     request.completionThreshold, request.bucketSeconds),
                              max_clip_seconds, max_buckets)
            entry = RuleEntry(organization, request.source, request.effectiveDay, rule)
            restated = stored_rules.set_rule(client, database, entry, by)
            return RuleAnswer(rule=RuleView.of(entry), restated=restated is not None,
                              daysRebuilt=list(restated.days_rebuilt) if restated else [])
        return await run_in_threadpool(put)

    return routes
