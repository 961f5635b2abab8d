"""``playhead keys``, ``playhead org`` and ``playhead catalogue``: the control topic by hand.

Each command reads the control topic's current state, checks the request
against it (control.operations), and publishes the records that carry it
out; every gateway and read API applies them within seconds
(docs/operations/control.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.settings import Settings


def add_commands(commands: Any) -> None:
    keys = commands.add_parser(
        "keys", help="create, list, rotate and revoke write keys, read tokens and admin keys",
        description="Keys are stored as SHA-256 digests in the control topic "
        "(PLAYHEAD_CONTROL_TOPIC); a key is shown once, when it is made. Changes reach every "
        "gateway and read API within seconds, without a restart.")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key; prints it once")
    create.set_defaults(run=_key_create)
    create.add_argument("--kind", choices=["write", "read", "admin"], required=True,
                        help="write: the gateway; read: the read API; admin: the admin API, "
                             "for one organization")
    create.add_argument("--organization", required=True)
    create.add_argument("--label", default="", help="what the key is for, shown in listings")
    listing = actions.add_parser("list", help="every key: id, kind, organization, state")
    listing.add_argument("--organization", help="one organization's keys only")
    listing.set_defaults(run=_key_list)
    rotate = actions.add_parser("rotate", help="make a successor; the old key ends after "
                                               "--overlap")
    rotate.add_argument("key_id")
    rotate.add_argument("--overlap", type=float, default=86_400.0, metavar="SECONDS",
                        help="how long the old key keeps working (default a day; 0: at once)")
    rotate.set_defaults(run=_key_rotate)
    revoke = actions.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_key_revoke)
    actions.add_parser(
        "digest", help="print the SHA-256 digest of a token read from stdin, for "
                       "PLAYHEAD_OPERATOR_TOKEN_DIGESTS").set_defaults(run=_key_digest)

    org = commands.add_parser("org", help="disable or enable an organization at runtime")
    org_actions = org.add_subparsers(dest="action", required=True, metavar="ACTION")
    disable = org_actions.add_parser("disable", help='Omny players are told {"Enabled": false}')
    disable.add_argument("organization")
    disable.add_argument("--reason", default="")
    disable.set_defaults(run=_org, disabled=True)
    enable = org_actions.add_parser("enable", help="take an organization's events again")
    enable.add_argument("organization")
    enable.set_defaults(run=_org, disabled=False, reason="")

    catalogue = commands.add_parser(
        "catalogue", help="an organization's rights catalogue (music clips /play)",
        description="Set, show or clear one organization's rights catalogue; the format is "
        "PLAYHEAD_RIGHTS_CATALOGUE's (docs/semantics.md). It is checked before it is "
        "published, and the next /play of that organization answers from it.")
    catalogue_actions = catalogue.add_subparsers(dest="action", required=True,
                                                 metavar="ACTION")
    set_ = catalogue_actions.add_parser("set", help="publish FILE as the catalogue")
    set_.add_argument("organization")
    set_.add_argument("file", type=Path)
    set_.set_defaults(run=_catalogue_set)
    show = catalogue_actions.add_parser("show", help="print the catalogue")
    show.set_defaults(run=_catalogue_show)
    clear = catalogue_actions.add_parser(
        "clear", help="remove it: the settings' catalogue applies again")
    clear.set_defaults(run=_catalogue_clear)
    for parser in (show, clear):
        parser.add_argument("organization")


def _key_digest(args: argparse.Namespace, settings: Settings) -> int:
    from control.credentials import digest

    token = sys.stdin.readline().strip()
    if not token:
        print("playhead: give the token on stdin: echo \"$TOKEN\" | playhead keys digest",
              file=sys.stderr)
        return 2
    print(digest(token))
    return 0


def _key_create(args: argparse.Namespace, settings: Settings) -> int:
    # A new key depends on nothing stored: no need to read the topic.
    from control import operations
    from control.credentials import Kind

    key, credential = operations.create_key(Kind(args.kind), args.organization, args.label,
                                            time.time())
    _publish(settings, [credential])
    print(key)
    print(f"{args.kind} key {credential.key_id} for {args.organization}: shown once, "
          "store it now", file=sys.stderr)
    return 0


def _key_list(args: argparse.Namespace, settings: Settings) -> int:
    print(_table(_snapshot(settings).keys_of(args.organization), time.time()))
    return 0


def _key_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from control import operations

    key, new, old = operations.rotate_key(_snapshot(settings), args.key_id, args.overlap,
                                          time.time())
    _publish(settings, [new, old])
    print(key)
    print(f"key {new.key_id} replaces {old.key_id}, which ends {_when(old.expires_at)}",
          file=sys.stderr)
    return 0


def _key_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from control import operations

    revoked = operations.revoke_key(_snapshot(settings), args.key_id, time.time())
    _publish(settings, [revoked])
    print(f"key {revoked.key_id} of {revoked.organization} is revoked", file=sys.stderr)
    return 0


def _org(args: argparse.Namespace, settings: Settings) -> int:
    from control import operations

    _publish(settings, [operations.set_disabled(args.organization, args.disabled, args.reason,
                                                time.time())])
    print(f"organization {args.organization} is {'disabled' if args.disabled else 'enabled'}",
          file=sys.stderr)
    return 0


def _catalogue_show(args: argparse.Namespace, settings: Settings) -> int:
    document = _snapshot(settings).catalogue(args.organization)
    if document is None:
        print(f"organization {args.organization} has no catalogue of its own", file=sys.stderr)
        return 1
    print(json.dumps(document, indent=2))
    return 0


def _catalogue_clear(args: argparse.Namespace, settings: Settings) -> int:
    from control.records import CATALOGUE

    _publish(settings, [(f"{CATALOGUE}/{args.organization}", None)])
    return 0


def _catalogue_set(args: argparse.Namespace, settings: Settings) -> int:
    from control import operations
    from ingest.rights import CatalogueError, parse

    try:
        document = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CatalogueError(f"{args.file}: cannot read the catalogue: {err}") from err
    parse(document, str(args.file))  # refuses a bad entry, naming it, before anyone sees it
    _publish(settings, [operations.set_catalogue(args.organization, document, time.time())])
    print(f"catalogue of {args.organization} published: {len(document['clips'])} clips",
          file=sys.stderr)
    return 0


def user_errors() -> tuple[type[Exception], ...]:
    from control.operations import OperationError
    from control.topic import ControlUnavailable

    return (OperationError, ControlUnavailable)


def _snapshot(settings: Settings) -> Any:
    from control.topic import snapshot

    return asyncio.run(snapshot(settings.kafka_bootstrap, settings.control_topic))


def _publish(settings: Settings, records: list[Any]) -> None:
    from control.topic import publish

    asyncio.run(publish(settings.kafka_bootstrap, settings.control_topic, records))


def _when(instant: float | None) -> str:
    if instant is None:
        return "-"
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(credentials: list[Any], now: float) -> str:
    rows = [("ID", "KIND", "ORGANIZATION", "STATE", "CREATED", "ENDS", "LABEL")]
    for c in credentials:
        state = c.refusal(now) or ("ending" if c.expires_at else "active")
        rows.append((c.key_id, str(c.kind), c.organization, state, _when(c.created_at),
                     _when(c.revoked_at or c.expires_at), c.label))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in rows)
