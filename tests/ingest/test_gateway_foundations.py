"""What every route gets: bodies as players send them, limits, keys, CORS, health, metrics."""

from __future__ import annotations

import gzip
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import free_port
from samples import omny_request
from serving import serve_app

from config.settings import Settings
from ingest.app import create_app
from processors.topics import ensure_topics

pytestmark = pytest.mark.integration  # gateways on the session's broker

ORG = str(uuid.uuid4())
OTHER_ORG = str(uuid.uuid4())
KEY = "key-" + uuid.uuid4().hex


def serve(settings: Settings) -> Iterator[str]:
    yield from serve_app(create_app(settings), settings.gateway_port, settings.gateway_url,
                         "the gateway")


@pytest.fixture(scope="module")
def gateway(kafka: Settings) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={
        "events_topic": f"test.found.{suffix}", "dead_letter_topic": f"test.found.{suffix}.dlq",
        "gateway_port": free_port(), "max_body_bytes": 4096,
        "cors_origins": ["https://player.example"]})
    ensure_topics(settings)
    yield from serve(settings)


@pytest.fixture(scope="module")
def keyed_gateway(kafka: Settings) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={
        "events_topic": f"test.keyed.{suffix}", "dead_letter_topic": f"test.keyed.{suffix}.dlq",
        "gateway_port": free_port(), "write_keys": {KEY: ORG},
        "rate_limit_per_second": 1.0, "rate_limit_burst": 3})
    ensure_topics(settings)
    yield from serve(settings)


def post(url: str, body: Any = None, org: str = ORG, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", {}).setdefault("Content-Type", "application/json")
    if body is None:
        body = omny_request(org=org, session=str(uuid.uuid4()), now=time.time())
    content = body if isinstance(body, bytes) else httpx.Request("POST", url, json=body).content
    return httpx.post(f"{url}/api/consumption/events", params={"organizationId": org},
                      content=content, timeout=30, **kwargs)


def test_json_sent_as_text_plain_like_send_beacon_is_accepted(gateway: str) -> None:
    answer = post(gateway, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert answer.status_code == 200, answer.text


def test_gzip_body_is_accepted(gateway: str) -> None:
    raw = httpx.Request("POST", gateway, json=omny_request(
        org=ORG, session=str(uuid.uuid4()), now=time.time())).content
    answer = post(gateway, gzip.compress(raw), headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text


def test_unknown_content_type_is_415_naming_what_is_accepted(gateway: str) -> None:
    answer = post(gateway, b"Source=Web",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]


def test_malformed_json_is_400(gateway: str) -> None:
    answer = post(gateway, b'{"Source": "Web", "Events": [')
    assert answer.status_code == 400
    assert answer.json()["problems"][0]["reason"] == "malformed_json"


def test_body_over_the_limit_is_413_also_when_compressed(gateway: str) -> None:
    assert post(gateway, b" " * 5000).status_code == 413
    bomb = gzip.compress(b"[" + b"0," * 100_000 + b"0]")
    answer = post(gateway, bomb, headers={"Content-Type": "application/json",
                                          "Content-Encoding": "gzip"})
    assert answer.status_code == 413 and "decompressed" in answer.json()["error"]


def test_corrupt_gzip_is_400(gateway: str) -> None:
    answer = post(gateway, b"not gzip at all", headers={"Content-Type": "application/json",
                                                        "Content-Encoding": "gzip"})
    assert answer.status_code == 400


def test_cors_preflight_allows_the_configured_origin_only(gateway: str) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(f"{gateway}/api/consumption/events", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})

    allowed = preflight("https://player.example")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://player.example"
    assert "access-control-allow-origin" not in preflight("https://evil.example").headers


def test_health_readiness_and_metrics(gateway: str) -> None:
    assert httpx.get(f"{gateway}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gateway}/readyz").status_code == 200
    post(gateway)
    metrics = httpx.get(f"{gateway}/metrics").text
    assert 'playhead_gateway_events_accepted_total{dialect="omny"}' in metrics
    assert "playhead_gateway_produce_seconds_bucket" in metrics


def test_openapi_document_is_published(gateway: str) -> None:
    document = httpx.get(f"{gateway}/openapi.json").json()
    assert "/api/consumption/events" in document["paths"]


def test_write_key_is_required_and_scoped_to_its_organization(keyed_gateway: str) -> None:
    assert post(keyed_gateway).status_code == 401
    wrong = post(keyed_gateway, org=OTHER_ORG, headers={"Authorization": f"Bearer {KEY}"})
    assert wrong.status_code == 403 and OTHER_ORG in wrong.json()["error"]
    assert post(keyed_gateway, headers={"X-Playhead-Key": KEY}).status_code == 200


def test_rate_limit_answers_429_with_retry_after(keyed_gateway: str) -> None:
    caller = {"X-Playhead-Key": "unknown-" + uuid.uuid4().hex}  # limited before the key check
    answers = [post(keyed_gateway, headers=dict(caller)) for _ in range(6)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert int(limited[0].headers["Retry-After"]) >= 1
