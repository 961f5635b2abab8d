"""Starts one worker process: migrate the warehouse, then run the Faust app."""

from __future__ import annotations

import logging

import faust

from playhead.settings import Settings
from playhead.topics import ensure_topics
from processors.faust_app import build_app
from sinks.client import connect
from sinks.migrate import migrate
from sinks.writer import ClickHouseSink


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    ensure_topics(settings)
    client = connect(settings.clickhouse_url)
    applied = migrate(client, settings.clickhouse_database)
    if applied:
        logging.getLogger("playhead.worker").info(
            "applied migrations: %s", ", ".join(m.name for m in applied))
    sink = ClickHouseSink(client, settings.clickhouse_database)
    app = build_app(settings, sink.write)
    faust.Worker(app, loglevel=loglevel).execute_from_commandline()
