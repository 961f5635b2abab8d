"""An unexpected exception is an honest answer: JSON in the route's shape, logged, and the
client's pooled connection keeps working. Over real HTTP (uvicorn), since how the
server treats the connection after a failure is what a pooled client lives with.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from conftest import free_port
from fake_gateway import KeepingPublisher
from samples import omny_request
from serving import serve_app

from config.settings import Settings
from control.registry import Registry
from ingest.app import create_app

ORG = str(uuid.uuid4())


class Bug(RuntimeError):
    """What a programming error in the gateway looks like to it: not a refusal, not Kafka."""


@pytest.fixture
def gateway() -> Iterator[tuple[str, KeepingPublisher]]:
    publisher = KeepingPublisher()
    settings = Settings(gateway_port=free_port())
    for url in serve_app(create_app(settings, publisher=publisher, control=Registry()),
                         settings.gateway_port,
                         settings.gateway_url, "the gateway"):
        yield url, publisher


def omny() -> dict[str, object]:
    return omny_request(org=ORG, session=str(uuid.uuid4()), now=time.time())


def test_an_internal_error_answers_json_and_the_same_client_goes_on(
    gateway: tuple[str, KeepingPublisher], caplog: pytest.LogCaptureFixture,
) -> None:
    url, publisher = gateway
    publisher.fail_with = Bug("a bug in the gateway")
    with httpx.Client(base_url=url, timeout=30) as http, caplog.at_level(logging.ERROR):
        failed = http.post("/api/consumption/events", params={"organizationId": ORG},
                           json=omny())
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/json"
        assert failed.headers["connection"] == "close"
        error = failed.json()["error"]
        assert error.startswith("internal error (reference ") and "retry later" in error
        reference = error.split("reference ")[1].split(")")[0]
        # The next request on the same pooled client is answered.
        again = http.post("/api/consumption/events", params={"organizationId": ORG},
                          json=omny())
        assert (again.status_code, again.json()) == (200, {"Enabled": True})
    [logged] = [r for r in caplog.records if reference in r.getMessage()]
    assert logged.exc_info is not None and logged.exc_info[0] is Bug
    assert len(publisher.events) == 4


def test_music_clips_internal_error_has_the_apis_shape(
    gateway: tuple[str, KeepingPublisher],
) -> None:
    url, publisher = gateway
    publisher.fail_with = Bug("a bug in the gateway")
    body = {"clientId": "c-1", "timestamp": datetime.now(UTC).isoformat(), "clipId": 123,
            "method": "Stream"}
    with httpx.Client(base_url=url, timeout=30,
                      headers={"X-Playhead-Organization": "acme"}) as http:
        failed = http.post("/play", json=body)
        assert failed.status_code == 500
        answer = failed.json()
        assert (answer["success"], answer["code"]) == (False, "INTERNAL_ERROR")
        assert answer["reason"] == answer["error"] and answer["problems"] == []
        again = http.post("/play", json=body)
        assert (again.status_code, again.json()) == (200, {"success": True})
