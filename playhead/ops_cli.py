"""The operators' subcommands of ``playhead``: migrate (with cluster DDL), topics, loadgen.

Kept apart from playhead/cli.py so that file stays a table of commands.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from config.settings import Settings

COMMANDS = ("migrate", "topics", "loadgen")


def add_commands(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate", help="apply pending ClickHouse migrations (or print their DDL)",
        description="Apply the migrations the database lacks. With PLAYHEAD_CLICKHOUSE_CLUSTER "
        "(or --cluster) set, tables are created ReplicatedMergeTree ON CLUSTER with "
        "Distributed tables over them.")
    migrate.add_argument("--print-ddl", action="store_true",
                         help="print every migration's DDL as one SQL script; apply nothing")
    migrate.add_argument("--cluster", metavar="NAME", default=None,
                         help="ClickHouse cluster (default: PLAYHEAD_CLICKHOUSE_CLUSTER)")
    commands.add_parser("topics", help="create the Kafka topics if missing (idempotent)")
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


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        from sinks.client import connect
        from sinks.cluster import migrate_cluster, print_ddl

        cluster = args.cluster if args.cluster is not None else settings.clickhouse_cluster
        if args.print_ddl:
            print(print_ddl(settings.clickhouse_database, cluster or None), end="")
            return 0
        from sinks.migrate import migrate

        client, database = connect(settings.clickhouse_url), settings.clickhouse_database
        applied = (migrate_cluster(client, database, cluster) if cluster
                   else migrate(client, database))
        print("\n".join(f"applied {m.name}: {m.reason}" for m in applied) or "up to date")
    elif args.command == "topics":
        from playhead.topics import ensure_topics

        created = ensure_topics(settings)
        print(f"created {', '.join(created)}" if created else "topics exist")
    elif args.command == "loadgen":
        from playhead.loadgen import command
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
    return 0
