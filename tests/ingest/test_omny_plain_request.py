"""Omny's plain request (read without FastAPI's request handling) is answered as FastAPI's path.

``omny.plain_request`` takes a request only when FastAPI would read the same
organization and envelope from it; the route then serves it without
FastAPI's dependency solving, validation and serialization. Every request,
plain or not, must get the very answer (status, headers, body), publish the
very events and dead letters and count the same metrics as through FastAPI.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from pydantic_core import from_json
from starlette.requests import Request

from config.settings import Settings
from control.registry import Registry
from ingest.app import create_app
from ingest.dialects import omny
from ingest.routes import omny as omny_route
from tests.ingest.fake_gateway import AppClient, KeepingPublisher

ORG = "126281f8-200e-4c9f-8378-a4870055423b"
NOW = 1_764_547_200.0
SESSION = "9f0e1c52-8d2b-4a4f-9a49-3f3f3bb7c0de"
CLIP = "2b1f5f0e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

PUBLISHER = KeepingPublisher()
# The clock stands still: the events of both paths are received at the same time.
_APP = create_app(Settings(), publisher=PUBLISHER, clock=lambda: NOW, control=Registry())
APP, APP_GATEWAY = AppClient(_APP), _APP.state.gateway


def good_event(seq: int, **change: Any) -> dict[str, Any]:
    return {"OrganizationId": ORG, "ClipId": CLIP, "SessionId": SESSION,
            "Type": "Start" if seq % 2 else "Stop", "Position": 10 * seq, "SeqNumber": seq,
            "Timestamp": NOW - 60 + seq, **change}


# Mostly the plain spelling, so that the plain path is compared often.
orgs = st.one_of(st.just(ORG), st.just(ORG), st.just(ORG), st.just(ORG), st.just(ORG.upper()),
                 st.just(ORG.replace("-", "")), st.just("{" + ORG + "}"), st.uuids().map(str),
                 st.text(max_size=12))
queries = st.one_of(
    orgs.map(lambda o: {"organizationId": o}),
    st.tuples(orgs, orgs).map(lambda p: [("organizationId", p[0]), ("organizationId", p[1])]),
    orgs.map(lambda o: [("organizationId", o), ("key", "k")]),
    st.just({}), st.just({"organizationid": ORG}))
good_events = st.integers(min_value=1, max_value=6).map(
    lambda n: [good_event(i) for i in range(1, n + 1)])
events = st.one_of(
    good_events, good_events, good_events,
    st.integers(min_value=1, max_value=6).map(lambda n: [good_event(i) for i in range(1, n + 1)]),
    st.just([good_event(1), good_event(2, Position="later")]),
    st.just([good_event(1, SeqNumber=0)]),
    st.just([good_event(1, Extra=1)]),
    st.just([good_event(1, OrganizationId=str(uuid.UUID(int=7)))]),
    st.just([]), st.just({}), st.just("events"), st.none(), st.just([1, "two"]))
sources = st.one_of(st.sampled_from([s.value for s in omny.OmnySource]),
                    st.sampled_from([s.value for s in omny.OmnySource]),
                    st.sampled_from(["mobileapp", "Mobile", "", 1, None, True, ["Web"]]))
completed = st.one_of(st.just(True), st.sampled_from([True, 1, "true", False, None, 1.0]))


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    body: dict[str, Any] = {"Source": draw(sources), "Events": draw(events),
                            "Completed": draw(completed)}
    for key in draw(st.sets(st.sampled_from(["Source", "Events", "Completed"]), max_size=2)):
        del body[key]
    if draw(st.booleans()) and draw(st.booleans()):
        body["Extra"] = draw(st.sampled_from([None, 1, "x"]))
    return body


documents = st.one_of(
    envelopes().map(json.dumps),
    envelopes().map(lambda b: json.dumps(b).replace('"Completed": true', '"Completed": 1e0')),
    envelopes().map(lambda b: json.dumps(b).replace('"Source": ', '"Source": "Web", "Source": ')),
    envelopes().map(lambda b: json.dumps([b])),
    st.sampled_from(["", "{", "null", "[]", '{"Source": "Web"} x', "NaN", '"\\ud800"']),
)
content_types = st.sampled_from(["application/json", "text/plain", "application/merge+json"])


@contextmanager
def without_plain_path() -> Iterator[None]:
    plain = omny_route.plain_request

    async def never(_: Request) -> None:
        return None

    omny_route.plain_request = never  # type: ignore[assignment]
    try:
        yield
    finally:
        omny_route.plain_request = plain


def counters() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = APP_GATEWAY.metrics.registry
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in registry.collect() for s in metric.samples
            if s.name.endswith("_total")}




def answered(query: Any, document: str, content_type: str) -> tuple[Any, ...]:
    before = counters()
    answer = APP.post("/api/consumption/events", params=query, content=document.encode(),
                      headers={"Content-Type": content_type})
    after = counters()
    published, letters = PUBLISHER.take()
    return (answer.status_code, sorted(answer.headers.items()), answer.content,
            published, letters,
            {key: value - before.get(key, 0.0) for key, value in after.items()
             if value != before.get(key, 0.0)})


@contextmanager
def watching_the_plain_path(taken: list[bool]) -> Iterator[None]:
    plain = omny_route.plain_request

    async def watched(request: Request) -> Any:
        found = await plain(request)
        taken.append(found is not None)
        return found

    omny_route.plain_request = watched
    try:
        yield
    finally:
        omny_route.plain_request = plain


@given(query=queries, document=documents, content_type=content_types)
@settings(max_examples=examples(400), deadline=None)
def test_every_request_is_answered_as_through_fastapi(query: Any, document: str,
                                                      content_type: str) -> None:
    taken: list[bool] = []
    with watching_the_plain_path(taken):
        plain = answered(query, document, content_type)
    with without_plain_path():
        through_fastapi = answered(query, document, content_type)
    event("plain path" if any(taken) else "FastAPI's path")
    event(f"status {plain[0]}")
    event("published" if plain[3] else "nothing published")
    assert plain == through_fastapi


def test_a_plain_request_takes_the_plain_path() -> None:
    """The property above must compare the plain path, not FastAPI's twice."""
    body = {"Source": "Web", "Events": [good_event(1), good_event(2)], "Completed": True}
    scope = {"type": "http", "method": "POST", "path": "/api/consumption/events",
             "headers": [(b"content-type", b"application/json")],
             "query_string": f"organizationId={ORG.upper()}".encode()}

    async def read() -> Any:
        async def receive() -> Any:
            return {"type": "http.request", "body": json.dumps(body).encode(),
                    "more_body": False}
        return await omny_route.plain_request(Request(scope, receive))

    organization, envelope = asyncio.run(read())
    assert organization == ORG
    assert envelope == omny.OmnyEnvelope.model_validate(body)
    assert answered({"organizationId": ORG}, json.dumps(body), "application/json")[0] == 200


