"""The ``playhead`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from config.settings import SettingsError, load_settings
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
    for group in _groups():
        group.add_commands(commands)
    return parser


def _groups() -> list[Any]:
    """Each module adds its sub-commands, naming a handler with ``set_defaults(run=...)``.

    Development commands come from devkit, the local tooling package; this
    front door is the only code that names it, and its handlers import the
    local platform only when one of them runs.
    """
    import devkit.commands
    import readapi.cli
    from playhead import control_cli, dlq, erase_cli, ops_cli, rollup_cli, rules_cli, services_cli

    return [devkit.commands, services_cli, readapi.cli, ops_cli, rollup_cli, dlq, control_cli,
            erase_cli, rules_cli]


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
        code: int = args.run(args, settings)
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `playhead sample omny | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # the user gets one clear line, not a traceback
        if isinstance(err, _user_errors(args.run)):
            print(f"playhead: {err}", file=sys.stderr)
            return 1
        raise


def _user_errors(handler: Any) -> tuple[type[Exception], ...]:
    """The failures ``handler``'s command reports in one line.

    Imported late: `playhead --help` should not pay for Kafka and ClickHouse
    imports. The local platform's are asked for only when one of devkit's
    commands failed, so a production command that fails loads none of it.
    """
    from playhead import control_cli, ops_cli

    errors = ops_cli.user_errors() + control_cli.user_errors()
    if getattr(handler, "__module__", "").split(".")[0] == "devkit":
        import devkit.commands

        errors += devkit.commands.user_errors()
    return errors


if __name__ == "__main__":
    sys.exit(main())
