"""``playhead rollup`` takes instants in ISO 8601, UTC unless they say otherwise; with
``--every`` it keeps building, logs each build, and rides out a warehouse outage."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from conftest import REPO, free_port

from config.settings import Settings
from playhead.rollup_cli import _instant, _rollup, add_commands, run_every
from sinks.rollups import BuiltDay, NoWatermark, _day_before


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


# -- the runner (--every) -------------------------------------------------------


def _parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["rollup", *argv])


def test_every_takes_seconds_and_refuses_what_is_not_a_period(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _parsed("--every", "900").every == 900.0
    assert _parsed().every is None  # once, then exit
    for bad in ("0", "-5", "soon", "nan", "inf"):
        with pytest.raises(SystemExit) as exited:
            _parsed("--every", bad)
        assert exited.value.code == 2, bad


@pytest.mark.parametrize("flag", [["--through", "2026-11-30"], ["--rebuild"]])
def test_every_with_a_fixed_instant_or_rebuild_is_a_configuration_error(
        flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # Refused before any connection: the warehouse's address is not even valid.
    settings = Settings(clickhouse_url="http://127.0.0.1:1")
    assert _rollup(_parsed("--every", "60", *flag), settings) == 2
    assert f"{flag[0]} does not go with it" in capsys.readouterr().err


def _day(n: int) -> BuiltDay:
    return BuiltDay("org", date(2026, 3, n), build=n, sessions=10 * n)


def test_the_runner_logs_each_build_rides_out_an_outage_and_stops_when_told(
        caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    answers: list[Any] = [ConnectionRefusedError("refused"), [_day(1), _day(2)], [], [_day(3)]]

    def build() -> list[BuiltDay]:
        answer = answers.pop(0)
        if not answers:
            stop.set()
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    caplog.set_level(logging.INFO, "playhead.rollup")
    assert run_every(0.01, build, stop, transient=(OSError,), retry_seconds=0.01) == 0
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("WARNING", "rollup build failed, retrying in 0.01 s: refused") in lines
    assert [m for level, m in lines if m.startswith("built")] == [
        "built org 2026-03-01: 10 sessions", "built org 2026-03-02: 20 sessions",
        "built org 2026-03-03: 30 sessions"]
    assert lines[-1] == ("INFO", "rollup runner stopped")


def test_the_runner_exits_when_nothing_says_which_days_are_final() -> None:
    def build() -> list[BuiltDay]:
        raise NoWatermark("no completeness view")

    assert run_every(0.01, build, threading.Event(), transient=(OSError,)) == 2


def test_an_error_that_is_no_outage_is_not_swallowed() -> None:
    def build() -> list[BuiltDay]:
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        run_every(0.01, build, threading.Event(), transient=(OSError,))


def test_the_command_keeps_running_while_the_warehouse_is_down_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PLAYHEAD_CLICKHOUSE_URL": f"http://127.0.0.1:{free_port()}",
           "PLAYHEAD_LOG_JSON": "true"}
    lines: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "playhead", "rollup", "--every", "1"],
                          cwd=REPO, env=env, stderr=subprocess.PIPE, text=True) as runner:
        reader = threading.Thread(target=lambda: lines.extend(runner.stderr or ()))
        reader.start()
        try:
            # Until a build failed and the retry failed too, rather than a fixed wait.
            deadline = time.monotonic() + 30
            while (sum("rollup build failed" in line for line in lines) < 2
                   and runner.poll() is None and time.monotonic() < deadline):
                time.sleep(0.05)
            assert runner.poll() is None  # still running, the warehouse still down
            runner.send_signal(signal.SIGTERM)
            runner.wait(timeout=30)
        finally:
            if runner.poll() is None:
                runner.kill()
            reader.join(timeout=30)
    err = "".join(lines)
    assert runner.returncode == 0, err
    logged = [entry for line in err.splitlines() if line.startswith("{")
              for entry in [json.loads(line)] if entry["logger"] == "playhead.rollup"]
    warnings = [e for e in logged if e["level"] == "warning"]
    assert warnings and warnings[0]["message"].startswith("rollup build failed, retrying in 1 s")
    assert logged[-1]["message"] == "rollup runner stopped"
