"""The ``playhead`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from config.settings import Settings, SettingsError, load_settings, to_env
from playhead.logs import configure as configure_logs

EPILOG = """\
Settings come from PLAYHEAD_* environment variables (see docs/configuration.md),
for example PLAYHEAD_KAFKA_BOOTSTRAP=127.0.0.1:9092 or
PLAYHEAD_CLICKHOUSE_URL=http://clickhouse:8123, or from --set KEY=VALUE flags
before the command (playhead --set gateway_port=8081 up), which win.

Start here:  playhead up    then    playhead sql "SELECT * FROM sessions"
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="playhead",
        description="Consumption analytics for audio and video players: playback events in, "
        "audience retention curves out.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting (repeatable), e.g. --set gateway_port=8081; "
                             "wins over its PLAYHEAD_* variable")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="start Kafka, the warehouse, the gateway and a worker "
                                   "in the background")
    commands.add_parser("down", help="stop everything `playhead up` started")
    commands.add_parser("status", help="show what is running and where")
    kafka = commands.add_parser("kafka", help="the local single-node Kafka broker")
    kafka.add_argument("action", choices=["up", "down", "status"])
    commands.add_parser("gateway", help="run the ingest gateway in the foreground")
    worker = commands.add_parser("worker", help="run one stream worker in the foreground")
    worker.add_argument("--loglevel", default="info")
    commands.add_parser("warehouse", help="serve the embedded ClickHouse (chDB) over the "
                                          "ClickHouse HTTP interface in the foreground")
    from playhead.ops_cli import add_commands  # migrate, topics, loadgen

    add_commands(commands)
    from playhead.dlq import add_command as add_dlq

    add_dlq(commands)
    commands.add_parser("openapi", help="print the gateway's OpenAPI document (JSON)")
    sample = commands.add_parser(
        "sample", help="print a dialect's reference request, moved to the present",
        description="Print the reference request of a dialect as JSON, its timestamps moved "
        "so the last is now (the gateway refuses events older than 24 h by default). Pipe it "
        "to curl: playhead sample omny | curl --data-binary @- -H 'Content-Type: "
        "application/json' 'http://127.0.0.1:8080/api/consumption/events?organizationId=...'")
    sample.add_argument("dialect", choices=_dialects())
    sample.add_argument("--as-is", action="store_true",
                        help="the request exactly as the reference page shows it")
    sql = commands.add_parser("sql", help="run a query; prints TabSeparated rows")
    sql.add_argument("query", help='e.g. "SELECT count() FROM sessions" (in the configured '
                     'database, PLAYHEAD_CLICKHOUSE_DATABASE)')
    from readapi.cli import add_commands as add_read_commands  # api, report

    add_read_commands(commands)
    return parser


def _dialects() -> tuple[str, ...]:
    from ingest.examples import DIALECTS

    return DIALECTS


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        from playhead.overrides import settings_with

        settings = settings_with(args.set) if args.set else load_settings()
    except SettingsError as err:
        print(f"playhead: {err}", file=sys.stderr)
        return 2
    configure_logs(settings.log_level, settings.log_json)
    try:
        return _run(args, settings)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `playhead sample omny | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # the user gets one clear line, not a traceback
        if isinstance(err, _user_errors()):
            print(f"playhead: {err}", file=sys.stderr)
            return 1
        raise


def _user_errors() -> tuple[type[Exception], ...]:
    # Imported late: `playhead --help` should not pay for Kafka and ClickHouse imports.
    from clickhouse_connect.driver.exceptions import DatabaseError

    from ingest.rights import CatalogueError
    from playhead.local.kafka import KafkaPlatformError
    from playhead.local.services import ServiceError
    from playhead.topics import TopicMismatch
    from playhead.warehouse import WarehouseError
    from sinks.client import WarehouseUnavailable

    return (KafkaPlatformError, ServiceError, WarehouseUnavailable, WarehouseError,
            TopicMismatch, DatabaseError, CatalogueError)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    from readapi.cli import COMMANDS as READ_COMMANDS

    if command in READ_COMMANDS:
        from readapi.cli import run as run_read_command

        return run_read_command(args, settings)
    if command == "up":
        from playhead.local.platform import up

        up(settings)
    elif command == "down":
        from playhead.local.platform import down

        down(settings)
    elif command == "status":
        from playhead.status import screen

        print(screen(settings))
    elif command == "kafka":
        from playhead.local.kafka import KafkaBroker

        broker = KafkaBroker(settings)
        if args.action == "up":
            broker.up()
            print(f"Kafka {settings.kafka_version} is up on {settings.kafka_bootstrap}")
        elif args.action == "down":
            broker.down()
            print("Kafka stopped")
        else:
            state = broker.status()
            print(json.dumps({"running": state.running, "pid": state.pid,
                              "bootstrap": state.bootstrap, "version": state.version}))
            return 0 if state.running else 3
    elif command == "gateway":
        import uvicorn

        from ingest.app import create_app

        # Access lines are left to /metrics and the gateway's own structured
        # log: at hundreds of requests a second they would cost more than the work.
        serving: dict[str, Any] = dict(
            host=settings.gateway_host, port=settings.gateway_port, access_log=False,
            log_config=None, log_level=settings.log_level.lower(), loop="uvloop",
            http="httptools")
        if settings.gateway_processes == 1:
            uvicorn.run(create_app(settings), **serving)
        else:
            # Each process builds its app from the environment: pass these settings on.
            os.environ.update(to_env(settings))
            uvicorn.run("ingest.app:app_from_environment", factory=True,
                        workers=settings.gateway_processes, **serving)
    elif command == "worker":
        from playhead.worker import run_worker

        run_worker(settings, loglevel=args.loglevel)
    elif command == "warehouse":
        from playhead.warehouse.server import WarehouseServer

        WarehouseServer(settings.warehouse_path, settings.warehouse_host,
                        settings.warehouse_port).serve_forever()
    elif command in ("migrate", "topics", "loadgen"):
        from playhead import ops_cli

        return ops_cli.run(args, settings)
    elif command == "dlq":
        from playhead import dlq

        return dlq.run(args, settings)
    elif command == "openapi":
        from ingest.app import create_app

        print(json.dumps(create_app(settings).openapi(), indent=2))
    elif command == "sample":
        import time

        from ingest.examples import reference, retimed

        body = reference(args.dialect) if args.as_is else retimed(args.dialect, time.time())
        print(json.dumps(body, indent=2))
    elif command == "sql":
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


if __name__ == "__main__":
    sys.exit(main())
