"""The admin API's erasures, on a real broker and warehouse: own organization only, no id kept.

An admin key erases in its own organization and lists its erasures; it is
refused (403) for another organization's, a request without a key is refused
(401); an operator token may act for any. The recorded erasure names who
asked (the admin key's id) and never the id erased.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from conftest import free_port
from serving import serve_app
from test_admin_api import call, soon

from config.settings import Settings
from control.credentials import digest
from processors.topics import ensure_topics
from readapi.app import create_app
from sinks.client import connect
from sinks.migrate import migrate

pytestmark = pytest.mark.integration

OPERATOR = "operator-" + uuid.uuid4().hex
ORG_A, ORG_B = "erase-a-" + uuid.uuid4().hex[:6], "erase-b-" + uuid.uuid4().hex[:6]
USER = "user-to-forget-" + uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def api(kafka: Settings, warehouse_url: str) -> Iterator[tuple[str, Settings]]:
    database = f"admin_erase_{uuid.uuid4().hex[:8]}"
    client = connect(warehouse_url)
    migrate(client, database)
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={
        "clickhouse_url": warehouse_url, "clickhouse_database": database,
        "control_topic": f"test.erase.{suffix}.control", "api_port": free_port(),
        "operator_token_digests": [digest(OPERATOR)]})
    ensure_topics(settings)
    for organization in (ORG_A, ORG_B):
        at = datetime(2026, 3, 1, 12, tzinfo=UTC)
        client.insert(f"{database}.session_events", [[
            organization, "clip", f"s-{organization}", "e1", 1, at, "play", "start", 0.0, None,
            {"user_id": USER}, 1]], column_names=[
            "organization_id", "clip_id", "session_id", "event_id", "sequence_number",
            "timestamp", "kind", "action", "position_seconds", "seek_to_seconds",
            "attributes", "version"])
    for url in serve_app(create_app(settings), settings.api_port, settings.api_url,
                         "the read API"):
        yield url, settings
    client.command(f"DROP DATABASE IF EXISTS {database}")


def admin_key(url: str, organization: str) -> tuple[str, str]:
    made = call("POST", f"{url}/admin/v1/organizations/{organization}/keys", OPERATOR,
                json={"kind": "admin"})
    assert made.status_code == 201, made.text
    key, key_id = made.json()["key"], made.json()["details"]["id"]
    soon(lambda: call("GET", f"{url}/admin/v1/organizations/{organization}/keys",
                      key).status_code == 200, "the admin key works")
    return key, key_id


def test_an_admin_key_erases_in_its_own_organization_only(api: tuple[str, Settings]) -> None:
    url, _ = api
    key_a, key_id_a = admin_key(url, ORG_A)
    mine = f"{url}/admin/v1/organizations/{ORG_A}/erasures"
    theirs = f"{url}/admin/v1/organizations/{ORG_B}/erasures"
    for method, body in (("POST", {"userId": USER}), ("GET", None)):
        refused = call(method, theirs, key_a, json=body)
        assert refused.status_code == 403, refused.text
        assert call(method, mine, None, json=body).status_code == 401
    assert call("POST", mine, key_a, json={"userId": USER, "clientId": "x"}).status_code == 400

    dry = call("POST", mine, key_a, json={"userId": USER, "dryRun": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["sessions"] == 1 and dry.json()["dryRun"] is True
    assert call("GET", mine, key_a).json() == []  # a dry run records nothing

    done = call("POST", mine, key_a, json={"userId": USER})
    assert done.status_code == 200, done.text
    assert done.json()["rows"]["session_events"] == 1
    listed = call("GET", mine, key_a)
    assert listed.status_code == 200
    [record] = listed.json()
    assert record["requestedBy"] == f"admin-key:{key_id_a}"
    assert record["subjectKind"] == "user" and record["sessions"] == 1
    assert USER not in listed.text and USER not in done.text
    # B's session of the same user id is untouched: A's key reached nothing of B's.
    left = call("POST", theirs, OPERATOR, json={"userId": USER, "dryRun": True})
    assert left.json()["sessions"] == 1


def test_an_operator_token_erases_anywhere(api: tuple[str, Settings]) -> None:
    url, _ = api
    answer = httpx.post(f"{url}/admin/v1/organizations/{ORG_B}/erasures",
                        headers={"Authorization": f"Bearer {OPERATOR}"},
                        json={"deviceId": "no-such-device"}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["requestedBy"] == "operator" and answer.json()["sessions"] == 0


def test_a_read_only_warehouse_user_gets_an_answer_that_says_what_to_grant(
    api: tuple[str, Settings], warehouse_url: str
) -> None:
    """Deployments often give the read API a read-only ClickHouse user."""
    _, settings = api
    read_only = settings.model_copy(update={"api_port": free_port()})
    app = create_app(read_only, lambda: connect(warehouse_url, readonly=1))
    for url in serve_app(app, read_only.api_port, read_only.api_url, "a read-only read API"):
        answer = httpx.post(f"{url}/admin/v1/organizations/{ORG_B}/erasures",
                            headers={"Authorization": f"Bearer {OPERATOR}"},
                            json={"userId": USER}, timeout=60)
        assert answer.status_code == 500, answer.text
        assert "ALTER DELETE and INSERT" in answer.text and "playhead CLI" in answer.text
        assert USER not in answer.text
    # Nothing was erased: B's session of the user is still there.
    still = httpx.post(f"{api[0]}/admin/v1/organizations/{ORG_B}/erasures",
                       headers={"Authorization": f"Bearer {OPERATOR}"},
                       json={"userId": USER, "dryRun": True}, timeout=60)
    assert still.json()["sessions"] == 1
