"""The admin API and runtime read tokens, on a real broker: tenancy holds on every call.

An admin key manages its own organization only; an operator token manages
any. Keys made through the API work on the read API within seconds, and a
revoked one stops working as fast, with no restart.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from conftest import free_port
from serving import serve_app

from config.settings import Settings
from control import operations
from control.credentials import Kind, digest
from control.topic import publish
from processors.topics import ensure_topics
from readapi.app import create_app
from sinks.client import connect
from sinks.migrate import migrate

pytestmark = pytest.mark.integration

OPERATOR = "operator-" + uuid.uuid4().hex
ORG_A, ORG_B = "org-a-" + uuid.uuid4().hex[:6], "org-b-" + uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def warehouse(kafka: Settings, warehouse_url: str) -> Settings:
    """The broker and a migrated database of this module's own."""
    database = f"admin_{uuid.uuid4().hex[:8]}"
    migrate(connect(warehouse_url), database)
    return kafka.model_copy(update={"clickhouse_url": warehouse_url,
                                    "clickhouse_database": database})


@pytest.fixture(scope="module")
def api(warehouse: Settings) -> Iterator[tuple[str, Settings]]:
    suffix = uuid.uuid4().hex[:8]
    settings = warehouse.model_copy(update={
        "control_topic": f"test.admin.{suffix}.control", "api_port": free_port(),
        "operator_token_digests": [digest(OPERATOR)]})
    ensure_topics(settings)
    for url in serve_app(create_app(settings), settings.api_port, settings.api_url,
                         "the read API"):
        yield url, settings


def call(method: str, url: str, token: str | None, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def soon(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.1)


def make_admin(api: tuple[str, Settings], organization: str) -> str:
    url, _ = api
    made = call("POST", f"{url}/admin/v1/organizations/{organization}/keys", OPERATOR,
                json={"kind": "admin", "label": "ops"})
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    soon(lambda: call("GET", f"{url}/admin/v1/organizations/{organization}/keys",
                      key).status_code == 200, "the admin key works")
    return key


def test_an_admin_key_manages_its_own_organization_and_nothing_else(
        api: tuple[str, Settings]) -> None:
    url, _ = api
    admin_a = make_admin(api, ORG_A)
    base_a = f"{url}/admin/v1/organizations/{ORG_A}"
    base_b = f"{url}/admin/v1/organizations/{ORG_B}"
    assert call("POST", f"{base_a}/keys", admin_a, json={"kind": "read"}).status_code == 201
    made_b = call("POST", f"{base_b}/keys", OPERATOR, json={"kind": "write"}).json()
    soon(lambda: len(call("GET", f"{base_b}/keys", OPERATOR).json()) == 1, "B's key listed")

    # Every admin route refuses A's key for B, whatever the method.
    for method, path, body in [
            ("GET", "/keys", None), ("POST", "/keys", {"kind": "read"}),
            ("POST", f"/keys/{made_b['details']['id']}/rotate", None),
            ("DELETE", f"/keys/{made_b['details']['id']}", None),
            ("PUT", "/status", {"disabled": True}), ("GET", "/catalogue", None),
            ("PUT", "/catalogue", {"clips": []}), ("DELETE", "/catalogue", None)]:
        answer = call(method, base_b + path, admin_a, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert f"belongs to organization {ORG_A}" in answer.json()["detail"]
    # Nor can it reach B's key through its own organization's path.
    revoke = call("DELETE", f"{base_a}/keys/{made_b['details']['id']}", admin_a)
    assert revoke.status_code == 404
    listed = call("GET", f"{base_a}/keys", admin_a).json()
    assert {k["organization"] for k in listed} == {ORG_A}
    assert all("key" not in k for k in listed)  # never the keys themselves
    assert call("GET", f"{base_a}/keys", None).status_code == 401
    assert call("GET", f"{base_a}/keys", made_b["key"]).status_code == 401  # a write key


def test_a_read_token_made_at_runtime_reads_its_organization_until_revoked(
        api: tuple[str, Settings]) -> None:
    url, _ = api
    admin_a = make_admin(api, ORG_A)
    made = call("POST", f"{url}/admin/v1/organizations/{ORG_A}/keys", admin_a,
                json={"kind": "read", "label": "dashboard"}).json()
    token, key_id = made["key"], made["details"]["id"]

    def sessions(token: str) -> httpx.Response:
        # The organization comes from the token; the query names none.
        return call("GET", f"{url}/analytics/sessions/no-such-session/events", token)

    soon(lambda: sessions(token).status_code == 404, "the read token is accepted")
    assert sessions(token).json()["name"] == "sessionId"
    revoked = call("DELETE", f"{url}/admin/v1/organizations/{ORG_A}/keys/{key_id}", admin_a)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    soon(lambda: sessions(token).status_code == 401, "the revoked token is refused")
    assert "revoked" in sessions(token).json()["detail"]


def test_a_bad_catalogue_is_refused_naming_the_entry_and_a_good_one_is_kept(
        api: tuple[str, Settings]) -> None:
    url, _ = api
    base = f"{url}/admin/v1/organizations/{ORG_A}/catalogue"
    bad = call("PUT", base, OPERATOR, json={"clips": [{"clipId": 7, "rights": "yes"}]})
    assert bad.status_code == 400 and "clips[0].rights (clipId 7)" in bad.json()["detail"]
    good = {"clips": [{"clipId": 7, "rights": True}]}
    assert call("PUT", base, OPERATOR, json=good).status_code == 200
    soon(lambda: call("GET", base, OPERATOR).json() == good, "the catalogue is kept")
    assert call("DELETE", base, OPERATOR).status_code == 204
    soon(lambda: call("GET", base, OPERATOR).status_code == 404, "the catalogue is gone")


def test_keys_published_before_start_are_known_when_the_api_answers(
        warehouse: Settings) -> None:
    settings = warehouse.model_copy(update={
        "control_topic": f"test.admin.{uuid.uuid4().hex[:8]}.control", "api_port": free_port()})
    ensure_topics(settings)
    key, credential = operations.create_key(Kind.READ, ORG_B, "", time.time())
    asyncio.run(publish(settings.kafka_bootstrap, settings.control_topic, [credential]))
    for url in serve_app(create_app(settings), settings.api_port, settings.api_url, "read API"):
        answer = call("GET", f"{url}/analytics/sessions/none/events", key)
        assert answer.status_code == 404  # known at once: the start waited for the topic
