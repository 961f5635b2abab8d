"""Starts one worker process: topics, migrations, then the Faust app."""

from __future__ import annotations

import asyncio
import cProfile
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust

from config.settings import Settings
from control.registry import Registry
from control.topic import ControlFollower, snapshot
from playhead import compiled
from playhead.heap import settle_garbage_collector
from processors.completeness import Bound
from processors.erasures import ErasedSessions
from processors.faust_app import build_app
from processors.topics import ensure_topics
from processors.worker_config import WorkerConfig
from sinks.client import connect
from sinks.completeness import write_bounds
from sinks.migrate import migrate
from sinks.writer import ClickHouseSink

log = logging.getLogger("playhead.worker")


class _Worker(faust.Worker):
    def __init__(self, app: faust.App, marker: Path, **kwargs: Any):
        super().__init__(app, **kwargs)
        self._marker = marker
        # At --loglevel warning and above Faust drives a terminal spinner by
        # setting the root logger to DEBUG, so every library's debug message
        # is built and handled (a few percent of a busy worker). Logs go to
        # files here; no spinner.
        self.spinner = None

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        settle_garbage_collector()
        self._marker.parent.mkdir(parents=True, exist_ok=True)
        self._marker.touch()
        # At warning so it shows at any log level; the compiled modules, because a
        # worker without them does the same work with more CPU per event.
        log.warning("worker ready (%s)", compiled.summary())

    async def on_stop(self) -> None:
        self._marker.unlink(missing_ok=True)
        await super().on_stop()


def followed_erasures(settings: Settings) -> tuple[ErasedSessions, ControlFollower | None]:
    """The control topic's erasure records, for the worker's stored sessions.

    Read to its end before the app starts, so no batch uses a session erased
    while the worker was down; the follower keeps them current while it runs.
    """
    if not settings.control_topic:
        return ErasedSessions(), None
    registry: Registry = asyncio.run(snapshot(settings.kafka_bootstrap, settings.control_topic))
    # Older erasures cannot match a stored session: the sweep removes a state the
    # lateness window and the tombstone's time after it last changed. Twice that,
    # for a sweep's pass over a large partition and a worker that was down a while.
    # And a week at least: an open session's state can be older than both windows.
    horizon = max(2 * (settings.lateness_seconds + settings.tombstone_seconds), 7 * 86_400.0)
    erased = ErasedSessions(lambda: registry.erasures.values(), lambda: registry.version,
                            horizon)
    return erased, ControlFollower(settings.kafka_bootstrap, settings.control_topic, registry)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    # First: a marker left by a killed worker must not make this one look ready
    # (or healthy to a startup probe) while it is still starting.
    marker = settings.worker_ready_file
    marker.unlink(missing_ok=True)
    ensure_topics(settings)
    client = connect(settings.clickhouse_url)
    applied = migrate(client, settings.clickhouse_database)
    if applied:
        log.info("applied migrations: %s", ", ".join(m.name for m in applied))
    sink = ClickHouseSink(client, settings.clickhouse_database)
    database = settings.clickhouse_database
    # Its own client: bounds are written from another thread than the sink's
    # writes, and one client runs one query at a time.
    bounds_client = connect(settings.clickhouse_url)

    def bounds(rows: Sequence[Bound]) -> None:
        write_bounds(bounds_client, database, rows)

    erased, follower = followed_erasures(settings)
    app = build_app(WorkerConfig.from_settings(settings), sink, write_bounds=bounds,
                    erased=erased)
    if follower is not None:
        @app.task  # type: ignore[untyped-decorator]  # faust: no hints
        async def follow_control() -> None:
            follower.start()

    worker = _Worker(app, marker, loglevel=loglevel, quiet=True)
    profile = os.environ.get("PLAYHEAD_BENCH_PROFILE")
    if not profile:
        worker.execute_from_commandline()
        return
    # bench/worker_throughput.py --profile: where a worker's time goes, written at exit.
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        worker.execute_from_commandline()
    finally:
        profiler.disable()
        profiler.dump_stats(profile)
