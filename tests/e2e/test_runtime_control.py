"""Keys, disabled organizations and catalogues changed with `playhead` on a running gateway.

Nothing restarts: the gateway follows the control topic, and each change
must show in its answers within seconds (docs/operations/control.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port
from samples import omny_request
from serving import serve_app

from config.settings import Settings
from ingest.app import create_app
from playhead.cli import main
from processors.topics import ensure_topics

pytestmark = pytest.mark.integration

ORG_A, ORG_B = str(uuid.uuid4()), str(uuid.uuid4())
PROMISED_SECONDS = 5.0  # what docs/operations/control.md promises


@pytest.fixture(scope="module")
def gateway(kafka: Settings) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={
        "events_topic": f"test.ctl.{suffix}", "dead_letter_topic": f"test.ctl.{suffix}.dlq",
        "control_topic": f"test.ctl.{suffix}.control", "gateway_port": free_port()})
    ensure_topics(settings)
    for _ in serve_app(create_app(settings), settings.gateway_port, settings.gateway_url,
                       "the gateway"):
        yield settings


def playhead(settings: Settings, *args: str) -> str:
    """Runs `playhead ARGS` against the test's broker and control topic; its stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--set", f"kafka_bootstrap={settings.kafka_bootstrap}",
                     "--set", f"control_topic={settings.control_topic}", *args])
    assert code == 0, f"playhead {' '.join(args)} exited {code}"
    return out.getvalue()


def omny(settings: Settings, org: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{settings.gateway_url}/api/consumption/events",
                      params={"organizationId": org}, headers=headers,
                      json=omny_request(session=str(uuid.uuid4()), org=org, now=time.time()),
                      timeout=30)


def within_promise(check: Callable[[], bool], what: str) -> float:
    started = time.monotonic()
    while not check():
        took = time.monotonic() - started
        assert took < PROMISED_SECONDS, f"{what}: not in effect after {took:.1f} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_keys_made_rotated_and_revoked_take_effect_without_a_restart(gateway: Settings) -> None:
    assert omny(gateway, ORG_A, None).status_code == 200  # no keys yet: open, as configured
    first = playhead(gateway, "keys", "create", "--kind", "write", "--organization", ORG_A,
                     "--label", "web player").strip()
    within_promise(lambda: omny(gateway, ORG_A, None).status_code == 401,
                   "a first key makes keys required")
    assert omny(gateway, ORG_A, first).status_code == 200
    foreign = omny(gateway, ORG_B, first)
    assert foreign.status_code == 403 and ORG_A in foreign.json()["error"]

    listing = playhead(gateway, "keys", "list", "--organization", ORG_A)
    [row] = listing.splitlines()[1:]
    key_id = row.split()[0]
    assert first.startswith(f"phw_{key_id}_") and "active" in row and first not in listing

    second = playhead(gateway, "keys", "rotate", key_id, "--overlap", "3").strip()
    assert omny(gateway, ORG_A, second).status_code == 200 or within_promise(
        lambda: omny(gateway, ORG_A, second).status_code == 200, "the successor works")
    assert omny(gateway, ORG_A, first).status_code == 200  # the overlap
    within_promise(lambda: omny(gateway, ORG_A, first).status_code == 401,
                   "the rotated key ends after its 3 s overlap")
    assert "expired" in omny(gateway, ORG_A, first).json()["error"]

    second_id = second.split("_")[1]
    playhead(gateway, "keys", "revoke", second_id)
    within_promise(lambda: omny(gateway, ORG_A, second).status_code == 401,
                   "a revoked key is refused")
    assert "revoked" in omny(gateway, ORG_A, second).json()["error"]


def test_disabling_an_organization_tells_its_players_at_once(gateway: Settings) -> None:
    org = str(uuid.uuid4())
    key = playhead(gateway, "keys", "create", "--kind", "write", "--organization", org).strip()
    within_promise(lambda: omny(gateway, org, key).json() == {"Enabled": True}, "key works")
    playhead(gateway, "org", "disable", org, "--reason", "contract ended")
    within_promise(lambda: omny(gateway, org, key).json() == {"Enabled": False}, "disabled")
    playhead(gateway, "org", "enable", org)
    within_promise(lambda: omny(gateway, org, key).json() == {"Enabled": True}, "enabled")


def test_a_catalogue_change_answers_the_next_play_differently(gateway: Settings,
                                                              tmp_path: Path) -> None:
    org = str(uuid.uuid4())
    key = playhead(gateway, "keys", "create", "--kind", "write", "--organization", org).strip()

    def play() -> dict[str, Any]:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        answer = httpx.post(f"{gateway.gateway_url}/play", json={
            "clientId": "listener-1", "timestamp": stamp, "method": "Stream", "clipId": 123},
            headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    within_promise(lambda: play() == {"success": True}, "the key works; no catalogue")
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"clips": [
        {"clipId": 123, "rights": False, "code": "NO_STREAMING_RIGHTS",
         "reason": "The label withdrew streaming rights"}]}))
    playhead(gateway, "catalogue", "set", org, str(catalogue))
    withdrawn = {"success": False, "reason": "The label withdrew streaming rights",
                 "code": "NO_STREAMING_RIGHTS"}
    within_promise(lambda: play() == withdrawn, "the catalogue answers /play")
    assert json.loads(playhead(gateway, "catalogue", "show", org))["clips"][0]["clipId"] == 123
    playhead(gateway, "catalogue", "clear", org)
    within_promise(lambda: play() == {"success": True}, "the cleared catalogue")


def test_a_bad_catalogue_is_refused_naming_the_entry(gateway: Settings, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"clips": [{"clipId": 1, "rights": "yes"}]}))
    code = main(["--set", f"kafka_bootstrap={gateway.kafka_bootstrap}",
                 "--set", f"control_topic={gateway.control_topic}",
                 "catalogue", "set", ORG_A, str(bad)])
    assert code == 1
    assert "clips[0].rights (clipId 1)" in capsys.readouterr().err
