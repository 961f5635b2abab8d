"""``playhead rollup``: build the rollups of the days that are final (sinks/rollups.py)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings


def add_commands(commands: Any) -> None:
    rollup = commands.add_parser(
        "rollup", help="build the rollups of final days, which the analysts' views then read",
        description="Build, for each organization, every UTC day that ended by the "
        "organization's complete-through instant (the completeness view), or by --through. "
        "Days already built are skipped unless --rebuild. Safe to run again or to interrupt: "
        "a day counts from its rollup only once the whole build is recorded.")
    rollup.add_argument("--through", metavar="ISO", type=_instant, default=None,
                        help="build every day that ended by this instant, e.g. "
                             "2026-11-30T00:00:00Z (default: each organization's watermark)")
    rollup.add_argument("--organization", metavar="ID", default=None,
                        help="only this organization")
    rollup.add_argument("--rebuild", action="store_true",
                        help="build the days again even where a build is recorded")
    rollup.set_defaults(run=_rollup)


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _rollup(args: argparse.Namespace, settings: Settings) -> int:
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
