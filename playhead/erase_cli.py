"""``playhead erase``: erase a listener (user, device or client id) from one organization.

The work is sinks/erasure.py's; this shell reads the flags, publishes the
workers' control record, shows progress on stderr and prints the summary.
docs/operations/erasure.md is the operator's guide.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from config.settings import Settings


def add_commands(commands: Any) -> None:
    erase = commands.add_parser(
        "erase", help="erase a listener's sessions from every figure and table (GDPR erasure)",
        description="Erase one user, device or client id within an organization: every "
        "session in which any event carries the id goes from every table, the built days "
        "they touched are rebuilt, the workers drop the sessions from their state, and the "
        "erasure is recorded (who, when, what was removed; never the id) in the erasures "
        "table. See docs/operations/erasure.md.")
    erase.add_argument("--organization", metavar="ID", required=True)
    subject = erase.add_mutually_exclusive_group(required=True)
    subject.add_argument("--user-id", metavar="ID", help="a user id (user_id, userId)")
    subject.add_argument("--device-id", metavar="ID", help="a device id (device_id, deviceId)")
    subject.add_argument("--client-id", metavar="ID",
                         help="a client id (the music-clips clientId)")
    subject.add_argument("--list", action="store_true",
                         help="list the organization's recorded erasures instead (who, when, "
                              "what was removed; never an id)")
    erase.add_argument("--dry-run", action="store_true",
                       help="say what would be removed, change nothing, record nothing")
    erase.add_argument("--requested-by", metavar="WHO", default=None,
                       help="who asked, for the record (default: operator:<your user name>)")
    erase.set_defaults(run=_erase)


def _subject(args: argparse.Namespace) -> Any:
    from sinks.erasure_plan import Subject, SubjectKind

    for kind, value in ((SubjectKind.USER, args.user_id), (SubjectKind.DEVICE, args.device_id),
                        (SubjectKind.CLIENT, args.client_id)):
        if value is not None:
            return Subject(args.organization, kind, value)
    raise AssertionError("argparse requires one subject")


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    from control.topic import publish
    from sinks import erasure
    from sinks.client import connect
    from sinks.erasure_plan import InvalidSubject

    if args.list:
        return _list(settings, args.organization)
    try:
        subject = _subject(args)
    except InvalidSubject as err:
        print(f"playhead erase: {err}", file=sys.stderr)
        return 2
    requested_by = args.requested_by or f"operator:{_user()}"
    client = connect(settings.clickhouse_url)

    def send(record: Any) -> None:
        asyncio.run(publish(settings.kafka_bootstrap, settings.control_topic, [record]))

    def progress(line: str) -> None:
        # Progress on stderr; the summary (several lines) is the answer, on stdout.
        print(line, file=sys.stdout if "\n" in line or line.startswith("erasure ")
              else sys.stderr, flush=True)

    erasure.run(client, settings.clickhouse_database, subject, requested_by, send,
                dry_run=args.dry_run, progress=progress, cluster=settings.clickhouse_cluster)
    return 0


def _list(settings: Settings, organization: str) -> int:
    from sinks import erasure
    from sinks.client import connect

    audits = erasure.audits(connect(settings.clickhouse_url), settings.clickhouse_database,
                            organization)
    rows = [("REQUESTED", "REQUEST", "KIND", "BY", "SESSIONS", "ROWS", "DAYS REBUILT")]
    for a in audits:
        rows.append((a.requested_at.strftime("%Y-%m-%d %H:%M:%SZ"), a.request_id,
                     str(a.subject_kind), a.requested_by, str(a.sessions),
                     str(sum(a.rows.values())),
                     ",".join(d.isoformat() for d in a.days_rebuilt) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not audits:
        print(f"no erasure recorded for organization {organization}")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
