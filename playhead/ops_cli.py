"""The operators' sub-commands of ``playhead``: migrate (with cluster DDL), topics, sql.

They act on a deployment's Kafka and ClickHouse, local or production alike.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from config.settings import Settings


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
    migrate.set_defaults(run=_migrate)
    commands.add_parser(
        "topics", help="create the Kafka topics if missing (idempotent)").set_defaults(
        run=_topics)
    sql = commands.add_parser("sql", help="run a query; prints TabSeparated rows")
    sql.add_argument("query", help='e.g. "SELECT count() FROM sessions" (in the configured '
                     'database, PLAYHEAD_CLICKHOUSE_DATABASE)')
    sql.set_defaults(run=_sql)


def user_errors() -> tuple[type[Exception], ...]:
    """Failures of a deployment's services a user can act on: one line, no traceback."""
    from clickhouse_connect.driver.exceptions import DatabaseError

    from ingest.rights import CatalogueError
    from processors.topics import TopicMismatch
    from sinks.client import WarehouseUnavailable

    return (WarehouseUnavailable, TopicMismatch, DatabaseError, CatalogueError)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
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
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from processors.topics import ensure_topics

    created = ensure_topics(settings)
    print(f"created {', '.join(created)}" if created else "topics exist")
    return 0


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    from clickhouse_connect.driver.exceptions import DatabaseError

    from sinks.client import connect

    client = connect(settings.clickhouse_url)
    # Playhead's tables are in their own database; a query naming another
    # (system.tables, default.x) still reads it.
    client.database = settings.clickhouse_database
    try:
        output = client.raw_query(args.query, fmt="TabSeparated")
    except DatabaseError as err:
        if "UNKNOWN_DATABASE" in str(err) and settings.clickhouse_database in str(err):
            raise DatabaseError(
                f"{err}\nThe database {settings.clickhouse_database!r} is made by the "
                "worker's migrations: start the platform (`playhead up`) or run "
                "`playhead migrate` first, or set PLAYHEAD_CLICKHOUSE_DATABASE") from err
        raise
    sys.stdout.buffer.write(output)
    return 0
