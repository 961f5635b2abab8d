"""Admin API: an organization's qualifying-play rules, set and listed, with their restatements.

Same credentials as the rest of /admin/v1 (readapi/admin.py): an admin key
for its own organization, an operator token for any. The work is
sinks/rules.py's, run in a thread: setting a rule rebuilds the rollups of
the days it changes (a few seconds per built day).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from readapi.admin import Requester
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


def rules_router(client_factory: Callable[[], Client], database: str, default: Rule | None,
                 max_clip_seconds: float, max_buckets: int) -> APIRouter:
    routes = APIRouter(prefix="/admin/v1/organizations/{organization}", tags=["admin"])

    @routes.get("/rules", summary="The organization's qualifying-play rules and restatements")
    async def list_rules(organization: str, by: Requester) -> RulesView:
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
    async def set_rule(organization: str, by: Requester, request: RuleRequest) -> RuleAnswer:
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
