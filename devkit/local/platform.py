"""`playhead up` / `down` / `status`: the whole pipeline on one machine."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from config.settings import Settings
from devkit.local import services
from devkit.local.kafka import KafkaBroker
from processors.topics import ensure_topics

# Started in this order, stopped in reverse.
GATEWAY, WAREHOUSE, WORKER = "gateway", "warehouse", "worker"
API = "api"  # the read API, started last: it reads the tables the worker migrated
# The organization of the Omny reference request (ingest/examples/omny.json).
SAMPLE_ORG = "126281f8-200e-4c9f-8378-a4870055423b"
SAMPLE_CLIP = "9b5c82f7-74cf-4841-a870-a670017cc8eb"
# Sessions without a "complete" flag (the browser SDK's, mParticle's) close only after
# this long without an event. The default (30 min) suits production; on one's own
# machine a play should show on the dashboard within a minute. A configured value wins.
LOCAL_IDLE_TIMEOUT_SECONDS = 60.0


def local_env(settings: Settings) -> dict[str, str]:
    """What the local platform's processes get on top of the environment."""
    if "idle_timeout_seconds" in settings.model_fields_set:
        return {}
    return {"PLAYHEAD_IDLE_TIMEOUT_SECONDS": f"{LOCAL_IDLE_TIMEOUT_SECONDS:g}"}


def read_token_file(settings: Settings) -> Path:
    return settings.state_dir / "read-token"


def local_read_tokens(settings: Settings) -> dict[str, str]:
    """The read tokens the local read API serves: the configured ones, or else one
    local token of the sample organization, made on the first start and kept in the
    state folder (ignored by git), so the dashboard works right after `playhead up`
    and a bookmarked link keeps working across restarts."""
    if settings.read_tokens:
        return dict(settings.read_tokens)
    path = read_token_file(settings)
    token = path.read_text().strip() if path.exists() else ""
    if not token:
        token = f"local-{secrets.token_urlsafe(18)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token + "\n")
        path.chmod(0o600)
    return {token: SAMPLE_ORG}


def dashboard_url(settings: Settings, tokens: dict[str, str]) -> str:
    """The sample clip's dashboard with a token of the sample organization (or, with
    tokens configured for other organizations only, the first of them)."""
    token = next((t for t, org in tokens.items() if org == SAMPLE_ORG), next(iter(tokens)))
    return f"{settings.api_url}/dashboard/clips/{SAMPLE_CLIP}?token={token}"


def demo_url(settings: Settings, tokens: dict[str, str]) -> str:
    """The browser SDK's demo page (readapi/demo.py), with the same token as the dashboard."""
    return dashboard_url(settings, tokens).replace(f"/dashboard/clips/{SAMPLE_CLIP}", "/demo")


def _warehouse_is_embedded(settings: Settings) -> bool:
    return settings.clickhouse_url.rstrip("/") == (
        f"http://{settings.warehouse_host}:{settings.warehouse_port}")


def up(settings: Settings) -> None:
    print(f"Kafka {settings.kafka_version} on {settings.kafka_bootstrap} ...", flush=True)
    KafkaBroker(settings).up()
    created = ensure_topics(settings)
    if created:
        print(f"created topics {', '.join(created)}")
    if _warehouse_is_embedded(settings):
        print(f"warehouse (chDB at {settings.warehouse_path}) on "
              f"{settings.clickhouse_url} ...", flush=True)
        services.start(settings, WAREHOUSE, ["warehouse"],
                       services.http_ok(f"{settings.clickhouse_url}/ping"))
    print(f"gateway on {settings.gateway_url} ...", flush=True)
    services.start(settings, GATEWAY, ["gateway"],
                   services.http_ok(f"{settings.gateway_url}/healthz"))
    print("worker ...", flush=True)
    log = services.log_file(settings, WORKER)
    services.start(settings, WORKER, ["worker"], services.file_exists(settings.worker_ready_file),
                   env=local_env(settings), timeout=120,
                   marker=settings.worker_ready_file)
    print(f"read API on {settings.api_url} ...", flush=True)
    tokens = local_read_tokens(settings)
    services.start(settings, API, ["api"], services.http_ok(f"{settings.api_url}/healthz"),
                   env={"PLAYHEAD_READ_TOKENS": json.dumps(tokens), **local_env(settings)})
    endpoint = f"{settings.gateway_url}/api/consumption/events?organizationId={SAMPLE_ORG}"
    print(f"""
Playhead is running.
  send events:  playhead sample omny | curl -X POST '{endpoint}' \\
                  -H 'Content-Type: application/json' --data-binary @-
  query:        playhead sql "SELECT * FROM sessions"
  report:       playhead report <clip id>
  dashboard:    {dashboard_url(settings, tokens)}
                (the sample's clip; any clip id of that organization works in its place)
  play:         {demo_url(settings, tokens)}
                (a page that plays a clip with the browser SDK; your play shows on the
                dashboard it links to once its session closes, a minute after you stop)
  status:       playhead status        logs: {log.parent}
  stop:         playhead down""")


def down(settings: Settings) -> None:
    for name in (API, WORKER, GATEWAY, WAREHOUSE):
        if services.stop(settings, name):
            print(f"stopped {name}")
    KafkaBroker(settings).down()
    print("stopped kafka")
