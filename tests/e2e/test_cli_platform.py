"""The README's path: `playhead up`, post the sample, `playhead sql`, `playhead down`."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import KAFKA_LIBS, REPO, free_port, wait_until

from config.settings import Settings, to_env
from devkit.local.platform import SAMPLE_CLIP, SAMPLE_ORG, local_read_tokens, read_token_file
from ingest.examples import reference

SAMPLE = reference("omny")
ORG = SAMPLE["Events"][0]["OrganizationId"]
CLIP = SAMPLE["Events"][0]["ClipId"]


def playhead(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playhead", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def platform_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    warehouse_port = free_port()
    settings = Settings(
        state_dir=tmp_path / "state",
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        kafka_libs_dir=Path(str(KAFKA_LIBS).format(version=Settings().kafka_version)),
        gateway_port=free_port(),
        api_port=free_port(),
        warehouse_port=warehouse_port,
        clickhouse_url=f"http://127.0.0.1:{warehouse_port}",
    )
    env = {**os.environ, **to_env(settings)}
    try:
        yield env
    finally:
        playhead(env, "down")


@pytest.mark.integration
def test_up_sample_sql_down(platform_env: dict[str, str]) -> None:
    env = platform_env
    started = playhead(env, "up")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Playhead is running" in started.stdout

    # As the README does it: `playhead sample omny | curl ... --data-binary @-`.
    sample = playhead(env, "sample", "omny")
    assert sample.returncode == 0 and json.loads(sample.stdout)["Events"][0]["Type"] == "Start"
    gateway = f"http://127.0.0.1:{env['PLAYHEAD_GATEWAY_PORT']}"
    answer = httpx.post(f"{gateway}/api/consumption/events", params={"organizationId": ORG},
                        content=sample.stdout, headers={"Content-Type": "application/json"},
                        timeout=30)
    assert answer.json() == {"Enabled": True}

    query = ("SELECT bucket, sum(listeners), sum(listens) FROM playhead.consumption_by_bucket "
             f"WHERE clip_id = '{CLIP}' GROUP BY bucket ORDER BY bucket")
    rows = wait_until(lambda: playhead(env, "sql", query).stdout.splitlines(), 60, "curve rows")
    assert rows == [f"{b}\t1\t1" for b in [*range(0, 5), *range(308, 543)]]
    sessions = playhead(env, "sql", "SELECT session_id, duration_seconds, kept FROM "
                                    "playhead.sessions").stdout
    assert sessions == f"{SAMPLE['Events'][0]['SessionId']}\t239.144\t1\n"
    # The configured database is the default one, as the README's first query has it.
    unqualified = playhead(env, "sql", "SELECT session_id FROM sessions")
    assert unqualified.stdout == f"{SAMPLE['Events'][0]['SessionId']}\n", unqualified.stderr

    # The dashboard URL `playhead up` printed works as printed: a local read token
    # (none was configured) of the sample's organization, kept in the state folder.
    [url] = re.findall(r"dashboard:\s+(\S+)", started.stdout)
    token = read_token_file(Settings(state_dir=Path(env["PLAYHEAD_STATE_DIR"]))).read_text()
    assert url.endswith(f"/dashboard/clips/{CLIP}?token={token.strip()}")
    assert httpx.get(url, timeout=30).status_code == 200
    figures = httpx.get(url.replace("/dashboard/clips/", "/api/consumption/clips/").split("?")[0],
                        headers={"Authorization": f"Bearer {token.strip()}"}, timeout=30)
    assert figures.status_code == 200 and figures.json()["totals"]["sessions"] == 1
    # So does the page to play with (the SDK's demo, README's next step): it sends to
    # this gateway and links to the dashboard (tests/e2e/test_player_sdk.py plays it).
    [play] = re.findall(r"play:\s+(\S+)", started.stdout)
    assert play == url.replace(f"/dashboard/clips/{CLIP}", "/demo")
    page = httpx.get(play, timeout=30)
    assert page.status_code == 200, page.text
    [config] = re.findall(r'data-config="([^"]*)"', page.text)
    demo = json.loads(html.unescape(config))
    assert (demo["endpoint"], demo["organization"]) == (gateway, ORG)
    assert re.fullmatch(rf"/dashboard/clips/[^?]+\?token={re.escape(token.strip())}",
                        demo["dashboard"])
    for script in ("demo.js", "sdk/index.js"):
        assert httpx.get(play.split("?")[0] + f"/{script}", timeout=30).status_code == 200

    status = playhead(env, "status").stdout
    assert all(f"{name:<10} running" in status
               for name in ("kafka", "warehouse", "gateway", "worker"))
    bad = playhead(env, "sql", "SELECT nope")
    assert bad.returncode == 1 and "Unknown expression identifier" in bad.stderr
    assert "Traceback" not in bad.stderr

    stopped = playhead(env, "down")
    assert stopped.returncode == 0
    assert "running" not in playhead(env, "status").stdout


def test_the_local_read_token_is_made_once_and_reused(tmp_path: Path) -> None:
    assert (SAMPLE_ORG, SAMPLE_CLIP) == (ORG, CLIP)
    settings = Settings(state_dir=tmp_path / "state")
    [(token, org)] = local_read_tokens(settings).items()
    assert org == ORG and token.startswith("local-") and len(token) > 20
    assert local_read_tokens(settings) == {token: ORG}  # a later start reuses it
    assert read_token_file(settings).stat().st_mode & 0o077 == 0
    # Configured tokens win, and no local one is made for them.
    configured = Settings(state_dir=tmp_path / "other", read_tokens={"mine": "org-x"})
    assert local_read_tokens(configured) == {"mine": "org-x"}
    assert not read_token_file(configured).exists()


@pytest.mark.integration
def test_sql_runs_in_the_configured_database_and_says_what_to_do_without_it(
        tmp_path: Path) -> None:
    env = {**os.environ, "PLAYHEAD_CLICKHOUSE_URL": f"chdb://{tmp_path / 'warehouse'}"}
    here = playhead({**env, "PLAYHEAD_CLICKHOUSE_DATABASE": "default"}, "sql",
                    "SELECT currentDatabase()")
    assert here.returncode == 0 and here.stdout == "default\n", here.stderr
    missing = playhead({**env, "PLAYHEAD_CLICKHOUSE_DATABASE": "not_migrated"}, "sql",
                       "SELECT * FROM sessions")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "run `playhead migrate` first" in missing.stderr