@pytest.mark.parametrize("disabled", [False, True])
def test_a_disabled_organization_is_answered_as_through_fastapi(disabled: bool) -> None:
    body = json.dumps({"Source": "Web", "Events": [good_event(1)], "Completed": True})
    config = APP_GATEWAY.config
    APP_GATEWAY.config = dataclasses.replace(
        config, disabled_organizations=frozenset({ORG} if disabled else ()))
    try:
        plain = answered({"organizationId": ORG}, body, "application/json")
        with without_plain_path():
            assert plain == answered({"organizationId": ORG}, body, "application/json")
    finally:
        APP_GATEWAY.config = config
    assert plain[2] == (b'{"Enabled":false}' if disabled else b'{"Enabled":true}')


def test_the_rate_limit_counts_a_plain_request_once() -> None:
    body = json.dumps({"Source": "Web", "Events": [good_event(1)], "Completed": True})
    limited = AppClient(create_app(Settings(rate_limit_per_second=1.0, rate_limit_burst=3),
                                   publisher=KeepingPublisher(), clock=lambda: NOW,
                                   control=Registry()))
    try:
        statuses = [limited.post("/api/consumption/events", params={"organizationId": ORG},
                                 content=body.encode(),
                                 headers={"Content-Type": "application/json"})
                    for _ in range(4)]
        with without_plain_path():
            refused = limited.post("/api/consumption/events", params={"organizationId": ORG},
                                   content=body.encode(),
                                   headers={"Content-Type": "application/json"})
    finally:
        limited.close()
    assert [s.status_code for s in statuses] == [200, 200, 200, 429]
    assert (refused.status_code, refused.headers, refused.content) == (
        statuses[3].status_code, statuses[3].headers, statuses[3].content)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
              st.integers(min_value=-2**80, max_value=2**80), st.text(max_size=12),
              st.sampled_from(["\ud800", "\udc00x", "\u2028", "é", "\x00", "😀"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
JSON_EDGES = [b'{"a":1,"a":2}', b'\xef\xbb\xbf{}', b"NaN", b'{"a":-Infinity}', b"1e400", b"-0",
              b"-0.0", b"1.0000000000000000000000001", b"0.1e-400", b'"\\ud800"',
              b'"\\udc00\\ud800"', b'"\xed\xa0\x80"', b'"\xff"', b'"\xc0\xaf"', b"[1,]", b"01",
              b'"x\x01y"', b'"\t"', b"\x0c{}", b"{}\x00", b" {} \n", b"1_000", b"+1", b".5",
              b'"\\x41"', b'"\\/"', b"\xe2\x80\xa8{}", b'{"a":tru}', b"", b"[" * 5000]


def read(reader: Any, document: bytes) -> str:
    try:
        return repr(reader(document))  # repr: 1, 1.0 and True differ, and so do nan's
    except (ValueError, RecursionError):
        return "refused"


@given(value=json_values, ascii_only=st.booleans(), spaced=st.booleans(),
       cut=st.integers(min_value=0, max_value=40), junk=st.binary(max_size=3))
@settings(max_examples=examples(600), deadline=None)
def test_the_plain_json_reader_reads_what_json_loads_reads(
        value: Any, ascii_only: bool, spaced: bool, cut: int, junk: bytes) -> None:
    """pydantic's reader (the plain path's) refuses a document or reads json.loads's values."""
    text = json.dumps(value, ensure_ascii=ascii_only, indent=2 if spaced else None)
    document = text.encode("utf-8", "surrogatepass")
    for variant in (document, document[:cut] + junk + document[cut:]):
        fast = read(from_json, variant)
        assert fast in ("refused", read(json.loads, variant)), variant


@pytest.mark.parametrize("document", JSON_EDGES)
def test_the_plain_json_reader_at_the_edges(document: bytes) -> None:
    fast = read(from_json, document)
    assert fast in ("refused", read(json.loads, document))
