"""Omny Studio consumption API: ``POST /api/consumption/events?organizationId=``.

Omny clients read no per-event errors: they send completed sessions and
expect ``{"Enabled": true}``. So a request that is an Omny request at all
(``Source``, ``Events``, ``Completed: true``) is judged session by session:
a session with an invalid, too old or out-of-bounds event goes whole to the
dead-letter topic, with the reason and the events as sent (a session with
one bad event would give wrong figures, and the worker's DLQ is where
refused input is looked at), and the other sessions are published. The
answer comes once Kafka acknowledged both. A body that is not an Omny
request is refused whole (4xx) naming every bad field.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from pydantic_core import from_json

from ingest.batch import convert_items, validate_indexed
from ingest.dialects import omny
from ingest.dialects.context import DialectContext
from ingest.gateway import Admitted, DeadLetter, Gateway, Problem
from ingest.rejections import Rejected

log = logging.getLogger("playhead.gateway")
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
SOURCE = f"gateway/{omny.DIALECT}"
# Kafka's default message limit is 1 MB; a dead letter stays under it with its headers.
MAX_DEAD_LETTER_BYTES = 900_000
MAX_DETAIL_PROBLEMS = 20
MAX_DETAIL_CHARS = 8_000


class OmnyRoute(APIRoute):
    """A body that is not an Omny request is refused whole: name its events' problems too.

    The route reads only the envelope (the events are judged per session), so
    without this a missing ``Source`` would hide a bad ``Events[1].Position``.

    A plain request (``plain_request``) is served without FastAPI's handling of
    it (dependency solving, validation, the answer's serialization): the same
    rate limit, judging, publishing and answer. Any other request takes
    FastAPI's path and is answered as before.
    """

    gateway: Gateway | None = None  # set on the class ``router`` makes: whose route it is

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        gateway = self.gateway

        async def answer(request: Request) -> Response:
            plain = await plain_request(request) if gateway is not None else None
            if plain is not None and gateway is not None:
                # FastAPI's order: the route's dependency (the rate limit), then the endpoint.
                await gateway.admit(request)
                enabled = await take(gateway, plain[1], request, plain[0])
                return Response(_ANSWERS[enabled], media_type="application/json")
            try:
                return await handle(request)
            except RequestValidationError as err:
                raise RequestValidationError(_every_problem(err), body=err.body) from err

        return answer


# The answers FastAPI writes for OmnyAnswer(Enabled=...).
_ANSWERS = {True: b'{"Enabled":true}', False: b'{"Enabled":false}'}
_ENVELOPE_KEYS = frozenset(("Source", "Events", "Completed"))
_SOURCES = {source.value: source for source in omny.OmnySource}


async def plain_request(request: Request) -> tuple[str, omny.OmnyEnvelope] | None:
    """The organization and envelope of a request FastAPI would read without a problem,
    read to what FastAPI reads (its document, the last ``organizationId``); None for
    anything else, which FastAPI then reads and answers itself.

    Plain: a JSON body that is an object of exactly ``Source`` (one of its values
    as a string), a non-empty ``Events`` list and ``Completed: true``, and a
    hyphenated GUID as ``organizationId``: a subset of what ``OmnyEnvelope`` and
    the ``UUID`` query parameter accept, read to the same values
    (tests/ingest/test_omny_plain_request.py holds the two readings together, and
    the JSON reader to ``json.loads``).
    """
    if request.headers.get("content-type") != "application/json":
        return None  # ingest/body.py always says so; FastAPI reads anything else
    organization = omny.Guids().canonical(request.query_params.get("organizationId"))
    if organization is None:
        return None
    try:
        # pydantic's JSON reader, about 40 % faster than json.loads (which FastAPI uses):
        # it reads every document json.loads reads to the same values, or refuses it
        # (a lone surrogate, a byte order mark), and FastAPI then reads it itself.
        document = from_json(await request.body())
    except Exception:  # not JSON (or not readable): FastAPI's reading says why
        return None
    if type(document) is not dict or document.keys() != _ENVELOPE_KEYS:
        return None
    source, events = document["Source"], document["Events"]
    source = _SOURCES.get(source) if type(source) is str else None
    if source is None or document["Completed"] is not True or type(events) is not list \
            or not events:
        return None
    return organization, omny.OmnyEnvelope.model_construct(
        Source=source, Events=events, Completed=True)


def _every_problem(err: RequestValidationError) -> list[Any]:
    errors = list(err.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return errors
    try:
        omny.OmnyRequest.model_validate(err.body)
    except ValidationError as full:
        outside_body = [e for e in errors if e["loc"][:1] != ("body",)]
        return outside_body + [{**e, "loc": ("body", *e["loc"])} for e in full.errors()]
    return errors


@dataclass(frozen=True, slots=True)
class Judged:
    events: list[Admitted]
    letters: list[DeadLetter]
    problems: list[Problem]


def judge(gateway: Gateway, body: omny.OmnyEnvelope, context: DialectContext) -> Judged:
    """Each session's events, or the session as a dead letter naming every problem.

    ``context.path`` is ``Events``: every problem names the event by its place
    in the whole request.
    """
    dialect = omny.item_dialect(body.Source)
    events: list[Admitted] = []
    letters: list[DeadLetter] = []
    refused: list[Problem] = []
    guids = omny.Guids()
    for session in omny.sessions_of(body.Events, guids):
        plain = gateway.admit_plain(
            omny.plain_events(session.items, body.Source, context, guids))
        if plain is not None:  # the common case, without a model per event
            events += plain
            continue
        valid, problems = validate_indexed(omny.EVENT, session.items, context.path)
        if not problems:  # an event that is no Omny event at all says enough on its own
            accepted = convert_items(gateway, dialect, valid, context, problems)
            if not problems:
                events += accepted
                continue
        found = [problem for each in problems.values() for problem in each]
        letters.append(_dead_letter(session, body.Source.value, context.organization, found))
        refused += found
    return Judged(events, letters, refused)


def _dead_letter(session: omny.Session, source: str, organization_id: str,
                 problems: list[Problem]) -> DeadLetter:
    # ensure_ascii=False keeps the size of what was sent; a lone surrogate (which
    # has no UTF-8 form) is written back as the \uXXXX escape the client sent.
    value = json.dumps(session.as_request(source), ensure_ascii=False,
                       separators=(",", ":")).encode("utf-8", "backslashreplace")
    detail = "; ".join(p.message if p.message.startswith(p.path) else f"{p.path}: {p.message}"
                       for p in problems[:MAX_DETAIL_PROBLEMS])
    if len(problems) > MAX_DETAIL_PROBLEMS:
        detail += f"; and {len(problems) - MAX_DETAIL_PROBLEMS} more problems"
    detail = detail[:MAX_DETAIL_CHARS]
    # The key only says where the session came from (the value holds it whole), so a
    # SessionId that is not a GUID, of any length, cannot make the message too large.
    label = session.label if len(session.label) <= 128 else f"{session.label[:128]}..."
    key = f"{organization_id}/{label}".encode("utf-8", "backslashreplace")
    if len(value) + len(key) + 4 * len(detail) > MAX_DEAD_LETTER_BYTES:
        raise Rejected([Problem("Events", "too_large", (
            f"session {label[:64]} cannot be kept on its own: its {len(session.items)} "
            f"events take {len(value)} bytes, over the {MAX_DEAD_LETTER_BYTES} a dead letter "
            f"holds ({detail[:500]}); send fewer events per request"))], status=413)
    return DeadLetter(key=key, value=value, reason=problems[0].reason, detail=detail,
                      source=SOURCE)


async def take(gateway: Gateway, body: omny.OmnyEnvelope, request: Request,
               organization: str) -> bool:
    """The endpoint: whether the organization is enabled, once its sessions are published
    (or dead-lettered) and Kafka acknowledged them."""
    gateway.authorize(request, {organization})
    if gateway.is_disabled(organization):
        return False
    judged = judge(gateway, body, gateway.context(organization, "Events"))
    gateway.reject(omny.DIALECT, judged.problems)
    await gateway.publish_with_dead_letters(omny.DIALECT, judged.events, judged.letters)
    for letter in judged.letters:
        log.info("omny session %s dead-lettered (%s): %s", letter.key.decode(),
                 letter.reason, letter.detail[:500])
    return True


def router(gateway: Gateway) -> APIRouter:
    class Route(OmnyRoute):
        pass

    Route.gateway = gateway  # a class of its own: FastAPI builds the route from its class
    routes = APIRouter(tags=["Omny consumption API"], route_class=Route,
                       dependencies=[Depends(gateway.admit)])

    @routes.post("/api/consumption/events", response_model=omny.OmnyAnswer,
                 summary="Send completed listening sessions",
                 description="Sessions are judged one by one: a session with an invalid, too "
                 "old or out-of-bounds event is kept in the dead-letter topic with its reason "
                 "and the others are stored; the answer is the same. A body that is not an "
                 "Omny request is refused (4xx) naming every bad field.")
    async def omny_events(
        body: omny.OmnyEnvelope,
        request: Request,
        organization_id: Annotated[uuid.UUID, Query(
            alias="organizationId", description="GUID of the Omny Studio organization")],
    ) -> omny.OmnyAnswer:
        return omny.OmnyAnswer(Enabled=await take(gateway, body, request, str(organization_id)))

    return routes
