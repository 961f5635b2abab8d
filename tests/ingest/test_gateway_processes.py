"""`playhead gateway` with several processes on one port (PLAYHEAD_GATEWAY_PROCESSES)."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from samples import omny_request

from config.settings import Settings, to_env
from devkit.local import services
from processors.topics import ensure_topics

pytestmark = pytest.mark.integration  # gateway processes on the session's broker


def test_two_gateway_processes_share_the_port_and_acknowledge_every_request(
        kafka: Settings, tmp_path: Path) -> None:
    settings = kafka.model_copy(update={
        "state_dir": tmp_path, "gateway_port": free_port(), "max_event_age_seconds": 0.0,
        "events_topic": f"test.{uuid.uuid4().hex[:8]}.events"})
    ensure_topics(settings)
    services.start(settings, "gateway", ["gateway"],
                   services.http_ok(f"{settings.gateway_url}/healthz"),
                   env={**to_env(settings), "PLAYHEAD_GATEWAY_PROCESSES": "2"})
    try:
        parent = services.status(settings, "gateway").pid
        children: list[str] = []
        deadline = time.monotonic() + 30
        while len(children) < 2 and time.monotonic() < deadline:
            children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True,
                                      text=True).stdout.split()
            time.sleep(0.2)
        assert len(children) >= 2, f"expected two serving processes under {parent}"
        org = str(uuid.uuid4())
        with httpx.Client(base_url=settings.gateway_url, timeout=30) as client:
            for _ in range(20):
                answer = client.post("/api/consumption/events", params={"organizationId": org},
                                     json=omny_request(session=str(uuid.uuid4()), org=org))
                assert answer.status_code == 200 and answer.json() == {"Enabled": True}
    finally:
        services.stop(settings, "gateway")
    assert not services.status(settings, "gateway").running
