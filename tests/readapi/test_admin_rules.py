"""The admin API's qualifying-play rules: tenancy, validation, idempotence (readapi/admin_rules.py).

An admin key sets and reads its own organization's rules only; an operator
token any organization's. A rule that cannot be applied is a 400 naming the
part; setting the same rule twice restates nothing. The read API runs on a
socket over chDB, with its control state given (no broker to follow).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from serving import serve_app

from config.settings import Settings
from control import operations
from control.credentials import Kind, digest
from control.records import encode
from control.registry import Registry
from readapi.app import create_app
from sinks.client import connect
from sinks.migrate import migrate

pytestmark = pytest.mark.integration  # chDB

OPERATOR = "operator-" + uuid.uuid4().hex
ORG_A, ORG_B = "org-a", "org-b"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    path: Path = tmp_path_factory.mktemp("rules-api") / "chdb"
    client = connect(f"chdb://{path}")
    migrate(client, "playhead")
    registry = Registry()
    key, credential = operations.create_key(Kind.ADMIN, ORG_A, "ops", time.time())
    registry.apply(*encode(credential))
    settings = Settings(clickhouse_url=f"chdb://{path}", clickhouse_database="playhead",
                        api_port=free_port(), operator_token_digests=[digest(OPERATOR)])
    app = create_app(settings, lambda: client, control=registry)
    for url in serve_app(app, settings.api_port, settings.api_url, "the read API"):
        yield url, key
    client.close()


def call(method: str, url: str, token: str | None, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def rules_url(url: str, organization: str) -> str:
    return f"{url}/admin/v1/organizations/{organization}/rules"


def test_an_admin_key_sets_its_own_rules_and_no_other_organizations(
        api: tuple[str, str]) -> None:
    url, key = api
    rule = {"effectiveDay": "2026-11-01", "minSessionSeconds": 30}
    assert call("PUT", rules_url(url, ORG_B), key, json=rule).status_code == 403
    assert call("GET", rules_url(url, ORG_B), key).status_code == 403
    assert call("PUT", rules_url(url, ORG_A), None, json=rule).status_code == 401
    assert call("PUT", rules_url(url, ORG_A), "not-a-key", json=rule).status_code == 401

    first = call("PUT", rules_url(url, ORG_A), key, json=rule)
    assert first.status_code == 200, first.text
    assert first.json() == {"rule": {"source": "", "effectiveDay": "2026-11-01",
                                     "minSessionSeconds": 30.0, "completionThreshold": 0.95,
                                     "bucketSeconds": 1},
                            "restated": True, "daysRebuilt": []}
    again = call("PUT", rules_url(url, ORG_A), key, json=rule)
    assert again.json()["restated"] is False

    listed = call("GET", rules_url(url, ORG_A), key).json()
    assert [r["minSessionSeconds"] for r in listed["rules"]] == [30.0]
    assert listed["rules"][0]["setBy"].startswith("admin-key:")
    assert len(listed["restatements"]) == 1  # the repeat logged nothing
    # The operator manages any organization; B's rules are B's alone.
    wider = {"effectiveDay": "2026-11-02", "bucketSeconds": 5, "source": "omny"}
    assert call("PUT", rules_url(url, ORG_B), OPERATOR, json=wider).json()["restated"] is True
    assert [r["bucketSeconds"] for r in call("GET", rules_url(url, ORG_A), key)
            .json()["rules"]] == [1]
    assert call("GET", rules_url(url, ORG_B), OPERATOR).json()["rules"][0]["setBy"] == "operator"


@pytest.mark.parametrize("body, part", [
    ({"effectiveDay": "2026-11-01", "bucketSeconds": 0}, "bucketSeconds"),
    ({"effectiveDay": "2026-11-01", "completionThreshold": 1.5}, "completionThreshold"),
    ({"effectiveDay": "2026-11-01", "bucketSeconds": 10_000_000}, "longest clip"),
    ({"effectiveDay": "2026-11-01T06:00:00Z"}, "effectiveDay"),
])
def test_a_rule_that_cannot_be_applied_is_refused(api: tuple[str, str], body: dict[str, object],
                                                  part: str) -> None:
    url, _ = api
    answer = call("PUT", rules_url(url, "org-c"), OPERATOR, json=body)
    assert answer.status_code in (400, 422), answer.text
    assert part in answer.text
