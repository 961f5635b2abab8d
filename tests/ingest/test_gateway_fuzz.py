"""Property: whatever a client sends, no route answers 5xx, and every event a 2xx answer
accepted keeps the bounds of schemas/bounds.py.

Each example takes a route's valid reference request and replaces one to three of
its values (or adds a field) with something hostile: huge or negative numbers,
2^63, 1e19, NaN and infinities, numbers as strings, lone surrogates, control
characters, long strings, times at the edges of what ISO 8601 and Python allow.
The app runs in this process with a publisher that keeps (and encodes) what it
is given, so a few hundred examples take seconds.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fake_gateway import AppClient, KeepingPublisher, client
from hostile_inputs import hostile, routes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from schemas import event_codec
from schemas.bounds import MAX_EVENT_BYTES, Bounds

ORG = str(uuid.uuid4())
BOUNDS = Bounds()
# Modest by default (two shared cores); PLAYHEAD_FUZZ_EXAMPLES=2000 for a deeper search,
# that count under any profile.
EXAMPLES = int(os.environ.get("PLAYHEAD_FUZZ_EXAMPLES") or examples(50))
ROUTES = routes(ORG)


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[AppClient, KeepingPublisher]]:
    with client() as pair:
        yield pair


def test_the_reference_requests_are_accepted(
    gateway: tuple[AppClient, KeepingPublisher],
) -> None:
    # The property below is only as good as its starting points: each must be valid.
    app, publisher = gateway
    for name, (path, body) in ROUTES.items():
        answer = send(app, path, body())
        assert 200 <= answer.status_code < 300, (name, answer.text)
        assert answer.status_code == 204 or answer.json().get("rejected", []) == [], name
        events, letters = publisher.take()
        assert events and not letters, name


def send(app: AppClient, path: str, body: Any) -> Any:
    return app.post(path, content=json.dumps(body).encode(),
                    params={"organizationId": ORG if path.startswith("/api/") else "acme"},
                    headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("route", list(ROUTES))
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_no_input_gets_a_5xx_and_every_accepted_event_keeps_the_bounds(
    gateway: tuple[AppClient, KeepingPublisher], route: str, data: st.DataObject,
) -> None:
    app, publisher = gateway
    publisher.take()  # nothing left over from another test
    path, base = ROUTES[route]
    body = data.draw(hostile(base()), label="body")
    answer = send(app, path, body)
    events, letters = publisher.take()
    assert answer.status_code < 500, answer.text[:2000]
    assert answer.status_code == 204 or answer.headers["content-type"].startswith(
        "application/json"), answer.headers
    if answer.status_code >= 300:
        assert (events, letters) == ([], []), "a refused request published something"
        assert answer.json()["error"], answer.text[:2000]
        return
    for event in events:
        assert not BOUNDS.violations(event), (event, BOUNDS.violations(event))
        assert len(event_codec().encode(event.to_record())) <= MAX_EVENT_BYTES
    for letter in letters:  # Omny sessions kept for inspection: still the client's JSON
        json.loads(letter.value)
        assert all(isinstance(value, bytes) for _, value in letter.headers())
