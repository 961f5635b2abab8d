"""Music clips event tracking: ``POST /app-start``, ``/play``, ... (one event per request).

The routes sit at the root paths the API page uses, so an integration only
changes its base URL, and again under ``/clips/`` for deployments where those
generic root paths are taken. Both spellings derive the same event ids, so a
retry through the other path still dedupes.

Answers follow the API: ``/app-start`` answers the appId, ``/play`` the rights
check, the rest 204 once Kafka acknowledged the event. Refusals keep the
gateway's shape (``error``, ``problems``, same status codes) and add the
API's ``success: false``, ``reason`` and ``code`` so its clients understand them.
"""


import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ingest.access import AccessDenied
from ingest.batch import publish_whole
from ingest.dialects import musicclips
from ingest.dialects.context import Dialect
from ingest.dialects.musicclips import Endpoint
from ingest.gateway import Gateway
from ingest.publisher import PublishUnavailable
from ingest.rejections import Rejected, internal_error
from ingest.request_organization import HeaderOrganization, QueryOrganization, resolve_organization
from ingest.rights import UNCHECKED, Catalogues, Decision, FailureCode, load

PREFIX = "/clips"
DIALECT = Dialect(musicclips.DIALECT, musicclips.to_events, musicclips.locate)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def failure_code(err: Exception, status: int) -> FailureCode:
    """The API's failure code for a refused request."""
    if isinstance(err, Rejected) and any(p.reason == "missing" and p.path == "organizationId"
                                         for p in err.problems):
        return FailureCode.MISSING_HEADERS
    if isinstance(err, RequestValidationError):
        outside_body = all(e["loc"] and e["loc"][0] in ("header", "query") for e in err.errors())
        return FailureCode.INVALID_PARAMETERS if outside_body else FailureCode.VALIDATION_ERROR
    if isinstance(err, AccessDenied) and status in (401, 403):
        return FailureCode.AUTHENTICATION_FAILED
    if isinstance(err, AccessDenied | PublishUnavailable):
        return FailureCode.SERVICE_UNAVAILABLE  # rate limited or Kafka down: retry later
    if isinstance(err, Rejected) and any(p.reason == "organization_mismatch"
                                         for p in err.problems):
        return FailureCode.INVALID_PARAMETERS
    return FailureCode.VALIDATION_ERROR


class ClipsRoute(APIRoute):
    """Lets the app's exception handlers answer, then adds the API's failure fields."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as err:
                handler = _app_handler(request, err)
                if handler is None:
                    return _with_failure(internal_error(err), FailureCode.INTERNAL_ERROR)
                response: Response = await handler(request, err)
                return _with_failure(response, failure_code(err, response.status_code))

        return answer


def _app_handler(request: Request, err: Exception) -> Any:
    handlers = request.app.exception_handlers
    for kind in type(err).__mro__:
        if kind in handlers and kind is not Exception:
            return handlers[kind]
    return None


def _with_failure(response: Response, code: FailureCode) -> Response:
    try:
        content = json.loads(bytes(response.body))
    except ValueError:
        return response
    problems = content.get("problems") or []
    reason = problems[0]["message"] if problems else content.get("error", "refused")
    content.update(success=False, reason=reason, code=code.value)
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in ("content-length", "content-type")}
    return JSONResponse(status_code=response.status_code, content=content, headers=headers)


@dataclass(frozen=True, slots=True)
class Caller:
    organization: str
    idempotency_key: str | None


def router(gateway: Gateway) -> APIRouter:
    # The settings' file is read once at start: a bad one stops the gateway with the
    # entry named. An organization's own catalogue, from the control topic, wins.
    catalogues = Catalogues(load(gateway.config.rights_catalogue), gateway.control)

    def caller(
        request: Request, header: HeaderOrganization = None, query: QueryOrganization = None,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
            description="Optional: the same key on a retry makes it count once, and distinct "
                        "keys keep apart two events stamped with the same instant")] = None,
    ) -> Caller:
        return Caller(resolve_organization(gateway, request, header, query), idempotency_key)

    Who = Annotated[Caller, Depends(caller)]
    routes = APIRouter(tags=["Music clips event tracking"], route_class=ClipsRoute,
                       dependencies=[Depends(gateway.admit)])

    async def record(endpoint: Endpoint, body: musicclips.ClipsEvent, who: Caller,
                     decision: Decision = UNCHECKED, answered_app_id: int | None = None) -> None:
        request = musicclips.ClipsRequest(endpoint, body, decision, who.idempotency_key,
                                          answered_app_id)
        await publish_whole(gateway, DIALECT, request, gateway.context(who.organization))

    def post(endpoint: Endpoint, summary: str, **options: Any) -> Callable[[Any], Any]:
        def register(function: Any) -> Any:
            for path in (f"/{endpoint}", f"{PREFIX}/{endpoint}"):
                routes.post(path, summary=summary, **options)(function)
            return function
        return register

    def no_content(endpoint: Endpoint, summary: str) -> Callable[[Any], Any]:
        return post(endpoint, summary, status_code=204, response_class=Response)

    @post(Endpoint.APP_START, "The app was opened; answers the client's appId",
          response_model=musicclips.AppStartAnswer)
    async def app_start(body: musicclips.AppStart, who: Who) -> musicclips.AppStartAnswer:
        answered = musicclips.app_id(who.organization, body.clientId)
        await record(Endpoint.APP_START, body, who, answered_app_id=answered)
        return musicclips.AppStartAnswer(appId=answered)

    @no_content(Endpoint.APP_CLOSE, "The app was closed")
    async def app_close(body: musicclips.AppClose, who: Who) -> Response:
        await record(Endpoint.APP_CLOSE, body, who)
        return Response(status_code=204)

    @post(Endpoint.PLAY, "A clip began playing; answers whether it has streaming rights",
          response_model=musicclips.PlayAnswer, response_model_exclude_none=True)
    async def play(body: musicclips.Play, who: Who) -> musicclips.PlayAnswer:
        # Recorded whether or not it has rights (rights=denied is not paid for).
        decision = catalogues.of(who.organization).decide(body.clipId)
        await record(Endpoint.PLAY, body, who, decision)
        return musicclips.PlayAnswer.of(decision)

    @no_content(Endpoint.TRACK_PLAY, "A full-length track began playing")
    async def track_play(body: musicclips.TrackPlay, who: Who) -> Response:
        await record(Endpoint.TRACK_PLAY, body, who)
        return Response(status_code=204)

    @no_content(Endpoint.ADD, "A clip was chosen for the user's content")
    async def add(body: musicclips.Add, who: Who) -> Response:
        await record(Endpoint.ADD, body, who,
                     catalogues.of(who.organization).decide(body.clipId))
        return Response(status_code=204)

    @no_content(Endpoint.SHARE, "Content with a clip was shared to another platform")
    async def share(body: musicclips.Share, who: Who) -> Response:
        await record(Endpoint.SHARE, body, who,
                     catalogues.of(who.organization).decide(body.clipId))
        return Response(status_code=204)

    @no_content(Endpoint.DOWNLOAD, "Content with a clip was downloaded to the device")
    async def download(body: musicclips.Download, who: Who) -> Response:
        await record(Endpoint.DOWNLOAD, body, who,
                     catalogues.of(who.organization).decide(body.clipId))
        return Response(status_code=204)

    return routes
