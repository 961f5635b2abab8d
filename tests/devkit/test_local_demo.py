"""What `playhead up` adds for the browser SDK's demo: its address and a short idle timeout."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from devkit.local.platform import (
    LOCAL_IDLE_TIMEOUT_SECONDS,
    SAMPLE_CLIP,
    dashboard_url,
    demo_url,
    local_env,
)


def test_the_demo_address_carries_the_dashboards_token() -> None:
    settings = Settings(api_port=18081)
    tokens = {"local-abc": "126281f8-200e-4c9f-8378-a4870055423b"}
    dashboard = dashboard_url(settings, tokens)
    assert dashboard.endswith(f"/dashboard/clips/{SAMPLE_CLIP}?token=local-abc")
    assert demo_url(settings, tokens) == "http://127.0.0.1:18081/demo?token=local-abc"


def test_sessions_close_within_a_minute_locally_unless_configured(tmp_path: Path) -> None:
    assert local_env(Settings(state_dir=tmp_path)) == {
        "PLAYHEAD_IDLE_TIMEOUT_SECONDS": f"{LOCAL_IDLE_TIMEOUT_SECONDS:g}"}
    assert Settings(idle_timeout_seconds=float(local_env(Settings())[
        "PLAYHEAD_IDLE_TIMEOUT_SECONDS"])).idle_timeout_seconds == 60.0
    assert local_env(Settings(idle_timeout_seconds=900.0)) == {}
