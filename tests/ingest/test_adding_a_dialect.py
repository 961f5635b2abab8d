"""Adding a dialect is one dialect module and one route module (docs/gateway.md).

The dialect here (beats_dialect.py) is built only in tests: it goes on an app
built in the test, is published through the gateway's shared checks, and an
app built without it is the gateway as shipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import beats_dialect
import pytest
from conftest import REPO
from fake_gateway import AppClient, KeepingPublisher

from config.settings import Settings
from control.registry import Registry
from ingest.app import create_app
from ingest.routes import all_routers

ORG = "org-beats"
HEADERS = {"X-Playhead-Organization": ORG}


def beat(seq: int, **changes: Any) -> dict[str, Any]:
    at = datetime.fromtimestamp(time.time() - 60 + seq, UTC).isoformat()
    return {"session": "s-1", "clip": "c-1", "seq": seq, "position": float(seq), "at": at,
            **changes}


@pytest.fixture
def gateway() -> Iterator[tuple[AppClient, KeepingPublisher]]:
    keeping = KeepingPublisher()
    app = create_app(Settings(), publisher=keeping, control=Registry(),
                     routers=[*all_routers(), beats_dialect.router])
    client = AppClient(app)
    try:
        yield client, keeping
    finally:
        client.close()


def test_a_batch_keeps_its_valid_beats_and_names_the_others(
        gateway: tuple[AppClient, KeepingPublisher]) -> None:
    client, keeping = gateway
    answer = client.post("/v1/test-beats", headers=HEADERS, json={"beats": [
        beat(1), beat(2, position="far"), beat(3, position=1e9), beat(4)]})
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 2
    refused = {r["index"]: [(p["path"], p["reason"]) for p in r["problems"]]
               for r in answer.json()["rejected"]}
    # Invalid by the dialect's model, and outside the gateway's bounds (named as sent).
    assert refused == {1: [("beats[1].position", "invalid")],
                       2: [("beats[2].position", "out_of_bounds")]}
    events, _ = keeping.take()
    assert [(e.dialect, e.organization_id, e.sequence_number) for e in events] == [
        ("beats", ORG, 1), ("beats", ORG, 4)]
    metrics = client.get("/metrics").text
    assert 'playhead_gateway_events_accepted_total{dialect="beats"} 2.0' in metrics


def test_a_single_beat_is_taken_or_refused_whole_under_the_time_policy(
        gateway: tuple[AppClient, KeepingPublisher]) -> None:
    client, keeping = gateway
    assert client.post("/v1/test-beat", headers=HEADERS, json=beat(1)).status_code == 202
    old = client.post("/v1/test-beat", headers=HEADERS,
                      json=beat(2, at="2020-01-01T00:00:00Z"))
    assert old.status_code == 422
    assert [(p["path"], p["reason"]) for p in old.json()["problems"]] == [("at", "too_old")]
    events, _ = keeping.take()
    assert [e.sequence_number for e in events] == [1]


def test_without_it_the_gateway_is_as_shipped() -> None:
    shipped = json.loads((REPO / "docs" / "openapi.json").read_text())
    with_beats = create_app(Settings(), routers=[*all_routers(), beats_dialect.router])
    assert "/v1/test-beats" in with_beats.openapi()["paths"]
    without = create_app(Settings(), routers=all_routers())
    assert without.openapi() == shipped == create_app(Settings()).openapi()
    client = AppClient(without)
    try:
        assert client.post("/v1/test-beats", headers=HEADERS,
                           json={"beats": [beat(1)]}).status_code == 404
    finally:
        client.close()


def test_nothing_under_ingest_names_it() -> None:
    for path in (REPO / "ingest").rglob("*.py"):
        text = path.read_text()
        assert "beats_dialect" not in text and "test-beat" not in text, path
