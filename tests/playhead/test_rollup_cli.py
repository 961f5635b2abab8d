"""``playhead rollup`` takes instants in ISO 8601, UTC unless they say otherwise."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from playhead.rollup_cli import _instant, _rollup, add_commands
from sinks.rollups import _day_before


def test_an_instant_is_utc_unless_it_says_otherwise() -> None:
    assert _instant("2026-11-30T00:00:00Z") == datetime(2026, 11, 30, tzinfo=UTC)
    assert _instant("2026-11-30T01:00:00+01:00") == datetime(2026, 11, 30, tzinfo=UTC)
    assert _instant("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)


def test_a_day_is_over_at_the_next_utc_midnight() -> None:
    assert _day_before(datetime(2026, 11, 30, 0, 0, tzinfo=UTC)) == date(2026, 11, 29)
    assert _day_before(datetime(2026, 11, 29, 23, 59)) == date(2026, 11, 28)


def test_the_command_parses_its_options() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["rollup", "--through", "2026-11-30T00:00:00Z",
                              "--organization", "o1", "--rebuild"])
    assert (args.through, args.organization, args.rebuild, args.run) == (
        datetime(2026, 11, 30, tzinfo=UTC), "o1", True, _rollup)
    assert parser.parse_args(["rollup"]).through is None  # then the watermark decides
