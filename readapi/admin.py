"""The admin API: one organization's keys, status and rights catalogue, at runtime.

An admin key (``playhead keys create --kind admin``) manages its own
organization only; an operator token (its SHA-256 digest in
``PLAYHEAD_OPERATOR_TOKEN_DIGESTS``) manages every organization. Changes are
published to the control topic, which every gateway and read API follows
(docs/operations/control.md).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from control import operations
from control.credentials import Credential, Kind, digest
from control.records import CATALOGUE, Record
from control.registry import Registry
from readapi.auth import Unauthorized
from readapi.routes import NotFound

admin_bearer = HTTPBearer(auto_error=False, description="An admin key of one organization, "
                                                        "or an operator token")


class Forbidden(Exception):
    """A valid admin key asking about another organization (403)."""


class InvalidCatalogue(Exception):
    """The catalogue sent is not one; the message names the entry (400)."""


class KeyView(BaseModel):
    id: str
    kind: Kind
    organization: str
    label: str
    state: str = Field(description="active, ending (rotated, in its overlap), expired or "
                                   "revoked")
    createdAt: float
    endsAt: float | None = Field(description="When a rotated key stops working, or when it "
                                             "was revoked")

    @classmethod
    def of(cls, credential: Credential, now: float) -> KeyView:
        state = credential.refusal(now) or ("ending" if credential.expires_at else "active")
        return cls(id=credential.key_id, kind=credential.kind,
                   organization=credential.organization, label=credential.label,
                   state=state.split(" ")[0], createdAt=credential.created_at,
                   endsAt=credential.revoked_at or credential.expires_at)


class NewKey(BaseModel):
    key: str = Field(description="The key itself: shown this once, stored only as a digest")
    details: KeyView


class KeyRequest(BaseModel):
    kind: Literal["write", "read", "admin"]
    label: str = Field("", max_length=200)


class RotateRequest(BaseModel):
    overlapSeconds: float = Field(86_400.0, ge=0, le=90 * 86_400,
                                  description="How long the old key keeps working")


class StatusRequest(BaseModel):
    disabled: bool
    reason: str = Field("", max_length=500)


Publish = Callable[[Sequence[Record | tuple[str, None]]], Any]
CheckCatalogue = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class AdminAuth:
    control: Registry
    operator_digests: Sequence[str]
    clock: Callable[[], float] = time.time

    def organization(self, token: str | None, organization: str) -> str:
        """``organization``, if ``token`` may manage it: its admin key, or an operator's."""
        self.requester(token, organization)
        return organization

    def requester(self, token: str | None, organization: str) -> str:
        """Who asks, for a record: ``operator`` or ``admin-key:<id>``; Unauthorized or
        Forbidden unless ``token`` may manage ``organization``."""
        if not token:
            raise Unauthorized("an admin key is required: send 'Authorization: Bearer <key>'")
        presented = digest(token)
        if any(hmac.compare_digest(presented, known) for known in self.operator_digests):
            return "operator"
        verdict = self.control.verify(token, Kind.ADMIN, self.clock())
        if verdict.credential is None:
            raise Unauthorized(f"admin key refused: {verdict.refusal}")
        if verdict.credential.organization != organization:
            raise Forbidden(f"this admin key belongs to organization "
                            f"{verdict.credential.organization}, not {organization}")
        return f"admin-key:{verdict.credential.key_id}"


def scope(request: Request, organization: str,
          credentials: Annotated[HTTPAuthorizationCredentials | None,
                                 Depends(admin_bearer)]) -> str:
    auth: AdminAuth = request.app.state.admin_auth
    return auth.organization(credentials.credentials if credentials else None, organization)


def asker(request: Request, organization: str,
          credentials: Annotated[HTTPAuthorizationCredentials | None,
                                 Depends(admin_bearer)]) -> str:
    auth: AdminAuth = request.app.state.admin_auth
    return auth.requester(credentials.credentials if credentials else None, organization)


# Module level, because FastAPI resolves the routes' (string) annotations here;
# modules with routes of their own import them into theirs.
Org = Annotated[str, Depends(scope)]
Requester = Annotated[str, Depends(asker)]  # the organization checked, who asks returned


def admin_router(auth: AdminAuth, publish: Publish,
                 check_catalogue: CheckCatalogue) -> APIRouter:
    """The routes; the app keeps ``auth`` in ``app.state.admin_auth``."""
    routes = APIRouter(prefix="/admin/v1/organizations/{organization}", tags=["admin"])
    control, clock = auth.control, auth.clock

    @routes.get("/keys", summary="The organization's keys (never the keys themselves)")
    def list_keys(organization: Org) -> list[KeyView]:
        now = clock()
        return [KeyView.of(c, now) for c in control.keys_of(organization)]

    @routes.post("/keys", status_code=201, summary="Make a key; the answer holds it once")
    async def create_key(organization: Org, request: KeyRequest) -> NewKey:
        key, credential = operations.create_key(Kind(request.kind), organization,
                                                request.label, clock())
        await publish([credential])
        return NewKey(key=key, details=KeyView.of(credential, clock()))

    @routes.post("/keys/{key_id}/rotate", summary="Make a successor; the old key ends after "
                                                  "the overlap")
    async def rotate_key(organization: Org, key_id: str,
                         request: Annotated[RotateRequest | None, Body()] = None) -> NewKey:
        overlap = (request or RotateRequest()).overlapSeconds
        key, new, old = operations.rotate_key(control, key_id, overlap, clock(), organization)
        await publish([new, old])
        return NewKey(key=key, details=KeyView.of(new, clock()))

    @routes.delete("/keys/{key_id}", summary="Revoke a key: refused everywhere within seconds")
    async def revoke_key(organization: Org, key_id: str) -> KeyView:
        revoked = operations.revoke_key(control, key_id, clock(), organization)
        await publish([revoked])
        return KeyView.of(revoked, clock())

    @routes.put("/status", summary="Disable or enable the organization")
    async def set_status(organization: Org, request: StatusRequest) -> StatusRequest:
        await publish([operations.set_disabled(organization, request.disabled, request.reason,
                                               clock())])
        return request

    @routes.get("/catalogue", summary="The organization's own rights catalogue")
    def get_catalogue(organization: Org) -> dict[str, Any]:
        document = control.catalogue(organization)
        if document is None:
            raise NotFound(f"organization {organization} has no catalogue of its own",
                           "catalogue")
        return document

    @routes.put("/catalogue", summary="Replace the organization's rights catalogue")
    async def put_catalogue(organization: Org,
                            document: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        check_catalogue(document)
        await publish([operations.set_catalogue(organization, document, clock())])
        return document

    @routes.delete("/catalogue", status_code=204, response_class=Response,
                   summary="Remove it: the deployment's catalogue applies again")
    async def clear_catalogue(organization: Org) -> Response:
        await publish([(f"{CATALOGUE}/{organization}", None)])
        return Response(status_code=204)

    return routes
