"""The ``playhead`` sub-commands that run Playhead's services in the foreground: gateway,
worker, and the gateway's OpenAPI document.

These are what a container runs (deploy/); the read API's are in readapi/cli.py.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from config.settings import Settings, to_env
from playhead.heap import settle_garbage_collector


def add_commands(commands: Any) -> None:
    commands.add_parser("gateway", help="run the ingest gateway in the foreground").set_defaults(
        run=_gateway)
    worker = commands.add_parser("worker", help="run one stream worker in the foreground")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(run=_worker)
    commands.add_parser(
        "openapi", help="print the gateway's OpenAPI document (JSON)").set_defaults(
        run=_openapi)


def _gateway(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from ingest.app import create_app

    # Access lines are left to /metrics and the gateway's own structured
    # log: at hundreds of requests a second they would cost more than the work.
    serving: dict[str, Any] = dict(
        host=settings.gateway_host, port=settings.gateway_port, access_log=False,
        log_config=None, log_level=settings.log_level.lower(), loop="uvloop",
        http="httptools")
    if settings.gateway_processes == 1:
        app = create_app(settings)
        settle_garbage_collector()
        uvicorn.run(app, **serving)
    else:
        # Each process builds its app from the environment: pass these settings on.
        os.environ.update(to_env(settings))
        uvicorn.run("playhead.services_cli:gateway_process_app", factory=True,
                    workers=settings.gateway_processes, **serving)
    return 0


def gateway_process_app() -> Any:
    """The app of one of several gateway processes (uvicorn's factory, in each process)."""
    from ingest.app import app_from_environment

    app = app_from_environment()
    settle_garbage_collector()
    return app


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from playhead.worker import run_worker

    run_worker(settings, loglevel=args.loglevel)
    return 0


def _openapi(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.app import create_app

    print(json.dumps(create_app(settings).openapi(), indent=2))
    return 0
