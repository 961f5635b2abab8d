"""`playhead api` and `playhead report`: the read side's commands.

Kept here so playhead/cli.py only hooks them in (each sub-command names its
handler with ``set_defaults(run=...)``); heavy imports wait until a
command runs, so `playhead --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date
from typing import Any

from config.settings import Settings


def add_commands(commands: Any) -> None:
    api = commands.add_parser(
        "api", help="run the read API (session listings, clip reports, dashboards) in the "
                    "foreground",
        description="Serve the read API on PLAYHEAD_API_HOST:PLAYHEAD_API_PORT. Reads need a "
        "token from PLAYHEAD_READ_TOKENS. Dashboard: /dashboard/clips/<clip id>?token=<token>.")
    api.add_argument("--openapi", action="store_true",
                     help="print the read API's OpenAPI document (JSON) and exit")
    api.set_defaults(run=_api)
    report = commands.add_parser(
        "report", help="print a clip's retention curve and totals in the terminal",
        description="Reads the warehouse directly (like `playhead sql`), so it needs no read "
        "token; --organization picks one when several have sessions of the clip.")
    report.add_argument("clip", help="the clip id")
    report.add_argument("--organization", help="organization id (default: the only one with "
                                               "sessions of this clip)")
    report.add_argument("--from", dest="first", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="first UTC day (default: the first with sessions)")
    report.add_argument("--to", dest="last", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="last UTC day (default: the last with sessions)")
    report.add_argument("--source", help="one source only")
    report.add_argument("--width", type=int, default=0,
                        help="columns to use (default: the terminal's)")
    report.add_argument("--rows", type=int, default=12, help="rows of the bar chart")
    report.set_defaults(run=_report)


def _api(args: argparse.Namespace, settings: Settings) -> int:
    from readapi.app import create_app

    app = create_app(settings)
    if args.openapi:
        print(json.dumps(app.openapi(), indent=2))
        return 0
    import uvicorn

    if not settings.read_tokens:
        print("playhead api: no PLAYHEAD_READ_TOKENS set: reads need a token made at runtime "
              "(`playhead keys create --kind read --organization <id>`)", file=sys.stderr)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_config=None,
                log_level=settings.log_level.lower(), access_log=False)
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from readapi.curve import MAX_POINTS
    from readapi.queries import Reader
    from readapi.report import render
    from sinks.client import connect

    reader = Reader(connect(settings.clickhouse_url), settings.clickhouse_database,
                    settings.bucket_seconds, settings.max_clip_seconds)
    organization = args.organization
    if not organization:
        found = reader.clip_organizations(args.clip)
        if not found:
            print(f"playhead: no sessions of clip {args.clip}", file=sys.stderr)
            return 1
        if len(found) > 1:
            print(f"playhead: clip {args.clip} has sessions in {len(found)} organizations; "
                  f"pick one with --organization: {', '.join(found)}", file=sys.stderr)
            return 1
        organization = found[0]
    # The most points the API gives: bucket by bucket for clips up to MAX_POINTS
    # buckets; beyond, each point carries its buckets' mean, so columns stay close.
    figures = reader.clip_figures(organization, args.clip, args.first, args.last, args.source,
                                  MAX_POINTS)
    if not figures.sources:
        print(f"playhead: no sessions of clip {args.clip} in organization {organization} "
              "in that range", file=sys.stderr)
        return 1
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    sys.stdout.write(render(args.clip, organization, figures, settings.bucket_seconds,
                            width=width, rows=args.rows, source=args.source,
                            complete_through=reader.complete_through(organization)))
    return 0
