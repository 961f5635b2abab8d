"""Royalty counts per platform through the music-clips routes, the worker and ClickHouse."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import Pipeline, running_pipeline, wait_until

from config.settings import Settings

pytestmark = pytest.mark.integration  # a pipeline

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def pipeline(kafka: Settings, warehouse_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    # Day-sessions close after three idle seconds here, and a late app-start re-opens them.
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("music"),
                          idle_timeout_seconds=3.0) as (settings, client):
        yield Pipeline(settings, client)


def post(pipeline: Pipeline, path: str, org: str, body: dict[str, object]) -> None:
    answer = httpx.post(f"{pipeline.settings.gateway_url}{path}", json=body, timeout=30,
                        headers={"X-Playhead-Organization": org})
    assert answer.status_code in (200, 204), answer.text


def at(seconds: int) -> str:
    return (NOW - timedelta(minutes=10) + timedelta(seconds=seconds)).isoformat()


def test_plays_count_under_the_platform_their_app_started_on_even_when_it_arrives_late(
        pipeline: Pipeline) -> None:
    org = str(uuid.uuid4())
    # Listener A: app-start first. Listener B: its app-start arrives after its plays,
    # after its day-session had closed: the session re-opens and its rows are rewritten.
    post(pipeline, "/app-start", org, {"clientId": "a", "timestamp": at(0), "platform": "ios"})
    for client in ("a", "b"):
        post(pipeline, "/play", org, {"clientId": client, "timestamp": at(10), "clipId": "7",
                                      "method": "Stream"})
        post(pipeline, "/download", org, {"clientId": client, "timestamp": at(20),
                                          "clipId": "7", "appId": 1, "credentialId": 1,
                                          "country": "US"})
    query = (f"SELECT platform, sum(clip_plays), sum(downloads) FROM {pipeline.db}.rights_by_clip "
             "WHERE organization_id = {o:String} GROUP BY platform ORDER BY platform")
    wait_until(lambda: pipeline.rows(query, o=org) == [("", 1, 1), ("ios", 1, 1)], 60,
               "both listeners' plays, B's without a platform yet")
    time.sleep(1)
    post(pipeline, "/app-start", org, {"clientId": "b", "timestamp": at(1),
                                       "platform": "android"})
    wait_until(lambda: pipeline.rows(query, o=org) == [("android", 1, 1), ("ios", 1, 1)], 60,
               "B's plays moved under the platform its app started on, counted once")
