"""``playhead rollup``: build the rollups of the days that are final (sinks/rollups.py).

Once, or with ``--every SECONDS`` for as long as it runs: a build of a day is
idempotent and a day already built is skipped, so a runner can be restarted,
started twice or killed mid-build without a figure changing.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from config.settings import Settings

log = logging.getLogger("playhead.rollup")

# An outage is retried sooner than the next period, but not in a tight loop.
RETRY_SECONDS = 30.0


def add_commands(commands: Any) -> None:
    rollup = commands.add_parser(
        "rollup", help="build the rollups of final days, which the analysts' views then read",
        description="Build, for each organization, every UTC day that ended by the "
        "organization's complete-through instant (the completeness view), or by --through. "
        "Days already built are skipped unless --rebuild. Safe to run again or to interrupt: "
        "a day counts from its rollup only once the whole build is recorded. With --every, "
        "it keeps running: builds, sleeps, builds again, and rides out a warehouse outage.")
    rollup.add_argument("--through", metavar="ISO", type=_instant, default=None,
                        help="build every day that ended by this instant, e.g. "
                             "2026-11-30T00:00:00Z (default: each organization's watermark)")
    rollup.add_argument("--organization", metavar="ID", default=None,
                        help="only this organization")
    rollup.add_argument("--rebuild", action="store_true",
                        help="build the days again even where a build is recorded")
    rollup.add_argument("--every", metavar="SECONDS", type=_period, default=None,
                        help="run until stopped, building the days that became final every "
                             "SECONDS (e.g. 900); one log line per day built; a warehouse "
                             "outage is logged and retried")
    rollup.set_defaults(run=_rollup)


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _period(text: str) -> float:
    seconds = float(text)
    if not 1 <= seconds < 1e9:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, at least 1")
    return seconds


def _rollup(args: argparse.Namespace, settings: Settings) -> int:
    if args.every is not None:
        return _run_every(args, settings)
    from sinks.client import connect
    from sinks.rollups import NoWatermark, build_final_days

    client = connect(settings.clickhouse_url)
    try:
        built = build_final_days(client, settings.clickhouse_database, args.through,
                                 args.organization, args.rebuild)
    except NoWatermark as err:
        print(f"playhead rollup: {err}", file=sys.stderr)
        return 2
    for day in built:
        print(f"built {day.organization_id} {day.day.isoformat()}: {day.sessions} sessions")
    if not built:
        print("nothing to build")
    return 0


def _run_every(args: argparse.Namespace, settings: Settings) -> int:
    # A fixed --through would build the same days once and then nothing, and
    # --rebuild would rebuild every final day every period: both are mistakes.
    for flag, given in (("--through", args.through is not None), ("--rebuild", args.rebuild)):
        if given:
            print(f"playhead rollup: --every builds the days each watermark made final; "
                  f"{flag} does not go with it (run it once, without --every)", file=sys.stderr)
            return 2
    from sinks.client import WarehouseUnavailable, connect
    from sinks.identifiers import check_database
    from sinks.rollups import BuiltDay, build_final_days

    database = settings.clickhouse_database
    try:
        check_database(database)
    except ValueError as err:
        print(f"playhead rollup: {err}", file=sys.stderr)
        return 2
    clients: list[Any] = []

    def build() -> list[BuiltDay]:
        # Connect lazily and again after a failure: a warehouse that was down at
        # start, or restarted since, is found once it answers.
        if not clients:
            clients.append(connect(settings.clickhouse_url))
        try:
            return build_final_days(clients[0], database, None, args.organization)
        except Exception:
            clients.clear()
            raise

    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stopping)
    from clickhouse_connect.driver.exceptions import ClickHouseError

    return run_every(args.every, build, stop,
                     transient=(WarehouseUnavailable, ClickHouseError, OSError))


def run_every(every: float, build: Callable[[], list[Any]], stop: threading.Event, *,
              transient: tuple[type[BaseException], ...],
              retry_seconds: float = RETRY_SECONDS) -> int:
    """Build, wait ``every`` seconds (less after a ``transient`` failure), until ``stop``.

    Returns 2 when nothing says which days are final (no ``completeness``
    view): waiting would not change that, a migration would. 0 once stopped.
    """
    from sinks.rollups import NoWatermark

    log.info("building the rollups of final days every %g s", every,
             extra={"every_seconds": every})
    while not stop.is_set():
        try:
            built = build()
        except NoWatermark as err:
            log.error("%s", err)
            return 2
        except transient as err:
            wait = min(every, retry_seconds)
            log.warning("rollup build failed, retrying in %g s: %s", wait, err,
                        extra={"retry_seconds": wait})
            stop.wait(wait)
            continue
        for day in built:
            log.info("built %s %s: %d sessions", day.organization_id, day.day.isoformat(),
                     day.sessions, extra={"organization_id": day.organization_id,
                                          "day": day.day.isoformat(), "build": day.build,
                                          "sessions": day.sessions})
        stop.wait(every)
    log.info("rollup runner stopped")
    return 0
