"""The ``playhead`` command's development sub-commands: up, down, status, kafka, warehouse,
loadgen, sample.

Only ``playhead/cli.py`` loads this module, and only to build its parser:
each handler imports what it runs when it runs, so ``playhead --help`` and
the production sub-commands never load the local platform.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from config.settings import Settings


def add_commands(commands: Any) -> None:
    commands.add_parser(
        "up", help="start Kafka, the warehouse, the gateway, a worker and the read API in the "
                   "background").set_defaults(run=_up)
    commands.add_parser("down", help="stop everything `playhead up` started").set_defaults(
        run=_down)
    commands.add_parser("status", help="show what is running and where").set_defaults(
        run=_status)
    kafka = commands.add_parser("kafka", help="the local single-node Kafka broker")
    kafka_actions = kafka.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, handler, text in (("up", _kafka_up, "start it (idempotent)"),
                                ("down", _kafka_down, "stop it"),
                                ("status", _kafka_status, "print its state as JSON; exit 3 "
                                                          "when it is not running")):
        kafka_actions.add_parser(name, help=text).set_defaults(run=handler)
    commands.add_parser(
        "warehouse", help="serve the embedded ClickHouse (chDB) over the ClickHouse HTTP "
                          "interface in the foreground").set_defaults(run=_warehouse)
    load = commands.add_parser(
        "loadgen", help="send realistic Omny sessions to the gateway at a steady rate",
        description="Open-loop load: RATE sessions a second for SECONDS, each an Omny request "
        "with 1-4 listened intervals (some under 10 s, some duplicated events, some retried "
        "requests). Progress on stderr, a JSON summary on stdout. --verify then waits until "
        "ClickHouse's views hold exactly the acknowledged sessions.")
    load.add_argument("--rate", type=float, default=20.0, help="sessions per second")
    load.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    load.add_argument("--url", default=None, help="gateway URL (default: from settings)")
    load.add_argument("--organization", default=None, help="organization GUID (default: new)")
    load.add_argument("--seed", type=int, default=0)
    load.add_argument("--concurrency", type=int, default=64, help="most requests in flight")
    load.add_argument("--verify", action="store_true",
                      help="wait for ClickHouse to count every acknowledged session")
    load.add_argument("--verify-timeout", type=float, default=300.0)
    load.set_defaults(run=_loadgen)
    sample = commands.add_parser(
        "sample", help="print a dialect's reference request, moved to the present",
        description="Print the reference request of a dialect as JSON, its timestamps moved "
        "so the last is now (the gateway refuses events older than 24 h by default). Pipe it "
        "to curl: playhead sample omny | curl --data-binary @- -H 'Content-Type: "
        "application/json' 'http://127.0.0.1:8080/api/consumption/events?organizationId=...'")
    sample.add_argument("dialect", choices=_dialects())
    sample.add_argument("--as-is", action="store_true",
                        help="the request exactly as the reference page shows it")
    sample.set_defaults(run=_sample)


def user_errors() -> tuple[type[Exception], ...]:
    """Failures of the local platform a user can act on: one line, no traceback."""
    from devkit.local.kafka import KafkaPlatformError
    from devkit.local.services import ServiceError
    from devkit.warehouse import WarehouseError

    return (KafkaPlatformError, ServiceError, WarehouseError)


def _dialects() -> tuple[str, ...]:
    from ingest.examples import DIALECTS

    return DIALECTS


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.local.platform import up

    up(settings)
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.local.platform import down

    down(settings)
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.status import screen

    print(screen(settings))
    return 0


def _kafka_up(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.local.kafka import KafkaBroker

    KafkaBroker(settings).up()
    print(f"Kafka {settings.kafka_version} is up on {settings.kafka_bootstrap}")
    return 0


def _kafka_down(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.local.kafka import KafkaBroker

    KafkaBroker(settings).down()
    print("Kafka stopped")
    return 0


def _kafka_status(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.local.kafka import KafkaBroker

    state = KafkaBroker(settings).status()
    print(json.dumps({"running": state.running, "pid": state.pid,
                      "bootstrap": state.bootstrap, "version": state.version}))
    return 0 if state.running else 3


def _warehouse(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.warehouse.server import WarehouseServer

    WarehouseServer(settings.warehouse_path, settings.warehouse_host,
                    settings.warehouse_port).serve_forever()
    return 0


def _loadgen(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.loadgen import command
    from processors.session import Rules

    rules = Rules(min_session_seconds=settings.min_session_seconds,
                  bucket_seconds=settings.bucket_seconds)
    verify = (settings.clickhouse_url, settings.clickhouse_database) if args.verify else None
    result: dict[str, Any] = command(
        args.url or settings.gateway_url, args.rate, args.seconds, args.organization,
        args.seed, args.concurrency, rules, verify, args.verify_timeout)
    print(json.dumps(result))
    failed = sum(result["errors"].values()) or (args.verify and not result["lossless"])
    return 1 if failed else 0


def _sample(args: argparse.Namespace, settings: Settings) -> int:
    from devkit.sample_retime import retimed
    from ingest.examples import reference

    body = reference(args.dialect) if args.as_is else retimed(args.dialect, time.time())
    print(json.dumps(body, indent=2))
    return 0
