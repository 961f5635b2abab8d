"""`playhead up` / `down` / `status`: the whole pipeline on one machine."""

from __future__ import annotations

from config.settings import Settings
from playhead.local import services
from playhead.local.kafka import KafkaBroker
from playhead.topics import ensure_topics
from playhead.worker import ready_file

# Started in this order, stopped in reverse.
GATEWAY, WAREHOUSE, WORKER = "gateway", "warehouse", "worker"
API = "api"  # the read API, started last: it reads the tables the worker migrated
# The organization of the Omny reference request (ingest/examples/omny.json).
SAMPLE_ORG = "126281f8-200e-4c9f-8378-a4870055423b"


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
    services.start(settings, WORKER, ["worker"], services.file_exists(ready_file(settings)),
                   timeout=120)
    print(f"read API on {settings.api_url} ...", flush=True)
    services.start(settings, API, ["api"], services.http_ok(f"{settings.api_url}/healthz"))
    endpoint = f"{settings.gateway_url}/api/consumption/events?organizationId={SAMPLE_ORG}"
    print(f"""
Playhead is running.
  send events:  playhead sample omny | curl -X POST '{endpoint}' \\
                  -H 'Content-Type: application/json' --data-binary @-
  query:        playhead sql "SELECT * FROM {settings.clickhouse_database}.sessions"
  report:       playhead report <clip id>
  dashboard:    {settings.api_url}/dashboard/clips/<clip id>?token=<PLAYHEAD_READ_TOKENS token>
  status:       playhead status        logs: {log.parent}
  stop:         playhead down""")


def down(settings: Settings) -> None:
    for name in (API, WORKER, GATEWAY, WAREHOUSE):
        if services.stop(settings, name):
            print(f"stopped {name}")
    KafkaBroker(settings).down()
    print("stopped kafka")
