"""mParticle's own browser SDKs pointed at Playhead (``domain: "host:port"`` in their config).

``@mparticle/web-sdk`` 2.x starts only once ``POST /identity/v1/identify``
answered, asks ``GET /tags/JS/v2/{apiKey}/config`` for its settings, then
uploads batches to ``POST /webevents/v3/JS/{apiKey}/events`` (``text/plain``,
and by ``navigator.sendBeacon`` on page hide). The API key is the write key:
``PLAYHEAD_WRITE_KEYS`` maps it to its organization; without write keys the
key names the organization itself. docs/integrations/mparticle.md.

Answer codes follow the SDK's upload rules: it retries 5xx, 429 and other
codes under 401 at its next batching interval, and drops a batch answered 401
or above. So an unknown key is 401 (retrying cannot help), Kafka down is 503
(retried, nothing lost), and a batch with no media event in it is 202.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ingest.access import AccessDenied
from ingest.batch import BatchAnswer, answer, judge_each
from ingest.dialects import mparticle, mparticle_sdk
from ingest.dialects.context import Dialect
from ingest.dialects.fields import KEY_PART_PATTERN
from ingest.gateway import Gateway
from ingest.rejections import Rejected

EVENT = TypeAdapter(mparticle.MParticleEvent)
DIALECT = Dialect(mparticle.DIALECT, mparticle.to_events, mparticle.locate)

ApiKey = Annotated[str, Path(alias="apiKey", pattern=KEY_PART_PATTERN, description=(
    "The mParticle API key the SDK was started with: a write key of PLAYHEAD_WRITE_KEYS, "
    "or without write keys the organization's id"))]
MpKey = Annotated[str | None, Header(alias="x-mp-key", description="The SDK's API key")]
IdentityRequest = Annotated[dict[str, Any], Body(description=(
    "The SDK's identity request; Playhead reads known_identities.device_application_stamp"))]


class SdkBatch(BaseModel):
    """An upload of the web SDK: its events, with the device and user context, as sent."""

    model_config = ConfigDict(extra="allow")

    events: list[Any] = Field(default_factory=list, description=(
        "Every event the SDK logged; media events are stored, the others skipped"))


class SdkBatchAnswer(BatchAnswer):
    skipped: int = Field(0, description="Events that are not media events: not stored")


class IdentityAnswer(BaseModel):
    context: str | None = None
    is_ephemeral: bool = False
    is_logged_in: bool = False
    matched_identities: dict[str, Any] = Field(default_factory=dict)
    mpid: str = Field(description="Stable per device; Playhead is no identity service")


def organization_of_key(gateway: Gateway, key: str | None) -> str:
    """The organization an mParticle API key writes for; 401 when there is none."""
    if not key:
        raise AccessDenied(401, "no mParticle API key: start the SDK with "
                                "mParticle.init('<key>', ...); the key is sent as x-mp-key")
    if gateway.keys.required:
        try:
            return gateway.keys.owner(key, gateway.clock())
        except AccessDenied as err:
            raise AccessDenied(401, f"mParticle API key refused ({err}): start the SDK with a "
                                    "write key made by `playhead keys create` or listed in "
                                    "PLAYHEAD_WRITE_KEYS") from err
    if not re.fullmatch(KEY_PART_PATTERN, key):
        raise AccessDenied(401, "without PLAYHEAD_WRITE_KEYS the mParticle API key names the "
                                "organization: 1 to 128 printable ASCII characters, no '/'")
    return key


def router(gateway: Gateway) -> APIRouter:
    routes = APIRouter(tags=["mParticle web SDK"], dependencies=[Depends(gateway.admit)])

    async def identify(body: IdentityRequest, key: MpKey = None) -> IdentityAnswer:
        organization = organization_of_key(gateway, key)
        return IdentityAnswer(**mparticle_sdk.identity_answer(organization, body))

    # login and logout answer as identify: the device keeps its one mpid.
    for method in ("identify", "login", "logout"):
        routes.add_api_route(
            f"/identity/v1/{method}", identify, methods=["POST"],
            response_model=IdentityAnswer, name=f"mparticle_{method}",
            summary=f"mParticle identity {method}: the device's stable mpid",
            description="Playhead is no identity service: every device gets one mpid, "
                        "derived from the SDK's device stamp; nobody is logged in.")

    @routes.post("/identity/v1/{mpid}/modify", summary="mParticle identity modify: no change",
                 description="Accepted and forgotten: Playhead keeps no user identities.")
    async def modify(body: IdentityRequest, mpid: Annotated[str, Path(pattern=r"^-?[0-9]{1,20}$")],
                     key: MpKey = None) -> dict[str, Any]:
        organization_of_key(gateway, key)
        return {"change_results": []}

    @routes.get("/tags/JS/v2/{apiKey}/config", summary="mParticle web SDK configuration",
                description="Sets the SDK's batching interval (eventBatchingIntervalMillis): "
                            "without it the SDK posts every event on its own.")
    async def config(api_key: ApiKey) -> dict[str, Any]:
        organization_of_key(gateway, api_key)
        return mparticle_sdk.config_answer()

    @routes.post("/webevents/v3/JS/{apiKey}/events", status_code=202,
                 response_model=SdkBatchAnswer,
                 summary="An upload of mParticle's web SDK (fetch or sendBeacon)",
                 description="Media events are read as /v1/mparticle/events reads them, "
                             "data.source_message_id as the event id; other events are "
                             "skipped and counted. Valid events are stored even when others "
                             "are refused.")
    async def events(body: SdkBatch, api_key: ApiKey) -> SdkBatchAnswer:
        organization = organization_of_key(gateway, api_key)
        media, skipped = mparticle_sdk.split(body.events)
        for event_type in skipped:
            gateway.metrics.skipped.labels(mparticle.DIALECT, event_type).inc()
        # Validated alone, each named by its index in the whole upload.
        published, refused = judge_each(gateway, DIALECT, EVENT, media,
                                        gateway.context(organization, "events"))
        if media and not published:
            # Nothing to store and retrying cannot change that: 422, which the SDK drops.
            raise Rejected([problem for found in refused.values() for problem in found])
        await gateway.publish(mparticle.DIALECT, published)
        counted = answer(len(media) - len(refused), refused)
        return SdkBatchAnswer(accepted=counted.accepted, rejected=counted.rejected,
                              skipped=len(skipped))

    return routes
