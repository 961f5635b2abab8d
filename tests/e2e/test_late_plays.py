"""Acknowledged means counted: a late offline play through the gateway, the worker and ClickHouse.

Issue 14's reproduction, with short windows (idle timeout 3 s, lateness 10 s):
a music-clips play recorded offline reaches the gateway after its day-session
closed and its lateness window passed. It is counted, in the session's
continuation; a retry of the play the session already counted is not.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import Pipeline, running_pipeline, wait_until
from worker_cluster import dead_letters

from config.settings import Settings

pytestmark = pytest.mark.integration  # a pipeline

LATENESS = 10.0


@pytest.fixture(scope="module")
def pipeline(kafka: Settings, warehouse_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("late"),
                          idle_timeout_seconds=3.0, lateness_seconds=LATENESS) as started:
        yield Pipeline(*started)


def play(pipeline: Pipeline, org: str, stamp: datetime) -> None:
    answer = httpx.post(f"{pipeline.settings.gateway_url}/play", timeout=30,
                        headers={"X-Playhead-Organization": org},
                        json={"clientId": "c", "timestamp": stamp.isoformat(), "clipId": "7",
                              "method": "Stream"})
    assert answer.status_code in (200, 204), answer.text  # acknowledged


def test_a_late_offline_play_that_was_acknowledged_is_counted_once(pipeline: Pipeline) -> None:
    org = str(uuid.uuid4())
    # Early enough that both plays fall in one UTC day with the gateway's clock.
    now = datetime.now(UTC).replace(microsecond=0)
    first = max(now - timedelta(minutes=10), now.replace(hour=0, minute=0, second=10))
    plays = (f"SELECT sum(clip_plays) FROM {pipeline.db}.rights_by_clip "
             "WHERE organization_id = {o:String}")
    play(pipeline, org, first)
    wait_until(lambda: pipeline.rows(plays, o=org) == [(1,)], 60, "the first play counted")
    time.sleep(LATENESS + 1)  # its day-session closed, and its lateness window is over

    play(pipeline, org, first - timedelta(seconds=5))  # recorded offline, stamped earlier
    play(pipeline, org, first)  # a retry of the play already counted
    wait_until(lambda: pipeline.rows(plays, o=org) == [(2,)], 60, "the late play counted")
    day = f"c:{first.date().isoformat()}"
    sessions = (f"SELECT session_id, clip_id FROM {pipeline.db}.sessions "
                "WHERE organization_id = {o:String} ORDER BY session_id")
    wait_until(lambda: pipeline.rows(sessions, o=org) == [(day, "7"), (f"{day}~1", "7")], 60,
               "the day-session and its continuation")
    time.sleep(3)  # anything counted twice would have reached the tables by now
    assert pipeline.rows(plays, o=org) == [(2,)]
    assert dead_letters(pipeline.settings, timeout=2) == []  # nothing refused
