"""Music clips routes over real HTTP, publishing to the real broker."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port
from test_gateway_foundations import serve
from topic_reader import read_keys

from config.settings import Settings
from devkit.sample_retime import retimed
from ingest.app import create_app
from ingest.rights import CatalogueError
from processors.topics import ensure_topics

pytestmark = pytest.mark.integration  # gateways on the session's broker

KEY = "key-" + uuid.uuid4().hex
KEY_ORG = "org-" + uuid.uuid4().hex[:8]
CATALOGUE = {"clips": [
    {"clipId": 123, "rights": True, "tracks": [789]},
    {"clipId": "124", "rights": False, "reason": "The label withdrew streaming rights"},
]}


def _settings(kafka: Settings, tmp: Path, **changes: Any) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    catalogue = tmp / "rights.json"
    catalogue.write_text(json.dumps(CATALOGUE))
    settings = kafka.model_copy(update={
        "events_topic": f"test.clips.{suffix}", "dead_letter_topic": f"test.clips.{suffix}.dlq",
        "gateway_port": free_port(), "rights_catalogue": catalogue, **changes})
    ensure_topics(settings)
    return settings


@pytest.fixture(scope="module")
def gateway(kafka: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = _settings(kafka, tmp_path_factory.mktemp("clips"))
    for _ in serve(settings):
        yield settings


@pytest.fixture(scope="module")
def keyed_gateway(kafka: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = _settings(kafka, tmp_path_factory.mktemp("clips-keyed"), write_keys={KEY: KEY_ORG})
    for _ in serve(settings):
        yield settings


def post(settings: Settings, path: str, body: dict[str, Any], org: str | None,
         **headers: str) -> httpx.Response:
    if org is not None:
        headers["X-Playhead-Organization"] = org
    return httpx.post(f"{settings.gateway_url}{path}", json=body, headers=headers, timeout=30)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key_of(org: str, body: dict[str, Any]) -> str:
    return f"{org}/{body['clientId']}:{body['timestamp'][:10]}"


def test_reference_examples_land_in_kafka_keyed_by_organization_and_client(
    gateway: Settings,
) -> None:
    org = str(uuid.uuid4())
    requests = retimed("musicclips", time.time())
    answers = {path: post(gateway, path, body, org) for path, body in requests.items()}
    assert {path: a.status_code for path, a in answers.items()} == {
        "/app-start": 200, "/play": 200, "/track-play": 204, "/add": 204, "/share": 204,
        "/app-close": 204, "/download": 204}
    app_id = answers["/app-start"].json()["appId"]
    assert isinstance(app_id, int) and app_id > 0
    assert answers["/play"].json() == {"success": True}
    # The same client gets the same appId on its next start.
    again = post(gateway, "/app-start", {**requests["/app-start"], "timestamp": now_iso()}, org)
    assert again.json() == {"appId": app_id}

    wanted = Counter(key_of(org, body) for body in requests.values())
    wanted[key_of(org, {**requests["/app-start"], "timestamp": now_iso()})] += 1
    found = read_keys(gateway, wanted)
    events = [event for batch in found.values() for event in batch]
    assert Counter(e.action for e in events) == Counter({
        "app_start": 2, "clip_play": 1, "track_play": 1, "add": 1, "share": 1, "app_close": 1,
        "download": 1})
    assert {e.dialect for e in events} == {"musicclips"}
    assert {e.kind.value for e in events} == {"OTHER"}
    play = next(e for e in events if e.action == "clip_play")
    assert (play.clip_id, play.attributes["rights"], play.attributes["tracks"]) == (
        "123", "granted", "789")
    download = next(e for e in events if e.action == "download")
    assert download.attributes["country"] == "US" and download.session_id.startswith("client123:")


def test_play_answers_the_rights_check_and_records_every_play(gateway: Settings) -> None:
    org = str(uuid.uuid4())
    body = {"clientId": "listener-1", "timestamp": now_iso(), "method": "Stream"}
    answers = [post(gateway, "/play", {**body, "clipId": clip}, org).json()
               for clip in ("123", 124, "999")]
    assert answers == [
        {"success": True},
        {"success": False, "reason": "The label withdrew streaming rights",
         "code": "NO_STREAMING_RIGHTS"},
        {"success": False, "reason": "clip 999 is not in the rights catalogue",
         "code": "CLIP_NOT_FOUND"},
    ]
    [events] = read_keys(gateway, {key_of(org, body): 3}).values()
    rights = {e.clip_id: (e.attributes["rights"], e.attributes.get("code")) for e in events}
    assert rights == {"123": ("granted", None), "124": ("denied", "NO_STREAMING_RIGHTS"),
                      "999": ("denied", "CLIP_NOT_FOUND")}


def test_prefixed_path_and_retries_carry_the_same_event_id(gateway: Settings) -> None:
    org = str(uuid.uuid4())
    body = {"clientId": "listener-2", "timestamp": now_iso(), "clipId": 123, "method": "Sync"}
    assert post(gateway, "/play", body, org).status_code == 200
    assert post(gateway, "/clips/play", body, org).status_code == 200
    keyed = post(gateway, "/clips/play", body, org, **{"Idempotency-Key": "k-1"})
    assert keyed.status_code == 200
    [events] = read_keys(gateway, {key_of(org, body): 3}).values()
    ids = Counter(e.event_id for e in events)
    assert sorted(ids.values()) == [1, 2]  # the retry dedupes; the keyed play is its own


def test_refusals_keep_the_gateway_shape_and_add_the_failure_code(gateway: Settings) -> None:
    org = str(uuid.uuid4())
    body = {"clientId": "listener-3", "timestamp": now_iso(), "clipId": 123, "method": "Stream"}
    invalid = post(gateway, "/play", {**body, "preview": "perhaps"}, org)
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "VALIDATION_ERROR" and invalid.json()["success"] is False
    assert [p["path"] for p in invalid.json()["problems"]] == ["preview"]
    unnamed = post(gateway, "/add", body, None)
    assert unnamed.status_code == 422 and unnamed.json()["code"] == "MISSING_HEADERS"
    share = {"clientId": "listener-3", "clipId": 123, "platform": "tiktok"}
    old = post(gateway, "/share", {**share, "timestamp": "2020-01-01T00:00:00Z"}, org)
    assert old.status_code == 422
    [problem] = old.json()["problems"]
    assert (problem["path"], problem["reason"]) == ("timestamp", "too_old")


def test_the_write_key_decides_the_organization(keyed_gateway: Settings) -> None:
    body = {"clientId": "listener-" + uuid.uuid4().hex[:6], "timestamp": now_iso()}
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert post(keyed_gateway, "/app-close", body, None, **bearer).status_code == 204
    refused = post(keyed_gateway, "/app-close", body, None)
    assert refused.status_code == 401 and refused.json()["code"] == "AUTHENTICATION_FAILED"
    foreign = post(keyed_gateway, "/app-close", body, "someone-else", **bearer)
    assert foreign.status_code == 403 and foreign.json()["code"] == "AUTHENTICATION_FAILED"
    [events] = read_keys(keyed_gateway, {key_of(KEY_ORG, body): 1}).values()
    assert events[0].organization_id == KEY_ORG


def test_a_bad_catalogue_stops_the_gateway_at_start(tmp_path: Path) -> None:
    path = tmp_path / "rights.json"
    path.write_text(json.dumps({"clips": [{"clipId": 5, "rights": "sometimes"}]}))
    with pytest.raises(CatalogueError, match=r"clips\[0\]\.rights \(clipId 5\)"):
        create_app(Settings(rights_catalogue=path))
