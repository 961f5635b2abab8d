"""The ``playhead`` command's sub-commands each name their handler (argparse's
``set_defaults``): no handler looks at which action it was given."""

from __future__ import annotations

import argparse
import ast
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

from playhead.cli import _parser, main

CLI_PACKAGES = ("playhead", "devkit", "readapi")


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command line's last parser: ``(("keys", "create"), parser)``."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not nested:
        yield path, parser
    for action in nested:
        for name, child in action.choices.items():
            yield from leaves(child, (*path, name))


def test_every_command_line_names_its_handler() -> None:
    found = dict(leaves(_parser()))
    assert {("keys", "create"), ("dlq", "replay"), ("rules", "restatements"),
            ("kafka", "status"), ("gateway",)} <= set(found)
    unnamed = [" ".join(path) for path, parser in found.items()
               if not callable(parser.get_default("run"))]
    assert unnamed == []


def test_no_handler_compares_the_action_it_was_given() -> None:
    # `if args.action == "list": ... if args.action == "show": ...` is what the
    # handlers named by set_defaults replace.
    compared = []
    for package in CLI_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute)
                        and node.left.attr in ("action", "command")
                        and isinstance(node.left.value, ast.Name)
                        and node.left.value.id == "args"):
                    compared.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert compared == []


def test_keys_digest_reads_the_token_from_stdin(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from control.credentials import digest

    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret\n"))
    assert main(["keys", "digest"]) == 0
    assert capsys.readouterr().out == f"{digest('s3cret')}\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["keys", "digest"]) == 2
    assert "give the token on stdin" in capsys.readouterr().err


@pytest.mark.integration  # the ClickHouse engine (chDB, in the command's own process)
def test_rules_set_list_and_restatements(tmp_path: Path) -> None:
    env = {**os.environ, "PLAYHEAD_CLICKHOUSE_URL": f"chdb://{tmp_path / 'warehouse'}"}

    def playhead(*args: str) -> str:
        run = subprocess.run([sys.executable, "-m", "playhead", *args], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        return run.stdout

    playhead("migrate")
    assert "min 30 s" in playhead("rules", "set", "--organization", "org-r", "--from",
                                  "2026-11-01", "--min-seconds", "30")
    listed = playhead("rules", "list")
    assert "org-r * from 2026-11-01: min 30 s" in listed and "restatements:" in listed
    logged = playhead("rules", "restatements", "--organization", "org-r")
    assert logged.startswith("restatements:") and "by cli:" in logged and "org-r" in logged
    assert "org-r" not in playhead("rules", "restatements", "--organization", "org-other")
